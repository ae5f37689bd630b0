#!/usr/bin/env python3
# test-linger.py - the NBD server closes a connection without destroying
# replies the client has not read yet.
#
# A client pipelines 64 READs, then NBD_CMD_DISC, then bytes the server
# will never parse (here junk; in life, requests sent after DISC or
# while the server shut down), and reads nothing for a while. Closing a
# socket whose receive queue holds unread bytes makes the kernel reset
# the connection, and over TCP a reset discards what the client had not
# read: the replies it was owed. The server must send its FIN after the
# last reply and read what the client still sends until it closes
# (conn.c, "lingers"). Checked over TCP (127.0.0.1) and a unix socket;
# every reply must arrive with its data, then EOF.
#
# Usage: test-linger.py PATH-TO-MBLK
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

N = 64
BLK = 4096


def serve(mblk, where):
    d = tempfile.mkdtemp(prefix="mblk-linger-")
    log = open(os.path.join(d, "log"), "w+")
    if where == "tcp":
        args = ["--tcp", "127.0.0.1:0"]
    else:
        args = ["--unix", os.path.join(d, "s")]
    p = subprocess.Popen([mblk, "serve", "ram:?size=1M"] + args,
                         stdout=subprocess.PIPE, stderr=log)
    uri = p.stdout.readline().decode().strip()
    if not uri:
        log.seek(0)
        raise RuntimeError("mblk serve did not start: " + log.read())
    return p, uri, os.path.join(d, "s")


def one(mblk, where):
    p, uri, path = serve(mblk, where)
    try:
        if where == "tcp":
            hostport = uri[len("nbd://"):].rstrip("/")
            host, port = hostport.rsplit(":", 1)
            c = w.Conn(addr=(host, int(port)))
        else:
            c = w.Conn(path=path)
        c.handshake()
        # A known pattern first, acknowledged.
        data = bytes((i * 7 + 3) & 0xFF for i in range(BLK * N))
        for i in range(N):
            c.write(i * BLK, data[i * BLK:(i + 1) * BLK])
        burst = b""
        for i in range(N):
            burst += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ,
                                 1000 + i, i * BLK, BLK)
        burst += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_DISC,
                             9999, 0, 0)
        burst += b"\x5a" * 65536
        c.send(burst)
        time.sleep(1.0)  # the server answers, sees DISC and closes
        got = {}
        try:
            for _ in range(N):
                hdr = c.recv_exact(16)
                magic, err, cookie = struct.unpack(">IIQ", hdr)
                if magic != w.SIMPLE_MAGIC or err != 0:
                    return "reply %d: magic 0x%x error %d" % (
                        len(got), magic, err)
                got[cookie] = c.recv_exact(BLK)
        except (w.Closed, OSError) as e:
            return "%d of %d replies arrived before the connection " \
                   "ended (%s)" % (len(got), N, e)
        for i in range(N):
            if got.get(1000 + i) != data[i * BLK:(i + 1) * BLK]:
                return "the reply to read %d holds other data" % i
        if not c.closed_by_server(5.0):
            return "no EOF after the last reply"
        c.close()
        return None
    finally:
        p.terminate()
        p.wait(20)


def main():
    mblk = sys.argv[1]
    fails = 0
    for where in ("tcp", "unix"):
        why = one(mblk, where)
        if why:
            print("FAIL (%s): %s" % (where, why))
            fails += 1
        else:
            print("ok (%s): %d replies read after DISC and junk, then EOF"
                  % (where, N))
    sys.exit(1 if fails else 0)


main()
