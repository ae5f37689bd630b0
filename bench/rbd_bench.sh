#!/bin/bash
# rbd_bench.sh - the rbd device against fio's rbd engine and qemu-img,
# side by side on the same image in the same run (issue 11,
# "Performance"; results go to docs/BENCHMARKS.md).
#
# Usage: bench/rbd_bench.sh            the full run (lead, quiet machine)
#        QUICK=1 bench/rbd_bench.sh    a seconds-long check of the script
#
# Env: CEPH_CONF  an existing cluster's conf (its pool `rbd` is used);
#                 unset: a throwaway cluster is started for the run
#                 (tests/rbd/ceph-cluster.sh) and stopped at the end
#      WORK  scratch directory (default build/bench-rbd)
#      SIZE  image size (default 2G)   T  seconds per test (default 6)
#      REPS  repetitions, interleaved (default 3)
#      COPY_MIB  size of the copy test's image (default 1024)
#      MBLK  the mblk binary (default build/mblk)
#      ONLY  regex on test names to run a subset
#      OUT   CSV file (default $WORK/rbd_bench.csv)
#
# Tests (fio and mblk in the same rep, one after the other, on one image
# filled with data first, librbd's cache off in both: mblk's cache=off,
# and for fio a conf with `rbd cache = false`):
#   randread-4k-qd16  randwrite-4k-qd16  read-1m-qd16  write-1m-qd16
#   copy-25pct        a COPY_MIB image with 25 % data in 4 MiB runs:
#                     mblk copy | qemu-img convert -n -O raw, each onto
#                     a new image made with mblk create
# On two cores the cluster's daemons share the CPU with the client: only
# the ratios mean anything. The acceptance ratios (mblk >= 0.95 x fio,
# copy no slower than qemu-img) are printed at the end from the medians.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SIZE=${SIZE:-64M}; T=${T:-1}; REPS=${REPS:-1}; COPY_MIB=${COPY_MIB:-64}
else
	SIZE=${SIZE:-2G}; T=${T:-6}; REPS=${REPS:-3}; COPY_MIB=${COPY_MIB:-1024}
fi
WORK=${WORK:-$ROOT/build/bench-rbd}
ONLY=${ONLY:-.}
OUT=${OUT:-$WORK/rbd_bench.csv}
MBLK=${MBLK:-$ROOT/build/mblk}
[ -x "$MBLK" ] || { echo "no mblk binary: build it or set MBLK" >&2; exit 1; }
for tool in fio jq qemu-img rbd python3; do
	command -v $tool >/dev/null || { echo "needs $tool (bash scripts/deps.sh)" >&2; exit 1; }
done
fio --enghelp 2>/dev/null | grep -qw rbd || { echo "this fio has no rbd engine" >&2; exit 1; }
mkdir -p "$WORK"

STARTED=""
cleanup() {
	for i in "${IMAGES[@]:-}"; do
		[ -n "$i" ] && timeout 60 rbd rm --no-progress "$i" >/dev/null 2>&1 || true
	done
	[ -z "$STARTED" ] || "$ROOT/tests/rbd/ceph-cluster.sh" stop "$STARTED"
}
IMAGES=()
trap cleanup EXIT
if [ -z "${CEPH_CONF:-}" ]; then
	STARTED=$(MBLK_CEPH_OWNER=$$ "$ROOT/tests/rbd/ceph-cluster.sh" start "$WORK")
	export CEPH_CONF=$STARTED
fi
# fio reads librbd's settings from the conf: one with the cache off.
FIO_CONF=$WORK/fio-ceph.conf
{ cat "$CEPH_CONF"; printf '\n[client]\nrbd cache = false\n'; } >"$FIO_CONF"

IMG=bench-$$
IMAGES+=("rbd/$IMG")
rbd create --size "$SIZE" "rbd/$IMG"
echo "test,tool,rep,iops,MBps" >"$OUT"
RAMP=1
[ "$QUICK" = 1 ] && RAMP=0

# The image, filled once with fio's random buffers: reads hit data.
CEPH_CONF=$FIO_CONF fio --name=fill --ioengine=rbd --clientname=admin \
	--pool=rbd --rbdname="$IMG" --rw=write --bs=4M --iodepth=8 \
	--size="$SIZE" --output=/dev/null

