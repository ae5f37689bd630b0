/* sync.c - synchronous helpers over the asynchronous core.
 *
 * Each helper submits one request and runs the device's loop with
 * UV_RUN_ONCE until its callback has run. They are thin wrappers: the
 * asynchronous path is the only implementation. They must not be called
 * from inside a callback on the same loop (libuv is not reentrant).
 */
#include <errno.h>
#include <string.h>

#include "core.h"

struct waiter {
	bool done;
	int status;
	uint64_t sector;
};

static void sync_cb(void *data, int status, const char *error)
{
	struct waiter *w = data;
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

static int wait_for(uv_loop_t *loop, struct waiter *w, int submitted)
{
	if (submitted < 0)
		return submitted;
	while (!w->done)
		uv_run(loop, UV_RUN_ONCE);
	return w->status;
}

#define SYNC_LOOP(dev) ((dev) != NULL ? (dev)->loop : NULL)

int mblk_read_sync(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
		   int iovcnt)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w,
			mblk_read(dev, sector, iov, iovcnt, sync_cb, &w));
}

int mblk_write_sync(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
		    int iovcnt, unsigned flags)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w,
			mblk_write(dev, sector, iov, iovcnt, flags, sync_cb,
				   &w));
}

int mblk_flush_sync(mblk_dev *dev)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w, mblk_flush(dev, sync_cb, &w));
}

int mblk_discard_sync(mblk_dev *dev, uint64_t sector, uint64_t count)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w,
			mblk_discard(dev, sector, count, sync_cb, &w));
}

int mblk_write_zeroes_sync(mblk_dev *dev, uint64_t sector, uint64_t count,
			   unsigned flags)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w,
			mblk_write_zeroes(dev, sector, count, flags, sync_cb,
					  &w));
}

int mblk_resize_sync(mblk_dev *dev, uint64_t size_sectors)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w,
			mblk_resize(dev, size_sectors, sync_cb, &w));
}

int mblk_seek_mapped_sync(mblk_dev *dev, uint64_t from, uint64_t *sector)
{
	struct waiter w = { 0 };
	int r = wait_for(SYNC_LOOP(dev), &w,
			 mblk_seek_mapped(dev, from, sync_seek_cb, &w));
	if (r == 0 && sector != NULL)
		*sector = w.sector;
	return r;
}

int mblk_seek_unmapped_sync(mblk_dev *dev, uint64_t from, uint64_t *sector)
{
	struct waiter w = { 0 };
	int r = wait_for(SYNC_LOOP(dev), &w,
			 mblk_seek_unmapped(dev, from, sync_seek_cb, &w));
	if (r == 0 && sector != NULL)
		*sector = w.sector;
	return r;
}

int mblk_disconnect_sync(mblk_dev *dev)
{
	struct waiter w = { 0 };
	return wait_for(SYNC_LOOP(dev), &w, mblk_disconnect(dev, sync_cb, &w));
}

int mblk_open_sync(uv_loop_t *loop, const char *uri, unsigned flags,
		   mblk_dev **devp)
{
	/* Opening is synchronous for every device so far; this name keeps
	 * the set of _sync helpers complete for devices whose open will
	 * need the loop (nbd). */
	return mblk_open(loop, uri, flags, devp);
}

void mblk_close_sync(mblk_dev *dev)
{
	if (dev == NULL)
		return;
	uv_loop_t *loop = dev->loop;
	struct waiter w = { 0 };
	mblk_close(dev, sync_cb, &w);
	while (!w.done)
		uv_run(loop, UV_RUN_ONCE);
}
