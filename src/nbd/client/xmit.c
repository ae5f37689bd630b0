/* xmit.c - the transmission phase: commands out, replies in.
 *
 * Design notes
 *
 * Sending. Requests wait in a send queue (sq_head..sq_tail, linked
 * through their context). xmit_pump turns the queue into one uv_write:
 * for each request it cuts the next command (at most the server's
 * maximum payload for reads and writes, MBLK__NBDC_MAX_EFFECT for the
 * rest), takes a slot for its cookie, encodes the header into whdrs and
 * points wbufs at the header and, for a write, at the caller's own
 * buffers for that piece. One write is in flight at a time; requests
 * submitted meanwhile go out together in the next batch, when its
 * callback runs. libuv copies the uv_buf_t array, so wbufs is reusable
 * at once; whdrs stays untouched until the callback.
 *
 * Cookies. A cookie is (generation << 32 | slot index): the slot table
 * gives O(1) matching, and a reply to a freed or reused slot misses
 * (generation mismatch) and is reported as a reply to no request.
 * Slots are addressed by index, never by pointer across a call that may
 * submit (a completion callback may submit requests and grow the table).
 *
 * Receiving. The reply header is parsed by magic (4 bytes first, unless
 * extended headers make every header 32 bytes), then by chunk type.
 * Every chunk is checked against the command its cookie names: content
 * chunks only for reads and inside the read's range, status chunks only
 * for block status, a length that fits the type; anything else is a
 * protocol error that fails the connection (nbd.c then fails or
 * resubmits every request on it). Read data goes straight into the
 * caller's buffers at the chunk's offset; holes are zero-filled there.
 * A read whose chunks do not add up to its length fails with -EIO.
 *
 * Extents. base:allocation descriptors are in bytes; mblk extents are in
 * sectors. A sector wholly inside one descriptor takes its flags; a
 * sector that straddles descriptors takes the AND of their flags (a
 * hole only if all of it is a hole), so nothing is ever reported as a
 * hole or zeros that might hold data.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/endian.h"
#include "client.h"

#define SLOT_NONE UINT32_MAX
#define WBUFS_MAX (MBLK__NBDC_BATCH + IOV_MAX + 8)
#define HDR_MAX 32

static struct mblk__nbdc_rctx *rctx(mblk_req *req)
{
	return mblk_req_ctx(req);
}

int mblk__nbdc_xmit_init(struct mblk__nbdc_conn *k)
{
	k->free_slot = SLOT_NONE;
	k->wbufs = malloc(sizeof(uv_buf_t) * WBUFS_MAX);
	k->whdrs = malloc((size_t)HDR_MAX * (MBLK__NBDC_BATCH + 1));
	if (k->wbufs == NULL || k->whdrs == NULL)
		return -ENOMEM;
	return 0;
}

void mblk__nbdc_xmit_free(struct mblk__nbdc_conn *k)
{
	free(k->slots);
	free(k->wbufs);
	free(k->whdrs);
	k->slots = NULL;
	k->wbufs = NULL;
	k->whdrs = NULL;
}

/* ------------------------------------------------------------------ */
/* Slots                                                               */

static uint32_t xmit_slot_alloc(struct mblk__nbdc_conn *k)
{
	if (k->free_slot == SLOT_NONE) {
		uint32_t n = k->nslots ? k->nslots * 2 : 64;
		struct mblk__nbdc_slot *ns =
			realloc(k->slots, sizeof(*ns) * (size_t)n);
		if (ns == NULL)
			return SLOT_NONE;
		for (uint32_t i = k->nslots; i < n; i++) {
			ns[i].req = NULL;
			ns[i].gen = 0;
			ns[i].next_free = i + 1 < n ? i + 1 : k->free_slot;
		}
		k->free_slot = k->nslots;
		k->slots = ns;
		k->nslots = n;
	}
	uint32_t i = k->free_slot;
	k->free_slot = k->slots[i].next_free;
	k->slots[i].gen++;
	if (k->inflight++ == 0) {
		mblk__nbdc_conn_ref(k, true);
		mblk__nbdc_conn_arm_timer(k);
	}
	return i;
}

