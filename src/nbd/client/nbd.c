/* nbd.c - the NBD client as an mblk device: open, ops, multi-conn,
 * reconnect.
 *
 * Design notes
 *
 * A device is a struct nbd holding up to MBLK__NBDC_MAX_CONNS
 * connections (conn.c). Opening starts connection 0; once its handshake
 * is done the export's geometry is known, and if connections=N asks for
 * more and the server advertises NBD_FLAG_CAN_MULTI_CONN the others are
 * started; the open finishes when every one has (any failure fails the
 * open). Without CAN_MULTI_CONN only one connection is made: spreading
 * writes over connections whose caches are not shared would make flush
 * meaningless.
 *
 * Mapping (see docs/devices/nbd.md for the table):
 *   read/write      NBD_CMD_READ / WRITE (FUA), split at the max payload
 *   flush           NBD_CMD_FLUSH
 *   discard         NBD_CMD_WRITE_ZEROES without NO_HOLE: mblk's discard
 *                   promises zeros afterwards, which NBD_CMD_TRIM does not
 *   write_zeroes    NBD_CMD_WRITE_ZEROES (+NO_HOLE, +FAST_ZERO)
 *   extents         NBD_CMD_BLOCK_STATUS on base:allocation
 *   cache           NBD_CMD_CACHE
 * A request goes to the connection with the fewest commands in flight.
 *
 * Losing a connection (the server closed it, it stalled past timeout=, a
 * socket error) fails every request on it with the connection's sentence
 * (-ESHUTDOWN, -ETIMEDOUT, -ECONNRESET). When no connection is left the
 * device is lost: it tells the core (mblk_dev_set_disconnected), which
 * from then on fails every request with -ESHUTDOWN and that sentence, and
 * mblk_dev_is_disconnected is true. A protocol violation (-EPROTO) is the
 * same but is never retried: the same server would break the same way.
 * With reconnect=S, a lost connection is instead redialled, at once and
 * then every second for as long as the device is open (qemu's
 * reconnect-delay), so the device is lost only by a protocol violation;
 * its requests, and any submitted meanwhile, wait for it, each for at
 * most S seconds (then it fails, naming the last reason), and are sent
 * again from their first byte once a connection is back. A server
 * answering NBD_ESHUTDOWN (shutting down) counts as lost too. Re-sending
 * is what qemu's reconnect-delay does and is safe for every mblk
 * operation: a read
 * reads again, a write that was not acknowledged writes the same bytes
 * to the same place again (the caller may not assume anything about a
 * write it has not seen complete), and flush, zeroes, discard, cache and
 * block status are idempotent. What is not safe is said in the docs: two
 * overlapping writes in flight at once may land in either order after a
 * reconnect, exactly as they may without one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

struct nbd {
	uv_loop_t *loop;
	struct mblk__nbdc_cfg cfg;
	char name[1024];
	struct mblk_open_req *open_req; /* until the open finishes */
	mblk_dev *dev;
	struct mblk_info info;
	int nconns;
	int starting; /* handshakes still under way while opening */
	int open_err;
	char open_msg[300];
	struct mblk__nbdc_conn conns[MBLK__NBDC_MAX_CONNS];
	bool redial[MBLK__NBDC_MAX_CONNS];  /* lost: to be dialled again */
	bool dialing[MBLK__NBDC_MAX_CONNS]; /* a redial's handshake runs */
	bool retried[MBLK__NBDC_MAX_CONNS]; /* dialled once since the loss */

	/* Reconnecting: requests wait here for a connection, each until its
	 * own deadline (reconnect= seconds after it started waiting). */
	bool reconnecting;
	int r_err; /* why the last attempt failed */
	char r_msg[160];
	mblk_req *wait_head, *wait_tail;
	uv_timer_t rtimer; /* the ticker: redials, expires waiting requests */
	bool rtimer_inited;

	/* Why the device can no longer serve requests ("" while it can). */
	int dead_err;
	char dead_msg[600];

	/* Closing: handles still to close, then disc_req or the free. */
	bool closing;
	int closing_count;
	mblk_req *disc_req;
};

static struct mblk__nbdc_rctx *nbd_rctx(mblk_req *req)
{
	return mblk_req_ctx(req);
}

/* ------------------------------------------------------------------ */
/* Completing and dispatching                                          */

