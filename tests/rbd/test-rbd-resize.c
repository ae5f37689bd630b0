/* test-rbd-resize.c - resizing an RBD image both ways through mblk:
 * growing keeps the data and adds zeros, shrinking drops what is past
 * the new end (growing back reads zeros there), and the device's info
 * follows each step. Usage: test-rbd-resize URI FINAL_SECTORS; the
 * image is left FINAL_SECTORS long, for the caller to check with `rbd
 * info`. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>

static int fails;

#define CHECK(cond, ...)                                       \
	do {                                                   \
		if (!(cond)) {                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__); \
			fputc('\n', stderr);                   \
			fails++;                               \
		}                                              \
	} while (0)

static uint64_t size_of(mblk_dev *dev)
{
	struct mblk_info info;
	mblk_get_info(dev, &info);
	return info.size_sectors;
}

/* Reads one sector; true when every byte is v. */
static bool sector_is(mblk_dev *dev, uint64_t s, unsigned char v)
{
	unsigned char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	int r = mblk_read_sync(dev, s, &iov, 1);
	if (r < 0) {
		fprintf(stderr, "FAIL: read of sector %" PRIu64 ": %s\n", s,
			mblk_last_error());
		fails++;
		return false;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != v)
			return false;
	return true;
}

static int put(mblk_dev *dev, uint64_t s, unsigned char v)
{
	unsigned char buf[512];
	memset(buf, v, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	return mblk_write_sync(dev, s, &iov, 1, 0);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s URI FINAL_SECTORS\n", argv[0]);
		return 2;
	}
	uint64_t final = strtoull(argv[2], NULL, 10);
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	if (mblk_open_sync(&loop, argv[1], 0, &dev) < 0) {
		fprintf(stderr, "FAIL: %s\n", mblk_last_error());
		return 1;
	}
	char uri[1024];
	CHECK(mblk_get_uri(dev, uri, sizeof(uri)) > 0 &&
		      strstr(uri, "&read-only=0&") != NULL,
	      "a writer's URI does not say read-only=0: %s", uri);
	uint64_t n = size_of(dev);
	CHECK(n >= 64, "the image has %" PRIu64 " sectors, want >= 64", n);
	CHECK(put(dev, n - 1, 0xa5) == 0, "write the last sector: %s",
	      mblk_last_error());

	/* Grow: the old last sector kept, the new ones zeros. */
	CHECK(mblk_resize_sync(dev, 2 * n) == 0, "grow to %" PRIu64 ": %s",
	      2 * n, mblk_last_error());
	CHECK(size_of(dev) == 2 * n, "after growing: %" PRIu64 " sectors",
	      size_of(dev));
	CHECK(sector_is(dev, n - 1, 0xa5), "the old last sector changed");
	CHECK(sector_is(dev, n, 0) && sector_is(dev, 2 * n - 1, 0),
	      "the grown part does not read as zeros");
	CHECK(put(dev, 2 * n - 1, 0x5a) == 0, "write the new last sector: %s",
	      mblk_last_error());

	/* Shrink below the data, then grow back: zeros where it was. */
	CHECK(mblk_resize_sync(dev, n / 2) == 0, "shrink to %" PRIu64 ": %s",
	      n / 2, mblk_last_error());
	CHECK(size_of(dev) == n / 2, "after shrinking: %" PRIu64 " sectors",
	      size_of(dev));
	unsigned char b[512];
	struct iovec iov = { b, sizeof(b) };
	CHECK(mblk_read_sync(dev, n - 1, &iov, 1) == -EINVAL,
	      "a read past the new end was not refused");
	CHECK(mblk_resize_sync(dev, 2 * n) == 0, "grow back: %s",
	      mblk_last_error());
	CHECK(sector_is(dev, n - 1, 0) && sector_is(dev, 2 * n - 1, 0),
	      "data past the shrunk end came back after growing");

	CHECK(mblk_resize_sync(dev, final) == 0, "resize to %" PRIu64 ": %s",
	      final, mblk_last_error());
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "handles left on the loop");
	if (fails == 0)
		printf("all checks passed\n");
	return fails == 0 ? 0 : 1;
}
