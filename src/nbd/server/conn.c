/* conn.c - one NBD connection: its socket, the receive buffer and the
 * reading that stops under back-pressure, sending, the request slots and
 * their buffers, and teardown.
 *
 * Design notes
 * - Reading is on exactly when the connection can take another request:
 *   not closing, not blocked on a slot or the byte budget. conn_update
 *   is the one place that calls uv_read_start / uv_read_stop.
 * - Closing lingers: once the last reply is queued, uv_shutdown sends
 *   our FIN after it, and the connection reads and drops what the client
 *   still sends until it closes (or NBDS_LINGER_MS pass). Closing a
 *   socket whose receive queue holds unread bytes makes the kernel reset
 *   the connection, and a reset destroys replies the client has not read
 *   yet: a client that pipelined requests past a DISC, or past the
 *   server's shutdown, would lose answers it was owed.
 * - Teardown waits for three things: the slots in flight (a device may
 *   still write into a buffer; a reply may still be in the socket's
 *   queue), the handshake sends, and the three handles (socket, timer,
 *   the reply flusher).
 *   conn_maybe_free checks all of them; everything that lowers a count
 *   calls it.
 * - The slot budget: a request takes a free slot whose buffer already
 *   fits (the smallest), else any free slot whose buffer is grown. Buffer
 *   memory (buf_total) never exceeds max_bytes: idle slots' buffers are
 *   freed to make room, and if that is not enough the request waits for
 *   one in flight to finish (there is always one, since max_bytes is at
 *   least max_payload).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mblk/backend.h>

#include "server.h"

static void conn_update(struct nbds_conn *c);
static void conn_arm_request_timer(struct nbds_conn *c);
static void conn_parse(struct nbds_conn *c);

void mblk__nbds_conn_log(struct nbds_conn *c, const char *fmt, ...)
{
	char line[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mblk__nbds_log(c->srv, "connection %llu (%s): %s",
		       (unsigned long long)c->id, c->peer, line);
}

static void conn_free(struct nbds_conn *c)
{
	struct mblk_nbd_server *srv = c->srv;
	for (unsigned i = 0; i < c->nslots; i++) {
		free(c->slots[i]->buf);
		free(c->slots[i]->tbuf);
		free(c->slots[i]);
	}
	mblk__nbd_tls_session_free(c->tls);
	free(c->tin);
	free(c->tout);
	free(c->slots);
	free(c->rx);
	free(c->meta_export);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bool served = c->served;
	free(c);
	mblk__nbds_conn_gone(srv, served);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct nbds_conn *c = h->data;
	if (--c->handles_open == 0)
		conn_free(c);
}

static void conn_close_handles(struct nbds_conn *c)
{
	if (uv_is_closing(&c->u.h))
		return;
	uv_close(&c->u.h, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->flusher, conn_handle_closed);
}

/* Lingering: what the client still sends is read and dropped. */
static void conn_linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct nbds_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->rx, (unsigned)c->rx_cap);
}

static void conn_linger_read(uv_stream_t *stream, ssize_t nread,
			     const uv_buf_t *buf)
{
	(void)buf;
	if (nread < 0) /* the client closed too, or the socket broke */
		conn_close_handles(stream->data);
}

static void conn_linger_timeout(uv_timer_t *t)
{
	conn_close_handles(t->data);
}

/* Our FIN is out, after every reply: read until the client closes, for
 * at most NBDS_LINGER_MS. */
static void conn_shutdown_done(uv_shutdown_t *req, int status)
{
	struct nbds_conn *c = req->data;
	c->writes--;
	if (status < 0 ||
	    uv_read_start(&c->u.s, conn_linger_alloc, conn_linger_read) < 0) {
		conn_close_handles(c);
		return;
	}
	c->reading = true;
	uv_timer_start(&c->timer, conn_linger_timeout, NBDS_LINGER_MS, 0);
}