static void xmit_slot_free(struct mblk__nbdc_conn *k, uint32_t i)
{
	k->slots[i].req = NULL;
	k->slots[i].next_free = k->free_slot;
	k->free_slot = i;
	if (--k->inflight == 0) {
		if (k->timer_inited)
			uv_timer_stop(&k->timer);
		if (k->queued == 0)
			mblk__nbdc_conn_ref(k, false);
	}
}

static uint64_t xmit_cookie(const struct mblk__nbdc_conn *k, uint32_t i)
{
	return (uint64_t)k->slots[i].gen << 32 | i;
}

/* The slot a cookie names, or SLOT_NONE. */
static uint32_t xmit_slot_find(const struct mblk__nbdc_conn *k, uint64_t cookie)
{
	uint32_t i = (uint32_t)cookie;
	if (i >= k->nslots || k->slots[i].req == NULL ||
	    k->slots[i].gen != (uint32_t)(cookie >> 32))
		return SLOT_NONE;
	return i;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

static uint64_t xmit_piece_max(const struct mblk__nbdc_conn *k, uint16_t cmd)
{
	uint32_t ss = k->sector_size;
	uint64_t m;
	if (cmd == NBD_CMD_READ || cmd == NBD_CMD_WRITE) {
		/* The server's maximum, but never above the spec's portable
		 * 32 MiB: a server advertising 0xffffffff ("no limit") gets
		 * commands it handles without a huge buffer. */
		m = k->ex.max_payload ? k->ex.max_payload
				      : MBLK__NBDC_DEFAULT_MAX_PAYLOAD;
		if (m > MBLK__NBDC_DEFAULT_MAX_PAYLOAD)
			m = MBLK__NBDC_DEFAULT_MAX_PAYLOAD;
	} else {
		m = MBLK__NBDC_MAX_EFFECT;
	}
	m &= ~(uint64_t)(ss - 1);
	return m ? m : ss;
}

static void xmit_pump(struct mblk__nbdc_conn *k);

static void xmit_on_write_grace(uv_timer_t *t)
{
	struct mblk__nbdc_conn *k = t->data;
	mblk__nbdc_conn_fail(k, -ECONNRESET, "writing to %s: %s",
			     k->cfg->server, uv_strerror(k->write_err));
}

/* A failed write (EPIPE: the server closed the socket) is usually
 * followed at once by the read side's end of file, which says more (a
 * reply cut in half, or a clean close): the read side gets 100 ms to
 * report it before the write error does. Nothing more is sent. */
static void xmit_write_failed(struct mblk__nbdc_conn *k, int status)
{
	if (k->phase != MBLK__NBDC_TRANSMISSION || k->write_err)
		return;
	k->write_err = status;
	k->writing = true; /* nothing more is written */
	uv_timer_start(&k->timer, xmit_on_write_grace, 100, 0);
}

static void xmit_on_written(uv_write_t *w, int status)
{
	struct mblk__nbdc_conn *k = w->data;
	k->writing = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			xmit_write_failed(k, status);
		return;
	}
	xmit_pump(k);
}

/* Buffers a write piece of len bytes from c's cursor needs. */
static int xmit_count_bufs(const mblk_req *req, const struct mblk__nbdc_rctx *c,
			   uint64_t len)
{
	int n = 0, i = c->iov_i;
	size_t off = c->iov_off;
	while (len > 0 && i < req->iovcnt) {
		size_t room = req->iov[i].iov_len - off;
		if (room > 0) {
			n++;
			len -= room < len ? room : len;
		}
		i++;
		off = 0;
	}
	return n;
}

static int xmit_add_bufs(uv_buf_t *b, mblk_req *req, struct mblk__nbdc_rctx *c,
			 uint64_t len)
{
	int n = 0;
	while (len > 0) {
		const struct iovec *v = &req->iov[c->iov_i];
		size_t room = v->iov_len - c->iov_off;
		if (room == 0) {
			c->iov_i++;
			c->iov_off = 0;
			continue;
		}
		size_t t = room < len ? room : (size_t)len;
		b[n++] = uv_buf_init((char *)v->iov_base + c->iov_off,
				     (unsigned)t);
		c->iov_off += t;
		len -= t;
	}
	return n;
}

