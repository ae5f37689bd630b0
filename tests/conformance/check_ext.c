/* check_ext.c - extents, cache and fast zeroes: the operations the NBD
 * server's BLOCK_STATUS, CACHE and FAST_ZERO stand on.
 *
 * Extents must tile the device (consecutive, none empty, each inside) and
 * must never call data "reads as zeros": a copy that trusted a wrong ZERO
 * would skip data. They are checked against what the checks wrote and
 * against the seeks. A fast zero either zeroes (and the range reads as
 * zeros) or fails at once with -ENOTSUP leaving the data as it was; a
 * device without MBLK_CAP_ZERO_IS_FAST always refuses it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Extents from `from` with room for max: 0 with the count in *n. */
static int get_extents(uint64_t from, uint64_t count, int max, int *n)
{
	struct done d;
	h_ext_max = max;
	int r = do_op(dev, S_EXTENTS, from, count, 0, &d);
	h_ext_max = H_EXT_MAX;
	if (r == HARNESS)
		return r;
	if (r < 0) {
		fail("extents from %" PRIu64 " (+%" PRIu64 "): expected 0, got "
		     "%d: %s",
		     from, count, r, d.err);
		return r;
	}
	*n = (int)d.sector;
	return 0;
}

/* Walks [from, end) with batches of max, checking the tiling; calls fn on
 * every extent. Returns false after a failure. */
static bool walk(uint64_t from, uint64_t end, int max,
		 bool (*fn)(const struct mblk_extent *e))
{
	uint64_t pos = from;
	unsigned long calls = 0;
	while (pos < end) {
		int n;
		if (get_extents(pos, end - pos, max, &n) != 0)
			return false;
		if (n < 1 || n > max)
			return fail("extents from %" PRIu64 ": %d extents for "
				    "room for %d",
				    pos, n, max);
		for (int i = 0; i < n; i++) {
			const struct mblk_extent *e = &h_ext[i];
			if (e->sector != pos || e->count == 0 ||
			    e->count > end - pos)
				return fail("extents from %" PRIu64 ": extent "
					    "%d is [%" PRIu64 ", +%" PRIu64
					    "), expected it to start at %" PRIu64
					    " and stay before %" PRIu64,
					    from, i, e->sector, e->count, pos,
					    end);
			if (e->flags & ~(MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO))
				return fail("extent at %" PRIu64
					    " has unknown flags 0x%x",
					    e->sector, e->flags);
			if (fn != NULL && !fn(e))
				return false;
			pos += e->count;
		}
		if (++calls > 4 * size + 8)
			return fail("extents never reach the end");
	}
	return true;
}

void check_extents_cover(void)
{
	if (!need(1))
		return;
	/* The whole device, in batches of 1, 3 and 64 extents. */
	int maxes[] = { 1, 3, H_EXT_MAX };
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		if (!walk(0, size, maxes[i], NULL))
			return;
	/* count 0 means "to the end". */
	int n;
	if (get_extents(size - 1, 0, 4, &n) != 0)
		return;
	EXPECT(n == 1 && h_ext[0].sector == size - 1 && h_ext[0].count == 1,
	       "extents of the last sector with count 0: %d extents, the "
	       "first [%" PRIu64 ", +%" PRIu64 ")",
	       n, h_ext[0].sector, h_ext[0].count);
}

/* A ZERO extent must read as zeros: its first and last sectors (and all
 * of it when small). */
static bool zero_reads_zero(const struct mblk_extent *e)
{
	if (!(e->flags & MBLK_EXTENT_ZERO))
		return true;
	uint64_t n = e->count < 8 ? e->count : 8;
	char what[96];
	snprintf(what, sizeof(what), "an extent marked ZERO at %" PRIu64,
		 e->sector);
	if (!check_data(what, e->sector, n, 0))
		return false;
	return check_data(what, e->sector + e->count - n, n, 0);
}

