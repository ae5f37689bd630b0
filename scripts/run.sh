#!/usr/bin/env bash
# run.sh - the main command: install deps, build, and run `mblk` on an
# embedded ram: default, so that it works with no disk image at hand.
#
#   1. scripts/deps.sh (quiet; fast when nothing is missing)
#   2. meson setup build && ninja -C build
#   3. mblk bench: 4 KiB random reads at queue depth 32 for 3 seconds on
#      a 1 GiB ram: device (bench lays the data out first, as fio does)
#   4. mblk copy between two ram: devices, then mblk info of the result.
#      A ram: device lives in its process, so a fresh one is all holes:
#      the copy shows hole skipping (1 GiB in no time) rather than data.
#   5. if this mblk has the file: device, the same copy to a sparse file
#      in a temporary directory, and mblk info / map of the file.
#
# Environment: MBLK_RUN_TIME=SECONDS for the bench (default 3),
# MBLK_RUN_SIZE for the devices (default 1G).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=build
TIME=${MBLK_RUN_TIME:-3}
SIZE=${MBLK_RUN_SIZE:-1G}

# step TEXT: print a heading, then the command lines as they run.
step() {
	echo
	echo "== $*"
}

# run CMD...: show a command, then run it.
run() {
	echo "\$ $*"
	"$@"
}

step "deps"
bash scripts/deps.sh

step "build"
if [ ! -d "$BUILD/meson-private" ]; then
	meson setup "$BUILD" >"$BUILD.setup.log" 2>&1 || {
		cat "$BUILD.setup.log" >&2
		exit 1
	}
fi
ninja -C "$BUILD" >"$BUILD.ninja.log" 2>&1 || {
	tail -n 40 "$BUILD.ninja.log" >&2
	exit 1
}
echo "built in $BUILD/"

# The CLI's meson file decides where the binary lands; accept both.
MBLK=
for candidate in "$BUILD/mblk" "$BUILD/src/cli/mblk"; do
	if [ -x "$candidate" ]; then
		MBLK=$candidate
		break
	fi
done
if [ -z "$MBLK" ]; then
	echo "run.sh: the mblk command is not built in this tree yet" \
		"(looked for $BUILD/mblk and $BUILD/src/cli/mblk);" \
		"the library and its tests are: bash scripts/test.sh" >&2
	exit 1
fi

step "bench: 4 KiB random reads, QD 32, ${TIME}s, on ram: ($SIZE)"
run "$MBLK" bench "ram:demo?size=$SIZE" --rw randread --bs 4k --qd 32 \
	--time "$TIME"

step "copy: ram:src -> ram:dst ($SIZE, all holes in a fresh process)"
run "$MBLK" copy "ram:src?size=$SIZE" "ram:dst?size=$SIZE"
run "$MBLK" info "ram:dst?size=$SIZE"

# The file: device arrives in its own branch; use it when it is here.
TMP=$(mktemp -d /tmp/mblk-run.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
step "a sparse image: 256 MiB, data written at random in its first 64 MiB"
run truncate -s 256M "$TMP/src.raw"
run "$MBLK" bench "$TMP/src.raw" --rw randwrite --bs 1M --qd 4 --size 64M \
	--time 1
run "$MBLK" map "$TMP/src.raw"

step "copy it (holes skipped, the copy as sparse as the source), then compare"
run "$MBLK" copy "$TMP/src.raw" "$TMP/copy.raw"
run "$MBLK" info "$TMP/copy.raw"
run cmp "$TMP/src.raw" "$TMP/copy.raw"
echo "identical; allocated: source $(du -k "$TMP/src.raw" | cut -f1) KiB," \
	"copy $(du -k "$TMP/copy.raw" | cut -f1) KiB"

step "serve the image over NBD while qemu-img and nbdinfo read it"
if command -v qemu-img >/dev/null && command -v nbdinfo >/dev/null; then
	run env COPY="$TMP/copy.raw" "$MBLK" serve "$TMP/src.raw" --read-only --run \
		'qemu-img compare -f raw -F raw "$COPY" "$uri" && nbdinfo --map "$uri" | head -n 4'
else
	echo "(qemu-img or nbdinfo missing: scripts/deps.sh installs them)"
fi
echo
echo "run.sh: done"
