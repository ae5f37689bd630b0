/* test-core-answers.c - what the core does with a device's answers to
 * seeks and extents, through a toy backend (mblk/backend.h) whose data
 * layout is a known map of sectors.
 *
 * 1. Derived answers. A device with extents but no seek op gets seeks
 *    derived from its extents, one with seeks but no extents op gets
 *    extents derived from its seeks (src/core/derive.c). From every
 *    start sector of a layout with runs of data and holes of lengths 1
 *    to 5 (so every edge case of the derivation meets an extent edge),
 *    both seeks must answer exactly what the map says, and the extents,
 *    asked again from the end of the last one until the end, must tile
 *    the device and agree with the map sector by sector.
 * 2. Answers the core repairs. A device that answers a seek below the
 *    `from` it was asked, or above its size, is clamped into
 *    [from, size]; extents longer than the range asked for are clipped
 *    to it; extents that do not start at the sector asked for are refused
 *    with -EIO and a sentence (a caller walking forward would never
 *    move).
 *
 * Exit 0, or 1 with the first wrong answer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>
#include <mblk/backend.h>

#include "mtest.h"

#define NSEC 200

static bool data_at[NSEC];
static int fails;

#define FAILF(...)                                          \
	do {                                                \
		printf("FAIL %s:%d: ", __FILE__, __LINE__); \
		printf(__VA_ARGS__);                        \
		printf("\n");                               \
		if (++fails > 10)                           \
			exit(1);                            \
	} while (0)

/* How the toy device misbehaves (part 2). */
enum toy_mode {
	TOY_GOOD,
	TOY_SEEK_LOW,    /* seeks answer 0 */
	TOY_SEEK_HIGH,   /* seeks answer size + 7 */
	TOY_EXT_LONG,    /* one extent to the end of the device */
	TOY_EXT_SHIFTED, /* the first extent starts a sector late */
};
static enum toy_mode mode;

static void toy_seek(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	uint64_t s = req->sector;
	bool want_data = req->op == MBLK_OP_SEEK_MAPPED;
	while (s < NSEC && data_at[s] != want_data)
		s++;
	if (mode == TOY_SEEK_LOW)
		s = 0;
	else if (mode == TOY_SEEK_HIGH)
		s = NSEC + 7;
	req->result = s;
	mblk_req_done(req, 0);
}

static void toy_extents(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	uint64_t pos = req->sector, end = req->sector + req->count;
	int n = 0;
	if (mode == TOY_EXT_LONG) {
		req->ext[0].sector = pos;
		req->ext[0].count = NSEC - pos;
		req->ext[0].flags = 0;
		req->ext_n = 1;
		mblk_req_done(req, 0);
		return;
	}
	if (mode == TOY_EXT_SHIFTED)
		pos++;
	/* One extent per answer (a device may give fewer than asked): the
	 * derived seeks must then ask again from the right place. */
	while (pos < end && n < req->ext_max && n < 1) {
		uint64_t e = pos;
		while (e < end && data_at[e] == data_at[pos])
			e++;
		req->ext[n].sector = pos;
		req->ext[n].count = e - pos;
		req->ext[n].flags =
			data_at[pos] ? 0 : MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
		n++;
		pos = e;
	}
	req->ext_n = n;
	mblk_req_done(req, 0);
}

static const struct mblk_dev_ops toy_seek_ops = {
	.kind = "toy-seek",
	.seek = toy_seek,
};
static const struct mblk_dev_ops toy_ext_ops = {
	.kind = "toy-extents",
	.extents = toy_extents,
};

static mblk_dev *toy_open(uv_loop_t *loop, const struct mblk_dev_ops *ops)
{
	struct mblk_info info = {
		.size_sectors = NSEC,
		.sector_size = 512,
		.read_write = false,
		.caps = MBLK_CAP_SEEK,
	};
	mblk_dev *dev;
	if (mblk_dev_create(loop, ops, NULL, ops->kind, &info, NULL, 0, 0,
			    &dev) != 0) {
		printf("FAIL mblk_dev_create: %s\n", mblk_last_error());
		exit(1);
	}
	return dev;
}

static uint64_t expect_seek(bool mapped, uint64_t from)
{
	uint64_t s = from;
	while (s < NSEC && data_at[s] != mapped)
		s++;
	return s;
}

