#!/usr/bin/env python3
# test-hostile.py - the hostile-client suite: clients that break the NBD
# protocol on purpose, at the wire level (tests/nbd/nbdwire.py).
#
# Each case does one bad thing and checks that the server answers as the
# spec says (an error reply with negotiation or transmission going on in
# sync, or a hard disconnect where the stream cannot be parsed), then the
# suite checks that the server still serves a second, well-behaved
# client that stayed connected through the case, that a new client can
# connect, and that the known data written at the start is intact.
#
# Usage: test-hostile.py PATH-TO-MBLK [CASE...]
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdwire as w  # noqa: E402

K, M = 1024, 1 << 20
SIZE = 64 * M
KNOWN = bytes((i * 7 + 3) & 0xFF for i in range(M))  # at offset 0
SCRATCH = 16 * M  # cases write here
CASES = []


class Fail(Exception):
    pass


def case(fn):
    CASES.append(fn)
    return fn


def expect(name, got, want):
    if got != want:
        raise Fail("%s: got %r, expected %r" % (name, got, want))


def closes(c, what, wait=5.0):
    if not c.closed_by_server(wait):
        raise Fail("the server did not close the connection after " + what)
    c.close()


def opts_conn(srv):
    c = srv.conn()
    c.start()
    return c


def still_negotiates(c):
    """The connection is in sync in option haggling: GO works and a read
    returns the known data."""
    c.info(w.OPT_GO, "")
    expect("read after the bad option", c.read(0, 4096), KNOWN[:4096])
    c.disc()
    c.close()


def in_sync(c):
    expect("read after the bad request", c.read(0, 4096), KNOWN[:4096])


def rep_of(c, opt, data=b"", length=None):
    c.opt(opt, data, length)
    _, rep, msg = c.read_rep(opt)
    return rep, msg


# ---------------------------------------------------------------- handshake

@case
def connect_and_vanish(srv):
    c = srv.conn()
    c.close()


@case
def vanish_after_greeting(srv):
    c = srv.conn()
    c.greeting()
    c.close()


@case
def truncated_client_flags(srv):
    c = srv.conn()
    c.greeting()
    c.send(b"\0\0")
    c.close()


@case
def unknown_client_flags(srv):
    c = srv.conn()
    c.greeting()
    c.send(struct.pack(">I", 1 | 0x80))
    closes(c, "unknown client flags")


@case
def not_fixed_newstyle(srv):
    c = srv.conn()
    c.greeting()
    c.send(struct.pack(">I", 0))
    closes(c, "client flags without FIXED_NEWSTYLE")


@case
def bad_option_magic(srv):
    c = opts_conn(srv)
    c.send(struct.pack(">QII", 0x1122334455667788, w.OPT_GO, 0))
    closes(c, "a bad option magic")


@case
def truncated_option_header(srv):
    c = opts_conn(srv)
    c.send(struct.pack(">Q", w.IHAVEOPT))
    c.close()


@case
def option_length_lies_then_vanish(srv):
    c = opts_conn(srv)
    c.send(struct.pack(">QII", w.IHAVEOPT, w.OPT_LIST, 100) + b"x" * 10)
    c.close()


@case
def option_length_lies_then_stall(srv):
    # 10 bytes of 100: the server waits for the rest, then the handshake
    # deadline (1 s in this suite) drops the connection.
    c = opts_conn(srv)
    c.send(struct.pack(">QII", w.IHAVEOPT, w.OPT_LIST, 100) + b"x" * 10)
    closes(c, "a stalled option", wait=5)


@case
def huge_option_length(srv):
    c = opts_conn(srv)
    c.send(struct.pack(">QII", w.IHAVEOPT, w.OPT_GO, 0xFFFFFFFF))
    closes(c, "an option of 4 GiB", wait=2)


@case
def unknown_option(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, 99)
    expect("unknown option", rep, w.REP_ERR_UNSUP)
    still_negotiates(c)


