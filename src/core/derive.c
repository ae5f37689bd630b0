/* derive.c - extents derived from seeks, and seeks from extents.
 *
 * Design notes
 *
 * A device may answer where its data is either with two seeks (the first
 * sector at or after X that may hold data / that reads as zeros: lseek's
 * SEEK_DATA and SEEK_HOLE) or with an extents operation (many extents per
 * call: NBD's BLOCK_STATUS, librbd's diff_iterate). Callers may use
 * either on any device: the core derives the one the device lacks, with
 * child requests on the same device (counted in flight like any other,
 * so a disconnect waits for them; submitted without the entry checks,
 * which the parent has passed, and even while a disconnect waits).
 *
 * Extents from seeks, from pos:
 *   seek_mapped(pos) = d > pos    a hole [pos, d): HOLE|ZERO
 *   d == pos: seek_unmapped(pos) = h > pos   data [pos, h)
 *   both claim pos (a device contradicting itself): one sector of hole,
 *   since seek_unmapped guarantees zeros there
 * until ext_max extents or the end of the range; neighbours of one kind
 * are merged.
 *
 * Seeks from extents, from pos: ask for extents from pos to the end (a
 * few at a time, in the request's own buffer), and answer the start of
 * the first that is data (seek_mapped) or reads as zeros (seek_unmapped),
 * or the device size when there is none.
 */
#include <errno.h>

#include "core.h"

static mblk_req *derive_child(mblk_req *parent, enum mblk_op op, uint64_t pos,
			      mblk_done_fn done)
{
	mblk_req *c = mblk_req_alloc(parent->dev);
	if (c == NULL) {
		mblk_req_fail(parent, -ENOMEM,
			      "no memory for a request to answer it");
		return NULL;
	}
	c->op = op;
	c->sector = pos;
	MBLK__IREQ(c)->done = done;
	c->done_data = parent;
	return c;
}

/* ------------------------------------------------------------------ */
/* Extents from seeks                                                  */

static void efs_step(mblk_req *req);

/* Appends [start, start + count) of kind flags, merging with the last. */
static void efs_add(mblk_req *req, uint64_t start, uint64_t count,
		    uint32_t flags)
{
	if (req->ext_n > 0) {
		struct mblk_extent *l = &req->ext[req->ext_n - 1];
		if (l->flags == flags && l->sector + l->count == start) {
			l->count += count;
			return;
		}
	}
	struct mblk_extent *e = &req->ext[req->ext_n++];
	e->sector = start;
	e->count = count;
	e->flags = flags;
}

static void efs_seek_done(mblk_req *c)
{
	mblk_req *req = c->done_data;
	struct mblk__ireq *ir = MBLK__IREQ(req);
	uint64_t pos = ir->dpos, end = req->sector + req->count;
	enum mblk_op op = c->op;
	uint64_t ans = c->result;
	if (c->status < 0) {
		/* Whatever was found so far is still an answer. */
		if (req->ext_n > 0)
			mblk_req_done(req, 0);
		else
			mblk_req_done_from(req, c);
		mblk_req_free(c);
		return;
	}
	mblk_req_free(c);
	if (ans > end)
		ans = end;
	if (op == MBLK_OP_SEEK_MAPPED && ans > pos) {
		efs_add(req, pos, ans - pos,
			MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO);
		ir->dpos = ans;
	} else if (op == MBLK_OP_SEEK_MAPPED) {
		mblk_req *u = derive_child(req, MBLK_OP_SEEK_UNMAPPED, pos,
					   efs_seek_done);
		if (u != NULL)
			mblk__submit(u, MBLK__SUBMIT_INTERNAL);
		return;
	} else if (ans > pos) {
		efs_add(req, pos, ans - pos, 0);
		ir->dpos = ans;
	} else {
		efs_add(req, pos, 1, MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO);
		ir->dpos = pos + 1;
	}
	efs_step(req);
}

static void efs_step(mblk_req *req)
{
	struct mblk__ireq *ir = MBLK__IREQ(req);
	/* Stop with a full buffer, or at the end; the last extent may still
	 * grow while the buffer is one short of full. */
	if (ir->dpos >= req->sector + req->count ||
	    req->ext_n >= req->ext_max) {
		mblk_req_done(req, 0);
		return;
	}
	mblk_req *c =
		derive_child(req, MBLK_OP_SEEK_MAPPED, ir->dpos, efs_seek_done);
	if (c != NULL)
		mblk__submit(c, MBLK__SUBMIT_INTERNAL);
}

void mblk__extents_from_seeks(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	MBLK__IREQ(req)->dpos = req->sector;
	req->ext_n = 0;
	efs_step(req);
}

/* ------------------------------------------------------------------ */
/* Seeks from extents                                                  */

static void sfe_ask(mblk_req *req);

static void sfe_done(mblk_req *c)
{
	mblk_req *req = c->done_data;
	struct mblk__ireq *ir = MBLK__IREQ(req);
	uint64_t size = req->dev->info.size_sectors;
	if (c->status < 0) {
		mblk_req_done_from(req, c);
		mblk_req_free(c);
		return;
	}
	bool mapped = req->op == MBLK_OP_SEEK_MAPPED;
	for (int i = 0; i < c->ext_n; i++) {
		const struct mblk_extent *e = &c->ext[i];
		bool zero = e->flags & MBLK_EXTENT_ZERO;
		/* seek_mapped: the first extent that may hold data (not known
		 * to read as zeros); seek_unmapped: the first that does. */
		if (mapped != zero) {
			req->result = e->sector > req->sector ? e->sector
							      : req->sector;
			mblk_req_free(c);
			mblk_req_done(req, 0);
			return;
		}
		ir->dpos = e->sector + e->count;
	}
	mblk_req_free(c);
	if (ir->dpos >= size) {
		req->result = size;
		mblk_req_done(req, 0);
		return;
	}
	sfe_ask(req);
}

static void sfe_ask(mblk_req *req)
{
	struct mblk__ireq *ir = MBLK__IREQ(req);
	mblk_req *c = derive_child(req, MBLK_OP_EXTENTS, ir->dpos, sfe_done);
	if (c == NULL)
		return;
	c->count = req->dev->info.size_sectors - ir->dpos;
	c->ext = MBLK__IREQ(c)->dext;
	c->ext_max = (int)(sizeof(MBLK__IREQ(c)->dext) /
			   sizeof(MBLK__IREQ(c)->dext[0]));
	mblk__submit(c, MBLK__SUBMIT_INTERNAL);
}

void mblk__seek_from_extents(mblk_dev *dev, mblk_req *req)
{
	(void)dev;
	MBLK__IREQ(req)->dpos = req->sector;
	sfe_ask(req);
}
