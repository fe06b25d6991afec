#!/usr/bin/env python3
"""Sends one hand-made TCP SYN out of a container's eth0 and says what came back.

Run inside the container's network namespace (nsenter -n). The frame goes to the host
side's MAC with any destination address, 127.0.0.1 included: the container's own
routing would never send that, which is the point (CVE-2020-8558). Prints SYNACK, RST
or NOTHING (after the timeout).

usage: localnet_probe.py IFACE DST_MAC SRC_IP DST_IP DST_PORT
"""
import os
import random
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    iface, dst_mac, src_ip, dst_ip, dst_port = sys.argv[1:6]
    dst_port = int(dst_port)
    src_port = random.randint(20000, 60000)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, random.getrandbits(32), 0,
                      5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0,
                     64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00" + ip + tcp
    s.send(frame)
    s.settimeout(0.2)
    deadline = time.time() + float(os.environ.get("PROBE_TIMEOUT", "2"))
    while time.time() < deadline:
        try:
            pkt = s.recv(2048)
        except socket.timeout:
            continue
        ip_hdr = pkt[14:]
        if len(ip_hdr) < 40 or ip_hdr[9] != 6:
            continue
        ihl = (ip_hdr[0] & 0x0F) * 4
        sport, dport = struct.unpack("!HH", ip_hdr[ihl:ihl + 4])
        if sport != dst_port or dport != src_port:
            continue
        flags = ip_hdr[ihl + 13]
        print("SYNACK" if flags & 0x12 == 0x12 else "RST" if flags & 0x04 else f"FLAGS {flags:#x}")
        return
    print("NOTHING")


main()
