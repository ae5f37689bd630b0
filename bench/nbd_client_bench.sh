#!/usr/bin/env bash
# nbd_client_bench.sh - the NBD client: `mblk bench nbd+unix://...` side by
# side with fio's nbd engine (libnbd) on the same nbdkit memory server, and
# `mblk copy` side by side with nbdcopy into and out of nbdkit, in the
# same run.
#
# Usage: bench/nbd_client_bench.sh            (environment below)
#   MBLK=build/mblk   REPS=3   RUNTIME=5   SIZE=1G   CONNS=1
#   COPY_SIZE=2G (the copy tests' image)
#   WORK=/tmp/mblk-nbd-client-bench   OUT=$WORK/client.csv   ONLY=<regex>
#   QUICK=1: 64 MiB, 1 s, one rep, a few tests (checks the script works;
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
# The copies (issue 10: no slower than nbdcopy, holes kept): a COPY_SIZE
# raw file with 25 % data in 1 MiB extents at seeded random places.
#   copy-in   file -> a fresh `nbdkit memory` per copy (reads as zeros)
#   copy-out  one `nbdkit memory` holding the image -> a new sparse file
#             (precreated with truncate for both tools: nbdcopy needs it)
# `mblk copy SRC DST` (its defaults: flush at the end, a file DST written
# with O_DIRECT) against `nbdcopy --flush SRC DST` (flushed too, so both
# end durable). Each copy is checked with `qemu-img compare`, and the
# data the destination holds afterwards is measured (nbdinfo --map
# --totals for nbdkit, du for the file): 25 % of COPY_SIZE means the
# holes were kept. Time from start to exit of the tool.
#
# Output: one CSV row per client, test and round in OUT, then markdown
# tables of medians [min-max] and the ratios mblk/fio and nbdcopy/mblk
# time, on stdout and in $WORK/client.md. Do not read results from a
# machine that is busy.
set -euo pipefail
cd "$(dirname "$0")/.."
MBLK=${MBLK:-build/mblk}
WORK=${WORK:-/tmp/mblk-nbd-client-bench}
QUICK=${QUICK:-0}
CONNS=${CONNS:-1}
if [ "$QUICK" = 1 ]; then
	SIZE=${SIZE:-64M}
	COPY_SIZE=${COPY_SIZE:-64M}
	RUNTIME=${RUNTIME:-1}
	REPS=${REPS:-1}
	ONLY=${ONLY:-'randread-4k-qd16|seqread-1m-qd8|copy-in|copy-out'}
else
	SIZE=${SIZE:-1G}
	COPY_SIZE=${COPY_SIZE:-2G}
	RUNTIME=${RUNTIME:-5}
	REPS=${REPS:-3}
	ONLY=${ONLY:-.}
fi
OUT=${OUT:-$WORK/client.csv}
mkdir -p "$WORK"
for p in fio nbdkit nbdcopy nbdinfo qemu-img python3; do
	command -v "$p" >/dev/null || { echo "nbd_client_bench: $p is not installed" >&2; exit 1; }
done
[ -x "$MBLK" ] || { echo "nbd_client_bench: $MBLK is not built" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "nbd_client_bench: this fio has no nbd engine" >&2; exit 1; }

