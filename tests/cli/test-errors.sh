#!/bin/sh
# test-errors.sh - exit statuses and one-sentence errors.
. "$(dirname "$0")/lib.sh"

# Usage errors: 2, one sentence.
for args in "" "nosuchcmd" "info" "info a b" "info --bogus x" \
	"map" "copy onlyone" "copy -b" "copy a b --buffer 12Q" \
	"copy a b --requests 0" "copy a b --rate 0" "copy a b --flush sometimes" "copy a b --detect-zeroes maybe" "compare a" "resize a" "resize a 1Q" "create a" "create a --size 1000" "mirror a" "copy a a" "copy ram:x ram:x?size=1M" "bench ram: --rw read --rwmixread 50" "bench ram: --rw read --seed 3" "mirror a b --retries 3" "mirror a b --load-bs 8K" "mirror a b --load-time 1" "copy a b --progress=fancy" \
	"bench ram:" "bench ram: --rw sideways" "bench ram: --rw read --bs x" \
	"bench ram: --rw read --qd 0" "bench ram: --rw read --time -1" \
	"bench ram: --rw randrw --rwmixread 101"; do
	# shellcheck disable=SC2086
	expect_rc 2 "$MBLK" $args && expect_sentence
done

# Operation errors: 1, one sentence naming the device.
expect_rc 1 "$MBLK" info 'nosuch:x' && expect_sentence
expect_rc 1 "$MBLK" info 'ram:?size=bogus' && expect_sentence
expect_rc 1 "$MBLK" map 'ram:?size=1M&nokey=1' && expect_sentence
expect_rc 1 "$MBLK" copy 'ram:a?size=8M' 'ram:b?size=4M' && expect_sentence &&
	{ printf '%s' "$ERR" | grep -q 'destination is smaller' || fail "no cause: $ERR"; }
expect_rc 1 "$MBLK" bench 'ram:?size=1M' --rw read --bs 1000 --time 0.1 &&
	expect_sentence
expect_rc 1 "$MBLK" bench 'ram:?size=1M' --rw read --size 2M --time 0.1 &&
	expect_sentence
expect_rc 1 "$MBLK" bench 'ram:?size=1T' --rw randread --time 0.1 &&
	expect_sentence

# --help and --version succeed.
for sub in info map copy bench mirror compare create resize; do
	expect_rc 0 "$MBLK" $sub --help &&
		{ printf '%s' "$OUT" | grep -q "Usage: mblk $sub" ||
			fail "$sub --help: $OUT"; }
done
expect_rc 0 "$MBLK" --help
expect_rc 0 "$MBLK" --version &&
	{ printf '%s' "$OUT" | grep -q '^mblk [0-9]' || fail "--version: $OUT"; }
finish
