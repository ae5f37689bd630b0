#!/usr/bin/env python3
# badserver.py - a tiny scripted NBD server that misbehaves on purpose.
#
# Usage: badserver.py SCENARIO SOCKET
#
# Serves one client on a unix socket: a correct fixed-newstyle handshake
# (what it negotiates depends on the scenario), then a 1 MiB export whose
# byte at offset o is o % 251, with the second half a hole. The first
# NBD_CMD_READ triggers the scenario's misbehaviour; everything else is
# answered correctly. Scenarios:
#
#   ok                 structured replies, base:allocation: all correct
#   ok-extended        extended headers (BLOCK_STATUS_EXT, 32-byte replies)
#   ok-simple          no structured replies (simple replies only)
#   ok-old             NBD_OPT_GO unknown: NBD_OPT_EXPORT_NAME fallback
#   bad-magic          the read's reply has magic 0xdeadbeef
#   unknown-cookie     the read's reply names a cookie never sent
#   chunk-out-of-range an OFFSET_DATA chunk past the read's end
#   hole-on-simple     structured replies refused, then a hole chunk
#   close-mid-reply    half the read's data, then the socket closes
#   never-answer       the read, and everything after it, is never answered
#   error-reply        an NBD_REPLY_TYPE_ERROR chunk (EIO, with a message)
#   short-read         DONE after covering half of the read
#   greet-garbage      the greeting is not NBDMAGIC
#   greet-stall        no greeting at all
#   export-unknown     NBD_OPT_GO answered NBD_REP_ERR_UNKNOWN
import os
import socket
import struct
import sys
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x3E889045565A9
SIZE = 1 << 20


