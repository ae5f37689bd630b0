/* test-reconnect.c - reconnect=SECONDS: requests in flight when the
 * server goes away are sent again once it is back, and fail with a
 * sentence when it does not come back in time.
 *
 * Usage: test-reconnect DIR
 *
 * Starts `nbdkit file` on DIR/sock serving DIR/img itself (so that it can
 * kill and restart it at chosen moments), by pid. Cases:
 *   1. writes a pattern, stops the server (SIGTERM: nbdkit answers
 *      NBD_ESHUTDOWN; then again with SIGKILL: the socket just closes),
 *      submits 32 reads and 8 writes, restarts the server a second
 *      later: every request succeeds and the data read back is the
 *      pattern (and the writes' data);
 *   2. kills the server: requests fail after about reconnect seconds,
 *      naming the cause, and so do later ones; the device is still not
 *      disconnected (it redials), and serves again once the server is
 *      restarted.
 * Exit 0, 1, or 77 when nbdkit is missing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/backend.h>

#include "mtest.h"
#include "nbdkit-daemon.h"

#define NREQ 40
#define SECT 16

static int fails;
static char dir[400];
static pid_t server;

#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond)) {                        \
			fprintf(stderr, "FAIL: ");    \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n");        \
			fails++;                      \
		}                                     \
	} while (0)

static void server_start(void)
{
	char args[600];
	snprintf(args, sizeof(args), "file %s/img", dir);
	server = nbdkit_daemon_start(dir, args);
}

/* SIGTERM: nbdkit shuts down gracefully, answering NBD_ESHUTDOWN until
 * its clients go; SIGKILL: a crash, the connection just ends. */
static void server_stop(int sig)
{
	nbdkit_daemon_stop(server, sig);
	server = 0;
}

struct io {
	struct iovec iov;
	uint8_t buf[SECT * 512];
	bool done;
	int status;
	char msg[400];
};

static struct io ios[NREQ];
static int ndone;

static void io_cb(void *data, int status, const char *error)
{
	struct io *o = data;
	o->done = true;
	o->status = status;
	snprintf(o->msg, sizeof(o->msg), "%s", error ? error : "");
	ndone++;
}

static uint8_t pattern(uint64_t off, int gen)
{
	return (uint8_t)(off * 7 + (off >> 9) + (unsigned)gen * 13);
}

static void restart_cb(uv_timer_t *t)
{
	(void)t;
	server_start();
}

