/* submit.c - submission: the core's checks, dispatch to the device's ops
 * or to the defaults for a NULL op, and the user's requests.
 *
 * Design notes
 *
 * Every request, a user's or a decorator's child request, goes through
 * mblk__submit: it is counted in flight, checked (unless it is a user
 * request to a device that checks itself, or an internal one), then given
 * to the op. mblk__submit_depth is raised around the call so that a
 * completion inside it is deferred (complete.c).
 *
 * Defaults for a NULL op: on a decorator, the request passes to child 0
 * unchanged (mblk_req_forward); on a leaf, it fails with -ENOTSUP, except
 * flush (nothing volatile: done), cache (advisory: done), the seeks
 * ("all data") and extents (one data extent). A device with seeks but no
 * extents op gets extents derived from its seeks, and one with extents
 * but no seek op gets seeks derived from its extents (derive.c), so that
 * callers may use whichever suits them on any device.
 *
 * Checked here, once, at the top (STYLE.md §16): connected, inside the
 * device without overflow, buffers whole sectors and not NULL, read-only
 * devices refuse write-like requests (-EROFS), the operation is among the
 * capabilities (-ENOTSUP), and MBLK_ZEROES_FAST is refused at once by a
 * device that cannot zero quickly.
 */
#include <errno.h>
#include <stdio.h>

#include "core.h"
#include "../common/checked.h"

static bool is_write_like(enum mblk_op op)
{
	return op == MBLK_OP_WRITE || op == MBLK_OP_DISCARD ||
	       op == MBLK_OP_WRITE_ZEROES || op == MBLK_OP_RESIZE;
}

