#!/usr/bin/env bash
# with-server.sh - runs one test program against a fresh NBD server.
#
# Usage: with-server.sh [--keys 'k=v&...'] KIND [SERVER-ARGS...] -- PROGRAM [ARGS...]
#
#   KIND         nbdkit-unix | nbdkit-tcp | qemu-nbd-unix | qemu-nbd-tcp |
#                nbd-server-unix | nbd-server-tcp | mblk-serve-unix |
#                mblk-serve-tcp (SERVER-ARGS: device URIs, default @IMG@;
#                MBLK_CLI names the mblk binary)
#   SERVER-ARGS  nbdkit: its options, filters, plugin and plugin arguments
#                (@IMG@ is a fresh 16 MiB sparse file, @DIR@ the scratch
#                directory); the others: none
#                (they export @IMG@)
#   --keys       extra URI keys (connections=4&timeout=5)
#
# In PROGRAM's arguments @URI@ becomes the export's URI, @IMG@ the image
# and @DIR@ the scratch directory. The server listens on a unix socket in
# the scratch directory or on 127.0.0.1 at a free port, and is stopped by
# its pid when the program ends. Exit status: the program's; 77 when the
# server program is not installed (a FAILURE, 1, under CI=true).
set -u
keys=""
if [ "${1:-}" = --keys ]; then
	keys=$2
	shift 2
fi
kind=$1
shift
server_args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	server_args+=("$1")
	shift
done
shift # --

missing() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $1 is not installed (scripts/deps.sh installs it)" >&2
		exit 1
	fi
	echo "skipped: $1 is not installed"
	exit 77
}

dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-/tmp}/nbdc-XXXXXX") || exit 1
img=$dir/disk.img
truncate -s "${MBLK_NBD_IMG_SIZE:-16M}" "$img"
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sock=$dir/sock
port=$(free_port)
export_name=""
case $kind in
nbd-server-*) export_name=disk ;; # it has no default export
esac
case $kind in
*-unix) uri="nbd+unix:///$export_name?socket=$sock" ;;
*-tcp) uri="nbd://127.0.0.1:$port/$export_name" ;;
*) echo "with-server.sh: unknown kind '$kind'" >&2; exit 2 ;;
esac

# @IMG@ in the server's arguments.
for i in "${!server_args[@]}"; do
	server_args[$i]=${server_args[$i]//@IMG@/"$img"}
	server_args[$i]=${server_args[$i]//@DIR@/"$dir"}
done

case $kind in
nbdkit-*)
	command -v nbdkit >/dev/null || missing nbdkit
	if [ "$kind" = nbdkit-unix ]; then
		listen=(-U "$sock")
	else
		listen=(-i 127.0.0.1 -p "$port")
	fi
	nbdkit -P "$dir/pid" "${listen[@]}" \
		"${server_args[@]}" || exit 1
	;;
qemu-nbd-*)
	command -v qemu-nbd >/dev/null || missing qemu-nbd
	if [ "$kind" = qemu-nbd-unix ]; then
		listen=(-k "$sock")
	else
		listen=(-b 127.0.0.1 -p "$port")
	fi
	qemu-nbd --fork --pid-file="$dir/pid" "${listen[@]}" -f raw \
		--shared=16 --persistent --discard=unmap --cache=writeback \
		"$img" || exit 1
	;;
mblk-serve-*)
	# Our own server (MBLK_CLI, the mblk binary), exporting the device
	# URIs given (default: the image), the first as the default export.
	[ -n "${MBLK_CLI:-}" ] && [ -x "$MBLK_CLI" ] || {
		echo "FAIL: MBLK_CLI does not name the mblk binary" >&2
		exit 1
	}
	[ ${#server_args[@]} -gt 0 ] || server_args=("$img")
	if [ "$kind" = mblk-serve-unix ]; then
		listen=(--unix "$sock")
	else
		listen=(--tcp "127.0.0.1:$port")
	fi
	"$MBLK_CLI" serve "${listen[@]}" --pidfile "$dir/pid" \
		"${server_args[@]}" >"$dir/serve.log" 2>&1 &
	;;
nbd-server-*)
	command -v nbd-server >/dev/null || missing nbd-server
	{
		echo "[generic]"
		echo "	allowlist = true"
		# It always listens on TCP too: keep that on loopback.
		echo "	listenaddr = 127.0.0.1"
		echo "	port = $port"
		[ "$kind" = nbd-server-unix ] && echo "	unixsock = $sock"
		echo "[$export_name]"
		echo "	exportname = $img"
		echo "	flush = true"
		echo "	fua = true"
		echo "	trim = true"
	} >"$dir/nbd-server.conf"
	nbd-server -C "$dir/nbd-server.conf" -p "$dir/pid" || exit 1
	;;
esac

# Wait for the pid file and the listening socket (at most 10 s).
for _ in $(seq 100); do
	if [ -s "$dir/pid" ]; then
		if [ "${kind%-unix}" != "$kind" ]; then
			[ -S "$sock" ] && break
		else
			python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
		fi
	fi
	sleep 0.1
done
pid=$(cat "$dir/pid" 2>/dev/null)
if [ -z "$pid" ]; then
	echo "FAIL: $kind did not start" >&2
	exit 1
fi

if [ -n "$keys" ]; then
	case $uri in
	*\?*) uri="$uri&$keys" ;;
	*) uri="$uri?$keys" ;;
	esac
fi

args=()
for a in "$@"; do
	a=${a//@URI@/"$uri"}
	a=${a//@IMG@/"$img"}
	a=${a//@DIR@/"$dir"}
	args+=("$a")
done
"${args[@]}"