@case
def unknown_option_with_data(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, 0x7FFFFFFF, b"y" * 1000)
    expect("unknown option with data", rep, w.REP_ERR_UNSUP)
    still_negotiates(c)


@case
def list_with_data(srv):
    c = opts_conn(srv)
    rep, msg = rep_of(c, w.OPT_LIST, b"abc")
    expect("LIST with data", rep, w.REP_ERR_INVALID)
    expect("a message", len(msg) > 0, True)
    still_negotiates(c)


@case
def structured_reply_with_data(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_STRUCTURED_REPLY, b"z")
    expect("STRUCTURED_REPLY with data", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def extended_headers_with_data(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_EXTENDED_HEADERS, b"zz")
    expect("EXTENDED_HEADERS with data", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def go_too_short(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_GO, b"\0\0")
    expect("GO of 2 bytes", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def go_name_length_lies(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_GO, struct.pack(">I", 1000) + b"\0\0")
    expect("GO name past the option", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def go_info_count_lies(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_GO, struct.pack(">IH", 0, 50) + b"\0\3")
    expect("GO with 50 requests in 2 bytes", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def go_unknown_export(srv):
    c = opts_conn(srv)
    rep, msg = rep_of(c, w.OPT_GO, c.info_data("no-such-export", []))
    expect("unknown export", rep, w.REP_ERR_UNKNOWN)
    expect("message names it", b"no-such-export" in msg, True)
    still_negotiates(c)


@case
def info_then_go(srv):
    c = opts_conn(srv)
    got = c.info(w.OPT_INFO, "", [w.INFO_NAME, w.INFO_DESCRIPTION,
                                  w.INFO_BLOCK_SIZE, 0x7777])
    expect("INFO_NAME", got.get(w.INFO_NAME), b"")
    expect("block sizes", c.block_sizes, (512, 4096, 32 * M))
    still_negotiates(c)


@case
def meta_before_structured(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_SET_META_CONTEXT,
                    c.meta_data("", ["base:allocation"]))
    expect("SET_META_CONTEXT without structured replies", rep,
           w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def meta_query_length_lies(srv):
    c = opts_conn(srv)
    c.structured_reply()
    d = struct.pack(">II", 0, 1) + struct.pack(">I", 500) + b"base:"
    rep, _ = rep_of(c, w.OPT_SET_META_CONTEXT, d)
    expect("query past the option", rep, w.REP_ERR_INVALID)
    still_negotiates(c)


@case
def meta_unknown_namespace(srv):
    c = opts_conn(srv)
    c.structured_reply()
    got = c.meta(w.OPT_SET_META_CONTEXT, "", ["qemu:dirty-bitmap:x",
                                              "nonsense"])
    expect("no context selected", got, [])
    c.info(w.OPT_GO, "")
    r = c.cmd(w.CMD_BLOCK_STATUS, 0, 4096)
    expect("block status without a context", r.error, w.EINVAL)
    in_sync(c)
    c.close()


@case
def list_meta_all(srv):
    c = opts_conn(srv)
    c.structured_reply()
    got = c.meta(w.OPT_LIST_META_CONTEXT, "", [])
    expect("all contexts", [x[1] for x in got], ["base:allocation"])
    got = c.meta(w.OPT_LIST_META_CONTEXT, "", ["base:"])
    expect("base: wildcard", [x[1] for x in got], ["base:allocation"])
    still_negotiates(c)


@case
def export_name_unknown(srv):
    c = opts_conn(srv)
    c.opt(w.OPT_EXPORT_NAME, b"nope")
    closes(c, "EXPORT_NAME of an unknown export")


@case
def export_name_zeroes(srv):
    for flags, want in ((w.FLAG_C_FIXED_NEWSTYLE | w.FLAG_C_NO_ZEROES, 10),
                        (w.FLAG_C_FIXED_NEWSTYLE, 134)):
        c = srv.conn()
        c.greeting()
        c.client_flags(flags)
        c.opt(w.OPT_EXPORT_NAME, b"")
        b = c.recv_exact(want)
        size, tflags = struct.unpack(">QH", b[:10])
        expect("size", size, SIZE)
        expect("trailing zeroes", b[10:], bytes(want - 10))
        # The next bytes are transmission: a read works.
        in_sync(c)
        c.close()


@case
def abort(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_ABORT)
    expect("ABORT answered", rep, w.REP_ACK)
    closes(c, "ABORT")


@case
def starttls_without_tls(srv):
    c = opts_conn(srv)
    rep, _ = rep_of(c, w.OPT_STARTTLS)
    expect("STARTTLS", rep, w.REP_ERR_UNSUP)
    still_negotiates(c)


@case
def option_flood(srv):
    c = opts_conn(srv)
    n = 2000
    c.send(b"".join(struct.pack(">QII", w.IHAVEOPT, 200 + i % 50, 4) +
                    b"abcd" for i in range(n)))
    for i in range(n):
        _, rep, _ = c.read_rep(200 + i % 50)
        if rep != w.REP_ERR_UNSUP:
            raise Fail("flood reply %d: 0x%x" % (i, rep))
    still_negotiates(c)


@case
def handshake_stall(srv):
    c = opts_conn(srv)
    t = time.time()
    closes(c, "a stalled handshake", wait=5)
    expect("dropped by the deadline, not at once", time.time() - t > 0.5,
           True)


# ------------------------------------------------------------- transmission

def tx(srv, **kw):
    c = srv.conn()
    c.handshake(**kw)
    return c


@case
def bad_request_magic(srv):
    c = tx(srv)
    c.send(struct.pack(">IHHQQI", 0xDEADBEEF, 0, w.CMD_READ, 1, 0, 512))
    closes(c, "a bad request magic")


@case
def compact_header_under_extended(srv):
    c = tx(srv, extended=True)
    c.send(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ, 1, 0,
                       512) + bytes(4))
    closes(c, "a compact header after extended headers")


@case
def unknown_command(srv):
    c = tx(srv, structured=True)
    r = c.cmd(99, 0, 512)
    expect("unknown command", r.error, w.EINVAL)
    in_sync(c)


@case
def unknown_flag(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_READ, 0, 512, flags=0x8000)
    expect("unknown flag", r.error, w.EINVAL)
    in_sync(c)


@case
def df_without_structured(srv):
    c = tx(srv)
    expect("DF not advertised", bool(c.tflags & w.F_SEND_DF), False)
    r = c.cmd(w.CMD_READ, 0, 512, flags=w.CMD_FLAG_DF)
    expect("DF without structured replies", r.error, w.EINVAL)
    in_sync(c)


@case
def req_one_on_read(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_READ, 0, 512, flags=w.CMD_FLAG_REQ_ONE)
    expect("REQ_ONE on READ", r.error, w.EINVAL)
    in_sync(c)


@case
def read_out_of_range(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_READ, SIZE, 512)
    expect("read at the end", r.error, w.EINVAL)
    r = c.cmd(w.CMD_READ, SIZE - 512, 1024)
    expect("read across the end", r.error, w.EINVAL)
    in_sync(c)


@case
def read_offset_overflows(srv):
    c = tx(srv)
    r = c.cmd(w.CMD_READ, (1 << 64) - 512, 1024)
    expect("offset + length overflows", r.error, w.EINVAL)
    in_sync(c)


@case
def write_out_of_range_consumes_payload(srv):
    c = tx(srv)
    r = c.cmd(w.CMD_WRITE, SIZE - 512, 4096, data=b"\x99" * 4096)
    expect("write past the end", r.error, w.ENOSPC)
    in_sync(c)


@case
def write_misaligned(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_WRITE, SCRATCH + 1, 511, data=b"q" * 511)
    expect("misaligned write", r.error, w.EINVAL)
    in_sync(c)


@case
def write_payload_too_big(srv):
    c = tx(srv)
    c.send(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE, 1,
                       SCRATCH, 64 * M))
    closes(c, "a 64 MiB payload (the maximum is 32 MiB)")


@case
def read_too_big(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_READ, 0, 33 * M)
    expect("read over the maximum payload", r.error, w.EOVERFLOW)
    in_sync(c)


@case
def zero_length_requests(srv):
    c = tx(srv, structured=True)
    for t in (w.CMD_READ, w.CMD_WRITE, w.CMD_TRIM, w.CMD_WRITE_ZEROES):
        r = c.cmd(t, SCRATCH, 0)
        expect("zero-length command %d" % t, r.error, 0)
    in_sync(c)


@case
def trim_and_zero_out_of_range(srv):
    c = tx(srv, structured=True)
    expect("trim past the end", c.cmd(w.CMD_TRIM, SIZE, 512).error,
           w.EINVAL)
    expect("zero overflow",
           c.cmd(w.CMD_WRITE_ZEROES, (1 << 64) - 512, 1024).error,
           w.ENOSPC)
    expect("cache past the end", c.cmd(w.CMD_CACHE, SIZE, 512).error,
           w.EINVAL)
    in_sync(c)


@case
def block_status_without_meta(srv):
    c = tx(srv, structured=True)
    expect("block status without SET_META_CONTEXT",
           c.cmd(w.CMD_BLOCK_STATUS, 0, 4096).error, w.EINVAL)
    in_sync(c)


@case
def block_status_zero_length(srv):
    c = tx(srv, structured=True, meta=True)
    expect("block status of 0 bytes",
           c.cmd(w.CMD_BLOCK_STATUS, 0, 0).error, w.EINVAL)
    r = c.cmd(w.CMD_BLOCK_STATUS, 0, SIZE, w.CMD_FLAG_REQ_ONE)
    expect("REQ_ONE: one extent", len(r.extents), 1)
    expect("REQ_ONE: known data first", r.extents[0], (M, 0))
    in_sync(c)


@case
def payload_flag_in_compact_mode(srv):
    c = tx(srv, structured=True)
    r = c.cmd(w.CMD_WRITE, SCRATCH, 512, flags=w.CMD_FLAG_PAYLOAD_LEN,
              data=b"p" * 512)
    expect("PAYLOAD_LEN without extended headers", r.error, w.EINVAL)
    in_sync(c)


@case
def payload_cut_short(srv):
    # A write over the known data whose payload never arrives in full:
    # never acknowledged, so never applied.
    c = tx(srv)
    c.send(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE, 1, 0,
                       65536) + b"\xee" * 30000)
    time.sleep(0.1)
    c.close()


@case
def payload_reset(srv):
    # The same with a TCP-style reset (SO_LINGER 0) mid-payload.
    c = tx(srv)
    c.send(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE, 1, 0,
                       1 * M) + b"\xee" * 100000)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()


@case
def payload_stalls(srv):
    # Half a payload, then nothing: dropped by the request deadline (1 s
    # in this suite), and the write never happened.
    c = tx(srv)
    c.send(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE, 1, 0,
                       65536) + b"\xee" * 1000)
    t = time.time()
    closes(c, "a stalled payload", wait=5)
    expect("after the deadline", time.time() - t > 0.5, True)


@case
def header_stalls(srv):
    c = tx(srv)
    c.send(struct.pack(">IHH", w.REQUEST_MAGIC, 0, w.CMD_READ))
    closes(c, "a stalled header", wait=5)


@case
def idle_is_not_stalled(srv):
    # Idle between requests is allowed for as long as the client likes.
    c = tx(srv)
    time.sleep(1.6)
    in_sync(c)
    c.close()


@case
def header_cut_short(srv):
    c = tx(srv)
    c.send(struct.pack(">IHH", w.REQUEST_MAGIC, 0, w.CMD_READ))
    c.close()


@case
def vanish_with_reads_in_flight(srv):
    c = tx(srv, structured=True)
    c.send(b"".join(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ,
                                i, (i % 64) * 65536, 65536)
                    for i in range(500)))
    c.close()


