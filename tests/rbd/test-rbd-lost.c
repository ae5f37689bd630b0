/* test-rbd-lost.c - an RBD client the cluster blocklists is lost:
 * mblk_dev_is_disconnected turns true with a sentence saying so, and
 * later requests fail with -ESHUTDOWN and it.
 *
 * Usage: test-rbd-lost URI READY_FILE. Opens URI, writes a sector,
 * creates READY_FILE and then writes a sector every 100 ms (bounded:
 * 60 s) until one fails; the caller blocklists the client meanwhile
 * (test-rbd-lost.sh). Then checks the failure is -ESHUTDOWN, the device
 * is disconnected with a reason naming the blocklisting, and a later
 * read fails with -ESHUTDOWN and that reason. Exit 0 or 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/backend.h>

static int fails;

#define CHECK(cond, ...)                                       \
	do {                                                   \
		if (!(cond)) {                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__); \
			fputc('\n', stderr);                   \
			fails++;                               \
		}                                              \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test-rbd-lost URI READY_FILE\n");
		return 2;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	if (mblk_open_sync(&loop, argv[1], 0, &dev) < 0) {
		fprintf(stderr, "FAIL: open: %s\n", mblk_last_error());
		return 1;
	}
	static unsigned char buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	struct iovec v = { buf, sizeof(buf) };
	int rc = mblk_write_sync(dev, 0, &v, 1, 0);
	CHECK(rc == 0, "first write: %s", mblk_last_error());
	CHECK(!mblk_dev_is_disconnected(dev), "disconnected after a write");
	FILE *f = fopen(argv[2], "w");
	if (f)
		fclose(f);
	for (int i = 0; i < 600 && rc == 0; i++) {
		usleep(100000);
		rc = mblk_write_sync(dev, 0, &v, 1, 0);
	}
	char first[400];
	snprintf(first, sizeof(first), "%s", mblk_last_error());
	CHECK(rc == -ESHUTDOWN,
	      "a write once blocklisted: expected -ESHUTDOWN, got %d: %s", rc,
	      first);
	const char *why = mblk_dev_disconnect_reason(dev);
	CHECK(mblk_dev_is_disconnected(dev) && why &&
		      strstr(why, "blocklisted"),
	      "after the blocklisting: disconnected %d, reason '%s'",
	      mblk_dev_is_disconnected(dev), why ? why : "(none)");
	rc = mblk_read_sync(dev, 8, &v, 1);
	CHECK(rc == -ESHUTDOWN && why && strstr(mblk_last_error(), why),
	      "a later read: expected -ESHUTDOWN with the reason, got %d: %s",
	      rc, mblk_last_error());
	if (fails == 0)
		printf("ok blocklisted: %s; later: %s\n", first,
		       mblk_last_error());
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "handles left on the loop");
	return fails ? 1 : 0;
}
