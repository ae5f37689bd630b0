/* dev.c - a device's life: creation, accessors, disconnect and close.
 *
 * Design notes
 *
 * A device is a struct mblk_dev (core.h) with a const ops table, private
 * state and up to four children it owns. Everything here runs on the
 * device's loop thread; nothing is locked.
 *
 * Disconnect: the first disconnect request moves the device to
 * DISCONNECTING (new requests fail with -ENODEV); once nothing is in
 * flight, ops->disconnect (or the default: disconnect every child) runs
 * once; when it completes the device is DISCONNECTED and every waiting
 * disconnect request completes with 0.
 *
 * Lost: a device whose peer is gone (a server closed the connection, a
 * client was fenced) says so with mblk_dev_set_disconnected; the core
 * keeps the sentence and fails every later request with -ESHUTDOWN and
 * it, and mblk_dev_is_disconnected is true. The state machine above is
 * untouched: disconnecting and closing still run ops->disconnect, which
 * releases what the device holds.
 *
 * Close: disconnect, then ops->destroy, then close the children one after
 * another, then uv_close the idle handle; its close callback frees the
 * device and calls the user's close callback. The two requests close and
 * its release step need were set aside at creation (pool.c), so closing
 * always waits for the drain, even when malloc fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "../common/checked.h"

/* ------------------------------------------------------------------ */
/* Disconnect                                                          */

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

/* The device is disconnected: complete every waiting disconnect with 0.
 * Through mblk_req_done, so that a waiter completed inside the
 * submission of a disconnect (the out-of-memory path) is deferred. */
static void disc_complete_waiters(mblk_dev *dev)
{
	dev->state = MBLK__DISCONNECTED;
	dev->disc_running = false;
	struct mblk__ireq *w = dev->disc_wait;
	dev->disc_wait = NULL;
	while (w != NULL) {
		struct mblk__ireq *next = w->link;
		mblk_req_done(&w->pub, 0);
		w = next;
	}
}

static void disc_finished(mblk_req *ireq)
{
	mblk_dev *dev = ireq->dev;
	mblk_req_free(ireq);
	disc_complete_waiters(dev);
}

void mblk__try_disconnect(mblk_dev *dev)
{
	if (dev->state != MBLK__DISCONNECTING || dev->inflight != 0 ||
	    dev->disc_running)
		return;
	mblk_req *ireq = mblk__req_alloc_reserved(dev);
	if (ireq == NULL) {
		/* No memory for the release step: skip it (destroy still
		 * releases everything at close) and finish the waiters. */
		disc_complete_waiters(dev);
		return;
	}
	dev->disc_running = true;
	ireq->op = MBLK_OP_DISCONNECT;
	MBLK__IREQ(ireq)->done = disc_finished;
	mblk__submit_depth++;
	if (dev->ops->disconnect != NULL)
		dev->ops->disconnect(dev, ireq);
	else
		disconnect_children(dev, ireq);
	mblk__submit_depth--;
}

/* A disconnect request joins the waiters; the first one starts it. */
void mblk__disconnect_req(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	if (dev->state == MBLK__DISCONNECTED) {
		mblk_req_done(req, 0);
		return;
	}
	/* Waiters complete through done directly from disc_finished, which
	 * runs from the loop (never inside this submission): the
	 * disconnect op's own completion is deferred when immediate. */
	MBLK__IREQ(req)->link = dev->disc_wait;
	dev->disc_wait = MBLK__IREQ(req);
	dev->state = MBLK__DISCONNECTING;
	mblk__try_disconnect(dev);
}

/* ------------------------------------------------------------------ */
/* Creation, accessors, close                                          */

static const char lost_no_memory[] = "the device lost its connection (no "
				     "memory for the sentence saying why)";

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
	dev->req_size = mblk__req_size(ops->req_ctx_size);
	dev->spare_mem = malloc(2 * dev->req_size);
	if (dev->spare_mem == NULL) {
		free(dev->name);
		free(dev);
		return mblk_set_error(-ENOMEM, "no memory for a device");
	}
	for (int i = 0; i < 2; i++) {
		struct mblk__ireq *r =
			(struct mblk__ireq *)(void *)((char *)dev->spare_mem +
						      dev->req_size *
							      (size_t)i);
		r->link = dev->spare;
		dev->spare = r;
	}
	uv_idle_init(loop, &dev->idle);
	dev->idle.data = dev;
	*devp = dev;
	return 0;
}

int mblk_dev_set_children(mblk_dev *dev, mblk_dev *const *children, int n)
{
	if (dev == NULL || n < 0 || n > MBLK_DEV_MAX_CHILDREN ||
	    (n > 0 && children == NULL) || dev->closing)
		return mblk_set_error(-EINVAL,
				      "mblk_dev_set_children: %d children (0 to "
				      "%d), not while closing",
				      n, MBLK_DEV_MAX_CHILDREN);
	for (int i = 0; i < n; i++)
		dev->children[i] = children[i];
	for (int i = n; i < MBLK_DEV_MAX_CHILDREN; i++)
		dev->children[i] = NULL;
	dev->nchildren = n;
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

/* A decorator with one child serves nothing its child cannot: it is as
 * disconnected as the child (safe over a lost NBD client is lost). */
bool mblk_dev_is_disconnected(const mblk_dev *dev)
{
	for (;;) {
		if (dev->state != MBLK__CONNECTED || dev->lost_msg != NULL)
			return true;
		if (dev->nchildren != 1)
			return false;
		dev = dev->children[0];
	}
}

const char *mblk_dev_disconnect_reason(const mblk_dev *dev)
{
	for (;;) {
		if (dev->lost_msg != NULL)
			return dev->lost_msg;
		if (dev->state != MBLK__CONNECTED || dev->nchildren != 1)
			return NULL;
		dev = dev->children[0];
	}
}

void mblk_dev_set_disconnected(mblk_dev *dev, const char *fmt, ...)
{
	if (dev->lost_msg != NULL)
		return; /* the first reason is the one that counts */
	char buf[MBLK_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Without memory for the sentence, a fixed one still marks it. */
	dev->lost_msg = strdup(buf);
	if (dev->lost_msg == NULL)
		dev->lost_msg = (char *)lost_no_memory;
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
		struct mblk__ireq *ir = dev->defer_head;
		dev->defer_head = ir->link;
		if (dev->defer_head == NULL)
			dev->defer_tail = NULL;
		mblk__run_deferred(ir);
	}
	mblk_cb cb = dev->close_cb;
	void *data = dev->close_data;
	struct mblk__close_waiter *more = dev->close_more;
	mblk__pool_free_all(dev);
	if (dev->lost_msg != lost_no_memory)
		free(dev->lost_msg);
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
	mblk_req *req = mblk__req_alloc_reserved(dev);
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
	MBLK__IREQ(req)->done = close_after_disconnect;
	mblk__submit(req, 0);
}
