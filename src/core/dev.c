/* dev.c - device lifecycle, request pool, submission and completion.
 *
 * Design notes
 *
 * A device is a struct mblk_dev (core.h) with a const ops table, private
 * state and up to four children it owns. Everything here runs on the
 * device's loop thread; nothing is locked.
 *
 * Requests. Each device has a pool: a singly linked free list of
 * fixed-size requests (header + the device's context), grown 16 at a
 * time with one malloc and never shrunk until the device is freed. In
 * steady state a request costs a pop and a push.
 *
 * Submission (submit): a request is counted in flight, checked (unless it
 * is a user request to a device that checks itself), then handed to the
 * op or to the default for a NULL op. mblk__submit_depth is raised around
 * the call so that a completion that happens inside it (a ramdisk, a
 * rejected request) is queued on the device's deferred list instead of
 * running the callback at once. An idle handle, active only while the
 * list is non-empty, drains it on the next loop iteration. This is what
 * makes "never inside the submitting call" hold for every device stack,
 * whatever its devices do, and keeps decorator stacks from recursing.
 *
 * Completion (finish): the request stops counting, its done function
 * runs (the parent's, or deliver_user for a user request, which calls the
 * callback and frees the request), and a disconnect waiting for the drain
 * may start.
 *
 * Disconnect: the first disconnect request moves the device to
 * DISCONNECTING (new requests fail with -ENODEV); once nothing is in
 * flight, ops->disconnect (or the default: disconnect every child) runs
 * once; when it completes the device is DISCONNECTED and every waiting
 * disconnect request completes with 0.
 *
 * Close: disconnect, then ops->destroy, then close the children one after
 * another, then uv_close the idle handle; its close callback frees the
 * device and calls the user's close callback.
 *
 * FUA emulation: a write with MBLK_WRITE_FUA to a device that can flush
 * but has no native FUA is run as the write, then a flush of the same
 * request (req->fua_emul tracks the second step).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "../common/checked.h"

_Thread_local int mblk__submit_depth;

static void finish(mblk_req *req);
static void submit(mblk_req *req, bool check);

/* ------------------------------------------------------------------ */
/* Pool                                                                */