static void conn_maybe_free(struct nbds_conn *c)
{
	if (c->phase != NBDS_CLOSING || c->nactive > 0 || c->writes > 0 ||
	    c->handles_open != 3 || uv_is_closing(&c->u.h))
		return;
	if (c->tls) {
		/* close_notify first, once; its send brings us back here. */
		mblk__nbds_tls_end(c);
		if (c->writes > 0)
			return;
	}
	if (!c->lingering) {
		c->lingering = true;
		if (uv_is_writable(&c->u.s) &&
		    uv_shutdown(&c->shut, &c->u.s, conn_shutdown_done) == 0) {
			c->writes++;
			return;
		}
	}
	conn_close_handles(c);
}

/* Stops reading for good; the connection goes once nothing is in flight.
 * A WRITE whose payload was still arriving was never acknowledged and is
 * forgotten. */
static void conn_close(struct nbds_conn *c)
{
	if (c->phase == NBDS_CLOSING)
		return;
	c->phase = NBDS_CLOSING;
	uv_timer_stop(&c->timer);
	if (c->pay) {
		struct nbds_slot *s = c->pay;
		c->pay = NULL;
		mblk__nbds_slot_put(s);
	}
	conn_update(c);
	conn_maybe_free(c);
}

void mblk__nbds_conn_drop(struct nbds_conn *c, const char *fmt, ...)
{
	if (fmt && c->phase != NBDS_CLOSING) {
		char line[700];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		mblk__nbds_conn_log(c, "%s; dropping the connection", line);
	}
	c->dropped = true;
	conn_close(c);
}

/* The server is shutting down: a connection still negotiating goes now;
 * one in transmission stops reading and drains. */
void mblk__nbds_conn_begin_close(struct nbds_conn *c)
{
	conn_close(c);
}

void mblk__nbds_conn_consume(struct nbds_conn *c, size_t n)
{
	c->rx_off += n;
	if (c->rx_off == c->rx_len)
		c->rx_off = c->rx_len = 0;
}

/* ------------------------------------------------------------------ */
/* Sending during the handshake: small, copied, allocated (not a hot
 * path). */

struct conn_send_req {
	uv_write_t wr;
	struct nbds_conn *c;
	uint8_t data[];
};

static void conn_send_done(uv_write_t *wr, int status)
{
	struct conn_send_req *sr = (struct conn_send_req *)wr;
	struct nbds_conn *c = sr->c;
	free(sr);
	c->writes--;
	if (status < 0 && c->phase != NBDS_CLOSING)
		mblk__nbds_conn_drop(c, "sending failed: %s",
				     uv_strerror(status));
	conn_maybe_free(c);
}

int mblk__nbds_conn_send(struct nbds_conn *c, const void *data, size_t len)
{
	if (c->phase == NBDS_CLOSING)
		return -ESHUTDOWN;
	if (c->tls_up) {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		size_t n;
		if (mblk__nbds_tls_seal(c, &c->tout, &c->tout_len, &c->tout_cap,
					&b, 1) < 0)
			return -EPROTO;
		n = c->tout_len;
		c->tout_len = 0;
		return mblk__nbds_conn_send_raw(c, c->tout, n);
	}
	return mblk__nbds_conn_send_raw(c, data, len);
}

