#!/usr/bin/python3
# test-nbdsh.py - the exact protocol details, through libnbd's python
# binding (python3-libnbd, the module nbdsh runs): structured replies and
# holes (OFFSET_HOLE chunks), DF, BLOCK_STATUS with and without REQ_ONE,
# FAST_ZERO, FUA, flags advertised for each kind of device, errors from a
# device, and the NBD_REP_ERR_UNKNOWN message listing the exports.
#
# Usage: test-nbdsh.py PATH-TO-MBLK
# (/usr/bin/python3: the binding is Debian's, not a virtualenv's.)
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

try:
    import nbd
except ImportError:
    w.skip("the python3 nbd module (python3-libnbd) is not installed")

FAILS = []


def check(name, got, want):
    if got != want:
        FAILS.append(name)
        print("FAIL: %s: got %r, expected %r" % (name, got, want))


def connect(uri, meta=True, structured=True):
    h = nbd.NBD()
    if meta:
        h.add_meta_context("base:allocation")
    h.set_request_structured_replies(structured)
    h.connect_uri(uri)
    return h


def chunks_of(h, count, offset, flags=0):
    got = []

    def chunk(buf, off, status, err):
        got.append((status, off, len(buf)))
        return 0

    data = h.pread_structured(count, offset, chunk, flags)
    return data, sorted(got, key=lambda c: c[1])


def extents_of(h, count, offset, flags=0):
    got = []

    def extent(ctx, off, entries, err):
        check("context name", ctx, "base:allocation")
        got.extend(zip(entries[0::2], entries[1::2]))
        return 0

    h.block_status(count, offset, extent, flags)
    return got


def expect_errno(name, fn, want):
    try:
        fn()
    except nbd.Error as e:
        check(name, e.errno, errno.errorcode[want])
        return e
    FAILS.append(name)
    print("FAIL: %s: succeeded, expected errno %d" % (name, want))
    return None


