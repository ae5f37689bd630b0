#!/bin/sh
# mirror_bench.sh - the live mirror against mblk copy and cp, and the cost
# of foreground writes through a mirror, side by side in one run.
#
# Usage: bench/mirror_bench.sh [-r REPS] [-s SIZE] [-t SECONDS] [-d DIR]
#                              [-o OUT.md]
#        environment: MBLK=path/to/mblk (default build/mblk)
#
# Needs the file device. In DIR (default /var/tmp) it makes a sparse SIZE
# (default 2G) image holding 25 % data in 1 MiB extents at random places,
# then for REPS rounds (default 3), interleaved so that the machine's
# noise hits every side alike:
#   copy      mblk copy SRC DST                      (flushes DST)
#   mirror    mblk mirror SRC DST                    (in sync and flushed)
#   cp        cp --sparse=always SRC DST && sync DST
#   base      mblk bench P --rw randwrite --bs 4k --qd 16 --time T
#   copying   the same load on 'mirror:?primary=P&secondary=S&rate=R'
#             while it copies onto a fresh S (R makes one pass of the
#             copy last about 4 T, so it copies through the whole load)
#   synced    the same load on 'mirror:?primary=P&secondary=S&in-sync=1'
#             where S is a copy of P (every write goes to both); P and S
#             are compared afterwards
# The same load generator (mblk bench, through safe) on every side.
# DST is deleted before each copy; every copy is checked with cmp once.
# The page cache is not dropped (no root): SRC is cached for every side.
# Prints (and writes to OUT.md) the medians, [min-max] over rounds, and
# the ratios issue 4 states targets for: mirror/copy time <= 1.1,
# mirror/(cp+sync) time <= 1, live writes while copying >= 0.5 x base,
# in sync >= 0.7 x base; and the mirror's peak RSS.
set -eu

reps=3
size=2G
secs=5
dir=/var/tmp
out=
while getopts r:s:t:d:o:h opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) size=$OPTARG ;;
	t) secs=$OPTARG ;;
	d) dir=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,28p' "$0"; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
mblk=${MBLK:-$top/build/mblk}
if [ ! -x "$mblk" ]; then
	echo "mirror_bench.sh: no mblk binary at $mblk; build first or set MBLK." >&2
	exit 1
fi
for tool in python3 cmp; do
	command -v $tool >/dev/null || {
		echo "mirror_bench.sh: $tool is needed and not installed." >&2
		exit 1
	}
done
work=$(mktemp -d "$dir/mirror_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
if "$mblk" info "file:$work/none" 2>&1 | grep -q 'not built'; then
	echo "mirror_bench.sh: this mblk has no file device." >&2
	exit 1
fi
res=$work/results.jsonl
src=$work/src.img

# The source: SIZE bytes, 25 % of its 1 MiB extents random data.
bytes=$(python3 - "$src" "$size" <<'PY'
import os, random, sys
path, size = sys.argv[1], sys.argv[2]
mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
n = int(size[:-1]) * mult[size[-1].upper()] if size[-1].isalpha() else int(size)
mib = 1 << 20
extents = n // mib
random.seed(4)
chosen = random.sample(range(extents), extents // 4)
with open(path, "wb") as f:
    f.truncate(n)
    for e in sorted(chosen):
        f.seek(e * mib)
        f.write(os.urandom(mib))
print(n)
PY
)
data=$((bytes / 4))
# A rate that makes the copy of the data last about secs seconds.
rate=$(python3 -c "print(max(1 << 20, int($data / $secs / 4)))")

# timed TAG CMD...: runs CMD (sh -c), records the wall time and peak RSS.
timed() {
	tag=$1
	shift
	rm -f "$work/dst.img"
	t0=$(python3 -c 'import time; print(time.monotonic())')
	/usr/bin/time -f '%M' -o "$work/rss" sh -c "$*" >/dev/null ||
		{ echo "mirror_bench.sh: '$*' failed." >&2; exit 1; }
	t1=$(python3 -c 'import time; print(time.monotonic())')
	secs_taken=$(python3 -c "print($t1 - $t0)")
	printf '{"tag":"%s","rep":%s,"seconds":%s,"rss_kib":%s}\n' "$tag" "$rep" \
		"$secs_taken" "$(tail -n 1 "$work/rss")" >>"$res"
	printf '  %-8s %.3f s\n' "$tag" "$secs_taken" >&2
	if [ "$rep" = 1 ]; then
		cmp "$src" "$work/dst.img" ||
			{ echo "mirror_bench.sh: $tag made a different copy." >&2; exit 1; }
	fi
}

echo "mirror_bench: $reps rounds, $size image with 25 % data, load $secs s, $(date -u +%FT%TZ)" >&2
rep=1
while [ "$rep" -le "$reps" ]; do
	echo "round $rep" >&2
	timed copy "'$mblk' copy '$src' '$work/dst.img'"
	timed mirror "'$mblk' mirror '$src' '$work/dst.img'"
	timed cp "cp --sparse=always '$src' '$work/dst.img' && sync '$work/dst.img'"

	cp --sparse=always "$src" "$work/p.img"
	load() { # load TAG URI
		line=$("$mblk" bench "$2" --rw randwrite --bs 4k --qd 16 \
			--time "$secs" --json)
		printf '{"tag":"%s","rep":%s,"r":%s}\n' "$1" "$rep" "$line" >>"$res"
		printf '  %-8s %s\n' "$1" "$line" | cut -c1-100 >&2
	}
	load base "file:$work/p.img"
	# While copying: a fresh sparse secondary, copy slowed to ~1/4 of
	# the load time per pass, so it runs through the whole load.
	truncate -s "$bytes" "$work/s.img"
	load copying "mirror:?primary=file:$work/p.img&secondary=file:$work/s.img&rate=$rate"
	# In sync: the secondary is a copy made now; in-sync=1 says so, so
	# every write goes to both from the start. Checked equal afterwards.
	rm -f "$work/s.img"
	cp --sparse=always "$work/p.img" "$work/s.img"
	load synced "mirror:?primary=file:$work/p.img&secondary=file:$work/s.img&in-sync=1"
	cmp "$work/p.img" "$work/s.img" ||
		{ echo "mirror_bench.sh: the in-sync mirror diverged." >&2; exit 1; }
	rm -f "$work/p.img" "$work/s.img"
	rep=$((rep + 1))
done

python3 - "$res" "$reps" "$size" "$secs" >"$work/table.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
reps, size, secs = sys.argv[2:5]
def by(tag, f):
    return {r["rep"]: f(r) for r in rows if r["tag"] == tag}
def med(v, fmt):
    v = list(v)
    if not v:
        return "n/a"
    return "%s [%s-%s]" % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))
