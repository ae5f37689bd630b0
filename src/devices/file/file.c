/* file.c - the file device: a regular file or a block device as an mblk
 * device, buffered or O_DIRECT, on io_uring or libuv's thread pool.
 *
 * Design notes
 *
 * Opening (file:PATH?key=value..., docs/devices/file.md) resolves every
 * setting once: read-write or read-only, O_DIRECT or not, the lock, the
 * geometry, the engine. get_uri prints all of them back, the engine
 * actually in use included, so the printed URI reopens the device the
 * same way. What opening had to decide on the caller's behalf (read-only
 * because the file is not writable, threads because io_uring could not be
 * set up) is kept as a note: mblk_file_notes().
 *
 * Requests. The core has checked every request (bounds, read-only, caps)
 * before an op sees it. Each op initialises the request's context (a
 * cursor, io.c) and hands it to the engine that file_engine_for picks:
 * io_uring for reads, writes and flushes when the ring exists, libuv's
 * thread pool otherwise and always for discard, write_zeroes, resize and
 * seeks (space.c). Seeks on a block device are answered inline ("all
 * data"): there is nothing to ask.
 *
 * Buffered reads first try preadv2(RWF_NOWAIT) inline on the loop
 * thread: a page-cache hit costs about 1 us that way against 2 us through
 * io_uring and more through the pool. A miss (EAGAIN, or a short read
 * that stopped at an uncached page) continues on the engine from where
 * the inline attempt stopped. After a miss the next 2^k - 1 reads skip
 * the attempt (k = consecutive misses, at most 6), so a cold file pays at
 * most one failed syscall in 64 reads; a kernel that refuses the flag
 * turns the attempt off for the device. Reads above NOWAIT_MAX go straight
 * to the engine so that one request cannot hold the loop for long.
 *
 * Small plain buffered writes (INLINE_MAX) are done inline too, with a
 * blocking pwritev2, since the kernel gives no non-blocking form for them
 * on ext4 (io_uring punts each to an io-wq worker, a hop that costs more
 * than the copy). Not while anything that writes is on the engine
 * (engine_busy): the inline write would wait for the inode lock its
 * worker holds. One slower than INLINE_SLOW_NS (dirty-page throttling)
 * backs off like a read miss, up to 1023 writes on the engine.
 *
 * Disconnect: the core calls it with nothing in flight. The ring's
 * handles are closed (asynchronously, uv_close), then the ring, then the
 * fd, which drops the lock; the disconnect completes from the last close
 * callback.
 *
 * Upstream defects fixed (seed-behaviour §1, §5): discard works on Linux
 * files (PUNCH_HOLE needs KEEP_SIZE); seeks answer the end of the device
 * instead of failing with ENXIO; many requests in flight instead of one at
 * a time behind a mutex; lock defaults on; no fd leaks on error paths;
 * the legacy `buffered:` prefix is stripped; a bad sector-size is an
 * error with a sentence, not an exception; every open failure has its
 * own sentence.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <mblk/backend.h>
#include <mblk/file.h>
#include "../../common/checked.h"
#include "../../common/hex.h"
#include "../../core/core.h"
#include "../../core/uri.h"
#include "file.h"

/* Buffered reads up to this size are tried inline with RWF_NOWAIT. */
#define NOWAIT_MAX (256u * 1024)
/* Buffered writes up to this size are done inline, when nothing else
 * that writes is on the engine; one that takes longer than INLINE_SLOW_NS
 * sends the next 2^k - 1 writes to the engine (k slow ones in a row, at
 * most 10). */
#define INLINE_MAX (64u * 1024)
#define INLINE_SLOW_NS (500u * 1000)

const char *mblk__file_sync_name(enum file_sync s)
{
	return s == FILE_SYNC_NONE ? "none"
	       : s == FILE_SYNC_OS ? "os"
				   : "drive";
}

const char *mblk__file_uring_setup_name(enum file_uring_setup s)
{
	return s == FILE_URING_COOP    ? "coop"
	       : s == FILE_URING_PLAIN ? "plain"
				       : "defer";
}