int mblk__nbds_conn_send_raw(struct nbds_conn *c, const void *data, size_t len)
{
	if (uv_is_closing(&c->u.h))
		return -ESHUTDOWN;
	struct conn_send_req *sr = malloc(sizeof(*sr) + len);
	if (!sr) {
		mblk__nbds_conn_drop(c, "out of memory for a reply");
		return -ENOMEM;
	}
	sr->c = c;
	memcpy(sr->data, data, len);
	uv_buf_t b = uv_buf_init((char *)sr->data, (unsigned)len);
	int r = uv_write(&sr->wr, &c->u.s, &b, 1, conn_send_done);
	if (r < 0) {
		free(sr);
		mblk__nbds_conn_drop(c, "sending failed: %s", uv_strerror(r));
		return r;
	}
	c->writes++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Slots */

static void slot_free_buffer(struct nbds_conn *c, struct nbds_slot *s)
{
	c->buf_total -= s->buf_cap;
	free(s->buf);
	s->buf = NULL;
	s->buf_cap = 0;
}

/* Grows s's buffer to len bytes within the budget. Returns 0, -EAGAIN
 * (wait for a slot to be released) or -ENOMEM. */
static int slot_grow(struct nbds_conn *c, struct nbds_slot *s, size_t len)
{
	uint64_t limit = c->srv->opts.max_bytes;
	for (struct nbds_slot *f = c->free;
	     f && c->buf_total - s->buf_cap + len > limit; f = f->next_free)
		if (f != s && f->buf)
			slot_free_buffer(c, f);
	if (c->buf_total - s->buf_cap + len > limit)
		return -EAGAIN;
	slot_free_buffer(c, s);
	size_t align = c->info.buf_align > 64 ? c->info.buf_align : 64;
	void *p;
	if (posix_memalign(&p, align, len) != 0)
		return -ENOMEM;
	s->buf = p;
	s->buf_cap = len;
	c->buf_total += len;
	return 0;
}

struct nbds_slot *mblk__nbds_slot_get(struct nbds_conn *c, size_t buf)
{
	if (c->nactive >= c->srv->opts.max_requests) {
		c->blocked = true;
		return NULL;
	}
	/* The free slot with the smallest buffer that fits, else the one
	 * with the largest buffer (least to grow). */
	struct nbds_slot **bestp = NULL, **p;
	for (p = &c->free; *p; p = &(*p)->next_free) {
		size_t cap = (*p)->buf_cap;
		if (!bestp)
			bestp = p;
		else if (cap >= buf &&
			 ((*bestp)->buf_cap < buf || cap < (*bestp)->buf_cap))
			bestp = p;
		else if (cap < buf && (*bestp)->buf_cap < buf &&
			 cap > (*bestp)->buf_cap)
			bestp = p;
	}
	struct nbds_slot *s;
	if (bestp) {
		s = *bestp;
		*bestp = s->next_free;
	} else {
		struct nbds_slot **slots =
			realloc(c->slots, (c->nslots + 1) * sizeof(*slots));
		if (!slots)
			goto nomem;
		c->slots = slots;
		s = calloc(1, sizeof(*s));
		if (!s)
			goto nomem;
		s->conn = c;
		slots[c->nslots++] = s;
	}
	if (buf > s->buf_cap) {
		/* Round small buffers up so that sizes nearby share one. */
		size_t want = buf < 4096 ? 4096 : buf;
		int r = slot_grow(c, s, want);
		if (r == -EAGAIN && c->nactive > 0) {
			s->next_free = c->free;
			c->free = s;
			c->blocked = true;
			return NULL;
		}
		if (r < 0) {
			s->next_free = c->free;
			c->free = s;
			goto nomem;
		}
	}
	s->next_free = NULL;
	s->nbufs = 0;
	s->nwalk = 0;
	s->payload_got = 0;
	c->nactive++;
	return s;
nomem:
	mblk__nbds_conn_drop(c, "out of memory for a request");
	return NULL;
}

void mblk__nbds_slot_put(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	s->state = NBDS_SLOT_FREE;
	s->next_free = c->free;
	c->free = s;
	c->nactive--;
	if (c->phase == NBDS_CLOSING) {
		conn_maybe_free(c);
		return;
	}
	if (c->blocked) {
		c->blocked = false;
		mblk__nbds_conn_process(c);
		if (c->phase == NBDS_TRANSMISSION)
			conn_arm_request_timer(c);
	}
	if (c->disc && c->nactive == 0) {
		conn_close(c);
		return;
	}
	conn_update(c);
}

static void slot_sent(uv_write_t *wr, int status)
{
	struct nbds_slot *s = wr->data;
	struct nbds_conn *c = s->conn;
	if (status < 0 && c->phase != NBDS_CLOSING)
		mblk__nbds_conn_drop(c, "sending the reply to %s failed: %s",
				     mblk__nbd_cmd_name(s->rq.type),
				     uv_strerror(status));
	mblk__nbds_slot_put(s);
}

/* The bytes of s's reply still to write. */
static size_t slot_out_len(const struct nbds_slot *s)
{
	size_t n = 0;
	for (unsigned i = 0; i < s->nbufs; i++)
		n += s->bufs[i].len;
	return n;
}

/* Drops the first n bytes (fewer than slot_out_len) of s's reply. */
static void slot_out_advance(struct nbds_slot *s, size_t n)
{
	unsigned i = 0;
	while (n >= s->bufs[i].len)
		n -= s->bufs[i++].len;
	s->bufs[i].base += n;
	s->bufs[i].len -= n;
	memmove(s->bufs, s->bufs + i, (s->nbufs - i) * sizeof(s->bufs[0]));
	s->nbufs -= i;
}

/* Writes s's reply with a write request of its own, after whatever libuv
 * has queued already. */
static void slot_write(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	if (uv_is_closing(&c->u.h)) {
		mblk__nbds_slot_put(s);
		return;
	}
	s->wr.data = s;
	int r = uv_write(&s->wr, &c->u.s, s->bufs, s->nbufs, slot_sent);
	if (r < 0) {
		if (c->phase != NBDS_CLOSING)
			mblk__nbds_conn_drop(c, "sending a reply failed: %s",
					     uv_strerror(r));
		mblk__nbds_slot_put(s);
	}
}

static struct nbds_slot *conn_out_pop(struct nbds_conn *c)
{
	struct nbds_slot *s = c->out_head;
	c->out_head = s->next_out;
	if (!c->out_head)
		c->out_tail = &c->out_head;
	return s;
}

/* Buffers gathered into one writev (IOV_MAX is 1024). */
#define CONN_FLUSH_BUFS 128

/* The prepare handle: writes the out queue, as much as the socket takes
 * at once, with one uv_try_write per CONN_FLUSH_BUFS buffers. A reply the
 * socket did not take whole, and every one after it, goes to uv_write
 * (in order: libuv's queue then keeps it). Putting a slot may resume
 * parsing and queue more replies; the loop takes them too. */
static void conn_flush(uv_prepare_t *h)
{
	struct nbds_conn *c = h->data;
	uv_prepare_stop(h);
	while (c->out_head) {
		uv_buf_t v[CONN_FLUSH_BUFS];
		unsigned nv = 0;
		size_t total = 0;
		int n = UV_EAGAIN;
		if (!uv_is_closing(&c->u.h) &&
		    uv_stream_get_write_queue_size(&c->u.s) == 0) {
			for (struct nbds_slot *s = c->out_head;
			     s && nv + s->nbufs <= CONN_FLUSH_BUFS;
			     s = s->next_out) {
				memcpy(v + nv, s->bufs, s->nbufs * sizeof(*v));
				nv += s->nbufs;
				total += slot_out_len(s);
			}
			n = uv_try_write(&c->u.s, v, nv);
		}
		size_t sent = n > 0 ? (size_t)n : 0;
		while (c->out_head) {
			size_t len = slot_out_len(c->out_head);
			if (sent < len) {
				if (sent)
					slot_out_advance(c->out_head, sent);
				break;
			}
			sent -= len;
			mblk__nbds_slot_put(conn_out_pop(c));
		}
		if (n < 0 || (size_t)n < total)
			while (c->out_head)
				slot_write(conn_out_pop(c));
	}
}

void mblk__nbds_slot_send(struct nbds_slot *s)
{
	struct nbds_conn *c = s->conn;
	s->state = NBDS_SLOT_REPLY;
	if (uv_is_closing(&c->u.h)) {
		mblk__nbds_slot_put(s);
		return;
	}
	if (c->tls_up) {
		if (mblk__nbds_tls_seal(c, &s->tbuf, &s->tbuf_len, &s->tbuf_cap,
					s->bufs, s->nbufs) < 0) {
			mblk__nbds_slot_put(s);
			return;
		}
		s->bufs[0] =
			uv_buf_init((char *)s->tbuf, (unsigned)s->tbuf_len);
		s->nbufs = 1;
	} else if (c->tls) {
		/* The session is not up (a failed handshake): never send a
		 * reply in clear on a connection that asked for TLS. */
		mblk__nbds_slot_put(s);
		return;
	}
	s->next_out = NULL;
	*c->out_tail = s;
	c->out_tail = &s->next_out;
	if (!uv_is_active((uv_handle_t *)&c->flusher))
		uv_prepare_start(&c->flusher, conn_flush);
}

/* ------------------------------------------------------------------ */
/* Receiving */

void mblk__nbds_conn_process(struct nbds_conn *c)
{
	do
		conn_parse(c);
	while (c->phase != NBDS_CLOSING && mblk__nbds_tls_pump(c) > 0);
	conn_update(c);
}

/* Parses what rx holds (plaintext), as far as possible. */
static void conn_parse(struct nbds_conn *c)
{
	while (c->phase != NBDS_CLOSING && !c->blocked) {
		int r;
		if (c->pay) {
			struct nbds_slot *s = c->pay;
			size_t avail = c->rx_len - c->rx_off;
			uint64_t need = s->rq.length - s->payload_got;
			size_t n = avail < need ? avail : (size_t)need;
			if (n) {
				memcpy(s->buf + s->payload_got,
				       c->rx + c->rx_off, n);
				s->payload_got += n;
				mblk__nbds_conn_consume(c, n);
			}
			if (s->payload_got < s->rq.length)
				break;
			c->pay = NULL;
			mblk__nbds_transmit_payload_done(s);
			continue;
		}
		if (c->phase == NBDS_TRANSMISSION)
			r = mblk__nbds_transmit_step(c);
		else
			r = mblk__nbds_handshake_step(c);
		if (r <= 0)
			break;
	}
	/* Keep the unparsed tail at the start, so the buffer always has
	 * room for a whole option or header after it. */
	if (c->rx_off > 0) {
		memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
		c->rx_len -= c->rx_off;
		c->rx_off = 0;
	}
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct nbds_conn *c = h->data;
	(void)suggested;
	struct nbds_slot *s = c->pay;
	if (c->tls) {
		/* Ciphertext: mblk__nbds_tls_pump decrypts it. */
		if (c->tin_off > 0) {
			memmove(c->tin, c->tin + c->tin_off,
				c->tin_len - c->tin_off);
			c->tin_len -= c->tin_off;
			c->tin_off = 0;
		}
		c->rx_direct = false;
		*buf = uv_buf_init((char *)c->tin + c->tin_len,
				   (unsigned)(c->tin_cap - c->tin_len));
		return;
	}
	if (s && c->rx_len == c->rx_off) {
		/* Straight into the payload buffer: no copy. */
		c->rx_direct = true;
		uint64_t need = s->rq.length - s->payload_got;
		size_t n = need > (1u << 30) ? (1u << 30) : (size_t)need;
		*buf = uv_buf_init((char *)s->buf + s->payload_got,
				   (unsigned)n);
		return;
	}
	c->rx_direct = false;
	*buf = uv_buf_init((char *)c->rx + c->rx_len,
			   (unsigned)(c->rx_cap - c->rx_len));
}

static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct nbds_conn *c = stream->data;
	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF) {
			if (c->phase == NBDS_TRANSMISSION && !c->pay &&
			    c->rx_len == c->rx_off)
				/* Gone without NBD_CMD_DISC; what is in
				 * flight still finishes. */
				mblk__nbds_conn_drop(c, NULL);
			else
				mblk__nbds_conn_drop(
					c,
					"the client closed the connection %s",
					c->pay ? "in the middle of a write "
						 "payload"
					: c->phase == NBDS_TRANSMISSION
						? "in the middle of a request"
						: "during the handshake");
		} else {
			mblk__nbds_conn_drop(c, "reading failed: %s",
					     uv_strerror((int)nread));
		}
		return;
	}
	uint64_t reqs_before = c->srv->rx_requests;
	if (c->tls) {
		c->tin_len += (size_t)nread;
	} else if (c->rx_direct) {
		c->pay->payload_got += (uint64_t)nread;
		if (c->pay->payload_got == c->pay->rq.length) {
			struct nbds_slot *s = c->pay;
			c->pay = NULL;
			mblk__nbds_transmit_payload_done(s);
		}
	} else {
		c->rx_len += (size_t)nread;
	}
	mblk__nbds_conn_process(c);
	/* A client that waits for each reply has one request here at most:
	 * the one this read brought, or a payload's. */
	mblk__nbds_poll_after_read(c->srv,
				   c->srv->rx_requests - reqs_before <= 1 &&
					   c->nactive <= 1);
	if (c->phase == NBDS_TRANSMISSION)
		conn_arm_request_timer(c);
}

