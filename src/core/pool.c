/* pool.c - the per-device request pool.
 *
 * Each device has a singly linked free list of fixed-size elements: the
 * core's part of a request (struct mblk__ireq, core.h), the public
 * header and the device's context. The list grows 16 elements at a time
 * with one malloc and never shrinks until the device is freed, so in
 * steady state a request costs a pop and a push: no layer allocates per
 * I/O (STYLE.md §8).
 *
 * Two elements are set aside when the device is created, for close and
 * the release step of its disconnect, so that closing never waits on
 * malloc (mblk__req_alloc_reserved).
 */
#include <errno.h>
#include <stdlib.h>

#include "core.h"

size_t mblk__req_size(size_t ctx)
{
	return offsetof(struct mblk__ireq, pub) + MBLK_REQ_HDR_SIZE +
	       ((ctx + 15u) & ~(size_t)15u);
}

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
		struct mblk__ireq *r =
			(struct mblk__ireq *)(void *)(slab + dev->req_size *
								     (size_t)i);
		r->link = dev->free;
		dev->free = r;
	}
	return 0;
}

mblk_req *mblk_req_alloc(mblk_dev *dev)
{
	if (dev->free == NULL && pool_grow(dev) < 0)
		return NULL;
	struct mblk__ireq *ir = dev->free;
	dev->free = ir->link;
	ir->done = NULL;
	ir->cb = NULL;
	ir->cb_data = NULL;
	ir->link = NULL;
	ir->defer_fn = NULL;
	ir->fua_emul = false;
	ir->dpos = 0;
	/* Clear the meaning fields; msg and the context stay as they are. */
	mblk_req *req = &ir->pub;
	req->dev = dev;
	req->op = MBLK_OP_READ;
	req->flags = 0;
	req->sector = 0;
	req->count = 0;
	req->iov = NULL;
	req->iovcnt = 0;
	req->ext = NULL;
	req->ext_max = 0;
	req->ext_n = 0;
	req->status = 0;
	req->result = 0;
	req->done_data = NULL;
	req->msg[0] = '\0';
	return req;
}

mblk_req *mblk__req_alloc_reserved(mblk_dev *dev)
{
	if (dev->free == NULL && dev->spare != NULL) {
		struct mblk__ireq *r = dev->spare;
		dev->spare = r->link;
		r->link = NULL;
		dev->free = r;
	}
	return mblk_req_alloc(dev);
}

void mblk_req_free(mblk_req *req)
{
	mblk_dev *dev = req->dev;
	struct mblk__ireq *ir = MBLK__IREQ(req);
	ir->link = dev->free;
	dev->free = ir;
}

void mblk__pool_free_all(mblk_dev *dev)
{
	for (size_t i = 0; i < dev->nslabs; i++)
		free(dev->slabs[i]);
	free(dev->slabs);
	free(dev->spare_mem);
	dev->slabs = NULL;
	dev->spare_mem = NULL;
}
