#!/bin/sh
# conformance-mirror-file.sh - runs a conformance-suite program
# (conformance or model) on a mirror of one fresh scratch file onto
# another.
# Usage: conformance-mirror-file.sh SIZE FILE-OPTIONS copying|synced
#                                   PROGRAM [ARGS...]
#   copying: the secondary's writes are delayed 20 ms (a fault device)
#            and the copy is limited to 2 MB/s, so it runs through the
#            whole test. (With 100 ms and no limit, a mirror that turned
#            active made every write wait 100 ms: a 2000-op model run
#            then took minutes, one run in ten.)
#   synced:  both files are empty and the secondary is declared zero,
#            so the mirror is in sync after its first loop iterations.
# PROGRAM ARGS are run with the mirror URI appended as the last argument.
# Scratch files go under $MBLK_TEST_TMPDIR (default: the current dir).
set -u
size=$1 opts=$2 mode=$3
shift 3
dir=${MBLK_TEST_TMPDIR:-.}
p=$(mktemp "$dir/mirror-p-XXXXXX.img") || exit 1
s=$(mktemp "$dir/mirror-s-XXXXXX.img") || exit 1
trap 'rm -f "$p" "$s"' EXIT
truncate -s "$size" "$p" "$s"
# '&' one level down is %26, two levels down %2526.
fopts=$(printf '%s' "$opts" | sed 's/&/%26/g')
case $mode in
copying)
	sopts=$(printf '%s' "$opts" | sed 's/&/%2526/g')
	sec="fault:?inner=file:$s?$sopts%26delay=write,write_zeroes,discard%26delay-us=20000"
	uri="mirror:?primary=file:$p?$fopts&secondary=$sec&chunk=16K&buffer=64K&rate=2M"
	;;
synced)
	uri="mirror:?primary=file:$p?$fopts&secondary=file:$s?$fopts&secondary-zero=1"
	;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
"$@" "$uri"
