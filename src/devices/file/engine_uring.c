/* engine_uring.c - the file device's io_uring engine (liburing).
 *
 * Design notes
 *
 * One ring per device, created at open, torn down at disconnect. Reads,
 * writes (FUA as RWF_DSYNC / RWF_SYNC on the write) and flushes (fsync,
 * IORING_FSYNC_DATASYNC for sync=os) go through it; everything else runs
 * on the thread pool (see file_engine_for in file.c).
 *
 *   op (loop thread)        prepare handle            poll handle on ring fd
 *   get an SQE, fill it  -> io_uring_submit once per -> read every CQE, finish
 *   from the request's      loop iteration (batched)    or continue requests,
 *   context; none free or                               submit what they
 *   CQ budget spent: wait                               queued at once
 *   in a FIFO
 *
 * Submission is batched, in small batches: ops only fill SQEs, and
 * io_uring_submit runs when uring-batch (4) are waiting, or right before
 * the loop blocks (a uv_prepare_t, started when the first SQE of an
 * iteration is filled and stopped once it has submitted), or at the end of
 * the poll callback, which submits what its completions queued (short
 * transfers continued, callbacks that submit the next request). Why 4 and
 * not the whole iteration: measured at QD 32 on a virtio disk
 * (bench/uring_batch.sh, docs/BENCHMARKS.md), one io_uring_enter per
 * iteration (about 10 requests each) gave 0.83x fio's IOPS, batches of 1,
 * 2 or 4 gave 0.98-1.02x, 8 gave 0.92x: a request that waits for the rest
 * of its iteration's callbacks leaves the device's queue short. Batches
 * of 4 cost four fifths of the CPU of batches of 1.
 *
 * Completions: the ring fd is readable while its completion queue holds
 * entries; a uv_poll_t watches it (libuv polls level-triggered). With
 * uring-setup=defer (DEFER_TASKRUN) it watches a registered
 * eventfd instead and runs the deferred task work itself
 * (uring_run_deferred). The poll handle is referenced only while requests
 * are in flight, so an idle device does not keep uv_run from returning.
 *
 * A failed io_uring_submit (EAGAIN/EBUSY) is retried from a 1 ms timer,
 * since nothing may be in the kernel to wake the poll handle.
 *
 * Limits: at most cq_entries requests are in the ring at once (the CQ can
 * then never overflow); more wait in a FIFO threaded through the
 * requests' contexts, as do requests that find the SQ full. No malloc per
 * I/O: the SQE is filled from the request's cursor (io.c), pointing into
 * the caller's borrowed iovec array.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "file.h"

#ifdef MBLK_HAVE_URING
#include <liburing.h>

#define RING_ENTRIES 256
#define CQE_BATCH 64
/* Filled SQEs are submitted once this many are waiting, or when the loop
 * is about to block, whichever comes first (see the design notes).
 * The URI key uring-batch=N (1..256) overrides it, for bench/uring_batch.sh;
 * 256 (the SQ's size) means once per loop iteration. */

struct file_uring {
	struct file_dev *f;
	struct io_uring ring;
	int efd;       /* eventfd the ring signals; -1: poll the ring fd */
	bool deferred; /* IORING_SETUP_DEFER_TASKRUN: reap with get_events */
	uv_poll_t poll;
	uv_prepare_t prepare;
	uv_timer_t retry;    /* io_uring_submit failed (EAGAIN/EBUSY): again */
	unsigned inflight;   /* in the SQ or the kernel, not yet reaped */
	unsigned cq_entries; /* the cap on inflight */
	unsigned submit_batch; /* the uring-batch key (default 4) */
	struct file_rq *wait_head, *wait_tail; /* waiting for an SQE */
	bool prepare_active;
	int closing; /* handles still closing */
	void (*closed)(struct file_dev *);
};

