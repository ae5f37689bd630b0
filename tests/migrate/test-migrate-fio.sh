#!/usr/bin/env bash
# test-migrate-fio.sh - fio's nbd engine writes with verification through
# `mblk serve src.img --mirror-to dst.img --pivot=auto` while the disk
# moves (random 4 KiB writes at QD 16, each block checked with crc32c as
# fio goes and again at the end); the job spans the pivot, on one
# connection. Then src.img is deleted, the server quits, and fio's
# verify_only pass reads dst.img offline with the same seed: every block
# must hold what fio wrote. The rest of the image (not written by fio)
# must equal the original source.
#
# Usage: test-migrate-fio.sh PATH-TO-MBLK SEED
set -u
MBLK=$(realpath "${1:?usage: $0 PATH-TO-MBLK SEED}")
SEED=${2:-1}
T=$(mktemp -d /tmp/mblk-migrate-fio.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/serve.log" ] && sed 's/^/  serve: /' "$T/serve.log" >&2
	exit 1
}
if ! command -v fio >/dev/null || ! fio --enghelp=nbd >/dev/null 2>&1; then
	echo "SKIP: fio with its nbd engine is not installed (scripts/deps.sh)"
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi

# 32 MiB, a quarter of it data; fio writes the first 16 MiB.
truncate -s 32M "$T/src.img"
for i in $(seq 0 4 127); do
	dd if=/dev/urandom of="$T/src.img" bs=256K seek=$(((i * 7 + SEED) % 128)) \
		count=1 conv=notrunc status=none
done
cp --sparse=always "$T/src.img" "$T/orig.img"

"$MBLK" serve "$T/src.img" --mirror-to "$T/dst.img" --pivot=auto --rate 1M \
	--unix "$T/nbd.sock" --control "$T/ctl.sock" \
	>"$T/serve.out" 2>"$T/serve.log" &
SPID=$!
for _ in $(seq 100); do
	[ -s "$T/serve.out" ] && [ -S "$T/ctl.sock" ] && break
	sleep 0.05
done
URI=$(head -n1 "$T/serve.out")
[ -n "$URI" ] || fail "mblk serve did not start"

# verify_backlog checks blocks while writing; verify_only (the later
# passes) must run without it, or fio verifies nothing.
JOB=(--name=migrate --rw=randwrite --bs=4k --iodepth=16 --size=16M
	--randseed="$SEED" --verify=crc32c --verify_fatal=1)
fio "${JOB[@]}" --verify_backlog=512 --rate_iops=800 --ioengine=nbd --uri="$URI" --output="$T/fio.out" &
FPID=$!
sleep 0.5
BEFORE=$("$MBLK" ctl "$T/ctl.sock" status --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["mirror"]["state"])')
# Lift the rate limit mid-job: the copy then converges while fio writes.
"$MBLK" ctl "$T/ctl.sock" set-rate 0 >/dev/null || fail "set-rate 0 was refused"
wait "$FPID" || fail "fio through the export: $(cat "$T/fio.out")"
[ "$BEFORE" = copying ] ||
	fail "the mirror was $BEFORE, not copying, while fio ran: the job did not span the pivot"
# The pivot came while fio was writing: pivoted by the time it ended.
STATE=$("$MBLK" ctl "$T/ctl.sock" status --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["mirror"]["state"])')
[ "$STATE" = pivoted ] ||
	fail "the mirror was $STATE when fio ended, not pivoted: the job did not span the pivot"
ls -l /proc/$SPID/fd 2>/dev/null | grep -q "src.img" &&
	fail "src.img is still open after the pivot"
rm "$T/src.img"
# A second pass after the pivot, on DST alone: read and verify.
fio "${JOB[@]}" --verify_only=1 --ioengine=nbd --uri="$URI" \
	--output="$T/fio2.out" || fail "fio's verify through the export: $(cat "$T/fio2.out")"
"$MBLK" ctl "$T/ctl.sock" quit >/dev/null || fail "quit was refused"
wait "$SPID"
RC=$?
SPID=
[ "$RC" = 0 ] || fail "mblk serve exited $RC"
fio "${JOB[@]}" --verify_only=1 --ioengine=psync \
	--filename="$T/dst.img" --output="$T/fio3.out" ||
	fail "dst.img read offline does not hold what fio wrote: $(cat "$T/fio3.out")"
# The check can fail: one flipped byte in a copy is found.
cp "$T/dst.img" "$T/bad.img"
printf 'X' | dd of="$T/bad.img" bs=1 seek=$((4096 * 1000 + 100)) conv=notrunc status=none
fio "${JOB[@]}" --verify_only=1 --ioengine=psync --filename="$T/bad.img" \
	--output="$T/fio4.out" >/dev/null 2>&1 &&
	fail "fio's verify_only did not notice a corrupted block"
cmp -i 16M "$T/orig.img" "$T/dst.img" ||
	fail "the part of dst.img fio did not write differs from the source"
echo "ok: fio (seed $SEED) wrote and verified across the pivot; dst.img verified offline"