@case
def vanish_with_writes_in_flight(srv):
    c = tx(srv)
    payload = b"\x5c" * 65536
    c.send(b"".join(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE,
                                i, SCRATCH + i * 65536, 65536) + payload
                    for i in range(100)))
    c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@case
def slow_reader_back_pressure(srv):
    # 30000 reads of 4 KiB pipelined without reading a reply: 840 KB of
    # requests and 117 MiB of replies the server must not buffer. It
    # stops reading the socket (the client's sends block) and its memory
    # stays flat; once the client reads, every reply arrives, right.
    c = tx(srv)
    n = 30000
    reqs = b"".join(struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ,
                                i + 1, 0, 4096) for i in range(n))
    for i in range(n):
        c.pending[i + 1] = (w.CMD_READ, 0, 4096, 0)
    rss0 = rss_kib(srv.proc.pid)
    c.sock.setblocking(False)
    sent = 0
    deadline = time.time() + 2
    while sent < len(reqs) and time.time() < deadline:
        try:
            sent += c.sock.send(reqs[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    expect("the server stopped reading (back-pressure)", sent < len(reqs),
           True)
    grew = rss_kib(srv.proc.pid) - rss0
    if grew > 64 * 1024:
        raise Fail("the server grew by %d KiB with replies unread" % grew)
    # Meanwhile another client is served at once.
    o = tx(srv)
    expect("a second client during the flood", o.read(0, 4096),
           KNOWN[:4096])
    o.close()
    t = threading.Thread(target=c.sock.sendall, args=(reqs[sent:],))
    c.sock.setblocking(True)
    c.sock.settimeout(30)
    t.start()
    replies = {}
    for _ in range(n):
        r = c.read_any(replies)
        if r.error or r.chunks[0][2] != KNOWN[:4096]:
            raise Fail("reply %d wrong" % r.cookie)
    t.join()
    in_sync(c)


@case
def pipelined_mixed_flood(srv):
    c = tx(srv, structured=True)
    n = 400
    blobs = [bytes([i & 0xFF]) * 4096 for i in range(n)]
    out = b""
    for i in range(n):
        out += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_WRITE,
                           i + 1, SCRATCH + i * 4096, 4096) + blobs[i]
        c.pending[i + 1] = (w.CMD_WRITE, SCRATCH + i * 4096, 4096, 0)
    # Sent from a thread: the server stops reading while its replies are
    # not read, so one thread doing both would deadlock (by design).
    t = threading.Thread(target=c.send, args=(out,))
    t.start()
    replies = {}
    for _ in range(n):
        r = c.read_any(replies)
        expect("write %d" % r.cookie, r.error, 0)
    t.join()
    data = c.read(SCRATCH, n * 4096)
    expect("flooded writes landed", data, b"".join(blobs))


@case
def disc_with_requests_in_flight(srv):
    # 20 reads, DISC and a read after it, in one send: the 20 are
    # answered, the one after DISC is ignored, then the server closes.
    c = tx(srv)
    out = b""
    for i in range(20):
        out += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ, i + 1,
                           i * 4096, 4096)
        c.pending[i + 1] = (w.CMD_READ, i * 4096, 4096, 0)
    out += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_DISC, 99, 0, 0)
    out += struct.pack(">IHHQQI", w.REQUEST_MAGIC, 0, w.CMD_READ, 999, 0,
                       512)
    c.send(out)
    replies = {}
    for _ in range(20):
        r = c.read_any(replies)
        expect("reply before DISC's close", r.error, 0)
    closes(c, "NBD_CMD_DISC")


