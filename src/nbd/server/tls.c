/* tls.c - TLS on an NBD server connection: STARTTLS, the handshake, and
 * the record layer between the socket and the connection's buffers.
 *
 * Design notes
 *
 *   socket ──► tin (ciphertext) ──pull──► GnuTLS ──recv──► rx / payload
 *   socket ◄── uv_write ◄── sink (tout, or a slot's tbuf) ◄──push── GnuTLS
 *
 * GnuTLS never sees the socket: conn.c reads raw bytes into tin and
 * calls mblk__nbds_conn_process, whose loop calls mblk__nbds_tls_pump to
 * advance the handshake or decrypt into rx (or straight into a WRITE's
 * payload buffer). Back-pressure is unchanged: nothing is decrypted while
 * the connection is blocked, GnuTLS holds at most one record, and raw
 * reading stops when tin is full.
 *
 * Sending: push appends to c->sink. A reply is encrypted into its slot's
 * own buffer (kept between requests, so the steady state does not
 * allocate) and written from there; the slot is released when the write
 * completes, as without TLS. Handshake messages and option replies go
 * through tout and a copying send.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define NBDS_TIN_CAP (64u * 1024)

static ssize_t tls_push(void *data, const void *buf, size_t len)
{
	struct nbds_conn *c = data;
	size_t need = *c->sink_len + len;
	if (need > *c->sink_cap) {
		size_t cap = *c->sink_cap ? *c->sink_cap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(*c->sink, cap);
		if (!p)
			return -ENOMEM;
		*c->sink = p;
		*c->sink_cap = cap;
	}
	memcpy(*c->sink + *c->sink_len, buf, len);
	*c->sink_len += len;
	return (ssize_t)len;
}

static ssize_t tls_pull(void *data, void *buf, size_t len)
{
	struct nbds_conn *c = data;
	size_t avail = c->tin_len - c->tin_off;
	if (avail == 0)
		return -EAGAIN;
	size_t n = avail < len ? avail : len;
	memcpy(buf, c->tin + c->tin_off, n);
	c->tin_off += n;
	if (c->tin_off == c->tin_len)
		c->tin_off = c->tin_len = 0;
	return (ssize_t)n;
}

static void tls_sink_tout(struct nbds_conn *c)
{
	c->sink = &c->tout;
	c->sink_len = &c->tout_len;
	c->sink_cap = &c->tout_cap;
}

/* Sends what GnuTLS queued in tout. */
static int tls_flush_tout(struct nbds_conn *c)
{
	if (c->tout_len == 0)
		return 0;
	size_t n = c->tout_len;
	c->tout_len = 0;
	return mblk__nbds_conn_send_raw(c, c->tout, n);
}

int mblk__nbds_tls_start(struct nbds_conn *c)
{
	c->tin = malloc(NBDS_TIN_CAP);
	if (!c->tin) {
		mblk__nbds_conn_drop(c, "out of memory for TLS");
		return -1;
	}
	c->tin_cap = NBDS_TIN_CAP;
	/* Whatever followed STARTTLS is the start of the handshake. */
	size_t left = c->rx_len - c->rx_off;
	if (left > c->tin_cap)
		left = c->tin_cap; /* a 64 KiB ClientHello: it fails */
	memcpy(c->tin, c->rx + c->rx_off, left);
	c->tin_len = left;
	c->rx_off = c->rx_len = 0;
	if (mblk__nbd_tls_session_new(c->srv->tls, tls_push, tls_pull, c,
				      &c->tls) < 0) {
		mblk__nbds_conn_drop(c, "%s", mblk_last_error());
		return -1;
	}
	c->tls_handshaking = true;
	/* What was negotiated in clear is forgotten (the spec). */
	c->structured = c->extended = c->meta_set = false;
	return 0;
}

static int tls_handshake(struct nbds_conn *c)
{
	tls_sink_tout(c);
	int r = mblk__nbd_tls_handshake(c->tls);
	if (tls_flush_tout(c) < 0)
		return -1;
	if (r == -EAGAIN)
		return 0;
	if (r < 0) {
		mblk__nbds_conn_drop(c, "%s", mblk__nbd_tls_error(c->tls));
		return -1;
	}
	c->tls_handshaking = false;
	c->tls_up = true;
	return 1;
}

int mblk__nbds_tls_pump(struct nbds_conn *c)
{
	if (!c->tls)
		return 0;
	if (c->tls_handshaking) {
		int r = tls_handshake(c);
		if (r <= 0)
			return r;
	}
	if (!c->tls_up || c->blocked || c->disc)
		return 0;
	uint8_t *to;
	size_t room;
	struct nbds_slot *s = c->pay;
	bool direct = s && c->rx_len == c->rx_off;
	if (direct) {
		to = s->buf + s->payload_got;
		room = (size_t)(s->rq.length - s->payload_got);
	} else {
		to = c->rx + c->rx_len;
		room = c->rx_cap - c->rx_len;
	}
	if (room == 0)
		return 0;
	ssize_t n = mblk__nbd_tls_recv(c->tls, to, room);
	if (n == -EAGAIN)
		return 0;
	if (n == 0) {
		mblk__nbds_conn_drop(
			c, c->phase == NBDS_TRANSMISSION && !c->pay &&
					   c->rx_len == 0
				   ? NULL
				   : "the client closed the TLS session "
				     "in the middle of a message");
		return -1;
	}
	if (n < 0) {
		mblk__nbds_conn_drop(c, "%s", mblk__nbd_tls_error(c->tls));
		return -1;
	}
	if (direct) {
		s->payload_got += (uint64_t)n;
		if (s->payload_got == s->rq.length) {
			c->pay = NULL;
			mblk__nbds_transmit_payload_done(s);
		}
	} else {
		c->rx_len += (size_t)n;
	}
	return 1;
}

int mblk__nbds_tls_seal(struct nbds_conn *c, uint8_t **buf, size_t *len,
			size_t *cap, const uv_buf_t *bufs, unsigned n)
{
	c->sink = buf;
	c->sink_len = len;
	c->sink_cap = cap;
	*len = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mblk__nbd_tls_send(c->tls, bufs[i].base, bufs[i].len) < 0) {
			tls_sink_tout(c);
			mblk__nbds_conn_drop(c, "%s",
					     mblk__nbd_tls_error(c->tls));
			return -1;
		}
	}
	tls_sink_tout(c);
	return 0;
}

void mblk__nbds_tls_end(struct nbds_conn *c)
{
	if (!c->tls)
		return;
	if (c->tls_up) {
		tls_sink_tout(c);
		mblk__nbd_tls_bye(c->tls);
		tls_flush_tout(c);
	}
	mblk__nbd_tls_session_free(c->tls);
	c->tls = NULL;
	c->tls_up = c->tls_handshaking = false;
}
