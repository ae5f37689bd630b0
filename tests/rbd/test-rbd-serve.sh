#!/bin/bash
# test-rbd-serve.sh - `mblk serve rbd:...` over NBD to real clients:
# qemu-img compares and maps the export (the holes come from the image's
# extents through NBD block status), nbdcopy copies it off, and
# qemu-img convert writes a file onto another image through the server.
. "$(dirname "$0")/lib.sh"
command -v nbdcopy >/dev/null || { echo "skipped: nbdcopy is not installed"; exit 77; }

make_sparse "$TMP/src.img" 48M
expect_rc 0 "$MBLK" create "rbd:rbd/serve-$$" --size 48M
img=rbd/serve-$$
expect_rc 0 "$MBLK" copy "$TMP/src.img" "rbd:$img" || finish

serve() {
	expect_rc 0 "$MBLK" serve "rbd:$img" --run "$1"
}
serve "qemu-img compare -q -f raw -F raw '$TMP/src.img' \"\$uri\"" &&
	echo "ok: qemu-img compare over NBD"
serve "qemu-img map --output=json -f raw \"\$uri\"" &&
	check holes_over_nbd "$(json_get 'sum(e["length"] for e in j if not e["data"]) >= 30 * 2**20')" True
serve "nbdcopy \"\$uri\" '$TMP/out.img'" &&
	{ cmp "$TMP/src.img" "$TMP/out.img" || fail "nbdcopy's copy differs"; }
# Writing through the server onto another image.
expect_rc 0 "$MBLK" create "rbd:rbd/serve2-$$" --size 48M
expect_rc 0 "$MBLK" serve "rbd:rbd/serve2-$$" \
	--run "qemu-img convert -n -f raw -O raw '$TMP/src.img' \"\$uri\""
same "$TMP/src.img" "rbd:rbd/serve2-$$"
finish
