#!/bin/sh
# test-misbehave.sh - runs test-misbehave against badserver.py playing one
# scenario on a unix socket, with timeout=2 so that a stalled server is
# noticed quickly; stops the server by its pid. MISBEHAVE_KEYS, if set,
# adds URI keys ("reconnect=5").
# Usage: test-misbehave.sh PROGRAM BADSERVER SCENARIO MODE [ERRNO TEXT]
set -u
prog=$1 server=$2 scenario=$3
shift 3
dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-/tmp}/nbdc-bad-XXXXXX") || exit 1
python3 "$server" "$scenario" "$dir/sock" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
	[ -S "$dir/sock" ] && break
	sleep 0.1
done
"$prog" "nbd+unix:///?socket=$dir/sock&timeout=2${MISBEHAVE_KEYS:+&$MISBEHAVE_KEYS}" "$@"
