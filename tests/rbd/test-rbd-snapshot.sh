#!/bin/bash
# test-rbd-snapshot.sh - rbd:POOL/IMAGE@SNAP opens read-only, refuses
# writes with a sentence, and reads the data of the snapshot, not of the
# image written since; read-only=on opens the image itself read-only. A
# clone of the snapshot reads its parent's data, and its extents count
# that data (a copy of the clone must not skip it as holes).
. "$(dirname "$0")/lib.sh"

img=$(new_image snap 48M)
make_sparse "$TMP/orig.img" 48M
expect_rc 0 "$MBLK" copy "$TMP/orig.img" "rbd:$img" || finish
rbdc snap create "$img@s1" || fail "rbd snap create failed"
# Change the image after the snapshot.
expect_rc 0 "$MBLK" bench "rbd:$img" --rw randwrite --bs 64k --qd 4 --time 0.5
expect_rc 0 "$MBLK" info --json "rbd:$img@s1" &&
	check snapshot_read_only "$(json_get 'j["reopen_uri"].endswith("read-only=1&timeout=30")')" True
expect_rc 1 "$MBLK" copy "$TMP/orig.img" "rbd:$img@s1"
case "$ERR" in *"rbd:$img@s1"*) echo "ok: writing the snapshot: $ERR" ;;
*) fail "writing the snapshot: $ERR" ;; esac
same "$TMP/orig.img" "rbd:$img@s1"
expect_rc 0 "$MBLK" copy "rbd:$img@s1" "$TMP/back.img" &&
	{ cmp "$TMP/orig.img" "$TMP/back.img" || fail "the snapshot's copy differs"; }
if qemu-img compare -q -f raw -F raw "$TMP/orig.img" "rbd:$img" 2>/dev/null; then
	fail "the image did not change after the snapshot (the test proves nothing)"
fi
# A clone: its data is the parent's until written.
rbdc snap protect "$img@s1" || fail "rbd snap protect failed"
rbdc clone "$img@s1" "$img-clone" || fail "rbd clone failed"
same "$TMP/orig.img" "rbd:$img-clone"
expect_rc 0 "$MBLK" copy "rbd:$img-clone" "$TMP/clone.img" &&
	{ cmp "$TMP/orig.img" "$TMP/clone.img" || fail "the copy of the clone differs"; }
expect_rc 0 "$MBLK" map --json "rbd:$img-clone" &&
	check clone_data_at_0 "$(json_get 'j[0]["data"]')" True
expect_rc 1 "$MBLK" bench "rbd:$img?read-only=1" --rw randwrite --time 0.2
case "$ERR" in *"rbd:$img"*) echo "ok: read-only=1 refuses writes: $ERR" ;;
*) fail "writing with read-only=1: $ERR" ;; esac
finish
