#!/usr/bin/env bash
# deps.sh - install everything mblk and all its tests need (Debian 12).
#
# Run as root on a fresh Debian 12; safe to run again. It is quiet: the
# apt output goes to a log file and one line is printed. When every
# package is already installed it does not touch apt at all, so repeat
# runs take a fraction of a second.
#
# To add a dependency, add its Debian package name to PACKAGES below (one
# list for the library, the tests, the CLI and the benchmarks).
set -euo pipefail

PACKAGES=(
	# build
	build-essential pkg-config meson ninja-build g++
	# libraries the code links against
	libuv1-dev liburing-dev libgnutls28-dev
	# mblk serve's control socket and metrics (optional features)
	libjansson-dev libmicrohttpd-dev
	# tests: unit tests, valgrind and sanitizer runs, format check
	libcmocka-dev valgrind clang-format
	# the NBD server's libFuzzer targets (tests/fuzz)
	clang
	# interop peers and tools used by tests and benchmarks
	qemu-utils fio nbdkit libnbd-bin util-linux coreutils python3
	# the NBD server's tests: libnbd's python binding (nbdsh), nbd-server,
	# certtool and psktool for the TLS tests
	python3-libnbd nbd-server gnutls-bin
	# chattr (read-only fallback test), losetup (loop device tests), cmp
	e2fsprogs mount diffutils
	# the CLI tests: a terminal for the progress bar, man for mblk.1
	tmux man-db
	# the rbd device (librbd, librados) and its tests: a throwaway Ceph
	# cluster (tests/rbd/ceph-cluster.sh), qemu-img's rbd driver
	librbd-dev ceph-mon ceph-osd ceph-common qemu-block-extra uuid-runtime
	# the benchmark scripts (bench/*.sh) parse fio's JSON and do sums
	jq bc
	# migration tests: a python client, metrics scrapes and their check
	curl prometheus
)

LOG=${MBLK_DEPS_LOG:-/tmp/mblk-deps.log}

# Packages in PACKAGES that dpkg does not report as installed.
missing_packages() {
	local p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || printf '%s\n' "$p"
	done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

# Installing needs root; say so plainly rather than failing inside apt.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo -n)
	else
		echo "deps: missing ${missing[*]}; run this script as root" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef
	-o Dpkg::Options::=--force-confold --no-install-recommends)
{
	echo "== $(date -u) installing: ${missing[*]}"
	"${SUDO[@]}" apt-get update -q
	"${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${missing[@]}"
} </dev/null >>"$LOG" 2>&1 || {
	echo "deps: apt-get failed installing ${missing[*]}; see $LOG" >&2
	tail -n 20 "$LOG" >&2
	exit 1
}
echo "deps: installed ${missing[*]} (log: $LOG)"