@case
def too_many_connections(srv):
    # The suite's server allows 16; hold them all, the next is closed at
    # once, and after they go new ones are served.
    held = []

    def greeted():
        # The previous case's last connection may still be on its way
        # out (its close is handled after our connect), and it counts
        # until it is gone: retry a refused one for up to 2 s.
        for _ in range(40):
            c = srv.conn()
            try:
                c.greeting()
                return c
            except w.Closed:
                c.close()
                time.sleep(0.05)
        raise Fail("a connection under the limit was refused for 2 s")

    try:
        while len(held) < 15:  # + the watcher: the limit
            held.append(greeted())
        extra = srv.conn()
        if not extra.closed_by_server(3):
            raise Fail("the 17th connection was not closed")
        extra.close()
    finally:
        for c in held:
            c.close()
    time.sleep(0.2)


@case
def slowloris_many_stalled_handshakes(srv):
    held = [srv.conn() for _ in range(10)]
    t = time.time()
    for c in held:
        if not c.closed_by_server(5):
            raise Fail("a stalled connection outlived the deadline")
        c.close()
    expect("within the deadline", time.time() - t < 4, True)


@case
def write_to_read_only(srv):
    c = srv.ro.conn()
    c.handshake(structured=True)
    expect("READ_ONLY advertised", bool(c.tflags & w.F_READ_ONLY), True)
    r = c.cmd(w.CMD_WRITE, 0, 512, data=b"r" * 512)
    expect("write to a read-only export", r.error, w.EPERM)
    expect("trim on a read-only export", c.cmd(w.CMD_TRIM, 0, 512).error,
           w.EPERM)
    expect("read-only data intact", c.read(0, 512), bytes(512))
    c.close()


