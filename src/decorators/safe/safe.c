/* safe.c - the safe decorator: check every request, explain what is wrong.
 *
 * The template for decorators: a `next` device (child 0), one op per
 * thing it changes, and the core's pass-through for the rest.
 *
 * What it adds over the core's own checks (which guard every device):
 * buffer addresses and lengths aligned as the inner device requires
 * (O_DIRECT files), so a misaligned buffer gets a sentence instead of
 * the kernel's bare EINVAL. Reads and writes are checked here, in full,
 * against the inner device's current geometry (the device is flagged
 * MBLK_DEV_CHECKS_ITSELF so the core does not check them twice); other
 * operations pass through and are checked by the core at the inner
 * device, whose name every sentence carries.
 *
 * Upstream defects not copied (seed-behaviour §3.1, §5.22-23): an empty
 * request at sector = size is valid; read-only devices and disconnected
 * devices are refused here too; memory alignment is checked.
 */
#include <errno.h>
#include <stdio.h>

#include <mblk/backend.h>
#include <mblk/safe.h>
#include <mblk/safe.h>

static void safe_rw(mblk_dev *dev, mblk_req *req)
{
	mblk_dev *inner = mblk_dev_child(dev, 0);
	const struct mblk_info *in = mblk_dev_info(inner);

	int r = mblk_check_rw(mblk_dev_name(inner), in, req->op, req->sector,
			      req->iov, req->iovcnt, true, &req->count,
			      req->msg, sizeof(req->msg));
	if (r < 0) {
		mblk_req_done(req, r);
		return;
	}
	/* After the geometry checks, which compute req->count: the
	 * sentence names the range ("write of sectors 0-7 (8 sectors)"). */
	if (req->op == MBLK_OP_WRITE && !in->read_write) {
		mblk_req_fail(req, -EROFS,
			      "attempted to write to a read-only device");
		return;
	}
	mblk_req_forward(req, inner);
}

static void safe_get_info(mblk_dev *dev, struct mblk_info *info)
{
	mblk_get_info(mblk_dev_child(dev, 0), info);
}

static const struct mblk_dev_ops safe_ops = {
	.kind = "safe",
	.read = safe_rw,
	.write = safe_rw,
	.get_info = safe_get_info,
};

int mblk_safe_wrap(mblk_dev *inner, mblk_dev **devp)
{
	if (inner == NULL || devp == NULL)
		return mblk_set_error(-EINVAL, "mblk_safe_wrap: inner and devp "
					       "must not be NULL");
	struct mblk_info info;
	mblk_get_info(inner, &info);
	return mblk_dev_create(mblk_dev_loop(inner), &safe_ops, NULL,
			       mblk_dev_name(inner), &info, &inner, 1,
			       MBLK_DEV_CHECKS_ITSELF, devp);
}

static int unsafe_op(mblk_dev *dev, enum mblk_op op, uint64_t sector,
		     const struct iovec *iov, int iovcnt, unsigned flags,
		     mblk_cb cb, void *data)
{
	if (dev == NULL || mblk_dev_ops(dev) != &safe_ops)
		return mblk_set_error(-EINVAL,
				      "unsafe_%s: the device is not a safe "
				      "device",
				      mblk_op_name(op));
	/* Straight to the inner device, as a user request there. */
	mblk_dev *inner = mblk_dev_child(dev, 0);
	return op == MBLK_OP_READ
		       ? mblk_read(inner, sector, iov, iovcnt, cb, data)
		       : mblk_write(inner, sector, iov, iovcnt, flags, cb,
				    data);
}

int mblk_safe_unsafe_read(mblk_dev *dev, uint64_t sector,
			  const struct iovec *iov, int iovcnt, mblk_cb cb,
			  void *data)
{
	return unsafe_op(dev, MBLK_OP_READ, sector, iov, iovcnt, 0, cb, data);
}

int mblk_safe_unsafe_write(mblk_dev *dev, uint64_t sector,
			   const struct iovec *iov, int iovcnt, unsigned flags,
			   mblk_cb cb, void *data)
{
	return unsafe_op(dev, MBLK_OP_WRITE, sector, iov, iovcnt, flags, cb,
			 data);
}
