#!/bin/sh
# test-interrupt.sh - a real SIGINT / SIGTERM in the middle of a
# multi-GiB copy and mirror: the command stops, says in one sentence that
# DST is incomplete and how much was done, ends --progress=json with an
# "interrupted" line, exits 130 / 143, and removes a DST it created (an
# existing DST stays). --rate keeps the copy going for ~10 s whatever the
# disk, so the signal lands in the middle.
. "$(dirname "$0")/lib.sh"

d=$(mktemp -d /tmp/mblk-intr.XXXXXX)
trap 'rm -rf "$d"' EXIT
# 2 GiB of non-zero data (zeros would be detected and skipped).
head -c 2G /dev/zero | tr '\0' 'x' >"$d/src.img" ||
	{ echo "cannot write 2 GiB in $d; skipping"; exit 77; }

# run_signal SIG WANT_RC ARGS...: starts mblk ARGS, sends SIG after 1.5 s.
run_signal() {
	sig=$1 wantrc=$2
	shift 2
	"$MBLK" "$@" >"$d/out" 2>"$d/err" &
	pid=$!
	sleep 1.5
	kill -"$sig" $pid
	wait $pid
	rc=$?
	OUT=$(cat "$d/out")
	ERR=$(cat "$d/err")
	[ "$rc" = "$wantrc" ] || fail "$* after SIG$sig exited $rc, expected $wantrc; stderr: $ERR"
}

# copy, new DST, SIGINT: 130, the sentence, the JSON end, DST removed.
run_signal INT 130 copy "$d/src.img" "$d/new.img" --rate 200M --progress=json
expect_sentence
printf '%s' "$ERR" | grep -Eq "^mblk copy: interrupted by SIGINT: '.*new.img' is incomplete: [0-9.]+ [KMG]iB of 2.00 GiB done \([0-9]+%\), and it was removed" ||
	fail "copy SIGINT sentence: $ERR"
OUT=$(printf '%s\n' "$OUT" | tail -n 1)
check copy_json_end "$(json_get 'j["finished"], j["ok"], j["outcome"], j["signal"], 0 < j["done"] < j["total"]')" \
	"True False interrupted SIGINT True"
[ ! -e "$d/new.img" ] || fail "an interrupted copy left the DST it created"

# copy onto an existing DST, SIGTERM: 143, DST kept and incomplete.
truncate -s 2G "$d/old.img"
run_signal TERM 143 copy "$d/src.img" "$d/old.img" --rate 200M
printf '%s' "$ERR" | grep -q "interrupted by SIGTERM: '.*old.img' is incomplete" ||
	fail "copy SIGTERM sentence: $ERR"
[ -e "$d/old.img" ] || fail "an interrupted copy removed an existing DST"
expect_rc 1 "$MBLK" compare "$d/src.img" "$d/old.img"

# mirror, new DST, SIGINT: the same rule.
run_signal INT 130 mirror "$d/src.img" "$d/m.img" --rate 200M --progress=json
printf '%s' "$ERR" | grep -q "^mblk mirror: interrupted by SIGINT: '.*m.img' is incomplete: .* copied" ||
	fail "mirror SIGINT sentence: $ERR"
OUT=$(printf '%s\n' "$OUT" | tail -n 1)
check mirror_json_end "$(json_get 'j["outcome"]')" interrupted
[ ! -e "$d/m.img" ] || fail "an interrupted mirror left the DST it created"
finish
