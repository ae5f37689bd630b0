/* test-null.c - the null device holds nothing, as documented
 * (docs/devices/null.md), through the public API and `safe`.
 *
 * - reads give zeros, over a buffer full of other bytes, also right after
 *   a write of non-zero data there (writes are forgotten);
 * - write, write with FUA, flush, discard, write_zeroes (plain, NO_HOLE,
 *   FAST) succeed;
 * - the extents are one hole that reads as zeros, clipped to the range
 *   and to the device; the seeks find no data; nothing is allocated;
 * - a request past the end fails with -EINVAL and a sentence naming the
 *   device (the core's check, which must apply to null like any device);
 * - resize changes the size, and the reopen URI gives it, with the
 *   sector size; the URI reopens as the same geometry;
 * - bad URIs are refused with a sentence: a name, a sector size that is
 *   not a power of two, a size that is not whole sectors, an unknown key.
 *
 * Exit 0 on success, 1 with what differed on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>

static int failures;

#define CHECK(cond, ...)                                             \
	do {                                                         \
		if (!(cond)) {                                       \
			fprintf(stderr, "FAIL line %d: ", __LINE__); \
			fprintf(stderr, __VA_ARGS__);                \
			fprintf(stderr, " (last error: %s)\n",       \
				mblk_last_error());                  \
			failures++;                                  \
		}                                                    \
	} while (0)

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void check_geometry(uv_loop_t *loop, const char *uri, uint64_t sectors,
			   uint32_t ss)
{
	mblk_dev *dev;
	int r = mblk_open_sync(loop, uri, 0, &dev);
	CHECK(r == 0, "open %s: %d", uri, r);
	if (r)
		return;
	struct mblk_info info;
	mblk_get_info(dev, &info);
	CHECK(info.size_sectors == sectors && info.sector_size == ss,
	      "%s: %" PRIu64 " sectors of %u, expected %" PRIu64 " of %u", uri,
	      info.size_sectors, info.sector_size, sectors, ss);
	mblk_close_sync(dev);
}

static void check_refused(uv_loop_t *loop, const char *uri, const char *word)
{
	mblk_dev *dev = NULL;
	int r = mblk_open_sync(loop, uri, 0, &dev);
	CHECK(r < 0, "open %s succeeded", uri);
	if (r == 0) {
		mblk_close_sync(dev);
		return;
	}
	CHECK(strstr(mblk_last_error(), word) != NULL,
	      "open %s: the sentence '%s' does not mention '%s'", uri,
	      mblk_last_error(), word);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	const uint32_t ss = 4096;
	const uint64_t sectors = 256; /* 1 MiB */
	int r = mblk_open_sync(&loop, "null:?size=1M&sector-size=4096", 0,
			       &dev);
	if (r < 0) {
		fprintf(stderr, "FAIL: open: %s\n", mblk_last_error());
		return 1;
	}

	size_t len = 64 * 1024;
	unsigned char *buf = malloc(len), *data = malloc(len);
	memset(data, 0xa5, len);
	struct iovec w = { data, len }, rd = { buf, len };

	/* A write of data, then a read of the same range: zeros. */
	r = mblk_write_sync(dev, 8, &w, 1, 0);
	CHECK(r == 0, "write: %d", r);
	r = mblk_write_sync(dev, 16, &w, 1, MBLK_WRITE_FUA);
	CHECK(r == 0, "write with FUA: %d", r);
	memset(buf, 0x5a, len);
	r = mblk_read_sync(dev, 8, &rd, 1);
	CHECK(r == 0 && all_zero(buf, len), "read after a write: %d, %s", r,
	      all_zero(buf, len) ? "zeros" : "not zeros");
	/* Two buffers in one read, the last two sectors of the device. */
	unsigned char a[8192], b[4096];
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	struct iovec two[2] = { { a, ss }, { b, ss } };
	r = mblk_read_sync(dev, sectors - 2, two, 2);
	CHECK(r == 0 && all_zero(a, ss) && all_zero(b, ss) && a[ss] == 1,
	      "two-buffer read of the last sectors: %d", r);

	CHECK(mblk_flush_sync(dev) == 0, "flush");
	CHECK(mblk_discard_sync(dev, 0, 4) == 0, "discard");
	CHECK(mblk_write_zeroes_sync(dev, 0, 4, 0) == 0, "write_zeroes");
	CHECK(mblk_write_zeroes_sync(dev, 0, 4, MBLK_ZEROES_NO_HOLE) == 0,
	      "write_zeroes NO_HOLE");
	CHECK(mblk_write_zeroes_sync(dev, 0, 4, MBLK_ZEROES_FAST) == 0,
	      "write_zeroes FAST (the device claims zero_is_fast)");

	/* One hole, clipped to the range, then to the device. */
	struct mblk_extent ext[4];
	int n = 0;
	r = mblk_extents_sync(dev, 10, 20, ext, 4, &n);
	CHECK(r == 0 && n == 1 && ext[0].sector == 10 && ext[0].count == 20 &&
		      ext[0].flags == (MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO),
	      "extents of [10, 30): r %d n %d first %" PRIu64 "+%" PRIu64
	      " flags %u",
	      r, n, ext[0].sector, ext[0].count, ext[0].flags);
	r = mblk_extents_sync(dev, 200, 0, ext, 4, &n);
	CHECK(r == 0 && n == 1 && ext[0].count == sectors - 200,
	      "extents to the end: r %d n %d count %" PRIu64, r, n,
	      ext[0].count);
	uint64_t at = 0;
	r = mblk_seek_mapped_sync(dev, 0, &at);
	CHECK(r == 0 && at == sectors, "seek mapped: %d at %" PRIu64, r, at);
	r = mblk_seek_unmapped_sync(dev, 7, &at);
	CHECK(r == 0 && at == 7, "seek unmapped: %d at %" PRIu64, r, at);
	uint64_t held = 1;
	CHECK(mblk_get_allocated(dev, &held) == 0 && held == 0,
	      "allocated %" PRIu64 " bytes", held);

	/* Past the end: refused by the core, with a sentence. */
	r = mblk_read_sync(dev, sectors - 1, &rd, 1);
	CHECK(r == -EINVAL &&
		      strstr(mblk_last_error(), "null:?size=1M") != NULL,
	      "read past the end: %d '%s'", r, mblk_last_error());

	/* Resize, and the URI that reopens it. */
	r = mblk_resize_sync(dev, 1000);
	CHECK(r == 0, "resize: %d", r);
	struct mblk_info info;
	mblk_get_info(dev, &info);
	CHECK(info.size_sectors == 1000, "size after resize %" PRIu64,
	      info.size_sectors);
	char uri[200];
	mblk_get_uri(dev, uri, sizeof(uri));
	CHECK(strcmp(uri, "null:?size=4096000&sector-size=4096") == 0,
	      "reopen URI %s", uri);
	r = mblk_read_sync(dev, 999, &(struct iovec){ buf, 4096 }, 1);
	CHECK(r == 0 && all_zero(buf, 4096), "read of the grown end: %d", r);
	mblk_close_sync(dev);
	check_geometry(&loop, uri, 1000, 4096);
	check_geometry(&loop, "null:", (16u << 20) / 512, 512);
	check_geometry(&loop, "null:?size=8388608T", (1ull << 63) / 512, 512);

	check_refused(&loop, "null:disk?size=1M", "no name");
	check_refused(&loop, "null:?sector-size=1000", "power of two");
	check_refused(&loop, "null:?size=1000", "whole number");
	check_refused(&loop, "null:?sise=1M", "sise");

	free(buf);
	free(data);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	else
		printf("null: all checks passed\n");
	return failures ? 1 : 0;
}
