#!/bin/bash
# test-rbd-copy.sh - `mblk copy` of a sparse file onto an RBD image and
# back: the same bytes (qemu-img compare, cmp), and the holes kept on
# the image (no object allocated over a hole: rbd diff; rbd du) and in
# the file copied back; `mblk map` of the image lists them and `mblk
# info` reports what rbd du does as allocated.
. "$(dirname "$0")/lib.sh"

make_sparse "$TMP/src.img" 64M
expect_rc 0 "$MBLK" create "rbd:rbd/copy-$$" --size 64M
img=rbd/copy-$$
expect_rc 0 "$MBLK" copy "$TMP/src.img" "rbd:$img" && echo "ok: copied on"
same "$TMP/src.img" "rbd:$img"
expect_rc 0 "$MBLK" compare "$TMP/src.img" "rbd:$img"
holes_kept "$TMP/src.img" "$img" 4194304
used=$(rbdc du --format json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["used_size"])')
# Data in objects 0, 4 and 9 (4 MiB each).
[ "$used" -le $((3 * 4194304)) ] || fail "rbd du: $used bytes used, expected at most 3 objects"
echo "ok: rbd du: $used bytes used of 64 MiB"
expect_rc 0 "$MBLK" info --json "rbd:$img" &&
	check allocated_is_rbd_du "$(json_get 'j["allocated"]')" "$used"
expect_rc 0 "$MBLK" map --json "rbd:$img" &&
	check map_holes "$(json_get 'sum(e["length"] for e in j if not e["data"]) >= 50 * 2**20')" True
expect_rc 0 "$MBLK" copy "rbd:$img" "$TMP/back.img" && echo "ok: copied back"
cmp "$TMP/src.img" "$TMP/back.img" || fail "the copy back differs"
blocks=$(($(stat -c %b "$TMP/back.img") * 512))
[ "$blocks" -le $((3 * 4194304)) ] || fail "the copy back holds $blocks bytes: holes lost"
# qemu-img reads what mblk wrote, and mblk what qemu-img wrote.
expect_rc 0 "$MBLK" create "rbd:rbd/copyq-$$" --size 64M
qemu-img convert -n -f raw -O raw "$TMP/src.img" "rbd:rbd/copyq-$$" ||
	fail "qemu-img convert onto rbd failed"
expect_rc 0 "$MBLK" copy "rbd:rbd/copyq-$$" "$TMP/back2.img"
cmp "$TMP/src.img" "$TMP/back2.img" || fail "mblk's copy of qemu-img's image differs"
finish