static void xmit_pump(struct mblk__nbdc_conn *k)
{
	if (k->writing || k->phase != MBLK__NBDC_TRANSMISSION)
		return;
	int nb = 0, nh = 0;
	uint64_t now = uv_now(k->loop);
	uint64_t tmo = (k->cfg->timeout_s ? k->cfg->timeout_s
					  : MBLK__NBDC_DEFAULT_TIMEOUT) *
		       1000;
	while (k->sq_head && nh < MBLK__NBDC_BATCH) {
		mblk_req *req = k->sq_head;
		struct mblk__nbdc_rctx *c = rctx(req);
		uint64_t piece = c->total - c->sent;
		uint64_t max = xmit_piece_max(k, c->cmd);
		if (c->cmd == NBD_CMD_BLOCK_STATUS && piece > max)
			c->total = c->sent + max; /* the caller asks again */
		if (piece > max)
			piece = max;
		int need = 1;
		if (c->cmd == NBD_CMD_WRITE)
			need += xmit_count_bufs(req, c, piece);
		if (nb > 0 && nb + need > WBUFS_MAX)
			break;
		uint32_t i = xmit_slot_alloc(k);
		if (i == SLOT_NONE) {
			if (nb > 0)
				break;
			/* Nothing can go out: fail this one request. */
			k->sq_head = c->next;
			if (k->sq_head == NULL)
				k->sq_tail = NULL;
			k->queued--;
			c->queued = false;
			if (c->status == 0) {
				c->status = -ENOMEM;
				snprintf(c->cause, sizeof(c->cause),
					 "no memory for a cookie");
			}
			c->sent = c->total;
			if (c->pending == 0)
				mblk__nbdc_req_finish(req);
			continue;
		}
		struct mblk__nbdc_slot *s = &k->slots[i];
		s->req = req;
		s->cmd = c->cmd;
		s->offset = c->base + c->sent;
		s->length = piece;
		s->got = 0;
		s->deadline = now + tmo;
		/* Under extended headers a write says its payload's length
		 * (the spec's MUST; servers refuse one without it). */
		uint16_t pflag = k->ex.extended && c->cmd == NBD_CMD_WRITE
					 ? NBD_CMD_FLAG_PAYLOAD_LEN
					 : 0;
		struct mblk__nbd_request r = {
			.flags = (uint16_t)(c->cflags | pflag),
			.type = c->cmd,
			.cookie = xmit_cookie(k, i),
			.offset = c->cmd == NBD_CMD_FLUSH ? 0 : s->offset,
			.length = piece,
		};
		uint8_t *h = k->whdrs + (size_t)nh * HDR_MAX;
		size_t hl = mblk__nbd_request_encode(h, k->ex.extended, &r);
		k->wbufs[nb++] = uv_buf_init((char *)h, (unsigned)hl);
		nh++;
		if (c->cmd == NBD_CMD_WRITE)
			nb += xmit_add_bufs(k->wbufs + nb, req, c, piece);
		c->sent += piece;
		c->pending++;
		if (c->sent >= c->total) {
			k->sq_head = c->next;
			if (k->sq_head == NULL)
				k->sq_tail = NULL;
			k->queued--;
			c->queued = false;
		}
	}
	if (nb == 0)
		return;
	k->wreq.data = k;
	int r = uv_write(&k->wreq, &k->sock.stream, k->wbufs, (unsigned)nb,
			 xmit_on_written);
	if (r < 0) {
		xmit_write_failed(k, r);
		return;
	}
	k->writing = true;
}

void mblk__nbdc_xmit_submit(struct mblk__nbdc_conn *k, mblk_req *req)
{
	struct mblk__nbdc_rctx *c = rctx(req);
	c->conn = k;
	c->next = NULL;
	c->queued = true;
	c->sent = 0;
	c->pending = 0;
	c->iov_i = 0;
	c->iov_off = 0;
	c->bs_pos = c->base;
	c->bs_partial = false;
	if (req->op == MBLK_OP_EXTENTS)
		req->ext_n = 0;
	if (k->sq_tail)
		rctx(k->sq_tail)->next = req;
	else
		k->sq_head = req;
	k->sq_tail = req;
	if (k->queued++ == 0)
		mblk__nbdc_conn_ref(k, true);
	xmit_pump(k);
}

