/* check_async.c - the conformance checks of the asynchronous contract:
 * never inside submit, exactly once in any order, a QD-64 stress run,
 * close and disconnect with requests in flight (see README.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "shim.h"

/* ------------------------------------------------------------------ */
/* The asynchronous contract                                           */

void check_never_inside(void)
{
	/* One request of every kind, valid and rejected, each checked by
	 * done_ok (it fails the check if a callback ran inside submit). */
	if (!need(1))
		return;
	unsigned char *buf = xalloc(ss);
	pat_fill(buf, ss, TAG, 121, 0);
	struct iovec iov = { buf, ss }, bad = { buf, ss + 1 };
	struct done d;
	do_write(dev, 0, &iov, 1, 0, &d);
	do_write(dev, 0, &iov, 1, MBLK_WRITE_FUA, &d);
	do_read(dev, 0, &iov, 1, &d);
	do_read(dev, 0, NULL, 0, &d);
	do_read(dev, size, &iov, 1, &d);  /* rejected: past the end */
	do_write(dev, 0, &bad, 1, 0, &d); /* rejected: length */
	do_read(dev, 0, NULL, 1, &d);     /* rejected: NULL iov */
	do_op(dev, S_FLUSH, 0, 0, 0, &d);
	do_op(dev, S_DISCARD, 0, 1, 0, &d); /* done or -ENOTSUP */
	do_op(dev, S_DISCARD, size, 1, 0, &d);
	do_op(dev, S_ZEROES, 0, 1, 0, &d);
	do_op(dev, S_ZEROES, 0, 1, MBLK_ZEROES_NO_HOLE, &d);
	do_op(dev, S_RESIZE, size, 0, 0, &d); /* same size, or -ENOTSUP */
	do_op(dev, S_RESIZE, UINT64_MAX, 0, 0, &d);
	do_op(dev, S_MAPPED, 0, 0, 0, &d);
	do_op(dev, S_UNMAPPED, 0, 0, 0, &d);
	do_op(dev, S_MAPPED, size, 0, 0, &d);
	do_op(dev, S_UNMAPPED, UINT64_MAX, 0, 0, &d);
	free(buf);
	/* Disconnect and the -ENODEV path are checked on their own device
	 * in disconnect_in_flight. */
}

/* Many concurrent requests: each completes exactly once, whatever the
 * order. Writes to distinct sectors, then reads of them, all in flight
 * at once; then the data. */
void check_any_order(void)
{
	enum { N = 128 };
	uint64_t n = size < N ? size : N;
	if (!need(2))
		return;
	uint64_t s = mid(n);
	unsigned char *src = xalloc(n * ss), *dst = xalloc(n * ss);
	struct iovec *wv = calloc(n, sizeof(*wv)), *rv = calloc(n, sizeof(*rv));
	struct done *d = calloc(2 * n + 2, sizeof(*d));
	pat_fill_range(src, ss, n, TAG, 122, s);
	for (uint64_t i = 0; i < n; i++) {
		wv[i] = (struct iovec){ src + i * ss, ss };
		rv[i] = (struct iovec){ dst + i * ss, ss };
	}
	/* Writes in a scrambled order, a flush, a seek, then the reads
	 * (after the writes completed, to compare the data). */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = (i * 37) % n;
		int r = s_write(dev, s + j, &wv[j], 1, 0, &d[j]);
		if (r != 0) {
			fail("write %" PRIu64 ": submission returned %d", j, r);
			goto out;
		}
	}
	if (s_op(dev, S_FLUSH, 0, 0, 0, &d[2 * n]) != 0 ||
	    s_op(dev, S_MAPPED, s, 0, 0, &d[2 * n + 1]) != 0) {
		fail("flush or seek: submission refused");
		goto out;
	}
	if (!wait_all(d, n, "concurrent writes"))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = (i * 53) % n;
		if (s_read(dev, s + j, &rv[j], 1, &d[n + j]) != 0) {
			fail("read %" PRIu64 ": submission refused", j);
			goto out;
		}
	}
	if (!wait_all(d, 2 * n + 2, "concurrent requests"))
		goto out;
	/* A few more loop turns: a second callback would show now. */
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	for (uint64_t i = 0; i < 2 * n + 2; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %" PRIu64 " of %" PRIu64, i,
			 2 * n + 2);
		if (!done_ok(&d[i], w))
			goto out;
		if (d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, d[i].status,
			     d[i].err);
			goto out;
		}
	}
	compare("concurrent writes read back concurrently", dst, s, n, 122);
out:
	free(src);
	free(dst);
	free(wv);
	free(rv);
	free(d);
}

