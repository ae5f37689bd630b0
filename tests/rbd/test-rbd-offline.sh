#!/bin/bash
# test-rbd-offline.sh - what the rbd: scheme and `mblk create` decide
# before any cluster is involved (suite cli, so it also runs under ASan
# and where no Ceph daemon can start): malformed paths and keys are
# refused with their sentences, an unreachable configuration fails with
# its own, and create refuses what it cannot make or would replace.
. "$(dirname "$0")/../cli/lib.sh"

d=$(mktemp -d "${MBLK_TEST_TMPDIR:-/tmp}/mblk-rbd-offline.XXXXXX")
trap 'rm -rf "$d"' EXIT
export CEPH_CONF=$d/none.conf

# sentence URI PHRASE: `mblk info URI` fails with one line holding PHRASE.
sentence() {
	expect_rc 1 "$MBLK" info "$1" || return
	local line
	line=$(printf '%s\n' "$ERR" | grep '^mblk info: ' | tail -n 1)
	case "$line" in
	*"$2"*) echo "ok: $line" ;;
	*) fail "'$1': expected '$2', got: $ERR" ;;
	esac
}
sentence "rbd:pool" "names an image as POOL/IMAGE"
sentence "rbd:/img" "names an image as POOL/IMAGE"
sentence "rbd:pool/" "names an image as POOL/IMAGE"
sentence "rbd:a/b/c/d" "names an image as POOL/IMAGE"
sentence "rbd:pool/img@" "names an image as POOL/IMAGE"
sentence "rbd:pool/ns/img?namespace=other" "names namespace 'ns' in its path and 'other'"
sentence "rbd:pool/img?cache=maybe" "cache=maybe"
sentence "rbd:pool/img?timeout=-1" "timeout=-1"
sentence "rbd:pool/img?size=1G" "unknown key 'size'"
sentence "rbd:pool/img" "cannot read the Ceph configuration $d/none.conf (CEPH_CONF)"
sentence "rbd:pool/img?conf=$d/other.conf" "cannot read the Ceph configuration $d/other.conf (conf key)"
printf '[global]\n' >"$d/empty.conf"
sentence "rbd:pool/img?conf=$d/empty.conf&keyring=$d/k" "cannot read the keyring $d/k (keyring key)"
# --help-uri lists the scheme and its keys.
expect_rc 0 "$MBLK" --help-uri
case "$OUT" in *"rbd:POOL/IMAGE[@SNAP]"*"mon-host"*"timeout"*) echo "ok: --help-uri lists rbd:" ;;
*) fail "--help-uri: $OUT" ;; esac
# create: refusals that need no cluster.
expect_rc 2 "$MBLK" create "rbd:pool/img"
expect_rc 2 "$MBLK" create "rbd:pool/img" --size 1001
expect_rc 2 "$MBLK" create "ram:x" --size 1M && expect_sentence
expect_rc 1 "$MBLK" create "rbd:pool/img@snap" --size 1M && expect_sentence
expect_rc 1 "$MBLK" create "rbd:pool/img" --size 1M && expect_sentence
finish
