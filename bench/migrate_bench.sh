#!/bin/bash
# migrate_bench.sh - a client writing through `mblk serve --mirror-to`
# while the disk moves, against the same client on the plain export, in
# one run (issue 14's performance target).
#
# Usage: bench/migrate_bench.sh [-r REPS] [-s SIZE] [-t SECONDS]
#                               [-m SECONDS] [-d DIR] [-o OUT.md] [-c OUT.csv]
#                               [-R RATE]
#        QUICK=1 bench/migrate_bench.sh    a seconds-long check of the script
#        environment: MBLK=path/to/mblk (default build/mblk);
#        SERVE_ARGS: more options for every mblk serve (word-split);
#        MIGRATE_ARGS: more options for the migrating one only (such as
#        --copy-share 100)
#
# In DIR (default /var/tmp) it makes a sparse SIZE (default 2G) image with
# 25 % data in 1 MiB extents at random places. Then for REPS rounds
# (default 3), interleaved so that the machine's noise hits both sides:
#   plain     mblk serve SRC; fio's nbd engine, 4 KiB random writes at
#             QD 16 for -t SECONDS (default 10)
#   migrate   mblk serve SRC --mirror-to DST --pivot=auto (DST a new
#             file); the same fio job for -m SECONDS (default 60), started
#             with the server, so it writes through the copy, the pivot
#             and after it. The server starts with --rate 1M and the
#             copy is let go (`mblk ctl set-rate 0`, or -R RATE: the
#             copy's rate limit from then on, such as 100M) 1 s after fio
#             starts, so that the whole copy runs under the client's load
# fio logs every request's completion latency (no averaging, Unix-epoch
# time stamps) and `mblk ctl events` is read from before fio starts, each
# event line stamped as it arrives, so both share one clock. From them:
# the client's rate while copying (its completions from the copy's
# release to the pivot, over that time) against its plain rate, which
# issue 14 wants >= 0.5, and its rate after the pivot; whether the
# migration converged and pivoted by itself, and how long the copy took;
# the pause the pivot causes: the slowest request completing within 1 s
# of the pivot, the longest time with no completion there, and the
# server's own pause_ms. The data is not checked here (tests/migrate does
# that). Output: a markdown table (stdout and OUT.md, default
# DIR/migrate_bench.md) and one CSV row per round and side (OUT.csv,
# default DIR/migrate_bench.csv). Results go in docs/BENCHMARKS.md; do
# not take them on a busy machine: the table gives the CPU time the host
# took from the VM (steal) during each side, and says NOT QUIET above 2 %.
set -euo pipefail

reps=3
size=2G
secs=10
msecs=60
dir=/var/tmp
out=
csv=
rate=0
while getopts r:s:t:m:d:o:c:R:h opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) size=$OPTARG ;;
	t) secs=$OPTARG ;;
	m) msecs=$OPTARG ;;
	d) dir=$OPTARG ;;
	o) out=$OPTARG ;;
	c) csv=$OPTARG ;;
	R) rate=$OPTARG ;;
	*) sed -n '2,35p' "$0"; exit 2 ;;
	esac
done
if [ "${QUICK:-0}" = 1 ]; then
	reps=1 size=64M secs=2 msecs=4
fi
release=1
[ "${QUICK:-0}" = 1 ] && release=0.5
out=${out:-$dir/migrate_bench.md}
csv=${csv:-$dir/migrate_bench.csv}

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
epid=
cleanup() {
	if [ -n "$spid" ]; then kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
	if [ -n "$epid" ]; then kill -TERM "$epid" 2>/dev/null || true; wait "$epid" 2>/dev/null || true; fi
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
	# shellcheck disable=SC2086 # SERVE_ARGS is a list of options
	"$mblk" serve "$@" ${SERVE_ARGS:-} --unix "$work/nbd.sock" --progress=none \
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

# CPU time the host took from this VM (steal) and all CPU time, in ticks
# of /proc/stat, so that each run says whether the machine was quiet.
cpu_ticks() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }

# fio_run SECONDS NAME: the client, on the export. Every request's
# latency is logged (no log_avg_msec: an average over a window would hide
# the pause), stamped in Unix-epoch ms to line up with the events.
fio_run() {
	local before
	before=$(cpu_ticks)
	fio --name=client --ioengine=nbd --uri="$(head -n1 "$work/serve.out")" \
		--rw=randwrite --bs=4k --iodepth=16 --time_based \
		--runtime="$1" --randseed=14 --norandommap \
		--write_lat_log="$work/$2" --log_unix_epoch=1 \
		--output-format=json --output="$work/$2.json"
	echo "$before $(cpu_ticks)" |
		awk '{ p = $4 > $2 ? 100 * ($3 - $1) / ($4 - $2) : 0; printf "%.2f\n", p }' \
			>"$work/$2.steal"
}