static int pool_grow(mblk_dev *dev)
{
	enum { SLAB = 16 };
	if (dev->nslabs == dev->slabs_cap) {
		size_t cap = dev->slabs_cap ? dev->slabs_cap * 2 : 8;
		void **s = realloc(dev->slabs, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		dev->slabs = s;
		dev->slabs_cap = cap;
	}
	char *slab = malloc(dev->req_size * SLAB);
	if (slab == NULL)
		return -ENOMEM;
	dev->slabs[dev->nslabs++] = slab;
	for (int i = SLAB - 1; i >= 0; i--) {
		mblk_req *r =
			(mblk_req *)(void *)(slab + dev->req_size * (size_t)i);
		r->link = dev->free;
		dev->free = r;
	}
	return 0;
}

mblk_req *mblk_req_alloc(mblk_dev *dev)
{
	if (dev->free == NULL && pool_grow(dev) < 0)
		return NULL;
	mblk_req *req = dev->free;
	dev->free = req->link;
	/* Clear the meaning fields; msg and the context stay as they are. */
	req->dev = dev;
	req->op = MBLK_OP_READ;
	req->flags = 0;
	req->sector = 0;
	req->count = 0;
	req->iov = NULL;
	req->iovcnt = 0;
	req->status = 0;
	req->result = 0;
	req->done_data = NULL;
	req->done = NULL;
	req->cb = NULL;
	req->cb_data = NULL;
	req->link = NULL;
	req->fua_emul = false;
	req->defer_fn = NULL;
	req->msg[0] = '\0';
	return req;
}

/* A request for close or for the release step of a disconnect: from the
 * pool or, when it is empty, from the two set aside at creation, so that
 * neither waits on malloc. A device needs each at most once. */
static mblk_req *alloc_reserved(mblk_dev *dev)
{
	if (dev->free == NULL && dev->spare != NULL) {
		mblk_req *r = dev->spare;
		dev->spare = r->link;
		r->link = NULL;
		dev->free = r;
	}
	return mblk_req_alloc(dev);
}

void mblk_req_free(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	req->link = dev->free;
	dev->free = req;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

const char *mblk_op_name(enum mblk_op op)
{
	switch (op) {
	case MBLK_OP_READ: return "read";
	case MBLK_OP_WRITE: return "write";
	case MBLK_OP_FLUSH: return "flush";
	case MBLK_OP_DISCARD: return "discard";
	case MBLK_OP_WRITE_ZEROES: return "write_zeroes";
	case MBLK_OP_RESIZE: return "resize";
	case MBLK_OP_SEEK_MAPPED: return "seek_mapped";
	case MBLK_OP_SEEK_UNMAPPED: return "seek_unmapped";
	case MBLK_OP_DISCONNECT: return "disconnect";
	}
	return "unknown operation";
}

int mblk_req_describe(const mblk_req *req, char *buf, size_t len)
{
	const char *op = mblk_op_name(req->op);
	const char *pre = "";
	enum mblk_op kind = req->op;
	unsigned long long s = req->sector, n = req->count;
	/* The flush step of an emulated FUA write: the user asked for the
	 * write, so name it and its range. */
	if (req->fua_emul && req->op == MBLK_OP_FLUSH) {
		pre = "flush after the FUA ";
		op = mblk_op_name(MBLK_OP_WRITE);
		kind = MBLK_OP_WRITE;
	}
	switch (kind) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE:
	case MBLK_OP_DISCARD:
	case MBLK_OP_WRITE_ZEROES:
		if (n == 0)
			return snprintf(buf, len,
					"%s%s of 0 sectors at sector %llu", pre,
					op, s);
		if (n == 1)
			return snprintf(buf, len, "%s%s of sector %llu", pre,
					op, s);
		/* s + n - 1 may wrap for a rejected request; say so plainly. */
		if (s + n - 1 < s)
			return snprintf(buf, len,
					"%s%s of %llu sectors from sector %llu",
					pre, op, n, s);
		return snprintf(buf, len,
				"%s%s of sectors %llu-%llu (%llu sectors)", pre,
				op, s, s + n - 1, n);
	case MBLK_OP_RESIZE:
		return snprintf(buf, len, "resize to %llu sectors", s);
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED:
		return snprintf(buf, len, "%s from sector %llu", op, s);
	case MBLK_OP_FLUSH:
	case MBLK_OP_DISCONNECT: break;
	}
	return snprintf(buf, len, "%s", op);
}

/* Sentences are cut to MBLK_MSG_MAX; gcc cannot see that this is meant. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
void mblk_req_vfail(mblk_req *req, int status, const char *fmt, va_list ap)
{
	char what[96], cause[MBLK_MSG_MAX];
	mblk_req_describe(req, what, sizeof(what));
	vsnprintf(cause, sizeof(cause), fmt, ap);
	/* Truncation is acceptable: the sentence is for a person. */
	int n = snprintf(req->msg, sizeof(req->msg), "%s: %s: %s",
			 req->dev->name, what, cause);
	(void)n;
	mblk_req_done(req, status < 0 ? status : -EIO);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void mblk_req_fail(mblk_req *req, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mblk_req_vfail(req, status, fmt, ap);
	va_end(ap);
}

void mblk_req_done_from(mblk_req *parent, const mblk_req *child)
{
	parent->result = child->result;
	if (child->status < 0)
		memcpy(parent->msg, child->msg, sizeof(parent->msg));
	mblk_req_done(parent, child->status);
}

/* ------------------------------------------------------------------ */
/* Completion                                                          */

/* A deferred request: either completed (finish it) or parked by
 * mblk_req_defer (run the device's function, which completes it). */
static void run_deferred(mblk_req *req)
{
	mblk_done_fn fn = req->defer_fn;
	if (fn == NULL) {
		finish(req);
		return;
	}
	req->defer_fn = NULL;
	fn(req);
}

static void idle_cb(uv_idle_t *h)
{
	mblk_dev *dev = h->data;
	/* Take only what is queued now: callbacks that submit again queue
	 * for the next iteration, so I/O polling is never starved. */
	mblk_req *req = dev->defer_head;
	dev->defer_head = dev->defer_tail = NULL;
	while (req != NULL) {
		mblk_req *next = req->link;
		run_deferred(req);
		req = next;
	}
	if (dev->defer_head == NULL && dev->idle_active) {
		uv_idle_stop(&dev->idle);
		dev->idle_active = false;
	}
}

static void defer(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	req->link = NULL;
	if (dev->defer_tail != NULL)
		dev->defer_tail->link = req;
	else
		dev->defer_head = req;
	dev->defer_tail = req;
	/* Once close has reached uv_close, free_dev delivers what is queued;
	 * starting the closing handle would leave it in the loop's idle
	 * queue after the device is freed. */
	if (!dev->idle_active && !uv_is_closing((uv_handle_t *)&dev->idle)) {
		uv_idle_start(&dev->idle, idle_cb);
		dev->idle_active = true;
	}
}

void mblk_req_defer(mblk_req *req, mblk_done_fn fn)
{
	req->defer_fn = fn;
	defer(req);
}

void mblk_req_done(mblk_req *req, int status)
{
	req->status = status;
	if (status < 0 && req->msg[0] == '\0') {
		char what[96];
		mblk_req_describe(req, what, sizeof(what));
		int n = snprintf(req->msg, sizeof(req->msg), "%s: %s: %s",
				 req->dev->name, what, mblk_strerror(status));
		(void)n;
	}
	if (mblk__submit_depth > 0)
		defer(req);
	else
		finish(req);
}

static void try_disconnect(mblk_dev *dev);

static void finish(mblk_req *req)
{
	mblk_dev *dev = req->dev;

	if (req->fua_emul && req->status == 0 && req->op == MBLK_OP_WRITE) {
		/* Second step of an emulated FUA write: flush. The request
		 * stays in flight; if it fails, mblk_req_describe names the
		 * write ("flush after the FUA write of sectors ..."). */
		req->op = MBLK_OP_FLUSH;
		mblk__submit_depth++;
		dev->ops->flush(dev, req);
		mblk__submit_depth--;
		return;
	}
	if (req->fua_emul) {
		req->fua_emul = false;
		req->op = MBLK_OP_WRITE;
	}
	if (req->op != MBLK_OP_DISCONNECT)
		dev->inflight--;
	if (req->op == MBLK_OP_RESIZE && req->status == 0)
		dev->info.size_sectors = req->sector;
	/* A seek answers inside [from, size] of the size this device knows,
	 * even when a child's view differs (a store resized elsewhere). */
	if ((req->op == MBLK_OP_SEEK_MAPPED ||
	     req->op == MBLK_OP_SEEK_UNMAPPED) &&
	    req->status == 0) {
		uint64_t size = dev->info.size_sectors;
		uint64_t lo = req->sector < size ? req->sector : size;
		if (req->result > size)
			req->result = size;
		if (req->result < lo)
			req->result = lo;
	}
	req->done(req);
	if (dev->inflight == 0 && dev->state == MBLK__DISCONNECTING)
		try_disconnect(dev);
}

/* ------------------------------------------------------------------ */
/* Default ops                                                         */

static void passthru_done(mblk_req *child)
{
	mblk_req *parent = child->done_data;
	mblk_req_done_from(parent, child);
	mblk_req_free(child);
}

void mblk_req_forward(mblk_req *req, mblk_dev *to)
{
	mblk_req *child = mblk_req_alloc(to);
	if (child == NULL) {
		mblk_req_fail(req, -ENOMEM, "no memory for a request to %s",
			      to->name);
		return;
	}
	child->op = req->op;
	child->flags = req->flags;
	child->sector = req->sector;
	child->count = req->count;
	child->iov = req->iov;
	child->iovcnt = req->iovcnt;
	mblk_req_submit(child, passthru_done, req);
}

static void disc_child_done(mblk_req *child)
{
	mblk_req *req = child->done_data;
	mblk_req_free(child);
	/* The count lives in result while the children finish. */
	if (--req->result == 0)
		mblk_req_done(req, 0);
}

/* Default disconnect: disconnect every child, then complete. */
static void disconnect_children(mblk_dev *dev, mblk_req *req)
{
	if (dev->nchildren == 0) {
		mblk_req_done(req, 0);
		return;
	}
	req->result = (uint64_t)dev->nchildren;
	for (int i = 0; i < dev->nchildren; i++) {
		mblk_req *child = mblk_req_alloc(dev->children[i]);
		if (child == NULL) {
			/* Cannot ask this one; count it as done. The child is
			 * disconnected when it is closed in any case. */
			if (--req->result == 0)
				mblk_req_done(req, 0);
			continue;
		}
		child->op = MBLK_OP_DISCONNECT;
		mblk_req_submit(child, disc_child_done, req);
	}
}

static void seek_default(mblk_dev *dev, mblk_req *req)
{
	req->result = req->op == MBLK_OP_SEEK_MAPPED ? req->sector
						     : dev->info.size_sectors;
	mblk_req_done(req, 0);
}

/* ------------------------------------------------------------------ */
/* Disconnect                                                          */

/* The device is disconnected: complete every waiting disconnect with 0.
 * Through mblk_req_done, so that a waiter completed inside the
 * submission of a disconnect (the out-of-memory path) is deferred. */
static void disc_complete_waiters(mblk_dev *dev)
{
	dev->state = MBLK__DISCONNECTED;
	dev->disc_running = false;
	mblk_req *w = dev->disc_wait;
	dev->disc_wait = NULL;
	while (w != NULL) {
		mblk_req *next = w->link;
		mblk_req_done(w, 0);
		w = next;
	}
}

static void disc_finished(mblk_req *ireq)
{
	mblk_dev *dev = ireq->dev;
	mblk_req_free(ireq);
	disc_complete_waiters(dev);
}

static void try_disconnect(mblk_dev *dev)
{
	if (dev->state != MBLK__DISCONNECTING || dev->inflight != 0 ||
	    dev->disc_running)
		return;
	mblk_req *ireq = alloc_reserved(dev);
	if (ireq == NULL) {
		/* No memory for the release step: skip it (destroy still
		 * releases everything at close) and finish the waiters. */
		disc_complete_waiters(dev);
		return;
	}
	dev->disc_running = true;
	ireq->op = MBLK_OP_DISCONNECT;
	ireq->done = disc_finished;
	mblk__submit_depth++;
	if (dev->ops->disconnect != NULL)
		dev->ops->disconnect(dev, ireq);
	else
		disconnect_children(dev, ireq);
	mblk__submit_depth--;
}

/* A disconnect request joins the waiters; the first one starts it. */
static void disconnect_req(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	if (dev->state == MBLK__DISCONNECTED) {
		mblk_req_done(req, 0);
		return;
	}
	/* Waiters complete through done directly from disc_finished, which
	 * runs from the loop (never inside this submission): the
	 * disconnect op's own completion is deferred when immediate. */
	req->link = dev->disc_wait;
	dev->disc_wait = req;
	dev->state = MBLK__DISCONNECTING;
	try_disconnect(dev);
}

/* ------------------------------------------------------------------ */
/* Submission                                                          */

static bool is_write_like(enum mblk_op op)
{
	return op == MBLK_OP_WRITE || op == MBLK_OP_DISCARD ||
	       op == MBLK_OP_WRITE_ZEROES || op == MBLK_OP_RESIZE;
}

/* The core's checks. Returns false after failing req. */
static bool check(mblk_dev *dev, mblk_req *req)
{
	const struct mblk_info *in = &dev->info;
	int r;

	if (is_write_like(req->op) && !in->read_write) {
		mblk_req_fail(req, -EROFS,
			      "attempted to write to a read-only device");
		return false;
	}
	switch (req->op) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE:
		r = mblk_check_rw(dev->name, in, req->op, req->sector, req->iov,
				  req->iovcnt, false, &req->count, req->msg,
				  sizeof(req->msg));
		if (r < 0) {
			mblk_req_done(req, r);
			return false;
		}
		return true;
	case MBLK_OP_DISCARD:
	case MBLK_OP_WRITE_ZEROES:
		if (!(in->caps &
		      (req->op == MBLK_OP_DISCARD ? MBLK_CAP_DISCARD
						  : MBLK_CAP_WRITE_ZEROES))) {
			mblk_req_fail(req, -ENOTSUP,
				      "the %s device does not support %s",
				      dev->ops->kind, mblk_op_name(req->op));
			return false;
		}
		r = mblk_check_range(dev->name, in, req->op, req->sector,
				     req->count, req->msg, sizeof(req->msg));
		if (r < 0) {
			mblk_req_done(req, r);
			return false;
		}
		return true;
	case MBLK_OP_RESIZE: {
		uint64_t bytes;
		if (!(in->caps & MBLK_CAP_RESIZE)) {
			mblk_req_fail(req, -ENOTSUP,
				      "the %s device cannot be resized",
				      dev->ops->kind);
			return false;
		}
		if (mblk__mul_overflow(req->sector, in->sector_size, &bytes) ||
		    bytes > MBLK__MAX_BYTES) {
			mblk_req_fail(req, -EFBIG,
				      "%llu sectors of %u bytes is more than "
				      "the 2^63 bytes a device can hold",
				      (unsigned long long)req->sector,
				      in->sector_size);
			return false;
		}
		return true;
	}
	default: return true;
	}
}

