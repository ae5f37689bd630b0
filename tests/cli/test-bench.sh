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
# --ramp runs the load first and measures only after it: the report's
# window is --time long, the run ramp + time.
t0=$(date +%s%N)
expect_rc 0 "$MBLK" bench 'ram:?size=4M' --rw randread --qd 4 --time 0.3 \
	--ramp 0.6 --json &&
	check ramp_window "$(json_get '0.3 <= j["seconds"] < 0.5 and j["ramp_s"] == 0.6')" True &&
	check ramp_rate "$(json_get 'abs(j["ops"] / j["seconds"] - j["iops"]) <= 0.01 * j["iops"]')" True
check ramp_wall "$(( ($(date +%s%N) - t0) >= 900000000 ))" 1
expect_rc 2 "$MBLK" bench 'ram:?size=1M' --rw read --ramp -1
# Human output has the lines the docs describe.
expect_rc 0 "$MBLK" bench 'ram:?size=4M' --rw randread --time 0.1 &&
	{ printf '%s\n' "$OUT" | grep -q '^read .*IOPS.*p99.9' || fail "human: $OUT"; }
# With the file device: a read test on an existing image changes nothing
# (same bytes, same allocation, nothing said about writing); --fill
# fills the holes only, keeping the data, and says so first.
f=$(mktemp /tmp/mblk-bench.XXXXXX)
trap 'rm -f "$f" "$f.head" "$f.orig"' EXIT
dd if=/dev/urandom of="$f" bs=1M count=1 2>/dev/null
truncate -s 4M "$f"
head -c 1M "$f" >"$f.head"
cp --sparse=always "$f" "$f.orig"
if "$MBLK" info "$f" >/dev/null 2>&1; then
	used0=$(du -k "$f" | cut -f1)
	for rw in randread read; do
		expect_rc 0 "$MBLK" bench "$f" --rw $rw --qd 4 --time 0.1 --json &&
			check "$rw no_fill" "$(json_get 'j["prefill_bytes"]')" 0
		[ -z "$ERR" ] || fail "a read test said something: $ERR"
	done
	cmp -s "$f" "$f.orig" || fail "a read test changed $f"
	check read_allocation "$(du -k "$f" | cut -f1)" "$used0"
	expect_rc 0 "$MBLK" bench "$f" --rw randread --fill --qd 4 --time 0.1 --json &&
		check file_fill "$(json_get 'j["prefill_bytes"]')" 3145728
	printf '%s' "$ERR" | grep -q 'note: this test writes to' ||
		fail "--fill did not say it writes: $ERR"
	head -c 1M "$f" | cmp -s - "$f.head" ||
		fail "--fill changed the data already in $f"
	expect_rc 0 "$MBLK" map "$f" --json &&
		check file_all_data "$(json_get '[e["data"] for e in j]')" "[True]"
	expect_rc 0 "$MBLK" bench "$f" --rw write --size 1M --time 0.1 --json
	printf '%s' "$ERR" | grep -q 'note: this test writes to' ||
		fail "a write test did not say it writes: $ERR"
fi
expect_rc 2 "$MBLK" bench 'ram:?size=1M' --rw read --fill --no-fill
finish
