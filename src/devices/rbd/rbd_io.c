/* rbd_io.c - the rbd device's data path: librbd's asynchronous calls,
 * completed on the caller's loop.
 *
 * Design notes. Reads and writes go to rbd_aio_readv / rbd_aio_writev
 * with the caller's iovecs (no copy, no bounce buffer); flush, discard
 * and write_zeroes to their rbd_aio_* calls. librbd calls rbdio_aio_cb on
 * one of its own threads. That callback is the only cross-thread hop in
 * the device:
 *
 *   loop thread                          librbd thread
 *   rbdio_read: rbd_aio_readv(req) ──────► ... I/O ...
 *                                        rbdio_aio_cb: ret, release,
 *                                          lock; push req; async_send;
 *   rbdio_async_cb ◄──────────────────────── unlock
 *     take the list, oldest first:
 *     mblk_req_done(req, ret)
 *
 * The list is intrusive (the link lives in the request's context, see
 * struct mblk__rbd_req) and the state of a request in flight is all in
 * that context, so nothing is allocated per request on our side (librbd
 * allocates its completion object; that cannot be avoided through its C
 * API). uv_async_send coalesces wakeups, so one pass of rbdio_async_cb
 * completes every request that finished meanwhile.
 *
 * The mutex covers the push and the uv_async_send that follows it. When
 * the core calls disconnect nothing is in flight, so every callback has
 * pushed its request; taking the lock once then waits for the last one
 * to be out of uv_async_send, after which no librbd thread touches the
 * handle and it can be closed.
 *
 * The async handle is referenced only while requests are in librbd, so
 * an idle device does not keep uv_run from returning, and a request in
 * flight does (the contract in backend.h). Blocking calls (rbd_resize,
 * rbd_close and rados_shutdown at disconnect; rbd_diff_iterate2 for
 * extents, rbd_extents.c) run on libuv's pool with the uv_work_t in the
 * request's context.
 *
 * Fencing: a client the cluster blocklisted gets -ESHUTDOWN
 * (EBLOCKLISTED) for everything, for good; the first such answer makes
 * the device lost (mblk_dev_set_disconnected), and the core fails later
 * requests with that sentence.
 *
 * FUA: librbd has no per-write FUA, so the device does not advertise
 * MBLK_CAP_FUA and the core sends a flush after the write. With the
 * cache off a completed write is already on the OSDs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbd_int.h"

static struct mblk__rbd_dev *rbdio_state(mblk_dev *dev)
{
	return mblk_dev_priv(dev);
}

/* librbd's completion callback, on a librbd thread. */
static void rbdio_aio_cb(rbd_completion_t c, void *arg)
{
	struct mblk__rbd_req *r = arg;
	struct mblk__rbd_dev *d = r->d;
	r->ret = rbd_aio_get_return_value(c);
	rbd_aio_release(c);
	uv_mutex_lock(&d->lock);
	r->next = d->done_head;
	d->done_head = r;
	uv_async_send(&d->async);
	uv_mutex_unlock(&d->lock);
}

static void rbdio_aio_finish(struct mblk__rbd_req *r)
{
	struct mblk__rbd_dev *d = r->d;
	if (--d->aio_inflight == 0)
		uv_unref((uv_handle_t *)&d->async);
	/* -ESHUTDOWN is librados's EBLOCKLISTED: the cluster fenced this
	 * client (ceph osd blocklist add, or another client took the
	 * exclusive lock by force). It is for good: every later request
	 * would fail the same way, so the device is lost. */
	if (r->ret == -ESHUTDOWN)
		mblk_dev_set_disconnected(r->req->dev,
					  "the Ceph cluster blocklisted this "
					  "client (librbd: %s); reopen the "
					  "image to get a new one",
					  strerror(ESHUTDOWN));
	if (r->ret < 0)
		mblk_req_fail(r->req, (int)r->ret, "librbd: %s",
			      strerror((int)-r->ret));
	else
		mblk_req_done(r->req, 0);
}