/* ------------------------------------------------------------------ */
/* Completing commands                                                 */

static void xmit_want_header(struct mblk__nbdc_conn *k);

/* The command in slot i is answered (status 0 or -errno with cause). */
static void xmit_cmd_done(struct mblk__nbdc_conn *k, uint32_t i, int status,
			  const char *cause)
{
	struct mblk__nbdc_slot *s = &k->slots[i];
	mblk_req *req = s->req;
	struct mblk__nbdc_rctx *c = rctx(req);
	char buf[160];
	if (status == 0 && s->cmd == NBD_CMD_READ && s->got != s->length) {
		snprintf(buf, sizeof(buf),
			 "%s's reply covers %llu of the %llu bytes asked for "
			 "at byte %llu",
			 k->cfg->server, (unsigned long long)s->got,
			 (unsigned long long)s->length,
			 (unsigned long long)s->offset);
		status = -EIO;
		cause = buf;
	}
	xmit_slot_free(k, i);
	if (status < 0 && c->status == 0) {
		c->status = status;
		snprintf(c->cause, sizeof(c->cause), "%s", cause);
	}
	if (--c->pending == 0 && !c->queued)
		mblk__nbdc_req_finish(req);
}

static void xmit_proto_error(struct mblk__nbdc_conn *k, const char *what)
{
	mblk__nbdc_conn_fail(k, -EPROTO, "%s broke the protocol: %s",
			     k->cfg->server, what);
}

/* The chunk just read is complete. */
static void xmit_chunk_done(struct mblk__nbdc_conn *k, int status,
			    const char *cause)
{
	uint32_t i = k->rslot;
	struct mblk__nbdc_slot *s = &k->slots[i];
	bool done = (k->rep.flags & NBD_REPLY_FLAG_DONE) != 0 ||
		    k->rep.kind == MBLK__NBD_SIMPLE;
	if (status < 0) {
		mblk_req *req = s->req;
		struct mblk__nbdc_rctx *c = rctx(req);
		if (c->status == 0) {
			c->status = status;
			snprintf(c->cause, sizeof(c->cause), "%s", cause);
		}
		status = 0;
		/* An error chunk: the read's coverage no longer matters. */
		s->got = s->length;
	}
	xmit_want_header(k);
	if (done)
		xmit_cmd_done(k, i, 0, NULL);
}

static void xmit_on_chunk_data(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	(void)p;
	xmit_chunk_done(k, 0, NULL);
}

/* The wire error code and message as a cause sentence. */
static int xmit_server_error(struct mblk__nbdc_conn *k, uint32_t code,
			     const char *m, int mlen, char *buf, size_t len)
{
	int err = mblk__nbd_wire_to_errno(code);
	snprintf(buf, len, "%s answered %s (NBD error %u)%s%.*s%s",
		 k->cfg->server, mblk_strerror(err), code,
		 mlen > 0 ? ": \"" : "", mlen, m ? m : "",
		 mlen > 0 ? "\"" : "");
	return err;
}

/* ---- reads ---- */

static bool xmit_in_range(const struct mblk__nbdc_slot *s, uint64_t off,
			  uint64_t len)
{
	return off >= s->offset && len <= s->length &&
	       off - s->offset <= s->length - len;
}

static void xmit_on_data_offset(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	struct mblk__nbdc_slot *s = &k->slots[k->rslot];
	uint64_t off = mblk__get_be64(p);
	uint64_t len = k->rep.length - 8;
	if (!xmit_in_range(s, off, len)) {
		char what[200];
		snprintf(what, sizeof(what),
			 "a data chunk for bytes %llu-%llu is outside the "
			 "read of bytes %llu-%llu",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1),
			 (unsigned long long)s->offset,
			 (unsigned long long)(s->offset + s->length - 1));
		xmit_proto_error(k, what);
		return;
	}
	s->got += len;
	mblk_req *req = s->req;
	mblk__nbdc_want_data(k, req->iov, req->iovcnt, off - rctx(req)->base,
			     len, xmit_on_chunk_data);
}

