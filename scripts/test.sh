#!/usr/bin/env bash
# test.sh - the test command: install deps, build, run every test.
#
# Phases, in order (each counts its tests; a check such as a build or the
# format check counts as one test):
#
#   1. deps      scripts/deps.sh (quiet; fast when nothing is missing)
#   2. build     meson setup build-test -Dwerror=true, then ninja; then
#                scripts/probe-env.sh prints what the machine allows
#                (io_uring, O_DIRECT, loop devices, FUSE, peers)
#   3. tests     meson test: every suite except `slow` (MBLK_SLOW=1 adds it)
#   4. asan      a second build with -Db_sanitize=address,undefined running
#                the suites that exercise our code (all but interop, slow)
#   5. valgrind  the unit suite of build-test under valgrind --leak-check
#   6. install   meson install --destdir into a temporary directory, then a
#                small program is compiled and linked against the installed
#                mblk.pc, once shared and once static, and run; so are the
#                C examples in README.md
#   7. format    clang-format --dry-run --Werror on src/ include/ tests/
#   8. headers   every C/C++ source opens with a comment saying what it is
#                (STYLE.md §17); the header compile tests are in `unit`
#
# Results come from meson's JSON test logs, not from scraping the console.
# The last line of output is always exactly "N passed, N failed, N skipped"
# totalled over every phase; the exit status is non-zero if anything failed.
# Details of failures are printed above that line; full logs stay in
# build-*/meson-logs/.
#
# A test skips (exit 77) with its reason when a privilege or kernel
# feature is missing, or when it asked for engine=uring and io_uring is
# refused; a missing peer program is a skip too, except under CI=true,
# where it is a failure (tests/common/mtest.h, peers.sh).
#
# Environment: MBLK_SLOW=1 also runs the `slow` suite; MBLK_NO_ASAN=1 and
# MBLK_NO_VALGRIND=1 skip those phases (counted as skipped) for quick runs.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-test
ASAN_BUILD=$ROOT/build-asan

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()

# note_check NAME STATUS: record one check (STATUS 0 = passed, 77 = skipped).
note_check() {
	local name=$1 status=$2
	case $status in
	0) PASSED=$((PASSED + 1)); echo "  ok    $name" ;;
	77) SKIPPED=$((SKIPPED + 1)); echo "  skip  $name" ;;
	*) FAILED=$((FAILED + 1)); FAILURES+=("$name"); echo "  FAIL  $name" ;;
	esac
}

# count_log PHASE LOGFILE RC: add the results of one meson JSON test log.
# meson writes one JSON object per line, with "name" and "result" (OK,
# EXPECTEDFAIL, SKIP, FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR, ...). RC is
# meson test's exit status: a failure with no results (meson itself
# failed) counts as one failed check.
count_log() {
	local phase=$1 log=$2 rc=$3 p f s
	if [ ! -s "$log" ]; then
		if [ "$rc" -ne 0 ]; then
			note_check "$phase: meson test failed to run" 1
		else
			echo "  $phase: no tests selected"
		fi
		return
	fi
	read -r p f s < <(python3 - "$log" "$phase" <<'PY'
import json, sys
log, phase = sys.argv[1], sys.argv[2]
p = f = s = 0
bad = []
skipped = []
for line in open(log):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    r = t.get("result", "ERROR")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
        why = [l for l in (t.get("stdout") or "").splitlines()
               if "skip" in l.lower()]
        skipped.append("%s: %s" % (t.get("name", "?"),
                                   why[-1].strip() if why else "(no reason given)"))
    else:
        f += 1
        bad.append("%s (%s)" % (t.get("name", "?"), r))
with open(log + ".failures", "w") as out:
    for b in bad:
        out.write("%s: %s\n" % (phase, b))
with open(log + ".skipped", "w") as out:
    for k in skipped:
        out.write("%s\n" % k)
print(p, f, s)
PY
	)
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	SKIPPED=$((SKIPPED + s))
	echo "  $phase: $p passed, $f failed, $s skipped"
	# Every skip with its reason: what did not run here, and why.
	if [ "$s" -gt 0 ]; then
		sed 's/^/    skipped: /' "$log.skipped"
	fi
	if [ "$f" -gt 0 ]; then
		while IFS= read -r line; do
			FAILURES+=("$line")
		done <"$log.failures"
	fi
}