# fio_run NAME REP ARGS... -> one CSV line
fio_run() {
	local name=$1 rep=$2; shift 2
	local js
	js=$(CEPH_CONF=$FIO_CONF fio --name=b --ioengine=rbd --clientname=admin \
		--pool=rbd --rbdname="$IMG" --size="$SIZE" --time_based \
		--runtime="$T" --ramp_time=$RAMP --norandommap --randrepeat=0 \
		--output-format=json "$@")
	echo "$js" | jq -r --arg n "$name" --arg r "$rep" \
		'.jobs[0] as $j | [$n, "fio-rbd", $r, (($j.read.iops + $j.write.iops) | floor),
		 ((($j.read.bw_bytes + $j.write.bw_bytes) / 1e6) * 10 | round / 10)] | @csv' |
		tr -d '"' | tee -a "$OUT"
}

# mblk_run NAME REP BENCH-ARGS... -> one CSV line
mblk_run() {
	local name=$1 rep=$2; shift 2
	local js
	js=$("$MBLK" bench "rbd:rbd/$IMG?cache=off" --time "$T" --no-prefill \
		--json "$@")
	echo "$js" | jq -r --arg n "$name" --arg r "$rep" \
		'[$n, "mblk", $r, (.iops | floor), (.mb_per_s * 10 | round / 10)] | @csv' |
		tr -d '"' | tee -a "$OUT"
}

want() { [[ $1 =~ $ONLY ]]; }

for rep in $(seq 1 "$REPS"); do
	for t in randread:4k randwrite:4k read:1m write:1m; do
		rw=${t%:*} bs=${t#*:}
		n=$rw-$bs-qd16
		want "$n" || continue
		fio_run "$n" "$rep" --rw="$rw" --bs="$bs" --iodepth=16
		mblk_run "$n" "$rep" --rw "$rw" --bs "$bs" --qd 16
	done
done

# The copy: a file with 25 % data in 4 MiB runs, onto new images.
n=copy-25pct
if want $n; then
	SRC=$WORK/copy-src.img
	python3 - "$SRC" "$COPY_MIB" <<'PY'
import os, random, sys
path, mib = sys.argv[1], int(sys.argv[2])
random.seed(11)
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for chunk in range(0, mib, 4):
        if random.random() < 0.25:
            f.seek(chunk << 20)
            f.write(os.urandom(4 << 20))
PY
	echo "test,tool,rep,seconds" >"$WORK/copy.csv"
	for rep in $(seq 1 "$REPS"); do
		for tool in mblk qemu-img; do
			dst=rbd/copy-$$-$tool-$rep
			IMAGES+=("$dst")
			"$MBLK" create "rbd:$dst" --size "${COPY_MIB}M" >/dev/null
			t0=$(date +%s.%N)
			if [ $tool = mblk ]; then
				"$MBLK" copy "$SRC" "rbd:$dst?cache=off"
			else
				CEPH_CONF=$FIO_CONF qemu-img convert -n -f raw -O raw \
					"$SRC" "rbd:$dst"
			fi
			t1=$(date +%s.%N)
			qemu-img compare -q -f raw -F raw "$SRC" "rbd:$dst" ||
				{ echo "$tool: the copy differs" >&2; exit 1; }
			echo "$n,$tool,$rep,$(echo "$t1 - $t0" | bc -l | cut -c1-6)" |
				tee -a "$WORK/copy.csv"
			timeout 60 rbd rm --no-progress "$dst" >/dev/null 2>&1 || true
		done
	done
fi

# Medians and ratios.
python3 - "$OUT" "$WORK/copy.csv" <<'PY'
import csv, statistics, sys, os
rows = list(csv.DictReader(open(sys.argv[1])))
tests = sorted({r["test"] for r in rows})
print("\nmedians (IOPS, MB/s) and mblk / fio:")
for t in tests:
    med = {}
    for tool in ("fio-rbd", "mblk"):
        v = [float(r["iops"]) for r in rows if r["test"] == t and r["tool"] == tool]
        m = [float(r["MBps"]) for r in rows if r["test"] == t and r["tool"] == tool]
        if v:
            med[tool] = (statistics.median(v), statistics.median(m))
    if len(med) == 2:
        print("  %-18s fio %8.0f IOPS %7.1f MB/s   mblk %8.0f IOPS %7.1f MB/s   ratio %.2f"
              % (t, *med["fio-rbd"], *med["mblk"], med["mblk"][0] / max(med["fio-rbd"][0], 1)))
if os.path.exists(sys.argv[2]):
    rows = list(csv.DictReader(open(sys.argv[2])))
    med = {tool: statistics.median(float(r["seconds"]) for r in rows if r["tool"] == tool)
           for tool in ("mblk", "qemu-img") if any(r["tool"] == tool for r in rows)}
    if len(med) == 2:
        print("  copy-25pct         qemu-img %.2f s   mblk %.2f s   qemu-img / mblk %.2f"
              % (med["qemu-img"], med["mblk"], med["qemu-img"] / med["mblk"]))
PY
