#!/usr/bin/env python3
"""Writes hostile layer tarballs for the unpacker tests into OUTDIR.

Each one tries to leave the layer directory a different way; hako must refuse every one
with a clear error and leave its store as it was. PROBE is the host path an escape would
create, so the tests can check that nothing landed there."""
import io, sys, tarfile, os

out = sys.argv[1]
probe = sys.argv[2] if len(sys.argv) > 2 else "/tmp/hako-escape-probe"
os.makedirs(out, exist_ok=True)

def member(name, kind=tarfile.REGTYPE, data=b"owned\n", link=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    return ti, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)

def write(name, members):
    with tarfile.open(os.path.join(out, name), "w", format=tarfile.GNU_FORMAT) as t:
        t.addfile(*member("ok-file"))
        for m in members:
            t.addfile(*m)

depth = "../" * 20
write("dotdot.tar", [member(depth + probe.lstrip("/"))])
write("absolute.tar", [member(probe)])
write("symlink-escape.tar", [member("evil", tarfile.SYMTYPE, link=os.path.dirname(probe)), member("evil/" + os.path.basename(probe))])
write("hardlink-escape.tar", [member("hl", tarfile.LNKTYPE, link=depth + "etc/passwd")])
write("hardlink-via-symlink.tar", [member("s", tarfile.SYMTYPE, link="/etc"), member("hl", tarfile.LNKTYPE, link="s/passwd")])
with open(os.path.join(out, "truncated.tar"), "wb") as f:
    data = open(os.path.join(out, "dotdot.tar"), "rb").read()
    f.write(b"\x1f\x8b" + data[:300])
