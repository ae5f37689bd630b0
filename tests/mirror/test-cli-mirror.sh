#!/bin/sh
# test-cli-mirror.sh - `mblk mirror` from the shell: between ram devices
# (always), and between two files (needs the file device; those checks
# are skipped without it): identical contents (qemu-img compare when it
# is installed, cmp otherwise), the same holes, progress JSON, a created
# sparse destination, refusals, and a foreground write load that must
# still converge.
. "$(dirname "$0")/../cli/lib.sh"

# ram: in sync, exit 0, JSON progress ending in ok.
expect_rc 0 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=8M' --progress=json && {
	OUT=$(printf '%s\n' "$OUT" | tail -n 1)
	check ram_json "$(json_get 'j["ok"] and j["done"] == j["total"]')" True
}
# Sizes must match; the sentence says so.
expect_rc 1 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=4M' && expect_sentence
case "$ERR" in *"same size"*) ;; *) fail "size sentence: $ERR" ;; esac
# A write load while copying still converges.
expect_rc 0 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=8M' --write-load 16 \
	--buffer 256K
case "$ERR" in *"in sync after"*) ;; *) fail "load summary: $ERR" ;; esac
# --mode active: active from the start, and it still converges.
expect_rc 0 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=8M' --write-load 16 \
	--buffer 256K --mode active --progress=json && {
	OUT=$(printf '%s\n' "$OUT" | tail -n 1)
	check mode_active "$(json_get 'j["load"]["started_active"]')" True
}
case "$ERR" in *"active mode from the start"*) ;; *) fail "mode summary: $ERR" ;; esac
expect_rc 2 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=8M' --mode fast
# Bad options.
expect_rc 2 "$MBLK" mirror 'ram:a?size=8M' 'ram:b?size=8M' --chunk 3000
expect_rc 2 "$MBLK" mirror 'ram:a?size=8M'

d=$(mktemp -d /tmp/mblk-mirror.XXXXXX)
trap 'rm -rf "$d"' EXIT
if ! "$MBLK" info "file:$d/none" 2>&1 | grep -qv 'not built'; then
	echo "the file device is not built; skipping the file checks"
	finish
fi
src=$d/src.img
truncate -s 40M "$src"
dd if=/dev/urandom of="$src" bs=1M count=3 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$src" bs=1M count=2 seek=17 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$src" bs=4k count=3 seek=10237 conv=notrunc 2>/dev/null

same() {
	if command -v qemu-img >/dev/null; then
		qemu-img compare -q -f raw -F raw "$1" "$2" ||
			fail "qemu-img compare: $1 and $2 differ"
	else
		cmp "$1" "$2" || fail "$1 and $2 differ"
	fi
}
# The data/hole layout of a file, as SEEK_DATA/SEEK_HOLE see it.
layout() {
	python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off, out = 0, []
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    out.append("%d-%d" % (d, h))
    off = h
print(" ".join(out))
PY
}

# A new destination: created sparse, identical, same holes.
expect_rc 0 "$MBLK" mirror "$src" "$d/new.img" --progress=json && {
	same "$src" "$d/new.img"
	check holes "$(layout "$d/new.img")" "$(layout "$src")"
	OUT=$(printf '%s\n' "$OUT" | tail -n 1)
	check file_json "$(json_get 'j["ok"]')" True
}
# An existing destination full of junk: identical afterwards.
dd if=/dev/urandom of="$d/old.img" bs=1M count=40 2>/dev/null
expect_rc 0 "$MBLK" mirror "file:$src" "file:$d/old.img" --buffer 1M \
	--rate 1G && same "$src" "$d/old.img"
# Foreground writes while mirroring between files.
cp --sparse=always "$src" "$d/live.img"
expect_rc 0 "$MBLK" mirror "$d/live.img" "$d/live2.img" --write-load 8 \
	--buffer 512K && same "$d/live.img" "$d/live2.img"
# The same in active mode from the start.
rm -f "$d/live2.img"
expect_rc 0 "$MBLK" mirror "$d/live.img" "$d/live2.img" --write-load 8 \
	--buffer 512K --mode active && same "$d/live.img" "$d/live2.img"
# A failing mirror leaves no destination it created behind.
truncate -s 40M "$d/f.img"
expect_rc 1 "$MBLK" mirror "$src" "fault:?inner=file:$d/f.img&fail=write&at=2" \
	&& expect_sentence
case "$ERR" in *"injected EIO"*) ;; *) fail "failure sentence: $ERR" ;; esac
expect_rc 1 "$MBLK" mirror "fault:?inner=file:$src&fail=read&after=1" "$d/x.img" \
	&& expect_sentence
[ ! -e "$d/x.img" ] || fail "a failed mirror left x.img behind"
# By URI: mblk bench on a mirror drives a load through it.
expect_rc 0 "$MBLK" bench "mirror:?primary=file:$d/live.img&secondary=file:$d/old.img" \
	--rw randwrite --bs 4k --qd 8 --time 0.3
finish