static void conn_update(struct nbds_conn *c)
{
	bool room = c->tls ? c->tin_len - c->tin_off < c->tin_cap
			   : c->pay || c->rx_len < c->rx_cap;
	bool want = c->phase != NBDS_CLOSING && !c->blocked && !c->disc && room;
	if (want == c->reading || uv_is_closing(&c->u.h) || c->lingering)
		return;
	if (want) {
		int r = uv_read_start(&c->u.s, conn_alloc, conn_read);
		if (r < 0) {
			mblk__nbds_conn_drop(c, "cannot read: %s",
					     uv_strerror(r));
			return;
		}
	} else {
		uv_read_stop(&c->u.s);
	}
	c->reading = want;
}

/* In transmission, is a request half in (a header or a payload begun)
 * through the client's fault, not ours (blocked: we stopped reading)? */
static bool conn_partial(const struct nbds_conn *c)
{
	return c->phase == NBDS_TRANSMISSION && !c->blocked && !c->disc &&
	       (c->pay || c->rx_len > c->rx_off ||
		(c->tls && c->tin_len > c->tin_off));
}

static void conn_timeout(uv_timer_t *t)
{
	struct nbds_conn *c = t->data;
	if (c->phase == NBDS_CLIENT_FLAGS || c->phase == NBDS_OPTIONS)
		mblk__nbds_conn_drop(c, "the handshake took longer than %u ms",
				     c->srv->opts.handshake_ms);
	else if (conn_partial(c))
		mblk__nbds_conn_drop(c, "a request stalled half-sent for %u ms",
				     c->srv->opts.request_ms);
}

