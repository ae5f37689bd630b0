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

# A smaller destination is refused.
truncate -s 16M "$d/small.img"
expect_rc 1 "$MBLK" copy "$src" "$d/small.img" && expect_sentence
# A missing source.
expect_rc 1 "$MBLK" copy "$d/missing.img" "$d/x.img" && expect_sentence
[ ! -e "$d/x.img" ] || fail "a failed copy left x.img behind"

# The summary line: data written, holes skipped, time, rate; --quiet: none.
expect_rc 0 "$MBLK" copy "$src" "$d/sum.img" &&
	{ printf '%s' "$ERR" | grep -Eq '^mblk copy: 32.0 MiB copied in [0-9.]+ s: 5.00 MiB of data written, 27.0 MiB of holes skipped, 0 B of zeros detected \([0-9.]+ [KMG]?i?B/s of data\)$' ||
		fail "summary line: $ERR"; }
expect_rc 0 "$MBLK" copy "$src" "$d/quiet.img" --quiet && check quiet "$ERR" ""

# Onto itself, in any spelling: refused (2), the file untouched.
cp "$src" "$d/self.img"
ln -s "$d/self.img" "$d/link.img"
ln "$d/self.img" "$d/hard.img"
sum0=$(md5sum <"$d/self.img")
for dst in "$d/self.img" "file:$d/self.img" "file:$d/self.img?lock=0" \
	"$d/link.img" "$d/hard.img" "file:$d/hard.img?lock=0&buffered=0" \
	"$d/./self.img" "file://$d/self.img" "file://localhost$d/hard.img"; do
	expect_rc 2 "$MBLK" copy "$d/self.img" "$dst" && expect_sentence &&
		{ printf '%s' "$ERR" | grep -q 'same device' || fail "onto itself ($dst): $ERR"; }
done
expect_rc 2 "$MBLK" copy "file:$d/link.img?lock=0" "$d/self.img" && expect_sentence
for dst in "$d/self.img" "$d/hard.img" "file:$d/link.img?lock=0"; do
	expect_rc 2 "$MBLK" mirror "$d/self.img" "$dst" && expect_sentence
done
check self_untouched "$(md5sum <"$d/self.img")" "$sum0"

# A larger destination: the copy fills the start, the rest is left alone.
dd if=/dev/urandom of="$d/big.img" bs=1M count=40 2>/dev/null
tail -c 8M "$d/big.img" >"$d/big.tail"
expect_rc 0 "$MBLK" copy "$src" "$d/big.img" &&
{
	printf '%s' "$ERR" | grep -q "note: .*is larger than.*last 8388608 bytes are left as they are" ||
		fail "no note for a larger destination: $ERR"
	cmp -n 33554432 "$src" "$d/big.img" || fail "big.img's first 32M differ"
	tail -c 8M "$d/big.img" | cmp -s - "$d/big.tail" || fail "big.img's tail changed"
}

# --detect-zeroes: written zeros in SRC become a hole in a new DST.
truncate -s 8M "$d/z.img"
dd if=/dev/urandom of="$d/z.img" bs=1M count=1 conv=notrunc 2>/dev/null
dd if=/dev/zero of="$d/z.img" bs=1M count=4 seek=2 conv=notrunc 2>/dev/null
expect_rc 0 "$MBLK" copy "$d/z.img" "$d/z1.img" &&
{
	cmp "$d/z.img" "$d/z1.img" || fail "z1.img differs"
	printf '%s' "$ERR" | grep -q '4.00 MiB of zeros detected' || fail "zeros not counted: $ERR"
	check z1_alloc_kib "$(du -k "$d/z1.img" | cut -f1)" 1024
}
expect_rc 0 "$MBLK" copy "$d/z.img" "$d/z2.img" --detect-zeroes off &&
	check z2_alloc_kib "$(du -k "$d/z2.img" | cut -f1)" 5120
# --target-is-zero: holes of SRC are not written (here DST holds junk, so
# it shows); on a new DST it does nothing, and says so.
dd if=/dev/urandom of="$d/junk.img" bs=1M count=32 2>/dev/null
expect_rc 0 "$MBLK" copy "$src" "$d/junk.img" --target-is-zero --quiet &&
{
	cmp -n 2097152 "$src" "$d/junk.img" || fail "junk.img data differs"
	cmp -s "$src" "$d/junk.img" && fail "--target-is-zero wrote the holes"
}
expect_rc 0 "$MBLK" copy "$src" "$d/new3.img" --target-is-zero --quiet &&
	{ printf '%s' "$ERR" | grep -q 'warning: --target-is-zero does nothing' || fail "no warning: $ERR"; }

# --rate holds from the first byte: 5 MiB of data at 2 MiB/s takes
# at least 2 s (the first chunk is 1/10 s of the rate).
t0=$(date +%s%N)
expect_rc 0 "$MBLK" copy "$src" "$d/rate.img" --rate 2M --quiet &&
	{ ms=$(ms_since "$t0"); [ "$ms" -ge 2000 ] || fail "--rate 2M copied 5 MiB in $ms ms"; }
cmp "$src" "$d/rate.img" || fail "rate.img differs"

# Time follows the data: an empty 8 EiB device copies at once; a copy
# that stepped over the size would take hours (the bound only stops it:
# this is not a speed test).
expect_rc 0 timeout 60 "$MBLK" copy 'ram:?size=8E' 'ram:?size=8E' --progress=json &&
{
	OUT=$(printf '%s\n' "$OUT" | tail -n 1)
	check huge_outcome "$(json_get 'j["outcome"], j["done"] == j["total"]')" "complete True"
}
expect_rc 0 "$MBLK" copy 'ram:a?size=8E' 'ram:b?size=8E' --quiet

# stdout that cannot be written: exit 1 (the copy itself is whole).
expect_rc 1 sh -c "'$MBLK' copy '$src' '$d/full.img' --progress=json >/dev/full" &&
	{ printf '%s' "$ERR" | grep -q 'cannot write the output' || fail "/dev/full: $ERR"; }

# Options that would do nothing here are said to.
expect_rc 0 "$MBLK" copy "$src" 'ram:?size=32M' --dst-cache buffered --quiet &&
	{ printf '%s' "$ERR" | grep -q 'warning: --dst-cache does nothing here' || fail "no --dst-cache warning: $ERR"; }
expect_rc 0 "$MBLK" copy "$src" "$d/bar.img" --progress --quiet &&
	{ printf '%s' "$ERR" | grep -q 'draws no bar: stderr is not a terminal' || fail "no bar note: $ERR"; }

# A reader of the progress going away does not kill the copy half-way:
# the copy completes (DST whole, kept) and the command exits 1.
"$MBLK" copy "$src" "$d/pipe.img" --progress=json --rate 8M 2>"$d/pipe.err" |
	head -n 1 >/dev/null # the shell waits for the copy too
cmp "$src" "$d/pipe.img" || fail "a closed progress pipe left pipe.img incomplete"
grep -q 'cannot write the output' "$d/pipe.err" || fail "closed pipe not said: $(cat "$d/pipe.err")"

# qemu-img compare agrees with every copy above.
if command -v qemu-img >/dev/null; then
	for f in new.img old.img sum.img z1.img z2.img rate.img; do
		qemu-img compare -f raw -F raw "$src" "$d/$f" >/dev/null 2>&1 ||
			[ "$f" = z1.img ] || [ "$f" = z2.img ] ||
			fail "qemu-img compare: $f differs from src"
	done
	qemu-img compare -f raw -F raw "$d/z.img" "$d/z1.img" >/dev/null ||
		fail "qemu-img compare: z1.img differs"
fi
finish
