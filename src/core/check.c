/* check.c - request validation shared by the core and `safe`.
 *
 * Each check produces one sentence that names the device, the operation,
 * the value given and the value allowed, because "Invalid argument" alone
 * tells a person nothing (the point of the seed's Safe wrapper). The core
 * runs these on every request without the alignment check; `safe` runs
 * them with it. Order: the iovec array, each buffer, then the range, so
 * that the first problem a person must fix is the one reported.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include <mblk/backend.h>
#include "../common/checked.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Range check common to rw and range requests. */
static int check_extent(const char *name, const struct mblk_info *in,
			enum mblk_op op, uint64_t sector, uint64_t count,
			char *msg, size_t len)
{
	const char *o = mblk_op_name(op);
	unsigned long long s = sector, n = count, size = in->size_sectors;
	uint64_t end;

	if (mblk__add_overflow(sector, count, &end)) {
		snprintf(msg, len,
			 "%s: %s of %llu sectors at sector %llu: the end "
			 "overflows 64 bits (the device has %llu sectors)",
			 name, o, n, s, size);
		return -EINVAL;
	}
	if (size == 0 && (count > 0 || sector > 0)) {
		snprintf(msg, len,
			 "%s: %s of %llu sector%s at sector %llu: the device "
			 "has no sectors (its size is 0)",
			 name, o, n, n == 1 ? "" : "s", s);
		return -EINVAL;
	}
	if (sector > in->size_sectors ||
	    (sector == in->size_sectors && count > 0)) {
		snprintf(msg, len,
			 "%s: %s of %llu sector%s at sector %llu: the start "
			 "is past the end; sectors run 0 to %llu on this "
			 "%llu-sector device",
			 name, o, n, n == 1 ? "" : "s", s,
			 size > 0 ? size - 1 : 0, size);
		return -EINVAL;
	}
	if (end > in->size_sectors) {
		snprintf(msg, len,
			 "%s: %s of sectors %llu-%llu (%llu sectors): the "
			 "request ends %llu sector%s past the end of the "
			 "%llu-sector device",
			 name, o, s, (unsigned long long)end - 1, n,
			 (unsigned long long)(end - size),
			 end - size == 1 ? "" : "s", size);
		return -EINVAL;
	}
	return 0;
}

int mblk_check_rw(const char *name, const struct mblk_info *in, enum mblk_op op,
		  uint64_t sector, const struct iovec *iov, int iovcnt,
		  bool check_align, uint64_t *total_sectors, char *msg,
		  size_t len)
{
	const char *o = mblk_op_name(op);
	unsigned long long s = sector;
	uint32_t ss = in->sector_size;
	uint32_t al = in->buf_align > 1 ? in->buf_align : 1;
	uint64_t bytes = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		snprintf(msg, len,
			 "%s: %s at sector %llu: %d buffers given; the count "
			 "must be from 0 to %d",
			 name, o, s, iovcnt, IOV_MAX);
		return -EINVAL;
	}
	if (iovcnt > 0 && iov == NULL) {
		snprintf(msg, len,
			 "%s: %s at sector %llu: the buffer array is NULL but "
			 "%d buffers were announced",
			 name, o, s, iovcnt);
		return -EINVAL;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t l = iov[i].iov_len;
		if (l % ss != 0) {
			snprintf(msg, len,
				 "%s: %s at sector %llu: buffer %d is %zu "
				 "bytes, not a whole number of %u-byte "
				 "sectors",
				 name, o, s, i, l, ss);
			return -EINVAL;
		}
		if (l > 0 && iov[i].iov_base == NULL) {
			snprintf(msg, len,
				 "%s: %s at sector %llu: buffer %d is NULL "
				 "(with length %zu)",
				 name, o, s, i, l);
			return -EINVAL;
		}
		if (check_align && al > 1 && l > 0) {
			uintptr_t a = (uintptr_t)iov[i].iov_base;
			if (a % al != 0) {
				snprintf(msg, len,
					 "%s: %s at sector %llu: buffer %d at "
					 "address %p is not aligned to the "
					 "%u bytes the device requires "
					 "(O_DIRECT); allocate it with "
					 "posix_memalign",
					 name, o, s, i, iov[i].iov_base, al);
				return -EINVAL;
			}
			if (l % al != 0) {
				snprintf(msg, len,
					 "%s: %s at sector %llu: buffer %d is "
					 "%zu bytes, not a multiple of the %u "
					 "bytes the device requires (O_DIRECT)",
					 name, o, s, i, l, al);
				return -EINVAL;
			}
		}
		if (mblk__add_overflow(bytes, l, &bytes)) {
			snprintf(msg, len,
				 "%s: %s at sector %llu: the buffers add up "
				 "to more than 2^64 bytes",
				 name, o, s);
			return -EINVAL;
		}
	}
	uint64_t count = bytes / ss;
	*total_sectors = count;
	return check_extent(name, in, op, sector, count, msg, len);
}

int mblk_check_range(const char *name, const struct mblk_info *in,
		     enum mblk_op op, uint64_t sector, uint64_t count,
		     char *msg, size_t len)
{
	return check_extent(name, in, op, sector, count, msg, len);
}
