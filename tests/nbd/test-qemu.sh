#!/usr/bin/env bash
# test-qemu.sh - qemu-img and qemu-io against mblk serve: info, map
# against block status, convert both ways, compare, write -z, discard and
# read -P / -v checks of the data.
# Usage: test-qemu.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need qemu-img qemu-io

# A sparse image: data at 0-4M and 20-22M, holes elsewhere.
head -c 4M /dev/urandom >"$T/a.raw"
truncate -s 32M "$T/a.raw"
dd if=/dev/urandom of="$T/a.raw" bs=1M seek=20 count=2 conv=notrunc status=none

serve ram 'ram:?size=32M'
run "info" qemu-img info --output=json "$URI"
check "virtual size" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["virtual-size"])' "$T/run.out")" 33554432

run "convert in" qemu-img convert -n -f raw -O raw "$T/a.raw" "$URI"
run "compare" qemu-img compare -f raw -F raw "$T/a.raw" "$URI"

# The map comes from NBD_CMD_BLOCK_STATUS: qemu-img map must show the
# data exactly where the image has it (qemu-img convert skipped the holes).
qemu-img map --output=json -f raw "$URI" >"$T/map.json" 2>&1 ||
	fail "map: $(cat "$T/map.json")"
got=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join("%d+%d" % (e["start"], e["length"]) for e in m if e["data"]))
' "$T/map.json")
check "data extents" "$got" "0+4194304 20971520+2097152"

run "convert out" qemu-img convert -f raw -O raw "$URI" "$T/b.raw"
run "cmp out" cmp "$T/a.raw" "$T/b.raw"

# qemu-io: a pattern, zeroes (write -z), a discard, read back with -P.
run "qemu-io write" qemu-io -f raw -c 'write -P 0xa5 8M 1M' -c 'write -z 0 1M' \
	-c 'discard 20M 1M' -c 'write -P 0x11 -f 12M 64k' "$URI"
run "qemu-io read" qemu-io -f raw -c 'read -P 0xa5 8M 1M' -c 'read -P 0 0 1M' \
	-c 'read -P 0 20M 1M' -c 'read -P 0x11 12M 64k' "$URI"
# read -v dumps the bytes: check the dump of one sector.
qemu-io -f raw -c 'read -v 8M 16' "$URI" >"$T/dump" 2>&1
grep -q '^00800000:  a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5' "$T/dump" ||
	fail "read -v: $(cat "$T/dump")"
# A pattern that is not there must make qemu-io say so (the test can fail).
qemu-io -f raw -c 'read -P 0x77 8M 4k' "$URI" >"$T/bad" 2>&1
grep -q 'Pattern verification failed' "$T/bad" ||
	fail "qemu-io did not notice a wrong pattern: $(cat "$T/bad")"

# Read-only: qemu sees NBD_FLAG_READ_ONLY and refuses to open for
# writing; opened read-only it reads.
serve ro 'ram:?size=1M' --read-only
out=$(qemu-io -f raw -c 'write -P 1 0 4k' "$URI" 2>&1)
case "$out" in
*"Permission denied"*|*"read-only"*|*"Read-only"*) ;;
*) fail "write to a read-only export: $out" ;;
esac
run "read-only read" qemu-io -r -f raw -c 'read -P 0 0 4k' "$URI"

stop "$SPID"
finish