void mblk__nbdc_req_finish(mblk_req *req)
{
	struct mblk__nbdc_rctx *c = nbd_rctx(req);
	if (c->finished)
		return;
	c->finished = true;
	if (c->status < 0) {
		mblk_req_fail(req, c->status, "%s", c->cause);
		return;
	}
	if (req->op == MBLK_OP_EXTENTS && req->ext_n == 0) {
		/* The server described nothing for base:allocation: data. */
		req->ext[0] = (struct mblk_extent){ .sector = req->sector,
						    .count = req->count };
		req->ext_n = 1;
	}
	mblk_req_done(req, 0);
}

static struct mblk__nbdc_conn *nbd_pick(struct nbd *n)
{
	struct mblk__nbdc_conn *best = NULL;
	uint64_t load = UINT64_MAX;
	for (int i = 0; i < n->nconns; i++) {
		struct mblk__nbdc_conn *k = &n->conns[i];
		if (k->phase != MBLK__NBDC_TRANSMISSION || n->redial[i])
			continue;
		uint64_t l = (uint64_t)k->inflight + k->queued;
		if (l < load) {
			best = k;
			load = l;
		}
	}
	return best;
}

static void nbd_wait(struct nbd *n, mblk_req *req)
{
	struct mblk__nbdc_rctx *c = nbd_rctx(req);
	c->next = NULL;
	if (n->wait_tail)
		nbd_rctx(n->wait_tail)->next = req;
	else
		n->wait_head = req;
	n->wait_tail = req;
}

static void nbd_park(void *data, mblk_req *req);
static void nbd_ticker(struct nbd *n);

static void nbd_dispatch(struct nbd *n, mblk_req *req)
{
	struct mblk__nbdc_conn *k = nbd_pick(n);
	if (k) {
		mblk__nbdc_xmit_submit(k, req);
		return;
	}
	if (n->reconnecting) {
		nbd_park(n, req);
		nbd_ticker(n);
		return;
	}
	mblk_req_fail(req, n->dead_err ? n->dead_err : -ESHUTDOWN, "%s",
		      n->dead_msg[0] ? n->dead_msg
				     : "no connection to the NBD server");
}

static void nbd_submit(mblk_dev *dev, mblk_req *req, uint16_t cmd,
		       uint16_t cflags, uint64_t bytes)
{
	struct nbd *n = mblk_dev_priv(dev);
	struct mblk__nbdc_rctx *c = nbd_rctx(req);
	memset(c, 0, sizeof(*c) - sizeof(c->cause));
	c->cause[0] = '\0';
	c->base = req->sector * n->info.sector_size;
	c->total = bytes;
	c->cmd = cmd;
	c->cflags = cflags;
	nbd_dispatch(n, req);
}

/* ------------------------------------------------------------------ */
/* The ops                                                             */

static uint64_t nbd_bytes(mblk_dev *dev, const mblk_req *req)
{
	struct nbd *n = mblk_dev_priv(dev);
	return req->count * n->info.sector_size;
}

static void nbd_read(mblk_dev *dev, mblk_req *req)
{
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	nbd_submit(dev, req, NBD_CMD_READ, 0, nbd_bytes(dev, req));
}

static void nbd_write(mblk_dev *dev, mblk_req *req)
{
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	struct nbd *n = mblk_dev_priv(dev);
	uint16_t f = (req->flags & MBLK_WRITE_FUA) &&
				     (n->info.caps & MBLK_CAP_FUA)
			     ? NBD_CMD_FLAG_FUA
			     : 0;
	nbd_submit(dev, req, NBD_CMD_WRITE, f, nbd_bytes(dev, req));
}

static void nbd_flush(mblk_dev *dev, mblk_req *req)
{
	nbd_submit(dev, req, NBD_CMD_FLUSH, 0, 0);
}

static void nbd_discard(mblk_dev *dev, mblk_req *req)
{
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	nbd_submit(dev, req, NBD_CMD_WRITE_ZEROES, 0, nbd_bytes(dev, req));
}

