#!/bin/bash
# test-rbd-mirror.sh - `mblk mirror big.img rbd:rbd/img` while a writer
# keeps writing through the mirror: the image ends identical to the file
# (qemu-img compare) with no object allocated over a hole of the file.
. "$(dirname "$0")/lib.sh"

make_sparse "$TMP/big.img" 256M
dd if=/dev/urandom of="$TMP/big.img" bs=1M count=8 seek=100 conv=notrunc 2>/dev/null
expect_rc 0 "$MBLK" create "rbd:rbd/mirror-$$" --size 256M
img=rbd/mirror-$$
expect_rc 0 "$MBLK" mirror "$TMP/big.img" "rbd:$img" --write-load 8 \
	--load-bs 4K --buffer 4M
case "$ERR" in *"in sync after"*) echo "ok: $ERR" ;; *) fail "mirror summary: $ERR" ;; esac
same "$TMP/big.img" "rbd:$img"
holes_kept "$TMP/big.img" "$img" 4194304
# Without a writer, the image keeps the file's holes.
expect_rc 0 "$MBLK" create "rbd:rbd/mirror2-$$" --size 256M
expect_rc 0 "$MBLK" mirror "$TMP/big.img" "rbd:rbd/mirror2-$$"
same "$TMP/big.img" "rbd:rbd/mirror2-$$"
holes_kept "$TMP/big.img" "rbd/mirror2-$$" 4194304
finish
