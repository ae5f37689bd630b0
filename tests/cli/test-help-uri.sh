#!/bin/sh
# test-help-uri.sh - `mblk --help-uri` lists every scheme the build has,
# from the generated table, with each key and its help; and a nested URI
# printed by `mblk info` reopens.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$MBLK" --help-uri &&
{
	for s in 'ram:' 'file:PATH' 'mirror:?primary=' 'fault:?inner='; do
		printf '%s\n' "$OUT" | grep -qF "$s" ||
			fail "--help-uri does not list $s: $OUT"
	done
	for k in sector-size uring-batch secondary-zero delay-us; do
		printf '%s\n' "$OUT" | grep -q "^    $k " ||
			fail "--help-uri does not list the key $k"
	done
}
# Output that cannot be written is an error.
if [ -w /dev/full ]; then
	"$MBLK" --help-uri >/dev/full 2>/dev/null
	rc=$?
	[ "$rc" = 1 ] || fail "--help-uri >/dev/full exited $rc, expected 1"
fi
# A mirror of fault of ram, two levels of brackets: info looks at it
# read-only, so it shows the primary (a read-only mirror copies nothing),
# whose printed URI, bracketed, reopens as printed.
uri='mirror:?primary=[fault:?inner=[ram:?size=1M&sector-size=4096]]&secondary=[ram:?size=1M]&secondary-zero=1'
expect_rc 0 "$MBLK" info "$uri" --json &&
{
	check ss "$(json_get 'j["sector_size"]')" 4096
	printf '%s\n' "$OUT" | grep -q '"reopen_uri": *"fault:?inner=\[ram:' ||
		fail "the primary's reopen URI is not bracketed: $OUT"
	again=$(json_get 'j["reopen_uri"]')
	expect_rc 0 "$MBLK" info "$again" --json &&
		check reopened "$(json_get 'j["reopen_uri"]')" "$again"
}
finish
