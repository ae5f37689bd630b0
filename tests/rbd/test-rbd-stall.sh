#!/bin/bash
# test-rbd-stall.sh - an OSD that stops answering fails the I/O with
# -ETIMEDOUT and a sentence after the timeout key's bound, and closing
# the device is bounded too; nothing hangs. The cluster's OSD is paused
# with SIGSTOP (by the pid ceph-cluster.sh recorded) and resumed after.
. "$(dirname "$0")/lib.sh"

dir=$(dirname "$CEPH_CONF")
pidfile=$(ls "$dir"/run/osd.*.pid 2>/dev/null | head -n 1)
osd=$(cat "$pidfile" 2>/dev/null || true)
if [ -z "$osd" ] || ! tr '\0' ' ' <"/proc/$osd/cmdline" 2>/dev/null | grep -qF "$CEPH_CONF"; then
	echo "skipped: the OSD's pid is not known (not a ceph-cluster.sh cluster)"
	exit 77
fi
img=$(new_image stall 16M)
trap 'kill -CONT "$osd" 2>/dev/null; rm -rf "$TMP"' EXIT
(sleep 1; kill -STOP "$osd"; sleep 40; kill -CONT "$osd") &
pauser=$!
t0=$SECONDS
expect_rc 1 "$MBLK" bench "rbd:$img?timeout=3" --rw randwrite --bs 4k --qd 4 --time 30
took=$((SECONDS - t0))
kill -CONT "$osd"
kill "$pauser" 2>/dev/null
line=$(printf '%s\n' "$ERR" | grep '^mblk ' | tail -n 1)
case "$line" in
*"rbd:$img: write of sectors "*"Connection timed out"*) echo "ok: $line (${took}s)" ;;
*) fail "expected a timed-out write, got: $ERR" ;;
esac
# 1 s of I/O, the 3 s bound, then closing (a flush and the lock's
# release, each bounded by it too): well under the 30 s run asked for.
[ "$took" -le 25 ] || fail "the stalled run took ${took}s"
# The cluster serves again: a fresh image, since the stalled client's
# exclusive lock on $img is only broken once Ceph's watch on it times
# out (30 s), and a writer that comes before then waits for it (this
# check failed once in CI that way, the write timing out at 30 s).
img2=$(new_image stall-after 16M)
expect_rc 0 "$MBLK" bench "rbd:$img2" --rw randwrite --bs 4k --qd 4 --time 0.3 &&
	echo "ok: I/O works again once the OSD is back"
finish
