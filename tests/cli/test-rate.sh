#!/bin/sh
# test-rate.sh - the mirror's --rate holds from the first byte: a device
# smaller than the buffer (which used to copy in one burst) and a larger
# one (which used to get a whole buffer at once) both take the time the
# rate gives, less one operation (1 MiB) of allowance.
. "$(dirname "$0")/lib.sh"

d=$(mktemp -d /tmp/mblk-rate.XXXXXX)
trap 'rm -rf "$d"' EXIT
truncate -s 4M "$d/small.img"
dd if=/dev/urandom of="$d/small.img" bs=1M count=4 conv=notrunc 2>/dev/null
truncate -s 64M "$d/big.img"
dd if=/dev/urandom of="$d/big.img" bs=1M count=8 conv=notrunc 2>/dev/null

# mirror_time SRC RATE: runs the mirror onto a new file, prints ms.
mirror_time() {
	rm -f "$d/dst.img"
	t0=$(date +%s%N)
	"$MBLK" mirror "$1" "$d/dst.img" --rate "$2" >/dev/null 2>"$d/err" ||
		fail "mirror $1 failed: $(cat "$d/err")"
	ms=$(ms_since "$t0")
	cmp -s "$1" "$d/dst.img" || fail "mirror of $1 differs"
	echo "$ms"
}
# 4 MiB at 1 MiB/s, a 16 MiB buffer: (4 - 1) s at least.
ms=$(mirror_time "$d/small.img" 1M)
[ "$ms" -ge 2900 ] || fail "4 MiB at --rate 1M took $ms ms: the rate was not held"
[ "$ms" -le 8000 ] || fail "4 MiB at --rate 1M took $ms ms: far too slow"
# 8 MiB of data on 64 MiB at 2 MiB/s: (8 - 1) / 2 s at least; holes free.
ms=$(mirror_time "$d/big.img" 2M)
[ "$ms" -ge 3400 ] || fail "8 MiB at --rate 2M took $ms ms: a burst"
[ "$ms" -le 9000 ] || fail "8 MiB at --rate 2M took $ms ms: the holes were charged"
# From the first byte: every progress line of the big mirror has read at
# most rate * elapsed + one operation (1 MiB), +5% for the clock.
rm -f "$d/dst.img"
"$MBLK" mirror "$d/big.img" "$d/dst.img" --rate 2M --progress=json >"$d/json" ||
	fail "the big mirror with --progress=json failed"
python3 - "$d/json" <<'PY' || fail "the mirror read ahead of its rate"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
bad = [l for l in lines
       if l["data_bytes"] > (2 * 2**20 * l["elapsed_s"] + 2**20) * 1.05]
for l in bad[:3]:
    print("read %d bytes after %.3f s" % (l["data_bytes"], l["elapsed_s"]),
          file=sys.stderr)
sys.exit(1 if bad or len(lines) < 5 else 0)
PY
finish
