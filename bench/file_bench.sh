#!/bin/bash
# file_bench.sh - the file device against fio, side by side on the same
# file in the same run (issue 3, "Performance"; results go to
# docs/BENCHMARKS.md).
#
# Usage: bench/file_bench.sh            the full run (lead, quiet machine)
#        QUICK=1 bench/file_bench.sh    a seconds-long check of the script
#
# Env: WORK  directory on the disk under test (default build/bench-file;
#            not /tmp if that is tmpfs: O_DIRECT and the page cache differ)
#      SIZE  test file size (default 2G)   T  seconds per test (default 6)
#      REPS  repetitions, interleaved (default 3)
#      MBLK  the mblk binary (default build/mblk or build/src/cli/mblk)
#      ONLY  regex on test names to run a subset
#      OUT   CSV file (default $WORK/file_bench.csv)
#
# Tests (mblk and its peers in the same rep, one after the other):
#   dio-randread-4k-qd32   fio io_uring direct QD32 | mblk uring, threads
#   dio-randread-4k-qd1    fio psync direct         | mblk uring, threads
#   dio-seqread-1m         fio psync QD1, io_uring QD8, each also with
#                          --iomem=shmhuge (huge pages) | mblk QD1, QD8
#   dio-seqwrite-1m        the same for writes
#   buf-randread-4k-qd32   page-cache-warm file: fio psync QD1, libaio
#                          QD32, io_uring QD32 | mblk uring, threads QD32
#   copy-2g-25pct          mk_sparse.py image: mblk copy | cp --sparse=always
#                          | qemu-img convert -O raw (and -t none, O_DIRECT
#                          like mblk's default); checks data (cmp) and
#                          holes (allocated bytes, qemu-img map data ranges)
# mblk-uring-defer: the io_uring engine with MBLK_FILE_URING_SETUP=defer
# (see docs/devices/file.md), measured beside the default (coop).
# The thread-pool engine gets UV_THREADPOOL_SIZE=32 for QD32 tests (libuv
# runs at most that many requests at once; its default is 4).
# The acceptance ratios (mblk >= 0.95 x the best peer) are printed at the
# end from the medians.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REF=/work/shared/bench-reference
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SIZE=${SIZE:-64M}; T=${T:-1}; REPS=${REPS:-1}; COPY_MIB=${COPY_MIB:-64}
else
	SIZE=${SIZE:-2G}; T=${T:-6}; REPS=${REPS:-3}; COPY_MIB=${COPY_MIB:-2048}
fi
WORK=${WORK:-$ROOT/build/bench-file}
ONLY=${ONLY:-.}
OUT=${OUT:-$WORK/file_bench.csv}
if [ -z "${MBLK:-}" ]; then
	for m in "$ROOT/build/mblk" "$ROOT/build/src/cli/mblk"; do
		[ -x "$m" ] && MBLK=$m && break
	done
fi
[ -x "${MBLK:-}" ] || { echo "no mblk binary: build it or set MBLK" >&2; exit 1; }
for tool in fio jq qemu-img; do
	command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
mkdir -p "$WORK"
F=$WORK/bench.img
echo "test,tool,rep,iops,MBps" > "$OUT"
rm -f "$WORK/copy.csv"
RAMP=1
[ "$QUICK" = 1 ] && RAMP=0

# fio_run NAME REP ARGS... -> one CSV line
fio_run() {
	local name=$1 tool=$2 rep=$3; shift 3
	local js
	js=$(fio --name=b --filename="$F" --size="$SIZE" --time_based \
		--runtime="$T" --ramp_time=$RAMP --norandommap --randrepeat=0 \
		--output-format=json "$@")
	echo "$js" | jq -r --arg n "$name" --arg t "$tool" --arg r "$rep" \
		'.jobs[0] as $j | [$n, $t, $r, (($j.read.iops + $j.write.iops) | floor),
		 ((($j.read.bw_bytes + $j.write.bw_bytes) / 1e6) * 10 | round / 10)] | @csv' |
		tr -d '"' | tee -a "$OUT"
}

# mblk_run NAME TOOL REP URI BENCH-ARGS... -> one CSV line
mblk_run() {
	local name=$1 tool=$2 rep=$3 uri=$4; shift 4
	local js
	js=$("$MBLK" bench "$uri" --time "$T" --no-prefill --json "$@")
	echo "$js" | jq -r --arg n "$name" --arg t "$tool" --arg r "$rep" \
		'[$n, $t, $r, (.iops | floor), (.mb_per_s * 10 | round / 10)] | @csv' |
		tr -d '"' | tee -a "$OUT"
}

want() { [[ $1 =~ $ONLY ]]; }