static void xmit_zero_iov(mblk_req *req, uint64_t skip, uint64_t len)
{
	for (int i = 0; i < req->iovcnt && len > 0; i++) {
		size_t l = req->iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t t = l - (size_t)skip;
		if (t > len)
			t = (size_t)len;
		memset((char *)req->iov[i].iov_base + skip, 0, t);
		len -= t;
		skip = 0;
	}
}

static void xmit_on_hole(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	struct mblk__nbdc_slot *s = &k->slots[k->rslot];
	uint64_t off = mblk__get_be64(p);
	uint32_t len = mblk__get_be32(p + 8);
	if (len == 0 || !xmit_in_range(s, off, len)) {
		char what[200];
		snprintf(what, sizeof(what),
			 "a hole chunk for %u bytes at byte %llu is outside "
			 "the read of bytes %llu-%llu",
			 len, (unsigned long long)off,
			 (unsigned long long)s->offset,
			 (unsigned long long)(s->offset + s->length - 1));
		xmit_proto_error(k, what);
		return;
	}
	s->got += len;
	xmit_zero_iov(s->req, off - rctx(s->req)->base, len);
	xmit_chunk_done(k, 0, NULL);
}

static void xmit_on_simple_data(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	(void)p;
	k->slots[k->rslot].got = k->slots[k->rslot].length;
	xmit_chunk_done(k, 0, NULL);
}

/* ---- block status ---- */

static void xmit_ext_emit(mblk_req *req, uint64_t sector, uint64_t count,
			  uint32_t flags)
{
	if (req->ext_n > 0) {
		struct mblk_extent *e = &req->ext[req->ext_n - 1];
		if (e->flags == flags && e->sector + e->count == sector) {
			e->count += count;
			return;
		}
	}
	if (req->ext_n >= req->ext_max)
		return;
	req->ext[req->ext_n++] = (struct mblk_extent){ .sector = sector,
						       .count = count,
						       .flags = flags };
}

static void xmit_bs_add(struct mblk__nbdc_conn *k, uint64_t len,
			uint64_t nflags)
{
	struct mblk__nbdc_slot *s = &k->slots[k->rslot];
	mblk_req *req = s->req;
	struct mblk__nbdc_rctx *c = rctx(req);
	uint32_t ss = k->sector_size;
	uint32_t f = ((nflags & NBD_STATE_HOLE) ? MBLK_EXTENT_HOLE : 0) |
		     ((nflags & NBD_STATE_ZERO) ? MBLK_EXTENT_ZERO : 0);
	uint64_t limit = s->offset + s->length;
	uint64_t pos = c->bs_pos;
	if (pos >= limit || req->ext_n >= req->ext_max)
		return;
	uint64_t end = len > limit - pos ? limit : pos + len;
	c->bs_pos = end;
	if (pos % ss) {
		/* The sector opened by the previous descriptor. */
		c->bs_pflags &= f;
		uint64_t sec_end = (pos / ss + 1) * ss;
		if (end < sec_end)
			return;
		xmit_ext_emit(req, pos / ss, 1, c->bs_pflags);
		pos = sec_end;
	}
	uint64_t full = end / ss - pos / ss;
	if (full)
		xmit_ext_emit(req, pos / ss, full, f);
	if (end % ss)
		c->bs_pflags = f;
}

static void xmit_on_bs_desc(struct mblk__nbdc_conn *k, const uint8_t *p);

static void xmit_bs_next(struct mblk__nbdc_conn *k)
{
	if (k->bs_left == 0) {
		xmit_chunk_done(k, 0, NULL);
		return;
	}
	mblk__nbdc_want(k, k->ex.extended ? 16 : 8, xmit_on_bs_desc);
}