void check_extents_sound(void)
{
	/* The layout of check_seek_sound: data, holes, data across a page
	 * boundary. */
	uint64_t n = 8 * spp + 4;
	if (!need(n))
		return;
	uint64_t s = mid(n);
	struct done d;
	int r = 0;
	if (info.caps & MBLK_CAP_DISCARD)
		r = do_op(dev, S_DISCARD, s, n, 0, &d);
	else if (info.caps & MBLK_CAP_WRITE_ZEROES)
		r = do_op(dev, S_ZEROES, s, n, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0, "clearing the region: expected 0, got %d: %s", r, d.err);
	if (!put(s + 1, spp, 131) || !put(s + 3 * spp - 1, 2, 132) ||
	    !put(s + 5 * spp, spp, 133))
		return;
	if (!walk(s, s + n, 5, zero_reads_zero))
		return;
	/* The sectors just written are data, from wherever one asks. */
	uint64_t written[] = { s + 1,       s + spp,     s + 3 * spp - 1,
			       s + 3 * spp, s + 5 * spp, s + 6 * spp - 1 };
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
		int k;
		if (get_extents(written[i], 1, 1, &k) != 0)
			return;
		EXPECT(!(h_ext[0].flags & MBLK_EXTENT_ZERO),
		       "sector %" PRIu64 " was just written, but extents "
		       "call it ZERO",
		       written[i]);
	}
	/* Extents agree with the seeks: where seek_mapped says "no data
	 * before X", nothing before X is called data with a ZERO flag
	 * missing... and the other way: a ZERO extent's start is at or after
	 * what seek_unmapped answers from there. */
	struct done sd;
	int k;
	if (get_extents(s, n, H_EXT_MAX, &k) != 0)
		return;
	for (int i = 0; i < k; i++) {
		if (!(h_ext[i].flags & MBLK_EXTENT_ZERO))
			continue;
		r = do_op(dev, S_UNMAPPED, h_ext[i].sector, 0, 0, &sd);
		STOP_IF_FAILED();
		EXPECT(r == 0 && sd.sector <= h_ext[i].sector + h_ext[i].count,
		       "extent [%" PRIu64 ", +%" PRIu64 ") reads as zeros but "
		       "seek_unmapped from its start answers %" PRIu64,
		       h_ext[i].sector, h_ext[i].count, sd.sector);
	}
}

void check_extents_limits(void)
{
	struct done d;
	uint64_t nums[] = { size };
	int r = do_op(dev, S_EXTENTS, size, 1, 0, &d);
	STOP_IF_FAILED();
	if (!expect_error("extents at the end", r, &d, -EINVAL, nums, 1))
		return;
	if (size == 0)
		return;
	h_ext_max = 0;
	r = do_op(dev, S_EXTENTS, 0, 1, 0, &d);
	h_ext_max = H_EXT_MAX;
	STOP_IF_FAILED();
	EXPECT(r == -EINVAL && d.err[0] != '\0',
	       "extents with no room: expected -EINVAL and a sentence, got "
	       "%d: %s",
	       r, d.err);
}

void check_cache(void)
{
	if (!need(4 * spp))
		return;
	uint64_t s = mid(4 * spp);
	if (!put(s, 4 * spp, 141))
		return;
	struct done d;
	int r = do_op(dev, S_CACHE, s, 4 * spp, 0, &d);
	STOP_IF_FAILED();
	EXPECT(r == 0,
	       "cache of sectors %" PRIu64 "+%" PRIu64 ": expected 0, "
	       "got %d: %s",
	       s, 4 * spp, r, d.err);
	if (!check_data("after cache", s, 4 * spp, 141))
		return;
	uint64_t nums[] = { size };
	r = do_op(dev, S_CACHE, size, 1, 0, &d);
	STOP_IF_FAILED();
	expect_error("cache past the end", r, &d, -EINVAL, nums, 1);
}

void check_zeroes_fast(void)
{
	if (!need(4 * spp) || !info.read_write) {
		if (!info.read_write)
			skip("read-only");
		return;
	}
	if (!(info.caps & MBLK_CAP_WRITE_ZEROES)) {
		skip("no write_zeroes");
		return;
	}
	uint64_t s = mid(4 * spp);
	unsigned flag_sets[] = { MBLK_ZEROES_FAST,
				 MBLK_ZEROES_FAST | MBLK_ZEROES_NO_HOLE };
	for (size_t i = 0; i < 2; i++) {
		if (!put(s, 4 * spp, 150 + i))
			return;
		struct done d;
		int r = do_op(dev, S_ZEROES, s + 1, 4 * spp - 2, flag_sets[i],
			      &d);
		STOP_IF_FAILED();
		const char *what = i ? "fast zeroes, no hole" : "fast zeroes";
		if (!(info.caps & MBLK_CAP_ZERO_IS_FAST))
			EXPECT(r == -ENOTSUP && d.err[0],
			       "%s without ZERO_IS_FAST: expected -ENOTSUP "
			       "and a sentence, got %d: %s",
			       what, r, d.err);
		else
			EXPECT(r == 0 || r == -ENOTSUP,
			       "%s: expected 0 or -ENOTSUP, got %d: %s", what,
			       r, d.err);
		if (r == 0) {
			if (!check_data(what, s, 1, 150 + i) ||
			    !check_data(what, s + 1, 4 * spp - 2, 0) ||
			    !check_data(what, s + 4 * spp - 1, 1, 150 + i))
				return;
		} else if (!check_data("a refused fast zero left the data", s,
				       4 * spp, 150 + i)) {
			return;
		}
	}
}
