#!/bin/sh
# test-mirror.sh - `mblk mirror file.img NBD-URI` with a concurrent writer
# (--write-load) converges, and afterwards the NBD export (a file served
# by the server) holds exactly the source: checked with qemu-img compare,
# outside mblk. Then the other way, from the export to a new file.
# Usage: test-mirror.sh MBLK URI EXPORTED-IMAGE SCRATCH-DIR
set -u
mblk=$1 uri=$2 img=$3 dir=$4
command -v qemu-img >/dev/null || {
	[ "${CI:-}" = true ] && { echo "FAIL: qemu-img is not installed"; exit 1; }
	echo "skipped: qemu-img is not installed"
	exit 77
}
src=$dir/src.img
size=$(stat -c %s "$img")
truncate -s "$size" "$src"
dd if=/dev/urandom of="$src" bs=64K count=40 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$src" bs=64K count=20 seek=150 conv=notrunc 2>/dev/null
"$mblk" mirror "$src" "$uri" --write-load 16 --buffer 1M || {
	echo "FAIL: mblk mirror $src -> $uri failed"
	exit 1
}
qemu-img compare -f raw -F raw "$src" "$img" || {
	echo "FAIL: after mirroring with a write load, $src and the export differ"
	exit 1
}
echo "ok mirror file -> $uri with a concurrent writer: identical"
back=$dir/back.img
"$mblk" mirror "$uri" "$back" || {
	echo "FAIL: mblk mirror $uri -> $back failed"
	exit 1
}
qemu-img compare -f raw -F raw "$src" "$back" || {
	echo "FAIL: mirroring the export back gave a different image"
	exit 1
}
echo "ok mirror $uri -> file: identical"
