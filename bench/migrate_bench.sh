#!/bin/bash
# migrate_bench.sh - a client writing through `mblk serve --mirror-to`
# while the disk moves, against the same client on the plain export, in
# one run (issue 14's performance target).
#
# Usage: bench/migrate_bench.sh [-r REPS] [-s SIZE] [-t SECONDS]
#                               [-m SECONDS] [-d DIR] [-o OUT.md]
#        QUICK=1 bench/migrate_bench.sh    a seconds-long check of the script
#        environment: MBLK=path/to/mblk (default build/mblk)
#
# In DIR (default /var/tmp) it makes a sparse SIZE (default 2G) image with
# 25 % data in 1 MiB extents at random places. Then for REPS rounds
# (default 3), interleaved so that the machine's noise hits both sides:
#   plain     mblk serve SRC; fio's nbd engine, 4 KiB random writes at
#             QD 16 for -t SECONDS (default 10)
#   migrate   mblk serve SRC --mirror-to DST --pivot=auto (DST a new
#             file); the same fio job for -m SECONDS (default 30), started
#             with the server, so it writes through the copy, the pivot
#             and after it
# From fio's IOPS log (100 ms buckets) and the time the pivot was seen
# (status polled every 100 ms): the client's rate while copying (from the
# start to the pivot) against its plain rate, which issue 14 wants
# >= 0.5; whether the migration converged and pivoted by itself, and
# when; the pause the pivot causes: the slowest fio request within 1 s of
# the pivot (fio's latency log), and the server's own pause_ms. The data
# is not checked here (tests/migrate does that). Results go in
# docs/BENCHMARKS.md; do not take them on a busy machine.
set -euo pipefail

reps=3
size=2G
secs=10
msecs=30
dir=/var/tmp
out=
while getopts r:s:t:m:d:o:h opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) size=$OPTARG ;;
	t) secs=$OPTARG ;;
	m) msecs=$OPTARG ;;
	d) dir=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,29p' "$0"; exit 2 ;;
	esac
done
if [ "${QUICK:-0}" = 1 ]; then
	reps=1 size=64M secs=2 msecs=4
fi

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
mblk=${MBLK:-$top/build/mblk}
[ -x "$mblk" ] || {
	echo "migrate_bench.sh: no mblk binary at $mblk; build first or set MBLK." >&2
	exit 1
}
for tool in python3 fio; do
	command -v $tool >/dev/null || {
		echo "migrate_bench.sh: $tool is needed and not installed." >&2
		exit 1
	}
done
fio --enghelp=nbd >/dev/null 2>&1 || {
	echo "migrate_bench.sh: this fio has no nbd engine." >&2
	exit 1
}
work=$(mktemp -d "$dir/migrate_bench.XXXXXX")
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
res=$work/results.jsonl
: >"$res"

