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
#      REPS  repetitions, interleaved (default 5)
#      COPY_MIB  size of the copy test's image (default 1024)
#      MBLK  the mblk binary (default build/mblk)
#      ONLY  regex on test names to run a subset
#      OUT   CSV file (default $WORK/rbd_bench.csv); the markdown table
#            goes to stdout and $WORK/rbd_bench.md
#
# Tests (fio and mblk in the same rep, one after the other, on one image
# filled with data first, librbd's cache off in both: mblk's cache=off,
# and for fio a conf with `rbd cache = false`):
#   randread-4k-qd16  randwrite-4k-qd16  read-1m-qd16  write-1m-qd16
#   copy-25pct        a COPY_MIB image with 25 % data in 4 MiB runs (one
#                     RBD object each): `mblk copy SRC rbd:...?cache=off`
#                     against `qemu-img convert -n -t none -O raw SRC
#                     rbd:...` (-t none: qemu turns librbd's cache off
#                     for it, and flushes; its default, unsafe, would
#                     turn the cache on and skip the flush), each onto a
#                     new image made with mblk create; checked with
#                     qemu-img compare, and `rbd du` of the copy shows
#                     whether the holes were kept
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
	SIZE=${SIZE:-2G}; T=${T:-6}; REPS=${REPS:-5}; COPY_MIB=${COPY_MIB:-1024}
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
SRC=$WORK/copy-src.img
cleanup() {
	# On our own throwaway cluster, stopping it removes every image.
	if [ -z "$STARTED" ]; then
		for i in "${IMAGES[@]:-}"; do
			[ -n "$i" ] && timeout 60 rbd rm --no-progress "$i" >/dev/null 2>&1 || true
		done
	fi
	[ -z "$STARTED" ] || "$ROOT/tests/rbd/ceph-cluster.sh" stop "$STARTED"
	rm -f "$SRC" "$WORK/fio-ceph.conf"
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
echo "test,tool,rep,iops,MBps,seconds,data_MiB,cpu_us_per_io" >"$OUT"
RAMP=1
[ "$QUICK" = 1 ] && RAMP=0

# The image, filled once with fio's random buffers: reads hit data.
CEPH_CONF=$FIO_CONF fio --name=fill --ioengine=rbd --clientname=admin \
	--pool=rbd --rbdname="$IMG" --rw=write --bs=4M --iodepth=8 \
	--size="$SIZE" --output=/dev/null

# The client's CPU per I/O: the user + system time of the whole process
# (every librbd thread with it; fio's own usr_cpu counts one thread),
# from bash's `time`, over the I/Os of the run, ramp included (IOPS x
# (ramp + T)), the same estimate for both tools.
TIMEFORMAT='%3U %3S'
# cpu_us FILE IOPS -> microseconds per I/O
cpu_us() {
	awk -v ios="$2" -v s="$((RAMP + T))" \
		'{ printf "%.1f", ($1 + $2) * 1e6 / (ios * s) }' "$1"
}

# fio_run NAME REP ARGS... -> one CSV line
fio_run() {
	local name=$1 rep=$2; shift 2
	{ time CEPH_CONF=$FIO_CONF fio --name=b --ioengine=rbd --clientname=admin \
		--pool=rbd --rbdname="$IMG" --size="$SIZE" --time_based \
		--runtime="$T" --ramp_time=$RAMP --norandommap --randrepeat=0 \
		--output-format=json "$@" >"$WORK/fio.json" 2>&3; } 3>&2 2>"$WORK/cpu"
	local iops
	iops=$(jq '.jobs[0] | (.read.iops + .write.iops) | floor' "$WORK/fio.json")
	jq -r --arg n "$name" --arg r "$rep" --arg c "$(cpu_us "$WORK/cpu" "$iops")" \
		'.jobs[0] as $j | [$n, "fio-rbd", $r, (($j.read.iops + $j.write.iops) | floor),
		 ((($j.read.bw_bytes + $j.write.bw_bytes) / 1e6) * 10 | round / 10), "", "", $c] | @csv' \
		"$WORK/fio.json" | tr -d '"' | tee -a "$OUT"
}

# mblk_run NAME REP BENCH-ARGS... -> one CSV line (--ramp: fio's ramp_time)
mblk_run() {
	local name=$1 rep=$2; shift 2
	{ time "$MBLK" bench "rbd:rbd/$IMG?cache=off" --time "$T" --ramp "$RAMP" \
		--no-prefill --json "$@" >"$WORK/mblk.json" 2>&3; } 3>&2 2>"$WORK/cpu"
	local iops
	iops=$(jq '.iops | floor' "$WORK/mblk.json")
	jq -r --arg n "$name" --arg r "$rep" --arg c "$(cpu_us "$WORK/cpu" "$iops")" \
		'[$n, "mblk", $r, (.iops | floor), (.mb_per_s * 10 | round / 10), "", "", $c] | @csv' \
		"$WORK/mblk.json" | tr -d '"' | tee -a "$OUT"
}

want() { [[ $1 =~ $ONLY ]]; }

