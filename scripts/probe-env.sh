#!/usr/bin/env bash
# probe-env.sh - what this machine allows the tests to exercise, one line
# each, so a reader of a test log knows what ran and what could only skip.
#
# Usage: scripts/probe-env.sh BUILD_DIR
#
#   io_uring   a file device asked for engine=uring gets it (otherwise the
#              kernel or a seccomp profile refused io_uring_queue_init and
#              every engine=uring test skips: see tests/common/mtest.h)
#   O_DIRECT   opening a file in BUILD_DIR with O_DIRECT works (the file
#              tests keep their scratch files there)
#   loop       a loop block device can be set up (the file-loop-* tests)
#   FUSE       /dev/fuse can be opened and fusermount3 exists
#   seccomp    a seccomp filter can be installed (the io_uring fallback
#              tests forbid io_uring to themselves with one)
#   peers      which peer programs are installed (under CI=true a missing
#              one fails its tests)
#
# Each probe cleans up after itself. Exit status is always 0: this only
# reports.
set -u
BUILD=${1:?usage: probe-env.sh BUILD_DIR}
mkdir -p "$BUILD"
scratch=$(mktemp "$BUILD/probe-XXXXXX.img")
loopdev=""
cleanup() {
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
	rm -f "$scratch"
}
trap cleanup EXIT
truncate -s 1M "$scratch"

say() { printf '  %-9s %s\n' "$1" "$2"; }

# io_uring: ask the library itself, through the CLI of this build.
mblk=$BUILD/mblk
if [ -x "$mblk" ]; then
	out=$("$mblk" info "file:$scratch?engine=uring&lock=0" 2>&1)
	if printf '%s' "$out" | grep -q 'reopen URI:.*engine=uring'; then
		say io_uring "yes (engine=uring tests run on io_uring)"
	elif printf '%s' "$out" | grep -q 'not built\|unknown engine'; then
		say io_uring "not built (no liburing): engine=uring tests skip"
	else
		note=$(printf '%s\n' "$out" | grep -i 'io_uring' | head -n 1 | sed 's/^ *note: *//')
		say io_uring "NO: ${note:-refused}; engine=uring tests skip"
	fi
	if [ -x "$BUILD/tests/no-uring" ]; then
		if "$BUILD/tests/no-uring" true >/dev/null 2>&1; then
			say seccomp "yes (the fallback tests can forbid io_uring)"
		else
			say seccomp "NO: the io_uring fallback tests skip"
		fi
	fi
else
	say io_uring "unknown (no $mblk built)"
fi

fstype=$(stat -f -c %T "$BUILD" 2>/dev/null || echo unknown)
if python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT))' \
	"$scratch" 2>/dev/null; then
	say O_DIRECT "yes on $fstype ($BUILD)"
else
	say O_DIRECT "NO on $fstype ($BUILD): buffered=0 tests fail or skip"
fi

if loopdev=$(losetup -f --show "$scratch" 2>/dev/null) && [ -n "$loopdev" ]; then
	say loop "yes ($loopdev): the file-loop-* and loop conformance tests run"
else
	loopdev=""
	say loop "NO (not root, no loop driver, or a container): loop tests skip"
fi

if [ -c /dev/fuse ] && python3 -c 'import os; os.close(os.open("/dev/fuse", os.O_RDWR))' 2>/dev/null; then
	if command -v fusermount3 >/dev/null || command -v fusermount >/dev/null; then
		say FUSE "yes (/dev/fuse, fusermount)"
	else
		say FUSE "partly: /dev/fuse opens but no fusermount3"
	fi
else
	say FUSE "NO: /dev/fuse cannot be opened"
fi

have=() missing=()
for p in qemu-img qemu-io nbdinfo nbdcopy nbdsh nbdkit nbd-server nbdfuse fio strace; do
	if command -v "$p" >/dev/null 2>&1; then have+=("$p"); else missing+=("$p"); fi
done
say peers "${have[*]:-none}"
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
		say missing "${missing[*]} (CI=true: tests that need them FAIL)"
	else
		say missing "${missing[*]} (tests that need them skip; under CI=true they fail)"
	fi
fi
say kernel "$(uname -r), running as uid $(id -u)${CI:+, CI=$CI}"
exit 0