/* On the loop: completes every request the list holds, oldest first. */
static void rbdio_async_cb(uv_async_t *h)
{
	struct mblk__rbd_dev *d = h->data;
	uv_mutex_lock(&d->lock);
	struct mblk__rbd_req *list = d->done_head;
	d->done_head = NULL;
	uv_mutex_unlock(&d->lock);
	struct mblk__rbd_req *fifo = NULL;
	while (list != NULL) {
		struct mblk__rbd_req *next = list->next;
		list->next = fifo;
		fifo = list;
		list = next;
	}
	while (fifo != NULL) {
		struct mblk__rbd_req *next = fifo->next;
		rbdio_aio_finish(fifo);
		fifo = next;
	}
}

/* Prepares req's context and a librbd completion for it. 0, or the
 * request is failed and -1 returned. */
static int rbdio_aio_begin(mblk_dev *dev, mblk_req *req, rbd_completion_t *c)
{
	struct mblk__rbd_dev *d = rbdio_state(dev);
	struct mblk__rbd_req *r = mblk_req_ctx(req);
	r->req = req;
	r->d = d;
	r->next = NULL;
	int e = rbd_aio_create_completion(r, rbdio_aio_cb, c);
	if (e < 0) {
		mblk_req_fail(req, e, "librbd could not make a completion: %s",
			      strerror(-e));
		return -1;
	}
	return 0;
}

/* After an rbd_aio_* call: counts the request in flight, or fails it
 * when librbd refused it at once (e < 0: the completion is unused). */
static void rbdio_aio_submitted(mblk_dev *dev, mblk_req *req,
				rbd_completion_t c, int e)
{
	struct mblk__rbd_dev *d = rbdio_state(dev);
	if (e < 0) {
		rbd_aio_release(c);
		mblk_req_fail(req, e, "librbd refused the request: %s",
			      strerror(-e));
		return;
	}
	if (d->aio_inflight++ == 0)
		uv_ref((uv_handle_t *)&d->async);
}

static uint64_t rbdio_bytes(mblk_dev *dev, uint64_t sectors)
{
	return sectors * mblk_dev_info(dev)->sector_size;
}

static void rbdio_read(mblk_dev *dev, mblk_req *req)
{
	rbd_completion_t c;
	if (req->count == 0) { /* librbd refuses iovcnt 0 */
		mblk_req_done(req, 0);
		return;
	}
	if (rbdio_aio_begin(dev, req, &c) < 0)
		return;
	int e = rbd_aio_readv(rbdio_state(dev)->c.image, req->iov, req->iovcnt,
			      rbdio_bytes(dev, req->sector), c);
	rbdio_aio_submitted(dev, req, c, e);
}

static void rbdio_write(mblk_dev *dev, mblk_req *req)
{
	rbd_completion_t c;
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	if (rbdio_aio_begin(dev, req, &c) < 0)
		return;
	int e = rbd_aio_writev(rbdio_state(dev)->c.image, req->iov, req->iovcnt,
			       rbdio_bytes(dev, req->sector), c);
	rbdio_aio_submitted(dev, req, c, e);
}

static void rbdio_flush(mblk_dev *dev, mblk_req *req)
{
	rbd_completion_t c;
	if (rbdio_aio_begin(dev, req, &c) < 0)
		return;
	rbdio_aio_submitted(dev, req, c,
			    rbd_aio_flush(rbdio_state(dev)->c.image, c));
}

static void rbdio_discard(mblk_dev *dev, mblk_req *req)
{
	rbd_completion_t c;
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	if (rbdio_aio_begin(dev, req, &c) < 0)
		return;
	int e = rbd_aio_discard(rbdio_state(dev)->c.image,
				rbdio_bytes(dev, req->sector),
				rbdio_bytes(dev, req->count), c);
	rbdio_aio_submitted(dev, req, c, e);
}

