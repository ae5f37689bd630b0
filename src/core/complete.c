/* complete.c - completion: the deferred queue, the done functions, FUA
 * emulation, and the checks on what a device answered.
 *
 * Design notes
 *
 * A device completes a request with mblk_req_done (or mblk_req_fail).
 * If that happens inside a submission (mblk__submit_depth > 0: a ramdisk
 * that finished at once, a rejected request), the request joins the
 * device's deferred queue, which an idle handle drains on the next loop
 * iteration, in order. That is what makes "never inside the submitting
 * call" hold for every stack of devices, whatever its devices do, and
 * keeps completion from recursing through decorator stacks.
 *
 * mblk__finish is the single place where a request stops being in
 * flight: the answer of a seek is clamped to [from, size], the extents
 * of an extents request are checked and clipped to the range asked for,
 * a resize records the new size, then the request's done function runs
 * (a parent's, or deliver_user for a user's), and a disconnect waiting
 * for the drain may start.
 *
 * FUA emulation: a write with MBLK_WRITE_FUA to a leaf that can flush but
 * has no native FUA runs as the write, then, on the same request, a
 * flush (ireq->fua_emul marks the second step). If the flush fails, the
 * sentence names the write ("flush after the FUA write of sectors ...").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

_Thread_local int mblk__submit_depth;

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
/* The deferred queue                                                  */

/* A deferred request: either completed (finish it) or parked by
 * mblk_req_defer (run the device's function, which completes it). */
void mblk__run_deferred(struct mblk__ireq *ir)
{
	mblk_done_fn fn = ir->defer_fn;
	if (fn == NULL) {
		mblk__finish(&ir->pub);
		return;
	}
	ir->defer_fn = NULL;
	fn(&ir->pub);
}

static void idle_cb(uv_idle_t *h)
{
	mblk_dev *dev = h->data;
	/* Take only what is queued now: callbacks that submit again queue
	 * for the next iteration, so I/O polling is never starved. */
	struct mblk__ireq *ir = dev->defer_head;
	dev->defer_head = dev->defer_tail = NULL;
	while (ir != NULL) {
		struct mblk__ireq *next = ir->link;
		mblk__run_deferred(ir);
		ir = next;
	}
	if (dev->defer_head == NULL && dev->idle_active) {
		uv_idle_stop(&dev->idle);
		dev->idle_active = false;
	}
}

static void defer(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	struct mblk__ireq *ir = MBLK__IREQ(req);
	ir->link = NULL;
	if (dev->defer_tail != NULL)
		dev->defer_tail->link = ir;
	else
		dev->defer_head = ir;
	dev->defer_tail = ir;
	/* Once close has reached uv_close, the close callback delivers what
	 * is queued; starting the closing handle would leave it in the
	 * loop's idle queue after the device is freed. */
	if (!dev->idle_active && !uv_is_closing((uv_handle_t *)&dev->idle)) {
		uv_idle_start(&dev->idle, idle_cb);
		dev->idle_active = true;
	}
}

void mblk_req_defer(mblk_req *req, mblk_done_fn fn)
{
	MBLK__IREQ(req)->defer_fn = fn;
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
		mblk__finish(req);
}

/* ------------------------------------------------------------------ */
/* Checks on the answer                                                */

/* A seek answers inside [from, size] of the size this device knows, even
 * when a child's view differs (a store resized elsewhere). */
static void clamp_seek(mblk_dev *dev, mblk_req *req)
{
	uint64_t size = dev->info.size_sectors;
	uint64_t lo = req->sector < size ? req->sector : size;
	if (req->result > size)
		req->result = size;
	if (req->result < lo)
		req->result = lo;
}

/* Extents must start at req->sector, follow each other, and stay inside
 * the range asked for (already clipped to the device): the rest is cut
 * off. A device that answered nothing usable gets -EIO, since callers
 * walk forward from the last extent and would otherwise never move. */
static void check_extents(mblk_req *req)
{
	uint64_t size = req->dev->info.size_sectors;
	uint64_t pos = req->sector;
	/* count is 0 on a request the core did not check (a device that
	 * checks itself passes it on): up to the end then. */
	uint64_t end = req->count ? req->sector + req->count : size;
	int n = 0;
	int max = req->ext_n < req->ext_max ? req->ext_n : req->ext_max;
	for (int i = 0; i < max && pos < end; i++) {
		struct mblk_extent *e = &req->ext[i];
		if (e->sector != pos || e->count == 0)
			break;
		if (e->count > end - pos)
			e->count = end - pos;
		e->flags &= MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
		pos += e->count;
		n++;
	}
	req->ext_n = n;
	if (n == 0) {
		req->status = -EIO;
		char what[96];
		mblk_req_describe(req, what, sizeof(what));
		snprintf(req->msg, sizeof(req->msg),
			 "%s: %s: the device answered no extent that starts "
			 "at sector %llu",
			 req->dev->name, what, (unsigned long long)req->sector);
	}
}

/* ------------------------------------------------------------------ */
/* Finishing                                                           */

void mblk__finish(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	struct mblk__ireq *ir = MBLK__IREQ(req);

	if (ir->fua_emul && req->status == 0 && req->op == MBLK_OP_WRITE) {
		/* Second step of an emulated FUA write: flush. The request
		 * stays in flight. */
		req->op = MBLK_OP_FLUSH;
		mblk__submit_depth++;
		dev->ops->flush(dev, req);
		mblk__submit_depth--;
		return;
	}
	if (ir->fua_emul) {
		ir->fua_emul = false;
		req->op = MBLK_OP_WRITE;
	}
	if (req->op != MBLK_OP_DISCONNECT)
		dev->inflight--;
	if (req->status == 0) {
		switch (req->op) {
		case MBLK_OP_RESIZE:
			dev->info.size_sectors = req->sector;
			break;
		case MBLK_OP_SEEK_MAPPED:
		case MBLK_OP_SEEK_UNMAPPED: clamp_seek(dev, req); break;
		case MBLK_OP_EXTENTS: check_extents(req); break;
		default: break;
		}
	}
	ir->done(req);
	if (dev->inflight == 0 && dev->state == MBLK__DISCONNECTING)
		mblk__try_disconnect(dev);
}
