#!/bin/bash
# test-rbd-migrate.sh - `mblk serve src.img --mirror-to rbd:rbd/img
# --pivot=auto` moves a disk onto Ceph while the random writer of
# tests/migrate keeps writing through one NBD connection and checks every
# block; after the pivot src.img is closed and deleted, and the image,
# read back with `rbd export`, must equal the writer's model.
. "$(dirname "$0")/lib.sh"

command -v rbd >/dev/null || { echo "SKIP: rbd is not installed"; exit 77; }
/usr/bin/python3 -c 'import nbd' 2>/dev/null || {
	echo "SKIP: python3-libnbd is not installed"
	[ "${CI:-}" = true ] && exit 1
	exit 77
}
img=rbd/migrate-$$
expect_rc 0 "$MBLK" create "rbd:$img" --size 32M
MBLK_MIGRATE_DST="rbd:$img" \
	MBLK_MIGRATE_FETCH="rm -f \"\$1\" && timeout 60 rbd export $img \"\$1\" >/dev/null 2>&1" \
	/usr/bin/python3 "$(dirname "$0")/../migrate/test-migrate-writer.py" \
	"$MBLK" uri-dst 8 >"$TMP/writer.out" 2>&1 ||
	fail "the migration onto rbd:$img: $(cat "$TMP/writer.out")"
grep -q "all checks passed" "$TMP/writer.out" && echo "ok: $(head -n1 "$TMP/writer.out")"
finish
