#!/bin/sh
# test-map.sh - `mblk map`: a fresh ram device is one hole.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" map 'ram:?size=1M' --json &&
{
	check extents "$(json_get 'len(j)')" 1
	check start "$(json_get 'j[0]["start"]')" 0
	check length "$(json_get 'j[0]["length"]')" 1048576
	check data "$(json_get 'j[0]["data"]')" False
	check zero "$(json_get 'j[0]["zero"]')" True
}
expect_rc 0 "$MBLK" map 'ram:?size=64M&sector-size=4096' &&
{
	printf '%s\n' "$OUT" | grep -Eq '^ +0 +67108864 +hole$' ||
		fail "human map of a fresh device is not one hole: $OUT"
}
# If the file device is built, a file with data and a hole.
f=$(mktemp /tmp/mblk-map.XXXXXX)
trap 'rm -f "$f"' EXIT
dd if=/dev/urandom of="$f" bs=64k count=1 conv=notrunc 2>/dev/null
truncate -s 1M "$f"
if "$MBLK" info "$f" >/dev/null 2>&1; then
	expect_rc 0 "$MBLK" map "$f" --json &&
	{
		check first_is_data "$(json_get 'j[0]["data"]')" True
		check covers "$(json_get 'sum(e["length"] for e in j)')" 1048576
		check last_is_hole "$(json_get 'j[-1]["data"]')" False
	}
	if command -v qemu-img >/dev/null; then
		want=$(qemu-img map -f raw --output=json "$f" | python3 -c '
import json,sys
print([(e["start"],e["length"],e["data"]) for e in json.load(sys.stdin)])')
		check vs_qemu_img "$(json_get '[(e["start"],e["length"],e["data"]) for e in j]')" "$want"
	elif in_ci; then
		fail "qemu-img is not installed: under CI=true the comparison with qemu-img map must run (scripts/deps.sh installs it)"
	else
		echo "note: no qemu-img, the comparison with qemu-img map did not run"
	fi
fi
finish