/* Without MBLK_ZEROES_NO_HOLE librbd zeroes by deallocating whole
 * objects and zeroing the ends of partial ones on the OSDs (no data is
 * sent): fast. With it, librbd writes zeros (thick provisioning), which
 * is not fast, so MBLK_ZEROES_FAST then refuses. */
static void rbdio_write_zeroes(mblk_dev *dev, mblk_req *req)
{
	rbd_completion_t c;
	int zflags = 0;
	if (req->flags & MBLK_ZEROES_NO_HOLE) {
		if (req->flags & MBLK_ZEROES_FAST) {
			mblk_req_fail(req, -ENOTSUP,
				      "zeroing without leaving holes writes "
				      "zeros on an RBD image: not fast");
			return;
		}
		zflags = RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;
	}
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	if (rbdio_aio_begin(dev, req, &c) < 0)
		return;
	int e = rbd_aio_write_zeroes(rbdio_state(dev)->c.image,
				     rbdio_bytes(dev, req->sector),
				     rbdio_bytes(dev, req->count), c, zflags,
				     0);
	rbdio_aio_submitted(dev, req, c, e);
}

static void rbdio_resize_work(uv_work_t *w)
{
	struct mblk__rbd_req *r = w->data;
	mblk_req *req = r->req;
	r->ret = rbd_resize(r->d->c.image,
			    req->sector * mblk_dev_info(req->dev)->sector_size);
}

static void rbdio_resize_after(uv_work_t *w, int status)
{
	struct mblk__rbd_req *r = w->data;
	if (status < 0)
		r->ret = status;
	if (r->ret < 0) {
		mblk_req_fail(r->req, (int)r->ret, "rbd_resize: %s",
			      strerror((int)-r->ret));
		return;
	}
	r->d->c.size = rbdio_bytes(r->req->dev, r->req->sector);
	mblk_req_done(r->req, 0);
}

/* rbd_resize blocks (it updates the header, then removes or trims the
 * objects past a new, smaller end): on the pool. */
static void rbdio_resize_op(mblk_dev *dev, mblk_req *req)
{
	struct mblk__rbd_req *r = mblk_req_ctx(req);
	r->req = req;
	r->d = rbdio_state(dev);
	r->work.data = r;
	int e = uv_queue_work(mblk_dev_loop(dev), &r->work, rbdio_resize_work,
			      rbdio_resize_after);
	if (e < 0)
		mblk_req_fail(req, e, "cannot queue rbd_resize: %s",
			      uv_strerror(e));
}

static void rbdio_async_closed(uv_handle_t *h)
{
	struct mblk__rbd_dev *d = h->data;
	mblk_req_done(d->disc_req, 0);
}

static void rbdio_disc_work(uv_work_t *w)
{
	struct mblk__rbd_dev *d = w->data;
	mblk__rbd_teardown(&d->c);
}

static void rbdio_disc_after(uv_work_t *w, int status)
{
	(void)status; /* cannot be cancelled: nothing calls uv_cancel */
	struct mblk__rbd_dev *d = w->data;
	uv_close((uv_handle_t *)&d->async, rbdio_async_closed);
}

/* Nothing is in flight (the core drained it): wait for the last librbd
 * callback to leave the lock, then close the image (which releases the
 * exclusive lock) and the cluster handle on the pool, then the async
 * handle, then complete. Never fails. */
static void rbdio_disconnect(mblk_dev *dev, mblk_req *req)
{
	struct mblk__rbd_dev *d = rbdio_state(dev);
	uv_mutex_lock(&d->lock);
	uv_mutex_unlock(&d->lock);
	d->disc_req = req;
	d->disc_work.data = d;
	if (uv_queue_work(mblk_dev_loop(dev), &d->disc_work, rbdio_disc_work,
			  rbdio_disc_after) < 0) {
		/* Only with a bad loop: close here, blocking. */
		mblk__rbd_teardown(&d->c);
		uv_close((uv_handle_t *)&d->async, rbdio_async_closed);
	}
}