/* How the ring is set up, the uring-setup key: coop (the default:
 * IORING_SETUP_COOP_TASKRUN, the ring fd polled), plain (no flags) or
 * defer (SINGLE_ISSUER | DEFER_TASKRUN, an eventfd polled). Measured side
 * by side on O_DIRECT 4 KiB random reads at QD 32 (docs/BENCHMARKS.md),
 * with small submission batches coop reached 0.97x fio at 35 % CPU, defer
 * 0.91x at 43 %: defer needs a costly call to run all its task work
 * (uring_run_deferred), and without it a wakeup can be lost. A kernel
 * that refuses the flags (EINVAL) gets the plain ring. Single issuer,
 * for defer, holds by design: a device belongs to its loop's thread, which
 * opens it and submits everything. */
static void uring_fill(struct file_uring *u, struct io_uring_sqe *sqe,
		       struct file_rq *rq)
{
	struct file_dev *f = rq->f;
	if (rq->req->op == MBLK_OP_FLUSH) {
		io_uring_prep_fsync(sqe, f->fd,
				    f->sync == FILE_SYNC_OS
					    ? IORING_FSYNC_DATASYNC
					    : 0);
	} else {
		const struct iovec *iov;
		struct iovec one;
		int cnt;
		bool single;
		bool rd = rq->req->op == MBLK_OP_READ;
		mblk__file_rq_span(rq, &iov, &cnt, &one, &single);
		/* One op moves at most 2^32-1 bytes; cap it well below and
		 * let the cursor continue. */
		if (single && one.iov_len > (1u << 30))
			one.iov_len = 1u << 30;
		if (single && rd)
			io_uring_prep_read(sqe, f->fd, one.iov_base,
					   (unsigned)one.iov_len, rq->pos);
		else if (single)
			io_uring_prep_write(sqe, f->fd, one.iov_base,
					    (unsigned)one.iov_len, rq->pos);
		else if (rd)
			io_uring_prep_readv(sqe, f->fd, iov, (unsigned)cnt,
					    rq->pos);
		else
			io_uring_prep_writev(sqe, f->fd, iov, (unsigned)cnt,
					     rq->pos);
		sqe->rw_flags = rq->rwflags;
	}
	io_uring_sqe_set_data(sqe, rq);
	u->inflight++;
}

static void uring_update_ref(struct file_uring *u)
{
	if (u->closing)
		return;
	if (u->inflight > 0 || u->wait_head != NULL)
		uv_ref((uv_handle_t *)&u->poll);
	else
		uv_unref((uv_handle_t *)&u->poll);
}

static void uring_retry_cb(uv_timer_t *h);
static void uring_prepare_cb(uv_prepare_t *h);

/* Moves waiting requests into free SQEs and submits everything filled. */
static void uring_flush(struct file_uring *u)
{
	for (;;) {
		while (u->wait_head != NULL && u->inflight < u->cq_entries) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
			if (sqe == NULL)
				break;
			struct file_rq *rq = u->wait_head;
			u->wait_head = rq->next;
			if (u->wait_head == NULL)
				u->wait_tail = NULL;
			uring_fill(u, sqe, rq);
		}
		if (io_uring_sq_ready(&u->ring) == 0)
			break;
		int r = io_uring_submit(&u->ring);
		if (r == -EINTR)
			continue;
		if (r <= 0) {
			/* -EAGAIN/-EBUSY (no memory for the kernel's side),
			 * or nothing taken: again in a millisecond, or
			 * sooner if completions come; nothing may be in the
			 * kernel to wake us. */
			if (!uv_is_active((uv_handle_t *)&u->retry))
				uv_timer_start(&u->retry, uring_retry_cb, 1, 0);
			break;
		}
		/* Some taken: submit the rest, and refill from the FIFO. */
	}
	/* Whatever is left goes before the loop next blocks. */
	bool more = io_uring_sq_ready(&u->ring) > 0 ||
		    (u->wait_head != NULL && u->inflight < u->cq_entries);
	if (more != u->prepare_active) {
		if (more)
			uv_prepare_start(&u->prepare, uring_prepare_cb);
		else
			uv_prepare_stop(&u->prepare);
		u->prepare_active = more;
	}
}

static void uring_prepare_cb(uv_prepare_t *h)
{
	uring_flush(h->data);
}

static void uring_retry_cb(uv_timer_t *h)
{
	uring_flush(h->data);
}

