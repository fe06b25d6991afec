#!/usr/bin/python3
"""Runs `hako run -it` on a pty of its own, the way a terminal emulator would: a fixed
size at start, then a resize. Prints what the container reported and hako's exit code.
usage: resize_pty.py HAKO ROOT"""
import fcntl, os, select, struct, sys, termios, time

hako, root = sys.argv[1], sys.argv[2]
script = "stty size; trap 'stty size; exit 7' WINCH; echo ready; while :; do sleep 0.1; done"
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(master)
    os.execv(hako, [hako, "--root", root, "run", "--rm", "-it", "busybox", "sh", "-c", script])
os.close(slave)

out = b""
def read_until(marker, seconds):
    global out
    deadline = time.time() + seconds
    while marker not in out and time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                break

read_until(b"ready", 30)
# The terminal is resized: the kernel signals hako (SIGWINCH), which must pass it on.
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
read_until(b"50 132", 15)
read_until(b"\0", 1)  # what remains, until the container is gone
_, status = os.waitpid(pid, 0)
print(out.decode(errors="replace").replace("\r", ""))
print(f"exit={os.waitstatus_to_exitcode(status)}")