static void xmit_on_bs_desc(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint64_t len, flags;
	if (k->ex.extended) {
		len = mblk__get_be64(p);
		flags = mblk__get_be64(p + 8);
	} else {
		len = mblk__get_be32(p);
		flags = mblk__get_be32(p + 4);
	}
	if (len == 0) {
		xmit_proto_error(k, "a block status descriptor of length 0");
		return;
	}
	k->bs_left--;
	if (k->bs_match)
		xmit_bs_add(k, len, flags);
	xmit_bs_next(k);
}

static void xmit_on_bs_head(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint32_t id = mblk__get_be32(p);
	k->bs_match = k->ex.have_meta && id == k->ex.meta_id;
	if (k->ex.extended) {
		uint32_t n = mblk__get_be32(p + 4);
		if ((uint64_t)n * 16 + 8 != k->rep.length) {
			xmit_proto_error(k, "a block status chunk whose "
					    "descriptor count does not match "
					    "its length");
			return;
		}
		k->bs_left = n;
	} else {
		k->bs_left = (uint32_t)((k->rep.length - 4) / 8);
	}
	xmit_bs_next(k);
}

/* ---- errors ---- */

static void xmit_on_error_chunk(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint32_t code = mblk__get_be32(p);
	uint16_t mlen = mblk__get_be16(p + 4);
	if (code == 0 || mlen > k->rep.length - 6) {
		xmit_proto_error(k, code == 0 ? "an error chunk with error 0"
					      : "an error chunk whose message "
						"overruns it");
		return;
	}
	char cause[200];
	int err = xmit_server_error(k, code, (const char *)p + 6,
				    mlen > 100 ? 100 : mlen, cause,
				    sizeof(cause));
	xmit_chunk_done(k, err, cause);
}

/* ---- headers ---- */

static void xmit_chunk(struct mblk__nbdc_conn *k)
{
	struct mblk__nbd_reply *r = &k->rep;
	uint32_t i = xmit_slot_find(k, r->cookie);
	char what[200];
	if (i == SLOT_NONE) {
		snprintf(what, sizeof(what),
			 "a reply for cookie 0x%llx, which names no request "
			 "in flight",
			 (unsigned long long)r->cookie);
		xmit_proto_error(k, what);
		return;
	}
	k->rslot = i;
	struct mblk__nbdc_slot *s = &k->slots[i];
	uint16_t cmd = s->cmd;
	uint64_t len = r->length;
	uint64_t max_data = xmit_piece_max(k, NBD_CMD_READ) + 64;

	switch (r->type) {
	case NBD_REPLY_TYPE_NONE:
		if (len != 0 || !(r->flags & NBD_REPLY_FLAG_DONE))
			break;
		xmit_chunk_done(k, 0, NULL);
		return;
	case NBD_REPLY_TYPE_OFFSET_DATA:
		if (cmd != NBD_CMD_READ || len < 9 || len > max_data)
			break;
		mblk__nbdc_want(k, 8, xmit_on_data_offset);
		return;
	case NBD_REPLY_TYPE_OFFSET_HOLE:
		if (cmd != NBD_CMD_READ || len != 12)
			break;
		mblk__nbdc_want(k, 12, xmit_on_hole);
		return;
	case NBD_REPLY_TYPE_BLOCK_STATUS:
		if (cmd != NBD_CMD_BLOCK_STATUS || k->ex.extended || len < 12 ||
		    (len - 4) % 8 != 0 || len > (64u << 20))
			break;
		mblk__nbdc_want(k, 4, xmit_on_bs_head);
		return;
	case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
		if (cmd != NBD_CMD_BLOCK_STATUS || !k->ex.extended ||
		    len < 24 || (len - 8) % 16 != 0 || len > (64u << 20))
			break;
		mblk__nbdc_want(k, 8, xmit_on_bs_head);
		return;
	default:
		if ((r->type & 0x8000) && len >= 6 && len <= 6 + 4096 + 8) {
			mblk__nbdc_want(k, (size_t)len, xmit_on_error_chunk);
			return;
		}
		break;
	}
	snprintf(what, sizeof(what),
		 "a reply chunk of type %u with %llu bytes%s to %s of bytes "
		 "%llu-%llu",
		 r->type, (unsigned long long)len,
		 (r->flags & NBD_REPLY_FLAG_DONE) ? " (done)" : "",
		 mblk__nbd_cmd_name(cmd), (unsigned long long)s->offset,
		 (unsigned long long)(s->offset + s->length - 1));
	xmit_proto_error(k, what);
}

