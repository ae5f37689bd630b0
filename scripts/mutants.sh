#!/usr/bin/env bash
# mutants.sh - mutation testing: put one small plausible bug into a copy of
# the tree at a time, build it, run the tests likeliest to catch it, and
# report whether they did. Not part of CI (too slow): run it by hand and
# record the score in docs/testing.md.
#
# Usage: scripts/mutants.sh [--timeout SECS] [--keep] [--list] [PATCH...]
#   PATCH      tests/mutants/NN-name.patch files (default: all of them)
#   --timeout  bound on each test run of a mutant (default 300 s); a run
#              that passes it is UNDECIDED (not scored): raise the bound.
#              A test that hits its own meson timeout is a kill, marked
#              "(TIMEOUT)" (a hang, not a clean failure)
#   --list     print the mutants and their tests, run nothing
#   --keep     keep the scratch copy (its path is printed)
#
# Each patch opens with a header, then the diff (git apply skips the
# header):
#   Mutant: one line saying what bug it plants
#   Tests: the meson test names to run first, separated by commas
#   Suites: the suites to run if those tests all pass, separated by
#           spaces (optional)
#
# For each mutant: apply the patch to the scratch copy (a copy of the
# working tree's tracked and new files under /tmp, built once in
# scratch/build), rebuild (a mutant that does not build is "stillborn"
# and not scored), run its Tests, then its Suites if nothing failed yet,
# and revert the patch. Killed: some test failed (the first failing test
# is named). Survived: everything passed. The last line is the score:
#   mutants: K killed, S survived, B stillborn, U undecided, of N run;
#   score K/(K+S)
# Results also go to scratch/mutants-results.txt (and are printed).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TIMEOUT=300
KEEP=0
LIST=0
PATCHES=()
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) TIMEOUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--list) LIST=1; shift ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	*) PATCHES+=("$1"); shift ;;
	esac
done
[ ${#PATCHES[@]} -gt 0 ] || PATCHES=("$ROOT"/tests/mutants/*.patch)

header() { sed -n "s/^$2: *//p" "$1" | head -n 1; }

if [ $LIST = 1 ]; then
	for p in "${PATCHES[@]}"; do
		printf '%-40s %s\n    tests: %s; suites: %s\n' "$(basename "$p" .patch)" \
			"$(header "$p" Mutant)" "$(header "$p" Tests)" "$(header "$p" Suites)"
	done
	exit 0
fi

SCRATCH=$(mktemp -d /tmp/mblk-mutants.XXXXXX)
cleanup() {
	if [ $KEEP = 1 ]; then
		echo "scratch copy kept: $SCRATCH"
	else
		rm -rf "$SCRATCH"
	fi
}
trap cleanup EXIT
# The tracked and new (not ignored) files, as they are now.
git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xf - -C "$SCRATCH"
RESULTS=$SCRATCH/mutants-results.txt
: >"$RESULTS"
echo "== scratch copy $SCRATCH: building the unmutated tree"
if ! (cd "$SCRATCH" && meson setup build >build.log 2>&1 && ninja -C build >>build.log 2>&1); then
	tail -n 30 "$SCRATCH/build.log"
	echo "the unmutated tree does not build"
	exit 1
fi

# run_tests NAME... : runs meson tests (names, or --suite X); prints the
# first test that did not pass and its result, or nothing if all passed.
run_tests() {
	local log=$SCRATCH/build/meson-logs/mutant.json
	rm -f "$log"
	(cd "$SCRATCH" && timeout "$TIMEOUT" meson test -C build --no-rebuild \
		--logbase mutant "$@" >"$SCRATCH/test.console" 2>&1)
	local rc=$?
	if [ $rc = 124 ]; then
		echo "BOUND"
		return
	fi
	[ -s "$log" ] || { [ $rc = 0 ] || echo "(meson test failed: rc $rc)"; return; }
	python3 - "$log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    t = json.loads(line)
    r = t.get("result")
    if r not in ("OK", "SKIP", "EXPECTEDFAIL"):
        name = t.get("name", "?").split(" / ", 1)[-1]
        print("%s (%s)%s" % (name, r, " (timeout)" if r == "TIMEOUT" else ""))
        break
PY
}

killed=0 survived=0 stillborn=0 undecided=0 n=0
for p in "${PATCHES[@]}"; do
	name=$(basename "$p" .patch)
	n=$((n + 1))
	what=$(header "$p" Mutant)
	IFS=, read -ra tests <<<"$(header "$p" Tests)"
	read -ra suites <<<"$(header "$p" Suites)"
	if ! (cd "$SCRATCH" && git apply "$p") 2>"$SCRATCH/apply.log"; then
		line="STILLBORN $name: the patch does not apply ($(head -n 1 "$SCRATCH/apply.log"))"
		stillborn=$((stillborn + 1))
		echo "$line" | tee -a "$RESULTS"
		continue
	fi
	start=$(date +%s)
	if ! (cd "$SCRATCH" && timeout "$TIMEOUT" ninja -C build >"$SCRATCH/mutant-build.log" 2>&1); then
		line="STILLBORN $name: does not build"
		stillborn=$((stillborn + 1))
	else
		by=""
		if [ ${#tests[@]} -gt 0 ]; then
			# Trim the spaces after the commas.
			for i in "${!tests[@]}"; do
				tests[i]=$(printf '%s' "${tests[i]}" | sed 's/^ *//; s/ *$//')
			done
			by=$(run_tests "${tests[@]}")
		fi
		if [ -z "$by" ] && [ ${#suites[@]} -gt 0 ]; then
			args=()
			for s in "${suites[@]}"; do args+=(--suite "$s"); done
			by=$(run_tests "${args[@]}" --no-suite slow)
		fi
		secs=$(($(date +%s) - start))
		if [ "$by" = BOUND ]; then
			line="UNDECIDED $name [${secs}s]: the tests passed their $TIMEOUT s bound: $what"
			undecided=$((undecided + 1))
		elif [ -n "$by" ]; then
			line="KILLED    $name by $by [${secs}s]: $what"
			killed=$((killed + 1))
		else
			line="SURVIVED  $name [${secs}s]: $what"
			survived=$((survived + 1))
		fi
	fi
	echo "$line" | tee -a "$RESULTS"
	(cd "$SCRATCH" && git apply -R "$p")
done
# Leave the scratch build as the unmutated tree had it (for --keep).
scored=$((killed + survived))
pct=0
[ $scored -gt 0 ] && pct=$((100 * killed / scored))
echo "mutants: $killed killed, $survived survived, $stillborn stillborn, $undecided undecided, of $n run; score $killed/$scored ($pct%)" |
	tee -a "$RESULTS"
