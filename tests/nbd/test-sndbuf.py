#!/usr/bin/env python3
# test-sndbuf.py - unix-socket connections get a send buffer that holds a
# whole 1 MiB reply or write, at both ends mblk owns.
#
# The server (server/conn.c) and the client (client/conn.c) ask for 2 MiB
# (the kernel doubles what it grants, capped at net.core.wmem_max). Read
# back from the kernel with `ss -xmp` (tb, the send buffer): the server's
# end after a handshake and a 1 MiB write and read through it; the
# client's end (mblk info nbd+unix://) while it waits on a socket that
# accepts and says nothing.
#
# Usage: test-sndbuf.py PATH-TO-MBLK
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402


def send_buffers(pid):
    out = subprocess.run(["ss", "-xmp"], capture_output=True, text=True,
                         check=True).stdout
    sizes = []
    # Each socket is a line with users:((...pid=N...)) and its skmem.
    for line in out.split("\n"):
        if "pid=%d," % pid not in line or "ESTAB" not in line:
            continue
        m = re.search(r"\btb(\d+)", line)
        if m:
            sizes.append(int(m.group(1)))
    return sizes


def client_check(mblk, want):
    d = tempfile.mkdtemp(prefix="mblk-sndbuf-")
    path = os.path.join(d, "s")
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(1)
    p = subprocess.Popen([mblk, "info", "nbd+unix:///?socket=" + path],
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        ls.settimeout(10)
        peer, _ = ls.accept()
        sizes = []
        for _ in range(50):  # connected; the socket option is set by then
            sizes = send_buffers(p.pid)
            if sizes and sizes[0] >= want:
                break
            time.sleep(0.05)
        print("client send buffers: %s bytes (want >= %d)" % (sizes, want))
        peer.close()
    finally:
        p.kill()
        p.wait()
        ls.close()
    if len(sizes) != 1 or sizes[0] < want:
        print("FAIL: the client's send buffer was not raised")
        return 1
    return 0


def main():
    mblk = sys.argv[1]
    if not shutil.which("ss"):
        w.skip("ss (iproute2) is not installed")
    with open("/proc/sys/net/core/wmem_max") as f:
        wmem_max = int(f.read())
    want = 2 * min(2 << 20, wmem_max)
    srv = w.Server(mblk, ["ram:?size=4M"])
    fails = 0
    try:
        c = srv.conn()
        c.handshake()
        c.write(0, b"\x5a" * (1 << 20))
        if c.read(0, 1 << 20) != b"\x5a" * (1 << 20):
            print("FAIL: 1 MiB read back wrong")
            fails += 1
        sizes = send_buffers(srv.proc.pid)
        print("server send buffers: %s bytes (want >= %d, wmem_max %d)" %
              (sizes, want, wmem_max))
        if len(sizes) != 1:
            print("FAIL: expected one connected socket of the server")
            fails += 1
        elif sizes[0] < want:
            print("FAIL: the send buffer was not raised")
            fails += 1
        c.disc()
    finally:
        srv.stop()
    fails += client_check(mblk, want)
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
