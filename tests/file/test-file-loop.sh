#!/bin/sh
# test-file-loop.sh - runs test-file-io on a loop block device.
# Usage: test-file-loop.sh TEST_FILE_IO OPTIONS
# Env: MBLK_TEST_REPEAT  run it that many times (default 1): bursts of
#      completions that lose a wakeup hang only now and then.
# Exit 77 (skip) when no loop device can be set up (not root, no
# loop driver, a container).
set -u
io=$1
opts=$2
dir=${MBLK_TEST_TMPDIR:-.}
img=$(mktemp "$dir/loop-XXXXXX.img") || exit 1
truncate -s 16M "$img"
dev=$(losetup -f --show "$img" 2>/dev/null)
if [ -z "$dev" ]; then
	echo "skipped: cannot set up a loop device"
	rm -f "$img"
	exit 77
fi
trap 'losetup -d "$dev"; rm -f "$img"' EXIT
i=0
while [ "$i" -lt "${MBLK_TEST_REPEAT:-1}" ]; do
	rc=0
	"$io" "$opts" "$dev" || rc=$?
	# 77: the test skipped itself (io_uring refused): say so, not "failed".
	[ $rc = 0 ] || exit $rc
	i=$((i + 1))
done
