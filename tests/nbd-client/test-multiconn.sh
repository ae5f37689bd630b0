#!/bin/sh
# test-multiconn.sh - connections=N spreads requests over N connections
# when the server advertises multi-conn, and uses one when it does not.
# Runs the model suite (which checks every byte) on URI, then counts the
# connections that carried reads or writes in nbdkit's log filter output.
# Usage: test-multiconn.sh MODEL URI LOGFILE EXPECTED_CONNECTIONS
set -u
model=$1 uri=$2 log=$3 want=$4
"$model" --ops 2000 --qd 64 "$uri" || exit 1
got=$(grep -oE "connection=[0-9]+ (Read|Write)" "$log" | cut -d" " -f1 |
	sort -u | wc -l)
if [ "$got" != "$want" ]; then
	echo "FAIL: $uri: I/O went over $got connections, expected $want"
	exit 1
fi
echo "ok $uri: I/O over $got connections"