def content(off, n):
    return bytes((o % 251) if o < SIZE // 2 else 0 for o in range(off, off + n))


class Conn:
    def __init__(self, s, scenario):
        self.s = s
        self.sc = scenario
        self.structured = False
        self.extended = False
        self.meta = False
        self.first_read = True

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                sys.exit(0)
            b += c
        return b

    def send(self, b):
        self.s.sendall(b)

    def rep(self, opt, typ, data=b""):
        self.send(struct.pack(">QIII", REPMAGIC, opt, typ, len(data)) + data)

    def handshake(self):
        if self.sc == "greet-stall":
            time.sleep(3600)
        if self.sc == "greet-garbage":
            self.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            time.sleep(5)
            sys.exit(0)
        self.send(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3))
        (cflags,) = struct.unpack(">I", self.recv(4))
        no_zeroes = cflags & 2
        tflags = 1 | 4 | 8 | 0x40  # HAS_FLAGS, FLUSH, FUA, WRITE_ZEROES
        while True:
            magic, opt, length = struct.unpack(">QII", self.recv(16))
            data = self.recv(length)
            if opt == 11:  # EXTENDED_HEADERS
                if self.sc == "ok-extended":
                    self.extended = self.structured = True
                    self.rep(opt, 1)
                else:
                    self.rep(opt, (1 << 31) | 1)
            elif opt == 8:  # STRUCTURED_REPLY
                if self.sc in ("ok-simple", "hole-on-simple", "ok-old"):
                    self.rep(opt, (1 << 31) | 1)
                else:
                    self.structured = True
                    self.rep(opt, 1)
            elif opt == 10:  # SET_META_CONTEXT
                name = b"base:allocation"
                self.meta = True
                self.rep(opt, 4, struct.pack(">I", 7) + name)
                self.rep(opt, 1)
            elif opt == 7:  # GO
                if self.sc == "ok-old":
                    self.rep(opt, (1 << 31) | 1)
                    continue
                if self.sc == "export-unknown":
                    self.rep(opt, (1 << 31) | 6, b"no export named that here")
                    continue
                self.rep(opt, 3, struct.pack(">HQH", 0, SIZE, tflags))
                self.rep(opt, 3, struct.pack(">HIII", 3, 1, 4096, 1 << 20))
                self.rep(opt, 1)
                return
            elif opt == 1:  # EXPORT_NAME
                self.send(struct.pack(">QH", SIZE, tflags))
                if not no_zeroes:
                    self.send(b"\0" * 124)
                return
            else:
                self.rep(opt, (1 << 31) | 1)

    # --- replies ---
    def simple(self, cookie, err=0, data=b""):
        self.send(struct.pack(">IIQ", 0x67446698, err, cookie) + data)

    def chunk(self, cookie, offset, flags, typ, payload):
        if self.extended:
            h = struct.pack(">IHHQQQ", 0x6E8A278C, flags, typ, cookie, offset,
                            len(payload))
        else:
            h = struct.pack(">IHHQI", 0x668E33EF, flags, typ, cookie,
                            len(payload))
        self.send(h + payload)

    def done(self, cookie, offset=0):
        if self.structured:
            self.chunk(cookie, offset, 1, 0, b"")
        else:
            self.simple(cookie)

    def read(self, cookie, off, n):
        sc = self.sc if self.first_read else "ok"
        self.first_read = False
        if sc == "never-answer":
            time.sleep(3600)  # and nothing else is answered either
        if sc == "bad-magic":
            self.send(struct.pack(">IIQ", 0xDEADBEEF, 0, cookie))
            return
        if sc == "unknown-cookie":
            self.simple(cookie ^ 0x5A5A0000, 0, content(off, n))
            return
        if sc == "close-mid-reply":
            # A data chunk's header for n bytes, then half of them.
            self.send(struct.pack(">IHHQI", 0x668E33EF, 1, 1, cookie, 8 + n) +
                      struct.pack(">Q", off) + content(off, n // 2))
            self.s.shutdown(socket.SHUT_RDWR)
            time.sleep(1)
            sys.exit(0)
        if sc == "hole-on-simple":
            self.send(struct.pack(">IHHQI", 0x668E33EF, 1, 2, cookie, 12) +
                      struct.pack(">QI", off, n))
            return
        if sc == "chunk-out-of-range":
            self.chunk(cookie, off, 1, 1, struct.pack(">Q", off + n) +
                       content(off + n, 512))
            return
        if sc == "error-reply":
            msg = b"the disk is on fire"
            self.chunk(cookie, off, 1, (1 << 15) | 1,
                       struct.pack(">IH", 5, len(msg)) + msg)
            return
        if sc == "short-read":
            self.chunk(cookie, off, 1, 1, struct.pack(">Q", off) +
                       content(off, n // 2))
            return
        if not self.structured:
            self.simple(cookie, 0, content(off, n))
            return
        # Correct: the data half as one chunk, the hole half as a hole.
        mid = max(off, min(off + n, SIZE // 2))
        if mid > off:
            self.chunk(cookie, off, 0, 1, struct.pack(">Q", off) +
                       content(off, mid - off))
        if off + n > mid:
            self.chunk(cookie, off, 0, 2, struct.pack(">QI", mid, off + n - mid))
        self.chunk(cookie, off, 1, 0, b"")

    def block_status(self, cookie, off, n):
        exts = []
        if off < SIZE // 2:
            exts.append((SIZE // 2 - off, 0))
            exts.append((SIZE // 2, 3))
        else:
            exts.append((SIZE - off, 3))
        if self.extended:
            p = struct.pack(">II", 7, len(exts))
            for length, fl in exts:
                p += struct.pack(">QQ", length, fl)
            self.chunk(cookie, off, 1, 6, p)
        else:
            p = struct.pack(">I", 7)
            for length, fl in exts:
                p += struct.pack(">II", length, fl)
            self.chunk(cookie, off, 1, 5, p)

    def serve(self):
        while True:
            if self.extended:
                magic, flags, typ, cookie, off, n = struct.unpack(
                    ">IHHQQQ", self.recv(32))
            else:
                magic, flags, typ, cookie, off, n = struct.unpack(
                    ">IHHQQI", self.recv(28))
            if typ == 0:
                self.read(cookie, off, n)
            elif typ == 1:
                self.recv(n)
                self.done(cookie, off)
            elif typ == 2:
                return
            elif typ == 7:
                self.block_status(cookie, off, n)
            else:
                self.done(cookie, off)


def main():
    scenario, path = sys.argv[1], sys.argv[2]
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path + ".tmp"
    ls.bind(tmp)
    ls.listen(1)
    os.rename(tmp, path)  # the socket appears when it is listening
    s, _ = ls.accept()
    c = Conn(s, scenario)
    c.handshake()
    c.serve()


if __name__ == "__main__":
    main()
