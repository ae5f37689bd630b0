#!/usr/bin/env bash
# nbd_conns.sh - the NBD server's memory with 100 connections, each with
# requests in flight, side by side with nbdkit and qemu-nbd (issue 9: "memory
# bounded per connection by the limits above, shown with 100 connections").
#
# Usage: bench/nbd_conns.sh            (environment below)
#   MBLK=build/mblk   REPS=3   RUNTIME=5   CONNS=100   QD=16   SIZE=1G
#   WORK=/var/tmp/mblk-nbd-conns   OUT=$WORK/conns.csv   ONLY=<regex on test>
#   SERVERS="mblk-file nbdkit-file qemu-nbd"
#   QUICK=1: 10 connections, 1 s, one rep (checks the script works; the
#            numbers mean nothing).
#
# Design notes. Every server exports the same raw file (a file, not
# memory: the page cache is not in the server's RSS, so what the RSS
# grows by is the connections' own memory, not the data). fio's nbd
# engine with --thread --numjobs=CONNS opens one connection per job, and
# each keeps QD requests in flight:
#   write-1m   1 MiB random writes (payloads the server must take in)
#   read-1m    1 MiB random reads (replies it must hold until sent)
#   write-4k   4 KiB random writes (many small requests)
# Each test gets a fresh server, started and stopped by its own PID.
# From /proc/PID/status: VmRSS before the clients connect (the base) and
# VmHWM (the peak RSS of the process's life) after they are gone; the
# connections the server holds are counted from /proc/PID/fd halfway
# through, to show all CONNS were there at once. Per connection: (peak -
# base) / connections seen. mblk's bound is its per-connection limits
# (docs/nbd-server.md: 64 requests, 64 MiB of buffers); at QD 16 x 1 MiB
# a connection offers 16 MiB. qemu-nbd is started with -e CONNS+1 (its
# default is one client); nbdkit with its defaults (16 threads per
# connection).
#
# Output: one CSV row per server, test and round in OUT, then a markdown
# table of medians [min-max] and the per-connection ratios against
# nbdkit, on stdout and in $WORK/conns.md. Do not read results from a
# busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MBLK=${MBLK:-build/mblk}
WORK=${WORK:-/var/tmp/mblk-nbd-conns}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	CONNS=${CONNS:-10}
	RUNTIME=${RUNTIME:-1}
	REPS=${REPS:-1}
	SIZE=${SIZE:-64M}
else
	CONNS=${CONNS:-100}
	RUNTIME=${RUNTIME:-5}
	REPS=${REPS:-3}
	SIZE=${SIZE:-1G}
fi
QD=${QD:-16}
ONLY=${ONLY:-.}
SERVERS=${SERVERS:-"mblk-file nbdkit-file qemu-nbd"}
OUT=${OUT:-$WORK/conns.csv}
mkdir -p "$WORK"
for p in fio nbdinfo nbdkit qemu-nbd python3; do
	command -v "$p" >/dev/null || { echo "nbd_conns: $p is not installed" >&2; exit 1; }
done
[ -x "$MBLK" ] || { echo "nbd_conns: $MBLK is not built" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "nbd_conns: this fio has no nbd engine" >&2; exit 1; }

SOCK=$WORK/s.sock
FILE=$WORK/export.raw
URI="nbd+unix:///?socket=$SOCK"
SPID=""
cleanup() {
	if [ -n "$SPID" ]; then kill -TERM "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	rm -f "$SOCK" "$FILE"
}
trap cleanup EXIT

# The export: data everywhere, so reads are reads of data.
rm -f "$FILE"
head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$FILE"

start_server() {  # NAME
	rm -f "$SOCK"
	case $1 in
	mblk-file) "$MBLK" serve "$FILE" --unix "$SOCK" >/dev/null 2>"$WORK/server.log" & ;;
	nbdkit-file) nbdkit -f -U "$SOCK" file "$FILE" 2>"$WORK/server.log" & ;;
	qemu-nbd) qemu-nbd -t -e "$((CONNS + 1))" -k "$SOCK" -f raw --cache=writeback "$FILE" 2>"$WORK/server.log" & ;;
	*) echo "nbd_conns: unknown server $1" >&2; exit 2 ;;
	esac
	SPID=$!
	for _ in $(seq 100); do
		nbdinfo --size "$URI" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "nbd_conns: $1 did not start: $(cat "$WORK/server.log")" >&2
	exit 1
}

stop_server() {
	kill -TERM "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=""
}

