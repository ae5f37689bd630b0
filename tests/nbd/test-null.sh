#!/usr/bin/env bash
# test-null.sh - the null device served to real clients: nbdinfo sees
# its size and one zero hole (base:allocation), qemu-io's write succeeds
# and reads back as zeros, and so does libnbd's with simple replies (every
# read then reaches the device; qemu's are hole chunks), qemu-img map
# reports no data, and nbdcopy of an NBD export into null: and of null:
# into a ram export both work (the copy into ram zeroes the data it held).
# Usage: test-null.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need nbdinfo qemu-io qemu-img nbdcopy python3
/usr/bin/python3 -c 'import nbd' 2>/dev/null || need python3-libnbd

serve n 'null:?size=1G'
run "nbdinfo" nbdinfo --json "$URI" &&
	check "size" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0]["export-size"])' <"$T/run.out")" 1073741824
run "nbdinfo --map" nbdinfo --map "$URI" &&
	check "map" "$(tr -s ' \t' ' ' <"$T/run.out" | sed 's/^ //')" "0 1073741824 3 hole,zero"
# Write then read on one connection: the read must not return the bytes
# the write left in the server's buffers.
run "qemu-io write, read zeros" qemu-io -f raw -c 'write -P 0x5a 1M 64k' \
	-c 'read -P 0 1M 64k' "$URI"
qemu-io -f raw -c 'write -P 0x5a 2M 64k' -c 'read -P 0x5a 2M 64k' "$URI" >"$T/p.out" 2>&1
grep -q "Pattern verification failed" "$T/p.out" ||
	fail "qemu-io read -P 0x5a: the written pattern came back: $(cat "$T/p.out")"
# qemu reads holes as OFFSET_HOLE chunks without a read of the device;
# with simple replies every read reaches it: write, then read the same
# range on the same connection (the server's buffer held the pattern).
run "libnbd simple replies" /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD()
h.set_request_structured_replies(False)
h.connect_uri(sys.argv[1])
h.pwrite(b"\x5a" * 65536, 1 << 20)
assert h.pread(65536, 1 << 20) == bytes(65536), "the read did not give zeros"
' "$URI"
run "qemu-img map" qemu-img map --output=json -f raw "$URI" &&
	check "qemu-img map" "$(python3 -c 'import json,sys; print([(e["start"], e["length"], e["zero"], e["data"]) for e in json.load(sys.stdin)])' <"$T/run.out")" \
		"[(0, 1073741824, True, False)]"

# nbdcopy: a ram export with data into null:, and null: into ram (the
# same size), which must zero the data there.
serve r 'ram:?size=64M'
RAM=$URI
serve n64 'null:?size=64M'
run "data into ram" qemu-io -f raw -c 'write -P 0x33 0 8M' "$RAM"
run "nbdcopy ram -> null" nbdcopy "$RAM" "nbd+unix:///?socket=$T/n.sock"
run "nbdcopy null -> ram" nbdcopy "$URI" "$RAM"
run "ram reads zeros" qemu-io -f raw -c 'read -P 0 0 8M' "$RAM"
finish
