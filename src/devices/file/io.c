/* io.c - the file device's request cursor and blocking read/write loop.
 *
 * Design notes
 *
 * A read or write walks req->iov with a cursor (buffer index, offset in
 * that buffer, file position, bytes left). A transfer that comes back
 * short simply advances the cursor and goes again from there: from a
 * buffer boundary as preadv/pwritev of the remaining buffers (pointing
 * into the caller's borrowed array, so nothing is copied or allocated),
 * from inside a buffer as one pread/pwrite of its remainder. Both engines
 * and the inline RWF_NOWAIT attempt use the same cursor, so a request can
 * start inline, stop half way at a page that is not cached, and finish on
 * io_uring or the thread pool.
 *
 * Ends of file: reads never extend past the device size the core checked,
 * so a read that gets 0 bytes means the file shrank underneath us (another
 * process truncated it). That is reported as -EIO with a sentence; the
 * buffer is never left holding garbage presented as data.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "file.h"

static void skip_empty(struct file_rq *rq)
{
	const mblk_req *req = rq->req;
	while (rq->idx < req->iovcnt && rq->off == req->iov[rq->idx].iov_len) {
		rq->idx++;
		rq->off = 0;
	}
}

void mblk__file_rq_init(struct file_rq *rq, struct file_dev *f, mblk_req *req)
{
	rq->req = req;
	rq->f = f;
	rq->idx = 0;
	rq->off = 0;
	rq->pos = req->sector << f->shift;
	rq->left = (req->op == MBLK_OP_READ || req->op == MBLK_OP_WRITE)
			   ? req->count << f->shift
			   : 0;
	rq->dev_sectors = mblk_dev_info(f->dev)->size_sectors;
	rq->rwflags = 0;
	rq->retries = 0;
	rq->res = 0;
	rq->busy = false;
	rq->cause[0] = '\0';
	rq->next = NULL;
	skip_empty(rq);
}

void mblk__file_rq_advance(struct file_rq *rq, size_t n)
{
	const mblk_req *req = rq->req;
	rq->pos += n;
	rq->left -= n;
	while (n > 0 && rq->idx < req->iovcnt) {
		size_t room = req->iov[rq->idx].iov_len - rq->off;
		if (n < room) {
			rq->off += n;
			n = 0;
			break;
		}
		n -= room;
		rq->idx++;
		rq->off = 0;
	}
	skip_empty(rq);
}

void mblk__file_rq_span(const struct file_rq *rq, const struct iovec **iov,
			int *cnt, struct iovec *one, bool *single)
{
	const mblk_req *req = rq->req;
	const struct iovec *cur = &req->iov[rq->idx];
	int n = req->iovcnt - rq->idx;
	if (rq->off != 0 || n == 1) {
		one->iov_base = (char *)cur->iov_base + rq->off;
		one->iov_len = cur->iov_len - rq->off;
		*iov = one;
		*cnt = 1;
		*single = true;
		return;
	}
	*iov = cur;
	*cnt = n < IOV_MAX ? n : IOV_MAX;
	*single = false;
}

void mblk__file_rw_error(struct file_rq *rq, int err, const char *call)
{
	struct file_dev *f = rq->f;
	rq->res = err;
	if (err == -EINVAL && !f->buffered)
		snprintf(rq->cause, sizeof(rq->cause),
			 "%s at byte %llu: %s; with buffered=0 (O_DIRECT) "
			 "buffer addresses, lengths and offsets must be "
			 "multiples of %u bytes",
			 call, (unsigned long long)rq->pos, strerror(-err),
			 f->dio_align);
	else if (err == -ENOSPC)
		snprintf(rq->cause, sizeof(rq->cause),
			 "%s at byte %llu: %s (a sparse file needs space for "
			 "every block written)",
			 call, (unsigned long long)rq->pos, strerror(-err));
	else
		snprintf(rq->cause, sizeof(rq->cause), "%s at byte %llu: %s",
			 call, (unsigned long long)rq->pos, strerror(-err));
}

void mblk__file_rw_eof(struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	struct stat st;
	long long now = fstat(f->fd, &st) == 0 ? (long long)st.st_size : -1;
	rq->res = -EIO;
	if (rq->req->op == MBLK_OP_READ)
		snprintf(rq->cause, sizeof(rq->cause),
			 "the file ended at byte %llu, before the end of the "
			 "read: it shrank underneath this device (it is now "
			 "%lld bytes)",
			 (unsigned long long)rq->pos, now);
	else
		snprintf(rq->cause, sizeof(rq->cause),
			 "the kernel wrote 0 bytes at byte %llu",
			 (unsigned long long)rq->pos);
}

int mblk__file_rw_blocking(struct file_rq *rq, int extra)
{
	struct file_dev *f = rq->f;
	bool is_read = rq->req->op == MBLK_OP_READ;
	while (rq->left > 0) {
		const struct iovec *iov;
		struct iovec one;
		int cnt;
		bool single;
		mblk__file_rq_span(rq, &iov, &cnt, &one, &single);
		ssize_t n = is_read ? preadv2(f->fd, iov, cnt, (off_t)rq->pos,
					      rq->rwflags | extra)
				    : pwritev2(f->fd, iov, cnt, (off_t)rq->pos,
					       rq->rwflags | extra);
		if (n < 0) {
			int e = errno;
			if (e == EAGAIN && (extra & RWF_NOWAIT))
				return -EAGAIN;
			if ((e == EINTR || e == EAGAIN) &&
			    ++rq->retries < FILE_MAX_RETRIES)
				continue;
			if ((e == EOPNOTSUPP || e == EINVAL) &&
			    (extra & RWF_NOWAIT))
				return -EOPNOTSUPP;
			mblk__file_rw_error(rq, -e,
					    is_read ? "preadv2" : "pwritev2");
			return rq->res;
		}
		if (n == 0) {
			mblk__file_rw_eof(rq);
			return rq->res;
		}
		mblk__file_rq_advance(rq, (size_t)n);
	}
	return 0;
}

void mblk__file_rq_complete(struct file_rq *rq)
{
	/* Capabilities never change here: they were promised at open
	 * (mblk.h). A way of zeroing that turns out to be unsupported is
	 * remembered in f->broken and only changes how later requests are
	 * served; MBLK_ZEROES_FAST requests it makes slow fail at once. */
	if (rq->busy) {
		rq->busy = false;
		rq->f->engine_busy--;
	}
	if (rq->res < 0)
		mblk_req_fail(rq->req, rq->res, "%s", rq->cause);
	else
		mblk_req_done(rq->req, 0);
}
