#!/bin/sh
# test-file-copy.sh - `mblk copy` between files keeps the data and the
# holes: the destination is created sparse at the source's size and has
# the same data ranges as the source (qemu-img map) and the same bytes.
# Usage: test-file-copy.sh MBLK      (exit 77 without qemu-img/python3)
set -u
mblk=$1
command -v qemu-img >/dev/null && command -v python3 >/dev/null || {
	echo "skipped: needs qemu-img and python3"; exit 77; }
dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-.}/copy-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/src.img" <<'PY'
import os, random, sys
# 32 MiB, a quarter of it data in scattered 1 MiB extents, plus a few
# 4 KiB blocks and data in the last sector.
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, 32 << 20)
rng = random.Random(7)
for s in rng.sample(range(32), 8):
    os.pwrite(fd, os.urandom(1 << 20), s << 20)
for _ in range(5):
    os.pwrite(fd, os.urandom(4096), rng.randrange(0, 32 << 20, 4096))
os.pwrite(fd, b"end!" * 128, (32 << 20) - 512)
os.fsync(fd)
os.close(fd)
PY
"$mblk" copy "$dir/src.img" "$dir/dst.img" || exit 1
cmp "$dir/src.img" "$dir/dst.img" || { echo "data differs"; exit 1; }
map() { qemu-img map --output=json -f raw "$1" | tr -d ' \n' |
	grep -o '"start":[0-9]*,"length":[0-9]*,"depth":[0-9]*,"present":true,"zero":false,"data":true'; }
a=$(map "$dir/src.img"); b=$(map "$dir/dst.img")
if [ "$a" != "$b" ]; then
	echo "holes differ:"; echo "source:"; echo "$a"; echo "copy:"; echo "$b"
	exit 1
fi
echo "source $(du -k "$dir/src.img" | cut -f1) KiB, copy $(du -k "$dir/dst.img" | cut -f1) KiB allocated"
echo ok