/* The size may change under us (another client's resize); librbd keeps
 * the header current through its watch, so this is a local call. */
static void rbdio_get_info(mblk_dev *dev, struct mblk_info *info)
{
	struct mblk__rbd_dev *d = rbdio_state(dev);
	uint64_t bytes;
	if (mblk_dev_is_disconnected(dev) || !d->c.have_image)
		return;
	if (rbd_get_size(d->c.image, &bytes) == 0)
		info->size_sectors = bytes / info->sector_size;
}

static void rbdio_destroy(mblk_dev *dev)
{
	struct mblk__rbd_dev *d = rbdio_state(dev);
	uv_mutex_destroy(&d->lock);
	mblk__rbd_params_free(&d->p);
	free(d);
}

static const struct mblk_dev_ops rbdio_ops = {
	.kind = "rbd",
	.req_ctx_size = sizeof(struct mblk__rbd_req),
	.read = rbdio_read,
	.write = rbdio_write,
	.flush = rbdio_flush,
	.discard = rbdio_discard,
	.write_zeroes = rbdio_write_zeroes,
	.resize = rbdio_resize_op,
	.extents = mblk__rbd_extents,
	.disconnect = rbdio_disconnect,
	.get_info = rbdio_get_info,
	.get_uri = mblk__rbd_get_uri,
	.get_allocated = mblk__rbd_get_allocated,
	.destroy = rbdio_destroy,
};

static void rbdio_free_closed(uv_handle_t *h)
{
	free(h->data);
}

int mblk__rbd_dev_create(uv_loop_t *loop, struct mblk__rbd_params *p,
			 struct mblk__rbd_conn *c, bool rdonly, mblk_dev **devp)
{
	char name[256];
	mblk__rbd_name(p, name, sizeof(name));
	struct mblk__rbd_dev *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return mblk_set_error(-ENOMEM, "%s: no memory for the device",
				      name);
	if (uv_mutex_init(&d->lock) < 0) {
		free(d);
		return mblk_set_error(-ENOMEM, "%s: cannot make a mutex", name);
	}
	int e = uv_async_init(loop, &d->async, rbdio_async_cb);
	if (e < 0) {
		uv_mutex_destroy(&d->lock);
		free(d);
		return mblk_set_error(e, "%s: cannot make a uv_async_t: %s",
				      name, uv_strerror(e));
	}
	d->async.data = d;
	uv_unref((uv_handle_t *)&d->async);

	bool ro = rdonly || p->read_only || p->snap != NULL;
	struct mblk_info info = {
		.sector_size = 512,
		.size_sectors = c->size / 512,
		.read_write = !ro,
		.buf_align = 1,
		.min_io = 512,
		.pref_io = c->obj_size >= 512 && c->obj_size <= (1u << 26)
				   ? (uint32_t)c->obj_size
				   : 512,
		.max_io = 0,
		.caps = MBLK_CAP_FLUSH | MBLK_CAP_DISCARD |
			MBLK_CAP_WRITE_ZEROES | MBLK_CAP_RESIZE |
			MBLK_CAP_SEEK | MBLK_CAP_ZERO_IS_FAST,
	};
	mblk_dev *dev;
	e = mblk_dev_create(loop, &rbdio_ops, d, name, &info, NULL, 0, 0, &dev);
	if (e < 0) {
		/* The handle is closed from the loop; d is freed then. */
		uv_ref((uv_handle_t *)&d->async);
		uv_close((uv_handle_t *)&d->async, rbdio_free_closed);
		uv_mutex_destroy(&d->lock);
		return e;
	}
	/* Only now does the device own the parameters and connection. */
	d->p = *p;
	d->p.text = NULL; /* the URI's text is the opener's */
	memset(p, 0, sizeof(*p));
	d->c = *c;
	memset(c, 0, sizeof(*c));
	d->dev = dev;
	*devp = dev;
	return 0;
}
