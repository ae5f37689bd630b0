#!/bin/sh
# test-uring-refused.sh - where io_uring is refused (seccomp EPERM, as in
# a container, or ENOSYS), the tests that ask for engine=uring skip with
# the reason instead of passing on the thread-pool engine, and the same
# tests with engine=threads still run.
# Usage: test-uring-refused.sh NO_URING TEST_FILE_IO CONFORMANCE MODEL
# (exit 77 when the seccomp filter cannot be installed).
set -u
. "$(dirname "$0")/../common/peers.sh"
no_uring=$1 io=$2 conformance=$3 model=$4
dir=$(mktemp -d "${MBLK_TEST_TMPDIR:-.}/refused-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
truncate -s 1M "$dir/a.img"
fails=0

probe=$("$no_uring" true)
[ $? = 77 ] && skip "$probe"

# expect WANT_RC WANT_TEXT CMD...: the exit status and a phrase of stdout.
expect() {
	want=$1 text=$2
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: '$*' exited $rc, expected $want; output:"
		printf '%s\n' "$out" | tail -n 5
		fails=$((fails + 1))
	elif ! printf '%s' "$out" | grep -q -- "$text"; then
		echo "FAIL: '$*' exited $rc but did not say \"$text\"; output:"
		printf '%s\n' "$out" | tail -n 5
		fails=$((fails + 1))
	else
		echo "ok: rc $rc from $*"
	fi
}

for how in "" --enosys; do
	expect 77 "refuses io_uring" "$no_uring" $how "$io" "buffered=1&engine=uring"
	expect 77 "refuses io_uring" "$no_uring" $how "$conformance" \
		"file:$dir/a.img?engine=uring"
	expect 77 "refuses io_uring" "$no_uring" $how "$model" --ops 100 \
		"file:$dir/a.img?engine=uring"
	# A nested URI: the mirror's secondary asked for it.
	expect 77 "refuses io_uring" "$no_uring" $how "$conformance" \
		"mirror:?primary=ram:?size=1M&secondary=file:$dir/a.img%3Fengine=uring"
done
# The thread-pool engine is not what was refused: it runs.
expect 0 "ok" "$no_uring" "$io" "buffered=1&engine=threads"
expect 0 "ok" "$no_uring" "$model" --ops 100 "file:$dir/a.img?engine=threads"
[ $fails = 0 ] || exit 1
echo "all checks passed"
