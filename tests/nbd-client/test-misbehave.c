/* test-misbehave.c - the NBD client against a server that breaks the
 * rules (badserver.py): every case ends in a clear error, in bounded
 * time, with nothing left on the loop.
 *
 * Usage:
 *   test-misbehave URI open-fails ERRNO TEXT
 *       the open fails with -ERRNO and a sentence containing TEXT
 *   test-misbehave URI read-fails ERRNO TEXT
 *       three reads in flight; the first fails with -ERRNO and TEXT;
 *       with ERRNO other than EIO the connection is gone, so all three
 *       fail, the device is disconnected with a reason containing TEXT
 *       and a later read fails with -ESHUTDOWN, naming the same cause;
 *       with EIO the device stays connected
 *   test-misbehave URI read-ok
 *       reads succeed with the server's pattern, a write succeeds, the
 *       hole half reads as zeros and mblk_extents reports it as a hole
 *
 * ERRNO is a name (EPROTO, ETIMEDOUT, ESHUTDOWN, EIO, ENOENT). Each case
 * must end within 10 s (an alarm catches a hang). Exit 0 or 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/backend.h>

#define SECTORS 16 /* per read */

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

static int errno_of(const char *name)
{
	static const struct {
		const char *name;
		int err;
	} t[] = { { "EPROTO", EPROTO },       { "ETIMEDOUT", ETIMEDOUT },
		  { "ESHUTDOWN", ESHUTDOWN }, { "EIO", EIO },
		  { "ENOENT", ENOENT },       { "ECONNRESET", ECONNRESET } };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].err;
	fprintf(stderr, "unknown errno name %s\n", name);
	exit(2);
}

struct rd {
	struct iovec iov; /* borrowed by the read until it completes */
	bool done;
	int status;
	char msg[512];
	uint8_t buf[SECTORS * 512];
};

static void rd_cb(void *data, int status, const char *error)
{
	struct rd *r = data;
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", error ? error : "");
}

static bool all_done(const struct rd *r, int n)
{
	for (int i = 0; i < n; i++)
		if (!r[i].done)
			return false;
	return true;
}

static void run_until(uv_loop_t *loop, struct rd *r, int n)
{
	while (!all_done(r, n))
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !all_done(r, n)) {
			CHECK(0, "the loop ran out of work with reads pending");
			return;
		}
}

static void check_fail(const struct rd *r, int err, const char *text,
		       const char *what)
{
	CHECK(r->status == -err, "%s: expected -%d (%s), got %d (%s): %s", what,
	      err, mblk_strerror(-err), r->status, mblk_strerror(r->status),
	      r->msg);
	CHECK(strstr(r->msg, text) != NULL,
	      "%s: the sentence does not contain '%s': %s", what, text, r->msg);
	if (r->status < 0)
		printf("ok %s: %s\n", what, r->msg);
}

static void submit_reads(mblk_dev *dev, struct rd *r, int n)
{
	for (int i = 0; i < n; i++) {
		r[i].iov = (struct iovec){ r[i].buf, sizeof(r[i].buf) };
		int rc = mblk_read(dev, (uint64_t)i * SECTORS, &r[i].iov, 1,
				   rd_cb, &r[i]);
		CHECK(rc == 0, "mblk_read returned %d", rc);
		if (rc < 0)
			r[i].done = true;
	}
}

