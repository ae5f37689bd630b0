#!/bin/sh
# test-file-nodirect.sh - a filesystem that refuses O_DIRECT: buffered=0
# fails with a sentence that says so and what to do, and buffered=1 on the
# same file works. ramfs refuses O_DIRECT (tmpfs accepts it since Linux
# 6.6). Usage: test-file-nodirect.sh MBLK   (exit 77 when ramfs cannot be
# mounted: not root, or a container)
set -u
mblk=$1
dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-.}/nodirect-XXXXXX") || exit 1
mount -t ramfs none "$dir" 2>/dev/null ||
	{ rmdir "$dir"; echo "skipped: cannot mount ramfs"; exit 77; }
trap 'umount "$dir"; rmdir "$dir"' EXIT
img=$dir/d.img
truncate -s 1M "$img"
if out=$("$mblk" info "file:$img?buffered=0" 2>&1); then
	echo "buffered=0 opened on ramfs: $out"
	exit 1
fi
echo "$out"
echo "$out" | grep -q "d.img: its filesystem refuses O_DIRECT (buffered=0).*open it with buffered=1" ||
	{ echo "not the sentence expected"; exit 1; }
out=$("$mblk" info "file:$img?buffered=1") || exit 1
echo "$out" | grep -q "buffered=1" || { echo "buffered=1 did not open"; exit 1; }
# mblk copy onto ramfs: O_DIRECT is refused, so the copy goes buffered
# and says so.
src=$(mktemp "${MBLK_TEST_TMPDIR:-.}/nodirect-src-XXXXXX") || exit 1
head -c 1M /dev/urandom > "$src"
out=$("$mblk" copy "$src" "$dir/copy.img" 2>&1) || { echo "$out"; rm -f "$src"; exit 1; }
echo "$out"
cmp "$src" "$dir/copy.img" || { echo "copy differs"; rm -f "$src"; exit 1; }
rm -f "$src"
echo "$out" | grep -q "note: writing '.*copy.img' through the page cache: .*refuses O_DIRECT" ||
	{ echo "no note on the buffered fallback"; exit 1; }
echo ok
