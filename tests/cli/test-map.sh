#!/bin/sh
# test-map.sh - `mblk map`: a fresh ram device is one hole (also at 8 EiB,
# at once: time follows the data); for files, both outputs are those of
# `qemu-img map -f raw`, byte for byte, over several layouts.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" map 'ram:?size=1M' --json &&
{
	check extents "$(json_get 'len(j)')" 1
	check start "$(json_get 'j[0]["start"]')" 0
	check length "$(json_get 'j[0]["length"]')" 1048576
	check data "$(json_get 'j[0]["data"]')" False
	check zero "$(json_get 'j[0]["zero"]')" True
	check fields "$(json_get 'sorted(j[0])')" \
		"['data', 'depth', 'length', 'offset', 'present', 'start', 'zero']"
}
# The human table lists data only: a fresh device is the header alone.
expect_rc 0 "$MBLK" map 'ram:?size=64M&sector-size=4096' &&
	check human_empty "$OUT" "Offset          Length          Mapped to       File"
# 8 EiB: one extent. Time follows the data: a walk that stepped over
# the size would take hours; the bound only stops it (not a speed test).
expect_rc 0 timeout 60 "$MBLK" map 'ram:?size=8E' --json &&
	check huge_one_extent "$(json_get '(len(j), j[0]["length"])')" "(1, 9223372036854775808)"
# Output that cannot be written is an error.
expect_rc 1 sh -c "'$MBLK' map 'ram:?size=1M' >/dev/full" &&
	{ printf '%s' "$ERR" | grep -q 'cannot write the output' || fail "/dev/full: $ERR"; }

d=$(mktemp -d /tmp/mblk-map.XXXXXX)
trap 'rm -rf "$d"' EXIT
if ! "$MBLK" info "$d/none" 2>&1 | grep -qv 'not built'; then
	echo "the file device is not built; skipping the file part"
	finish
fi
if ! command -v qemu-img >/dev/null; then
	[ "${CI:-}" = true ] && fail "qemu-img is missing (scripts/deps.sh installs it)"
	echo "qemu-img is missing; skipping the comparison with it"
	finish
fi
cd "$d" || exit 1
mk() { # mk NAME SIZE [SEEK_KiB COUNT_KiB]...
	n=$1
	truncate -s "$2" "$n"
	shift 2
	while [ $# -ge 2 ]; do
		dd if=/dev/urandom of="$n" bs=1k seek="$1" count="$2" \
			conv=notrunc 2>/dev/null
		shift 2
	done
}
mk empty.img 4M
mk full.img 1M 0 1024
mk start.img 4M 0 64
mk end.img 4M 4032 64
mk mixed.img 16M 0 4 100 8 1024 1024 8188 4 16380 4
for f in empty.img full.img start.img end.img mixed.img; do
	qwant=$(qemu-img map -f raw --output=json "$f")
	expect_rc 0 "$MBLK" map "$f" --json && check "$f json" "$OUT" "$qwant"
	qwant=$(qemu-img map -f raw "$f")
	expect_rc 0 "$MBLK" map "$f" && check "$f human" "$OUT" "$qwant"
done
finish
