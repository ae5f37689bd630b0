#!/bin/sh
# ram_bench.sh - the ram device against plain memcpy, side by side.
#
# Usage: bench/ram_bench.sh [-r REPS] [-t SECONDS] [-c CPU] [-o OUT.md]
#        environment: MBLK=path/to/mblk (default build/mblk)
#
# One run measures, interleaved for REPS rounds so that the machine's
# noise hits both sides alike, each pinned to CPU with taskset:
#   memcpy  random 4 KiB copies between two 1 GiB buffers (memcpy_rand)
#   mblk    bench 'ram:b?size=1G' --rw randread  --bs 4k --qd 32
#   mblk    bench 'ram:b?size=1G' --rw randwrite --bs 4k --qd 32 --prefill
#   memcpy  sequential 1 MiB copies (memcpy_rand seq1m)
#   mblk    bench 'ram:b?size=1G' --rw read --bs 1M --qd 4
#   mblk    bench 'ram:x?size=1T' --rw write --bs 1M --size 100M (peak RSS)
# and prints (and writes to OUT.md) a markdown table of the medians, the
# [min-max] over rounds, and the ratios mblk / memcpy the targets of
# issue 2 are stated in: randread and randwrite >= 0.75, sequential read
# >= 0.8, RSS of the 1 TiB device < 150 MiB.
set -eu

reps=3
secs=5
cpu=0
out=
while getopts r:t:c:o:h opt; do
	case $opt in
	r) reps=$OPTARG ;;
	t) secs=$OPTARG ;;
	c) cpu=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
mblk=${MBLK:-$top/build/mblk}
if [ ! -x "$mblk" ]; then
	echo "ram_bench.sh: no mblk binary at $mblk; build first (meson setup build && ninja -C build) or set MBLK." >&2
	exit 1
fi
for tool in taskset python3 cc; do
	command -v $tool >/dev/null || {
		echo "ram_bench.sh: $tool is needed and not installed." >&2
		exit 1
	}
done
work=$(mktemp -d /tmp/ram_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/memcpy_rand" "$here/memcpy_rand.c"
pin="taskset -c $cpu"
res=$work/results.jsonl

# run TAG CMD...: runs CMD, which prints one JSON line, and tags it.
run() {
	tag=$1
	shift
	line=$("$@") || { echo "ram_bench.sh: '$*' failed." >&2; exit 1; }
	printf '{"tag":"%s","rep":%s,"r":%s}\n' "$tag" "$rep" "$line" >>"$res"
	printf '  %-10s %s\n' "$tag" "$line" >&2
}

echo "ram_bench: $reps rounds of $secs s each, pinned to CPU $cpu, $(date -u +%FT%TZ)" >&2
rep=1
while [ "$rep" -le "$reps" ]; do
	echo "round $rep" >&2
	run memcpy4k $pin "$work/memcpy_rand" rand4k "$secs" 1024
	run randread $pin "$mblk" bench 'ram:b?size=1G' --rw randread \
		--bs 4k --qd 32 --time "$secs" --json
	run randwrite $pin "$mblk" bench 'ram:b?size=1G' --rw randwrite \
		--bs 4k --qd 32 --time "$secs" --prefill --json
	run memcpyseq $pin "$work/memcpy_rand" seq1m "$secs" 1024
	run seqread $pin "$mblk" bench 'ram:b?size=1G' --rw read \
		--bs 1M --qd 4 --time "$secs" --json
	run rss1t $pin "$mblk" bench 'ram:x?size=1T' --rw write --bs 1M \
		--size 100M --qd 4 --time 1 --json
	rep=$((rep + 1))
done

python3 - "$res" "$reps" "$secs" "$cpu" >"$work/table.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
reps, secs, cpu = sys.argv[2], sys.argv[3], sys.argv[4]
def vals(tag, f):
    return [f(r["r"]) for r in rows if r["tag"] == tag]
def ratios(a, fa, b, fb):
    # per round, so that each ratio compares neighbours in time
    xs = {r["rep"]: fa(r["r"]) for r in rows if r["tag"] == a}
    ys = {r["rep"]: fb(r["r"]) for r in rows if r["tag"] == b}
    return [xs[k] / ys[k] for k in xs if k in ys and ys[k]]
def med(v, fmt):
    if not v:
        return "n/a"
    return "%s [%s-%s]" % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))
iops = lambda r: r["ops_per_s"] if "ops_per_s" in r else r["iops"]
gbps = lambda r: r["gb_per_s"] if "gb_per_s" in r else r["mb_per_s"] / 1000
rss = lambda r: r["max_rss_kib"] / 1024
def target(v, ok):
    return "n/a" if not v else ("met" if ok(statistics.median(v)) else "NOT met")
rr = ratios("randread", iops, "memcpy4k", iops)
rw = ratios("randwrite", iops, "memcpy4k", iops)
sq = ratios("seqread", gbps, "memcpyseq", gbps)
rs = vals("rss1t", rss)
print("Median [min-max] of %s rounds, %s s each, pinned to CPU %s." % (reps, secs, cpu))
print()
print("| measurement | memcpy | mblk | ratio mblk/memcpy | target | result |")
print("|---|---|---|---|---|---|")
print("| 4 KiB random read, QD 32 (M ops/s) | %s | %s | %s | >= 0.75 | %s |" % (
    med([x / 1e6 for x in vals("memcpy4k", iops)], "%.3f"),
    med([x / 1e6 for x in vals("randread", iops)], "%.3f"),
    med(rr, "%.2f"), target(rr, lambda m: m >= 0.75)))
print("| 4 KiB random write, QD 32 (M ops/s) | %s | %s | %s | >= 0.75 | %s |" % (
    med([x / 1e6 for x in vals("memcpy4k", iops)], "%.3f"),
    med([x / 1e6 for x in vals("randwrite", iops)], "%.3f"),
    med(rw, "%.2f"), target(rw, lambda m: m >= 0.75)))
print("| 1 MiB sequential read, QD 4 (GB/s) | %s | %s | %s | >= 0.8 | %s |" % (
    med(vals("memcpyseq", gbps), "%.2f"), med(vals("seqread", gbps), "%.2f"),
    med(sq, "%.2f"), target(sq, lambda m: m >= 0.8)))
print("| RSS of a 1 TiB ram device, 100 MiB written (MiB) | - | %s | - | < 150 | %s |" % (
    med(rs, "%.1f"), target(rs, lambda m: m < 150)))
print()
lat = vals("randread", lambda r: r["read"]["lat_ns"]["p99"] / 1000)
cpu_ = vals("randread", lambda r: r["cpu_percent"])
print("randread p99 latency %s us; CPU %s %% of one core." % (med(lat, "%.1f"), med(cpu_, "%.0f")))
PY
cat "$work/table.md"
if [ -n "$out" ]; then
	cp "$work/table.md" "$out"
	echo "ram_bench.sh: table written to $out" >&2
fi