# events FILE: reads the control socket's events in the background, each
# line stamped with the Unix time it arrived; it ends when the server
# stops. Sets epid.
events() {
	python3 -u - "$mblk" "$work/ctl.sock" "$1" <<'PY' &
import subprocess, sys, time
mblk, sock, path = sys.argv[1:]
p = subprocess.Popen([mblk, "ctl", sock, "events", "--timeout", "600"],
                     stdout=subprocess.PIPE, text=True)
with open(path, "w") as f:
    for line in p.stdout:
        f.write("%.6f %s" % (time.time(), line))
        f.flush()
p.wait()
PY
	epid=$!
}

say() { echo "== round $round: $* (${SECONDS}s)" >&2; }
# Each side starts with nothing dirty in the page cache: the gigabytes
# the previous side left to write back would otherwise be written back
# during this one (a first round measured that way ran at a quarter of
# the rate of the next two, on both sides).
settle() { rm -f "$work/dst.img"; sync; }
for round in $(seq "$reps"); do
	say plain
	cp --sparse=always "$work/orig.img" "$work/src.img"
	settle
	serve "$work/src.img"
	fio_run "$secs" "plain$round"
	say "plain: stopping the server"
	stop
	python3 - "$work" "plain$round" "$round" >>"$res" <<'PY'
import json, sys
work, name, rnd = sys.argv[1:]
j = json.load(open("%s/%s.json" % (work, name)))["jobs"][0]["write"]
steal = float(open("%s/%s.steal" % (work, name)).read())
print(json.dumps({"round": int(rnd), "side": "plain", "iops": j["iops"],
                  "clat_max_ms": j["clat_ns"]["max"] / 1e6, "steal_pct": steal}))
PY

	say migrate
	cp --sparse=always "$work/orig.img" "$work/src.img"
	settle
	# The copy is held to a trickle until the client is writing, then
	# let go: copied at the page cache's speed, it would be over before
	# fio's first request (0.1 s for 128 MiB of data here).
	# shellcheck disable=SC2086 # MIGRATE_ARGS is a list of options
	serve "$work/src.img" --mirror-to "$work/dst.img" --pivot=auto \
		--control "$work/ctl.sock" --rate 1M ${MIGRATE_ARGS:-}
	events "$work/events.log"
	(
		sleep "$release"
		date +%s.%N >"$work/release.time"
		"$mblk" ctl "$work/ctl.sock" set-rate "$rate" >/dev/null
	) &
	rpid=$!
	say "migrate: fio starts"
	fio_run "$msecs" "migrate$round"
	say "migrate: fio done"
	wait "$rpid" || true
	"$mblk" ctl "$work/ctl.sock" status --json >"$work/status.json" || true
	say "migrate: stopping the server"
	stop
	say "migrate: stopped"
	# The events reader ends with the server; bound the wait all the same.
	for _ in $(seq 50); do
		kill -0 "$epid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$epid" 2>/dev/null || true
	wait "$epid" 2>/dev/null || true
	epid=
	say "migrate: events reader done"
	python3 - "$work" "migrate$round" "$round" >>"$res" <<'PY'
import json, sys
work, name, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
j = json.load(open("%s/%s.json" % (work, name)))["jobs"][0]["write"]
st = json.load(open("%s/status.json" % work))["result"]["mirror"]
# When the copy was let go, and the pivot (event lines: "<unix time>
# <json>"), in ms.
release = float(open("%s/release.time" % work).read()) * 1e3
pivot = None
for line in open("%s/events.log" % work):
    stamp, _, ev = line.partition(" ")
    try:
        if json.loads(ev).get("event") == "pivoted":
            pivot = float(stamp) * 1e3
    except ValueError:
        pass
# fio's per-request log: "time ms (Unix), clat ns, dir, bs, ..."
t, lat = [], []
with open("%s/%s_clat.1.log" % (work, name)) as f:
    for line in f:
        p = line.split(",")
        t.append(int(p[0]))
        lat.append(int(p[1]))
first, last = min(t), max(t)
def rate(lo, hi):
    n = sum(1 for x in t if lo <= x <= hi)
    return n / ((hi - lo) / 1e3) if hi > lo else None
first = max(first, release)
if pivot is not None and first < pivot:
    copy = rate(first, pivot)
    after = rate(pivot, last) if last > pivot else None
    near = [(x, l) for x, l in zip(t, lat) if abs(x - pivot) <= 1000]
    clat_near = max(l for _, l in near) / 1e6 if near else None
    ts = sorted(x for x, _ in near)
    gap = max((b - a for a, b in zip(ts, ts[1:])), default=None)
    pivot_s = (pivot - first) / 1e3
