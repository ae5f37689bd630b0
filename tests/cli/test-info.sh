#!/bin/sh
# test-info.sh - `mblk info` on ram devices, human and JSON.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" info 'ram:?size=1M' --json &&
{
	check size "$(json_get 'j["size"]')" 1048576
	check size_sectors "$(json_get 'j["size_sectors"]')" 2048
	check sector_size "$(json_get 'j["sector_size"]')" 512
	check read_only_as_opened "$(json_get 'j["read_only"]')" True
	check writable "$(json_get 'j["writable"]')" True
	check no_write_caps "$(json_get '[c for c in j["capabilities"] if c in ("discard", "write_zeroes", "resize", "fua", "zero_is_fast")]')" "[]"
	check allocated "$(json_get 'j["allocated"]')" 0
	check has_seek "$(json_get '"seek" in j["capabilities"]')" True
	check reopen "$(json_get 'j["reopen_uri"].startswith("ram:")')" True
}
expect_rc 0 "$MBLK" info 'ram:disk?size=2M&sector-size=4096' --json &&
{
	check size4k "$(json_get 'j["size"]')" 2097152
	check sectors4k "$(json_get 'j["size_sectors"]')" 512
	check ss4k "$(json_get 'j["sector_size"]')" 4096
}
expect_rc 0 "$MBLK" info 'ram:?size=1M' &&
{
	printf '%s\n' "$OUT" | grep -q '^size: *1048576 bytes' ||
		fail "human output lacks the size: $OUT"
	printf '%s\n' "$OUT" | grep -q '^capabilities:.*seek' ||
		fail "human output lacks the capabilities: $OUT"
}
expect_rc 0 "$MBLK" info --help &&
	{ printf '%s' "$OUT" | grep -q 'Examples' || fail "info --help has no examples"; }

# Files: info opens read-only (no write capabilities listed), a lock held
# by a writer elsewhere is said, and looking at a mirror copies nothing.
d=$(mktemp -d /tmp/mblk-info.XXXXXX)
trap 'kill $holder 2>/dev/null; rm -rf "$d"' EXIT
truncate -s 4M "$d/a.img"
dd if=/dev/urandom of="$d/a.img" bs=64k count=4 conv=notrunc 2>/dev/null
expect_rc 0 "$MBLK" info "$d/a.img" --json &&
{
	check file_writable "$(json_get 'j["writable"]')" True
	check file_no_discard "$(json_get '"discard" in j["capabilities"]')" False
	# The URI as info opened it: read-only (docs/uri.md).
	check file_reopen_ro "$(json_get '"read-only=1" in j["reopen_uri"]')" True
}
# A writer elsewhere: flock -x holds the lock mblk takes.
(
	exec 9>>"$d/a.img"
	flock -x 9
	exec sleep 30
) &
holder=$!
sleep 0.3
expect_rc 1 "$MBLK" info "$d/a.img" && expect_sentence &&
	{ printf '%s' "$ERR" | grep -q 'locked by another process' ||
		fail "a held lock is not said: $ERR"; }
kill $holder 2>/dev/null
wait $holder 2>/dev/null
# A mirror looked at by info or map writes nothing to its secondary.
truncate -s 4M "$d/b.img"
m="mirror:?primary=$d/a.img&secondary=$d/b.img"
expect_rc 0 "$MBLK" info "$m"
expect_rc 0 "$MBLK" map "$m" --json
check mirror_secondary_untouched "$(du -k "$d/b.img" | cut -f1)" 0
# A qcow2 image is named as such by the commands that read contents.
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f qcow2 "$d/q.qcow2" 16M
	for sub in info map "copy" compare; do
		case $sub in
		info | map) args="$d/q.qcow2" ;;
		copy) args="$d/q.qcow2 $d/out.raw" ;;
		compare) args="$d/q.qcow2 $d/a.img" ;;
		esac
		# shellcheck disable=SC2086
		"$MBLK" $sub $args >/dev/null 2>"$d/err"
		rc=$?
		[ $rc -ne 0 ] || fail "$sub accepted a qcow2 image"
		grep -q "is a qcow2 image.*qemu-img convert -f qcow2 -O raw" "$d/err" ||
			fail "$sub: no qcow2 sentence: $(cat "$d/err")"
	done
	[ ! -e "$d/out.raw" ] || fail "copy of a qcow2 left out.raw behind"
	# A qcow2 whose size is whole sectors opens, and is refused all the same.
	truncate -s 256K "$d/q.qcow2"
	expect_rc 1 "$MBLK" copy "$d/q.qcow2" "$d/out.raw" &&
		{ printf '%s' "$ERR" | grep -q 'is a qcow2 image' || fail "padded qcow2: $ERR"; }
	for fmt in vmdk vpc vhdx vdi; do
		qemu-img create -q -f $fmt "$d/x.$fmt" 16M
		truncate -s 1M "$d/x.$fmt"
		expect_rc 1 "$MBLK" copy "$d/x.$fmt" "$d/out.raw" &&
			{ printf '%s' "$ERR" | grep -q "qemu-img convert -f $fmt -O raw" ||
				fail "$fmt not named: $ERR"; }
	done
fi
finish
