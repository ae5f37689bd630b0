#!/usr/bin/env bash
# test-exports.sh - every kind of device exported through mblk serve and
# checked with qemu-img and qemu-io: ram:, a file, fault: and mirror:,
# several exports on one server by name, and the default export.
# Usage: test-exports.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need qemu-img qemu-io

head -c 2M /dev/urandom >"$T/src.raw"
truncate -s 8M "$T/src.raw"
truncate -s 8M "$T/file.raw" "$T/prim.raw" "$T/sec.raw"

serve all 'ram:?size=8M' "$T/file.raw" \
	"fault:?inner=ram:?size=8M&fail=read&at=1000000" \
	"mirror:?primary=$T/prim.raw&secondary=$T/sec.raw" \
	--name ram --name file --name fault --name mirror
base="nbd+unix:///%s?socket=$T/all.sock"
for e in ram file fault mirror; do
	u=$(printf "$base" "$e")
	run "$e: convert" qemu-img convert -n -f raw -O raw "$T/src.raw" "$u"
	run "$e: compare" qemu-img compare -f raw -F raw "$T/src.raw" "$u"
	run "$e: write" qemu-io -f raw -c 'write -P 0x5a 4M 64k' -c 'write -z 0 64k' "$u"
	run "$e: read" qemu-io -f raw -c 'read -P 0x5a 4M 64k' -c 'read -P 0 0 64k' "$u"
done
stop "$SPID"
# What the file and the mirror's two sides hold after the server flushed
# and exited: the file and both mirror sides have the writes.
for f in file prim sec; do
	check "$f at 4M" "$(od -An -tx1 -j $((4 << 20)) -N 4 "$T/$f.raw" | tr -d ' ')" "5a5a5a5a"
done
cmp -n 65536 "$T/prim.raw" /dev/zero || fail "prim: the zeroed range is not zero"

# One device and no --name: the default export ("").
serve one "$T/file.raw"
check "default export URI" "$URI" "nbd+unix:///?socket=$T/one.sock"
run "default export" qemu-io -f raw -c 'read -P 0x5a 4M 64k' "$URI"
stop "$SPID"
finish