static void nbd_write_zeroes(mblk_dev *dev, mblk_req *req)
{
	if (req->count == 0) {
		mblk_req_done(req, 0);
		return;
	}
	uint16_t f = 0;
	if (req->flags & MBLK_ZEROES_NO_HOLE)
		f |= NBD_CMD_FLAG_NO_HOLE;
	if (req->flags & MBLK_ZEROES_FAST)
		f |= NBD_CMD_FLAG_FAST_ZERO;
	nbd_submit(dev, req, NBD_CMD_WRITE_ZEROES, f, nbd_bytes(dev, req));
}

/* Without base:allocation (a server without structured replies or
 * metadata contexts) there is nothing to ask: everything is data. */
static void nbd_extents(mblk_dev *dev, mblk_req *req)
{
	struct nbd *n = mblk_dev_priv(dev);
	if (!(n->info.caps & MBLK_CAP_SEEK) || req->count == 0) {
		req->ext[0] = (struct mblk_extent){ .sector = req->sector,
						    .count = req->count };
		req->ext_n = 1;
		mblk_req_done(req, 0);
		return;
	}
	nbd_submit(dev, req, NBD_CMD_BLOCK_STATUS, 0, nbd_bytes(dev, req));
}

/* Advisory: without NBD_FLAG_SEND_CACHE it does nothing. */
static void nbd_cache(mblk_dev *dev, mblk_req *req)
{
	struct nbd *n = mblk_dev_priv(dev);
	if (req->count == 0 || !(n->info.caps & MBLK_CAP_CACHE)) {
		mblk_req_done(req, 0);
		return;
	}
	nbd_submit(dev, req, NBD_CMD_CACHE, 0, nbd_bytes(dev, req));
}

static int nbd_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct nbd *n = mblk_dev_priv(dev);
	return mblk__nbdc_cfg_uri(&n->cfg, buf, len, true);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */

static void nbd_free(struct nbd *n)
{
	for (int i = 0; i < n->nconns; i++)
		mblk__nbdc_conn_free(&n->conns[i]);
	mblk__nbdc_cfg_free(&n->cfg);
	free(n);
}

static void nbd_closed_one(struct nbd *n)
{
	if (--n->closing_count > 0)
		return;
	if (n->disc_req) {
		mblk_req *req = n->disc_req;
		n->disc_req = NULL;
		mblk_req_done(req, 0);
	} else if (n->dev == NULL) {
		nbd_free(n); /* a failed open */
	}
}

static void nbd_on_rtimer_closed(uv_handle_t *h)
{
	nbd_closed_one(h->data);
}

static void nbd_dial(struct nbd *n, int i);

static void nbd_on_conn_closed(struct mblk__nbdc_conn *k)
{
	struct nbd *n = k->owner;
	if (n->closing) {
		nbd_closed_one(n);
		return;
	}
	/* Dial again at once after a loss; after a failed attempt the
	 * ticker does, a second later. */
	if (n->redial[k->index] && !n->retried[k->index]) {
		n->retried[k->index] = true;
		nbd_dial(n, k->index);
	}
}

/* Closes every handle; then nbd_closed_one finishes the disconnect (or
 * frees a device that never opened). */
static void nbd_close_all(struct nbd *n)
{
	n->closing = true;
	n->closing_count = n->nconns + (n->rtimer_inited ? 1 : 0) + 1;
	if (n->rtimer_inited) {
		uv_timer_stop(&n->rtimer);
		uv_close((uv_handle_t *)&n->rtimer, nbd_on_rtimer_closed);
	}
	for (int i = 0; i < n->nconns; i++)
		mblk__nbdc_xmit_disc(&n->conns[i], nbd_on_conn_closed);
	nbd_closed_one(n); /* the + 1 above: nothing closed synchronously
			      finishes before every close has started */
}

static void nbd_disconnect(mblk_dev *dev, mblk_req *req)
{
	struct nbd *n = mblk_dev_priv(dev);
	n->disc_req = req;
	n->reconnecting = false;
	nbd_close_all(n);
}

static void nbd_destroy(mblk_dev *dev)
{
	nbd_free(mblk_dev_priv(dev));
}

static const struct mblk_dev_ops nbd_ops = {
	.kind = "nbd",
	.req_ctx_size = sizeof(struct mblk__nbdc_rctx),
	.read = nbd_read,
	.write = nbd_write,
	.flush = nbd_flush,
	.discard = nbd_discard,
	.write_zeroes = nbd_write_zeroes,
	.extents = nbd_extents,
	.cache = nbd_cache,
	.disconnect = nbd_disconnect,
	.get_uri = nbd_get_uri,
	.destroy = nbd_destroy,
};