void mblk__file_add_note(struct file_dev *f, const char *fmt, ...)
{
	size_t n = strlen(f->notes);
	if (n + 2 >= sizeof(f->notes))
		return;
	if (n > 0)
		f->notes[n++] = '\n';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->notes + n, sizeof(f->notes) - n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* The one place that decides which engine serves a request. */
static enum file_engine file_engine_for(const struct file_dev *f,
					const mblk_req *req)
{
	switch (req->op) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE:
	case MBLK_OP_FLUSH:
		return f->uring != NULL ? FILE_ENGINE_URING
					: FILE_ENGINE_THREADS;
	default: return FILE_ENGINE_THREADS;
	}
}

static void file_start(struct file_dev *f, struct file_rq *rq)
{
	if (rq->req->op != MBLK_OP_READ) {
		rq->busy = true;
		f->engine_busy++;
	}
	if (file_engine_for(f, rq->req) == FILE_ENGINE_URING)
		mblk__file_uring_start(rq);
	else
		mblk__file_threads_start(rq);
}

static struct file_rq *file_rq(mblk_dev *dev, mblk_req *req)
{
	struct file_rq *rq = mblk_req_ctx(req);
	mblk__file_rq_init(rq, mblk_dev_priv(dev), req);
	return rq;
}

/* Tries a buffered read inline without blocking. Returns true when the
 * request has been completed (read, or failed for good). */
static bool file_read_nowait(struct file_dev *f, struct file_rq *rq)
{
	if (f->nowait_skip > 0) {
		f->nowait_skip--;
		return false;
	}
	int r = mblk__file_rw_blocking(rq, RWF_NOWAIT);
	if (r == 0) {
		f->nowait_misses = 0;
		mblk_req_done(rq->req, 0);
		return true;
	}
	rq->retries = 0;
	if (r == -EAGAIN) {
		if (f->nowait_misses < 6)
			f->nowait_misses++;
		f->nowait_skip = (1u << f->nowait_misses) - 1;
		return false;
	}
	if (r == -EOPNOTSUPP) {
		f->nowait_ok = false;
		return false;
	}
	mblk__file_rq_complete(rq);
	return true;
}

static void file_read(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct file_rq *rq = file_rq(dev, req);
	if (rq->left == 0) {
		mblk_req_done(req, 0);
		return;
	}
	if (f->buffered && f->nowait_ok && rq->left <= NOWAIT_MAX &&
	    file_read_nowait(f, rq))
		return;
	file_start(f, rq);
}

/* A small buffered write, done here. Returns false when it is the
 * engine's turn (backing off after a slow one). */
static bool file_write_inline(struct file_dev *f, struct file_rq *rq)
{
	if (f->inline_skip > 0) {
		f->inline_skip--;
		return false;
	}
	uint64_t t0 = uv_hrtime();
	mblk__file_rw_blocking(rq, 0);
	if (uv_hrtime() - t0 > INLINE_SLOW_NS) {
		if (f->inline_slow < 10)
			f->inline_slow++;
		f->inline_skip = (1u << f->inline_slow) - 1;
	} else {
		f->inline_slow = 0;
	}
	mblk__file_rq_complete(rq);
	return true;
}

static void file_write(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct file_rq *rq = file_rq(dev, req);
	if (rq->left == 0) {
		mblk_req_done(req, 0);
		return;
	}
	/* MBLK_WRITE_FUA reaches us only with MBLK_CAP_FUA (sync != none). */
	if (req->flags & MBLK_WRITE_FUA)
		rq->rwflags = f->sync == FILE_SYNC_DRIVE ? RWF_SYNC : RWF_DSYNC;
	if (f->buffered && !rq->rwflags && rq->left <= INLINE_MAX &&
	    f->engine_busy == 0 && file_write_inline(f, rq))
		return;
	file_start(f, rq);
}

/* flush, discard, write_zeroes, resize: the engine does it all. */
static void file_other(mblk_dev *dev, mblk_req *req)
{
	file_start(mblk_dev_priv(dev), file_rq(dev, req));
}

static void file_seek(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (f->is_blk) {
		req->result = req->op == MBLK_OP_SEEK_MAPPED
				      ? req->sector
				      : mblk_dev_info(dev)->size_sectors;
		mblk_req_done(req, 0);
		return;
	}
	file_start(f, file_rq(dev, req));
}

