#!/bin/sh
# no-ceph-link.sh - libmblk must not link against librados or librbd:
# the rbd device loads them on first use (src/devices/rbd/rbd_lib.h), so
# that a process using other devices does not pay ~14 MiB of resident
# memory for Ceph's libraries. Fails if the shared library names either.
# Usage: no-ceph-link.sh PATH-TO-libmblk.so
lib=$1
command -v readelf >/dev/null || { echo "SKIP: readelf is not installed"; exit 77; }
needed=$(readelf -d "$lib" | grep NEEDED) || { echo "FAIL: readelf $lib"; exit 1; }
if echo "$needed" | grep -E 'librbd|librados'; then
	echo "FAIL: $lib links against Ceph's libraries (above)"
	exit 1
fi
echo "ok: $lib needs $(echo "$needed" | wc -l) libraries, none of Ceph's"
