#!/bin/sh
# test-progress.sh - the progress bar as a person sees it, in a tmux
# terminal of 50 columns: it never wraps, a warning lands on a line of its
# own (not glued to the bar), and the rate shown counts data, not holes.
. "$(dirname "$0")/lib.sh"

need_peer tmux
d=$(mktemp -d /tmp/mblk-progress.XXXXXX)
sock=$d/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$d"' EXIT
truncate -s 64M "$d/src.img"
dd if=/dev/urandom of="$d/src.img" bs=1M count=12 conv=notrunc 2>/dev/null

# run_tmux NAME CMD: runs CMD in a 50x12 terminal, capturing the screen
# every 0.2 s until it ends; the joined lines (a wrapped line comes back
# whole with -J) go to $d/NAME.screens.
run_tmux() {
	name=$1
	shift
	tmux -S "$sock" new-session -d -s "$name" -x 50 -y 12 \
		"$* 2>&1; echo EXIT=\$?; sleep 30"
	: >"$d/$name.screens"
	i=0
	while [ $i -lt 100 ]; do
		tmux -S "$sock" capture-pane -p -J -t "$name" >>"$d/$name.screens"
		grep -q '^EXIT=' "$d/$name.screens" && break
		sleep 0.2
		i=$((i + 1))
	done
	tmux -S "$sock" kill-session -t "$name"
}

# A copy at 4 MiB/s: 3 s of bar.
run_tmux copy "'$MBLK' copy '$d/src.img' '$d/dst.img' --progress --rate 4M"
grep -q '^EXIT=0' "$d/copy.screens" || fail "the copy failed: $(tail -5 "$d/copy.screens")"
grep -q '^copy \[#*\.*\]' "$d/copy.screens" || fail "no bar seen: $(tail -5 "$d/copy.screens")"
long=$(awk 'length($0) > 50 && !/^mblk /' "$d/copy.screens" | head -n 1)
[ -z "$long" ] || fail "a line wider than the 50-column terminal (wrapped): $long"
# The rate is of data: 12 MiB in ~3 s is ~4 MiB/s, never the ~20 MiB/s
# the 64 MiB of positions would give.
rates=$(grep -o '[0-9.]* MiB/s' "$d/copy.screens" | sed 's/ MiB\/s//' | sort -n | tail -n 1)
[ -n "$rates" ] || fail "no rate on the bar"
awk -v r="${rates:-0}" 'BEGIN { exit !(r < 6) }' ||
	fail "the bar's rate ($rates MiB/s) counts holes"

# A mirror whose secondary fails one write: the warning is a line of its
# own, starting with "mblk mirror: warning:".
truncate -s 64M "$d/m.img"
run_tmux mirror "'$MBLK' mirror '$d/src.img' 'fault:?inner=[file:$d/m.img]&fail=write&at=4&errno=EIO' --on-error retry --progress --rate 4M"
grep -q '^EXIT=0' "$d/mirror.screens" || fail "the mirror failed: $(tail -5 "$d/mirror.screens")"
grep -q 'warning:' "$d/mirror.screens" || fail "no warning seen: $(tail -5 "$d/mirror.screens")"
bad=$(grep 'warning:' "$d/mirror.screens" | grep -v '^mblk mirror: warning:' | head -n 1)
[ -z "$bad" ] || fail "a warning shares its line with the bar: $bad"
long=$(awk 'length($0) > 50 && !/^mblk /' "$d/mirror.screens" | head -n 1)
[ -z "$long" ] || fail "a mirror line wider than 50 columns: $long"
cmp "$d/src.img" "$d/m.img" || fail "the mirror's copy differs"
finish
