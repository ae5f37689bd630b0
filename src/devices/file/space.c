/* space.c - the file device's space operations: discard, write_zeroes,
 * resize, the seeks, and the blocking flush.
 *
 * Design notes
 *
 * These run on libuv's thread pool (engine_threads.c), whichever engine
 * serves reads and writes: fallocate, ftruncate and lseek(SEEK_DATA) may
 * block on metadata for a long time, they are rare next to reads and
 * writes, and the zeroing fallback chain is a sequence of syscalls that
 * reads more simply as straight-line code than as io_uring links.
 *
 * write_zeroes takes the cheapest way that works, as nbdkit's file plugin
 * does, and remembers per device (file_dev.broken) which ways answered
 * "not supported" so that later requests skip them:
 *   1. fallocate(PUNCH_HOLE | KEEP_SIZE)   unless MBLK_ZEROES_NO_HOLE
 *   2. fallocate(ZERO_RANGE | KEEP_SIZE)   keeps the blocks allocated
 *   3. ioctl(BLKZEROOUT)                   block devices
 *   4. pwrite from a shared buffer of zeros
 * On a block device fallocate is the kernel's blkdev_fallocate: PUNCH_HOLE
 * zeroes and may unmap, ZERO_RANGE zeroes and keeps the blocks.
 *
 * discard: fallocate(PUNCH_HOLE | KEEP_SIZE) (upstream forgot KEEP_SIZE,
 * so it always failed on Linux files), then BLKDISCARD on block devices.
 * Where neither works the answer is -ENOTSUP with a sentence.
 *
 * Seeks convert byte answers to sectors conservatively: a sector holding
 * any data is mapped (SEEK_DATA's byte is rounded down), and a sector is
 * reported unmapped only if all of it is a hole (SEEK_HOLE's byte is
 * rounded up and then checked with SEEK_DATA). ENXIO means "none before
 * the end": the answer is the device size, not an error (upstream erred).
 * A filesystem that cannot tell answers "all data".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "file.h"

/* Zeros for the last-resort write path, aligned for O_DIRECT. It lives
 * in .bss, so it costs no memory until a write reads it. */
#define ZERO_BUF_SIZE (1u << 20)
static alignas(4096) char zero_buf[ZERO_BUF_SIZE]; /* never written */

static bool not_supported(int e)
{
	return e == EOPNOTSUPP || e == ENOSYS || e == ENOTTY;
}

static void mark(struct file_dev *f, unsigned bit)
{
	atomic_fetch_or_explicit(&f->broken, bit, memory_order_relaxed);
}

static bool is_broken(struct file_dev *f, unsigned bit)
{
	return atomic_load_explicit(&f->broken, memory_order_relaxed) & bit;
}

