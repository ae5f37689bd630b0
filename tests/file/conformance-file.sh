#!/bin/sh
# conformance-file.sh - runs a conformance-suite program (conformance or
# model) on a fresh scratch file, or on a loop block device.
# Usage: conformance-file.sh [--loop] SIZE OPTIONS PROGRAM [ARGS...]
#   SIZE     bytes of the scratch file (truncate syntax: 1M, 16M)
#   OPTIONS  the file: URI query, e.g. "buffered=0&engine=threads"
#   PROGRAM ARGS are run with the URI appended as the last argument.
# Scratch files go under $MBLK_TEST_TMPDIR (the build directory on the
# root disk: /tmp may be tmpfs). --loop exits 77 when no loop device can
# be set up.
set -u
loop=0
if [ "$1" = --loop ]; then loop=1; shift; fi
size=$1 opts=$2
shift 2
dir=${MBLK_TEST_TMPDIR:-.}
img=$(mktemp "$dir/conformance-XXXXXX.img") || exit 1
truncate -s "$size" "$img"
dev=""
cleanup() {
	[ -n "$dev" ] && losetup -d "$dev"
	rm -f "$img"
}
trap cleanup EXIT
path=$img
if [ $loop = 1 ]; then
	dev=$(losetup -f --show "$img" 2>/dev/null)
	if [ -z "$dev" ]; then
		echo "skipped: cannot set up a loop device"
		exit 77
	fi
	path=$dev
fi
"$@" "file:$path?$opts"
