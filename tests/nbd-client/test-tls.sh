#!/usr/bin/env bash
# test-tls.sh - nbds:// and nbds+unix:// against nbdkit --tls=require and
# mblk serve --tls=require (with client certificates, and PSK):
# X.509 (a CA and a server certificate made here with certtool, checked
# against the host name over TCP) and PSK (a key made with psktool), with
# the conformance suite, the model and mblk info --list inside TLS; and
# the refusals, each with its sentence: plain nbd:// to a TLS-only
# server, a CA that did not sign the server's certificate, a PSK user the
# server does not know.
# Usage: test-tls.sh MBLK CONFORMANCE MODEL
set -u
mblk=$1 conformance=$2 model=$3
for t in nbdkit certtool psktool; do
	command -v $t >/dev/null || {
		[ "${CI:-}" = true ] && { echo "FAIL: $t is not installed"; exit 1; }
		echo "skipped: $t is not installed"
		exit 77
	}
done
if ! "$mblk" info 'nbds+unix:///?socket=/nonexistent' 2>&1 | grep -q 'could not connect'; then
	echo "skipped: this mblk was built without GnuTLS"
	exit 77
fi
d=$(mktemp -d /tmp/nbdc-tls-XXXXXX)
pid=""
stop() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	pid=""
	rm -f "$d/sock" "$d/pid"
}
trap 'stop; rm -rf "$d"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A CA, a server certificate for localhost / 127.0.0.1, another CA.
mkdir -p "$d/srv" "$d/cli" "$d/bad"
certtool --generate-privkey --outfile "$d/ca-key.pem" 2>/dev/null
printf 'cn = mblk test CA\nca\ncert_signing_key\nexpiration_days = 2\n' >"$d/ca.info"
certtool --generate-self-signed --load-privkey "$d/ca-key.pem" \
	--template "$d/ca.info" --outfile "$d/ca-cert.pem" 2>/dev/null
certtool --generate-privkey --outfile "$d/srv/server-key.pem" 2>/dev/null
printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$d/srv.info"
certtool --generate-certificate --load-ca-certificate "$d/ca-cert.pem" \
	--load-ca-privkey "$d/ca-key.pem" --load-privkey "$d/srv/server-key.pem" \
	--template "$d/srv.info" --outfile "$d/srv/server-cert.pem" 2>/dev/null
cp "$d/ca-cert.pem" "$d/srv/"
cp "$d/ca-cert.pem" "$d/cli/"
# A client certificate, for a server that verifies its clients; and a
# directory with the CA alone.
mkdir -p "$d/clicert"
cp "$d/ca-cert.pem" "$d/clicert/"
certtool --generate-privkey --outfile "$d/clicert/client-key.pem" 2>/dev/null
printf 'cn = mblk test client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$d/cli.info"
certtool --generate-certificate --load-ca-certificate "$d/ca-cert.pem" \
	--load-ca-privkey "$d/ca-key.pem" --load-privkey "$d/clicert/client-key.pem" \
	--template "$d/cli.info" --outfile "$d/clicert/client-cert.pem" 2>/dev/null
certtool --generate-privkey --outfile "$d/bad-key.pem" 2>/dev/null
certtool --generate-self-signed --load-privkey "$d/bad-key.pem" \
	--template "$d/ca.info" --outfile "$d/bad/ca-cert.pem" 2>/dev/null
psktool -u alice -p "$d/keys.psk" >/dev/null 2>&1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() { # nbdkit options...
	nbdkit -P "$d/pid" "$@" memory 16M || { fail "nbdkit $* did not start"; return 1; }
	for _ in $(seq 50); do [ -s "$d/pid" ] && break; sleep 0.1; done
	pid=$(cat "$d/pid")
}
# expect_open_fails URI TEXT
expect_open_fails() {
	out=$("$mblk" info "$1" 2>&1) && { fail "$1 opened: $out"; return; }
	case $out in
	*"$2"*) echo "ok refused: $out" ;;
	*) fail "$1: expected '$2' in: $out" ;;
	esac
}

x509="tls-certificates=$d/cli"
start --tls=require --tls-certificates="$d/srv" -U "$d/sock"
u="nbds+unix:///?socket=$d/sock&$x509"
"$conformance" --expect-caps flush,discard,write_zeroes,seek,fua,zero_is_fast,cache "$u" | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || fail "conformance over X.509 TLS"
"$mblk" info --list "$u" | grep -q 'export=""' || fail "info --list over TLS"
expect_open_fails "nbd+unix:///?socket=$d/sock" "requires TLS"
expect_open_fails "nbds+unix:///?socket=$d/sock&tls-certificates=$d/bad" "not trusted"
expect_open_fails "nbds+unix:///?socket=$d/sock&tls-certificates=$d/none" "ca-cert.pem is missing"
stop

start --tls=require --tls-certificates="$d/srv" -i 127.0.0.1 -p "$port"
"$model" --ops 3000 --qd 32 "nbds://localhost:$port/?$x509" | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || fail "model over nbds://localhost (X.509, host name checked)"
stop

start --tls=require --tls-psk="$d/keys.psk" -U "$d/sock"
u="nbds+unix:///?socket=$d/sock&tls-psk-file=$d/keys.psk&tls-username=alice"
"$conformance" "$u" | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || fail "conformance over PSK TLS"
psktool -u mallory -p "$d/other.psk" >/dev/null 2>&1
expect_open_fails "nbds+unix:///?socket=$d/sock&tls-psk-file=$d/other.psk" "during the TLS handshake"
stop

# Our own server: X.509 with client certificates required, and PSK.
serve() { # mblk serve options...
	"$mblk" serve 'ram:?size=16M' --unix "$d/sock" --pidfile "$d/pid" "$@" \
		>"$d/serve.log" 2>&1 &
	for _ in $(seq 50); do [ -s "$d/pid" ] && [ -S "$d/sock" ] && break; sleep 0.1; done
	pid=$(cat "$d/pid" 2>/dev/null)
	[ -n "$pid" ] || fail "mblk serve $* did not start: $(cat "$d/serve.log")"
}
serve --tls=require --tls-certs "$d/srv" --tls-verify-peer
"$conformance" "nbds+unix:///?socket=$d/sock&tls-certificates=$d/clicert" | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || fail "conformance over TLS against mblk serve (client certificate)"
out=$("$mblk" info "nbds+unix:///?socket=$d/sock&tls-certificates=$d/cli" 2>&1) &&
	fail "mblk serve --tls-verify-peer accepted a client without a certificate"
echo "ok refused without a client certificate: $out"
stop
serve --tls=require --tls-psk "$d/keys.psk"
"$model" --ops 2000 "nbds+unix:///?socket=$d/sock&tls-psk-file=$d/keys.psk&tls-username=alice" | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || fail "model over PSK against mblk serve"
stop

[ $fails = 0 ] && echo "ok TLS: X.509 and PSK" || exit 1