static void submit_all(mblk_dev *dev)
{
	ndone = 0;
	for (int i = 0; i < NREQ; i++) {
		struct io *o = &ios[i];
		o->done = false;
		o->iov = (struct iovec){ o->buf, sizeof(o->buf) };
		uint64_t sector = (uint64_t)i * SECT;
		int rc;
		if (i % 5 == 4) {
			for (size_t b = 0; b < sizeof(o->buf); b++)
				o->buf[b] = pattern(sector * 512 + b, 1);
			rc = mblk_write(dev, sector, &o->iov, 1, 0, io_cb, o);
		} else {
			memset(o->buf, 0, sizeof(o->buf));
			rc = mblk_read(dev, sector, &o->iov, 1, io_cb, o);
		}
		CHECK(rc == 0, "submit %d: %d", i, rc);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-reconnect DIR\n");
		return 2;
	}
	mtest_need_peer("nbdkit");
	alarm(60);
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "truncate -s 1M %s/img", dir);
	if (system(cmd) != 0)
		return 1;
	server_start();

	uv_loop_t loop;
	uv_loop_init(&loop);
	char uri[700];
	snprintf(uri, sizeof(uri),
		 "nbd+unix:///?socket=%s/sock&reconnect=3&timeout=5", dir);
	mblk_dev *dev;
	if (mblk_open_sync(&loop, uri, 0, &dev) < 0) {
		fprintf(stderr, "FAIL: open: %s\n", mblk_last_error());
		server_stop(SIGKILL);
		return 1;
	}
	/* The pattern of generation 0 everywhere. */
	static uint8_t all[NREQ * SECT * 512];
	for (size_t b = 0; b < sizeof(all); b++)
		all[b] = pattern(b, 0);
	struct iovec v = { all, sizeof(all) };
	CHECK(mblk_write_sync(dev, 0, &v, 1, 0) == 0, "write: %s",
	      mblk_last_error());

	/* 1. The server goes away with requests in flight and comes back:
	 * shut down gracefully, then killed. */
	uv_timer_t restart;
	uv_timer_init(&loop, &restart);
	for (int round = 0; round < 2; round++) {
		server_stop(round == 0 ? SIGTERM : SIGKILL);
		submit_all(dev);
		uv_timer_start(&restart, restart_cb, 1000, 0);
		uint64_t t0 = uv_now(&loop);
		while (ndone < NREQ)
			if (uv_run(&loop, UV_RUN_ONCE) == 0 && ndone < NREQ) {
				CHECK(0,
				      "the loop ran out of work with %d requests "
				      "pending",
				      NREQ - ndone);
				break;
			}
		uv_update_time(&loop);
		for (int i = 0; i < NREQ; i++) {
			struct io *o = &ios[i];
			CHECK(o->status == 0,
			      "request %d after the reconnect: %s", i, o->msg);
			if (i % 5 == 4 || o->status)
				continue;
			for (size_t b = 0; b < sizeof(o->buf); b++) {
				uint64_t off = (uint64_t)i * SECT * 512 + b;
				if (o->buf[b] != pattern(off, 0)) {
					CHECK(0, "read %d: byte %llu differs",
					      i, (unsigned long long)off);
					break;
				}
			}
		}
		CHECK(mblk_read_sync(dev, 0, &v, 1) == 0, "read back: %s",
		      mblk_last_error());
		for (size_t b = 0; b < sizeof(all); b++) {
			int gen = (b / (SECT * 512)) % 5 == 4 ? 1 : 0;
			if (all[b] != pattern(b, gen)) {
				CHECK(0, "after the reconnect byte %zu differs",
				      b);
				break;
			}
		}
		if (fails == 0)
			printf("ok %d requests in flight survived the server's restart "
			       "after %s (%llu ms)\n",
			       NREQ, round == 0 ? "SIGTERM" : "SIGKILL",
			       (unsigned long long)(uv_now(&loop) - t0));
	}

	/* 2. The server does not come back: failure after reconnect=3. */
	server_stop(SIGKILL);
	uv_update_time(&loop); /* server_stop slept */
	uint64_t t0 = uv_now(&loop);
	submit_all(dev);
	while (ndone < NREQ && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	uv_update_time(&loop);
	uint64_t ms = uv_now(&loop) - t0;
	CHECK(ndone == NREQ, "%d requests never completed", NREQ - ndone);
	CHECK(ms >= 2900 && ms < 4500,
	      "the requests failed after %llu ms, expected about 3000",
	      (unsigned long long)ms);
	for (int i = 0; i < NREQ; i++)
		CHECK(ios[i].status < 0 &&
			      strstr(ios[i].msg,
				     "could not reconnect within 3 s"),
		      "request %d: expected a failure naming the reconnect, got "
		      "%d: %s",
		      i, ios[i].status, ios[i].msg);
	if (fails == 0)
		printf("ok without the server, requests fail after %llu ms: "
		       "%s\n",
		       (unsigned long long)ms, ios[0].msg);
	struct iovec one = { ios[0].buf, 512 };
	int rc = mblk_read_sync(dev, 0, &one, 1);
	CHECK(rc < 0 && strstr(mblk_last_error(), "could not reconnect"),
	      "a later read: %d: %s", rc, mblk_last_error());
	/* It has not given up: it redials for as long as it is open, so it
	 * is not disconnected, and comes back with the server. */
	CHECK(!mblk_dev_is_disconnected(dev),
	      "disconnected while still redialling: %s",
	      mblk_dev_disconnect_reason(dev) ? mblk_dev_disconnect_reason(dev)
					      : "(no reason)");
	server_start();
	rc = mblk_read_sync(dev, 0, &one, 1);
	CHECK(rc == 0, "a read once the server is back: %d: %s", rc,
	      mblk_last_error());
	if (rc == 0 && !mblk_dev_is_disconnected(dev))
		printf("ok still connected while redialling, and back with the "
		       "server\n");

	uv_close((uv_handle_t *)&restart, NULL);
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "handles left on the loop");
	server_stop(SIGKILL);
	return fails ? 1 : 0;
}
