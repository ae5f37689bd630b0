#!/bin/sh
# test-file-info.sh - `mblk info` on a file: the reopen URI spells out
# every setting as info opened it (read-only, so read-only=1), and the
# read-only fallback shows as a note.
# Usage: test-file-info.sh MBLK    (exit 77 when chattr +i is refused)
set -u
mblk=$1
dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-.}/info-XXXXXX") || exit 1
img=$dir/i.img
trap 'chattr -i "$img" 2>/dev/null; rm -rf "$dir"' EXIT
truncate -s 1M "$img"
out=$("$mblk" info "file:$img?sync=drive&engine=threads") || exit 1
echo "$out"
echo "$out" | grep -q "reopen URI: *file:.*/i.img?buffered=1&sync=drive&lock=1&sector-size=512&read-only=1&engine=threads$" ||
	{ echo "reopen URI not spelled out"; exit 1; }
chattr +i "$img" 2>/dev/null || { echo "skipped: chattr +i refused"; exit 77; }
out=$("$mblk" info "$img") || exit 1
echo "$out"
echo "$out" | grep -q "^note: .*not writable.*opened read-only" ||
	{ echo "no read-only note"; exit 1; }
echo "$out" | grep -q "read-only=1&engine=" || { echo "URI lacks read-only=1"; exit 1; }
echo ok