def main():
    mblk = sys.argv[1]
    K, M = 1024, 1 << 20
    ram = w.Server(mblk, ["ram:?size=8M"])
    img = os.path.join(ram.dir, "file.raw")
    with open(img, "wb") as f:
        f.truncate(4 * M)
    fil = w.Server(mblk, [img])
    faulty = w.Server(mblk, [
        "fault:?inner=ram:?size=1M&fail=write&at=2&errno=ENOSPC"
    ])
    try:
        h = connect(ram.uri)
        check("structured", h.get_structured_replies_negotiated(), True)
        check("base:allocation", h.can_meta_context("base:allocation"),
              True)
        check("multi-conn", h.can_multi_conn(), True)
        check("trim", h.can_trim(), True)
        check("zero", h.can_zero(), True)
        check("fast zero", h.can_fast_zero(), True)
        check("df", h.can_df(), True)
        check("flush (ram has none)", h.can_flush(), False)
        check("fua (ram has none)", h.can_fua(), False)
        check("cache (not advertised)", h.can_cache(), False)
        check("block sizes", [h.get_block_size(i) for i in range(3)],
              [512, 4096, 32 * M])

        # Data at 1M..1M+64K and 3M..3M+4K; everything else a hole.
        a, b = os.urandom(64 * K), os.urandom(4 * K)
        h.pwrite(a, 1 * M)
        h.pwrite(b, 3 * M)
        data, chunks = chunks_of(h, 4 * M, 0)
        want = bytearray(4 * M)
        want[1 * M:1 * M + 64 * K] = a
        want[3 * M:3 * M + 4 * K] = b
        check("read across holes", data == bytes(want), True)
        check("chunks", chunks, [
            (nbd.READ_HOLE, 0, 1 * M),
            (nbd.READ_DATA, 1 * M, 64 * K),
            (nbd.READ_HOLE, 1 * M + 64 * K, 2 * M - 64 * K),
            (nbd.READ_DATA, 3 * M, 4 * K),
            (nbd.READ_HOLE, 3 * M + 4 * K, M - 4 * K),
        ])
        # DF: one chunk, all data.
        data, chunks = chunks_of(h, 4 * M, 0, nbd.CMD_FLAG_DF)
        check("DF read", data == bytes(want), True)
        check("DF chunks", chunks, [(nbd.READ_DATA, 0, 4 * M)])
        # Under 64 KiB a read is not mapped: one data chunk of zeros. A
        # read that is all hole is one hole chunk (and not read at all).
        data, chunks = chunks_of(h, 4 * K, 2 * M)
        check("small read in a hole", (data, chunks),
              (bytes(4 * K), [(nbd.READ_DATA, 2 * M, 4 * K)]))
        data, chunks = chunks_of(h, 64 * K, 2 * M)
        check("all-hole read", (data, chunks),
              (bytes(64 * K), [(nbd.READ_HOLE, 2 * M, 64 * K)]))

        check("block status", extents_of(h, 8 * M, 0), [
            (1 * M, 3), (64 * K, 0), (2 * M - 64 * K, 3), (4 * K, 0),
            (5 * M - 4 * K, 3)])
        check("block status REQ_ONE",
              extents_of(h, 8 * M, 0, nbd.CMD_FLAG_REQ_ONE), [(1 * M, 3)])
        check("block status REQ_ONE in data",
              extents_of(h, 7 * M, 1 * M, nbd.CMD_FLAG_REQ_ONE),
              [(64 * K, 0)])
        check("block status clipped to the request",
              extents_of(h, 4 * K, 1 * M + 60 * K), [(4 * K, 0)])

        # Zeroes: the ramdisk zeroes fast, so FAST_ZERO succeeds.
        h.zero(64 * K, 1 * M, nbd.CMD_FLAG_FAST_ZERO)
        check("zeroed", h.pread(64 * K, 1 * M), bytes(64 * K))
        h.pwrite(a, 1 * M)
        h.zero(64 * K, 1 * M, nbd.CMD_FLAG_NO_HOLE)
        check("zeroed, no hole", h.pread(64 * K, 1 * M), bytes(64 * K))
        check("NO_HOLE kept the range allocated",
              [f & nbd.STATE_HOLE for _, f in extents_of(h, 64 * K, 1 * M)],
              [0])
        h.trim(4 * K, 3 * M)
        check("trimmed", h.pread(4 * K, 3 * M), bytes(4 * K))
        check("trim made a hole", extents_of(h, 4 * K, 3 * M, 0),
              [(4 * K, 3)])

        # Errors the server decides.
        expect_errno("read past the end", lambda: h.pread(512, 8 * M),
                     errno.EINVAL)
        expect_errno("write past the end",
                     lambda: h.pwrite(b"x" * 512, 8 * M - 256),
                     errno.ENOSPC)
        h.set_strict_mode(0)  # let libnbd send what the server must refuse
        h.cache(4 * K, 0)  # advisory, not advertised yet: accepted
        expect_errno("misaligned write",
                     lambda: h.pwrite(b"x" * 100, 3), errno.EINVAL)
        # One block past the end, aligned (so that only the range check
        # can refuse it): writes are ENOSPC as the spec asks, the rest
        # EINVAL; a block status must not be answered up to the end.
        expect_errno("write one block past the end",
                     lambda: h.pwrite(b"x" * 1024, 8 * M - 512),
                     errno.ENOSPC)
        expect_errno("zero one block past the end",
                     lambda: h.zero(1024, 8 * M - 512), errno.ENOSPC)
        expect_errno("block status one block past the end",
                     lambda: extents_of(h, 8 * K, 8 * M - 4 * K),
                     errno.EINVAL)
        # A length that is not a whole number of blocks: EINVAL, and
        # nothing of the range changes (not even its whole blocks).
        h.pwrite(b"k" * 4096, 2 * M)
        for name, fn in [("trim", lambda: h.trim(700, 2 * M)),
                         ("zero", lambda: h.zero(700, 2 * M)),
                         ("cache", lambda: h.cache(700, 2 * M)),
                         ("block status",
                          lambda: extents_of(h, 700, 2 * M))]:
            expect_errno(name + " of an unaligned length", fn,
                         errno.EINVAL)
        check("unaligned requests changed nothing", h.pread(4096, 2 * M),
              b"k" * 4096)
        expect_errno("flush unsupported", lambda: h.flush(), errno.EINVAL)
        expect_errno("FUA unsupported",
                     lambda: h.pwrite(b"x" * 512, 0, nbd.CMD_FLAG_FUA),
                     errno.EINVAL)
        check("still serving after errors", h.pread(4 * K, 3 * M + 8 * K),
              bytes(4 * K))
        h.shutdown()

        # Simple replies: no structured replies negotiated.
        h = connect(ram.uri, meta=False, structured=False)
        check("no structured", h.get_structured_replies_negotiated(),
              False)
        check("no DF without structured replies", h.can_df(), False)
        check("simple read", h.pread(64 * K, 1 * M + 64 * K),
              bytes(64 * K))
        h.shutdown()

        # A device error reaches the client with its code; the server
        # logs the device's sentence with the connection and request.
        h = connect(faulty.uri)
        h.pwrite(b"1" * 4096, 0)
        expect_errno("device ENOSPC", lambda: h.pwrite(b"2" * 4096, 4096),
                     errno.ENOSPC)
        check("data before the failure", h.pread(4096, 0), b"1" * 4096)
        h.shutdown()
        log = faulty.logtext()
        check("device sentence logged",
              "NBD_CMD_WRITE of bytes 4096-8191" in log and
              "injected" in log, True)

        # A file: flush, FUA and cache are advertised and work.
        h = connect(fil.uri)
        check("file flush", h.can_flush(), True)
        check("file fua", h.can_fua(), True)
        check("file cache", h.can_cache(), True)
        h.pwrite(b"f" * 4096, 8192, nbd.CMD_FLAG_FUA)
        h.flush()
        h.cache(64 * K, 0)
        h.zero(4096, 4096, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_FUA)
        h.trim(4096, 0, nbd.CMD_FLAG_FUA)
        h.shutdown()
        with open(img, "rb") as f:
            f.seek(8192)
            check("FUA write reached the file", f.read(4096), b"f" * 4096)

        # The unknown export message lists what is exported (libnbd does
        # not show it, so the raw client reads it).
        c = ram.conn()
        c.start()
        c.opt(w.OPT_GO, c.info_data("nope", []))
        _, rep, msg = c.read_rep(w.OPT_GO)
        check("unknown export reply", rep, w.REP_ERR_UNKNOWN)
        check("unknown export message", msg.decode(),
              "there is no export named 'nope'; this server exports the "
              "default export ('')")
        c.close()
    finally:
        rc1 = ram.stop()
        rc2 = faulty.stop()
        rc3 = fil.stop()
    check("exit statuses", (rc1, rc2, rc3), (0, 0, 0))
    if FAILS:
        print("server logs:\n" + ram.logtext() + faulty.logtext())
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