# mblk's large buffers are on transparent huge pages (src/common/iobuf.h),
# so a 1 MiB request is a segment or two and sequential ones merge; fio's
# are on 4 KiB pages unless --iomem=shmhuge, which needs reserved huge
# pages. For a like-for-like peer the sequential tests also run fio with
# shmhuge, reserving 64 huge pages (128 MiB) for the run when root.
HUGE_OK=0
NR_HUGE=/proc/sys/vm/nr_hugepages
if [ -w "$NR_HUGE" ]; then
	HUGE_WAS=$(cat "$NR_HUGE")
	if [ "$HUGE_WAS" -lt 64 ]; then
		echo 64 > "$NR_HUGE"
		trap 'echo "$HUGE_WAS" > "$NR_HUGE"' EXIT
	fi
	[ "$(cat "$NR_HUGE")" -ge 64 ] && HUGE_OK=1
fi
[ "$HUGE_OK" = 1 ] || echo "no huge pages: fio runs without --iomem=shmhuge" >&2

# The test file: written once with fio's random buffers, fully allocated.
if [ ! -s "$F" ] || [ "$(stat -c %s "$F")" != "$(numfmt --from=iec "$SIZE")" ]; then
	rm -f "$F"
	fio --name=fill --filename="$F" --size="$SIZE" --rw=write --bs=1M \
		--direct=1 --ioengine=psync --output=/dev/null
fi
U="file:$F"

for rep in $(seq 1 "$REPS"); do
	n=dio-randread-4k-qd32
	if want $n; then
		fio_run $n fio-io_uring "$rep" --rw=randread --bs=4k --direct=1 \
			--ioengine=io_uring --iodepth=32
		mblk_run $n mblk-uring "$rep" "$U?buffered=0&engine=uring" \
			--rw randread --bs 4k --qd 32
		MBLK_FILE_URING_SETUP=defer mblk_run $n mblk-uring-defer "$rep" \
			"$U?buffered=0&engine=uring" --rw randread --bs 4k --qd 32
		UV_THREADPOOL_SIZE=32 mblk_run $n mblk-threads "$rep" \
			"$U?buffered=0&engine=threads" --rw randread --bs 4k --qd 32
	fi
	n=dio-randread-4k-qd1
	if want $n; then
		fio_run $n fio-psync "$rep" --rw=randread --bs=4k --direct=1 \
			--ioengine=psync
		mblk_run $n mblk-uring "$rep" "$U?buffered=0&engine=uring" \
			--rw randread --bs 4k --qd 1
		MBLK_FILE_URING_SETUP=defer mblk_run $n mblk-uring-defer "$rep" \
			"$U?buffered=0&engine=uring" --rw randread --bs 4k --qd 1
		mblk_run $n mblk-threads "$rep" "$U?buffered=0&engine=threads" \
			--rw randread --bs 4k --qd 1
	fi
	for rw in read write; do
		n=dio-seq$rw-1m
		want $n || continue
		fio_run $n fio-psync-qd1 "$rep" --rw=$rw --bs=1M --direct=1 \
			--ioengine=psync
		fio_run $n fio-io_uring-qd8 "$rep" --rw=$rw --bs=1M --direct=1 \
			--ioengine=io_uring --iodepth=8
		if [ "$HUGE_OK" = 1 ]; then
			fio_run $n fio-psync-qd1-huge "$rep" --rw=$rw --bs=1M \
				--direct=1 --ioengine=psync --iomem=shmhuge
			fio_run $n fio-io_uring-qd8-huge "$rep" --rw=$rw --bs=1M \
				--direct=1 --ioengine=io_uring --iodepth=8 \
				--iomem=shmhuge
		fi
		mblk_run $n mblk-uring-qd1 "$rep" "$U?buffered=0&engine=uring" \
			--rw $rw --bs 1M --qd 1
		mblk_run $n mblk-uring-qd8 "$rep" "$U?buffered=0&engine=uring" \
			--rw $rw --bs 1M --qd 8
		UV_THREADPOOL_SIZE=8 mblk_run $n mblk-threads-qd8 "$rep" \
			"$U?buffered=0&engine=threads" --rw $rw --bs 1M --qd 8
	done
	n=buf-randread-4k-qd32
	if want $n; then
		cat "$F" > /dev/null
		fio_run $n fio-psync-qd1 "$rep" --rw=randread --bs=4k \
			--invalidate=0 --ioengine=psync
		fio_run $n fio-libaio-qd32 "$rep" --rw=randread --bs=4k \
			--invalidate=0 --ioengine=libaio --iodepth=32
		fio_run $n fio-io_uring-qd32 "$rep" --rw=randread --bs=4k \
			--invalidate=0 --ioengine=io_uring --iodepth=32
		mblk_run $n mblk-uring "$rep" "$U?buffered=1&engine=uring" \
			--rw randread --bs 4k --qd 32
		UV_THREADPOOL_SIZE=32 mblk_run $n mblk-threads "$rep" \
			"$U?buffered=1&engine=threads" --rw randread --bs 4k --qd 32
	fi
