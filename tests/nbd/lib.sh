# lib.sh - helpers for the NBD server's shell tests; sourced with the mblk
# binary as $1. Each test gets a private directory ($T) removed on exit,
# and every server it starts is stopped on exit.
MBLK=${1:?usage: $0 PATH-TO-MBLK}
FAILS=0
T=$(mktemp -d /tmp/mblk-nbd-test.XXXXXX)
SERVER_PIDS=""

cleanup() {
	for p in $SERVER_PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# need PROGRAM...: skip (exit 77) unless each is installed; under CI=true
# a missing peer is a failure.
need() {
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "SKIP: $p is not installed (scripts/deps.sh installs it)"
			[ "${CI:-}" = true ] && exit 1
			exit 77
		fi
	done
}

# serve NAME ARGS...: starts `mblk serve ARGS... --unix $T/NAME.sock` in
# the background; sets URI to what it printed and SPID to its pid.
serve() {
	local name=$1
	shift
	rm -f "$T/$name.out"
	"$MBLK" serve "$@" --unix "$T/$name.sock" >"$T/$name.out" 2>"$T/$name.log" &
	SPID=$!
	SERVER_PIDS="$SERVER_PIDS $SPID"
	for _ in $(seq 100); do
		if [ -s "$T/$name.out" ]; then
			URI=$(head -n1 "$T/$name.out")
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	fail "mblk serve $* did not start: $(cat "$T/$name.log")"
	exit 1
}

# stop PID: SIGTERM, then the exit status must be 0.
stop() {
	kill -TERM "$1"
	wait "$1"
	local rc=$?
	[ "$rc" = 0 ] || fail "mblk serve exited $rc after SIGTERM"
}

# check NAME GOT WANT
check() {
	if [ "$2" != "$3" ]; then
		fail "$1: got '$2', expected '$3'"
	fi
}

# run NAME CMD...: the command must succeed.
run() {
	local name=$1
	shift
	if ! "$@" >"$T/run.out" 2>&1; then
		fail "$name: '$*' failed: $(cat "$T/run.out")"
		return 1
	fi
	return 0
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed" >&2
		exit 1
	fi
	echo "all checks passed"
	exit 0
}
