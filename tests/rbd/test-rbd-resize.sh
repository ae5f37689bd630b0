#!/bin/bash
# test-rbd-resize.sh - runs test-rbd-resize on a fresh image, then
# checks with `rbd info` that the cluster sees the size it left.
. "$(dirname "$0")/lib.sh"

img=$(new_image resize 8M)
"${MBLK_RBD_RESIZE:?}" "rbd:$img" 24576 || fail "test-rbd-resize failed"
size=$(rbdc info --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check rbd_size "$size" $((24576 * 512))
finish
