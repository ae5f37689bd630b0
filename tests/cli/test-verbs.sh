#!/bin/sh
# test-verbs.sh - `mblk create` and `mblk resize` as qemu-img users
# expect: a sparse file of the size asked, never an overwrite; growing
# reads as zeros, shrinking only with --shrink; qemu-img agrees.
. "$(dirname "$0")/lib.sh"

d=$(mktemp -d /tmp/mblk-verbs.XXXXXX)
trap 'rm -rf "$d"' EXIT
expect_rc 0 "$MBLK" create "$d/a.img" --size 1G &&
{
	check size "$(stat -c %s "$d/a.img")" 1073741824
	check sparse "$(du -k "$d/a.img" | cut -f1)" 0
}
expect_rc 0 "$MBLK" create "file:$d/b.img" -s 3M && check size_b "$(stat -c %s "$d/b.img")" 3145728
expect_rc 0 "$MBLK" create "$d/p.img" --size 1.5T &&
	check suffix_t "$(stat -c %s "$d/p.img")" 1649267441664
# A size as messages print it is taken back.
expect_rc 0 "$MBLK" create "$d/h.img" --size "4.00 MiB" && check human_size "$(stat -c %s "$d/h.img")" 4194304
# Never an overwrite.
printf data >"$d/keep.img"
truncate -s 1M "$d/keep.img"
expect_rc 1 "$MBLK" create "$d/keep.img" --size 2M && expect_sentence &&
	{ printf '%s' "$ERR" | grep -q 'already exists' || fail "overwrite: $ERR"; }
check kept "$(head -c 4 "$d/keep.img")" data
expect_rc 2 "$MBLK" create "$d/c.img" && expect_sentence
expect_rc 2 "$MBLK" create "$d/c.img" --size 1000 && expect_sentence
expect_rc 2 "$MBLK" create "$d/c.img" --size 1Q && expect_sentence
expect_rc 2 "$MBLK" create 'ram:x' --size 1M && expect_sentence

# resize: grow, then shrink only with --shrink.
expect_rc 0 "$MBLK" resize "$d/keep.img" 4M && check grown "$(stat -c %s "$d/keep.img")" 4194304
check kept_grown "$(head -c 4 "$d/keep.img")" data
expect_rc 1 "$MBLK" resize "$d/keep.img" 512K && expect_sentence &&
	{ printf '%s' "$ERR" | grep -q 'add --shrink' || fail "shrink refusal: $ERR"; }
check not_shrunk "$(stat -c %s "$d/keep.img")" 4194304
expect_rc 0 "$MBLK" resize "$d/keep.img" 512K --shrink && check shrunk "$(stat -c %s "$d/keep.img")" 524288
expect_rc 2 "$MBLK" resize "$d/keep.img" 1000 && expect_sentence
expect_rc 2 "$MBLK" resize "$d/keep.img" && expect_sentence
expect_rc 1 "$MBLK" resize "$d/missing.img" 1M && expect_sentence
if command -v qemu-img >/dev/null; then
	check qemu_size "$(qemu-img info -f raw --output=json "$d/a.img" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" 1073741824
	qemu-img create -q -f raw "$d/q.img" 1G
	expect_rc 0 "$MBLK" compare "$d/a.img" "$d/q.img"
fi
finish