static void dispatch(mblk_dev *dev, mblk_req *req)
{
	const struct mblk_dev_ops *ops = dev->ops;
	void (*fn)(mblk_dev *, mblk_req *) = NULL;

	switch (req->op) {
	case MBLK_OP_READ: fn = ops->read; break;
	case MBLK_OP_WRITE:
		/* Leaves emulate FUA; decorators pass the flag down. The
		 * marker is kept out of req->flags, which the op reads. */
		if ((req->flags & MBLK_WRITE_FUA) && dev->nchildren == 0 &&
		    !(dev->info.caps & MBLK_CAP_FUA)) {
			req->flags &= ~MBLK_WRITE_FUA;
			if ((dev->info.caps & MBLK_CAP_FLUSH) && ops->flush)
				req->fua_emul = true;
		}
		fn = ops->write;
		break;
	case MBLK_OP_FLUSH:
		if (!(dev->info.caps & MBLK_CAP_FLUSH) && dev->nchildren == 0) {
			/* Nothing volatile to make durable. */
			mblk_req_done(req, 0);
			return;
		}
		fn = ops->flush;
		break;
	case MBLK_OP_DISCARD: fn = ops->discard; break;
	case MBLK_OP_WRITE_ZEROES: fn = ops->write_zeroes; break;
	case MBLK_OP_RESIZE: fn = ops->resize; break;
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED:
		if (req->sector >= dev->info.size_sectors) {
			req->result = dev->info.size_sectors;
			mblk_req_done(req, 0);
			return;
		}
		fn = ops->seek;
		if (fn == NULL && dev->nchildren == 0)
			fn = seek_default;
		break;
	case MBLK_OP_DISCONNECT: break;
	}
	if (fn != NULL)
		fn(dev, req);
	else if (dev->nchildren > 0)
		mblk_req_forward(req, dev->children[0]);
	else
		mblk_req_fail(req, -ENOTSUP,
			      "the %s device does not support %s", ops->kind,
			      mblk_op_name(req->op));
}

