/* engine_threads.c - the file device's thread-pool engine.
 *
 * Design notes
 *
 * Each request runs as one uv_queue_work on libuv's shared thread pool,
 * with the uv_work_t inside the request's context (no allocation). The
 * worker does the blocking syscalls (preadv2/pwritev2 through the cursor
 * in io.c, fdatasync/fsync, and the space operations of space.c) and
 * touches nothing but the request's context, the fd and the atomic
 * `broken` bits; the completion runs on the loop thread.
 *
 * This engine serves every request when io_uring is not in use, and the
 * space operations (discard, write_zeroes, resize, seeks) always.
 *
 * Parallelism is libuv's pool size (UV_THREADPOOL_SIZE, default 4): more
 * requests in flight than threads wait in libuv's queue.
 */
#include <errno.h>
#include <stdio.h>

#include "file.h"

static void threads_work(uv_work_t *w)
{
	struct file_rq *rq = w->data;
	switch (rq->req->op) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE: rq->res = mblk__file_rw_blocking(rq, 0); break;
	case MBLK_OP_FLUSH: mblk__file_space_flush(rq); break;
	case MBLK_OP_DISCARD: mblk__file_space_discard(rq); break;
	case MBLK_OP_WRITE_ZEROES: mblk__file_space_zeroes(rq); break;
	case MBLK_OP_RESIZE: mblk__file_space_resize(rq); break;
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED: mblk__file_space_seek(rq); break;
	case MBLK_OP_EXTENTS: mblk__file_space_extents(rq); break;
	case MBLK_OP_CACHE: mblk__file_space_cache(rq); break;
	case MBLK_OP_DISCONNECT: break;
	}
}

static void threads_after(uv_work_t *w, int status)
{
	struct file_rq *rq = w->data;
	/* We never cancel work, so status is 0. */
	(void)status;
	mblk__file_rq_complete(rq);
}

void mblk__file_threads_start(struct file_rq *rq)
{
	rq->work.data = rq;
	int r = uv_queue_work(rq->f->loop, &rq->work, threads_work,
			      threads_after);
	if (r < 0) {
		/* uv_queue_work fails only for a NULL callback. */
		rq->res = r;
		snprintf(rq->cause, sizeof(rq->cause), "uv_queue_work: %s",
			 uv_strerror(r));
		mblk__file_rq_complete(rq);
	}
}