/* Extents from the thread pool (many seeks per trip); a block device has
 * nothing to tell: all data. */
static void file_extents(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (f->is_blk) {
		req->ext[0].sector = req->sector;
		req->ext[0].count = req->count;
		req->ext[0].flags = 0;
		req->ext_n = 1;
		mblk_req_done(req, 0);
		return;
	}
	file_start(f, file_rq(dev, req));
}

/* Prefetch into the page cache; with O_DIRECT there is none to fill. */
static void file_cache(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (!f->buffered || req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	file_start(f, file_rq(dev, req));
}

/* ------------------------------------------------------------------ */
/* Disconnect, destroy, URI, allocation                                */

static void file_free(struct file_dev *f)
{
	free(f->path);
	free(f->abspath);
	free(f);
}

/* The ring (if any) is gone: close the fd, then finish what waited. */
static void file_closed(struct file_dev *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->destroy_pending) {
		file_free(f);
		return;
	}
	mblk_req *req = f->disc_req;
	f->disc_req = NULL;
	if (req != NULL)
		mblk_req_done(req, 0);
}

static void file_disconnect(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	f->disc_req = req;
	if (f->uring != NULL)
		mblk__file_uring_close(f, file_closed);
	else
		file_closed(f);
}

static void file_destroy(mblk_dev *dev)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (f->uring != NULL) {
		/* Only when close could not disconnect first (no memory):
		 * the handles close asynchronously and free f. */
		f->destroy_pending = true;
		mblk__file_uring_close(f, file_closed);
		return;
	}
	if (f->fd >= 0)
		close(f->fd);
	file_free(f);
}

static int file_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct file_dev *f = mblk_dev_priv(dev);
	char *p = mblk__pct_encode_path(f->abspath);
	if (p == NULL)
		return mblk_set_error(-ENOMEM, "%s: no memory for the URI",
				      f->path);
	char uring[64] = "";
	if (f->engine == FILE_ENGINE_URING)
		snprintf(uring, sizeof(uring), "&uring-setup=%s&uring-batch=%u",
			 mblk__file_uring_setup_name(f->uring_setup),
			 f->uring_batch);
	int n = snprintf(buf, len,
			 "file:%s?buffered=%d&sync=%s&lock=%d&sector-size=%u"
			 "&read-only=%d&engine=%s%s",
			 p, f->buffered, mblk__file_sync_name(f->sync), f->lock,
			 f->sector_size, f->read_only,
			 f->engine == FILE_ENGINE_URING ? "uring" : "threads",
			 uring);
	free(p);
	return n;
}

static int file_get_allocated(mblk_dev *dev, uint64_t *bytes)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct stat st;
	if (f->is_blk)
		return mblk_set_error(-ENOTSUP,
				      "%s: a block device does not say how much "
				      "of it is allocated",
				      f->path);
	if (f->fd < 0)
		return mblk_set_error(-ENODEV, "%s: device is disconnected",
				      f->path);
	if (fstat(f->fd, &st) < 0)
		return mblk_set_error(-errno, "%s: fstat: %s", f->path,
				      strerror(errno));
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

const struct mblk_dev_ops mblk__file_ops = {
	.kind = "file",
	.req_ctx_size = sizeof(struct file_rq),
	.read = file_read,
	.write = file_write,
	.flush = file_other,
	.discard = file_other,
	.write_zeroes = file_other,
	.resize = file_other,
	.seek = file_seek,
	.extents = file_extents,
	.cache = file_cache,
	.disconnect = file_disconnect,
	.get_uri = file_get_uri,
	.get_allocated = file_get_allocated,
	.destroy = file_destroy,
};

const char *mblk_file_notes(mblk_dev *dev)
{
	/* Look through decorators (safe) for the file device. */
	while (dev != NULL && mblk_dev_ops(dev) != &mblk__file_ops)
		dev = mblk_dev_child(dev, 0);
	if (dev == NULL)
		return NULL;
	struct file_dev *f = mblk_dev_priv(dev);
	return f != NULL ? f->notes : NULL;
}