static void submit(mblk_req *req, bool do_check)
{
	mblk_dev *dev = req->dev;

	mblk__submit_depth++;
	if (req->op == MBLK_OP_DISCONNECT) {
		disconnect_req(req);
		mblk__submit_depth--;
		return;
	}
	dev->inflight++;
	if (dev->state != MBLK__CONNECTED) {
		/* Describe the range the caller asked for, if it is sane. */
		if ((req->op == MBLK_OP_READ || req->op == MBLK_OP_WRITE) &&
		    req->iov != NULL && req->iovcnt > 0 &&
		    req->iovcnt <= 1024) {
			uint64_t bytes = 0;
			for (int i = 0; i < req->iovcnt; i++)
				bytes += req->iov[i].iov_len;
			req->count = bytes / dev->info.sector_size;
		}
		mblk_req_fail(req, -ENODEV, "device is disconnected");
	} else if (!do_check || check(dev, req))
		dispatch(dev, req);
	mblk__submit_depth--;
}

void mblk_req_submit(mblk_req *req, mblk_done_fn done, void *done_data)
{
	req->done = done;
	req->done_data = done_data;
	submit(req, true);
}

/* The done function of every user request: the callback, then back to
 * the pool. A resize that succeeded updates the cached size first. */
static void deliver_user(mblk_req *req)
{
	const char *err = req->status < 0 ? req->msg : NULL;
	if (req->op == MBLK_OP_SEEK_MAPPED ||
	    req->op == MBLK_OP_SEEK_UNMAPPED) {
		mblk_seek_cb cb = (mblk_seek_cb)req->cb;
		cb(req->cb_data, req->status, req->result, err);
	} else {
		mblk_cb cb = (mblk_cb)req->cb;
		cb(req->cb_data, req->status, err);
	}
	mblk_req_free(req);
}