void mblk__file_uring_start(struct file_rq *rq)
{
	struct file_uring *u = rq->f->uring;
	struct io_uring_sqe *sqe = NULL;
	if (u->wait_head == NULL && u->inflight < u->cq_entries)
		sqe = io_uring_get_sqe(&u->ring);
	if (sqe != NULL) {
		uring_fill(u, sqe, rq);
	} else {
		rq->next = NULL;
		if (u->wait_tail != NULL)
			u->wait_tail->next = rq;
		else
			u->wait_head = rq;
		u->wait_tail = rq;
	}
	if (io_uring_sq_ready(&u->ring) >= u->submit_batch) {
		/* Enough for one io_uring_enter: do not wait for the end
		 * of the loop iteration. uring_flush arms the prepare
		 * handle for whatever it leaves. */
		uring_flush(u);
	} else if (!u->prepare_active) {
		uv_prepare_start(&u->prepare, uring_prepare_cb);
		u->prepare_active = true;
	}
	uring_update_ref(u);
}

/* One completion: finish the request or send it round again. */
static void uring_complete(struct file_rq *rq, int res)
{
	mblk_req *req = rq->req;
	struct file_dev *f = rq->f;
	if ((res == -EINTR || res == -EAGAIN) &&
	    ++rq->retries < FILE_MAX_RETRIES) {
		mblk__file_uring_start(rq);
		return;
	}
	if (req->op == MBLK_OP_FLUSH) {
		rq->res = res < 0 ? res : 0;
		if (res < 0)
			snprintf(rq->cause, sizeof(rq->cause),
				 "%s (io_uring): %s",
				 f->sync == FILE_SYNC_OS ? "fdatasync"
							 : "fsync",
				 strerror(-res));
		mblk__file_rq_complete(rq);
		return;
	}
	if (res < 0) {
		mblk__file_rw_error(rq, res,
				    req->op == MBLK_OP_READ ? "io_uring read"
							    : "io_uring write");
	} else if (res == 0) {
		mblk__file_rw_eof(rq);
	} else {
		mblk__file_rq_advance(rq, (size_t)res);
		if (rq->left > 0) {
			mblk__file_uring_start(rq);
			return;
		}
		rq->res = 0;
	}
	mblk__file_rq_complete(rq);
}

/* DEFER_TASKRUN: runs the ring's pending task work, which posts the
 * completions, all of it. io_uring_get_events is not enough: the kernel
 * runs at most about 20 items per call when asked for no completions, and
 * it signals the eventfd only when its work list goes from empty to not
 * empty, so items left over are never signalled again (a test with 700
 * requests on a loop device hung that way). Asking for cq_entries
 * completions with a zero timeout makes it run every pending item; it then
 * returns -ETIME at once. */
static void uring_run_deferred(struct file_uring *u)
{
	struct __kernel_timespec ts = { 0, 0 };
	struct io_uring_getevents_arg arg = {
		.sigmask = 0,
		.sigmask_sz = _NSIG / 8,
		.ts = (uint64_t)(uintptr_t)&ts,
	};
	int r;
	do
		r = io_uring_enter2((unsigned)u->ring.ring_fd, 0, u->cq_entries,
				    IORING_ENTER_GETEVENTS |
					    IORING_ENTER_EXT_ARG,
				    (sigset_t *)&arg, sizeof(arg));
	while (r == -EINTR);
}