else:
    copy, after, clat_near, gap, pivot_s = rate(first, last), None, None, None, None
print(json.dumps({
    "round": rnd, "side": "migrate", "iops": j["iops"],
    "copy_iops": copy, "after_iops": after,
    "pivot_s": pivot_s, "state": st["state"], "mode": st["mode"],
    "remaining_MiB": st.get("bytes_remaining", 0) / 1048576,
    "pause_ms": st.get("pause_ms"), "pivot_ms": st.get("pivot_ms"),
    "clat_max_near_pivot_ms": clat_near, "gap_max_near_pivot_ms": gap,
    "clat_max_ms": j["clat_ns"]["max"] / 1e6,
    "steal_pct": float(open("%s/%s.steal" % (work, name)).read())}))
PY
	rm -f "$work"/*.log "$work/src.img" "$work/dst.img" "$work/status.json" \
		"$work/release.time"
done

python3 - "$res" "$size" "$out" "$csv" "$rate" <<'PY'
import csv, json, statistics, sys
res, size, out, csvpath = sys.argv[1:5]
rows = [json.loads(l) for l in open(res)]
plain = [r for r in rows if r["side"] == "plain"]
mig = [r for r in rows if r["side"] == "migrate"]
cols = ["round", "side", "iops", "copy_iops", "after_iops", "pivot_s",
        "state", "mode", "remaining_MiB", "pivot_ms", "pause_ms", "clat_max_near_pivot_ms",
        "gap_max_near_pivot_ms", "clat_max_ms", "steal_pct"]
with open(csvpath, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
def vals(xs):
    return [x for x in xs if x is not None]
def med(xs):
    xs = vals(xs)
    return statistics.median(xs) if xs else float("nan")
def rng(xs, fmt="%.0f"):
    xs = vals(xs)
    return ("[" + fmt + "-" + fmt + "]") % (min(xs), max(xs)) if xs else ""
def row(label, key, src, fmt="%.0f"):
    xs = [r.get(key) for r in src]
    return "| %s | %s | %s |" % (label, fmt % med(xs), rng(xs, fmt))
base = med(r["iops"] for r in plain)
copy = med(r["copy_iops"] for r in mig)
ratios = [r["copy_iops"] / base for r in mig if r["copy_iops"] and base]
lines = [
    "migrate_bench: %s image, 25 %% data; fio nbd 4 KiB randwrite QD 16; %d rounds; "
    "copy rate limit %s" % (size, len(plain),
                            "none" if sys.argv[5] == "0" else sys.argv[5]),
    "",
    "| | median | [min-max] |",
    "|---|---|---|",
    row("plain export, IOPS", "iops", plain),
    row("while copying, IOPS", "copy_iops", mig),
    "| ratio copying / plain (target >= 0.5) | %.2f | %s |"
    % (copy / base if base else 0, rng(ratios, "%.2f")),
    row("after the pivot, IOPS", "after_iops", mig),
    row("copy time: from the copy let go to the pivot, s", "pivot_s", mig, "%.1f"),
    row("pivot (server), ms", "pivot_ms", mig, "%.1f"),
    row("pause: slowest request within 1 s of the pivot (fio), ms",
        "clat_max_near_pivot_ms", mig, "%.1f"),
    row("pause: longest time without a completion within 1 s of it, ms",
        "gap_max_near_pivot_ms", mig, "%.0f"),
    row("pause: slowest request around it (server), ms", "pause_ms", mig, "%.1f"),
    row("slowest request of the whole run, plain (fio), ms", "clat_max_ms", plain, "%.1f"),
    row("slowest request of the whole run, migrating (fio), ms", "clat_max_ms", mig, "%.1f"),
    "| converged and pivoted by itself | %d of %d | |"
    % (sum(r["state"] == "pivoted" and r["pivot_s"] is not None for r in mig), len(mig)),
    row("host steal while the client ran, plain, % of CPU time", "steal_pct", plain, "%.1f"),
    row("host steal while the client ran, migrating, % of CPU time", "steal_pct", mig, "%.1f"),
]
worst = max([r.get("steal_pct") or 0 for r in rows] + [0])
if worst > 2:
    lines += ["", "NOT QUIET: the host took up to %.1f %% of this VM's CPU time in a "
              "run; these are not results." % worst]
text = "\n".join(lines)
print(text)
open(out, "w").write(text + "\n")
print("(table in %s, rows in %s)" % (out, csvpath), file=sys.stderr)
PY