void mblk__submit_user(mblk_req *req, mblk_cb cb, mblk_seek_cb seek_cb,
		       void *data)
{
	req->cb = cb != NULL ? (void *)cb : (void *)seek_cb;
	req->cb_data = data;
	req->done = deliver_user;
	submit(req, !(req->dev->flags & MBLK_DEV_CHECKS_ITSELF));
}

/* ------------------------------------------------------------------ */
/* Creation, accessors, close                                          */

int mblk_dev_create(uv_loop_t *loop, const struct mblk_dev_ops *ops, void *priv,
		    const char *name, const struct mblk_info *info,
		    mblk_dev *const *children, int nchildren, unsigned flags,
		    mblk_dev **devp)
{
	if (loop == NULL || ops == NULL || info == NULL || devp == NULL ||
	    nchildren < 0 || nchildren > MBLK_DEV_MAX_CHILDREN)
		return mblk_set_error(-EINVAL,
				      "mblk_dev_create: missing loop, ops, info "
				      "or result pointer, or %d children "
				      "(at most %d)",
				      nchildren, MBLK_DEV_MAX_CHILDREN);
	if (!mblk__is_pow2(info->sector_size))
		return mblk_set_error(-EINVAL,
				      "%s: sector size %u is not a power of two",
				      name ? name : ops->kind,
				      info->sector_size);
	/* A request and its context must fit comfortably in a slab. */
	if (ops->req_ctx_size > (1u << 20))
		return mblk_set_error(-EINVAL,
				      "%s: %zu bytes of context per request is "
				      "more than the 1 MiB a device may ask for",
				      name ? name : ops->kind,
				      ops->req_ctx_size);
	/* A leaf that claims to flush must be able to: FUA emulation and
	 * flush dispatch rely on ops->flush (a decorator passes it down). */
	if (nchildren == 0 && (info->caps & MBLK_CAP_FLUSH) &&
	    ops->flush == NULL)
		return mblk_set_error(-EINVAL,
				      "%s: the %s device claims MBLK_CAP_FLUSH "
				      "but has no flush op",
				      name ? name : ops->kind, ops->kind);
	/* Every op is promised byte offsets that fit (backend.h): only
	 * true if the device itself does, as resize already requires. */
	uint64_t bytes;
	if (mblk__mul_overflow(info->size_sectors, info->sector_size, &bytes) ||
	    bytes > MBLK__MAX_BYTES)
		return mblk_set_error(-EFBIG,
				      "%s: %llu sectors of %u bytes is more "
				      "than the 2^63 bytes a device can hold",
				      name ? name : ops->kind,
				      (unsigned long long)info->size_sectors,
				      info->sector_size);
	mblk_dev *dev = calloc(1, sizeof(*dev));
	if (dev == NULL)
		return mblk_set_error(-ENOMEM, "no memory for a device");
	dev->name = strdup(name != NULL ? name : ops->kind);
	if (dev->name == NULL) {
		free(dev);
		return mblk_set_error(-ENOMEM, "no memory for a device");
	}
	dev->loop = loop;
	dev->ops = ops;
	dev->priv = priv;
	dev->info = *info;
	if (dev->info.min_io == 0)
		dev->info.min_io = dev->info.sector_size;
	if (dev->info.pref_io == 0)
		dev->info.pref_io = dev->info.sector_size;
	if (dev->info.buf_align == 0)
		dev->info.buf_align = 1;
	for (int i = 0; i < nchildren; i++)
		dev->children[i] = children[i];
	dev->nchildren = nchildren;
	dev->flags = flags;
	dev->state = MBLK__CONNECTED;
	dev->req_size =
		MBLK_REQ_HDR_SIZE + ((ops->req_ctx_size + 15u) & ~(size_t)15u);
	dev->spare_mem = malloc(2 * dev->req_size);
	if (dev->spare_mem == NULL) {
		free(dev->name);
		free(dev);
		return mblk_set_error(-ENOMEM, "no memory for a device");
	}
	for (int i = 0; i < 2; i++) {
		mblk_req *r = (mblk_req *)(void *)((char *)dev->spare_mem +
						   dev->req_size * (size_t)i);
		r->link = dev->spare;
		dev->spare = r;
	}
	uv_idle_init(loop, &dev->idle);
	dev->idle.data = dev;
	*devp = dev;
	return 0;
}

