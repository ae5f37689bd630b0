#!/bin/bash
# uring_batch.sh - the io_uring engine's submission batch and ring setup
# against fio, side by side (docs/BENCHMARKS.md, "What changed to get
# there"): O_DIRECT 4 KiB random reads at QD 32 on the file that
# bench/file_bench.sh made, each configuration once per rep, interleaved.
#
# Usage: bench/uring_batch.sh [REPS]        (default 5)
# Env:   F  the test file (default build/bench-file/bench.img, 2 GiB)
#        T  seconds per run (default 4)
#        BATCHES  submission batches to try (default "1 2 4 8 256";
#                 256 = once per loop iteration, the old behaviour)
#        SETUPS   ring setups at the default batch (default "coop defer")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=${1:-5}
F=${F:-$ROOT/build/bench-file/bench.img}
T=${T:-4}
BATCHES=${BATCHES:-"1 2 4 8 256"}
SETUPS=${SETUPS:-"coop defer"}
MBLK=${MBLK:-$ROOT/build/mblk}
[ -s "$F" ] || { echo "no $F: run bench/file_bench.sh first (or set F)" >&2; exit 1; }
size=$(stat -c %s "$F")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run_mblk() { # NAME ENV...
	local name=$1; shift
	env "$@" "$MBLK" bench "file:$F?buffered=0&engine=uring" --time "$T" \
		--no-prefill --json --rw randread --bs 4k --qd 32 |
		jq -r --arg n "$name" '"\($n),\(.iops|floor),\(.cpu_percent)"' >> "$out"
}
for rep in $(seq 1 "$REPS"); do
	fio --name=b --filename="$F" --size="$size" --time_based --runtime="$T" \
		--norandommap --randrepeat=0 --rw=randread --bs=4k --direct=1 \
		--ioengine=io_uring --iodepth=32 --output-format=json |
		jq -r '"fio,\(.jobs[0].read.iops|floor),\(.jobs[0].usr_cpu + .jobs[0].sys_cpu)"' >> "$out"
	for b in $BATCHES; do run_mblk "batch-$b" MBLK_FILE_URING_BATCH="$b"; done
	for s in $SETUPS; do run_mblk "setup-$s" MBLK_FILE_URING_SETUP="$s"; done
	echo "rep $rep done" >&2
done
python3 - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
names = list(dict.fromkeys(r[0] for r in rows))
fio = statistics.median(int(r[1]) for r in rows if r[0] == "fio")
print(f"{'config':12} {'median IOPS':>12} {'x fio':>6} {'CPU %':>6}")
for n in names:
    v = [int(r[1]) for r in rows if r[0] == n]
    c = [float(r[2]) for r in rows if r[0] == n]
    print(f"{n:12} {statistics.median(v):12.0f} {statistics.median(v) / fio:6.2f} {statistics.median(c):6.1f}")
PY
