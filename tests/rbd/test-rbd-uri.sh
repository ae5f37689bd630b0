#!/bin/bash
# test-rbd-uri.sh - the URI mblk_get_uri prints (mblk info's "reopen
# URI") reopens the device the same way, every key spelled out: reached
# through mon-host and keyring alone (an empty conf), the cache on, a
# timeout, a namespace in the path; and a snapshot's says read-only.
. "$(dirname "$0")/lib.sh"

img=$(new_image uri 8M)
keyring=$(sed -n 's/^keyring = //p' "$CEPH_CONF")
mon=$(sed -n 's/^mon host = //p' "$CEPH_CONF")
printf '[global]\n' >"$TMP/empty.conf"
# mblk info opens read-only, so its URIs say read-only=1; a writer's
# says read-only=0 (test-rbd-resize checks that one).
reopen() {
	printf '%s\n' "$OUT" | sed -n 's/^reopen URI: *//p'
}
uri="rbd:$img?conf=$TMP/empty.conf&keyring=$keyring&mon-host=[$mon]&cache=on&timeout=7"
expect_rc 0 "$MBLK" info "$uri" || finish
first=$(reopen)
case "$first" in
"rbd:$img?id=admin&conf=$TMP/empty.conf&keyring=$keyring&mon-host=%5B"*"&cache=1&read-only=1&timeout=7") echo "ok: $first" ;;
*) fail "reopen URI of $uri: $first" ;;
esac
expect_rc 0 "$MBLK" info "$first" && check round_trip "$(reopen)" "$first"
# The namespace spelled in the path, and the key.
rbdc namespace create --pool rbd --namespace "ns$$" || fail "rbd namespace create failed"
rbdc create --size 4M "rbd/ns$$/inner" || fail "rbd create in a namespace failed"
expect_rc 0 "$MBLK" info "rbd:rbd/ns$$/inner" &&
	check namespace "$(reopen)" "rbd:rbd/inner?id=admin&namespace=ns$$&cache=0&read-only=1&timeout=30"
expect_rc 0 "$MBLK" info "$(reopen)"
# A snapshot.
rbdc snap create "$img@s" || fail "rbd snap create failed"
expect_rc 0 "$MBLK" info "rbd:$img@s?id=client.admin" &&
	check snapshot "$(reopen)" "rbd:$img@s?id=admin&cache=0&read-only=1&timeout=30"
finish