void *mblk_dev_priv(const mblk_dev *dev)
{
	return dev->priv;
}

mblk_dev *mblk_dev_child(const mblk_dev *dev, int i)
{
	return i >= 0 && i < dev->nchildren ? dev->children[i] : NULL;
}

const struct mblk_dev_ops *mblk_dev_ops(const mblk_dev *dev)
{
	return dev->ops;
}

struct mblk_info *mblk_dev_info(mblk_dev *dev)
{
	return &dev->info;
}

bool mblk_dev_is_disconnected(const mblk_dev *dev)
{
	return dev->state != MBLK__CONNECTED;
}

uint64_t mblk_dev_inflight(const mblk_dev *dev)
{
	return dev->inflight;
}

const char *mblk_dev_name(const mblk_dev *dev)
{
	return dev->name;
}

uv_loop_t *mblk_dev_loop(const mblk_dev *dev)
{
	return dev->loop;
}

static void free_dev(uv_handle_t *h)
{
	mblk_dev *dev = h->data;
	/* Anything submitted after close began has failed with -ENODEV and
	 * may still sit in the deferred list: deliver it now. A callback
	 * may submit again; defer() appends at the tail, so keep it right. */
	while (dev->defer_head != NULL) {
		mblk_req *req = dev->defer_head;
		dev->defer_head = req->link;
		if (dev->defer_head == NULL)
			dev->defer_tail = NULL;
		run_deferred(req);
	}
	mblk_cb cb = dev->close_cb;
	void *data = dev->close_data;
	struct mblk__close_waiter *more = dev->close_more;
	for (size_t i = 0; i < dev->nslabs; i++)
		free(dev->slabs[i]);
	free(dev->slabs);
	free(dev->spare_mem);
	free(dev->name);
	free(dev);
	if (cb != NULL)
		cb(data, 0, NULL);
	while (more != NULL) {
		struct mblk__close_waiter *next = more->next;
		more->cb(more->data, 0, NULL);
		free(more);
		more = next;
	}
}

