#!/bin/bash
# run-rbd-tests.sh - the RBD suite: starts one throwaway Ceph cluster
# (ceph-cluster.sh), runs every RBD test against it, stops it, and
# reports each test as a TAP line (meson registers this one program with
# protocol 'tap', so each test shows by name).
#
# Usage: run-rbd-tests.sh MBLK CONFORMANCE MODEL RESIZE LOST
#   the mblk binary, the conformance and model programs
#   (tests/conformance), test-rbd-resize and test-rbd-lost.
# Environment:
#   MBLK_TEST_TMPDIR   where the cluster and scratch files go
#   MBLK_RBD_ONLY      a substring: run only the tests whose name has it
#   MBLK_RBD_CONF      an existing cluster's ceph.conf: use it, start none
#   CI=true            a cluster that cannot start is a failure, not a skip
#
# The stall test pauses the OSD (SIGSTOP) and so runs last.
# Each conformance and model run gets a fresh image. The conformance
# images have 1 MiB objects: the check that a discarded 1 MiB run reads
# back as a hole needs objects no larger than the run, since RBD reports
# allocation per object (docs/devices/rbd.md). One of them lacks the
# exclusive-lock feature, so the checks that open the image twice run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export MBLK=$1 MBLK_RBD_RESIZE=$4 MBLK_RBD_LOST=$5
conformance=$2 model=$3
export MBLK_TEST_TMPDIR=${MBLK_TEST_TMPDIR:-${TMPDIR:-/tmp}}
only=${MBLK_RBD_ONLY:-}

skip_all() {
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - ceph cluster # $* (CI=true: the RBD suite must run)"
		exit 1
	fi
	# A TAP plan of 0 with SKIP is how meson's TAP parser takes a skip
	# (exit 77 is an error under protocol 'tap').
	echo "1..0 # SKIP $*"
	exit 0
}

if [ -n "${MBLK_RBD_CONF:-}" ]; then
	conf=$MBLK_RBD_CONF
else
	out=$(MBLK_CEPH_OWNER=$$ "$here/ceph-cluster.sh" start "$MBLK_TEST_TMPDIR" 2>"$MBLK_TEST_TMPDIR/ceph-start.$$.err")
	rc=$?
	err=$(cat "$MBLK_TEST_TMPDIR/ceph-start.$$.err")
	rm -f "$MBLK_TEST_TMPDIR/ceph-start.$$.err"
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$err" | sed 's/^/# /'
		skip_all "the Ceph daemons cannot start here: $(printf '%s\n' "$err" | grep -m1 'ceph-cluster.sh:')"
	fi
	conf=$out
	trap '"$here/ceph-cluster.sh" stop "$conf"' EXIT
	trap 'exit 143' TERM INT HUP
fi
export CEPH_CONF=$conf

# The tests, in order: NAME TIMEOUT [prep SIZE OPTS] COMMAND...; with
# prep, IMAGE in the command becomes a fresh image of SIZE made with
# `rbd create OPTS`.
declare -a names timeouts preps cmds
n=0
add() {
	names[n]=$1 timeouts[n]=$2 preps[n]=""
	shift 2
	if [ "$1" = prep ]; then
		preps[n]="$2|$3"
		shift 3
	fi
	cmds[n]=$(printf '%q ' "$@")
	n=$((n + 1))
}
caps=flush,discard,write_zeroes,resize,seek,zero_is_fast
add "conformance rbd safe" 300 prep 64M "--object-size 1M" \
	"$conformance" --expect-caps $caps IMAGE
add "conformance rbd raw, no exclusive lock" 300 prep 64M \
	"--object-size 1M --image-feature layering" \
	"$conformance" --no-safe --expect-caps $caps IMAGE
add "model rbd safe" 300 prep 25M "" "$model" --ops 2000 --seed 1 --qd 16 IMAGE
add "model rbd raw" 300 prep 25M "" "$model" --no-safe --ops 2000 --seed 2 --qd 32 IMAGE
add "model rbd small objects" 300 prep 8M "--object-size 64K" \
	"$model" --ops 2000 --seed 3 --qd 64 IMAGE
# Without an object map the extents come per object asked; seed 13 once
# caught librbd calling back after the walk had stopped (rbd_extents.c).
add "model rbd no object map" 300 prep 8M "--image-feature layering" \
	"$model" --no-safe --ops 6000 --seed 13 --qd 64 IMAGE
# Two handles (two librbd images) on one image without the lock: both
# must see the same data.
add "model rbd two handles" 300 prep 8M "--image-feature layering" \
	"$model" --ops 3000 --handles 2 --qd 32 IMAGE
add "model rbd cache on" 300 prep 8M "" "$model" --ops 2000 --seed 4 --qd 16 IMAGE?cache=on
for t in open-errors uri lock snapshot resize create copy mirror serve migrate lost stall; do
	add "$t" 300 "$here/test-rbd-$t.sh"
done

# A fresh image for a test that asked for one (prep SIZE OPTS): its
# spec, rbd:rbd/<name>, replaces IMAGE in the command.
fresh_image() {
	local name=rbd/suite-$$-$3
	# shellcheck disable=SC2086
	timeout 60 rbd create --size "$1" $2 "$name" || return 1
	echo "rbd:$name"
}

echo "1..$n"
failed=0
for ((i = 0; i < n; i++)); do
	name=${names[i]}
	if [ -n "$only" ] && [[ $name != *"$only"* ]]; then
		echo "ok $((i + 1)) - $name # SKIP not in MBLK_RBD_ONLY"
		continue
	fi
	log=$MBLK_TEST_TMPDIR/rbd-test.$$.log
	t0=$SECONDS
	cmd=${cmds[i]}
	rc=0
	if [ -n "${preps[i]}" ]; then
		image=$(fresh_image "${preps[i]%%|*}" "${preps[i]#*|}" $i 2>"$log") || rc=1
		cmd=${cmd//IMAGE/$image}
	fi
	[ $rc -ne 0 ] || { eval "timeout ${timeouts[i]} $cmd" >>"$log" 2>&1; rc=$?; }
	took=$((SECONDS - t0))
	if [ $rc -eq 0 ]; then
		echo "ok $((i + 1)) - $name (${took}s)"
	elif [ $rc -eq 77 ]; then
		echo "ok $((i + 1)) - $name # SKIP $(tail -n 1 "$log")"
	else
		[ $rc -eq 124 ] && echo "timed out after ${timeouts[i]}s" >>"$log"
		echo "not ok $((i + 1)) - $name (exit $rc, ${took}s)"
		sed 's/^/# /' "$log" | tail -n 60
		failed=$((failed + 1))
	fi
	rm -f "$log"
done
[ $failed -eq 0 ]
