#!/usr/bin/env bash
# run_nbd_rbd_migrate.sh - the benchmarks of issues 9, 10, 11 and 14, one
# after the other with their defaults, for one quiet window (~30 min).
#
# Usage: bench/run_nbd_rbd_migrate.sh [RESULTS-DIR]   (default
#        /var/tmp/mblk-bench-results); QUICK=1 passes through (a ~2 min
#        check that every script works; the numbers mean nothing).
#
# Each script runs with its own defaults and work directory; its stdout
# (the markdown tables) and stderr go to RESULTS-DIR/NAME.log, and the
# CSVs and tables each script writes are copied next to it. A script that
# fails is reported and the next one still runs; the exit status is 1 if
# any failed. Nothing else should run on the machine meanwhile.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RES=${1:-/var/tmp/mblk-bench-results}
mkdir -p "$RES"
failed=""

run() {  # NAME COMMAND...: one script, timed, logged
	local name=$1 t0=$SECONDS rc=0
	shift
	echo "== $name: $* ($(date -u +%H:%M:%S) UTC)" >&2
	"$@" >"$RES/$name.log" 2>&1 || rc=$?
	echo "== $name: exit $rc after $((SECONDS - t0)) s; $RES/$name.log" >&2
	[ $rc = 0 ] || failed="$failed $name"
}

run nbd_bench env WORK=/var/tmp/mblk-nbd-bench bash "$HERE/nbd_bench.sh"
cp /var/tmp/mblk-nbd-bench/nbd.csv /var/tmp/mblk-nbd-bench/nbd.md "$RES/" 2>/dev/null
run nbd_conns env WORK=/var/tmp/mblk-nbd-conns bash "$HERE/nbd_conns.sh"
cp /var/tmp/mblk-nbd-conns/conns.csv /var/tmp/mblk-nbd-conns/conns.md "$RES/" 2>/dev/null
run nbd_client_bench env WORK=/var/tmp/mblk-nbd-client-bench bash "$HERE/nbd_client_bench.sh"
cp /var/tmp/mblk-nbd-client-bench/client.csv /var/tmp/mblk-nbd-client-bench/client.md "$RES/" 2>/dev/null
run rbd_bench env WORK=/var/tmp/mblk-rbd-bench bash "$HERE/rbd_bench.sh"
cp /var/tmp/mblk-rbd-bench/rbd_bench.csv /var/tmp/mblk-rbd-bench/rbd_bench.md "$RES/" 2>/dev/null
run migrate_bench bash "$HERE/migrate_bench.sh" -d /var/tmp \
	-o "$RES/migrate_bench.md" -c "$RES/migrate_bench.csv"

if [ -n "$failed" ]; then
	echo "run_nbd_rbd_migrate: failed:$failed (see their logs in $RES)" >&2
	exit 1
fi
echo "run_nbd_rbd_migrate: all done; tables in $RES/*.md" >&2
