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
# The cluster serves again, and so does mblk. A resumed OSD is Ceph's
# to bring back: in two fresh-clone CI runs (with the other suites
# running beside it) it did not serve for over 30 s, once a write to this
# image timing out at librbd's 30 s, once an `rbd create` at 60 s; alone
# it serves at once. So wait for the cluster first, bounded (120 s), with
# the OSD's log in the failure; then mblk's I/O must work.
t1=$SECONDS
img2=""
while [ $((SECONDS - t1)) -lt 120 ]; do
	if timeout 10 rbd create --size 16M "rbd/stall-after-$$" >/dev/null 2>&1; then
		img2=rbd/stall-after-$$
		break
	fi
	sleep 2
done
if [ -z "$img2" ]; then
	fail "the cluster did not serve an rbd create within 120 s of the OSD's resume; the OSD's log ends: $(tail -n 20 "$dir"/log/osd.*.log 2>/dev/null)"
else
	echo "ok: the cluster serves again $((SECONDS - t1)) s after the OSD's resume"
	expect_rc 0 "$MBLK" bench "rbd:$img2" --rw randwrite --bs 4k --qd 4 --time 0.3 &&
		echo "ok: I/O works again once the OSD is back"
fi
finish
