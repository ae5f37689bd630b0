/* stats.c - the counting layer of `mblk serve` (stats.h).
 *
 * Design notes
 *
 * Every request is passed on to child 0 as a new child request, as the
 * core's own pass-through does, with the submission time kept in the
 * parent's context; the completion counts it and hands the child's
 * outcome up. No allocation per request: child requests come from the
 * child's pool, and the context is part of the parent's.
 *
 * The layer is created with MBLK_DEV_CHECKS_ITSELF: the core checks a
 * request once, when it reaches the child, not twice.
 *
 * RESIZE and DISCONNECT are not counted (NULL ops: the core forwards
 * them); the seeks and extents are counted together as NBD's
 * BLOCK_STATUS, which is what asks for them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>

#include "stats.h"

const uint32_t stats_bucket_us[STATS_NBUCKETS - 1] = {
	50,    100,   250,    500,    1000,   2500,    5000,    10000,
	25000, 50000, 100000, 250000, 500000, 1000000, 5000000,
};

static const char *const stats_names[STATS_NOPS] = {
	[STATS_READ] = "read",
	[STATS_WRITE] = "write",
	[STATS_FLUSH] = "flush",
	[STATS_TRIM] = "trim",
	[STATS_WRITE_ZEROES] = "write_zeroes",
	[STATS_CACHE] = "cache",
	[STATS_BLOCK_STATUS] = "block_status",
};

struct stats_ctx {
	uint64_t t0;
};

struct stats_dev {
	struct stats st;
	uint32_t sector_size;
};

const char *stats_op_name(enum stats_op op)
{
	return op < STATS_NOPS ? stats_names[op] : "?";
}

static enum stats_op stats_classify(enum mblk_op op)
{
	switch (op) {
	case MBLK_OP_READ: return STATS_READ;
	case MBLK_OP_WRITE: return STATS_WRITE;
	case MBLK_OP_FLUSH: return STATS_FLUSH;
	case MBLK_OP_DISCARD: return STATS_TRIM;
	case MBLK_OP_WRITE_ZEROES: return STATS_WRITE_ZEROES;
	case MBLK_OP_CACHE: return STATS_CACHE;
	default: return STATS_BLOCK_STATUS;
	}
}

static void stats_done(mblk_req *child)
{
	mblk_req *req = child->done_data;
	struct stats_dev *sd = mblk_dev_priv(req->dev);
	struct stats_ctx *c = mblk_req_ctx(req);
	uint64_t ns = uv_hrtime() - c->t0;
	struct stats_op_counts *oc = &sd->st.op[stats_classify(req->op)];

	oc->requests++;
	if (child->status < 0)
		oc->errors++;
	else if (req->op == MBLK_OP_READ || req->op == MBLK_OP_WRITE)
		for (int i = 0; i < req->iovcnt; i++)
			oc->bytes += req->iov[i].iov_len;
	else if (req->op == MBLK_OP_DISCARD ||
		 req->op == MBLK_OP_WRITE_ZEROES || req->op == MBLK_OP_CACHE)
		oc->bytes += req->count * sd->sector_size;
	oc->sum_ns += ns;
	int b = 0;
	while (b < STATS_NBUCKETS - 1 && ns > stats_bucket_us[b] * 1000ull)
		b++;
	oc->bucket[b]++;
	if (ns > sd->st.max_ns)
		sd->st.max_ns = ns;
	if (ns > sd->st.window_ns)
		sd->st.window_ns = ns;
	sd->st.inflight--;

	if (req->op == MBLK_OP_EXTENTS)
		req->ext_n = child->ext_n;
	mblk_req_done_from(req, child);
	mblk_req_free(child);
}

/* Every counted op. */
static void stats_io(mblk_dev *dev, mblk_req *req)
{
	struct stats_dev *sd = mblk_dev_priv(dev);
	mblk_dev *to = mblk_dev_child(dev, 0);
	mblk_req *child = mblk_req_alloc(to);
	if (child == NULL) {
		mblk_req_fail(req, -ENOMEM, "no memory for a request to %s",
			      mblk_dev_name(to));
		return;
	}
	struct stats_ctx *c = mblk_req_ctx(req);
	c->t0 = uv_hrtime();
	sd->st.inflight++;
	mblk_req_copy(child, req);
	mblk_req_submit(child, stats_done, req);
}

static void stats_get_info(mblk_dev *dev, struct mblk_info *info)
{
	mblk_get_info(mblk_dev_child(dev, 0), info);
}

static void stats_destroy(mblk_dev *dev)
{
	free(mblk_dev_priv(dev));
}

static const struct mblk_dev_ops stats_ops = {
	.kind = "stats",
	.req_ctx_size = sizeof(struct stats_ctx),
	.read = stats_io,
	.write = stats_io,
	.flush = stats_io,
	.discard = stats_io,
	.write_zeroes = stats_io,
	.seek = stats_io,
	.extents = stats_io,
	.cache = stats_io,
	.get_info = stats_get_info,
	.destroy = stats_destroy,
};

int stats_wrap(mblk_dev *dev, mblk_dev **topp, struct stats **st)
{
	struct stats_dev *sd = calloc(1, sizeof(*sd));
	if (sd == NULL)
		return mblk_set_error(-ENOMEM, "no memory for counting %s",
				      mblk_dev_name(dev));
	struct mblk_info info;
	mblk_get_info(dev, &info);
	sd->sector_size = info.sector_size;
	/* The inner name, so the server's sentences read as before. */
	int r = mblk_dev_create(mblk_dev_loop(dev), &stats_ops, sd,
				mblk_dev_name(dev), &info, &dev, 1,
				MBLK_DEV_CHECKS_ITSELF, topp);
	if (r < 0) {
		free(sd);
		return r;
	}
	*st = &sd->st;
	return 0;
}

void stats_window_reset(struct stats *st)
{
	st->window_ns = 0;
}