/* ------------------------------------------------------------------ */
/* Losing a connection, reconnecting                                   */

static void nbd_fail_one(void *data, mblk_req *req)
{
	struct mblk__nbdc_conn *k = data;
	struct mblk__nbdc_rctx *c = nbd_rctx(req);
	c->status = k->err;
	snprintf(c->cause, sizeof(c->cause), "%s", k->msg);
	c->pending = 0;
	mblk__nbdc_req_finish(req);
}

/* Every redial and every expiry is driven by the one ticker: a second
 * apart while any connection is down. It keeps the loop alive only
 * while requests wait (an idle device being redialled must not keep
 * uv_run from returning). */
static void nbd_on_rtimer(uv_timer_t *t);

static void nbd_ticker(struct nbd *n)
{
	if (!n->rtimer_inited || n->closing)
		return;
	if (!uv_is_active((uv_handle_t *)&n->rtimer))
		uv_timer_start(&n->rtimer, nbd_on_rtimer, 1000, 1000);
	if (n->wait_head)
		uv_ref((uv_handle_t *)&n->rtimer);
	else
		uv_unref((uv_handle_t *)&n->rtimer);
}

static void nbd_park(void *data, mblk_req *req)
{
	struct nbd *n = data;
	struct mblk__nbdc_rctx *c = nbd_rctx(req);
	c->status = 0; /* it starts again from its first byte */
	c->cause[0] = '\0';
	c->deadline = uv_now(n->loop) + n->cfg.reconnect_s * 1000;
	nbd_wait(n, req);
}

/* Fails the waiting requests whose reconnect time is up (all of them
 * when all is true). */
static void nbd_expire(struct nbd *n, bool all)
{
	uint64_t now = uv_now(n->loop);
	mblk_req **pp = &n->wait_head, *last = NULL;
	mblk_req *expired = NULL, **etail = &expired;
	while (*pp) {
		mblk_req *req = *pp;
		struct mblk__nbdc_rctx *c = nbd_rctx(req);
		if (all || c->deadline <= now) {
			*pp = c->next;
			c->next = NULL;
			*etail = req;
			etail = &c->next;
		} else {
			last = req;
			pp = &c->next;
		}
	}
	n->wait_tail = last;
	/* Failing calls back into the user, who may submit: the list is
	 * consistent before the first callback. */
	while (expired) {
		mblk_req *req = expired;
		struct mblk__nbdc_rctx *c = nbd_rctx(req);
		expired = c->next;
		c->status = n->r_err ? n->r_err : -ESHUTDOWN;
		snprintf(c->cause, sizeof(c->cause),
			 "could not reconnect within %llu s (reconnect=%llu): "
			 "%s",
			 (unsigned long long)n->cfg.reconnect_s,
			 (unsigned long long)n->cfg.reconnect_s, n->r_msg);
		mblk__nbdc_req_finish(req);
	}
}

/* Sends what waited for a connection. */
static void nbd_resume(struct nbd *n)
{
	mblk_req *req = n->wait_head;
	n->wait_head = n->wait_tail = NULL;
	while (req) {
		mblk_req *next = nbd_rctx(req)->next;
		nbd_dispatch(n, req);
		req = next;
	}
}

void mblk__nbdc_lost(struct mblk__nbdc_conn *k)
{
	struct nbd *n = k->owner;
	bool retry = n->cfg.reconnect_s > 0 && k->err != -EPROTO && !n->closing;
	if (retry) {
		n->reconnecting = true;
		n->redial[k->index] = true;
		n->retried[k->index] = false;
		n->r_err = k->err;
		snprintf(n->r_msg, sizeof(n->r_msg), "%.159s", k->msg);
		mblk__nbdc_xmit_drain(k, nbd_park, n);
		nbd_ticker(n);
		/* nbd_on_conn_closed dials again at once. */
		mblk__nbdc_conn_close(k, nbd_on_conn_closed);
		return;
	}
	if (nbd_pick(n) == NULL && !n->reconnecting) {
		n->dead_err = k->err;
		snprintf(n->dead_msg, sizeof(n->dead_msg), "%s", k->msg);
		/* Nothing is left and nothing will be redialled: the core
		 * answers every later request (during the open, once the
		 * device exists: see nbd_open_finish). */
		if (n->dev != NULL)
			mblk_dev_set_disconnected(n->dev, "%s", n->dead_msg);
	}
	mblk__nbdc_conn_close(k, nbd_on_conn_closed);
	mblk__nbdc_xmit_drain(k, nbd_fail_one, k);
}

