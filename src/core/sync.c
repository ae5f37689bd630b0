/* sync.c - synchronous helpers over the asynchronous core.
 *
 * Each helper submits one request and runs the device's loop with
 * UV_RUN_ONCE until its callback has run. They are thin wrappers: the
 * asynchronous path is the only implementation. They must not be called
 * from inside a callback on the same loop (libuv is not reentrant).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* On the heap, not the stack: a request given up on (see wait_for) may
 * still complete some day, and its callback must find live memory. */
struct waiter {
	bool done;
	bool abandoned; /* the caller has gone: the callback frees it */
	int status;
	uint64_t sector;
};

static struct waiter *waiter_new(void)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		mblk_set_error(-ENOMEM, "no memory to wait for a request");
	return w;
}

static void sync_cb(void *data, int status, const char *error)
{
	struct waiter *w = data;
	if (w->abandoned) {
		free(w);
		return;
	}
	w->done = true;
	w->status = status;
	if (status < 0)
		mblk_set_error(status, "%s", error);
}

static void sync_seek_cb(void *data, int status, uint64_t sector,
			 const char *error)
{
	struct waiter *w = data;
	w->sector = sector;
	sync_cb(data, status, error);
}

/* Runs the loop until the callback has run, frees the waiter and returns
 * the status (and *sector for seeks). A device with a request in flight
 * keeps something referenced on the loop (backend.h): if uv_run says
 * nothing is left and the callback has not run, nothing on the loop can
 * run it, and spinning would hang the caller at 100 % CPU. That is a
 * device bug; it is reported as -EIO with a sentence instead. */
static int wait_for(mblk_dev *dev, struct waiter *w, int submitted,
		    const char *op, uint64_t *sector)
{
	if (submitted < 0) {
		free(w); /* no callback comes for a refused request */
		return submitted;
	}
	while (!w->done)
		if (uv_run(dev->loop, UV_RUN_ONCE) == 0 && !w->done) {
			w->abandoned = true;
			return mblk_set_error(
				-EIO,
				"%s: %s: the request is still in flight but "
				"the device left nothing on the loop that "
				"could complete it (a bug in the device)",
				dev->name, op);
		}
	int r = w->status;
	if (r == 0 && sector != NULL)
		*sector = w->sector;
	free(w);
	return r;
}

/* The body of every helper: a waiter, the submission, the wait. */
#define SYNC_CALL(dev, op, sector, submit_expr)                           \
	do {                                                              \
		struct waiter *w = waiter_new();                          \
		if (w == NULL)                                            \
			return -ENOMEM;                                   \
		return wait_for((dev), w, (submit_expr), (op), (sector)); \
	} while (0)

int mblk_read_sync(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
		   int iovcnt)
{
	SYNC_CALL(dev, "read", NULL,
		  mblk_read(dev, sector, iov, iovcnt, sync_cb, w));
}

int mblk_write_sync(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
		    int iovcnt, unsigned flags)
{
	SYNC_CALL(dev, "write", NULL,
		  mblk_write(dev, sector, iov, iovcnt, flags, sync_cb, w));
}

int mblk_flush_sync(mblk_dev *dev)
{
	SYNC_CALL(dev, "flush", NULL, mblk_flush(dev, sync_cb, w));
}

int mblk_discard_sync(mblk_dev *dev, uint64_t sector, uint64_t count)
{
	SYNC_CALL(dev, "discard", NULL,
		  mblk_discard(dev, sector, count, sync_cb, w));
}

int mblk_write_zeroes_sync(mblk_dev *dev, uint64_t sector, uint64_t count,
			   unsigned flags)
{
	SYNC_CALL(dev, "write_zeroes", NULL,
		  mblk_write_zeroes(dev, sector, count, flags, sync_cb, w));
}

int mblk_resize_sync(mblk_dev *dev, uint64_t size_sectors)
{
	SYNC_CALL(dev, "resize", NULL,
		  mblk_resize(dev, size_sectors, sync_cb, w));
}

int mblk_seek_mapped_sync(mblk_dev *dev, uint64_t from, uint64_t *sector)
{
	SYNC_CALL(dev, "seek_mapped", sector,
		  mblk_seek_mapped(dev, from, sync_seek_cb, w));
}

int mblk_seek_unmapped_sync(mblk_dev *dev, uint64_t from, uint64_t *sector)
{
	SYNC_CALL(dev, "seek_unmapped", sector,
		  mblk_seek_unmapped(dev, from, sync_seek_cb, w));
}

struct extents_waiter {
	struct waiter w;
	int n;
};

static void sync_extents_cb(void *data, int status, int n, const char *error)
{
	struct extents_waiter *x = data;
	if (!x->w.abandoned)
		x->n = n;
	sync_cb(&x->w, status, error);
}

int mblk_extents_sync(mblk_dev *dev, uint64_t sector, uint64_t count,
		      struct mblk_extent *ext, int max, int *n)
{
	struct extents_waiter *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return mblk_set_error(-ENOMEM, "no memory to wait for a "
					       "request");
	int r = mblk_extents(dev, sector, count, ext, max, sync_extents_cb, x);
	/* wait_for frees the waiter: the count must be read first. */
	if (r < 0) {
		free(x);
		return r;
	}
	x->n = 0;
	while (!x->w.done)
		if (uv_run(dev->loop, UV_RUN_ONCE) == 0 && !x->w.done) {
			x->w.abandoned = true;
			return mblk_set_error(
				-EIO,
				"%s: extents: the request is still in flight "
				"but the device left nothing on the loop that "
				"could complete it (a bug in the device)",
				dev->name);
		}
	r = x->w.status;
	if (r == 0 && n != NULL)
		*n = x->n;
	free(x);
	return r;
}

int mblk_cache_sync(mblk_dev *dev, uint64_t sector, uint64_t count)
{
	SYNC_CALL(dev, "cache", NULL,
		  mblk_cache(dev, sector, count, sync_cb, w));
}

int mblk_disconnect_sync(mblk_dev *dev)
{
	SYNC_CALL(dev, "disconnect", NULL, mblk_disconnect(dev, sync_cb, w));
}

void mblk_close_sync(mblk_dev *dev)
{
	if (dev == NULL)
		return;
	uv_loop_t *loop = dev->loop;
	struct waiter *w = waiter_new();
	if (w == NULL) {
		/* No memory to wait: close it anyway; the teardown
		 * finishes the next time the loop runs. */
		mblk_close(dev, NULL, NULL);
		return;
	}
	mblk_close(dev, sync_cb, w);
	while (!w->done)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !w->done) {
			/* As in wait_for: nothing left could finish it. */
			w->abandoned = true;
			return;
		}
	free(w);
}
