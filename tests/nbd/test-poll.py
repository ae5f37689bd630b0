#!/usr/bin/env python3
# test-poll.py - mblk serve polls after a lone request, within its bound.
#
# After a read that brought one request, the server keeps its loop
# polling for --poll-us before it sleeps again (server.c, "Polling"), so
# that a queue-depth-1 client is not answered by a sleeping CPU. Checked
# from the server's own CPU time (/proc/PID/stat), with a long window
# (100 ms) so that the effect is far above the noise:
#   - --poll-us 100000: the 300 ms after a last lone request cost the
#     server at least 20 ms of CPU (it polled);
#   - then it sleeps: the next second costs at most 20 ms (the poll ends);
#   - --poll-us 0: the same 300 ms cost at most 10 ms (it never polls);
#   - the data written through either is read back intact.
# On one CPU the server never polls; the first check then expects none.
#
# Usage: test-poll.py PATH-TO-MBLK
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def lone_requests(c, n):
    data = bytes((i * 13 + 5) & 0xFF for i in range(4096))
    for i in range(n):
        c.write(i * 4096, data)
        if c.read(i * 4096, 4096) != data:
            raise AssertionError("block %d read back wrong" % i)


def after(srv, seconds):
    a = cpu_s(srv.proc.pid)
    time.sleep(seconds)
    return cpu_s(srv.proc.pid) - a


def main():
    mblk = sys.argv[1]
    fails = 0
    ncpu = len(os.sched_getaffinity(0))
    for poll in (100000, 0):
        srv = w.Server(mblk, ["ram:?size=4M"], ["--poll-us", str(poll)])
        try:
            c = srv.conn()
            c.handshake()
            lone_requests(c, 200)
            busy = after(srv, 0.3)
            idle = after(srv, 1.0)
            c.disc()
        finally:
            rc = srv.stop()
        print("--poll-us %d: %.0f ms CPU in the 300 ms after, %.0f ms in "
              "the next second (exit %d)" % (poll, busy * 1e3, idle * 1e3,
                                             rc))
        want_poll = poll > 0 and ncpu > 1
        if want_poll and busy < 0.020:
            print("FAIL: the server did not poll after a lone request")
            fails += 1
        if not want_poll and busy > 0.010:
            print("FAIL: the server used CPU after the last request with "
                  "polling off")
            fails += 1
        if idle > 0.020:
            print("FAIL: the server kept polling after its window")
            fails += 1
        if rc != 0:
            print("FAIL: mblk serve exited %d: %s" % (rc, srv.logtext()))
            fails += 1
    print("%s" % ("FAIL" if fails else "PASS"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