static void xmit_on_simple(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	struct mblk__nbd_reply *r = &k->rep;
	r->kind = MBLK__NBD_SIMPLE;
	r->flags = 0;
	r->error = mblk__get_be32(p);
	r->cookie = mblk__get_be64(p + 4);
	uint32_t i = xmit_slot_find(k, r->cookie);
	char what[200];
	if (i == SLOT_NONE) {
		snprintf(what, sizeof(what),
			 "a simple reply for cookie 0x%llx, which names no "
			 "request in flight",
			 (unsigned long long)r->cookie);
		xmit_proto_error(k, what);
		return;
	}
	k->rslot = i;
	struct mblk__nbdc_slot *s = &k->slots[i];
	if (r->error) {
		char cause[200];
		int err = xmit_server_error(k, r->error, NULL, 0, cause,
					    sizeof(cause));
		xmit_chunk_done(k, err, cause);
		return;
	}
	if (s->cmd == NBD_CMD_READ) {
		if (k->ex.structured) {
			xmit_proto_error(k, "a simple reply to a read although "
					    "structured replies were "
					    "negotiated");
			return;
		}
		mblk_req *req = s->req;
		mblk__nbdc_want_data(k, req->iov, req->iovcnt,
				     s->offset - rctx(req)->base, s->length,
				     xmit_on_simple_data);
		return;
	}
	xmit_chunk_done(k, 0, NULL);
}

static void xmit_on_structured(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	struct mblk__nbd_reply *r = &k->rep;
	r->kind = MBLK__NBD_STRUCTURED;
	r->flags = mblk__get_be16(p);
	r->type = mblk__get_be16(p + 2);
	r->cookie = mblk__get_be64(p + 4);
	r->length = mblk__get_be32(p + 12);
	xmit_chunk(k);
}

static void xmit_on_magic(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint32_t m = mblk__get_be32(p);
	if (m == NBD_SIMPLE_REPLY_MAGIC) {
		mblk__nbdc_want(k, NBD_SIMPLE_REPLY_SIZE - 4, xmit_on_simple);
		return;
	}
	if (m == NBD_STRUCTURED_REPLY_MAGIC && k->ex.structured) {
		mblk__nbdc_want(k, NBD_STRUCTURED_REPLY_SIZE - 4,
				xmit_on_structured);
		return;
	}
	char what[160];
	snprintf(what, sizeof(what), "%s 0x%08x",
		 m == NBD_STRUCTURED_REPLY_MAGIC
			 ? "a structured reply chunk although structured "
			   "replies were not negotiated: magic"
			 : "a reply with a bad magic",
		 m);
	xmit_proto_error(k, what);
}

static void xmit_on_extended(struct mblk__nbdc_conn *k, const uint8_t *p)
{
	uint32_t m = mblk__get_be32(p);
	if (m != NBD_EXTENDED_REPLY_MAGIC) {
		char what[120];
		snprintf(what, sizeof(what),
			 "a reply with magic 0x%08x where extended headers "
			 "need 0x%08x",
			 m, (unsigned)NBD_EXTENDED_REPLY_MAGIC);
		xmit_proto_error(k, what);
		return;
	}
	struct mblk__nbd_reply *r = &k->rep;
	r->kind = MBLK__NBD_EXTENDED;
	r->flags = mblk__get_be16(p + 4);
	r->type = mblk__get_be16(p + 6);
	r->cookie = mblk__get_be64(p + 8);
	r->offset = mblk__get_be64(p + 16);
	r->length = mblk__get_be64(p + 24);
	xmit_chunk(k);
}

static void xmit_want_header(struct mblk__nbdc_conn *k)
{
	if (k->ex.extended)
		mblk__nbdc_want(k, NBD_EXTENDED_REPLY_SIZE, xmit_on_extended);
	else
		mblk__nbdc_want(k, 4, xmit_on_magic);
}

