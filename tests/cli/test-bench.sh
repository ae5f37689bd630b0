#!/bin/sh
# test-bench.sh - `mblk bench` runs every mode briefly and reports sense.
. "$(dirname "$0")/lib.sh"

for rw in randread randwrite read write randrw; do
	expect_rc 0 "$MBLK" bench 'ram:?size=16M' --rw $rw --bs 4k --qd 8 \
		--time 0.2 --json || continue
	check "$rw ops>0" "$(json_get 'j["ops"] > 0')" True
	check "$rw p50<=max" "$(json_get 'all(j[k]["lat_ns"]["p50"] <= j[k]["lat_ns"]["max"] for k in ("read","write") if k in j)')" True
done
# A prefilled read test leaves the range written.
expect_rc 0 "$MBLK" bench 'ram:?size=16M' --rw randread --bs 4k --qd 4 \
	--size 8M --time 0.1 --json &&
	check prefill_allocated "$(json_get 'j["allocated"]')" 8388608
expect_rc 0 "$MBLK" bench 'ram:?size=16M' --rw randread --bs 4k --qd 4 \
	--no-prefill --time 0.1 --json &&
	check no_prefill "$(json_get 'j["allocated"]')" 0
# randrw honours --rwmixread roughly.
expect_rc 0 "$MBLK" bench 'ram:?size=16M' --rw randrw --rwmixread 100 \
	--time 0.1 --json &&
	check mix100 "$(json_get 'j["write"]["ops"]')" 0
# Memory: a 1 TiB device with 32 MiB written stays small.
expect_rc 0 "$MBLK" bench 'ram:x?size=1T' --rw write --bs 1M --size 32M \
	--qd 4 --time 0.2 --json &&
	check rss_small "$(json_get 'j["max_rss_kib"] < 128 * 1024')" True
# Human output has the lines the docs describe.
expect_rc 0 "$MBLK" bench 'ram:?size=4M' --rw randread --time 0.1 &&
	{ printf '%s\n' "$OUT" | grep -q '^read .*IOPS.*p99.9' || fail "human: $OUT"; }
# With the file device: a read test fills holes only, keeping the data.
f=$(mktemp /tmp/mblk-bench.XXXXXX)
trap 'rm -f "$f" "$f.head"' EXIT
dd if=/dev/urandom of="$f" bs=1M count=1 2>/dev/null
truncate -s 4M "$f"
head -c 1M "$f" >"$f.head"
if "$MBLK" info "$f" >/dev/null 2>&1; then
	expect_rc 0 "$MBLK" bench "$f" --rw randread --qd 4 --time 0.1 --json &&
		check file_prefill "$(json_get 'j["prefill_bytes"]')" 3145728
	head -c 1M "$f" | cmp -s - "$f.head" ||
		fail "a read test changed the data already in $f"
	expect_rc 0 "$MBLK" map "$f" --json &&
		check file_all_data "$(json_get '[e["data"] for e in j]')" "[True]"
fi
finish