def ratio(a, b):
    return [a[k] / b[k] for k in a if k in b and b[k]]
def verdict(v, ok):
    return "n/a" if not v else ("met" if ok(statistics.median(v)) else "NOT met")
t = lambda r: r["seconds"]
copy, mirror, cp = by("copy", t), by("mirror", t), by("cp", t)
base = by("base", lambda r: r["r"]["iops"])
live_copy = by("copying", lambda r: r["r"]["iops"])
live_sync = by("synced", lambda r: r["r"]["iops"])
rss = by("mirror", lambda r: r["rss_kib"] / 1024)
print("Median [min-max] of %s rounds; %s image, 25 %% data; loads %s s." % (reps, size, secs))
print()
print("| measurement | value | ratio | target | result |")
print("|---|---|---|---|---|")
r1 = ratio(mirror, copy)
r2 = ratio(mirror, cp)
print("| mblk copy (s) | %s | | | |" % med(copy.values(), "%.2f"))
print("| cp --sparse=always + sync (s) | %s | | | |" % med(cp.values(), "%.2f"))
print("| mblk mirror, idle (s) | %s | %s vs copy | <= 1.1 | %s |" % (
    med(mirror.values(), "%.2f"), med(r1, "%.2f"), verdict(r1, lambda m: m <= 1.1)))
print("| | | %s vs cp+sync | <= 1.0 | %s |" % (med(r2, "%.2f"), verdict(r2, lambda m: m <= 1.0)))
r3 = ratio(live_copy, base)
r4 = ratio(live_sync, base)
print("| 4 KiB randwrite QD 16, primary alone (IOPS) | %s | | | |" % med(base.values(), "%.0f"))
print("| same through the mirror while copying (IOPS) | %s | %s | >= 0.5 | %s |" % (
    med(live_copy.values(), "%.0f"), med(r3, "%.2f"), verdict(r3, lambda m: m >= 0.5)))
print("| same through the mirror in sync (IOPS) | %s | %s | >= 0.7 | %s |" % (
    med(live_sync.values(), "%.0f"), med(r4, "%.2f"), verdict(r4, lambda m: m >= 0.7)))
print("| peak RSS of mblk mirror (MiB; buffer 16 MiB) | %s | | | |" % med(rss.values(), "%.1f"))
PY
cat "$work/table.md"
if [ -n "$out" ]; then
	cp "$work/table.md" "$out"
	echo "mirror_bench.sh: table written to $out" >&2
fi