static bool check_cap(mblk_dev *dev, mblk_req *req, uint32_t cap)
{
	if (dev->info.caps & cap)
		return true;
	mblk_req_fail(req, -ENOTSUP, "the %s device does not support %s",
		      dev->ops->kind, mblk_op_name(req->op));
	return false;
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
		break;
	case MBLK_OP_DISCARD:
		if (!check_cap(dev, req, MBLK_CAP_DISCARD))
			return false;
		r = mblk_check_range(dev->name, in, req->op, req->sector,
				     req->count, req->msg, sizeof(req->msg));
		break;
	case MBLK_OP_WRITE_ZEROES:
		if (!check_cap(dev, req, MBLK_CAP_WRITE_ZEROES))
			return false;
		r = mblk_check_range(dev->name, in, req->op, req->sector,
				     req->count, req->msg, sizeof(req->msg));
		if (r == 0 && (req->flags & MBLK_ZEROES_FAST) &&
		    !(in->caps & MBLK_CAP_ZERO_IS_FAST)) {
			mblk_req_fail(req, -ENOTSUP,
				      "fast zeroing was asked for, and the %s "
				      "device cannot zero faster than it "
				      "writes",
				      dev->ops->kind);
			return false;
		}
		break;
	case MBLK_OP_CACHE:
		r = mblk_check_range(dev->name, in, req->op, req->sector,
				     req->count, req->msg, sizeof(req->msg));
		break;
	case MBLK_OP_EXTENTS:
		if (req->ext == NULL || req->ext_max < 1) {
			mblk_req_fail(req, -EINVAL,
				      "no room for extents (%d given)",
				      req->ext_max);
			return false;
		}
		if (req->sector >= in->size_sectors) {
			mblk_req_fail(req, -EINVAL,
				      "the start is at or past the end of the "
				      "%llu-sector device",
				      (unsigned long long)in->size_sectors);
			return false;
		}
		/* count 0 means "to the end"; clip it to the device. */
		if (req->count == 0 ||
		    req->count > in->size_sectors - req->sector)
			req->count = in->size_sectors - req->sector;
		return true;
	case MBLK_OP_RESIZE: {
		uint64_t bytes;
		if (!check_cap(dev, req, MBLK_CAP_RESIZE))
			return false;
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
	if (r < 0) {
		mblk_req_done(req, r);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Defaults                                                            */

static void passthru_done(mblk_req *child)
{
	mblk_req *parent = child->done_data;
	if (parent->op == MBLK_OP_EXTENTS)
		parent->ext_n = child->ext_n;
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
	mblk_req_copy(child, req);
	mblk_req_submit(child, passthru_done, req);
}

/* A leaf without seeks: everything is data, and the end is the only
 * hole. */
static void seek_default(mblk_dev *dev, mblk_req *req)
{
	req->result = req->op == MBLK_OP_SEEK_MAPPED ? req->sector
						     : dev->info.size_sectors;
	mblk_req_done(req, 0);
}

/* A leaf without seeks or extents: one data extent. */
static void extents_default(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	req->ext[0].sector = req->sector;
	req->ext[0].count = req->count;
	req->ext[0].flags = 0;
	req->ext_n = 1;
	mblk_req_done(req, 0);
}

static void done_at_once(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	mblk_req_done(req, 0);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

static void dispatch(mblk_dev *dev, mblk_req *req)
{
	const struct mblk_dev_ops *ops = dev->ops;
	void (*fn)(mblk_dev *, mblk_req *) = NULL;
	bool leaf = dev->nchildren == 0;

	switch (req->op) {
	case MBLK_OP_READ: fn = ops->read; break;
	case MBLK_OP_WRITE:
		/* Leaves emulate FUA; decorators pass the flag down. The
		 * marker is kept out of req->flags, which the op reads. */
		if ((req->flags & MBLK_WRITE_FUA) && leaf &&
		    !(dev->info.caps & MBLK_CAP_FUA)) {
			req->flags &= ~MBLK_WRITE_FUA;
			if ((dev->info.caps & MBLK_CAP_FLUSH) && ops->flush)
				MBLK__IREQ(req)->fua_emul = true;
		}
		fn = ops->write;
		break;
	case MBLK_OP_FLUSH:
		/* A leaf with nothing volatile has nothing to make durable. */
		fn = !(dev->info.caps & MBLK_CAP_FLUSH) && leaf ? done_at_once
								: ops->flush;
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
		if (fn == NULL && ops->extents != NULL)
			fn = mblk__seek_from_extents;
		if (fn == NULL && leaf)
			fn = seek_default;
		break;
	case MBLK_OP_EXTENTS:
		fn = ops->extents;
		if (fn == NULL && ops->seek != NULL)
			fn = mblk__extents_from_seeks;
		if (fn == NULL && leaf)
			fn = extents_default;
		break;
	case MBLK_OP_CACHE:
		fn = ops->cache;
		if (fn == NULL && (leaf || req->count == 0))
			fn = done_at_once;
		break;
	case MBLK_OP_DISCONNECT: break;
	}
	if (fn != NULL)
		fn(dev, req);
	else if (!leaf)
		mblk_req_forward(req, dev->children[0]);
	else
		mblk_req_fail(req, -ENOTSUP,
			      "the %s device does not support %s", ops->kind,
			      mblk_op_name(req->op));
}

/* Describes the range a caller asked for, if it is sane, for the
 * sentence of a request refused because the device is disconnected. */
static void count_for_message(mblk_dev *dev, mblk_req *req)
{
	if ((req->op == MBLK_OP_READ || req->op == MBLK_OP_WRITE) &&
	    req->iov != NULL && req->iovcnt > 0 && req->iovcnt <= 1024) {
		uint64_t bytes = 0;
		for (int i = 0; i < req->iovcnt; i++)
			bytes += req->iov[i].iov_len;
		req->count = bytes / dev->info.sector_size;
	}
}

void mblk__submit(mblk_req *req, unsigned how)
{
	mblk_dev *dev = req->dev;

	mblk__submit_depth++;
	if (req->op == MBLK_OP_DISCONNECT) {
		mblk__disconnect_req(req);
		mblk__submit_depth--;
		return;
	}
	dev->inflight++;
	/* A derived request belongs to one already in flight, which the
	 * drain before a disconnect waits for: let it through. */
	if (dev->state != MBLK__CONNECTED &&
	    !(how & MBLK__SUBMIT_INTERNAL &&
	      dev->state == MBLK__DISCONNECTING)) {
		count_for_message(dev, req);
		mblk_req_fail(req, -ENODEV, "device is disconnected");
	} else if (!(how & MBLK__SUBMIT_CHECK) || check(dev, req)) {
		/* A device that said it is lost is not asked again: every
		 * request fails with the sentence it gave. */
		if (dev->lost_msg != NULL)
			mblk_req_fail(req, -ESHUTDOWN, "%s", dev->lost_msg);
		else
			dispatch(dev, req);
	}
	mblk__submit_depth--;
}

void mblk_req_submit(mblk_req *req, mblk_done_fn done, void *done_data)
{
	MBLK__IREQ(req)->done = done;
	req->done_data = done_data;
	mblk__submit(req, MBLK__SUBMIT_CHECK);
}

/* The done function of every user request: the callback, then back to
 * the pool. */
static void deliver_user(mblk_req *req)
{
	struct mblk__ireq *ir = MBLK__IREQ(req);
	const char *err = req->status < 0 ? req->msg : NULL;
	switch (req->op) {
	case MBLK_OP_SEEK_MAPPED:
	case MBLK_OP_SEEK_UNMAPPED:
		((mblk_seek_cb)ir->cb)(ir->cb_data, req->status, req->result,
				       err);
		break;
	case MBLK_OP_EXTENTS:
		((mblk_extents_cb)ir->cb)(ir->cb_data, req->status,
					  req->status < 0 ? 0 : req->ext_n,
					  err);
		break;
	default: ((mblk_cb)ir->cb)(ir->cb_data, req->status, err); break;
	}
	mblk_req_free(req);
}

void mblk__submit_user(mblk_req *req, void *cb, void *data)
{
	struct mblk__ireq *ir = MBLK__IREQ(req);
	ir->cb = cb;
	ir->cb_data = data;
	ir->done = deliver_user;
	mblk__submit(req, req->dev->flags & MBLK_DEV_CHECKS_ITSELF
				  ? 0
				  : MBLK__SUBMIT_CHECK);
}