for rep in $(seq 1 "$REPS"); do
	for t in randread:4k randwrite:4k read:1m write:1m; do
		rw=${t%:*} bs=${t#*:}
		n=$rw-$bs-qd16
		want "$n" || continue
		# Which tool goes first alternates from rep to rep.
		if [ $((rep % 2)) = 1 ]; then
			fio_run "$n" "$rep" --rw="$rw" --bs="$bs" --iodepth=16
			mblk_run "$n" "$rep" --rw "$rw" --bs "$bs" --qd 16
		else
			mblk_run "$n" "$rep" --rw "$rw" --bs "$bs" --qd 16
			fio_run "$n" "$rep" --rw="$rw" --bs="$bs" --iodepth=16
		fi
	done
done

# The copy: a file with 25 % data in 4 MiB runs, onto new images.
n=copy-25pct
if want $n; then
	python3 - "$SRC" "$COPY_MIB" <<'PY'
import os, random, sys
path, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
runs = mib // 4
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for chunk in rng.sample(range(runs), runs // 4):
        f.seek(chunk << 22)
        f.write(os.urandom(4 << 20))
PY
	for rep in $(seq 1 "$REPS"); do
		tools="mblk qemu-img"
		[ $((rep % 2)) = 1 ] || tools="qemu-img mblk"
		for tool in $tools; do
			dst=rbd/copy-$$-$tool-$rep
			IMAGES+=("$dst")
			"$MBLK" create "rbd:$dst" --size "${COPY_MIB}M" >/dev/null
			t0=$(date +%s.%N)
			if [ $tool = mblk ]; then
				"$MBLK" copy "$SRC" "rbd:$dst?cache=off"
			else
				CEPH_CONF=$FIO_CONF qemu-img convert -n -t none -f raw \
					-O raw "$SRC" "rbd:$dst"
			fi
			t1=$(date +%s.%N)
			qemu-img compare -q -f raw -F raw "$SRC" "rbd:$dst" ||
				{ echo "$tool: the copy differs" >&2; exit 1; }
			used=$(timeout 120 rbd du --format json "$dst" |
				jq '[.images[] | select(.snapshot == null) | .used_size] | add / 1048576 | floor')
			awk -v n="$n" -v t="$tool" -v r="$rep" -v a="$t0" -v b="$t1" -v u="$used" \
				'BEGIN { printf "%s,%s,%s,,,%.3f,%s,\n", n, t, r, b - a, u }' |
				tee -a "$OUT"
			timeout 60 rbd rm --no-progress "$dst" >/dev/null 2>&1 || true
		done
	done
fi

# Medians [min-max] and ratios, as a markdown table.
python3 - "$OUT" "$COPY_MIB" <<'PY' | tee "$WORK/rbd_bench.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def vals(test, tool, col):
    return [float(r[col]) for r in rows
            if r["test"] == test and r["tool"] == tool and r[col]]
def cell(v, fmt):
    return (fmt + " [" + fmt + "-" + fmt + "]") % (
        statistics.median(v), min(v), max(v)) if v else ""
tests = []
for r in rows:
    if r["iops"] and r["test"] not in tests:
        tests.append(r["test"])
# Two ratios: of the medians, and the median of each rep's own ratio
# (fio and mblk ran back to back in it, so a drift of the OSD over the
# run, such as bluestore's write rate falling as it fills, cancels).
def paired(t):
    by = {}
    for r in rows:
        if r["test"] == t and r["iops"]:
            by.setdefault(r["rep"], {})[r["tool"]] = float(r["iops"])
    v = [d["mblk"] / d["fio-rbd"] for d in by.values() if len(d) == 2]
    return "%.2f [%.2f-%.2f]" % (statistics.median(v), min(v), max(v)) if v else ""
print("| test (QD 16, cache off) | fio rbd IOPS | mblk IOPS | mblk/fio of medians (target >= 0.95) | mblk/fio paired by rep | fio MB/s | mblk MB/s | client CPU us/IO fio / mblk |")
print("|---|---|---|---|---|---|---|---|")
for t in tests:
    f, m = vals(t, "fio-rbd", "iops"), vals(t, "mblk", "iops")
    ratio = "%.2f" % (statistics.median(m) / statistics.median(f)) if f and m else ""
    print("| %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
        t, cell(f, "%.0f"), cell(m, "%.0f"), ratio, paired(t),
        cell(vals(t, "fio-rbd", "MBps"), "%.1f"), cell(vals(t, "mblk", "MBps"), "%.1f"),
        cell(vals(t, "fio-rbd", "cpu_us_per_io"), "%.1f"),
        cell(vals(t, "mblk", "cpu_us_per_io"), "%.1f")))
q, m = vals("copy-25pct", "qemu-img", "seconds"), vals("copy-25pct", "mblk", "seconds")
if q or m:
    print()
    print("| copy of %s MiB, 25 %% data, onto RBD | qemu-img convert s | mblk copy s | "
          "qemu-img/mblk time (target >= 1) | used MiB after (qemu-img / mblk) |" % sys.argv[2])
    print("|---|---|---|---|---|")
    ratio = "%.2f" % (statistics.median(q) / statistics.median(m)) if q and m else ""
    print("| copy-25pct | %s | %s | %s | %s / %s |" % (
        cell(q, "%.2f"), cell(m, "%.2f"), ratio,
        cell(vals("copy-25pct", "qemu-img", "data_MiB"), "%.0f"),
        cell(vals("copy-25pct", "mblk", "data_MiB"), "%.0f")))
PY
