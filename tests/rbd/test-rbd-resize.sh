#!/bin/bash
# test-rbd-resize.sh - runs test-rbd-resize on a fresh image, then
# checks with `rbd info` that the cluster sees the size it left; then
# `mblk resize` both ways (a shrink only with --shrink).
. "$(dirname "$0")/lib.sh"

img=$(new_image resize 8M)
"${MBLK_RBD_RESIZE:?}" "rbd:$img" 24576 || fail "test-rbd-resize failed"
size=$(rbdc info --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check rbd_size "$size" $((24576 * 512))
# The same through `mblk resize`, checked by the cluster.
rsize() {
	rbdc info --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'
}
expect_rc 0 "$MBLK" resize "rbd:$img" 40M && check cli_grow "$(rsize)" 41943040
expect_rc 1 "$MBLK" resize "rbd:$img" 4M && check cli_refused "$(rsize)" 41943040
expect_rc 0 "$MBLK" resize "rbd:$img" 4M --shrink && check cli_shrink "$(rsize)" 4194304
finish