@case
def hundred_connections_bounded(srv):
    # 100 clients in transmission, each with 8 reads of 64 KiB it does not
    # read back: the server answers what fits in the sockets, stops
    # reading the rest, and its memory grows by the slots and buffers in
    # use, far from 100 x the per-connection budget. Then all are served.
    big = srv.many
    rss0 = rss_kib(big.proc.pid)
    conns = []
    for i in range(100):
        c = big.conn()
        c.handshake()
        for k in range(8):
            c.request(w.CMD_READ, k * 65536, 65536)
        conns.append(c)
    time.sleep(0.5)
    grew = rss_kib(big.proc.pid) - rss0
    if grew > 150 * 1024:
        raise Fail("100 connections grew the server by %d KiB" % grew)
    for c in conns:
        replies = {}
        for _ in range(8):
            r = c.read_any(replies)
            expect("read on one of 100 connections", r.error, 0)
        c.disc()
        c.close()
    print("     (100 connections: the server grew by %d KiB)" % grew)


# -------------------------------------------------------------- the runner

def verify(srv, watcher, name):
    if not srv.alive():
        raise Fail("the server died during " + name)
    expect("the watcher's read after " + name, watcher.read(0, M), KNOWN)
    c = srv.conn()
    c.handshake(structured=True)
    expect("a new client's read after " + name, c.read(0, M), KNOWN)
    c.disc()
    c.close()