static void nbd_on_ready(struct mblk__nbdc_conn *k, int status,
			 const char *msg);

static void nbd_dial(struct nbd *n, int i)
{
	struct mblk__nbdc_conn *k = &n->conns[i];
	if (!n->redial[i] || n->dialing[i] || k->handles_open > 0 || n->closing)
		return;
	mblk__nbdc_conn_free(k);
	int r = mblk__nbdc_conn_init(k, n->loop, &n->cfg, n);
	k->index = i;
	k->sector_size = n->info.sector_size;
	if (r < 0) {
		n->r_err = r;
		snprintf(n->r_msg, sizeof(n->r_msg), "no memory to reconnect");
		return; /* the next tick tries again */
	}
	n->dialing[i] = true;
	mblk__nbdc_conn_start(k, nbd_on_ready);
	/* An idle device's redial must not keep uv_run from returning
	 * (the ticker holds the loop while requests wait). */
	if (k->phase != MBLK__NBDC_DEAD)
		mblk__nbdc_conn_ref(k, false);
}

static void nbd_on_rtimer(uv_timer_t *t)
{
	struct nbd *n = t->data;
	nbd_expire(n, false);
	bool any = false;
	for (int i = 0; i < n->nconns; i++) {
		nbd_dial(n, i);
		any |= n->redial[i];
	}
	if (!any)
		uv_timer_stop(&n->rtimer);
	else
		nbd_ticker(n);
}

