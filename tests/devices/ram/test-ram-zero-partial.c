/* test-ram-zero-partial.c - zeroing part of a ram page leaves the rest of
 * that page intact.
 *
 * The ram device stores 4 KiB pages (or one sector, when sectors are
 * larger). Zeroing less than a page cannot free it: it must clear exactly
 * the sectors asked for and keep every other byte of the page. Four ways
 * of zeroing reach different code: a write whose buffer is all zeros
 * (store_write's zero path), write_zeroes with and without
 * MBLK_ZEROES_NO_HOLE, and discard (store_punch's partial ends). Each is
 * tried on ranges inside one page, at either edge of a page, across a
 * page boundary, and across a whole page with partial ends, on sector
 * sizes of 512, 1024 and 2048 bytes, both through `safe` and raw. After
 * each, the whole device is read back and compared with a model: every
 * sector outside the range keeps its own pattern.
 *
 * And write_zeroes with MBLK_ZEROES_NO_HOLE over whole pages keeps them
 * allocated (no HOLE extent, the pages counted by mblk_get_allocated).
 *
 * Exit 0 on success, 1 with the first differing byte on failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>

#define DEV_BYTES (64u * 1024u) /* 16 pages */

static int failures;

static void fill_sector(unsigned char *p, uint32_t ss, uint64_t sector)
{
	for (uint32_t i = 0; i < ss; i++)
		p[i] = (unsigned char)(sector * 37u + i * 11u + 1u) | 1u;
}

enum how { HOW_WRITE_ZERO_BUF, HOW_ZEROES, HOW_ZEROES_NO_HOLE, HOW_DISCARD };
static const char *const how_name[] = { "write of a zero buffer",
					"write_zeroes", "write_zeroes(NO_HOLE)",
					"discard" };

static int zero_range(mblk_dev *dev, enum how how, uint64_t sector,
		      uint64_t count, uint32_t ss)
{
	switch (how) {
	case HOW_WRITE_ZERO_BUF: {
		size_t len = (size_t)(count * ss);
		void *z = calloc(1, len);
		struct iovec iov = { z, len };
		int r = mblk_write_sync(dev, sector, &iov, 1, 0);
		free(z);
		return r;
	}
	case HOW_ZEROES: return mblk_write_zeroes_sync(dev, sector, count, 0);
	case HOW_ZEROES_NO_HOLE:
		return mblk_write_zeroes_sync(dev, sector, count,
					      MBLK_ZEROES_NO_HOLE);
	case HOW_DISCARD: return mblk_discard_sync(dev, sector, count);
	}
	return -1;
}

/* One case: pattern everywhere, zero [first, first + count) in sectors,
 * read it all back. */
static void run_case(uv_loop_t *loop, uint32_t ss, bool safe, enum how how,
		     uint64_t first, uint64_t count)
{
	char uri[128];
	snprintf(uri, sizeof(uri), "ram:?size=%u&sector-size=%" PRIu32,
		 DEV_BYTES, ss);
	mblk_dev *dev;
	if (mblk_open_sync(loop, uri, safe ? 0 : MBLK_OPEN_NO_SAFE, &dev) !=
	    0) {
		printf("FAIL open %s: %s\n", uri, mblk_last_error());
		exit(1);
	}
	uint64_t nsec = DEV_BYTES / ss;
	unsigned char *want = malloc(DEV_BYTES), *got = malloc(DEV_BYTES);
	for (uint64_t s = 0; s < nsec; s++)
		fill_sector(want + s * ss, ss, s);
	struct iovec iov = { want, DEV_BYTES };
	int r = mblk_write_sync(dev, 0, &iov, 1, 0);
	if (r == 0)
		r = zero_range(dev, how, first, count, ss);
	if (r != 0) {
		printf("FAIL %s sector-size=%u %s: status %d: %s\n",
		       how_name[how], ss, safe ? "safe" : "raw", r,
		       mblk_last_error());
		exit(1);
	}
	memset(want + first * ss, 0, (size_t)(count * ss));
	memset(got, 0xee, DEV_BYTES);
	iov.iov_base = got;
	if (mblk_read_sync(dev, 0, &iov, 1) != 0) {
		printf("FAIL read back: %s\n", mblk_last_error());
		exit(1);
	}
	for (size_t i = 0; i < DEV_BYTES; i++) {
		if (got[i] == want[i])
			continue;
		uint64_t s = i / ss;
		bool inside = s >= first && s < first + count;
		printf("FAIL %s of sectors %" PRIu64 "+%" PRIu64
		       " (sector-size %u, %s): byte %zu (sector %" PRIu64
		       ", %s the range, byte %zu of its 4 KiB page) is 0x%02x, "
		       "expected 0x%02x\n",
		       how_name[how], first, count, ss, safe ? "safe" : "raw",
		       i, s, inside ? "inside" : "outside", i % 4096, got[i],
		       want[i]);
		failures++;
		break;
	}
	free(want);
	free(got);
	mblk_close_sync(dev);
}