/* 1000 requests, 64 in flight, each completion submitting the next. */
enum { STRESS_N = 1000, STRESS_QD = 64 };

static struct stress {
	struct done d[STRESS_N];
	struct iovec iov[STRESS_N];
	unsigned char *buf;
	bool written[256];
	uint64_t base, slots;
	int next, inflight, max_inflight, submit_errors;
} * st;

static void stress_submit(void);

static void stress_io_cb(void *data, int status, const char *error)
{
	done_record(data, status, error);
	st->inflight--;
	stress_submit();
}

static void stress_seek_cb(void *data, int status, uint64_t sector,
			   const char *error)
{
	((struct done *)data)->sector = sector;
	stress_io_cb(data, status, error);
}

static void stress_submit(void)
{
	while (st->inflight < STRESS_QD && st->next < STRESS_N) {
		int i = st->next++;
		uint64_t slot = (uint64_t)i % st->slots;
		uint64_t s = st->base + slot;
		struct done *d = &st->d[i];
		int r;
		st->iov[i] = (struct iovec){ st->buf + slot * ss, ss };
		in_submit++;
		switch (i % 8) {
		case 0:
		case 1:
		case 2:
			r = mblk_write(dev, s, &st->iov[i], 1, 0, stress_io_cb,
				       d);
			st->written[slot] = true;
			break;
		case 3:
		case 4:
		case 5:
			/* Reads go to a buffer of their own. */
			st->iov[i].iov_base = st->buf + (st->slots + slot) * ss;
			r = mblk_read(dev, s, &st->iov[i], 1, stress_io_cb, d);
			break;
		case 6: r = mblk_flush(dev, stress_io_cb, d); break;
		default:
			r = i % 16 == 7 ? mblk_seek_mapped(dev, s,
							   stress_seek_cb, d)
					: mblk_seek_unmapped(dev, s,
							     stress_seek_cb, d);
			break;
		}
		in_submit--;
		if (r != 0) {
			st->submit_errors++;
			continue;
		}
		st->inflight++;
		if (st->inflight > st->max_inflight)
			st->max_inflight = st->inflight;
	}
}

void check_stress(void)
{
	if (!need(1))
		return;
	st = calloc(1, sizeof(*st));
	st->slots = size < 256 ? size : 256;
	st->base = mid(st->slots);
	st->buf = xalloc(2 * st->slots * ss);
	pat_fill_range(st->buf, ss, st->slots, TAG, 123, st->base);
	stress_submit();
	while (st->next < STRESS_N || st->inflight > 0)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 &&
		    (st->next < STRESS_N || st->inflight > 0)) {
			fail("the loop has nothing left to run with %d "
			     "requests in flight and %d not yet submitted",
			     st->inflight, STRESS_N - st->next);
			goto out;
		}
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (st->submit_errors > 0) {
		fail("%d of %d submissions were refused", st->submit_errors,
		     STRESS_N);
		goto out;
	}
	for (int i = 0; i < STRESS_N; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %d of %d (kind %d)", i,
			 STRESS_N, i % 8);
		if (!done_ok(&st->d[i], w))
			goto out;
		if (st->d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, st->d[i].status,
			     st->d[i].err);
			goto out;
		}
	}
	if (st->max_inflight != STRESS_QD)
		fail("at most %d requests were in flight, expected %d",
		     st->max_inflight, STRESS_QD);
	for (uint64_t k = 0; k < st->slots && !cur_failed; k++)
		if (st->written[k])
			check_data("a slot written in the stress run",
				   st->base + k, 1, 123);
out:
	free(st->buf);
	free(st);
	st = NULL;
}

/* ------------------------------------------------------------------ */
/* Close with requests in flight (second handle), disconnect, close    */

/* Requests, then (if disc) a disconnect, then close, all before the loop
 * runs: every request completes with 0, then the disconnect, then the
 * close callback. */