/* The stall deadline in transmission: armed while a request is half in,
 * restarted by every read that brings bytes. */
static void conn_arm_request_timer(struct nbds_conn *c)
{
	if (conn_partial(c))
		uv_timer_start(&c->timer, conn_timeout, c->srv->opts.request_ms,
			       0);
	else if (c->phase == NBDS_TRANSMISSION &&
		 uv_is_active((uv_handle_t *)&c->timer))
		uv_timer_stop(&c->timer);
}

static void conn_describe_peer(struct nbds_conn *c, bool is_pipe)
{
	if (is_pipe) {
		snprintf(c->peer, sizeof(c->peer), "unix");
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (void *)&ss;
			uv_ip6_name(s6, addr, sizeof(addr));
			port = ntohs(s6->sin6_port);
		} else {
			struct sockaddr_in *s4 = (void *)&ss;
			uv_ip4_name(s4, addr, sizeof(addr));
			port = ntohs(s4->sin_port);
		}
	}
	snprintf(c->peer, sizeof(c->peer), "%s%s%s:%d",
		 ss.ss_family == AF_INET6 ? "[" : "", addr,
		 ss.ss_family == AF_INET6 ? "]" : "", port);
}

/* Accepts a connection and closes it at once, so that a listener the
 * server cannot serve does not stall (libuv stops polling a listener
 * whose connection is not accepted). */
