#!/usr/bin/env python3
# test-extended.py - extended headers (NBD_OPT_EXTENDED_HEADERS) checked at
# the wire level with tests/nbd/nbdwire.py, since Debian 12's libnbd and
# qemu cannot negotiate them: 32-byte requests and replies only, the
# reply's offset matching the request's, 64-bit effect lengths (a block
# status and a trim of more than 4 GiB), BLOCK_STATUS_EXT, PAYLOAD_LEN
# rules, the payload form of BLOCK_STATUS (NBD_FLAG_BLOCK_STATUS_PAYLOAD),
# and the options that conflict with extended headers.
#
# Usage: test-extended.py PATH-TO-MBLK
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

FAILS = []
F_BLOCK_STATUS_PAYLOAD = 1 << 12


def check(name, got, want):
    if got != want:
        FAILS.append("%s: got %r, expected %r" % (name, got, want))
        print("FAIL: %s: got %r, expected %r" % (name, got, want))


def main():
    mblk = sys.argv[1]
    srv = w.Server(mblk, ["ram:?size=16G"])
    try:
        run(srv)
    finally:
        rc = srv.stop()
    check("exit status after SIGTERM", rc, 0)
    if FAILS:
        print("server log:\n" + srv.logtext())
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


def run(srv):
    GiB = 1 << 30
    c = srv.conn()
    c.start()
    c.extended_headers()
    # Structured replies after extended headers: refused, per the spec.
    _, rep, _ = c.simple_opt(w.OPT_STRUCTURED_REPLY)
    check("STRUCTURED_REPLY after EXTENDED_HEADERS", rep,
          w.REP_ERR_EXT_HEADER_REQD)
    ctx = c.meta(w.OPT_SET_META_CONTEXT, "", ["base:allocation"])
    check("contexts", [x[1] for x in ctx], ["base:allocation"])
    c.ctx_id = ctx[0][0]
    c.info(w.OPT_GO, "")
    check("size", c.size, 16 * GiB)
    check("DF advertised", bool(c.tflags & w.F_SEND_DF), True)

    # Data at 5 GiB (past 32 bits), read back; every reply is extended
    # (nbdwire refuses a simple or structured magic now) and carries the
    # request's offset (checked by nbdwire for every chunk).
    data = os.urandom(65536)
    c.write(5 * GiB, data)
    check("read back past 4 GiB", c.read(5 * GiB, 65536), data)
    r = c.cmd(w.CMD_FLUSH)
    check("flush error", r.error, w.EINVAL)  # ram has no flush
    # A read of a hole and data: an OFFSET_HOLE chunk, then data.
    r = c.cmd(w.CMD_READ, 5 * GiB - 65536, 131072)
    types = [t for t, _, _ in r.chunks]
    check("hole then data chunks", types, [w.T_OFFSET_HOLE, w.T_OFFSET_DATA])
    check("hole+data bytes", c.assemble(r, 5 * GiB - 65536, 131072),
          bytes(65536) + data)

    # Block status with a 64-bit effect length: 12 GiB from 0.
    r = c.cmd(w.CMD_BLOCK_STATUS, 0, 12 * GiB)
    check("block status error", r.error, 0)
    check("block status context", r.ctx, c.ctx_id)
    want = [(5 * GiB, 3), (65536, 0), (7 * GiB - 65536, 3)]
    check("64-bit extents", r.extents, want)
    r = c.cmd(w.CMD_BLOCK_STATUS, 0, 12 * GiB, w.CMD_FLAG_REQ_ONE)
    check("REQ_ONE", r.extents, [(5 * GiB, 3)])

    # The payload form (NBD_FLAG_BLOCK_STATUS_PAYLOAD, advertised here:
    # extended headers and a context selected): an effect length and the
    # context ids to answer for. The same answer as the plain form; an
    # unknown or repeated id, or a payload of another shape, is EINVAL
    # after the payload was consumed (the stream stays in sync).
    check("BLOCK_STATUS_PAYLOAD advertised",
          bool(c.tflags & F_BLOCK_STATUS_PAYLOAD), True)

    def status_payload(length, ids, flags=0, raw=None):
        p = raw if raw is not None else struct.pack(
            ">Q" + "I" * len(ids), length, *ids)
        return c.cmd(w.CMD_BLOCK_STATUS, 0, len(p),
                     flags | w.CMD_FLAG_PAYLOAD_LEN, p)

    r = status_payload(12 * GiB, [c.ctx_id])
    check("payload form error", r.error, 0)
    check("payload form context", r.ctx, c.ctx_id)
    check("payload form extents", r.extents, want)
    r = status_payload(12 * GiB, [c.ctx_id], w.CMD_FLAG_REQ_ONE)
    check("payload form REQ_ONE", r.extents, [(5 * GiB, 3)])
    r = status_payload(4096, [c.ctx_id])
    check("payload form clipped to its effect length", r.extents,
          [(4096, 3)])
    for name, ids, raw in [("unknown id", [c.ctx_id + 7], None),
                           ("repeated id", [c.ctx_id, c.ctx_id], None),
                           ("no id", [], None),
                           ("ragged payload", None, b"\0" * 14)]:
        r = status_payload(4096, ids or [], raw=raw)
        check("payload form, " + name, r.error, w.EINVAL)
        check("payload form, %s: a message" % name, len(r.message) > 0,
              True)
    r = status_payload(17 * GiB, [c.ctx_id])
    check("payload form past the end", r.error, w.EINVAL)
    check("in sync after payload forms", c.read(5 * GiB, 512), data[:512])

    # A trim longer than 4 GiB in one request: the data is gone.
    r = c.cmd(w.CMD_TRIM, 4 * GiB, 8 * GiB)
    check("8 GiB trim", r.error, 0)
    check("trimmed", c.read(5 * GiB, 65536), bytes(65536))

    # WRITE without PAYLOAD_LEN under extended headers: EINVAL, no payload
    # is taken, the stream stays in sync.
    c.request(w.CMD_WRITE, 0, 512)  # no data, no flag
    r = c.read_reply()
    check("WRITE without PAYLOAD_LEN", r.error, w.EINVAL)
    # A payload on a command that takes none: consumed, EINVAL.
    c.request(w.CMD_FLUSH, 0, 16, flags=w.CMD_FLAG_PAYLOAD_LEN,
              data=b"x" * 16)
    r = c.read_reply()
    check("FLUSH with a payload", r.error, w.EINVAL)
    check("in sync after the payload", c.read(0, 512), bytes(512))
    # Error replies carry a message.
    r = c.cmd(w.CMD_READ, 16 * GiB, 512)
    check("read past the end", r.error, w.EINVAL)
    check("error message present", len(r.message) > 0, True)
    c.disc()
    check("closed after DISC", c.closed_by_server(), True)
    c.close()

    # Without a context selected, or without extended headers, the payload
    # form is not advertised, and a payload on BLOCK_STATUS is EINVAL.
    c = srv.conn()
    c.handshake(extended=True)
    check("BLOCK_STATUS_PAYLOAD not advertised without a context",
          bool(c.tflags & F_BLOCK_STATUS_PAYLOAD), False)
    p = struct.pack(">QI", 4096, 1)
    r = c.cmd(w.CMD_BLOCK_STATUS, 0, len(p), w.CMD_FLAG_PAYLOAD_LEN, p)
    check("payload form not advertised: EINVAL", r.error, w.EINVAL)
    check("in sync after a refused payload", c.read(0, 512), bytes(512))
    c.disc()
    c.close()
    c = srv.conn()
    c.handshake(structured=True, meta=True)
    check("BLOCK_STATUS_PAYLOAD not advertised without extended headers",
          bool(c.tflags & F_BLOCK_STATUS_PAYLOAD), False)
    c.disc()
    c.close()

    # EXPORT_NAME after extended headers: the server ends the session.
    c = srv.conn()
    c.start()
    c.extended_headers()
    c.opt(w.OPT_EXPORT_NAME, b"")
    check("EXPORT_NAME after EXTENDED_HEADERS closes", c.closed_by_server(),
          True)
    c.close()

    # Extended headers with a payload longer than the maximum: a hard
    # disconnect (the payload cannot be skipped safely).
    c = srv.conn()
    c.handshake(extended=True)
    c.send(struct.pack(">IHHQQQ", w.EXT_REQUEST_MAGIC,
                       w.CMD_FLAG_PAYLOAD_LEN, w.CMD_WRITE, 1, 0, 1 << 40))
    check("huge payload closes", c.closed_by_server(), True)
    c.close()


if __name__ == "__main__":
    main()