done

# The sparse copy: time, data and holes.
n=copy-sparse
if want $n; then
	SRC=$WORK/sparse-src.img; DST=$WORK/sparse-dst.img
	[ -s "$SRC" ] && [ "$(stat -c %s "$SRC")" = $((COPY_MIB << 20)) ] ||
		python3 "$REF/mk_sparse.py" "$SRC" "$COPY_MIB" 25 1 1 >/dev/null
	data_ranges() { qemu-img map --output=json -f raw "$1" |
		jq -c '[.[] | select(.data) | [.start, .length]]'; }
	src_map=$(data_ranges "$SRC")
	echo "test,tool,rep,seconds,src_alloc,dst_alloc,same_data,same_holes" \
		> "$WORK/copy.csv"
	# mblk copy writes a file DST with O_DIRECT by default; qemu-img's
	# like-for-like is -t none, measured beside its default (writeback).
	tools=("mblk|$MBLK copy {S} {D}"
	       "cp-sparse|cp --sparse=always {S} {D}"
	       "qemu-img|qemu-img convert -f raw -O raw {S} {D}"
	       "qemu-img-direct|qemu-img convert -t none -f raw -O raw {S} {D}")
	# An untimed copy first: the first writer after the read tests pays
	# for reclaiming their page cache (1.3 s more, whichever tool).
	rm -f "$DST"; cp --sparse=always "$SRC" "$DST"; sync "$DST"
	for rep in $(seq 1 "$REPS"); do
		# Each rep starts with the next tool, so none is always first.
		for i in 0 1 2 3; do
			t=${tools[$(( (i + rep - 1) % 4 ))]}
			tool=${t%%|*}; cmd=${t#*|}
			cmd=${cmd//\{S\}/$SRC}; cmd=${cmd//\{D\}/$DST}
			rm -f "$DST"; sync; cat "$SRC" > /dev/null
			t0=$(date +%s.%N); bash -c "$cmd"; sync "$DST"; t1=$(date +%s.%N)
			same=no; cmp -s "$SRC" "$DST" && same=yes
			holes=no; [ "$(data_ranges "$DST")" = "$src_map" ] && holes=yes
			line=$(printf '%s,%s,%s,%.3f,%s,%s,%s,%s' $n "$tool" "$rep" \
				"$(echo "$t1 - $t0" | bc)" \
				$(( $(stat -c %b "$SRC") * 512 )) \
				$(( $(stat -c %b "$DST") * 512 )) $same $holes)
			echo "$line" | tee -a "$WORK/copy.csv"
		done
	done
	rm -f "$DST"
fi

# Medians and the acceptance ratios.
echo
echo "median per test and tool ($OUT):"
python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = {}
for k in sorted({(r["test"], r["tool"]) for r in rows}):
    med[k] = statistics.median(int(r["iops"]) for r in rows
                               if (r["test"], r["tool"]) == k)
    print(f"  {k[0]:24} {k[1]:20} {med[k]:10.0f} IOPS")
print()
# Two estimates of the ratio: from the medians, and the median of the
# per-rep ratios (runs of one rep are adjacent, so they share the disk's
# mood; the virtio disk here drifts by 20 % between minutes).
for t in sorted({k[0] for k in med}):
    m = max((v for k, v in med.items() if k[0] == t and k[1].startswith("mblk")), default=0)
    p = max((v for k, v in med.items() if k[0] == t and not k[1].startswith("mblk")), default=0)
    per = []
    for rep in sorted({r["rep"] for r in rows if r["test"] == t}):
        rr = [r for r in rows if r["test"] == t and r["rep"] == rep]
        bm = max((int(r["iops"]) for r in rr if r["tool"].startswith("mblk")), default=0)
        bp = max((int(r["iops"]) for r in rr if not r["tool"].startswith("mblk")), default=0)
        if bp:
            per.append(bm / bp)
    if p:
        reps = " ".join(f"{x:.2f}" for x in per)
        print(f"  {t:24} best mblk / best peer = {m / p:.2f} from medians, "
              f"{statistics.median(per):.2f} median per rep [{reps}] (target >= 0.95)")
PY
if [ -s "$WORK/copy.csv" ]; then
	echo
	column -s, -t < "$WORK/copy.csv"
fi
