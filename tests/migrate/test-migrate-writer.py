#!/usr/bin/python3
# test-migrate-writer.py - a random writer of our own keeps writing through
# `mblk serve src.img --mirror-to dst.img --pivot=auto` while the disk
# moves, and checks every block it wrote: during the copy, across the
# pivot and after it, through the one NBD connection it opened at the
# start (libnbd's python binding). After the pivot the server must have
# closed src.img (no fd of it left), which is then deleted; every byte
# read back through the export, and dst.img read offline once the server
# has quit, must equal the writer's model.
#
# Usage: test-migrate-writer.py PATH-TO-MBLK VARIANT SEED
# VARIANT: plain | delay-src | delay-dst | fail-dst (a failing write on
# DST, retried) | delay-both | nbd-dst (DST is nbd+unix://, an export of
# nbdkit's file plugin serving dst.img, reached through our NBD client).
# Seeded: the same SEED makes the same image and the same requests.
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate_lib as L  # noqa: E402

L.need_nbd()
import nbd  # noqa: E402

MBLK, VARIANT, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3])
SIZE = 32 << 20
BS = 4096
rng = random.Random(SEED)

srv = None
nbdkit = None
if VARIANT == "nbd-dst" and not shutil.which("nbdkit"):
    L.skip("nbdkit is not installed (scripts/deps.sh installs it)")
try:
    import tempfile
    d = tempfile.mkdtemp(prefix="mblk-migrate-writer-")
    src, dst = os.path.join(d, "src.img"), os.path.join(d, "dst.img")
    model = L.make_image(src, SIZE, 0.25, SEED)
    src_uri, dst_uri = src, dst
    if VARIANT in ("delay-src", "delay-both"):
        src_uri = ("fault:?inner=[file:%s]&delay=read,write&delay-us=300"
                   "&delay-every=3" % src)
    if VARIANT in ("delay-dst", "delay-both", "fail-dst", "nbd-dst"):
        with open(dst, "wb") as f:
            f.truncate(SIZE)
    if VARIANT in ("delay-dst", "delay-both"):
        dst_uri = ("fault:?inner=[file:%s]&delay=write,flush&delay-us=500"
                   "&delay-every=2" % dst)
    if VARIANT == "nbd-dst":
        ksock = os.path.join(d, "nbdkit.sock")
        nbdkit = subprocess.Popen(["nbdkit", "-f", "-U", ksock, "file",
                                   "file=" + dst])
        for _ in range(200):
            if os.path.exists(ksock):
                break
            time.sleep(0.02)
        dst_uri = "nbd+unix:///?socket=" + ksock
    if VARIANT == "fail-dst":
        dst_uri = "fault:?inner=[file:%s]&fail=write&errno=EIO&at=7" % dst
    args = [src_uri, "--mirror-to", dst_uri, "--pivot=auto",
            "--rate", "6M"]
    if VARIANT == "fail-dst":
        args += ["--on-error", "retry", "--retries", "5"]
    srv = L.Server(MBLK, args, dir=d)
    ctl = L.Control(srv.ctl)

    h = nbd.NBD()
    h.connect_uri(srv.uri)
    L.check("export size", h.get_size(), SIZE)
    nblocks = SIZE // BS
    stamp = [0]

    def block(n):
        stamp[0] += 1
        head = ("seed %d op %d " % (SEED, stamp[0])).encode()
        return (head + rng.randbytes(n - len(head)))

    def one_op():
        r = rng.random()
        nb = rng.choice((1, 1, 1, 2, 4, 16))
        off = rng.randrange(0, nblocks - nb) * BS
        n = nb * BS
        if r < 0.70:
            b = block(n)
            h.pwrite(b, off, nbd.CMD_FLAG_FUA if rng.random() < 0.1 else 0)
            model[off:off + n] = b
        elif r < 0.78:
            h.zero(n, off)
            model[off:off + n] = bytes(n)
        elif r < 0.82:
            h.flush()
        else:
            got = h.pread(n, off)
            if got != bytes(model[off:off + n]):
                L.ok("read back at %d during the migration" % off, False,
                     "(state %s)" % ctl.mirror_state())

    ops, seen = 0, set()
    end = time.time() + 60
    state = "copying"
    while time.time() < end:
        for _ in range(50):
            one_op()
            ops += 1
        state = ctl.mirror_state()
        seen.add(state)
        if state in ("pivoted", "failed", "cancelled"):
            break
    L.check("state after the copy", state, "pivoted")
    L.ok("writes happened while copying", "copying" in seen,
         "(states seen: %s)" % sorted(seen))
    st = ctl.status()
    L.check("the export stays the one connection",
            st["exports"][0]["connections"], 1)
    if VARIANT == "fail-dst":
        L.ok("the injected failure was seen and retried",
             st["mirror"]["copy_errors"] >= 1, str(st["mirror"]))

    # The source is closed: no fd of the server points at it.
    time.sleep(0.1)
    L.ok("src.img is closed after the pivot",
         not any(p.endswith("/src.img") for p in srv.open_fds()),
         str(srv.open_fds()))
    os.unlink(src)

    # Keep writing onto DST alone, then read every byte back.
    for _ in range(400):
        one_op()
        ops += 1
    h.flush()
    for off in range(0, SIZE, 1 << 20):
        got = h.pread(1 << 20, off)
        if got != bytes(model[off:off + (1 << 20)]):
            diff = L.first_difference(got, bytes(model[off:off + (1 << 20)]))
            L.ok("read back of MiB %d after the pivot" % (off >> 20), False,
                 diff)
    h.shutdown()
    L.check("quit", ctl.cmd("quit")["ok"], True)
    ctl.close()
    L.check("server exit status", srv.wait(30), 0)
    if nbdkit:
        nbdkit.terminate()
        nbdkit.wait(20)
        nbdkit = None
    diff = L.first_difference(L.read_file(dst), bytes(model))
    L.ok("dst.img offline equals the model", diff is None, diff or "")
    print("%s seed %d: %d requests, states %s" %
          (VARIANT, SEED, ops, sorted(seen)))
finally:
    if nbdkit:
        nbdkit.kill()
        nbdkit.wait()
    if srv:
        if L.FAILS:
            print(srv.logtext())
        srv.cleanup()
L.finish()
