#!/usr/bin/env python3
"""A seccomp agent, as runc's listenerPath contract defines one: accept the runtime's
connection, take the state JSON and the listener fd it carries, then answer every notified
system call with success (0) without performing it, and note its number.

usage: seccomp_agent.py SOCKET OUT_PREFIX   (writes OUT_PREFIX.state, OUT_PREFIX.calls)
"""
import fcntl
import json
import select
import socket
import struct
import sys

NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes

path, out = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
conn, _ = server.accept()
msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
with open(out + ".state", "w") as f:
    f.write(msg.decode())
listener = fds[0]
while True:
    ready, _, _ = select.select([listener], [], [], 30)
    if not ready:
        break
    notif = bytearray(80)
    try:
        fcntl.ioctl(listener, NOTIF_RECV, notif, True)
    except OSError:
        break  # every process of the filter is gone
    notif_id = struct.unpack_from("=Q", notif, 0)[0]
    nr = struct.unpack_from("=i", notif, 16)[0]
    with open(out + ".calls", "a") as f:
        f.write(f"{nr}\n")
    fcntl.ioctl(listener, NOTIF_SEND, bytearray(struct.pack("=QqiI", notif_id, 0, 0, 0)), True)
