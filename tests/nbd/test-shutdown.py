#!/usr/bin/env python3
# test-shutdown.py - what the NBD server answers while it shuts down,
# checked at the wire level (tests/nbd/nbdwire.py): on SIGTERM a request
# already on the device finishes and its reply goes out; a request that
# arrives after shutdown began gets NBD_ESHUTDOWN (the spec: "The error
# value issued in respect of these requests and any subsequently received
# requests SHOULD be NBD_ESHUTDOWN") instead of no reply at all; a
# connection with nothing in flight is closed at once; the server exits 0.
#
# The export delays reads by 2 s (a fault layer), so that a read is in
# flight for as long as the test needs.
#
# Usage: test-shutdown.py PATH-TO-MBLK
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

ESHUTDOWN = 108
FAILS = []


def check(name, got, want):
    if got != want:
        FAILS.append(name)
        print("FAIL: %s: got %r, expected %r" % (name, got, want))


def main():
    mblk = sys.argv[1]
    srv = w.Server(mblk, [
        "fault:?inner=[ram:?size=1M]&delay=read&delay-us=2000000"
    ])
    try:
        run(srv, structured=True)
    finally:
        rc = srv.stop()
    check("exit status after SIGTERM", rc, 0)
    # The same with simple replies: the code is in the simple reply.
    srv2 = w.Server(mblk, [
        "fault:?inner=[ram:?size=1M]&delay=read&delay-us=2000000"
    ])
    try:
        run(srv2, structured=False)
    finally:
        rc = srv2.stop()
    check("exit status after SIGTERM (simple replies)", rc, 0)
    if FAILS:
        print("server logs:\n" + srv.logtext() + srv2.logtext())
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


def run(srv, structured):
    tag = " (structured)" if structured else " (simple)"
    c = srv.conn()
    c.handshake(structured=structured)
    idle = srv.conn()
    idle.handshake(structured=structured)
    data = os.urandom(4096)
    c.write(0, data)

    start = time.monotonic()
    rd = c.request(w.CMD_READ, 0, 4096)  # on the device for 2 s
    time.sleep(0.3)
    srv.proc.terminate()  # SIGTERM: shutdown begins
    # The idle connection goes at once, long before the read is done.
    check("idle connection closed at once" + tag,
          idle.closed_by_server(wait=1.5), True)
    idle.close()
    time.sleep(0.2)
    # Requests after shutdown began: NBD_ESHUTDOWN, in sync, payload
    # consumed.
    wr = c.request(w.CMD_WRITE, 4096, 4096, data=os.urandom(4096))
    rd2 = c.request(w.CMD_READ, 8192, 512)  # would wait 2 s on the device
    got = {}
    try:
        for _ in range(2):
            r = c.read_any(got)
            got[r.cookie] = r
    except (w.Closed, OSError) as e:
        FAILS.append("replies after shutdown" + tag)
        print("FAIL: replies after shutdown%s: %r" % (tag, e))
        return
    check("write after shutdown began" + tag,
          got.get(wr) and got[wr].error, ESHUTDOWN)
    check("read after shutdown began" + tag,
          got.get(rd2) and got[rd2].error, ESHUTDOWN)
    check("those answered before the read in flight" + tag,
          time.monotonic() - start < 1.8, True)
    # The client MUST then disconnect softly; the read in flight still
    # gets its reply, with the data written before.
    c.disc()
    c.pending[rd] = (w.CMD_READ, 0, 4096, 0)
    try:
        r = c.read_any({})
        check("read in flight completed" + tag, (r.cookie, r.error),
              (rd, 0))
        check("read in flight data" + tag, c.assemble(r, 0, 4096), data)
    except (w.Closed, OSError) as e:
        FAILS.append("read in flight" + tag)
        print("FAIL: read in flight%s: %r" % (tag, e))
    check("closed after the drain" + tag, c.closed_by_server(), True)
    c.close()
    try:
        srv.proc.wait(10)
    except Exception:
        pass
    check("server gone after the drain" + tag, srv.alive(), False)


if __name__ == "__main__":
    main()