static void nbd_reconnected(struct nbd *n, struct mblk__nbdc_conn *k,
			    int status, const char *msg)
{
	char why[300];
	if (status == 0 &&
	    k->ex.size / n->info.sector_size != n->info.size_sectors) {
		status = -EIO;
		snprintf(why, sizeof(why),
			 "%s: the export's size changed across the reconnect "
			 "(%llu bytes now)",
			 n->cfg.server, (unsigned long long)k->ex.size);
		msg = why;
	}
	n->dialing[k->index] = false;
	if (status == 0) {
		n->redial[k->index] = false;
		mblk__nbdc_xmit_start(k);
		bool any = false;
		for (int i = 0; i < n->nconns; i++)
			any |= n->redial[i];
		n->reconnecting = any;
		if (!any)
			uv_timer_stop(&n->rtimer);
		nbd_resume(n);
		return;
	}
	/* Keep the latest reason for the requests that expire; the ticker
	 * dials again in a second. */
	n->r_err = status == -ETIMEDOUT ? -ETIMEDOUT : -ESHUTDOWN;
	snprintf(n->r_msg, sizeof(n->r_msg), "%.159s", msg);
	mblk__nbdc_conn_close(k, nbd_on_conn_closed);
	nbd_ticker(n);
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */

static void nbd_geometry(struct nbd *n, const struct mblk__nbdc_export *ex)
{
	struct mblk_info *in = &n->info;
	uint32_t minb = ex->min_block ? ex->min_block : 1;
	uint32_t ss = 512;
	while (ss < minb && ss < (1u << 16))
		ss <<= 1;
	memset(in, 0, sizeof(*in));
	in->sector_size = ss;
	in->size_sectors = ex->size / ss;
	in->min_io = ss;
	in->buf_align = 1;
	uint64_t pref = ex->pref_block ? ex->pref_block : 4096;
	in->pref_io = pref < ss ? ss : (uint32_t)pref;
	uint64_t max = ex->max_payload ? ex->max_payload
				       : MBLK__NBDC_DEFAULT_MAX_PAYLOAD;
	if (max > MBLK__NBDC_DEFAULT_MAX_PAYLOAD) /* as xmit.c cuts them */
		max = MBLK__NBDC_DEFAULT_MAX_PAYLOAD;
	max &= ~(uint64_t)(ss - 1);
	in->max_io = max ? (uint32_t)max : ss;
	in->read_write = !(ex->tflags & NBD_FLAG_READ_ONLY) &&
			 !n->cfg.read_only;
	uint16_t f = ex->tflags;
	if (f & NBD_FLAG_SEND_FLUSH)
		in->caps |= MBLK_CAP_FLUSH;
	if (f & NBD_FLAG_SEND_FUA)
		in->caps |= MBLK_CAP_FUA;
	if (f & NBD_FLAG_SEND_WRITE_ZEROES)
		in->caps |= MBLK_CAP_WRITE_ZEROES | MBLK_CAP_DISCARD;
	if ((f & NBD_FLAG_SEND_WRITE_ZEROES) && (f & NBD_FLAG_SEND_FAST_ZERO))
		in->caps |= MBLK_CAP_ZERO_IS_FAST;
	if (ex->have_meta)
		in->caps |= MBLK_CAP_SEEK;
	if (f & NBD_FLAG_SEND_CACHE)
		in->caps |= MBLK_CAP_CACHE;
}

static void nbd_open_failed(struct nbd *n)
{
	struct mblk_open_req *req = n->open_req;
	n->open_req = NULL;
	mblk_open_fail(req, n->open_err, "%s: %s", n->name, n->open_msg);
	nbd_close_all(n); /* frees n once the handles are gone */
}

static void nbd_open_finish(struct nbd *n)
{
	if (n->open_err) {
		nbd_open_failed(n);
		return;
	}
	if (n->cfg.reconnect_s > 0) {
		int r = uv_timer_init(n->loop, &n->rtimer);
		if (r < 0) {
			n->open_err = r;
			snprintf(n->open_msg, sizeof(n->open_msg), "%s",
				 uv_strerror(r));
			nbd_open_failed(n);
			return;
		}
		n->rtimer.data = n;
		n->rtimer_inited = true;
	}
	mblk_dev *dev;
	int r = mblk_dev_create(n->loop, &nbd_ops, n, n->name, &n->info, NULL,
				0, 0, &dev);
	if (r < 0) {
		n->open_err = r;
		snprintf(n->open_msg, sizeof(n->open_msg), "%s",
			 mblk_last_error());
		nbd_open_failed(n);
		return;
	}
	n->dev = dev;
	for (int i = 0; i < n->nconns; i++) {
		n->conns[i].sector_size = n->info.sector_size;
		mblk__nbdc_xmit_start(&n->conns[i]);
	}
	if (n->dead_msg[0] && nbd_pick(n) == NULL && !n->reconnecting)
		mblk_dev_set_disconnected(dev, "%s", n->dead_msg);
	struct mblk_open_req *req = n->open_req;
	n->open_req = NULL;
	mblk_open_done(req, dev);
}

static int nbd_conn_begin(struct nbd *n, int i)
{
	struct mblk__nbdc_conn *k = &n->conns[i];
	int r = mblk__nbdc_conn_init(k, n->loop, &n->cfg, n);
	k->index = i;
	k->sector_size = 512;
	if (i >= n->nconns)
		n->nconns = i + 1;
	if (r < 0)
		return r;
	n->starting++;
	mblk__nbdc_conn_start(k, nbd_on_ready);
	return 0;
}

static void nbd_on_ready(struct mblk__nbdc_conn *k, int status, const char *msg)
{
	struct nbd *n = k->owner;
	if (n->dev) {
		nbd_reconnected(n, k, status, msg);
		return;
	}
	n->starting--;
	if (status < 0 && n->open_err == 0) {
		n->open_err = status;
		snprintf(n->open_msg, sizeof(n->open_msg), "%s", msg);
	}
	if (status == 0 && k->index == 0) {
		nbd_geometry(n, &k->ex);
		bool multi = (k->ex.tflags & NBD_FLAG_CAN_MULTI_CONN) != 0;
		for (int i = 1; multi && i < (int)n->cfg.connections; i++) {
			int r = nbd_conn_begin(n, i);
			if (r < 0 && n->open_err == 0) {
				n->open_err = r;
				snprintf(n->open_msg, sizeof(n->open_msg),
					 "no memory for connection %d", i);
			}
		}
	} else if (status == 0 && k->ex.size != n->conns[0].ex.size &&
		   n->open_err == 0) {
		n->open_err = -EPROTO;
		snprintf(n->open_msg, sizeof(n->open_msg),
			 "%s gave connection %d a size of %llu bytes but "
			 "connection 0 %llu",
			 n->cfg.server, k->index,
			 (unsigned long long)k->ex.size,
			 (unsigned long long)n->conns[0].ex.size);
	}
	if (n->starting == 0)
		nbd_open_finish(n);
}

static void nbd_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	struct nbd *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		mblk_open_fail(req, -ENOMEM, "'%s': no memory",
			       mblk_uri_text(u));
		return;
	}
	int r = mblk__nbdc_cfg_parse(u, &n->cfg);
	if (r == 0)
		r = mblk_uri_finish(u);
	/* Opened read-only by the flag is opened read-only: mblk_get_uri
	 * then says read-only=1, as every device's URI says how it was
	 * opened. */
	if (mblk_open_req_flags(req) & MBLK_OPEN_RDONLY)
		n->cfg.read_only = true;
	if (r < 0) {
		mblk__nbdc_cfg_free(&n->cfg);
		free(n);
		mblk_open_fail_last(req, r);
		return;
	}
	mblk__nbdc_cfg_uri(&n->cfg, n->name, sizeof(n->name), false);
