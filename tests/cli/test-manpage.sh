#!/bin/sh
# test-manpage.sh - docs/mblk.1 and each subcommand's --help list the same
# options with the same short letters; a short letter means one thing in
# every subcommand; the page renders without warnings and installs so
# that `man mblk` finds it.
. "$(dirname "$0")/lib.sh"

page=$(dirname "$0")/../../docs/mblk.1
[ -f "$page" ] || { fail "no $page"; finish; }
d=$(mktemp -d /tmp/mblk-man.XXXXXX)
trap 'rm -rf "$d"' EXIT

for sub in info map copy compare create resize bench mirror; do
	expect_rc 0 "$MBLK" $sub --help || continue
	# --help: "  -x, --long" or "      --long" lines of the Options part.
	printf '%s\n' "$OUT" | sed -n '/^Options:/,/^$/p' |
		sed -n 's/^ \{2,6\}\(-[A-Za-z], \)\{0,1\}\(--[a-z-]*\).*/\1\2/p' |
		sed 's/, / /' | grep -v -- '--help' | sort >"$d/help.$sub"
	# The page: the .TP items of the subcommand's section.
	awk -v s="mblk $sub " '
		/^\.SS/ { on = index($0, s) > 0; next }
		/^\.SH/ { on = 0 }
		on && prev == ".TP" { print }
		{ prev = $0 }' "$page" |
		sed 's/\\-/-/g; s/"//g; s/ ,  */, /' |
		sed -n 's/^\.B[R]\{0,1\} \(-[A-Za-z]\), \(--[a-z-]*\).*/\1 \2/p; s/^\.B[R]\{0,1\} \(--[a-z-]*\).*/\1/p' |
		sort >"$d/man.$sub"
	diff "$d/help.$sub" "$d/man.$sub" >"$d/diff.$sub" ||
		fail "mblk $sub: --help and mblk.1 disagree (< help, > page): $(cat "$d/diff.$sub")"
	[ -s "$d/help.$sub" ] || [ $sub = info ] || [ $sub = map ] ||
		fail "mblk $sub: no options found in --help"
done
# One meaning per short letter, across subcommands. The same meaning under
# two long names is allowed: -q requests in flight (copy --requests, bench
# --qd), -B a request size (bench --bs, mirror --load-bs), -T seconds to
# run (bench --time, mirror --load-time).
cat "$d"/help.* | grep '^-' | sort -u |
	grep -v -e '^-q --requests$' -e '^-B --load-bs$' -e '^-T --load-time$' | awk '
	{ n[$1]++; l[$1] = l[$1] " " $2 }
	END { for (k in n) if (n[k] > 1) print k ":" l[k] }' >"$d/clash"
[ ! -s "$d/clash" ] || fail "short options with two meanings: $(cat "$d/clash")"
# Renders without warnings.
if command -v man >/dev/null; then
	w=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "man warns: $w"
fi
# Installs where man finds it.
build=$(dirname "$MBLK")
if [ -f "$build/meson-info/intro-installed.json" ] && command -v man >/dev/null; then
	meson install -C "$build" --destdir "$d/root" --no-rebuild --quiet \
		>"$d/install.log" 2>&1 || fail "meson install failed: $(tail -3 "$d/install.log")"
	m=$(find "$d/root" -name 'mblk.1*' | head -n 1)
	[ -n "$m" ] || fail "meson install did not install mblk.1"
	if [ -n "$m" ]; then
		mandir=$(dirname "$(dirname "$m")")
		MANPATH=$mandir man -w mblk >/dev/null 2>&1 ||
			fail "man mblk does not find the installed page under $mandir"
	fi
fi
finish