static void read_ok(uv_loop_t *loop, mblk_dev *dev)
{
	struct rd r[3];
	memset(r, 0, sizeof(r));
	submit_reads(dev, r, 3);
	run_until(loop, r, 3);
	for (int i = 0; i < 3; i++) {
		CHECK(r[i].status == 0, "read %d: %s", i, r[i].msg);
		for (int b = 0; b < SECTORS * 512 && r[i].status == 0; b++) {
			uint64_t off = (uint64_t)i * SECTORS * 512 + b;
			if (r[i].buf[b] != off % 251) {
				CHECK(0,
				      "read %d: byte %llu is %u, expected %u",
				      i, (unsigned long long)off, r[i].buf[b],
				      (unsigned)(off % 251));
				break;
			}
		}
	}
	/* A write (the server checks its flags, and drops the data). */
	struct rd w;
	memset(&w, 0, sizeof(w));
	w.iov = (struct iovec){ w.buf, sizeof(w.buf) };
	CHECK(mblk_write(dev, 64, &w.iov, 1, 0, rd_cb, &w) == 0, "write");
	run_until(loop, &w, 1);
	CHECK(w.status == 0, "write: %s", w.msg);
	/* The hole half: zeros, and reported as a hole. */
	struct rd h;
	memset(&h, 0, sizeof(h));
	memset(h.buf, 0xff, sizeof(h.buf));
	h.iov = (struct iovec){ h.buf, sizeof(h.buf) };
	CHECK(mblk_read(dev, 1024, &h.iov, 1, rd_cb, &h) == 0, "hole read");
	run_until(loop, &h, 1);
	CHECK(h.status == 0, "hole read: %s", h.msg);
	for (size_t b = 0; b < sizeof(h.buf); b++)
		if (h.buf[b] != 0) {
			CHECK(0, "hole read: byte %zu is %u", b, h.buf[b]);
			break;
		}
	struct mblk_extent ext[8];
	int n = 0;
	struct mblk_info info;
	mblk_get_info(dev, &info);
	int rc = mblk_extents_sync(dev, 0, 2048, ext, 8, &n);
	if (!(info.caps & MBLK_CAP_SEEK)) {
		/* No base:allocation (simple replies): all data. */
		CHECK(rc == 0 && n == 1 && ext[0].sector == 0 &&
			      ext[0].count == 2048 && ext[0].flags == 0,
		      "extents without base:allocation: %d, %d extents, "
		      "first %llu+%llu flags %u",
		      rc, n, (unsigned long long)ext[0].sector,
		      (unsigned long long)ext[0].count, ext[0].flags);
		if (fails == 0)
			printf("ok reads, zeros, extents (all data)\n");
		return;
	}
	CHECK(rc == 0, "extents: %d %s", rc, mblk_last_error());
	CHECK(rc != 0 || (n >= 1 && ext[0].sector == 0 &&
			  ext[0].count == 1024 && ext[0].flags == 0),
	      "extents: first is %llu+%llu flags %u, expected 0+1024 data",
	      n ? (unsigned long long)ext[0].sector : 0,
	      n ? (unsigned long long)ext[0].count : 0, n ? ext[0].flags : 0);
	if (rc == 0 && n == 1) {
		/* The caller asks again from the end of the last one. */
		rc = mblk_extents_sync(dev, 1024, 1024, ext + 1, 7, &n);
		n++;
	}
	CHECK(rc == 0 && n >= 2 && ext[1].sector == 1024 &&
		      ext[1].count == 1024 &&
		      ext[1].flags == (MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO),
	      "extents: second is %llu+%llu flags %u, expected 1024+1024 "
	      "hole|zero",
	      (unsigned long long)ext[1].sector,
	      (unsigned long long)ext[1].count, ext[1].flags);
	if (fails == 0)
		printf("ok reads, holes and extents\n");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: test-misbehave URI MODE [ERRNO TEXT]\n");
		return 2;
	}
	const char *uri = argv[1], *mode = argv[2];
	alarm(10);
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev = NULL;
	int rc = mblk_open_sync(&loop, uri, 0, &dev);

	if (strcmp(mode, "open-fails") == 0) {
		int err = errno_of(argv[3]);
		CHECK(rc == -err, "open: expected -%d, got %d: %s", err, rc,
		      mblk_last_error());
		CHECK(strstr(mblk_last_error(), argv[4]) != NULL,
		      "open: the sentence does not contain '%s': %s", argv[4],
		      mblk_last_error());
		if (rc < 0)
			printf("ok open fails: %s\n", mblk_last_error());
		else
			mblk_close_sync(dev);
	} else if (rc < 0) {
		CHECK(0, "open: %s", mblk_last_error());
	} else if (strcmp(mode, "read-ok") == 0) {
		read_ok(&loop, dev);
		mblk_close_sync(dev);
	} else {
		int err = errno_of(argv[3]);
		const char *text = argv[4];
		struct rd r[4];
		memset(r, 0, sizeof(r));
		CHECK(!mblk_dev_is_disconnected(dev),
		      "disconnected before the first read");
		submit_reads(dev, r, 3);
		run_until(&loop, r, 3);
		check_fail(&r[0], err, text, "first read");
		if (err != EIO) {
			check_fail(&r[1], err, text, "second read in flight");
			check_fail(&r[2], err, text, "third read in flight");
			/* The device says it is lost, and why; later
			 * requests fail with -ESHUTDOWN and that. */
			const char *why = mblk_dev_disconnect_reason(dev);
			CHECK(mblk_dev_is_disconnected(dev) && why &&
				      strstr(why, text),
			      "after the connection's loss: disconnected %d, "
			      "reason '%s' (expected one naming '%s')",
			      mblk_dev_is_disconnected(dev),
			      why ? why : "(none)", text);
			submit_reads(dev, &r[3], 1);
			run_until(&loop, &r[3], 1);
			CHECK(r[3].status == -ESHUTDOWN &&
				      strstr(r[3].msg, text),
			      "a later read: expected -ESHUTDOWN naming '%s', "
			      "got %d: %s",
			      text, r[3].status, r[3].msg);
		} else {
			CHECK(r[1].status == 0 && r[2].status == 0,
			      "an error reply failed other reads: %s / %s",
			      r[1].msg, r[2].msg);
			CHECK(!mblk_dev_is_disconnected(dev),
			      "an error reply disconnected the device: %s",
			      mblk_dev_disconnect_reason(dev)
				      ? mblk_dev_disconnect_reason(dev)
				      : "(no reason)");
		}
		mblk_close_sync(dev);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	int lc = uv_loop_close(&loop);
	CHECK(lc == 0, "uv_loop_close: %s (handles left on the loop)",
	      uv_strerror(lc));
	return fails ? 1 : 0;
}