# run_meson_tests PHASE BUILDDIR [meson test args...]: run, then count.
# The console output goes to a file; the failures' logs are printed.
run_meson_tests() {
	local phase=$1 dir=$2
	shift 2
	local base=phase-$phase
	rm -f "$dir/meson-logs/$base".json "$dir/meson-logs/$base"-*.json
	local rc=0
	meson test -C "$dir" --no-rebuild --print-errorlogs --logbase "$base" \
		"$@" >"$dir/meson-logs/$base.console" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		# Show the end of the console log: the failing tests' output.
		tail -n 60 "$dir/meson-logs/$base.console" | sed 's/^/    | /'
	fi
	# With --wrap, meson appends the wrapper's name to the log's name.
	local log=/nonexistent f
	for f in "$dir/meson-logs/$base".json "$dir/meson-logs/$base"-*.json; do
		if [ -e "$f" ]; then
			log=$f
			break
		fi
	done
	count_log "$phase" "$log" $rc
}

# setup_build DIR [meson options...]: configure (or reconfigure) and build.
setup_build() {
	local dir=$1
	shift
	local log=$dir.build.log
	if [ -d "$dir/meson-private" ]; then
		meson setup --reconfigure "$dir" "$@" >"$log" 2>&1 &&
			ninja -C "$dir" >>"$log" 2>&1
	else
		meson setup "$dir" "$@" >"$log" 2>&1 &&
			ninja -C "$dir" >>"$log" 2>&1
	fi
}

# The suites to run: everything but `slow` unless asked.
SUITE_ARGS=()
[ "${MBLK_SLOW:-0}" = 1 ] || SUITE_ARGS=(--no-suite slow)

echo "== deps"
bash scripts/deps.sh

# ---------------------------------------------------------------------
echo "== build (-Dwerror=true)"
build_ok=0
if setup_build "$BUILD" -Dwerror=true; then
	note_check "build (werror)" 0
	build_ok=1
else
	tail -n 40 "$BUILD.build.log" | sed 's/^/    | /'
	note_check "build (werror)" 1
fi

# What this machine lets the tests exercise, before any result: a reader
# of the log sees whether io_uring, O_DIRECT, loop devices and FUSE were
# there, and which peers are missing (the tests needing them skip, or
# fail under CI=true). Kept in build-test/meson-logs/environment.txt.
echo "== environment"
if [ $build_ok = 1 ]; then
	bash scripts/probe-env.sh "$BUILD" | tee "$BUILD/meson-logs/environment.txt"
fi

echo "== tests"
if [ $build_ok = 1 ]; then
	run_meson_tests all "$BUILD" "${SUITE_ARGS[@]}"
fi

# ---------------------------------------------------------------------
echo "== asan+ubsan"
export ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ "${MBLK_NO_ASAN:-0}" = 1 ]; then
	note_check "asan (MBLK_NO_ASAN=1)" 77
elif setup_build "$ASAN_BUILD" -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug; then
	note_check "build (asan+ubsan)" 0
	run_meson_tests asan "$ASAN_BUILD" --timeout-multiplier 3 \
		--no-suite interop "${SUITE_ARGS[@]}"
else
	tail -n 40 "$ASAN_BUILD.build.log" | sed 's/^/    | /'
	note_check "build (asan+ubsan)" 1
fi

# ---------------------------------------------------------------------
# The NBD server's libFuzzer targets, a fixed number of executions each
# (tests/fuzz; scripts/fuzz.sh runs them long).
echo "== fuzz (libFuzzer, short)"
FUZZ_BUILD=$ROOT/build-fuzz
if [ "${MBLK_NO_FUZZ:-0}" = 1 ]; then
	note_check "fuzz (MBLK_NO_FUZZ=1)" 77
elif CC=clang CXX=clang++ setup_build "$FUZZ_BUILD" -Dfuzz=true \
	-Db_sanitize=address,undefined -Db_lundef=false; then
	note_check "build (fuzz)" 0
	run_meson_tests fuzz "$FUZZ_BUILD" --suite fuzz
else
	tail -n 40 "$FUZZ_BUILD.build.log" | sed 's/^/    | /'
	note_check "build (fuzz)" 1
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# ---------------------------------------------------------------------
echo "== valgrind (unit)"
if [ "${MBLK_NO_VALGRIND:-0}" = 1 ]; then
	note_check "valgrind (MBLK_NO_VALGRIND=1)" 77
elif [ $build_ok = 1 ]; then
	run_meson_tests valgrind "$BUILD" --suite unit --no-suite headers --timeout-multiplier 10 \
		--wrap='valgrind --error-exitcode=1 --leak-check=full --quiet'
fi

