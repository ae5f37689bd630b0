#!/bin/sh
# test-copy.sh - `mblk copy` between files (needs the file device; skips
# with 77 without it): data and holes survive, a new destination is
# created sparse, progress JSON lines parse, sizes must match.
. "$(dirname "$0")/lib.sh"

d=$(mktemp -d /tmp/mblk-copy.XXXXXX)
trap 'rm -rf "$d"' EXIT
if ! "$MBLK" info "file:$d/none" 2>&1 | grep -qv 'not built'; then
	echo "the file device is not built; skipping"
	exit 77
fi
src=$d/src.img
truncate -s 32M "$src"
dd if=/dev/urandom of="$src" bs=1M count=2 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$src" bs=1M count=3 seek=20 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$src" bs=4k count=1 seek=8191 conv=notrunc 2>/dev/null

# A new destination: created, sparse, equal.
expect_rc 0 "$MBLK" copy "$src" "$d/new.img" --progress=json &&
{
	cmp "$src" "$d/new.img" || fail "new.img differs from src"
	last=$(printf '%s\n' "$OUT" | tail -n 1)
	OUT=$last
	check progress_done "$(json_get 'j["done"] == j["total"] and j["ok"]')" True
	used=$(du -k "$d/new.img" | cut -f1)
	[ "$used" -lt 16384 ] || fail "new.img is not sparse: ${used} KiB used"
}
# Every progress line is JSON.
"$MBLK" copy "$src" "$d/new2.img" --progress=json --buffer 1M |
	python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' ||
	fail "progress lines are not JSON"

# An existing destination full of junk: holes become zeros.
dd if=/dev/urandom of="$d/old.img" bs=1M count=32 2>/dev/null
expect_rc 0 "$MBLK" copy "file:$src" "file:$d/old.img" --requests 3 \
	--buffer 2M && { cmp "$src" "$d/old.img" || fail "old.img differs"; }

# Sizes must match.
truncate -s 16M "$d/small.img"
expect_rc 1 "$MBLK" copy "$src" "$d/small.img" && expect_sentence
# A missing source.
expect_rc 1 "$MBLK" copy "$d/missing.img" "$d/x.img" && expect_sentence
[ ! -e "$d/x.img" ] || fail "a failed copy left x.img behind"
finish
