#!/bin/bash
# test-rbd-open-errors.sh - each way opening an rbd: URI fails gets its
# own sentence, in bounded time: a missing pool, image, snapshot,
# namespace, conf file and keyring (named, or not found), a refused key,
# an unknown client, an unreachable monitor, no monitor address at all,
# a malformed path and an unknown key.
. "$(dirname "$0")/lib.sh"

img=$(new_image errors 8M)
dir=$(dirname "$CEPH_CONF")
ceph-authtool --create-keyring "$TMP/wrong.keyring" --gen-key \
	-n client.admin >/dev/null

# open_fails URI PHRASE [MAX_SECONDS]: `mblk info URI` fails within
# MAX_SECONDS (default 10) with one sentence holding PHRASE.
open_fails() {
	local uri=$1 phrase=$2 max=${3:-10} t0=$SECONDS
	expect_rc 1 "$MBLK" info "$uri" || return
	local took=$((SECONDS - t0))
	[ "$took" -le "$max" ] || fail "'$uri' took ${took}s to fail (bound ${max}s)"
	# librados may print its own lines first; ours is the last.
	local line
	line=$(printf '%s\n' "$ERR" | grep '^mblk info: ' | tail -n 1)
	case "$line" in
	*"$phrase"*) echo "ok: $uri: $line" ;;
	*) fail "'$uri': expected a sentence with '$phrase', got: $ERR" ;;
	esac
}

open_fails "rbd:nopool-$$/x" "pool 'nopool-$$' does not exist"
open_fails "rbd:rbd/noimage-$$" "image 'noimage-$$' does not exist in pool 'rbd'"
open_fails "rbd:$img@nosnap" "has no snapshot 'nosnap'"
open_fails "rbd:rbd/nons-$$/x" "namespace 'nons-$$' does not exist in pool 'rbd'"
open_fails "rbd:$img?conf=$TMP/none.conf" "cannot read the Ceph configuration $TMP/none.conf (conf key)"
open_fails "rbd:$img?keyring=$TMP/none.keyring" "cannot read the keyring $TMP/none.keyring (keyring key)"
open_fails "rbd:$img?keyring=$TMP/wrong.keyring" "refused client.admin: the key in $TMP/wrong.keyring is not the one"
open_fails "rbd:$img?id=nobody-$$" "refused client.nobody-$$"
# A keyring nobody names that is not there: the conf points elsewhere.
sed "s|^keyring = .*|keyring = $TMP/missing.keyring|" "$CEPH_CONF" >"$TMP/nokey.conf"
open_fails "rbd:$img?conf=$TMP/nokey.conf" "no keyring holds client.admin's key (looked in $TMP/missing.keyring)"
# A monitor that does not answer: bounded by the timeout key (info
# tries read-write, then read-only: twice the bound).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
open_fails "rbd:$img?mon-host=127.0.0.1:$port&timeout=2" "no Ceph monitor answered at 127.0.0.1:$port within 2 s" 12
# No monitor address anywhere: no conf found, no mon-host.
printf '[global]\n' >"$TMP/empty.conf"
open_fails "rbd:$img?conf=$TMP/empty.conf" "no Ceph monitor address"
open_fails "rbd:rbd" "names an image as POOL/IMAGE"
open_fails "rbd:rbd/a/b/c" "names an image as POOL/IMAGE"
open_fails "rbd:rbd/x@" "names an image as POOL/IMAGE"
open_fails "rbd:rbd/ns1/x?namespace=ns2" "names namespace 'ns1' in its path and 'ns2' with the namespace key"
open_fails "rbd:$img?id=" "id= in URI"
open_fails "rbd:$img?timeout=100000" "at most 86400 seconds"
open_fails "rbd:$img?color=blue" "unknown key 'color'"
open_fails "rbd:$img?timeout=soon" "timeout=soon"
# And the image itself opens.
expect_rc 0 "$MBLK" info "rbd:$img" && echo "ok: rbd:$img opens"
finish
