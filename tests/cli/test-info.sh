#!/bin/sh
# test-info.sh - `mblk info` on ram devices, human and JSON.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" info 'ram:?size=1M' --json &&
{
	check size "$(json_get 'j["size"]')" 1048576
	check size_sectors "$(json_get 'j["size_sectors"]')" 2048
	check sector_size "$(json_get 'j["sector_size"]')" 512
	check read_only "$(json_get 'j["read_only"]')" False
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
finish