status_kib() {  # FIELD: VmRSS or VmHWM of the server, in KiB
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SPID/status"
}

# Sockets the server holds, less its listening one (and nbdinfo's probe,
# gone by then).
conns_held() {
	local n
	n=$(find "/proc/$SPID/fd" -lname 'socket:*' 2>/dev/null | wc -l)
	echo $((n > 0 ? n - 1 : 0))
}

echo "server,test,rep,conns_seen,base_rss_MiB,peak_rss_MiB,per_conn_MiB,MBps" >"$OUT"

run_test() {  # server rep test rw bs
	local srv=$1 rep=$2 name=$3 rw=$4 bs=$5 base peak seen fpid
	[[ $name =~ $ONLY ]] || return 0
	start_server "$srv"
	sleep 0.2
	base=$(status_kib VmRSS)
	fio --name="$name" --ioengine=nbd --uri="$URI" --thread \
		--numjobs="$CONNS" --group_reporting --rw="$rw" --bs="$bs" \
		--iodepth="$QD" --time_based --runtime="$RUNTIME" \
		--norandommap --randrepeat=0 --output-format=json \
		--output="$WORK/r.json" >/dev/null &
	fpid=$!
	sleep "$(awk -v r="$RUNTIME" 'BEGIN { print r / 2 + 0.5 }')"
	seen=$(conns_held)
	wait "$fpid"
	peak=$(status_kib VmHWM)
	stop_server
	python3 - "$WORK/r.json" "$srv" "$name" "$rep" "$seen" "$base" "$peak" >>"$OUT" <<'PY'
import json, sys
js, srv, name, rep, seen, base, peak = sys.argv[1:]
text = open(js).read()
# fio writes each job's "connected to NBD server" line into the file too.
j = json.loads(text[text.index("{"):])["jobs"][0]
mbps = (j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1e6
seen, base, peak = int(seen), int(base) / 1024, int(peak) / 1024
print("%s,%s,%s,%d,%.1f,%.1f,%.3f,%.1f" % (srv, name, rep, seen, base, peak,
      (peak - base) / seen if seen else 0, mbps))
PY
	echo "== round $rep: $srv $name: $(tail -n1 "$OUT")" >&2
}

for rep in $(seq "$REPS"); do
	for srv in $SERVERS; do
		run_test "$srv" "$rep" write-1m randwrite 1m
		run_test "$srv" "$rep" read-1m randread 1m
		run_test "$srv" "$rep" write-4k randwrite 4k
	done
done

python3 - "$OUT" "$SERVERS" "$CONNS" "$QD" <<'PY' | tee "$WORK/conns.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
servers, conns, qd = sys.argv[2].split(), sys.argv[3], sys.argv[4]
tests, val, peak, seen = [], {}, {}, {}
for r in rows:
    k = (r["server"], r["test"])
    val.setdefault(k, []).append(float(r["per_conn_MiB"]))
    peak.setdefault(k, []).append(float(r["peak_rss_MiB"]))
    seen.setdefault(k, []).append(int(r["conns_seen"]))
    if r["test"] not in tests:
        tests.append(r["test"])
def cell(d, k, fmt):
    v = d.get(k)
    if not v:
        return ""
    return (fmt + " [" + fmt + "-" + fmt + "]") % (
        statistics.median(v), min(v), max(v))
others = [s for s in servers if s != "mblk-file"]
print("%s connections, QD %s each: server RSS per connection, MiB "
      "((peak - base) / connections), and the peak RSS, MiB" % (conns, qd))
print()
print("| test | " + " | ".join("%s per conn | %s peak" % (s, s) for s in servers)
      + " | " + " | ".join("mblk/%s per conn" % s for s in others)
      + " | connections seen |")
print("|---" * (1 + 2 * len(servers) + len(others) + 1) + "|")
for t in tests:
    cells = []
    for s in servers:
        cells.append(cell(val, (s, t), "%.2f"))
        cells.append(cell(peak, (s, t), "%.0f"))
    ratios = []
    for s in others:
        a, b = val.get(("mblk-file", t)), val.get((s, t))
        ratios.append("%.2fx" % (statistics.median(a) / statistics.median(b))
                      if a and b and statistics.median(b) > 0 else "")
    seen_all = sorted({x for s in servers for x in seen.get((s, t), [])})
    print("| %s | %s | %s | %s |" % (t, " | ".join(cells), " | ".join(ratios),
                                     ",".join(map(str, seen_all))))
PY
