#!/bin/sh
# test-file-copy.sh - `mblk copy` between files keeps the data and the
# holes: the destination is created sparse at the source's size and has
# the same data ranges as the source (qemu-img map) and the same bytes.
# The default writes the destination with O_DIRECT, which leaves none of
# it in the page cache (fincore); --dst-cache=buffered leaves it there.
# Usage: test-file-copy.sh MBLK      (exit 77 without qemu-img/python3;
# under CI=true that is a failure)
set -u
mblk=$1
. "$(dirname "$0")/../common/peers.sh"
need_peer qemu-img python3
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

# Page cache (cmp above read dst.img, so copy again): the O_DIRECT copy
# leaves (almost) nothing of dst.img cached, a buffered one leaves its
# 8+ MiB of data. fincore prints resident bytes.
cached() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }
if command -v fincore >/dev/null; then
	rm "$dir/dst.img"
	"$mblk" copy "$dir/src.img" "$dir/dst.img" || exit 1
	c=$(cached "$dir/dst.img")
	echo "dst.img after the default copy: $c bytes cached"
	[ "$c" -lt $((1 << 20)) ] || { echo "the default copy went through the page cache"; exit 1; }
	rm "$dir/dst.img"
	"$mblk" copy --dst-cache=buffered "$dir/src.img" "$dir/dst.img" || exit 1
	cmp "$dir/src.img" "$dir/dst.img" || { echo "data differs (buffered)"; exit 1; }
	c=$(cached "$dir/dst.img")
	echo "dst.img after a buffered copy: $c bytes cached"
	[ "$c" -ge $((8 << 20)) ] || { echo "--dst-cache=buffered did not use the page cache"; exit 1; }
fi
# Onto an existing destination full of junk that refuses write_zeroes
# (the fault decorator answers ENOTSUP): the holes are written as zeros
# from the copy's zero buffer.
head -c $((32 << 20)) /dev/urandom > "$dir/junk.img"
"$mblk" copy "$dir/src.img" \
	"fault:?inner=file:$dir/junk.img&fail=write_zeroes&errno=ENOTSUP" || exit 1
cmp "$dir/src.img" "$dir/junk.img" || { echo "zeros written wrong"; exit 1; }

# A destination another process holds locked: one error saying so, and
# no note about the page cache (a second, buffered open would fail alike).
if command -v flock >/dev/null; then
	truncate -s 32M "$dir/locked.img"
	mkfifo "$dir/release"
	flock -x "$dir/locked.img" -c "touch '$dir/held'; read x < '$dir/release'" \
		>/dev/null 2>&1 &
	holder=$!
	while [ ! -e "$dir/held" ]; do sleep 0.05; done
	err=$("$mblk" copy "$dir/src.img" "$dir/locked.img" 2>&1)
	rc=$?
	echo > "$dir/release"
	wait "$holder"
	echo "$err"
	[ $rc -eq 1 ] || { echo "copy onto a locked file: exit $rc, not 1"; exit 1; }
	echo "$err" | grep -q "locked by another process" || { echo "no lock sentence"; exit 1; }
	[ "$(echo "$err" | wc -l)" -eq 1 ] || { echo "more than one message"; exit 1; }
	echo "$err" | grep -q "note:" && { echo "a page-cache note for a lock conflict"; exit 1; }
fi
"$mblk" copy --dst-cache=sideways "$dir/src.img" "$dir/x.img" 2>&1
[ $? -eq 2 ] || { echo "a bad --dst-cache must be a usage error (exit 2)"; exit 1; }
echo ok