def main():
    mblk = sys.argv[1]
    only = sys.argv[2:]
    srv = w.Server(mblk, ["ram:?size=%d" % SIZE],
                   ["--handshake-timeout", "1", "--request-timeout", "1",
                    "--max-connections", "16"])
    srv.ro = w.Server(mblk, ["ram:?size=1M"], ["--read-only"])
    srv.many = w.Server(mblk, ["ram:?size=1M"])
    fails = []
    try:
        setup = srv.conn()
        setup.handshake()
        setup.write(0, KNOWN)
        setup.disc()
        setup.close()
        watcher = srv.conn()
        watcher.handshake(structured=True)
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            try:
                fn(srv)
                verify(srv, watcher, fn.__name__)
                print("ok   %s" % fn.__name__)
            except (Fail, w.ProtocolError, w.Closed, OSError) as e:
                fails.append(fn.__name__)
                print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e))
                if not srv.alive():
                    break
                try:
                    watcher.close()
                    watcher = srv.conn()
                    watcher.handshake(structured=True)
                except Exception as e2:  # noqa: BLE001
                    print("cannot reconnect the watcher: %s" % e2)
                    break
        watcher.close()
    finally:
        rc = srv.stop()
        rc2 = srv.ro.stop()
        srv.many.stop()
    if (rc, rc2) != (0, 0):
        fails.append("exit status %r" % ((rc, rc2),))
    print("%d cases, %d failed" % (len(CASES) if not only else len(only),
                                   len(fails)))
    if fails:
        print("server log:\n" + srv.logtext()[-5000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