static void close_in_flight(bool disc)
{
	mblk_dev *d2 = NULL;
	if (shim_open(&loop, uri, open_flags, shim_spec, &d2) < 0) {
		skip("cannot open the URI a second time: %s",
		     mblk_last_error());
		return;
	}
	struct mblk_info i2;
	mblk_get_info(d2, &i2);
	enum { N = 16 };
	uint64_t n = i2.size_sectors < N ? i2.size_sectors : N;
	unsigned char *buf = xalloc(N * ss);
	struct iovec iov[N];
	struct done d[N + 2];
	memset(d, 0, sizeof(d));
	pat_fill_range(buf, ss, n, TAG, 124, 0);
	for (uint64_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf + i * ss, ss };
		int r = i % 2 ? s_read(d2, i, &iov[i], 1, &d[i])
			      : s_write(d2, i, &iov[i], 1, 0, &d[i]);
		if (r != 0)
			fail("request %" PRIu64 ": submission returned %d", i,
			     r);
	}
	if (disc && s_op(d2, S_DISCONNECT, 0, 0, 0, &d[N + 1]) != 0)
		fail("disconnect: submission refused: %s", mblk_last_error());
	in_submit++;
	mblk_close(d2, io_cb, &d[N]);
	in_submit--;
	/* The close callback comes last of all. */
	while (d[N].calls == 0)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 && d[N].calls == 0) {
			fail("the loop has nothing left to run but the close "
			     "callback never came");
			free(buf);
			return;
		}
	free(buf);
	for (uint64_t i = 0; i < n; i++) {
		char w[64];
		snprintf(w, sizeof(w), "request %" PRIu64 " in flight at close",
			 i);
		if (!done_ok(&d[i], w))
			return;
		EXPECT(d[i].status == 0, "%s: expected 0, got %d: %s", w,
		       d[i].status, d[i].err);
		EXPECT(d[i].seq < d[N].seq,
		       "%s completed after the close callback", w);
	}
	EXPECT(d[N].status == 0 && d[N].calls == 1 && !d[N].inside,
	       "close callback: status %d, %d calls%s", d[N].status, d[N].calls,
	       d[N].inside ? ", inside mblk_close" : "");
	if (!disc)
		return;
	if (!done_ok(&d[N + 1], "disconnect before close"))
		return;
	EXPECT(d[N + 1].status == 0,
	       "disconnect before close: expected 0, "
	       "got %d: %s",
	       d[N + 1].status, d[N + 1].err);
	EXPECT(d[N + 1].seq < d[N].seq,
	       "the disconnect completed after the close callback");
	for (uint64_t i = 0; i < n; i++)
		EXPECT(d[i].seq < d[N + 1].seq,
		       "request %" PRIu64 " completed after the disconnect "
		       "callback",
		       i);
}

void check_close_in_flight(void)
{
	close_in_flight(false);
}

void check_close_while_disconnecting(void)
{
	close_in_flight(true);
}

void check_disconnect(void)
{
	enum { N = 32 };
	uint64_t n = size < N ? size : N;
	unsigned char *buf = xalloc(N * ss);
	struct iovec iov[N];
	struct done d[N + 3];
	memset(d, 0, sizeof(d));
	pat_fill_range(buf, ss, n, TAG, 125, 0);
	for (uint64_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf + i * ss, ss };
		int r = i % 2 ? s_read(dev, i, &iov[i], 1, &d[i])
			      : s_write(dev, i, &iov[i], 1, 0, &d[i]);
		if (r != 0)
			fail("request %" PRIu64 ": submission returned %d", i,
			     r);
	}
	STOP_IF_FAILED();
	/* Two disconnects at once: both wait for the requests. */
	if (s_op(dev, S_DISCONNECT, 0, 0, 0, &d[N]) != 0 ||
	    s_op(dev, S_DISCONNECT, 0, 0, 0, &d[N + 1]) != 0)
		FAIL("disconnect: submission refused: %s", mblk_last_error());
	if (!wait_all(d, n, "requests in flight at disconnect") ||
	    !wait_all(&d[N], 2, "disconnect"))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		char w[64];
		snprintf(w, sizeof(w),
			 "request %" PRIu64 " in flight at disconnect", i);
		if (!done_ok(&d[i], w))
			goto out;
		if (d[i].status != 0) {
			fail("%s: expected 0, got %d: %s", w, d[i].status,
			     d[i].err);
			goto out;
		}
		if (d[i].seq > d[N].seq || d[i].seq > d[N + 1].seq) {
			fail("%s completed after the disconnect callback", w);
			goto out;
		}
	}
	for (int k = 0; k < 2; k++)
		if (!done_ok(&d[N + k], "disconnect"))
			goto out;
		else if (d[N + k].status != 0) {
			fail("disconnect %d: expected 0, got %d: %s", k + 1,
			     d[N + k].status, d[N + k].err);
			goto out;
		}
	/* Later requests fail with -ENODEV "... disconnected". */
	struct done e;
	struct {
		const char *what;
		int r;
	} later[4];
	later[0].what = "read after disconnect";
	later[0].r = do_read(dev, 0, iov, 1, &e);
	if (later[0].r != HARNESS &&
	    !(later[0].r == -ENODEV && strstr(e.err, "disconnected") &&
	      strstr(e.err, devname))) {
		fail("read after disconnect: expected -ENODEV and a sentence "
		     "naming '%s' and saying disconnected; got %d: %s",
		     devname, later[0].r, e.err);
		goto out;
	}
	later[1].what = "write after disconnect";
	later[1].r = do_write(dev, 0, iov, 1, 0, &e);
	later[2].what = "flush after disconnect";
	later[2].r = cur_failed ? HARNESS : do_op(dev, S_FLUSH, 0, 0, 0, &e);
	later[3].what = "seek_mapped after disconnect";
	later[3].r = cur_failed ? HARNESS : do_op(dev, S_MAPPED, 0, 0, 0, &e);
	STOP_IF_FAILED();
	for (int k = 1; k < 4; k++)
		if (later[k].r != -ENODEV) {
			fail("%s: expected -ENODEV, got %d", later[k].what,
			     later[k].r);
			goto out;
		}
	/* A third disconnect completes at once with 0. */
	int r = do_op(dev, S_DISCONNECT, 0, 0, 0, &d[N + 2]);
	if (r != HARNESS && r != 0)
		fail("a second disconnect after the first finished: expected "
		     "0, got %d: %s",
		     r, d[N + 2].err);
	struct mblk_info after;
	mblk_get_info(dev, &after);
	if (!cur_failed && after.size_sectors != size)
		fail("info after disconnect reports %" PRIu64 " sectors, "
		     "expected the last known %" PRIu64,
		     after.size_sectors, size);