static int do_fallocate(struct file_dev *f, int mode, uint64_t off,
			uint64_t len)
{
	int r;
	do
		r = fallocate(f->fd, mode, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int do_ioctl_range(struct file_dev *f, unsigned long cmd, uint64_t off,
			  uint64_t len)
{
	uint64_t range[2] = { off, len };
	int r;
	do
		r = ioctl(f->fd, cmd, range);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int write_zero_bytes(struct file_dev *f, uint64_t off, uint64_t len,
			    struct file_rq *rq)
{
	while (len > 0) {
		size_t n = len < ZERO_BUF_SIZE ? (size_t)len : ZERO_BUF_SIZE;
		ssize_t w = pwrite(f->fd, zero_buf, n, (off_t)off);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			snprintf(rq->cause, sizeof(rq->cause),
				 "writing zeros at byte %llu: %s",
				 (unsigned long long)off, strerror(e));
			return -e;
		}
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

void mblk__file_space_discard(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	uint64_t off = rq->req->sector << f->shift;
	uint64_t len = rq->req->count << f->shift;
	int r = -EOPNOTSUPP;

	rq->res = 0;
	if (len == 0)
		return;
	if (!is_broken(f, FILE_NO_PUNCH)) {
		r = do_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 off, len);
		if (r == 0)
			return;
		if (not_supported(-r))
			mark(f, FILE_NO_PUNCH);
		else
			goto fail;
	}
	if (f->is_blk && !is_broken(f, FILE_NO_BLKDISCARD)) {
		r = do_ioctl_range(f, BLKDISCARD, off, len);
		if (r == 0)
			return;
		if (not_supported(-r))
			mark(f, FILE_NO_BLKDISCARD);
		else
			goto fail;
	}
	rq->res = -ENOTSUP;
	snprintf(rq->cause, sizeof(rq->cause),
		 "%s cannot discard: %s (use write_zeroes to zero the range)",
		 f->is_blk ? "the block device" : "the filesystem of this file",
		 f->is_blk ? "neither fallocate(PUNCH_HOLE) nor BLKDISCARD "
			     "is supported"
			   : "fallocate(PUNCH_HOLE) is not supported");
	return;
fail:
	rq->res = r;
	snprintf(rq->cause, sizeof(rq->cause), "%s at byte %llu: %s",
		 f->is_blk && is_broken(f, FILE_NO_PUNCH)
			 ? "ioctl(BLKDISCARD)"
			 : "fallocate(PUNCH_HOLE)",
		 (unsigned long long)off, strerror(-r));
}

void mblk__file_space_zeroes(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	uint64_t off = rq->req->sector << f->shift;
	uint64_t len = rq->req->count << f->shift;
	bool keep = rq->req->flags & MBLK_ZEROES_NO_HOLE;
	const char *how = "fallocate(PUNCH_HOLE)";
	int r;

	rq->res = 0;
	if (len == 0)
		return;
	if (!keep && !is_broken(f, FILE_NO_PUNCH)) {
		r = do_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 off, len);
		if (r == 0)
			return;
		if (!not_supported(-r))
			goto fail;
		mark(f, FILE_NO_PUNCH);
	}
	if (!is_broken(f, FILE_NO_ZERO_RANGE)) {
		how = "fallocate(ZERO_RANGE)";
		r = do_fallocate(f, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				 off, len);
		if (r == 0)
			return;
		if (!not_supported(-r))
			goto fail;
		mark(f, FILE_NO_ZERO_RANGE);
	}
	if (rq->req->flags & MBLK_ZEROES_FAST) {
		/* What is left may write every byte (BLKZEROOUT falls back to
		 * writing zero pages inside the kernel): not fast. */
		rq->res = -ENOTSUP;
		snprintf(rq->cause, sizeof(rq->cause),
			 "fast zeroing was asked for, and %s cannot zero this "
			 "range %swithout writing it",
			 f->is_blk ? "the block device" : "the filesystem",
			 keep ? "and keep it allocated " : "");
		return;
	}
	if (f->is_blk && !is_broken(f, FILE_NO_BLKZEROOUT)) {
		how = "ioctl(BLKZEROOUT)";
		r = do_ioctl_range(f, BLKZEROOUT, off, len);
		if (r == 0)
			return;
		if (!not_supported(-r))
			goto fail;
		mark(f, FILE_NO_BLKZEROOUT);
	}
	/* Last resort: write them. */
	mark(f, FILE_WROTE_ZEROES);
	rq->res = write_zero_bytes(f, off, len, rq);
	return;
fail:
	rq->res = r;
	snprintf(rq->cause, sizeof(rq->cause), "%s at byte %llu: %s", how,
		 (unsigned long long)off, strerror(-r));
}

void mblk__file_space_resize(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	uint64_t bytes = rq->req->sector << f->shift;
	int r;
	do
		r = ftruncate(f->fd, (off_t)bytes);
	while (r < 0 && errno == EINTR);
	rq->res = r < 0 ? -errno : 0;
	if (r < 0)
		snprintf(rq->cause, sizeof(rq->cause),
			 "ftruncate to %llu bytes: %s",
			 (unsigned long long)bytes, strerror(errno));
}

void mblk__file_space_flush(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	bool data_only = f->sync == FILE_SYNC_OS;
	int r;
	do
		r = data_only ? fdatasync(f->fd) : fsync(f->fd);
	while (r < 0 && errno == EINTR);
	rq->res = r < 0 ? -errno : 0;
	if (r < 0)
		snprintf(rq->cause, sizeof(rq->cause), "%s: %s",
			 data_only ? "fdatasync" : "fsync", strerror(errno));
}

/* lseek with whence from byte off: the byte, or `end` for ENXIO, or -1
 * with errno set. */
static int64_t seek_bytes(struct file_dev *f, int whence, uint64_t off,
			  uint64_t end)
{
	off_t r = lseek(f->fd, (off_t)off, whence);
	if (r < 0)
		return errno == ENXIO ? (int64_t)end : -1;
	return (uint64_t)r > end ? (int64_t)end : (int64_t)r;
}

/* One seek, in sectors: the first sector at or after from that may hold
 * data (mapped) or that is wholly a hole, or size for none. Returns 0,
 * or -errno with rq->cause set. A filesystem that cannot tell answers
 * "all data" from then on. */
static int seek_one(struct file_rq *rq, bool mapped, uint64_t from,
		    uint64_t size, uint64_t *ans)
{
	struct file_dev *f = rq->f;
	uint64_t end = size << f->shift;
	uint64_t ss = f->sector_size;

	/* Without hole support everything is data, and the end is the only
	 * hole. */
	*ans = mapped ? from : size;
	if (f->is_blk || is_broken(f, FILE_NO_SEEK_HOLE))
		return 0;

	uint64_t pos = from << f->shift;
	if (mapped) {
		int64_t d = seek_bytes(f, SEEK_DATA, pos, end);
		if (d >= 0) {
			*ans = (uint64_t)d >> f->shift;
			return 0;
		}
	} else {
		/* Find a hole that covers a whole sector. */
		while (pos < end) {
			int64_t h = seek_bytes(f, SEEK_HOLE, pos, end);
			if (h < 0)
				goto error;
			uint64_t s = ((uint64_t)h + ss - 1) & ~(ss - 1);
			if (s >= end) {
				*ans = size;
				return 0;
			}
			int64_t d = seek_bytes(f, SEEK_DATA, s, end);
			if (d < 0)
				goto error;
			if ((uint64_t)d >= s + ss || (uint64_t)d >= end) {
				*ans = s >> f->shift;
				return 0;
			}
			pos = (uint64_t)d;
		}
		*ans = size;
		return 0;
	}
error:
	if (errno == EINVAL || not_supported(errno)) {
		/* The filesystem cannot tell: all data. */
		mark(f, FILE_NO_SEEK_HOLE);
		*ans = mapped ? from : size;
		return 0;
	}
	snprintf(rq->cause, sizeof(rq->cause), "lseek(%s) at byte %llu: %s",
		 mapped ? "SEEK_DATA" : "SEEK_HOLE", (unsigned long long)pos,
		 strerror(errno));
	return -errno;
}

void mblk__file_space_seek(struct file_rq *rq)
{
	mblk_req *req = rq->req;
	rq->res = seek_one(rq, req->op == MBLK_OP_SEEK_MAPPED, req->sector,
			   rq->dev_sectors, &req->result);
}

/* Extents, many per trip to the thread pool: the two seeks in turn, as
 * the core would derive them, but without a round trip per seek. */
void mblk__file_space_extents(struct file_rq *rq)
{
	mblk_req *req = rq->req;
	uint64_t size = rq->dev_sectors;
	uint64_t end = req->sector + req->count < size
			       ? req->sector + req->count
			       : size;
	uint64_t pos = req->sector, ans;
	int n = 0, r = 0;
	while (pos < end && n < req->ext_max) {
		uint32_t flags;
		if ((r = seek_one(rq, true, pos, size, &ans)) < 0)
			break;
		if (ans > pos) {
			flags = MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
		} else if ((r = seek_one(rq, false, pos, size, &ans)) < 0) {
			break;
		} else if (ans > pos) {
			flags = 0;
		} else {
			/* Both claim pos: seek_unmapped guarantees zeros. */
			ans = pos + 1;
			flags = MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
		}
		if (ans > end)
			ans = end;
		/* Merge with the previous extent of the same kind. */
		if (n > 0 && req->ext[n - 1].flags == flags) {
			req->ext[n - 1].count += ans - pos;
		} else {
			req->ext[n].sector = pos;
			req->ext[n].count = ans - pos;
			req->ext[n].flags = flags;
			n++;
		}
		pos = ans;
	}
	req->ext_n = n;
	/* A seek that failed after some extents: those are still an
	 * answer, and the caller asks again from their end. */
	rq->res = n == 0 ? r : 0;
}

void mblk__file_space_cache(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	uint64_t off = rq->req->sector << f->shift;
	uint64_t len = rq->req->count << f->shift;
	/* Advisory, like the operation itself: a failure changes nothing
	 * about later reads, so it is not reported. */
	(void)posix_fadvise(f->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
	rq->res = 0;
}