# The source: SIZE bytes, 25 % of its 1 MiB extents random data.
python3 - "$work/orig.img" "$size" <<'PY'
import os, random, sys
path, size = sys.argv[1], sys.argv[2]
mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
n = int(size[:-1]) * mult[size[-1].upper()] if size[-1].isalpha() else int(size)
mib = 1 << 20
random.seed(14)
with open(path, "wb") as f:
    f.truncate(n)
    for e in random.sample(range(n // mib), n // mib // 4):
        f.seek(e * mib)
        f.write(os.urandom(mib))
PY

# serve ARGS...: starts mblk serve in the background on $work/nbd.sock.
serve() {
	rm -f "$work/serve.out"
	"$mblk" serve "$@" --unix "$work/nbd.sock" --progress=none \
		>"$work/serve.out" 2>>"$work/serve.log" &
	spid=$!
	for _ in $(seq 200); do
		[ -s "$work/serve.out" ] && return 0
		sleep 0.05
	done
	echo "migrate_bench.sh: mblk serve did not start:" >&2
	cat "$work/serve.log" >&2
	exit 1
}

stop() {
	kill -TERM "$spid"
	wait "$spid" || true
	spid=
}

# fio_run SECONDS NAME: the client, on the export.
fio_run() {
	fio --name=client --ioengine=nbd --uri="$(head -n1 "$work/serve.out")" \
		--rw=randwrite --bs=4k --iodepth=16 --time_based \
		--runtime="$1" --randseed=14 --norandommap \
		--write_iops_log="$work/$2" --log_avg_msec=100 \
		--write_lat_log="$work/$2" \
		--output-format=json --output="$work/$2.json"
}

for round in $(seq "$reps"); do
	# plain
	cp --sparse=always "$work/orig.img" "$work/src.img"
	serve "$work/src.img"
	fio_run "$secs" "plain$round"
	stop
	python3 - "$work" "plain$round" "$round" >>"$res" <<'PY'
import json, sys
work, name, rnd = sys.argv[1:]
j = json.load(open("%s/%s.json" % (work, name)))["jobs"][0]["write"]
print(json.dumps({"round": int(rnd), "side": "plain", "iops": j["iops"],
                  "clat_max_ms": j["clat_ns"]["max"] / 1e6}))
PY

	# migrate
	cp --sparse=always "$work/orig.img" "$work/src.img"
	rm -f "$work/dst.img"
	serve "$work/src.img" --mirror-to "$work/dst.img" --pivot=auto \
		--control "$work/ctl.sock"
	t0=$(date +%s.%N)
	(
		while :; do
			st=$("$mblk" ctl "$work/ctl.sock" status --json 2>/dev/null |
				python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["mirror"]["state"])' 2>/dev/null) || exit 0
			if [ "$st" = pivoted ]; then
				date +%s.%N >"$work/pivot.time"
				exit 0
			fi
			sleep 0.1
		done
	) &
	poller=$!
	fio_run "$msecs" "migrate$round"
	wait "$poller" 2>/dev/null || true
	"$mblk" ctl "$work/ctl.sock" status --json >"$work/status.json" || true
	stop
	python3 - "$work" "migrate$round" "$round" "$t0" >>"$res" <<'PY'
import json, os, sys
work, name, rnd, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
j = json.load(open("%s/%s.json" % (work, name)))["jobs"][0]["write"]
pt = "%s/pivot.time" % work
pivot = float(open(pt).read()) - t0 if os.path.exists(pt) else None
if os.path.exists(pt):
    os.unlink(pt)
st = json.load(open("%s/status.json" % work))["result"]["mirror"]
def log(kind):
    rows = []
    with open("%s/%s_%s.1.log" % (work, name, kind)) as f:
        for line in f:
            p = [x.strip() for x in line.split(",")]
            rows.append((int(p[0]) / 1e3, int(p[1])))
    return rows
iops = log("iops")
copy = [v for t, v in iops if pivot is None or t <= pivot]
lat = log("clat")
near = [v for t, v in lat if pivot is not None and abs(t - pivot) <= 1.0]
print(json.dumps({
    "round": rnd, "side": "migrate", "iops": j["iops"],
    "copy_iops": sum(copy) / len(copy) if copy else 0,
    "pivot_s": pivot, "state": st["state"], "mode": st["mode"],
    "pause_ms": st.get("pause_ms"), "pivot_ms": st.get("pivot_ms"),
    "clat_max_near_pivot_ms": max(near) / 1e6 if near else None,
    "clat_max_ms": j["clat_ns"]["max"] / 1e6}))
PY
	rm -f "$work"/*.log "$work/src.img" "$work/dst.img"
done

python3 - "$res" "$size" "${out:-}" <<'PY'
import json, statistics, sys
res, size, out = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(res)]
plain = [r for r in rows if r["side"] == "plain"]
mig = [r for r in rows if r["side"] == "migrate"]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")
def rng(xs):
    xs = [x for x in xs if x is not None]
    return "[%.0f-%.0f]" % (min(xs), max(xs)) if xs else ""
base = med(r["iops"] for r in plain)
copy = med(r["copy_iops"] for r in mig)
lines = [
    "migrate_bench: %s image, 25 %% data; fio nbd 4 KiB randwrite QD 16; %d rounds"
    % (size, len(plain)),
    "",
    "| | median | [min-max] |",
    "|---|---|---|",
    "| plain export, IOPS | %.0f | %s |" % (base, rng(r["iops"] for r in plain)),
    "| while copying, IOPS | %.0f | %s |" % (copy, rng(r["copy_iops"] for r in mig)),
    "| ratio copying / plain (target >= 0.5) | %.2f | |" % (copy / base if base else 0),
    "| pivot after, s | %.1f | |" % med(r["pivot_s"] for r in mig),
    "| pivot (server), ms | %.1f | |" % med(r["pivot_ms"] for r in mig),
    "| pause: slowest request near the pivot (fio), ms | %.1f | %s |"
    % (med(r["clat_max_near_pivot_ms"] for r in mig),
       rng(r["clat_max_near_pivot_ms"] for r in mig)),
    "| pause: slowest request around it (server), ms | %.1f | |"
    % med(r["pause_ms"] for r in mig),
    "| converged and pivoted by itself | %d of %d | |"
    % (sum(r["state"] == "pivoted" for r in mig), len(mig)),
]
text = "\n".join(lines)
print(text)
if out:
    open(out, "w").write(text + "\n")
PY
