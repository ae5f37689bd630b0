/* test-copy-sector-sizes.c - `mblk copy` between devices whose sector
 * sizes differ by 128x (512 bytes and 64 KiB), both ways, with data in the
 * middle of a large sector and junk on the destination.
 *
 * The copy walks the source's extents and writes in the larger sector:
 * data must be rounded outward, holes inward, or the data inside a large
 * sector but not at its start is skipped (or zeroed). Runs cmd_copy in
 * this process (ram devices live as long as the process) with a small
 * buffer and many requests, then compares every byte; then with the
 * default buffer. The destination's seek_mapped must not answer past any
 * data either (it is a ram device; the copy must have written it). The
 * source also holds 128 KiB of allocated zeros (data, not a hole), which
 * must reach the junk destination as zeros.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/ram.h>
#include "../../src/cli/cli.h"

#define SIZE (4u << 20)
#define BIG 65536u

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
	char *argv[] = { "copy",         (char *)a,    (char *)b, "--buffer",
			 (char *)buffer, "--requests", "7",       NULL };
	optind = 0;
	return cmd_copy(7, argv);
}

static const struct {
	unsigned off, len;
} ext[] = {
	{ 5 * BIG + 30720, 512 }, { 9 * BIG + BIG - 512, 512 },
	{ 20 * BIG, 512 },        { 30 * BIG + BIG - 512, 1536 },
	{ SIZE - 512, 512 },
};

static void one(uv_loop_t *loop, uint32_t sss, uint32_t dss)
{
	mblk_dev *src, *dst;
	CHECK(mblk_ram_create(loop, "ss-src", SIZE / sss, sss, &src) == 0, "%s",
	      mblk_last_error());
	CHECK(mblk_ram_create(loop, "ss-dst", SIZE / dss, dss, &dst) == 0, "%s",
	      mblk_last_error());
	if (fails)
		exit(1);
	unsigned char *want = calloc(1, SIZE), *got = malloc(SIZE);
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		for (unsigned j = 0; j < ext[i].len; j++)
			want[ext[i].off + j] =
				(unsigned char)(i * 37 + j * 7 + 1) | 1;
	/* The source: every source sector holding data is written whole
	 * (with 64 KiB sectors the zeros around the bytes are data too). */
	for (unsigned s = 0; s < SIZE / sss; s++) {
		bool any = false;
		for (unsigned k = 0; k < sss && !any; k++)
			any = want[s * sss + k] != 0;
		if (!any)
			continue;
		struct iovec w = { want + (size_t)s * sss, sss };
		CHECK(mblk_write_sync(src, s, &w, 1, 0) == 0, "%s",
		      mblk_last_error());
	}
	/* 128 KiB of zeros that are data (allocated: NO_HOLE), not a hole:
	 * the copy reads them and, detecting zeros, must still zero them
	 * on a destination full of junk. */
	CHECK(mblk_write_zeroes_sync(src, 40 * (BIG / sss), 2 * (BIG / sss),
				     MBLK_ZEROES_NO_HOLE) == 0,
	      "%s", mblk_last_error());
	static const char *const buffers[] = { "64K", "16M" };
	for (int b = 0; b < 2; b++) {
		memset(got, 0xee, SIZE);
		struct iovec iov = { got, SIZE };
		CHECK(mblk_write_sync(dst, 0, &iov, 1, 0) == 0, "%s",
		      mblk_last_error());
		int rc = run_copy("ram:ss-src", "ram:ss-dst", buffers[b]);
		CHECK(rc == 0, "mblk copy (%u onto %u, --buffer %s) exited %d",
		      sss, dss, buffers[b], rc);
		memset(got, 0x55, SIZE);
		CHECK(mblk_read_sync(dst, 0, &iov, 1) == 0, "%s",
		      mblk_last_error());
		for (size_t i = 0; i < SIZE; i++)
			if (got[i] != want[i]) {
				CHECK(0,
				      "%u-byte sectors onto %u, --buffer %s: "
				      "byte %zu (64 KiB unit %zu + %zu) of the "
				      "destination is %#x, the source has %#x",
				      sss, dss, buffers[b], i, i / BIG, i % BIG,
				      got[i], want[i]);
				break;
			}
	}
	/* Every 64 KiB unit holding data: the destination's seek_mapped
	 * from the unit's start does not pass it. */
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		uint64_t unit = ext[i].off / BIG, s = 0;
		uint64_t from = unit * (BIG / dss);
		CHECK(mblk_seek_mapped_sync(dst, from, &s) == 0, "%s",
		      mblk_last_error());
		CHECK(s <= ext[i].off / dss,
		      "destination seek_mapped(%llu) = %llu, past the data at "
		      "byte %u",
		      (unsigned long long)from, (unsigned long long)s,
		      ext[i].off);
	}
	mblk_close(src, NULL, NULL);
	mblk_close(dst, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	mblk_ram_destroy("ss-src");
	mblk_ram_destroy("ss-dst");
	free(want);
	free(got);
	if (fails)
		exit(1);
	printf("ok copy %u-byte sectors onto %u\n", sss, dss);
}

/* A copy that loops forever on an extent edge must fail here, at once,
 * not at meson's timeout. */
static void watchdog(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: the copies did not finish within 5 s: "
				  "a copy loops on an extent edge\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int main(void)
{
	signal(SIGALRM, watchdog);
	alarm(5);
	uv_loop_t loop;
	uv_loop_init(&loop);
	one(&loop, 512, BIG);
	one(&loop, BIG, 512);
	uv_loop_close(&loop);
	return 0;
}
