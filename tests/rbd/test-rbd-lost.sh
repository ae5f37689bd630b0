#!/bin/bash
# test-rbd-lost.sh - a client the cluster blocklists (`ceph osd blocklist
# add` of the address its image watch shows in `rbd status`) is lost:
# test-rbd-lost checks the device says so and refuses later requests;
# the entry is removed afterwards.
. "$(dirname "$0")/lib.sh"

img=$(new_image lost 8M)
ready=$TMP/ready
"${MBLK_RBD_LOST:?}" "rbd:$img?timeout=20" "$ready" &
prog=$!
for _ in $(seq 300); do
	[ -e "$ready" ] && break
	kill -0 "$prog" 2>/dev/null || break
	sleep 0.1
done
[ -e "$ready" ] || fail "test-rbd-lost did not get as far as writing"
addr=$(rbdc status --format json "$img" | python3 -c '
import json, sys
w = json.load(sys.stdin).get("watchers", [])
print(w[0]["address"] if w else "")')
if [ -z "$addr" ]; then
	kill "$prog" 2>/dev/null
	fail "rbd status shows no watcher for $img"
else
	timeout 60 ceph osd blocklist add "$addr" >/dev/null 2>&1 ||
		timeout 60 ceph osd blacklist add "$addr" >/dev/null 2>&1 ||
		fail "ceph osd blocklist add $addr failed"
	wait "$prog" || fail "test-rbd-lost failed"
	timeout 60 ceph osd blocklist rm "$addr" >/dev/null 2>&1 ||
		timeout 60 ceph osd blacklist rm "$addr" >/dev/null 2>&1 || true
fi
finish