out:
	free(buf);
}

/* Closing a device from inside one of its callbacks (the usual way to
 * end a program): the close completes, once, from the loop. */
static struct {
	mblk_dev *dv;
	struct done io, close;
} cfc;

static void cfc_io_cb(void *data, int status, const char *error)
{
	done_record(data, status, error);
	in_submit++;
	mblk_close(cfc.dv, io_cb, &cfc.close);
	in_submit--;
}

void check_close_from_callback(void)
{
	memset(&cfc, 0, sizeof(cfc));
	if (shim_open(&loop, uri, open_flags, shim_spec, &cfc.dv) < 0) {
		skip("cannot open the URI a second time: %s",
		     mblk_last_error());
		return;
	}
	in_submit++;
	int r = mblk_flush(cfc.dv, cfc_io_cb, &cfc.io);
	in_submit--;
	if (r != 0) {
		mblk_close(cfc.dv, NULL, NULL);
		FAIL("flush: submission returned %d", r);
	}
	if (!wait_all(&cfc.io, 1, "flush") ||
	    !wait_all(&cfc.close, 1, "close from the flush callback"))
		return;
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	if (!done_ok(&cfc.io, "flush") ||
	    !done_ok(&cfc.close, "close from a callback"))
		return;
	EXPECT(cfc.io.status == 0 && cfc.close.status == 0,
	       "flush status %d, close status %d: expected 0 and 0",
	       cfc.io.status, cfc.close.status);
}

/* The handles still open on the loop, for the message. */
static char handle_list[256];
static int handle_count;

static void list_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	size_t n = strlen(handle_list);
	handle_count++;
	snprintf(handle_list + n, sizeof(handle_list) - n, "%s%s%s",
		 n ? ", " : "", uv_handle_type_name(uv_handle_get_type(h)),
		 uv_is_active(h)    ? " (active)"
		 : uv_is_closing(h) ? " (closing)"
				    : "");
}

void check_close(void)
{
	struct done d;
	memset(&d, 0, sizeof(d));
	in_submit++;
	mblk_close(dev, io_cb, &d);
	in_submit--;
	dev = NULL;
	if (!wait_all(&d, 1, "mblk_close"))
		return;
	/* Let the device's handles finish closing. */
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	EXPECT(d.calls == 1, "close callback ran %d times, expected once",
	       d.calls);
	EXPECT(d.status == 0, "close callback status %d", d.status);
	EXPECT(!d.inside, "the close callback ran inside mblk_close");
	int r = uv_loop_close(&loop);
	if (r != 0) {
		handle_list[0] = '\0';
		handle_count = 0;
		uv_walk(&loop, list_handle, NULL);
		FAIL("uv_loop_close returned %d (%s): %d handles left on the "
		     "loop after closing the device: %s",
		     r, uv_strerror(r), handle_count, handle_list);
	}
}

void check_overall_inside(void)
{
	EXPECT(inside_count == 0,
	       "%lu callbacks over the whole run ran inside the submitting "
	       "call",
	       inside_count);
}