void mblk__nbdc_xmit_start(struct mblk__nbdc_conn *k)
{
	xmit_want_header(k);
	mblk__nbdc_conn_ref(k, k->inflight + k->queued > 0);
	xmit_pump(k);
}

/* ------------------------------------------------------------------ */
/* Stalls, draining, NBD_CMD_DISC                                      */

void mblk__nbdc_xmit_check_stall(struct mblk__nbdc_conn *k)
{
	uint64_t now = uv_now(k->loop);
	for (uint32_t i = 0; i < k->nslots; i++) {
		struct mblk__nbdc_slot *s = &k->slots[i];
		if (s->req == NULL || s->deadline > now)
			continue;
		uint64_t t = k->cfg->timeout_s ? k->cfg->timeout_s
					       : MBLK__NBDC_DEFAULT_TIMEOUT;
		if (s->cmd == NBD_CMD_FLUSH)
			mblk__nbdc_conn_fail(k, -ETIMEDOUT,
					     "%s did not answer a flush "
					     "within %llu s (timeout=%llu)",
					     k->cfg->server,
					     (unsigned long long)t,
					     (unsigned long long)t);
		else
			mblk__nbdc_conn_fail(
				k, -ETIMEDOUT,
				"%s did not answer %s of bytes %llu-%llu "
				"within %llu s (timeout=%llu)",
				k->cfg->server, mblk__nbd_cmd_name(s->cmd),
				(unsigned long long)s->offset,
				(unsigned long long)(s->offset + s->length - 1),
				(unsigned long long)t, (unsigned long long)t);
		return;
	}
}

void mblk__nbdc_xmit_drain(struct mblk__nbdc_conn *k,
			   void (*fn)(void *data, mblk_req *req), void *data)
{
	/* Collect first, then call: fn may submit elsewhere. */
	for (uint32_t i = 0; i < k->nslots; i++) {
		mblk_req *req = k->slots[i].req;
		if (req == NULL)
			continue;
		k->slots[i].req = NULL;
		k->slots[i].next_free = k->free_slot;
		k->free_slot = i;
		k->inflight--;
		struct mblk__nbdc_rctx *c = rctx(req);
		if (c->conn == k && !c->queued) {
			c->conn = NULL;
			fn(data, req);
		}
	}
	while (k->sq_head) {
		mblk_req *req = k->sq_head;
		struct mblk__nbdc_rctx *c = rctx(req);
		k->sq_head = c->next;
		c->queued = false;
		k->queued--;
		c->conn = NULL;
		fn(data, req);
	}
	k->sq_tail = NULL;
	k->inflight = 0;
	k->queued = 0;
	if (k->timer_inited)
		uv_timer_stop(&k->timer);
	mblk__nbdc_conn_ref(k, false);
}

static void xmit_on_disc_written(uv_write_t *w, int status)
{
	struct mblk__nbdc_conn *k = w->data;
	(void)status;
	mblk__nbdc_conn_close(k, k->on_closed);
}

void mblk__nbdc_xmit_disc(struct mblk__nbdc_conn *k,
			  void (*on_closed)(struct mblk__nbdc_conn *k))
{
	k->on_closed = on_closed;
	if (k->phase != MBLK__NBDC_TRANSMISSION || k->disc_sent) {
		mblk__nbdc_conn_close(k, k->on_closed);
		return;
	}
	k->disc_sent = true;
	struct mblk__nbd_request r = { .type = NBD_CMD_DISC };
	uint8_t *h = k->whdrs + (size_t)HDR_MAX * MBLK__NBDC_BATCH;
	size_t hl = mblk__nbd_request_encode(h, k->ex.extended, &r);
	uv_buf_t b = uv_buf_init((char *)h, (unsigned)hl);
	k->dreq.data = k;
	k->phase = MBLK__NBDC_DEAD; /* nothing more is parsed */
	if (uv_write(&k->dreq, &k->sock.stream, &b, 1, xmit_on_disc_written) <
	    0)
		mblk__nbdc_conn_close(k, k->on_closed);
}