static void close_next_child(mblk_dev *dev);

static void child_closed(void *data, int status, const char *error)
{
	(void)status;
	(void)error;
	close_next_child(data);
}

static void close_next_child(mblk_dev *dev)
{
	if (dev->children_open > 0) {
		mblk_dev *child = dev->children[--dev->children_open];
		mblk_close(child, child_closed, dev);
		return;
	}
	uv_close((uv_handle_t *)&dev->idle, free_dev);
}

static void close_after_disconnect(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	mblk_req_free(req);
	if (dev->ops->destroy != NULL)
		dev->ops->destroy(dev);
	dev->priv = NULL;
	dev->children_open = dev->nchildren;
	close_next_child(dev);
}

void mblk_close(mblk_dev *dev, mblk_cb cb, void *data)
{
	if (dev == NULL)
		return;
	if (dev->closing) {
		/* Already closing: call cb too when the device is gone (a
		 * waiter that is never called would hang mblk_close_sync).
		 * Without memory for the note, cb cannot be called. */
		if (cb == NULL)
			return;
		struct mblk__close_waiter *w = malloc(sizeof(*w)), **p;
		if (w == NULL)
			return;
		w->cb = cb;
		w->data = data;
		w->next = NULL;
		for (p = &dev->close_more; *p != NULL; p = &(*p)->next)
			;
		*p = w;
		return;
	}
	dev->closing = true;
	dev->close_cb = cb;
	dev->close_data = data;
	mblk_req *req = alloc_reserved(dev);
	if (req == NULL) {
		/* Cannot happen (a spare is kept for this); if it did, tear
		 * down without waiting, which is only safe when idle. */
		if (dev->ops->destroy != NULL)
			dev->ops->destroy(dev);
		dev->children_open = dev->nchildren;
		close_next_child(dev);
		return;
	}
	req->op = MBLK_OP_DISCONNECT;
	req->done = close_after_disconnect;
	submit(req, false);
}
