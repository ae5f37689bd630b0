#!/bin/sh
# test-compare.sh - `mblk compare A B` beside `qemu-img compare`: the same
# verdict and the same first differing offset on each pair, exit 0 / 1 /
# 2, sparse-aware (an empty 8 EiB pair compares at once).
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" compare 'ram:?size=1M' 'ram:?size=1M' &&
	check identical "$OUT" "Images are identical."
# An empty 8 EiB pair is one extent each (the bound stops a walk over the
# size; not a speed test).
expect_rc 0 timeout 60 "$MBLK" compare 'ram:?size=8E' 'ram:?size=8E'
expect_rc 2 "$MBLK" compare 'ram:?size=1M' && expect_sentence
expect_rc 2 "$MBLK" compare 'ram:?size=1M' /nonexistent/x.img && expect_sentence
expect_rc 2 sh -c "'$MBLK' compare 'ram:?size=1M' 'ram:?size=1M' >/dev/full"

need_peer qemu-img
d=$(mktemp -d /tmp/mblk-compare.XXXXXX)
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 1
truncate -s 16M a.img
dd if=/dev/urandom of=a.img bs=64k count=8 seek=10 conv=notrunc 2>/dev/null
dd if=/dev/urandom of=a.img bs=4k count=1 seek=4000 conv=notrunc 2>/dev/null
cp --sparse=always a.img same.img
# same bytes, different allocation: zeros written where a.img has a hole
cp --sparse=never a.img dense.img
cp a.img late.img
printf 'X' | dd of=late.img bs=1 seek=16383999 conv=notrunc 2>/dev/null
cp a.img early.img
printf '\001' | dd of=early.img bs=1 seek=655363 conv=notrunc 2>/dev/null
cp a.img inhole.img
printf 'Q' | dd of=inhole.img bs=1 seek=100 conv=notrunc 2>/dev/null
# sizes: a larger image with zeros past the end is "identical" (with a
# note), with data there it differs; --strict refuses any size mismatch
cp a.img bigz.img && truncate -s 20M bigz.img
cp bigz.img bigd.img
printf 'D' | dd of=bigd.img bs=1 seek=18000000 conv=notrunc 2>/dev/null
for b in same.img dense.img late.img early.img inhole.img bigz.img bigd.img; do
	qout=$(qemu-img compare -f raw -F raw a.img "$b" 2>/dev/null)
	qrc=$?
	"$MBLK" compare a.img "$b" >"$d/out" 2>"$d/err"
	rc=$?
	check "$b rc" "$rc" "$qrc"
	# qemu-img prints a size warning line first for bigz/bigd; compare
	# the verdict line.
	check "$b verdict" "$(tail -n 1 "$d/out")" "$(printf '%s\n' "$qout" | tail -n 1)"
done
expect_rc 1 "$MBLK" compare a.img early.img &&
	check exact_byte "$ERR" "mblk compare: the first differing byte is at offset 655363"
expect_rc 1 "$MBLK" compare --strict a.img bigz.img
qemu-img compare -s -f raw -F raw a.img bigz.img >/dev/null 2>&1
check strict_like_qemu "$?" 1
finish
