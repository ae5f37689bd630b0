#!/bin/bash
# test-rbd-lock.sh - a writer holds the image's exclusive lock: a second
# writer (another process) is refused with a sentence naming the holder,
# a reader still opens, and once the first is gone the second can write.
. "$(dirname "$0")/lib.sh"

img=$(new_image lock 16M)
"$MBLK" bench "rbd:$img" --rw randwrite --bs 4k --qd 1 --time 6 \
	>"$TMP/holder.out" 2>&1 &
holder=$!
# Wait (bounded) until the holder has the lock.
for _ in $(seq 100); do
	rbdc lock ls "$img" 2>/dev/null | grep -q 'client\.' && break
	sleep 0.1
done
rbdc lock ls "$img" | grep -q 'client\.' || fail "the first writer never took the lock"
owner=$(rbdc lock ls "$img" | awk '/client\./ { print $1; exit }')

expect_rc 1 "$MBLK" bench "rbd:$img" --rw randwrite --bs 4k --qd 1 --time 0.2
line=$(printf '%s\n' "$ERR" | grep '^mblk ' | tail -n 1)
case "$line" in
*"exclusive lock is held by $owner at "*"another writer"*) echo "ok: second writer: $line" ;;
*) fail "second writer: expected the lock sentence naming $owner, got: $ERR" ;;
esac
# A reader does not need the lock.
expect_rc 0 "$MBLK" info "rbd:$img?read-only=on" &&
	case "$OUT" in *"read-only:     yes"*) echo "ok: a reader opens" ;;
	*) fail "read-only open: $OUT" ;; esac
wait "$holder" || fail "the first writer failed: $(cat "$TMP/holder.out")"
expect_rc 0 "$MBLK" bench "rbd:$img" --rw randwrite --bs 4k --qd 1 --time 0.2 &&
	echo "ok: the lock is released on close"
finish