# ---------------------------------------------------------------------
# Install into a temporary root and build a user program against mblk.pc
# the way a distribution would: PKG_CONFIG_SYSROOT_DIR makes pkg-config
# prefix the -I/-L paths with the staging directory.
echo "== install"
install_check() {
	local dest=$1 kind=$2 pcdir libdir cflags libs
	pcdir=$(dirname "$(find "$dest" -name mblk.pc | head -n 1)")
	[ -n "$pcdir" ] && [ "$pcdir" != . ] || return 1
	libdir=$(dirname "$pcdir")
	cflags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
		pkg-config --cflags mblk)
	if [ "$kind" = shared ]; then
		libs=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
			pkg-config --libs mblk)
	else
		# The static archive by name, then its private dependencies.
		libs=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
			pkg-config --static --libs mblk |
			sed 's/-lmblk\b/-l:libmblk.a/')
	fi
	# shellcheck disable=SC2086 # word splitting of flags is intended
	cc -std=c11 -Wall -Wextra -Werror -o "$dest/hello-$kind" \
		"$ROOT/tests/install/hello.c" $cflags $libs &&
		LD_LIBRARY_PATH=$libdir "$dest/hello-$kind"
}
# readme_examples DEST: every ```c block of README.md, built against the
# staged install and run.
readme_examples() {
	local dest=$1 pcdir n=0 f
	pcdir=$(dirname "$(find "$dest" -name mblk.pc | head -n 1)")
	python3 - "$ROOT/README.md" "$dest/readme-example" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for i, block in enumerate(re.findall(r"```c\n(.*?)```", text, re.S)):
    open("%s-%d.c" % (sys.argv[2], i), "w").write(block)
PY
	for f in "$dest"/readme-example-*.c; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		# shellcheck disable=SC2046 # word splitting of flags is intended
		cc -std=c11 -Wall -Wextra -Werror -o "${f%.c}" "$f" \
			$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
				pkg-config --cflags --libs mblk) &&
			LD_LIBRARY_PATH=$(dirname "$pcdir") "${f%.c}" || return 1
	done
	echo "$n examples"
}
if [ $build_ok = 1 ]; then
	DEST=$(mktemp -d /tmp/mblk-install.XXXXXX)
	if DESTDIR=$DEST meson install -C "$BUILD" --no-rebuild \
		>"$BUILD/meson-logs/install.log" 2>&1; then
		note_check "meson install" 0
		for kind in shared static; do
			rc=0
			install_check "$DEST" $kind >"$DEST/$kind.log" 2>&1 || rc=$?
			[ $rc -eq 0 ] || sed 's/^/    | /' "$DEST/$kind.log"
			note_check "link against installed mblk.pc ($kind)" $rc
		done
		# The README's C examples must build and run as printed.
		rc=0
		readme_examples "$DEST" >"$DEST/readme.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || sed 's/^/    | /' "$DEST/readme.log"
		note_check "README.md C examples build and run" $rc
	else
		tail -n 20 "$BUILD/meson-logs/install.log" | sed 's/^/    | /'
		note_check "meson install" 1
	fi
	rm -rf "$DEST"
fi

# ---------------------------------------------------------------------
echo "== format"
# The tracked and new (not ignored) C/C++ files; find(1) outside git.
list_sources() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard -- src include tests
	else
		find src include tests -type f
	fi | grep -E '\.(c|h|cc|cpp|hpp)$' | while read -r f; do
		[ -f "$f" ] && echo "$f"
	done
}
mapfile -t SOURCES < <(list_sources)
fmt_log=$(mktemp)
if clang-format --dry-run --Werror "${SOURCES[@]}" >"$fmt_log" 2>&1; then
	note_check "clang-format (${#SOURCES[@]} files)" 0
else
	grep -E '^[^ ].*: (error|warning):' "$fmt_log" | cut -d: -f1 | sort -u |
		sed 's/^/    | not formatted: /'
	echo "    | fix with: bash scripts/format.sh (or clang-format -i FILE)"
	note_check "clang-format (${#SOURCES[@]} files)" 1
fi
rm -f "$fmt_log"

# ---------------------------------------------------------------------
echo "== headers"
# STYLE.md §17: every file opens with a comment saying what it is.
bad=()
for f in "${SOURCES[@]}"; do
	head -n 1 "$f" | grep -qE '^(/\*|//)' || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
	note_check "file header comments (${#SOURCES[@]} files)" 0
else
	printf '    | no opening comment: %s\n' "${bad[@]}"
	note_check "file header comments" 1
fi

# ---------------------------------------------------------------------
if [ ${#FAILURES[@]} -gt 0 ]; then
	echo "== failures"
	printf '  %s\n' "${FAILURES[@]}"
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
