#!/usr/bin/env bash
# test-no-alloc.sh - the NBD server allocates nothing per request in steady
# state: mblk serve runs under an LD_PRELOAD that counts allocations
# (malloc-count.c), once for 300 rounds of 16 pipelined 4 KiB writes and
# reads on one connection and once for 3000. The totals differ only by
# the warm-up (how many slots the timing made the high-water mark): far
# less than one allocation per 100 of the extra 43200 requests.
# Usage: test-no-alloc.sh PATH-TO-MBLK PATH-TO-malloc-count.so
. "$(dirname "$0")/lib.sh"
PRELOAD=${2:?usage: $0 MBLK MALLOC-COUNT.so}
HERE=$(cd "$(dirname "$0")" && pwd)

count() {  # ROUNDS -> the server's allocation total
	rm -f "$T/s.sock"
	LD_PRELOAD=$PRELOAD "$MBLK" serve 'ram:?size=1M' --unix "$T/s.sock" \
		>"$T/out" 2>"$T/log" &
	local pid=$!
	for _ in $(seq 100); do [ -s "$T/out" ] && break; sleep 0.05; done
	python3 - "$HERE" "$T/s.sock" "$1" <<'PY' || fail "the load failed"
import sys
sys.path.insert(0, sys.argv[1])
import nbdwire as w
c = w.Conn(path=sys.argv[2])
c.handshake(structured=True, meta=True)
for i in range(int(sys.argv[3])):
    for k in range(8):
        off = ((i * 8 + k) % 64) * 4096
        c.request(w.CMD_WRITE, off, 4096, data=bytes([k]) * 4096)
        c.request(w.CMD_READ, off, 4096)
    replies = {}
    while c.pending:
        r = c.read_any(replies)
        assert r.error == 0
c.cmd(w.CMD_BLOCK_STATUS, 0, 1 << 20)
c.disc()
c.close()
PY
	kill -TERM "$pid"
	wait "$pid"
	sed -n 's/^MALLOCS //p' "$T/log"
}

a=$(count 300)
b=$(count 3000)
if [ -z "$a" ] || [ -z "$b" ]; then
	fail "no allocation count (LD_PRELOAD did not load?)"
else
	echo "allocations: $a for 4800 requests, $b for 48000"
	d=$((b - a))
	[ "${d#-}" -lt 432 ] ||
		fail "the server allocated $d times more for 43200 more requests"
fi
finish
