/* api.c - the public entry points of <mblk.h>.
 *
 * Each asynchronous call takes a request from the device's pool, fills it
 * in and hands it to the core (dev.c). The only synchronous failures are
 * those where no callback could be delivered: a NULL device or callback,
 * or no memory for a request. Everything else completes through cb.
 */
#include <errno.h>
#include <string.h>

#include "core.h"

static mblk_req *entry(mblk_dev *dev, const void *cb, enum mblk_op op, int *err)
{
	if (dev == NULL || cb == NULL) {
		*err = mblk_set_error(-EINVAL, "%s: %s", mblk_op_name(op),
				      dev == NULL ? "the device is NULL"
						  : "the callback is NULL");
		return NULL;
	}
	mblk_req *req = mblk_req_alloc(dev);
	if (req == NULL) {
		*err = mblk_set_error(-ENOMEM,
				      "%s: %s: no memory for a request",
				      dev->name, mblk_op_name(op));
		return NULL;
	}
	req->op = op;
	return req;
}

int mblk_read(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
	      int iovcnt, mblk_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, MBLK_OP_READ, &err);
	if (req == NULL)
		return err;
	req->sector = sector;
	req->iov = iov;
	req->iovcnt = iovcnt;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

int mblk_write(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
	       int iovcnt, unsigned flags, mblk_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, MBLK_OP_WRITE, &err);
	if (req == NULL)
		return err;
	req->sector = sector;
	req->iov = iov;
	req->iovcnt = iovcnt;
	req->flags = flags & MBLK_WRITE_FUA;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

int mblk_flush(mblk_dev *dev, mblk_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, MBLK_OP_FLUSH, &err);
	if (req == NULL)
		return err;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

static int range_op(mblk_dev *dev, enum mblk_op op, uint64_t sector,
		    uint64_t count, unsigned flags, mblk_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, op, &err);
	if (req == NULL)
		return err;
	req->sector = sector;
	req->count = count;
	req->flags = flags;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

int mblk_discard(mblk_dev *dev, uint64_t sector, uint64_t count, mblk_cb cb,
		 void *data)
{
	return range_op(dev, MBLK_OP_DISCARD, sector, count, 0, cb, data);
}

int mblk_write_zeroes(mblk_dev *dev, uint64_t sector, uint64_t count,
		      unsigned flags, mblk_cb cb, void *data)
{
	return range_op(dev, MBLK_OP_WRITE_ZEROES, sector, count,
			flags & (MBLK_ZEROES_NO_HOLE | MBLK_ZEROES_FAST), cb,
			data);
}

int mblk_resize(mblk_dev *dev, uint64_t size_sectors, mblk_cb cb, void *data)
{
	return range_op(dev, MBLK_OP_RESIZE, size_sectors, 0, 0, cb, data);
}

static int seek_op(mblk_dev *dev, enum mblk_op op, uint64_t from,
		   mblk_seek_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, op, &err);
	if (req == NULL)
		return err;
	req->sector = from;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

int mblk_seek_mapped(mblk_dev *dev, uint64_t from, mblk_seek_cb cb, void *data)
{
	return seek_op(dev, MBLK_OP_SEEK_MAPPED, from, cb, data);
}

int mblk_seek_unmapped(mblk_dev *dev, uint64_t from, mblk_seek_cb cb,
		       void *data)
{
	return seek_op(dev, MBLK_OP_SEEK_UNMAPPED, from, cb, data);
}

int mblk_extents(mblk_dev *dev, uint64_t sector, uint64_t count,
		 struct mblk_extent *ext, int max, mblk_extents_cb cb,
		 void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, MBLK_OP_EXTENTS, &err);
	if (req == NULL)
		return err;
	req->sector = sector;
	req->count = count;
	req->ext = ext;
	req->ext_max = max;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

int mblk_cache(mblk_dev *dev, uint64_t sector, uint64_t count, mblk_cb cb,
	       void *data)
{
	return range_op(dev, MBLK_OP_CACHE, sector, count, 0, cb, data);
}

int mblk_disconnect(mblk_dev *dev, mblk_cb cb, void *data)
{
	int err;
	mblk_req *req = entry(dev, (const void *)cb, MBLK_OP_DISCONNECT, &err);
	if (req == NULL)
		return err;
	mblk__submit_user(req, (void *)cb, data);
	return 0;
}

void mblk_get_info(mblk_dev *dev, struct mblk_info *info)
{
	if (dev->ops->get_info != NULL && dev->state == MBLK__CONNECTED) {
		/* Only the size may change once a device exists: a server
		 * negotiated its flags from the rest (mblk.h). */
		struct mblk_info now = dev->info;
		dev->ops->get_info(dev, &now);
		dev->info.size_sectors = now.size_sectors;
	}
	*info = dev->info;
}

int mblk_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	if (dev->ops->get_uri != NULL)
		return dev->ops->get_uri(dev, buf, len);
	if (dev->nchildren > 0)
		return mblk_get_uri(dev->children[0], buf, len);
	return mblk_set_error(-ENOTSUP, "%s: the %s device has no URI",
			      dev->name, dev->ops->kind);
}

int mblk_get_allocated(mblk_dev *dev, uint64_t *bytes)
{
	if (dev->ops->get_allocated != NULL)
		return dev->ops->get_allocated(dev, bytes);
	if (dev->nchildren > 0)
		return mblk_get_allocated(dev->children[0], bytes);
	return mblk_set_error(-ENOTSUP,
			      "%s: the %s device cannot tell how much it stores",
			      dev->name, dev->ops->kind);
}