static void conn_refuse(struct mblk_nbd_server *srv, uv_stream_t *server)
{
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} *u = malloc(sizeof(*u));
	if (!u)
		return;
	if (server->type == UV_NAMED_PIPE)
		uv_pipe_init(srv->loop, &u->pipe, 0);
	else
		uv_tcp_init(srv->loop, &u->tcp);
	uv_accept(server, (uv_stream_t *)u);
	uv_close((uv_handle_t *)u, (uv_close_cb)free);
}

/* A new connection: accepted from server, or the connected fd. */
int mblk__nbds_conn_start(struct mblk_nbd_server *srv, uv_stream_t *server,
			  int fd)
{
	struct nbds_conn *c = calloc(1, sizeof(*c));
	size_t rx_cap = srv->opts.max_option + NBD_OPTION_HEADER_SIZE;
	if (c)
		c->rx = malloc(rx_cap);
	if (!c || !c->rx) {
		if (c)
			free(c);
		mblk__nbds_log(srv, "out of memory for a new connection");
		if (server)
			conn_refuse(srv, server);
		return -ENOMEM;
	}
	c->srv = srv;
	c->rx_cap = rx_cap;
	c->id = srv->next_id++;
	bool is_pipe;
	int r;
	if (server) {
		is_pipe = server->type == UV_NAMED_PIPE;
		if (is_pipe)
			uv_pipe_init(srv->loop, &c->u.pipe, 0);
		else
			uv_tcp_init(srv->loop, &c->u.tcp);
		r = uv_accept(server, &c->u.s);
	} else {
		is_pipe = uv_guess_handle(fd) == UV_NAMED_PIPE;
		if (is_pipe) {
			uv_pipe_init(srv->loop, &c->u.pipe, 0);
			r = uv_pipe_open(&c->u.pipe, fd);
		} else {
			uv_tcp_init(srv->loop, &c->u.tcp);
			r = uv_tcp_open(&c->u.tcp, fd);
		}
	}
	c->u.h.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	uv_prepare_init(srv->loop, &c->flusher);
	c->flusher.data = c;
	c->shut.data = c;
	c->out_tail = &c->out_head;
	c->handles_open = 3;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (r < 0) {
		mblk__nbds_log(srv, "accepting a connection failed: %s",
			       uv_strerror(r));
		if (!server)
			close(fd);
		c->phase = NBDS_CLOSING;
		conn_maybe_free(c);
		return r;
	}
	if (!is_pipe)
		uv_tcp_nodelay(&c->u.tcp, 1);
	else
		(void)uv_send_buffer_size(&c->u.h,
					  &(int){ MBLK__NBD_UNIX_SNDBUF });
	conn_describe_peer(c, is_pipe);
	if (srv->closing || srv->nconns > srv->opts.max_connections) {
		if (!srv->closing)
			mblk__nbds_conn_log(c,
					    "%u connections are open already "
					    "(the maximum); refusing this one",
					    srv->nconns - 1);
		c->phase = NBDS_CLOSING;
		conn_maybe_free(c);
		return 0;
	}
	c->served = true;
	uv_timer_start(&c->timer, conn_timeout, srv->opts.handshake_ms, 0);
	mblk__nbds_handshake_start(c);
	conn_update(c);
	return 0;
}
