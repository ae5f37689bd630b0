#!/usr/bin/env bash
# test-libnbd.sh - libnbd's tools against mblk serve: nbdinfo --json,
# --map and --list, nbdcopy both ways (with its multi-conn), and
# nbdkit's nbd plugin as a proxy in front of the server, and fio's nbd
# engine with verification.
# Usage: test-libnbd.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need nbdinfo nbdcopy

head -c 3M /dev/urandom >"$T/a.raw"
truncate -s 16M "$T/a.raw"
dd if=/dev/urandom of="$T/a.raw" bs=1M seek=10 count=1 conv=notrunc status=none

serve two 'ram:?size=16M' 'ram:?size=1M' --name disk --name small \
	--description 'the main disk' --description 'a small one'
check "uri of a named export" "$URI" "nbd+unix:///disk?socket=$T/two.sock"
nbdinfo --list --json "nbd+unix:///?socket=$T/two.sock" >"$T/list.json" 2>&1 ||
	fail "nbdinfo --list: $(cat "$T/list.json")"
got=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(";".join("%s=%s=%d" % (e["export-name"], e.get("description", ""),
                             e["export-size"]) for e in j["exports"]))
' "$T/list.json")
check "nbdinfo --list" "$got" "disk=the main disk=16777216;small=a small one=1048576"

nbdinfo --json "$URI" >"$T/info.json" 2>&1 || fail "nbdinfo --json: $(cat "$T/info.json")"
got=$(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
print(e["export-size"], e["can_multi_conn"], e["can_trim"], e["can_zero"],
      e["can_fast_zero"], e["can_flush"], e["is_read_only"], e["can_df"],
      e["block_size_minimum"], e["block_size_maximum"], e["contexts"])
' "$T/info.json")
check "nbdinfo --json" "$got" "16777216 True True True True False False True 512 33554432 ['base:allocation']"

# An unknown export fails (the message listing the exports is checked at
# the wire level in test-nbdsh.py: nbdinfo does not print it).
if out=$(nbdinfo "nbd+unix:///nope?socket=$T/two.sock" 2>&1); then
	fail "nbdinfo of an unknown export succeeded: $out"
fi

run "nbdcopy in" nbdcopy "$T/a.raw" "$URI"
run "nbdcopy out" nbdcopy "$URI" "$T/b.raw"
run "cmp" cmp "$T/a.raw" "$T/b.raw"
# nbdcopy with 4 connections, as multi-conn lets it.
run "nbdcopy multi-conn" nbdcopy --connections=4 --requests=16 "$URI" "$T/c.raw"
run "cmp multi-conn" cmp "$T/a.raw" "$T/c.raw"

nbdinfo --map "$URI" >"$T/map" 2>&1 || fail "nbdinfo --map: $(cat "$T/map")"
got=$(awk '{print $1, $2, $3}' "$T/map" | tr '\n' ';')
check "nbdinfo --map" "$got" "0 3145728 0;3145728 7340032 3;10485760 1048576 0;11534336 5242880 3;"

# nbdkit's nbd plugin in front of us: a proxy that speaks to mblk serve.
if command -v nbdkit >/dev/null 2>&1; then
	out=$(nbdkit -U - nbd socket="$T/two.sock" export=disk \
		--run 'nbdcopy "$uri" '"$T/d.raw" 2>&1) || fail "nbdkit nbd proxy: $out"
	cmp "$T/a.raw" "$T/d.raw" || fail "data through the nbdkit proxy differs"
elif [ "${CI:-}" = true ]; then
	fail "nbdkit is not installed"
fi

# fio's nbd engine (libnbd, one connection, QD 16): random writes with
# checksums, then verified by reading them back.
if command -v fio >/dev/null 2>&1 && fio --enghelp 2>/dev/null | grep -qw nbd; then
	fio --name=verify --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k \
		--iodepth=16 --size=8M --verify=crc32c --verify_fatal=1 \
		--output="$T/fio.out" >/dev/null 2>&1 ||
		fail "fio nbd verify: $(tail -5 "$T/fio.out")"
	grep -q "err= 0" "$T/fio.out" || fail "fio reported errors: $(cat "$T/fio.out")"
elif [ "${CI:-}" = true ]; then
	fail "fio with the nbd engine is not installed"
fi

stop "$SPID"
finish