/* write_zeroes with NO_HOLE keeps the range allocated, whole pages
 * included: no extent over it says HOLE, and the pages stay counted. */
static void nohole_keeps_pages(uv_loop_t *loop)
{
	mblk_dev *dev;
	if (mblk_open_sync(loop, "ram:?size=64K", MBLK_OPEN_NO_SAFE, &dev) !=
	    0) {
		printf("FAIL open: %s\n", mblk_last_error());
		exit(1);
	}
	uint64_t before = 0, after = 0;
	/* Sectors 8-39: pages 1-4 whole, never written before. */
	if (mblk_get_allocated(dev, &before) != 0 ||
	    mblk_write_zeroes_sync(dev, 8, 32, MBLK_ZEROES_NO_HOLE) != 0 ||
	    mblk_get_allocated(dev, &after) != 0) {
		printf("FAIL NO_HOLE write_zeroes: %s\n", mblk_last_error());
		exit(1);
	}
	struct mblk_extent ext[8];
	int n = 0;
	if (mblk_extents_sync(dev, 8, 32, ext, 8, &n) != 0) {
		printf("FAIL extents: %s\n", mblk_last_error());
		exit(1);
	}
	for (int i = 0; i < n; i++)
		if (ext[i].flags & MBLK_EXTENT_HOLE) {
			printf("FAIL write_zeroes(NO_HOLE) of sectors 8-39: "
			       "extent %llu+%llu is a hole (flags %u): the "
			       "range must stay allocated\n",
			       (unsigned long long)ext[i].sector,
			       (unsigned long long)ext[i].count, ext[i].flags);
			failures++;
		}
	if (after < before + 4 * 4096) {
		printf("FAIL write_zeroes(NO_HOLE) of 4 whole pages: "
		       "allocated %llu -> %llu bytes, expected 16384 more\n",
		       (unsigned long long)before, (unsigned long long)after);
		failures++;
	}
	mblk_close_sync(dev);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	static const uint32_t sizes[] = { 512, 1024, 2048 };
	int cases = 0;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		uint32_t ss = sizes[z];
		uint64_t spp = 4096 / ss; /* sectors per page */
		/* Ranges in sectors: inside a page, its first sector(s), its
		 * last, across one boundary, a whole page with partial ends,
		 * one sector in the last page. */
		uint64_t ranges[][2] = {
			{ spp + 1, spp > 2 ? spp - 2 : 1 },
			{ 2 * spp, 1 },
			{ 3 * spp - 1, 1 },
			{ 4 * spp - 1, 2 },
			{ 5 * spp + 1, 2 * spp - 1 + (spp > 1) },
			{ 16 * spp - 1, 1 },
		};
		for (int how = 0; how < 4; how++)
			for (size_t k = 0;
			     k < sizeof(ranges) / sizeof(ranges[0]); k++)
				for (int safe = 0; safe < 2; safe++) {
					run_case(&loop, ss, safe, how,
						 ranges[k][0], ranges[k][1]);
					cases++;
				}
	}
	nohole_keeps_pages(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		printf("FAIL: handles left on the loop\n");
		return 1;
	}
	if (failures) {
		printf("%d of %d cases failed\n", failures, cases);
		return 1;
	}
	printf("ok: %d cases\n", cases);
	return 0;
}
