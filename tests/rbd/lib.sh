# lib.sh - helpers for the RBD tests, sourced by tests/rbd/test-rbd-*.sh.
#
# The tests run inside run-rbd-tests.sh, which starts one cluster for
# all of them and exports CEPH_CONF, MBLK (the mblk binary) and
# MBLK_TEST_TMPDIR. Each test makes its own images (new_image), named
# after the test and its pid, so tests never share one.
. "$(dirname "$0")/../cli/lib.sh" "${MBLK:?run this through run-rbd-tests.sh}"
: "${CEPH_CONF:?run this through run-rbd-tests.sh}"

TMP=$(mktemp -d "${MBLK_TEST_TMPDIR:-/tmp}/mblk-rbd-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# An rbd command bounded in time (a command served by a mgr would
# otherwise wait forever: the cluster has none).
rbdc() {
	timeout 60 rbd "$@"
}

# new_image NAME SIZE [rbd create options...]: creates rbd/NAME-PID and
# prints the image spec (pool/image).
new_image() {
	local name="$1-$$" size=$2
	shift 2
	rbdc create --size "$size" "$@" "rbd/$name" >&2 || {
		echo "FAIL: rbd create rbd/$name failed" >&2
		exit 1
	}
	echo "rbd/$name"
}

# A sparse file with random data in a few places (MiB offsets: 0-3,
# 17-19, and 12 KiB near 40 MiB), SIZE bytes long.
make_sparse() {
	truncate -s "$2" "$1"
	dd if=/dev/urandom of="$1" bs=1M count=3 conv=notrunc 2>/dev/null
	dd if=/dev/urandom of="$1" bs=1M count=2 seek=17 conv=notrunc 2>/dev/null
	dd if=/dev/urandom of="$1" bs=4k count=3 seek=10237 conv=notrunc 2>/dev/null
}

# same A B: qemu-img compare of two raw images (files or rbd:...).
same() {
	qemu-img compare -q -f raw -F raw "$1" "$2" ||
		fail "qemu-img compare: $1 and $2 differ"
}

# holes_kept FILE SPEC OBJ: every OBJ-byte object of the image SPEC that
# covers only holes of FILE is unallocated in the image (rbd diff lists
# what is allocated). Prints the offending objects.
holes_kept() {
	rbdc diff --format json "$2" >"$TMP/diff.json" || {
		fail "rbd diff $2 failed"
		return
	}
	local bad
	bad=$(python3 - "$1" "$TMP/diff.json" "$3" <<'PY'
import json, os, sys
path, diff, obj = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
data = set()
off = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    data.update(range(d // obj, (h - 1) // obj + 1))
    off = h
alloc = set()
for e in json.load(open(diff)):
    o, n = int(e["offset"]), int(e["length"])
    alloc.update(range(o // obj, (o + n - 1) // obj + 1))
print(" ".join(str(x) for x in sorted(alloc - data)))
PY
)
	[ -z "$bad" ] || fail "objects allocated in $2 over holes of $1: $bad"
}