#ifndef MBLK_HAVE_GNUTLS
	if (n->cfg.tls) {
		mblk_open_fail(req, -ENOTSUP,
			       "'%s': this mblk was built without TLS (GnuTLS), "
			       "so it cannot open %s:// URIs",
			       mblk_uri_text(u), n->cfg.scheme);
		mblk__nbdc_cfg_free(&n->cfg);
		free(n);
		return;
	}
#endif
	n->loop = mblk_open_req_loop(req);
	n->open_req = req;
	r = nbd_conn_begin(n, 0);
	if (r < 0) {
		n->open_err = r;
		snprintf(n->open_msg, sizeof(n->open_msg), "no memory");
		if (n->starting == 0)
			nbd_open_failed(n);
	}
}

/* ------------------------------------------------------------------ */
/* The schemes                                                         */

static const struct mblk_uri_key nbd_keys[] = {
	{ "socket", "path",
	  "the server's unix socket (nbd+unix://, nbds+unix:// only)" },
	{ "tls-certificates", "path",
	  "X.509: a directory with ca-cert.pem (and client-cert.pem, "
	  "client-key.pem)" },
	{ "tls-psk-file", "path",
	  "PSK: a keys file of username:hexkey lines (as nbdkit --tls-psk)" },
	{ "tls-username", "name",
	  "PSK: the user name to present (default: the login name)" },
	{ "timeout", "seconds",
	  "bound on connecting and on every request (default 60)" },
	{ "connections", "number",
	  "connections to spread requests over, if the server allows "
	  "multi-conn (default 1)" },
	{ "reconnect", "seconds",
	  "redial a lost connection and resend its requests, each waiting at "
	  "most this long (default 0: fail at once)" },
	{ "read-only", "bool", "open the export read-only" },
	{ NULL, NULL, NULL },
};

const struct mblk_scheme mblk__scheme_nbd = {
	.name = "nbd",
	.syntax = "nbd://HOST[:PORT]/[EXPORT][?key=value...]",
	.summary = "an export of an NBD server over TCP",
	.keys = nbd_keys,
	.open = nbd_open_uri,
};

const struct mblk_scheme mblk__scheme_nbds = {
	.name = "nbds",
	.syntax = "nbds://HOST[:PORT]/[EXPORT][?key=value...]",
	.summary = "an export of an NBD server over TCP, with TLS required",
	.keys = nbd_keys,
	.open = nbd_open_uri,
};

const struct mblk_scheme mblk__scheme_nbd_unix = {
	.name = "nbd+unix",
	.syntax = "nbd+unix:///[EXPORT]?socket=PATH[&key=value...]",
	.summary = "an export of an NBD server on a unix socket",
	.keys = nbd_keys,
	.open = nbd_open_uri,
};

const struct mblk_scheme mblk__scheme_nbds_unix = {
	.name = "nbds+unix",
	.syntax = "nbds+unix:///[EXPORT]?socket=PATH[&key=value...]",
	.summary = "an export of an NBD server on a unix socket, with TLS "
		   "required",
	.keys = nbd_keys,
	.open = nbd_open_uri,
};
