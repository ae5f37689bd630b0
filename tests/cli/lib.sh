# lib.sh - helpers for the CLI tests; sourced with the mblk binary as $1.
MBLK=${1:?usage: $0 PATH-TO-MBLK}
# skip, need_peer, in_ci: the rules for honest skips.
. "$(dirname "$0")/../common/peers.sh"
FAILS=0

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# expect_rc WANT CMD... : runs CMD, checks its exit status, keeps stdout
# in $OUT and stderr in $ERR.
expect_rc() {
	want=$1
	shift
	OUT=$("$@" 2>/tmp/mblk-cli-err.$$)
	rc=$?
	ERR=$(cat /tmp/mblk-cli-err.$$)
	rm -f /tmp/mblk-cli-err.$$
	if [ "$rc" != "$want" ]; then
		fail "'$*' exited $rc, expected $want; stdout: $OUT; stderr: $ERR"
		return 1
	fi
	return 0
}

# expect_sentence: stderr is one line naming "mblk" and ending in '.' or
# holding a cause after a colon.
expect_sentence() {
	lines=$(printf '%s\n' "$ERR" | grep -c .)
	if [ "$lines" != 1 ]; then
		fail "expected one line on stderr, got $lines: $ERR"
		return 1
	fi
	case "$ERR" in
	"mblk "*|"mblk:"*) ;;
	*) fail "stderr does not start with 'mblk': $ERR"; return 1 ;;
	esac
	return 0
}

# json_get EXPR: evaluates a python expression on the JSON in $OUT (as j).
json_get() {
	printf '%s' "$OUT" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

# check NAME GOT WANT
check() {
	if [ "$2" != "$3" ]; then
		fail "$1: got '$2', expected '$3'"
	fi
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed" >&2
		exit 1
	fi
	echo "all checks passed"
	exit 0
}

# ms_since T0: milliseconds since T0 (from `date +%s%N`).
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# need_peer NAME: exit 77 without it (a failure under CI=true).
need_peer() {
	command -v "$1" >/dev/null && return 0
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $1 is missing (scripts/deps.sh installs it)" >&2
		exit 1
	fi
	echo "$1 is missing; skipping"
	exit 77
}
