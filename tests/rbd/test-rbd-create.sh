#!/bin/bash
# test-rbd-create.sh - `mblk create`: an RBD image of the size asked,
# a sparse file; neither replaces what exists.
. "$(dirname "$0")/lib.sh"

name=rbd/create-$$
expect_rc 0 "$MBLK" create "rbd:$name" --size 20M
size=$(rbdc info --format json "$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check rbd_size "$size" 20971520
expect_rc 1 "$MBLK" create "rbd:$name" --size 40M && expect_sentence
case "$ERR" in *"already exists"*) echo "ok: $ERR" ;; *) fail "existing image: $ERR" ;; esac
size=$(rbdc info --format json "$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check rbd_size_unchanged "$size" 20971520
expect_rc 1 "$MBLK" create "rbd:$name@snap" --size 20M && expect_sentence
expect_rc 1 "$MBLK" create "rbd:nopool-$$/x" --size 20M
case "$ERR" in *"pool 'nopool-$$' does not exist"*) ;; *) fail "missing pool: $ERR" ;; esac

expect_rc 0 "$MBLK" create "$TMP/a.img" --size 1G
check file_size "$(stat -c %s "$TMP/a.img")" 1073741824
check file_blocks "$(stat -c %b "$TMP/a.img")" 0
expect_rc 0 "$MBLK" create "file:$TMP/b.img" --size 4M
check file_size "$(stat -c %s "$TMP/b.img")" 4194304
echo data >"$TMP/c.img"
expect_rc 1 "$MBLK" create "$TMP/c.img" --size 4M && expect_sentence
check file_kept "$(cat "$TMP/c.img")" data
expect_rc 2 "$MBLK" create "$TMP/d.img"
expect_rc 2 "$MBLK" create "$TMP/d.img" --size 1000
expect_rc 2 "$MBLK" create 'ram:x' --size 4M && expect_sentence
finish
