#!/usr/bin/env bash
# test-tls.sh - TLS (GnuTLS) in mblk serve, with certificates and PSK keys
# made here by certtool and psktool: nbdinfo and nbdcopy with nbds+unix
# URIs, qemu-img with --object tls-creds-x509 / tls-creds-psk, client
# certificate verification, and the refusals: a plain client of a server
# that requires TLS (nothing but STARTTLS is answered), a client that
# trusts another CA, a client without a certificate when one is required.
# Usage: test-tls.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need certtool psktool nbdinfo nbdcopy qemu-img
if ! "$MBLK" serve --help | grep -q -- --tls-certs; then
	echo "SKIP: mblk was built without GnuTLS"
	exit 77
fi

# A CA, a server certificate for localhost, a client certificate, and a
# second CA nobody uses. Client directories hold ca-cert.pem plus
# client-cert.pem / client-key.pem (libnbd's and qemu's layout).
mkdir -p "$T/pki" "$T/client" "$T/other" "$T/psk"
gen() { certtool "$@" >/dev/null 2>&1 || fail "certtool $*"; }
gen --generate-privkey --outfile "$T/ca-key.pem"
printf 'cn = mblk test CA\nca\ncert_signing_key\nexpiration_days = 2\n' >"$T/ca.info"
gen --generate-self-signed --load-privkey "$T/ca-key.pem" --template "$T/ca.info" \
	--outfile "$T/pki/ca-cert.pem"
gen --generate-privkey --outfile "$T/pki/server-key.pem"
printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$T/server.info"
gen --generate-certificate --load-ca-certificate "$T/pki/ca-cert.pem" \
	--load-ca-privkey "$T/ca-key.pem" --load-privkey "$T/pki/server-key.pem" \
	--template "$T/server.info" --outfile "$T/pki/server-cert.pem"
gen --generate-privkey --outfile "$T/client/client-key.pem"
printf 'cn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$T/client.info"
gen --generate-certificate --load-ca-certificate "$T/pki/ca-cert.pem" \
	--load-ca-privkey "$T/ca-key.pem" --load-privkey "$T/client/client-key.pem" \
	--template "$T/client.info" --outfile "$T/client/client-cert.pem"
cp "$T/pki/ca-cert.pem" "$T/client/"
gen --generate-privkey --outfile "$T/other-key.pem"
gen --generate-self-signed --load-privkey "$T/other-key.pem" --template "$T/ca.info" \
	--outfile "$T/other/ca-cert.pem"
psktool -u alice -p "$T/psk/keys.psk" >/dev/null 2>&1 || fail "psktool"

head -c 6M /dev/urandom >"$T/a.raw"
truncate -s 8M "$T/a.raw"

# X.509, TLS required.
serve x509 'ram:?size=8M' --tls=require --tls-certs "$T/pki"
check "TLS URI" "$URI" "nbds+unix:///?socket=$T/x509.sock"
U="nbds+unix:///?socket=$T/x509.sock&tls-certificates=$T/client"
got=$(nbdinfo --json "$U" 2>&1 | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["TLS"], j["exports"][0]["export-size"])' 2>&1)
check "nbdinfo over TLS" "$got" "True 8388608"
# Many large writes in flight on one connection: TLS records arrive in
# pieces, and the ciphertext buffer fills and drains.
run "nbdcopy in over TLS" nbdcopy --connections=1 --requests=64 "$T/a.raw" "$U"
run "nbdcopy out over TLS" nbdcopy "$U" "$T/b.raw"
run "cmp over TLS" cmp "$T/a.raw" "$T/b.raw"
QOBJ="tls-creds-x509,id=tls0,dir=$T/client,endpoint=client"
QIMG="driver=nbd,server.type=unix,server.path=$T/x509.sock,tls-creds=tls0,tls-hostname=localhost"
run "qemu-img compare over TLS" qemu-img compare --object "$QOBJ" \
	--image-opts "$QIMG" "driver=file,filename=$T/a.raw"
# Refusals: a plain client; a client trusting another CA (qemu checks
# the chain; libnbd on a unix socket does not).
if out=$(nbdinfo "nbd+unix:///?socket=$T/x509.sock" 2>&1); then
	fail "a plain client of a TLS-only server succeeded: $out"
fi
if out=$(qemu-img info --object "tls-creds-x509,id=tls0,dir=$T/other,endpoint=client" \
	--image-opts "$QIMG" 2>&1); then
	fail "a client trusting another CA succeeded: $out"
fi
# At the wire level: only STARTTLS and ABORT are answered before TLS.
NBDWIRE_DIR=$(cd "$(dirname "$0")" && pwd) python3 - "$T/x509.sock" <<'PY' || fail "require mode at the wire level"
import os, sys
sys.path.insert(0, os.environ["NBDWIRE_DIR"])
import nbdwire as w
c = w.Conn(path=sys.argv[1])
c.start()
for opt, data in ((w.OPT_GO, c.info_data("", [])), (w.OPT_LIST, b""),
                  (w.OPT_STRUCTURED_REPLY, b""),
                  (w.OPT_INFO, c.info_data("", []))):
    c.opt(opt, data)
    _, rep, msg = c.read_rep(opt)
    assert rep == w.REP_ERR_TLS_REQD, (opt, hex(rep), msg)
c.opt(w.OPT_EXPORT_NAME, b"")
assert c.closed_by_server(), "EXPORT_NAME before TLS was not refused"
PY
stop "$SPID"

# X.509 with client certificates required.
serve verify 'ram:?size=1M' --tls=require --tls-certs "$T/pki" --tls-verify-peer
run "client certificate accepted" nbdinfo --size \
	"nbds+unix:///?socket=$T/verify.sock&tls-certificates=$T/client"
mkdir -p "$T/nocert" && cp "$T/pki/ca-cert.pem" "$T/nocert/"
if out=$(nbdinfo --size "nbds+unix:///?socket=$T/verify.sock&tls-certificates=$T/nocert" 2>&1); then
	fail "a client without a certificate was accepted: $out"
fi
stop "$SPID"

# PSK, TLS on: plain clients and TLS clients both work.
serve psk 'ram:?size=8M' --tls=on --tls-psk "$T/psk/keys.psk"
UP="nbds+unix://alice@/?socket=$T/psk.sock&tls-psk-file=$T/psk/keys.psk"
run "nbdcopy in over PSK" nbdcopy "$T/a.raw" "$UP"
got=$(nbdinfo --json "$UP" 2>&1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["TLS"])' 2>&1)
check "PSK is TLS" "$got" "True"
run "qemu-img over PSK" qemu-img compare \
	--object "tls-creds-psk,id=tls0,dir=$T/psk,username=alice,endpoint=client" \
	--image-opts "driver=nbd,server.type=unix,server.path=$T/psk.sock,tls-creds=tls0" \
	"driver=file,filename=$T/a.raw"
run "plain client with --tls=on" nbdinfo --size "nbd+unix:///?socket=$T/psk.sock"
# A wrong key is refused.
printf 'alice:%s\n' 00112233445566778899aabbccddeeff >"$T/wrong.psk"
if out=$(nbdinfo "nbds+unix://alice@/?socket=$T/psk.sock&tls-psk-file=$T/wrong.psk" 2>&1); then
	fail "a wrong PSK was accepted: $out"
fi
stop "$SPID"

# Usage: --tls=require without credentials.
"$MBLK" serve 'ram:?size=1M' --tls=require 2>"$T/err"
check "--tls without credentials: status" "$?" 2
finish