static void uring_poll_cb(uv_poll_t *h, int status, int events)
{
	struct file_uring *u = h->data;
	(void)status;
	(void)events;
	if (u->efd >= 0) {
		uint64_t v;
		if (read(u->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return;
	}
	if (u->deferred)
		uring_run_deferred(u);
	for (;;) {
		struct io_uring_cqe *cqes[CQE_BATCH];
		struct {
			struct file_rq *rq;
			int res;
		} done[CQE_BATCH];
		unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, CQE_BATCH);
		if (n == 0)
			break;
		/* Copy and release the entries before running callbacks,
		 * which may submit (and so reenter the ring). */
		for (unsigned i = 0; i < n; i++) {
			done[i].rq = io_uring_cqe_get_data(cqes[i]);
			done[i].res = cqes[i]->res;
		}
		io_uring_cq_advance(&u->ring, n);
		u->inflight -= n;
		for (unsigned i = 0; i < n; i++)
			uring_complete(done[i].rq, done[i].res);
	}
	if (!u->closing)
		uring_flush(u);
	uring_update_ref(u);
}

int mblk__file_uring_init(struct file_dev *f, char *why, size_t len)
{
	struct file_uring *u = calloc(1, sizeof(*u));
	if (u == NULL) {
		snprintf(why, len, "no memory for the ring");
		return -ENOMEM;
	}
	u->f = f;
	u->efd = -1;
	enum file_uring_setup mode = f->uring_setup;
	unsigned flags = mode == FILE_URING_COOP ? IORING_SETUP_COOP_TASKRUN
			 : mode == FILE_URING_DEFER
				 ? IORING_SETUP_SINGLE_ISSUER |
					   IORING_SETUP_DEFER_TASKRUN
				 : 0;
	int r = io_uring_queue_init(RING_ENTRIES, &u->ring, flags);
	if (r == -EINVAL && flags != 0) {
		/* An older kernel: the plain ring. */
		mode = FILE_URING_PLAIN;
		r = io_uring_queue_init(RING_ENTRIES, &u->ring, 0);
	}
	if (r < 0) {
		snprintf(why, len, "io_uring_queue_init: %s", strerror(-r));
		free(u);
		return r;
	}
	f->uring_setup = mode;
	if (mode == FILE_URING_DEFER) {
		/* Deferred task work does not wake pollers of the ring fd,
		 * but it does signal a registered eventfd. */
		u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = u->efd < 0 ? -errno
			       : io_uring_register_eventfd(&u->ring, u->efd);
		if (r < 0) {
			snprintf(why, len, "eventfd for the ring: %s",
				 strerror(-r));
			if (u->efd >= 0)
				close(u->efd);
			io_uring_queue_exit(&u->ring);
			free(u);
			return r;
		}
		u->deferred = true;
	}
	u->cq_entries = u->ring.cq.ring_entries;
	u->submit_batch = f->uring_batch;
	r = uv_poll_init(f->loop, &u->poll,
			 u->efd >= 0 ? u->efd : u->ring.ring_fd);
	if (r < 0) {
		snprintf(why, len, "uv_poll_init on the ring: %s",
			 uv_strerror(r));
		io_uring_queue_exit(&u->ring);
		free(u);
		return r;
	}
	uv_prepare_init(f->loop, &u->prepare);
	uv_timer_init(f->loop, &u->retry);
	u->poll.data = u;
	u->prepare.data = u;
	u->retry.data = u;
	uv_poll_start(&u->poll, UV_READABLE, uring_poll_cb);
	uv_unref((uv_handle_t *)&u->poll);
	f->uring = u;
	return 0;
}

static void uring_handle_closed(uv_handle_t *h)
{
	struct file_uring *u = h->data;
	if (--u->closing > 0)
		return;
	struct file_dev *f = u->f;
	void (*done)(struct file_dev *) = u->closed;
	io_uring_queue_exit(&u->ring);
	if (u->efd >= 0)
		close(u->efd);
	f->uring = NULL;
	free(u);
	done(f);
}

void mblk__file_uring_close(struct file_dev *f, void (*done)(struct file_dev *))
{
	struct file_uring *u = f->uring;
	u->closed = done;
	u->closing = 3;
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, uring_handle_closed);
	uv_close((uv_handle_t *)&u->prepare, uring_handle_closed);
	uv_close((uv_handle_t *)&u->retry, uring_handle_closed);
}

#else /* !MBLK_HAVE_URING */

int mblk__file_uring_init(struct file_dev *f, char *why, size_t len)
{
	(void)f;
	snprintf(why, len, "this mblk was built without liburing");
	return -ENOSYS;
}

void mblk__file_uring_start(struct file_rq *rq)
{
	/* Never reached: file_engine_for picks io_uring only when the
	 * ring exists. */
	mblk__file_threads_start(rq);
}

void mblk__file_uring_close(struct file_dev *f, void (*done)(struct file_dev *))
{
	done(f);
}

#endif
