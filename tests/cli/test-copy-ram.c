/* test-copy-ram.c - `mblk copy` between two ram devices, in one process.
 *
 * ram devices live as long as the process, so this test runs cmd_copy
 * itself (linked in) between two named ramdisks it created and then
 * compares them: data extents must be copied, and the source's holes
 * must come out as zeros over a destination full of junk. It runs with
 * a small buffer so that many requests and many extents are in flight.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>
#include <mblk/ram.h>
#include "../../src/cli/cli.h"

#define SIZE (8u << 20)
#define SS 512u

static int fails;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			fails++;                                             \
		}                                                            \
	} while (0)

static int run_copy(const char *a, const char *b, const char *buffer)
{
	char *argv[] = { "copy",     (char *)a,      (char *)b,
			 "--buffer", (char *)buffer, "--requests",
			 "5",        "--quiet",      NULL };
	optind = 0;
	return cmd_copy(8, argv);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *src, *dst;
	CHECK(mblk_ram_create(&loop, "src", SIZE / SS, SS, &src) == 0, "%s",
	      mblk_last_error());
	CHECK(mblk_ram_create(&loop, "dst", SIZE / SS, SS, &dst) == 0, "%s",
	      mblk_last_error());
	if (fails)
		return 1;

	unsigned char *want = calloc(1, SIZE), *got = malloc(SIZE);
	/* dst: junk everywhere. src: data at a few odd places. */
	memset(got, 0xee, SIZE);
	struct iovec iov = { got, SIZE };
	CHECK(mblk_write_sync(dst, 0, &iov, 1, 0) == 0, "%s",
	      mblk_last_error());
	static const struct {
		unsigned off, len;
	} ext[] = {
		{ 0, 4096 },
		{ 8192, 512 },
		{ 65536, 300000 / SS * SS },
		{ (4u << 20) - 4096, 8192 },
		{ SIZE - 4096, 4096 },
	};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		for (unsigned j = 0; j < ext[i].len; j++)
			want[ext[i].off + j] =
				(unsigned char)(i * 37 + j * 7 + 1);
		struct iovec w = { want + ext[i].off, ext[i].len };
		CHECK(mblk_write_sync(src, ext[i].off / SS, &w, 1, 0) == 0,
		      "%s", mblk_last_error());
	}

	int rc = run_copy("ram:src", "ram:dst", "64K");
	CHECK(rc == 0, "mblk copy exited %d", rc);
	memset(got, 0x55, SIZE);
	CHECK(mblk_read_sync(dst, 0, &iov, 1) == 0, "%s", mblk_last_error());
	for (size_t i = 0; i < SIZE; i++) {
		if (got[i] != want[i]) {
			CHECK(0, "byte %zu of dst is %#x, src has %#x", i,
			      got[i], want[i]);
			break;
		}
	}
	/* A second copy with the default buffer gives the same. */
	rc = run_copy("ram:src", "ram:dst", "16M");
	CHECK(rc == 0, "second mblk copy exited %d", rc);
	CHECK(mblk_read_sync(dst, 0, &iov, 1) == 0, "%s", mblk_last_error());
	CHECK(memcmp(got, want, SIZE) == 0, "second copy differs");

	/* Onto 4096-byte sectors: extents are rounded to whole 4 KiB. */
	mblk_dev *dst4k;
	CHECK(mblk_ram_create(&loop, "dst4k", SIZE / 4096, 4096, &dst4k) == 0,
	      "%s", mblk_last_error());
	memset(got, 0xee, SIZE);
	CHECK(mblk_write_sync(dst4k, 0, &iov, 1, 0) == 0, "%s",
	      mblk_last_error());
	rc = run_copy("ram:src", "ram:dst4k", "64K");
	CHECK(rc == 0, "copy onto 4096-byte sectors exited %d", rc);
	CHECK(mblk_read_sync(dst4k, 0, &iov, 1) == 0, "%s", mblk_last_error());
	CHECK(memcmp(got, want, SIZE) == 0, "copy onto 4096-byte sectors "
					    "differs");
	mblk_close(dst4k, NULL, NULL);
	mblk_ram_destroy("dst4k");

	/* Time follows the data: an empty 8 EiB source onto an 8 EiB
	 * destination holding data at both ends (so it does not read as
	 * zeros and the holes must be zeroed): one fast write_zeroes, in
	 * well under a second, and the data is gone. */
	mblk_dev *bsrc, *bdst;
	uint64_t huge = (1ull << 63) / SS;
	CHECK(mblk_ram_create(&loop, "bsrc", huge, SS, &bsrc) == 0, "%s",
	      mblk_last_error());
	CHECK(mblk_ram_create(&loop, "bdst", huge, SS, &bdst) == 0, "%s",
	      mblk_last_error());
	struct iovec one = { got, SS };
	memset(got, 0xee, SS);
	CHECK(mblk_write_sync(bdst, 0, &one, 1, 0) == 0, "%s",
	      mblk_last_error());
	CHECK(mblk_write_sync(bdst, huge - 1, &one, 1, 0) == 0, "%s",
	      mblk_last_error());
	uint64_t t0 = uv_hrtime();
	rc = run_copy("ram:bsrc", "ram:bdst", "16M");
	double secs = (double)(uv_hrtime() - t0) / 1e9;
	CHECK(rc == 0, "the 8 EiB copy exited %d", rc);
	CHECK(secs < 2.0, "the 8 EiB copy took %.3f s", secs);
	uint64_t alloc = 1;
	CHECK(mblk_get_allocated(bdst, &alloc) == 0 && alloc == 0,
	      "the 8 EiB destination still holds %llu bytes",
	      (unsigned long long)alloc);
	mblk_close(bsrc, NULL, NULL);
	mblk_close(bdst, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	mblk_ram_destroy("bsrc");
	mblk_ram_destroy("bdst");

	mblk_close(src, NULL, NULL);
	mblk_close(dst, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	mblk_ram_destroy("src");
	mblk_ram_destroy("dst");
	free(want);
	free(got);
	if (fails)
		return 1;
	printf("copy between ram devices: data and holes correct\n");
	return 0;
}
