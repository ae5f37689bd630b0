/* test-lost.c - a client device whose server dies under it says so:
 * mblk_dev_is_disconnected becomes true, mblk_dev_disconnect_reason
 * names the server and the cause, and every later request fails at once
 * with -ESHUTDOWN and that sentence.
 *
 * Usage: test-lost DIR
 *
 * Starts `nbdkit memory` on DIR/sock itself (so that it can kill it), by
 * pid, and opens it without reconnect=. Checks, in order: connected and
 * no reason after the open and after a read; SIGKILL the server; a read
 * fails with -ESHUTDOWN naming the socket; then the device (the handle
 * mblk_open returned, the safe wrapper over the client) is disconnected
 * with a reason naming the socket and "closed the connection"; a later
 * read and a later flush fail with -ESHUTDOWN, the device's name, the
 * operation and the reason; closing works and leaves nothing on the
 * loop. Exit 0, 1, or 77 when nbdkit is missing (a failure under CI).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/backend.h>

#include "mtest.h"
#include "nbdkit-daemon.h"

static int fails;

#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond)) {                        \
			fprintf(stderr, "FAIL: ");    \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n");        \
			fails++;                      \
		}                                     \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-lost DIR\n");
		return 2;
	}
	mtest_need_peer("nbdkit");
	alarm(20);
	const char *dir = argv[1];
	pid_t pid = nbdkit_daemon_start(dir, "memory 1M");
	char sock[600], uri[700];
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s&timeout=5", sock);

	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	if (mblk_open_sync(&loop, uri, 0, &dev) < 0) {
		fprintf(stderr, "FAIL: open: %s\n", mblk_last_error());
		nbdkit_daemon_stop(pid, SIGKILL);
		return 1;
	}
	static uint8_t buf[64 * 1024];
	struct iovec v = { buf, sizeof(buf) };
	CHECK(!mblk_dev_is_disconnected(dev), "disconnected after the open");
	CHECK(mblk_read_sync(dev, 0, &v, 1) == 0, "read: %s",
	      mblk_last_error());
	CHECK(!mblk_dev_is_disconnected(dev) &&
		      mblk_dev_disconnect_reason(dev) == NULL,
	      "disconnected after a read: %s",
	      mblk_dev_disconnect_reason(dev) ? mblk_dev_disconnect_reason(dev)
					      : "(no reason)");

	/* The server dies; the next read finds out. */
	nbdkit_daemon_stop(pid, SIGKILL);
	int rc = mblk_read_sync(dev, 0, &v, 1);
	CHECK(rc == -ESHUTDOWN && strstr(mblk_last_error(), sock),
	      "read after the server died: expected -ESHUTDOWN naming %s, "
	      "got %d: %s",
	      sock, rc, mblk_last_error());
	CHECK(mblk_dev_is_disconnected(dev),
	      "not disconnected after the server died");
	const char *why = mblk_dev_disconnect_reason(dev);
	CHECK(why != NULL && strstr(why, sock) &&
		      strstr(why, "closed the connection"),
	      "the reason does not name %s and 'closed the connection': %s",
	      sock, why ? why : "(none)");
	if (fails == 0)
		printf("ok the device is disconnected: %s\n", why);

	/* Later requests fail at once, with the device, the operation and
	 * the reason. */
	rc = mblk_read_sync(dev, 8, &v, 1);
	const char *e = mblk_last_error();
	CHECK(rc == -ESHUTDOWN && why && strstr(e, why) &&
		      strstr(e, mblk_dev_name(dev)) && strstr(e, "read"),
	      "a later read: expected -ESHUTDOWN with the device's name, "
	      "'read' and the reason, got %d: %s",
	      rc, e);
	if (rc < 0)
		printf("ok a later read: %s\n", e);
	rc = mblk_flush_sync(dev);
	CHECK(rc == -ESHUTDOWN && why && strstr(mblk_last_error(), why),
	      "a later flush: expected -ESHUTDOWN with the reason, got %d: %s",
	      rc, mblk_last_error());

	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "handles left on the loop");
	return fails ? 1 : 0;
}
