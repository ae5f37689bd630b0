#!/usr/bin/env bash
# nbd_client_bench.sh - the NBD client: `mblk bench nbd+unix://...` side by
# side with fio's nbd engine (libnbd) on the same nbdkit memory server, in
# the same run.
#
# Usage: bench/nbd_client_bench.sh            (environment below)
#   MBLK=build/mblk   REPS=3   RUNTIME=6   SIZE=1G   CONNS=1
#   WORK=/tmp/mblk-nbd-client-bench   OUT=$WORK/client.csv   ONLY=<regex>
#   QUICK=1: 64 MiB, 1 s, one rep, two tests (checks the script works;
#            the numbers mean nothing).
#
# The targets (issue 10): 4 KiB random read at QD 16 at least 1.1 x
# fio+libnbd, 1 MiB sequential read at QD 8 at least 1.0 x. Tests: 4 KiB
# random read and write at QD 1 and 16, 1 MiB sequential read and write at
# QD 8. One server (nbdkit memory, filled with data first so that reads
# are not served as holes) for the whole run; rounds interleave the two
# clients test by test, so the machine's noise falls on both alike. CLIENT
# CPU per I/O: fio's usr+sys (its JSON) and mblk bench's cpu_user_s +
# cpu_sys_s, divided by the I/Os done.
#
# Output: one CSV row per client, test and round in OUT, then a markdown
# table of medians [min-max] and the ratio mblk/fio, on stdout and in
# $WORK/client.md. Do not read results from a machine that is busy.
set -euo pipefail
cd "$(dirname "$0")/.."
MBLK=${MBLK:-build/mblk}
WORK=${WORK:-/tmp/mblk-nbd-client-bench}
QUICK=${QUICK:-0}
CONNS=${CONNS:-1}
if [ "$QUICK" = 1 ]; then
	SIZE=${SIZE:-64M}
	RUNTIME=${RUNTIME:-1}
	REPS=${REPS:-1}
	ONLY=${ONLY:-'randread-4k-qd16|seqread-1m-qd8'}
else
	SIZE=${SIZE:-1G}
	RUNTIME=${RUNTIME:-6}
	REPS=${REPS:-3}
	ONLY=${ONLY:-.}
fi
OUT=${OUT:-$WORK/client.csv}
mkdir -p "$WORK"
for p in fio nbdkit nbdcopy python3; do
	command -v "$p" >/dev/null || { echo "nbd_client_bench: $p is not installed" >&2; exit 1; }
done
[ -x "$MBLK" ] || { echo "nbd_client_bench: $MBLK is not built" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "nbd_client_bench: this fio has no nbd engine" >&2; exit 1; }

SOCK=$WORK/s.sock
SPID=""
cleanup() {
	if [ -n "$SPID" ]; then kill -TERM "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	rm -f "$SOCK"
}
trap cleanup EXIT

rm -f "$SOCK"
nbdkit -f -U "$SOCK" memory size="$SIZE" 2>"$WORK/server.log" &
SPID=$!
URI="nbd+unix:///?socket=$SOCK"
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
# Data everywhere: a read of a hole would be a different test.
head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$WORK/fill.raw"
nbdcopy "$WORK/fill.raw" "$URI"
rm -f "$WORK/fill.raw"
MURI="$URI&connections=$CONNS"

[ -s "$OUT" ] || echo "client,test,rep,iops,MBps,lat_p50_us,cli_cpu_us_per_io" >"$OUT"

run_fio() {  # rep test rw bs qd
	local rep=$1 name=$2 rw=$3 bs=$4 qd=$5
	fio --name="$name" --ioengine=nbd --uri="$URI" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --size="$SIZE" --time_based --runtime="$RUNTIME" \
		--norandommap --randrepeat=0 --output-format=json \
		--output="$WORK/r.json" >/dev/null
	python3 - "$WORK/r.json" "$name" "$rep" "$RUNTIME" >>"$OUT" <<'PY'
import json, sys
js, name, rep, run = sys.argv[1:]
j = json.load(open(js))["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
ios = j["read"]["total_ios"] + j["write"]["total_ios"]
iops = j["read"]["iops"] + j["write"]["iops"]
mbps = (j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1e6
p50 = d["clat_ns"].get("percentile", {}).get("50.000000", 0) / 1000
cpu_s = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * float(run)
print("fio-libnbd,%s,%s,%d,%.1f,%.1f,%.2f" % (name, rep, iops, mbps, p50,
                                             cpu_s * 1e6 / ios if ios else 0))
PY
}

run_mblk() {  # rep test rw bs qd
	local rep=$1 name=$2 rw=$3 bs=$4 qd=$5
	"$MBLK" bench "$MURI" --rw "$rw" --bs "$bs" --qd "$qd" --time "$RUNTIME" \
		--no-prefill --json >"$WORK/m.json"
	python3 - "$WORK/m.json" "$name" "$rep" >>"$OUT" <<'PY'
import json, sys
js, name, rep = sys.argv[1:]
j = json.load(open(js))
d = j.get("read") or j.get("write")
p50 = d["lat_ns"]["p50"] / 1000 if d else 0
cpu_s = j["cpu_user_s"] + j["cpu_sys_s"]
print("mblk,%s,%s,%d,%.1f,%.1f,%.2f" % (name, rep, j["iops"], j["mb_per_s"],
                                       p50, cpu_s * 1e6 / j["ops"] if j["ops"] else 0))
PY
}

tests=(
	"randread-4k-qd1 randread 4k 1"
	"randread-4k-qd16 randread 4k 16"
	"randwrite-4k-qd1 randwrite 4k 1"
	"randwrite-4k-qd16 randwrite 4k 16"
	"seqread-1m-qd8 read 1m 8"
	"seqwrite-1m-qd8 write 1m 8"
)
for rep in $(seq "$REPS"); do
	for t in "${tests[@]}"; do
		set -- $t
		[[ $1 =~ $ONLY ]] || continue
		echo "== round $rep: $1" >&2
		# Alternate which client goes first from round to round.
		if [ $((rep % 2)) = 1 ]; then
			run_fio "$rep" "$@"
			run_mblk "$rep" "$@"
		else
			run_mblk "$rep" "$@"
			run_fio "$rep" "$@"
		fi
	done
done

python3 - "$OUT" <<'PY' | tee "$WORK/client.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tests, val, cpu = [], {}, {}
for r in rows:
    val.setdefault((r["client"], r["test"]), []).append(float(r["iops"]))
    cpu.setdefault((r["client"], r["test"]), []).append(
        float(r["cli_cpu_us_per_io"]))
    if r["test"] not in tests:
        tests.append(r["test"])
def cell(d, k, fmt):
    v = d.get(k)
    if not v:
        return ""
    return (fmt + " [" + fmt + "-" + fmt + "]") % (
        statistics.median(v), min(v), max(v))
print("| test | mblk IOPS | fio+libnbd IOPS | mblk/fio | mblk CPU us/IO | libnbd CPU us/IO |")
print("|---|---|---|---|---|---|")
for t in tests:
    m, f = val.get(("mblk", t)), val.get(("fio-libnbd", t))
    ratio = "%.2f" % (statistics.median(m) / statistics.median(f)) if m and f else ""
    print("| %s | %s | %s | %s | %s | %s |" % (
        t, cell(val, ("mblk", t), "%.0f"), cell(val, ("fio-libnbd", t), "%.0f"),
        ratio, cell(cpu, ("mblk", t), "%.2f"), cell(cpu, ("fio-libnbd", t), "%.2f")))
PY
