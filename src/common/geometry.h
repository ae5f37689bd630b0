/* geometry.h - the size and sector-size keys of the devices that are
 * made, not found (ram:, null:): their help text and their checks, so
 * that both schemes take and refuse the same values with the same
 * sentences. */
#ifndef MBLK_COMMON_GEOMETRY_H
#define MBLK_COMMON_GEOMETRY_H

#include <errno.h>

#include <mblk/backend.h>
#include "checked.h"

#define MBLK__GEOMETRY_DEFAULT_SIZE (16u << 20)
#define MBLK__GEOMETRY_DEFAULT_SECTOR_SIZE 512u

/* Two entries of a struct mblk_uri_key table. */
#define MBLK__GEOMETRY_KEYS                                                   \
	{ "size", "size",                                                     \
	  "the device size in bytes (default 16M); a whole number of "        \
	  "sectors, at most 2^63 bytes" },                                    \
	{                                                                     \
		"sector-size", "size",                                        \
			"bytes per sector: a power of two from 512 to 65536 " \
			"(default 512)"                                       \
	}

/* Reads size and sector-size from u into *size and *ss (which hold the
 * defaults) and checks them: a power of two from 512 to 65536, a whole
 * number of sectors, at most 2^63 bytes. Returns 0 or -errno with the
 * sentence set (for mblk_open_fail_last). */
static inline int mblk__uri_geometry(struct mblk_uri *u, uint64_t *size,
				     uint64_t *ss)
{
	const char *text = mblk_uri_text(u);
	int r;
	if ((r = mblk_uri_get_size(u, "size", size)) < 0 ||
	    (r = mblk_uri_get_size(u, "sector-size", ss)) < 0)
		return r;
	if (*ss > 65536 || *ss < 512 || !mblk__is_pow2(*ss))
		return mblk_set_error(-EINVAL,
				      "sector-size=%llu in URI '%s': must be "
				      "a power of two from 512 to 65536",
				      (unsigned long long)*ss, text);
	if (*size % *ss != 0)
		return mblk_set_error(-EINVAL,
				      "size=%llu in URI '%s' is not a whole "
				      "number of %llu-byte sectors",
				      (unsigned long long)*size, text,
				      (unsigned long long)*ss);
	if (*size > MBLK__MAX_BYTES)
		return mblk_set_error(-EFBIG,
				      "size=%llu in URI '%s' is more than the "
				      "2^63 bytes a device can hold",
				      (unsigned long long)*size, text);
	return 0;
}

#endif
