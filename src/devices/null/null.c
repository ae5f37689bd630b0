/* null.c - the null device: a disk of a given size that holds nothing.
 *
 * Design notes
 *
 * Reads give zeros, writes, discards and zeroing succeed and are
 * forgotten, and the extents say the whole device is a hole that reads as
 * zeros, which is true of every read it answers. It is nbdkit's null
 * plugin and qemu's null-co driver: a stand-in disk for a test rig, and
 * the floor of a stack's cost (what `mblk serve` costs with no data to
 * move: bench/nbd_bench.sh, mblk-null against nbdkit-null).
 *
 * There is no state beyond the geometry the core caches (mblk_dev_info),
 * so there is nothing to lock and every op completes at once; the core
 * defers the callbacks to the loop. Flush has nothing to make durable:
 * like ram, the device does not claim MBLK_CAP_FLUSH, and the core answers
 * a flush at once. A resize changes the size of this handle only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mblk/backend.h>
#include "../../common/geometry.h"

static void null_read(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	for (int i = 0; i < req->iovcnt; i++)
		memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
	mblk_req_done(req, 0);
}

/* Write, discard, write_zeroes, resize: nothing to keep. */
static void null_forget(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	mblk_req_done(req, 0);
}

/* One extent: all of the range the core clipped to the device, a hole. */
static void null_extents(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	req->ext[0].sector = req->sector;
	req->ext[0].count = req->count;
	req->ext[0].flags = MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
	req->ext_n = 1;
	mblk_req_done(req, 0);
}

static int null_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	const struct mblk_info *info = mblk_dev_info(dev);
	return snprintf(buf, len, "null:?size=%llu&sector-size=%u",
			(unsigned long long)(info->size_sectors *
					     info->sector_size),
			info->sector_size);
}

static int null_get_allocated(mblk_dev *dev, uint64_t *bytes)
{
	(void)dev;
	*bytes = 0;
	return 0;
}

static const struct mblk_dev_ops null_ops = {
	.kind = "null",
	.read = null_read,
	.write = null_forget,
	.discard = null_forget,
	.write_zeroes = null_forget,
	.resize = null_forget,
	.extents = null_extents,
	.get_uri = null_get_uri,
	.get_allocated = null_get_allocated,
};

/* null:?size=SIZE&sector-size=N */
static void null_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	uint64_t size = MBLK__GEOMETRY_DEFAULT_SIZE,
		 ss = MBLK__GEOMETRY_DEFAULT_SECTOR_SIZE;
	const char *text = mblk_uri_text(u);
	mblk_dev *dev;
	int r;

	if ((r = mblk__uri_geometry(u, &size, &ss)) < 0 ||
	    (r = mblk_uri_finish(u)) < 0) {
		mblk_open_fail_last(req, r);
		return;
	}
	if (mblk_uri_path(u)[0] != '\0') {
		mblk_open_fail(req, -EINVAL,
			       "URI '%s': a null device has no name (write "
			       "null:?size=SIZE)",
			       text);
		return;
	}
	struct mblk_info info = {
		.size_sectors = size / ss,
		.sector_size = (uint32_t)ss,
		.read_write = true,
		.buf_align = 1,
		.max_io = 0,
		.caps = MBLK_CAP_DISCARD | MBLK_CAP_WRITE_ZEROES |
			MBLK_CAP_RESIZE | MBLK_CAP_SEEK | MBLK_CAP_ZERO_IS_FAST,
	};
	/* Sentences name it as the URI did: "null:?size=1G: read of ...". */
	r = mblk_dev_create(mblk_open_req_loop(req), &null_ops, NULL, text,
			    &info, NULL, 0, 0, &dev);
	if (r < 0) {
		mblk_open_fail_last(req, r);
		return;
	}
	mblk_open_done(req, dev);
}

static const struct mblk_uri_key null_keys[] = {
	MBLK__GEOMETRY_KEYS,
	{ NULL, NULL, NULL },
};

const struct mblk_scheme mblk__scheme_null = {
	.name = "null",
	.syntax = "null:[?size=SIZE][&sector-size=N]",
	.summary = "a device that holds nothing: reads give zeros, writes "
		   "are forgotten (a stand-in disk, the floor of a stack's "
		   "cost)",
	.keys = null_keys,
	.open = null_open_uri,
};
