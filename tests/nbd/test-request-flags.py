#!/usr/bin/python3
# test-request-flags.py - the request flags a client sends reach the
# exported device: FUA on a WRITE, the flush that follows a TRIM or a
# WRITE_ZEROES with FUA, NO_HOLE, and FAST_ZERO, which also has to be
# refused at once (NBD_ENOTSUP) on an export that cannot zero fast.
#
# What reaches the device cannot be seen from the client, so the export
# is an nbdkit memory disk behind nbdkit's log filter, reached through
# mblk's NBD client device:
#
#   nbdsh (python3-libnbd) -> mblk serve nbd+unix://... -> nbdkit --filter=log
#
# and every check reads the line nbdkit logged for the request (a Write
# with fua=1, a Flush after the Zero, a Zero with trim=0 or fast=1). The
# slow export adds nbdkit's nozero filter with fastzeromode=none, so it
# zeroes but does not zero fast.
#
# Usage: test-request-flags.py PATH-TO-MBLK
# (/usr/bin/python3: the binding is Debian's, not a virtualenv's.)
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

try:
    import nbd
except ImportError:
    w.skip("the python3 nbd module (python3-libnbd) is not installed")
if not shutil.which("nbdkit"):
    w.skip("nbdkit is not installed")

FAILS = []
K = 1024


def check(name, got, want):
    if got != want:
        FAILS.append(name)
        print("FAIL: %s: got %r, expected %r" % (name, got, want))


class Nbdkit:
    """nbdkit's memory plugin behind the log filter, on a unix socket."""

    def __init__(self, dir, name, filters=(), params=()):
        self.sock = os.path.join(dir, name + ".sock")
        self.logfile = os.path.join(dir, name + ".log")
        cmd = ["nbdkit", "-f", "-U", self.sock, "--filter=log"]
        cmd += ["--filter=" + f for f in filters]
        cmd += ["memory", "8M", "logfile=" + self.logfile] + list(params)
        self.proc = subprocess.Popen(cmd)
        for _ in range(100):
            if os.path.exists(self.sock):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("nbdkit did not start: %r" % cmd)
        self.uri = "nbd+unix:///?socket=" + self.sock

    def lines(self):
        """The requests logged so far (not their returns)."""
        with open(self.logfile) as f:
            return [ln.split(" ", 3)[3] for ln in f
                    if " connection=" in ln and "..." not in ln.split()[3]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def after(kit, fn):
    """Runs fn; returns the requests nbdkit logged meanwhile, as
    'Action key=value ...' strings without the connection and id."""
    n = len(kit.lines())
    fn()
    out = []
    for ln in kit.lines()[n:]:
        parts = ln.split()
        out.append(" ".join([parts[0]] + [p for p in parts[1:]
                                          if not p.startswith("id=")
                                          and p != "..."]))
    return out


def expect_errno(name, fn, want):
    try:
        fn()
    except nbd.Error as e:
        check(name, e.errno, errno.errorcode[want])
        return
    FAILS.append(name)
    print("FAIL: %s: succeeded, expected errno %d" % (name, want))


def main():
    mblk = sys.argv[1]
    dir = tempfile.mkdtemp(prefix="mblk-nbd-flags-")
    fast = Nbdkit(dir, "fast")
    slow = Nbdkit(dir, "slow", ["nozero"],
                  ["zeromode=plugin", "fastzeromode=none"])
    srv_fast = srv_slow = None
    try:
        srv_fast = w.Server(mblk, [fast.uri])
        srv_slow = w.Server(mblk, [slow.uri])
        run(fast, srv_fast, slow, srv_slow)
    finally:
        rcs = [s.stop() if s else None for s in (srv_fast, srv_slow)]
        fast.stop()
        slow.stop()
    check("exit statuses", rcs, [0, 0])
    if FAILS:
        for s in (srv_fast, srv_slow):
            if s:
                print("server log:\n" + s.logtext())
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    shutil.rmtree(dir, ignore_errors=True)
    print("all checks passed")


def run(fast, srv_fast, slow, srv_slow):
    h = nbd.NBD()
    h.connect_uri(srv_fast.uri)
    check("fua advertised", h.can_fua(), True)
    check("fast zero advertised", h.can_fast_zero(), True)
    data = os.urandom(4 * K)

    # FUA on a WRITE reaches the device as FUA, and only when asked.
    check("write with FUA",
          after(fast, lambda: h.pwrite(data, 0, nbd.CMD_FLAG_FUA)),
          ["Write offset=0x0 count=0x1000 fua=1"])
    check("write without FUA",
          after(fast, lambda: h.pwrite(data, 4 * K)),
          ["Write offset=0x1000 count=0x1000 fua=0"])

    # TRIM and WRITE_ZEROES with FUA: the device has no FUA for them, so
    # the server flushes after them; without FUA it does not. (mblk's NBD
    # client sends a discard as a WRITE_ZEROES that may trim.)
    check("trim with FUA",
          after(fast, lambda: h.trim(4 * K, 8 * K, nbd.CMD_FLAG_FUA)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=0",
           "Flush"])
    check("zero with FUA",
          after(fast, lambda: h.zero(4 * K, 8 * K, nbd.CMD_FLAG_FUA)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=0",
           "Flush"])
    check("trim without FUA", after(fast, lambda: h.trim(4 * K, 8 * K)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=0"])

    # NO_HOLE: the device is told not to punch (trim=0).
    check("zero with NO_HOLE",
          after(fast, lambda: h.zero(4 * K, 8 * K, nbd.CMD_FLAG_NO_HOLE)),
          ["Zero offset=0x2000 count=0x1000 trim=0 fua=0 fast=0"])
    check("zero without NO_HOLE", after(fast, lambda: h.zero(4 * K, 8 * K)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=0"])

    # FAST_ZERO on an export that zeroes fast: passed on, and done.
    h.pwrite(data, 8 * K)
    check("fast zero on a fast export",
          after(fast, lambda: h.zero(4 * K, 8 * K,
                                     nbd.CMD_FLAG_FAST_ZERO)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=1"])
    check("fast zero zeroed", h.pread(4 * K, 8 * K), bytes(4 * K))
    h.shutdown()

    # FAST_ZERO on an export that cannot zero fast: NBD_ENOTSUP at once,
    # nothing reaches the device and the data stays; a plain zero works.
    h = nbd.NBD()
    h.connect_uri(srv_slow.uri)
    check("slow export: zero advertised", h.can_zero(), True)
    check("slow export: fast zero advertised (and refused)",
          h.can_fast_zero(), True)
    h.pwrite(data, 8 * K)
    check("slow export: nothing reaches the device",
          after(slow, lambda: expect_errno(
              "slow export: fast zero refused",
              lambda: h.zero(4 * K, 8 * K, nbd.CMD_FLAG_FAST_ZERO),
              errno.ENOTSUP)), [])
    check("slow export: data kept", h.pread(4 * K, 8 * K), data)
    check("slow export: plain zero",
          after(slow, lambda: h.zero(4 * K, 8 * K)),
          ["Zero offset=0x2000 count=0x1000 trim=1 fua=0 fast=0"])
    check("slow export: zeroed", h.pread(4 * K, 8 * K), bytes(4 * K))
    h.shutdown()
    log = srv_slow.logtext()
    check("a refused fast zero is not logged as a failure",
          "NBD_CMD_WRITE_ZEROES" in log, False)


if __name__ == "__main__":
    main()
