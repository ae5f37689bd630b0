#!/usr/bin/env bash
# fuzz.sh - run the NBD server's libFuzzer targets for a long time, each
# with its own corpus under build-fuzz/corpus-NAME (kept between runs and
# seeded from tests/fuzz/seeds). CI runs them briefly (scripts/test.sh,
# suite `fuzz`); this is for finding what a brief run does not.
#   bash scripts/fuzz.sh [SECONDS-PER-TARGET]   (default 600)
# A crash leaves its input in build-fuzz/ (crash-*): replay it with
#   build-fuzz/tests/fuzz/fuzz-nbd-handshake crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
dir=build-fuzz
if [ ! -d "$dir/meson-private" ]; then
	CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$dir" tests/fuzz/fuzz-nbd-handshake tests/fuzz/fuzz-nbd-transmit
for t in handshake transmit; do
	corpus=$dir/corpus-$t
	mkdir -p "$corpus"
	cp -n tests/fuzz/seeds/"$t"-* "$corpus"/ 2>/dev/null || true
	echo "== fuzz-nbd-$t for ${secs}s"
	(cd "$dir" && ./tests/fuzz/fuzz-nbd-$t -max_total_time="$secs" \
		-max_len=65536 -timeout=10 "corpus-$t")
done