static void check_derived(mblk_dev *dev, const char *what)
{
	for (uint64_t from = 0; from <= NSEC; from++)
		for (int mapped = 0; mapped < 2; mapped++) {
			uint64_t got = UINT64_MAX;
			int r = mapped ? mblk_seek_mapped_sync(dev, from, &got)
				       : mblk_seek_unmapped_sync(dev, from,
								 &got);
			uint64_t want = expect_seek(mapped, from);
			if (r != 0 || got != want)
				FAILF("%s: seek_%s(%" PRIu64 ") = %" PRIu64
				      " (status %d), the map says %" PRIu64,
				      what, mapped ? "mapped" : "unmapped",
				      from, got, r, want);
		}
	/* Extents from every start, in small batches, until the end. */
	for (uint64_t from = 0; from < NSEC; from++) {
		uint64_t pos = from;
		while (pos < NSEC) {
			struct mblk_extent ext[3];
			int n = 0;
			int r = mblk_extents_sync(dev, pos, 0, ext, 3, &n);
			if (r != 0 || n < 1 || n > 3) {
				FAILF("%s: extents from %" PRIu64
				      ": status %d, %d extents: %s",
				      what, pos, r, n, mblk_last_error());
				return;
			}
			for (int i = 0; i < n; i++) {
				if (ext[i].sector != pos || ext[i].count == 0) {
					FAILF("%s: extent %d from %" PRIu64
					      " is %" PRIu64 "+%" PRIu64
					      ", expected to start at %" PRIu64,
					      what, i, from, ext[i].sector,
					      ext[i].count, pos);
					return;
				}
				bool zero = ext[i].flags & MBLK_EXTENT_ZERO;
				for (uint64_t s = pos; s < pos + ext[i].count;
				     s++)
					if (s >= NSEC || (zero && data_at[s])) {
						FAILF("%s: extent %" PRIu64
						      "+%" PRIu64 " (flags %u) "
						      "covers sector %" PRIu64
						      ", which holds data (or "
						      "is past the end)",
						      what, ext[i].sector,
						      ext[i].count,
						      ext[i].flags, s);
						return;
					}
				/* Exact: a data extent holds no hole at
				 * its edges either (seeks are exact). */
				if (!zero && !data_at[pos])
					FAILF("%s: a data extent starts at "
					      "hole sector %" PRIu64,
					      what, pos);
				pos += ext[i].count;
			}
		}
	}
}

struct seek_answer {
	bool done;
	int status;
	uint64_t sector;
};

static void part2(uv_loop_t *loop)
{
	/* Seeks answered out of range: clamped into [from, size]. */
	mode = TOY_SEEK_LOW;
	mblk_dev *d = toy_open(loop, &toy_seek_ops);
	uint64_t got = 0;
	if (mblk_seek_mapped_sync(d, 50, &got) != 0 || got != 50)
		FAILF("a seek answered 0 for from=50 reached the caller as "
		      "%" PRIu64 ", expected 50 (clamped to from)",
		      got);
	mblk_close_sync(d);
	mode = TOY_SEEK_HIGH;
	d = toy_open(loop, &toy_seek_ops);
	if (mblk_seek_unmapped_sync(d, 10, &got) != 0 || got != NSEC)
		FAILF("a seek answered past the end reached the caller as "
		      "%" PRIu64 ", expected the size %d",
		      got, NSEC);
	mblk_close_sync(d);

	/* Extents longer than asked: clipped. */
	mode = TOY_EXT_LONG;
	d = toy_open(loop, &toy_ext_ops);
	struct mblk_extent ext[4];
	int n = 0;
	if (mblk_extents_sync(d, 20, 30, ext, 4, &n) != 0 || n != 1 ||
	    ext[0].sector != 20 || ext[0].count != 30)
		FAILF("extents of 20+30 from a device answering 20+%d: %d "
		      "extents, the first %" PRIu64 "+%" PRIu64
		      "; expected 20+30",
		      NSEC - 20, n, ext[0].sector, ext[0].count);
	mblk_close_sync(d);

	/* Extents that do not start where asked: -EIO with a sentence. */
	mode = TOY_EXT_SHIFTED;
	d = toy_open(loop, &toy_ext_ops);
	int r = mblk_extents_sync(d, 20, 30, ext, 4, &n);
	if (r != -EIO || strstr(mblk_last_error(), "sector 20") == NULL)
		FAILF("extents starting a sector late: status %d, \"%s\"; "
		      "expected -EIO naming sector 20",
		      r, mblk_last_error());
	mblk_close_sync(d);
	mode = TOY_GOOD;
}

int main(void)
{
	mtest_watchdog(20, "the core answers test");
	/* Runs of data and holes of lengths 1..5, in a fixed order. */
	uint64_t s = 0;
	for (unsigned k = 0; s < NSEC; k++) {
		unsigned len = 1 + (k * 7) % 5;
		for (unsigned i = 0; i < len && s < NSEC; i++)
			data_at[s++] = k % 2 == 1;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *d = toy_open(&loop, &toy_ext_ops);
	check_derived(d, "seeks derived from extents");
	mblk_close_sync(d);
	d = toy_open(&loop, &toy_seek_ops);
	check_derived(d, "extents derived from seeks");
	mblk_close_sync(d);
	part2(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		FAILF("handles left on the loop");
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