SOCK=$WORK/s.sock
SPID=""
# The copy tests' servers: CSPID holds the image (the copy-out source),
# DPID is the fresh destination of one copy-in.
CSOCK=$WORK/c.sock
DSOCK=$WORK/d.sock
CSPID=""
DPID=""
CIMG=$WORK/copy-src.raw
COUT=$WORK/copy-out.raw
stop_pid() {  # PID: SIGTERM to a server this script started, then reap it
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	stop_pid "$SPID"
	stop_pid "$CSPID"
	stop_pid "$DPID"
	rm -f "$SOCK" "$CSOCK" "$DSOCK" "$COUT" "$CIMG"
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

# A fresh CSV each run: rows of an earlier run must not enter the medians.
echo "client,test,rep,iops,MBps,lat_p50_us,cli_cpu_us_per_io,seconds,data_MiB" >"$OUT"

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
print("fio-libnbd,%s,%s,%d,%.1f,%.1f,%.2f,," % (name, rep, iops, mbps, p50,
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
print("mblk,%s,%s,%d,%.1f,%.1f,%.2f,," % (name, rep, j["iops"], j["mb_per_s"],
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

# ---- the copies ----
want_copy() { [[ copy-in =~ $ONLY ]] || [[ copy-out =~ $ONLY ]]; }

start_mem() {  # SOCK: a fresh nbdkit memory of COPY_SIZE; sets MPID
	rm -f "$1"
	nbdkit -f -U "$1" memory size="$COPY_SIZE" 2>>"$WORK/server.log" &
	MPID=$!
	for _ in $(seq 100); do
		nbdinfo --size "nbd+unix:///?socket=$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "nbd_client_bench: nbdkit memory did not start: $(cat "$WORK/server.log")" >&2
	exit 1
}

nbd_data_mib() {  # URI: MiB the server reports allocated (not holes)
	nbdinfo --map --totals "$1" |
		awk 'int($3) % 2 == 0 { s += $1 } END { printf "%.0f", s / 1048576 }'
}

run_copy() {  # rep test tool
	local rep=$1 name=$2 tool=$3 src dst t0 t1 mib
	[[ $name =~ $ONLY ]] || return 0
	echo "== round $rep: $name $tool" >&2
	if [ "$name" = copy-in ]; then
		start_mem "$DSOCK"
		DPID=$MPID
		src=$CIMG
		dst="nbd+unix:///?socket=$DSOCK"
	else
		rm -f "$COUT"
		truncate -s "$COPY_SIZE" "$COUT"
		src="nbd+unix:///?socket=$CSOCK"
		dst=$COUT
	fi
	# The last copy's file was just deleted and its writeback may still
	# run: let the disk settle so it does not land on this tool's time
	# (ext4 frees the blocks and commits in the background).
	sync
	t0=$(date +%s.%N)
	if [ "$tool" = mblk ]; then
		local msrc=$src mdst=$dst
		[ "$name" = copy-in ] && mdst="$dst&connections=$CONNS"
		[ "$name" = copy-out ] && msrc="$src&connections=$CONNS"
		"$MBLK" copy "$msrc" "$mdst" 2>>"$WORK/copy.log"
	else
		nbdcopy --flush "$src" "$dst"
	fi
	t1=$(date +%s.%N)
	qemu-img compare -q -f raw -F raw "$CIMG" "$dst" ||
		{ echo "nbd_client_bench: $tool $name: the copy differs from the image" >&2; exit 1; }
	if [ "$name" = copy-in ]; then
		mib=$(nbd_data_mib "$dst")
		stop_pid "$DPID"
		DPID=""
	else
		mib=$(( $(du -B1 "$COUT" | cut -f1) >> 20 ))
		rm -f "$COUT"
	fi
	awk -v c="$tool" -v n="$name" -v r="$rep" -v a="$t0" -v b="$t1" \
		-v by="$(numfmt --from=iec "$COPY_SIZE")" -v m="$mib" \
		'BEGIN { printf "%s,%s,%s,,%.1f,,,%.3f,%s\n", c, n, r, by / (b - a) / 1e6, b - a, m }' >>"$OUT"
}

if want_copy; then
	# The image: 25 % of its 1 MiB extents random data (seeded places).
	python3 - "$CIMG" "$(numfmt --from=iec "$COPY_SIZE")" <<'PY'
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
mib = 1 << 20
rng = random.Random(10)
with open(path, "wb") as f:
    f.truncate(size)
    for e in rng.sample(range(size // mib), size // mib // 4):
        f.seek(e * mib)
        f.write(os.urandom(mib))
PY
	start_mem "$CSOCK"
	CSPID=$MPID
	nbdcopy "$CIMG" "nbd+unix:///?socket=$CSOCK"
	for rep in $(seq "$REPS"); do
		for name in copy-in copy-out; do
			if [ $((rep % 2)) = 1 ]; then
				run_copy "$rep" "$name" mblk
				run_copy "$rep" "$name" nbdcopy
			else
				run_copy "$rep" "$name" nbdcopy
				run_copy "$rep" "$name" mblk
			fi
		done
	done
	stop_pid "$CSPID"
	CSPID=""
fi
stop_pid "$SPID"
SPID=""

python3 - "$OUT" "$COPY_SIZE" <<'PY' | tee "$WORK/client.md"
import csv, statistics, sys
allrows = list(csv.DictReader(open(sys.argv[1])))
rows = [r for r in allrows if r["iops"]]
copies = [r for r in allrows if r["seconds"]]
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
if copies:
    sec, mib, names = {}, {}, []
    for r in copies:
        k = (r["client"], r["test"])
        sec.setdefault(k, []).append(float(r["seconds"]))
        mib.setdefault(k, []).append(float(r["data_MiB"]))
        if r["test"] not in names:
            names.append(r["test"])
    print()
    print("| copy (%s, 25 %% data) | mblk copy s | nbdcopy s | nbdcopy/mblk time "
          "(>= 1: no slower) | data MiB after (mblk / nbdcopy) |" % sys.argv[2])
    print("|---|---|---|---|---|")
    for t in names:
        m, n = sec.get(("mblk", t)), sec.get(("nbdcopy", t))
        ratio = "%.2f" % (statistics.median(n) / statistics.median(m)) if m and n else ""
        print("| %s | %s | %s | %s | %s / %s |" % (
            t, cell(sec, ("mblk", t), "%.2f"), cell(sec, ("nbdcopy", t), "%.2f"),
            ratio, cell(mib, ("mblk", t), "%.0f"), cell(mib, ("nbdcopy", t), "%.0f")))
PY
