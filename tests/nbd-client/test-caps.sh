#!/bin/sh
# test-caps.sh - what `mblk info --json URI` reports about an NBD export
# is what the server offered: the capabilities (exactly), read-only and
# the sector size. For servers the conformance suite cannot run on as a
# whole (read-only exports, noextents), the capability negotiation is
# still checked; and the reopen URI says read-only=1, as info opened it.
# Usage: test-caps.sh MBLK URI CAPS READ_ONLY SECTOR_SIZE
#   CAPS comma-separated in mblk_cap_name order, or "none"
set -u
mblk=$1 uri=$2 want_caps=$3 want_ro=$4 want_ss=$5
out=$("$mblk" info --json "$uri") || {
	echo "FAIL: mblk info '$uri' failed"
	exit 1
}
got=$(printf '%s' "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
caps = ",".join(j["capabilities"]) or "none"
print(caps, "yes" if j["read_only"] else "no", j["sector_size"])')
want="$want_caps $want_ro $want_ss"
if [ "$got" != "$want" ]; then
	echo "FAIL: $uri: expected caps, read-only, sector size '$want', got '$got'"
	exit 1
fi
# info opens read-only, and the URI it prints says so (docs/uri.md).
ro=$(printf '%s' "$out" | python3 -c '
import json, sys
print("read-only=1" in json.load(sys.stdin)["reopen_uri"])')
if [ "$ro" != True ]; then
	echo "FAIL: $uri: the reopen URI does not say read-only=1: $out"
	exit 1
fi
echo "ok $uri: $got, opened read-only"
