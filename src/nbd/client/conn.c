/* conn.c - one NBD connection: socket, receive buffer, timer, closing.
 *
 * Design notes
 *
 * A connection goes CONNECTING -> HANDSHAKE -> TRANSMISSION, or to DEAD
 * from any of them. CONNECTING resolves the host with uv_getaddrinfo
 * (TCP) and tries each address in turn with a non-blocking connect, or
 * connects a uv_pipe_t to the socket path. One timer bounds every wait:
 * until the handshake ends it is a single deadline (timeout seconds for
 * the whole of connecting and haggling); in transmission it ticks while
 * commands are in flight and xmit.c fails the connection if one has
 * waited longer than the timeout.
 *
 * Receiving is the "want" machinery of client.h. The staging buffer
 * rbuf holds [rpos, rlen) unparsed bytes; read_cb appends, feed()
 * hands them to the step that waits for them. Only when a data payload
 * of at least DIRECT_MIN bytes is wanted and nothing is staged does
 * alloc_cb lend libuv the caller's current buffer itself: small replies
 * are batched through rbuf, big ones land in place (and after a big
 * payload, the next header is read alone, so that the payload after it
 * lands in place too). libuv reads into one buffer per read(); when the
 * caller's buffers are many (a read into 4 KiB pages), conn_readv_data
 * goes on with readv() over the next ones, so a large payload costs a
 * few system calls per socket buffer's worth, whatever its iovecs.
 *
 * Handles: the socket and the timer. handles_open counts those not yet
 * closed; on_closed runs when it reaches zero, and only then may the
 * owner free the connection.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client.h"

#define RBUF_SIZE (256u * 1024u)
#define DIRECT_MIN (64u * 1024u)
/* Buffers one readv of payload fills (conn_readv_data). */
#define READV_MAX 64

int mblk__nbdc_conn_init(struct mblk__nbdc_conn *k, uv_loop_t *loop,
			 const struct mblk__nbdc_cfg *cfg, void *owner)
{
	memset(k, 0, sizeof(*k));
	k->loop = loop;
	k->cfg = cfg;
	k->owner = owner;
	k->rcap = RBUF_SIZE;
	k->rbuf = malloc(k->rcap);
	if (k->rbuf == NULL)
		return -ENOMEM;
	return mblk__nbdc_xmit_init(k);
}

void mblk__nbdc_conn_free(struct mblk__nbdc_conn *k)
{
	if (k->tls_wbuf.base)
		mblk__nbdc_tls_release(k, &k->tls_wbuf);
	if (k->tls_dbuf.base)
		mblk__nbdc_tls_release(k, &k->tls_dbuf);
	mblk__nbdc_tls_free(k);
	mblk__nbdc_xmit_free(k);
	free(k->rbuf);
	free(k->ex.description);
	if (k->ai_list)
		uv_freeaddrinfo(k->ai_list);
	k->rbuf = NULL;
	k->ex.description = NULL;
	k->ai_list = NULL;
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */

static void conn_handle_closed(uv_handle_t *h)
{
	struct mblk__nbdc_conn *k = h->data;
	if (--k->handles_open == 0 && k->on_closed)
		k->on_closed(k);
}

void mblk__nbdc_conn_close(struct mblk__nbdc_conn *k,
			   void (*on_closed)(struct mblk__nbdc_conn *k))
{
	k->phase = MBLK__NBDC_DEAD;
	k->on_closed = on_closed;
	bool any = false;
	if (k->resolving)
		uv_cancel((uv_req_t *)&k->gai);
	if (k->sock_inited && !uv_is_closing(&k->sock.handle)) {
		uv_close(&k->sock.handle, conn_handle_closed);
		any = true;
	}
	if (k->timer_inited && !uv_is_closing((uv_handle_t *)&k->timer)) {
		uv_close((uv_handle_t *)&k->timer, conn_handle_closed);
		any = true;
	}
	if (!any && k->handles_open == 0 && on_closed)
		on_closed(k);
}

void mblk__nbdc_conn_ref(struct mblk__nbdc_conn *k, bool ref)
{
	if (k->referenced == ref)
		return;
	k->referenced = ref;
	if (k->sock_inited && !uv_is_closing(&k->sock.handle)) {
		if (ref)
			uv_ref(&k->sock.handle);
		else
			uv_unref(&k->sock.handle);
	}
	if (k->timer_inited) {
		if (ref)
			uv_ref((uv_handle_t *)&k->timer);
		else
			uv_unref((uv_handle_t *)&k->timer);
	}
}

void mblk__nbdc_conn_fail(struct mblk__nbdc_conn *k, int status,
			  const char *fmt, ...)
{
	if (k->phase == MBLK__NBDC_DEAD)
		return;
	enum mblk__nbdc_phase was = k->phase;
	k->phase = MBLK__NBDC_DEAD;
	k->err = status;
	char msg[sizeof(k->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(k->msg, msg, sizeof(msg));
	k->want = MBLK__NBDC_WANT_NONE;
	if (k->sock_inited && !uv_is_closing(&k->sock.handle))
		uv_read_stop(&k->sock.stream);
	if (k->timer_inited)
		uv_timer_stop(&k->timer);
	if (was == MBLK__NBDC_TRANSMISSION)
		mblk__nbdc_lost(k);
	else
		k->on_ready(k, status, k->msg);
}

/* ------------------------------------------------------------------ */
/* The timer                                                           */

static uint64_t conn_timeout_ms(const struct mblk__nbdc_conn *k)
{
	uint64_t s = k->cfg->timeout_s ? k->cfg->timeout_s
				       : MBLK__NBDC_DEFAULT_TIMEOUT;
	return s * 1000;
}

static void conn_on_timer(uv_timer_t *t)
{
	struct mblk__nbdc_conn *k = t->data;
	if (k->phase == MBLK__NBDC_TRANSMISSION) {
		mblk__nbdc_xmit_check_stall(k);
		return;
	}
	if (k->phase == MBLK__NBDC_CONNECTING)
		mblk__nbdc_conn_fail(k, -ETIMEDOUT,
				     "could not connect to %s within %llu s",
				     k->cfg->server,
				     (unsigned long long)(conn_timeout_ms(k) /
							  1000));
	else
		mblk__nbdc_conn_fail(
			k, -ETIMEDOUT,
			"%s did not answer %s within %llu s (handshake)",
			k->cfg->server, mblk__nbd_opt_name(k->opt),
			(unsigned long long)(conn_timeout_ms(k) / 1000));
}

void mblk__nbdc_conn_arm_timer(struct mblk__nbdc_conn *k)
{
	if (!k->timer_inited)
		return;
	uint64_t ms = conn_timeout_ms(k);
	if (k->phase == MBLK__NBDC_TRANSMISSION) {
		/* A tick of at most a second: a stall is noticed at most a
		 * second late, and an idle connection costs one wake-up a
		 * second only while commands are in flight (the timer is
		 * unreferenced and stopped when idle). */
		uint64_t tick = ms < 1000 ? ms : 1000;
		uv_timer_start(&k->timer, conn_on_timer, tick, tick);
	} else {
		uv_timer_start(&k->timer, conn_on_timer, ms, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */

void mblk__nbdc_want(struct mblk__nbdc_conn *k, size_t n, mblk__nbdc_step step)
{
	k->want = MBLK__NBDC_WANT_BYTES;
	k->want_n = n;
	k->step = step;
}

void mblk__nbdc_want_data(struct mblk__nbdc_conn *k, const struct iovec *iov,
			  int iovcnt, uint64_t skip, uint64_t len,
			  mblk__nbdc_step step)
{
	int i = 0;
	while (i < iovcnt && skip >= iov[i].iov_len) {
		skip -= iov[i].iov_len;
		i++;
	}
	k->want = MBLK__NBDC_WANT_DATA;
	k->big = len >= DIRECT_MIN;
	k->d_iov = iov;
	k->d_iovcnt = iovcnt;
	k->d_i = i;
	k->d_off = (size_t)skip;
	k->d_left = len;
	k->step = step;
}

/* Copies up to n staged bytes into the wanted buffers; returns how many
 * it took. */
static size_t conn_copy_data(struct mblk__nbdc_conn *k, const uint8_t *p,
			     size_t n)
{
	size_t took = 0;
	while (took < n && k->d_left > 0) {
		const struct iovec *v = &k->d_iov[k->d_i];
		size_t room = v->iov_len - k->d_off;
		if (room == 0) {
			k->d_i++;
			k->d_off = 0;
			continue;
		}
		size_t c = n - took;
		if (c > room)
			c = room;
		if (c > k->d_left)
			c = (size_t)k->d_left;
		memcpy((char *)v->iov_base + k->d_off, p + took, c);
		took += c;
		k->d_off += c;
		k->d_left -= c;
	}
	return took;
}

/* Runs the steps that the staged bytes satisfy. A step may fail the
 * connection (want becomes NONE) or close it. */
static void conn_feed(struct mblk__nbdc_conn *k)
{
	for (;;) {
		if (k->phase == MBLK__NBDC_DEAD)
			return;
		if (k->want == MBLK__NBDC_WANT_DATA) {
			if (k->d_left > 0) {
				size_t avail = k->rlen - k->rpos;
				if (avail == 0)
					break;
				k->rpos += conn_copy_data(k, k->rbuf + k->rpos,
							  avail);
				if (k->d_left > 0)
					break;
			}
			k->want = MBLK__NBDC_WANT_NONE;
			k->step(k, NULL);
			continue;
		}
		if (k->want != MBLK__NBDC_WANT_BYTES)
			break;
		size_t n = k->want_n;
		if (k->rlen - k->rpos < n)
			break;
		const uint8_t *p = k->rbuf + k->rpos;
		k->rpos += n;
		k->want = MBLK__NBDC_WANT_NONE;
		k->step(k, p);
	}
	if (k->rpos == k->rlen) {
		k->rpos = k->rlen = 0;
		return;
	}
	/* A partial message: make room for the rest of it at the end. */
	size_t need = k->want == MBLK__NBDC_WANT_BYTES ? k->want_n : 0;
	if (k->rpos > 0 && (k->rcap - k->rpos < need || k->rlen == k->rcap ||
			    k->rcap - k->rlen < 4096)) {
		memmove(k->rbuf, k->rbuf + k->rpos, k->rlen - k->rpos);
		k->rlen -= k->rpos;
		k->rpos = 0;
	}
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct mblk__nbdc_conn *k = h->data;
	(void)suggested;
	if (k->tls) {
		/* Ciphertext: always into the session's input buffer. */
		size_t len;
		buf->base = (char *)mblk__nbdc_tls_in_space(k, &len);
		buf->len = len;
		k->direct = false;
		return;
	}
	while (k->want == MBLK__NBDC_WANT_DATA && k->d_i < k->d_iovcnt &&
	       k->d_off == k->d_iov[k->d_i].iov_len) {
		k->d_i++;
		k->d_off = 0;
	}
	if (k->want == MBLK__NBDC_WANT_DATA && k->rpos == k->rlen &&
	    k->d_i < k->d_iovcnt) {
		const struct iovec *v = &k->d_iov[k->d_i];
		size_t room = v->iov_len - k->d_off;
		if (room > k->d_left)
			room = (size_t)k->d_left;
		/* The tail of a large payload too, whatever its size:
		 * through rbuf it would be read 40 bytes at a time (the
		 * cap below), tens of reads per MiB. */
		if (room >= DIRECT_MIN || k->big) {
			k->direct = true;
			buf->base = (char *)v->iov_base + k->d_off;
			buf->len = room;
			return;
		}
	}
	k->direct = false;
	if (k->rpos == k->rlen)
		k->rpos = k->rlen = 0;
	/* The handshake may want one reply bigger than the buffer. */
	if (k->want == MBLK__NBDC_WANT_BYTES && k->rpos + k->want_n > k->rcap) {
		size_t cap = k->rpos + k->want_n;
		uint8_t *nb = realloc(k->rbuf, cap);
		if (nb) {
			k->rbuf = nb;
			k->rcap = cap;
		}
	}
	buf->base = (char *)k->rbuf + k->rlen;
	buf->len = k->rcap - k->rlen;
	/* After a large payload the next one is likely large too: read
	 * just past the next header (at most 40 bytes: an extended header
	 * and a data chunk's offset), so that its payload lands in place
	 * rather than a quarter MiB of it being copied from rbuf. */
	if (k->big && k->rlen == 0 && buf->len > 40)
		buf->len = 40;
}

/* Fails the connection for a read that found it closed (eof: by the
 * server, mid_reply: with a reply begun) or broken (cause): the one
 * sentence for each, whichever read saw it. */
static void conn_read_failed(struct mblk__nbdc_conn *k, bool eof,
			     bool mid_reply, const char *cause)
{
	if (eof)
		mblk__nbdc_conn_fail(k, -ESHUTDOWN,
				     "%s closed the connection%s",
				     k->cfg->server,
				     mid_reply ? " in the middle of a reply"
					       : "");
	else
		mblk__nbdc_conn_fail(k, -ECONNRESET, "reading from %s: %s",
				     k->cfg->server, cause);
}

/* Reads what the socket holds of the wanted payload straight into the
 * caller's next buffers, many per call: libuv reads into one buffer at
 * a time, which for a read of 4 KiB pages would be a read() per page.
 * The socket is non-blocking and libuv polls it level-triggered, so
 * reading it here is safe: it stops at EAGAIN or a short read (the
 * socket is empty). Returns false if the connection failed. */
static bool conn_readv_data(struct mblk__nbdc_conn *k)
{
	uv_os_fd_t fd;
	if (uv_fileno(&k->sock.handle, &fd) < 0)
		return true;
	while (k->d_left > 0) {
		struct iovec v[READV_MAX];
		int n = 0, i = k->d_i;
		size_t off = k->d_off, want = 0;
		uint64_t left = k->d_left;
		while (n < READV_MAX && i < k->d_iovcnt && left > 0) {
			size_t room = k->d_iov[i].iov_len - off;
			if (room > left)
				room = (size_t)left;
			if (room > 0) {
				v[n].iov_base =
					(char *)k->d_iov[i].iov_base + off;
				v[n++].iov_len = room;
				want += room;
				left -= room;
			}
			i++;
			off = 0;
		}
		if (n == 0)
			return true;
		ssize_t got = readv(fd, v, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (got <= 0) {
			conn_read_failed(k, got == 0, true, strerror(errno));
			return false;
		}
		k->d_left -= (uint64_t)got;
		size_t g = (size_t)got;
		while (g > 0) {
			size_t room = k->d_iov[k->d_i].iov_len - k->d_off;
			size_t t = room < g ? room : g;
			k->d_off += t;
			g -= t;
			if (k->d_off == k->d_iov[k->d_i].iov_len &&
			    k->d_i + 1 < k->d_iovcnt) {
				k->d_i++;
				k->d_off = 0;
			}
		}
		if ((size_t)got < want)
			return true;
	}
	return true;
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mblk__nbdc_conn *k = s->data;
	(void)buf;
	if (nread == 0 || k->phase == MBLK__NBDC_DEAD)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && k->tls_handshaking)
			mblk__nbdc_conn_fail(k, -EACCES,
					     "%s closed the connection during "
					     "the TLS handshake (were the "
					     "credentials refused?)",
					     k->cfg->server);
		else
			conn_read_failed(k, nread == UV_EOF,
					 k->want == MBLK__NBDC_WANT_DATA ||
						 k->rpos != k->rlen,
					 uv_strerror((int)nread));
		return;
	}
	if (k->tls) {
		mblk__nbdc_tls_in_add(k, (const uint8_t *)buf->base,
				      (size_t)nread);
		mblk__nbdc_conn_tls_pump(k);
		return;
	}
	if (k->direct) {
		k->direct = false;
		k->d_off += (size_t)nread;
		k->d_left -= (uint64_t)nread;
		/* A full buffer that was one of several: the rest of the
		 * payload may be waiting too, for the next buffers. */
		if ((size_t)nread == buf->len && k->d_left > 0 &&
		    !conn_readv_data(k))
			return;
		/* conn_feed finishes the data step, with nothing staged. */
	} else {
		k->rlen += (size_t)nread;
	}
	conn_feed(k);
}

/* TLS: advances the TLS handshake, or decrypts what arrived into the
 * staging buffer and parses it. */
void mblk__nbdc_conn_tls_pump(struct mblk__nbdc_conn *k)
{
	char err[300];
	if (k->tls_handshaking) {
		int r = mblk__nbdc_tls_handshake(k, err, sizeof(err));
		mblk__nbdc_send_raw_tls_output(k);
		if (r == -EAGAIN || k->phase == MBLK__NBDC_DEAD)
			return;
		if (r < 0) {
			mblk__nbdc_conn_fail(k, r, "%s: %s", k->cfg->server,
					     err);
			return;
		}
		k->tls_handshaking = false;
		mblk__nbdc_handshake_after_tls(k);
	}
	while (k->phase != MBLK__NBDC_DEAD && k->tls) {
		if (k->rpos == k->rlen)
			k->rpos = k->rlen = 0;
		if (k->rlen == k->rcap) {
			if (k->rpos > 0) {
				memmove(k->rbuf, k->rbuf + k->rpos,
					k->rlen - k->rpos);
				k->rlen -= k->rpos;
				k->rpos = 0;
			} else {
				size_t cap = k->rcap * 2;
				uint8_t *nb = realloc(k->rbuf, cap);
				if (nb == NULL) {
					mblk__nbdc_conn_fail(
						k, -ENOMEM,
						"%s: no memory for a reply",
						k->cfg->server);
					return;
				}
				k->rbuf = nb;
				k->rcap = cap;
			}
		}
		ssize_t n = mblk__nbdc_tls_recv(k, k->rbuf + k->rlen,
						k->rcap - k->rlen, err,
						sizeof(err));
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			mblk__nbdc_conn_fail(k, -ESHUTDOWN,
					     "%s closed the TLS session",
					     k->cfg->server);
			return;
		}
		if (n < 0) {
			mblk__nbdc_conn_fail(k, -EPROTO, "%s: %s",
					     k->cfg->server, err);
			return;
		}
		k->rlen += (size_t)n;
		conn_feed(k);
	}
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */

static void conn_connected(struct mblk__nbdc_conn *k)
{
	k->phase = MBLK__NBDC_HANDSHAKE;
	int r = uv_read_start(&k->sock.stream, conn_alloc, conn_on_read);
	if (r < 0) {
		mblk__nbdc_conn_fail(k, r, "reading from %s: %s",
				     k->cfg->server, uv_strerror(r));
		return;
	}
	mblk__nbdc_handshake_start(k);
}

static void conn_try_next(struct mblk__nbdc_conn *k, int last_err);

static void conn_on_tcp_closed_for_retry(uv_handle_t *h)
{
	struct mblk__nbdc_conn *k = h->data;
	k->handles_open--;
	k->sock_inited = false;
	if (k->phase == MBLK__NBDC_DEAD) {
		if (k->handles_open == 0 && k->on_closed)
			k->on_closed(k);
		return;
	}
	conn_try_next(k, (int)(intptr_t)k->creq.data);
}

static void conn_on_connect(uv_connect_t *c, int status)
{
	struct mblk__nbdc_conn *k = c->data;
	if (k->phase == MBLK__NBDC_DEAD)
		return;
	if (status == 0) {
		if (k->cfg->unix_socket)
			(void)uv_send_buffer_size(
				&k->sock.handle,
				&(int){ MBLK__NBD_UNIX_SNDBUF });
		conn_connected(k);
		return;
	}
	if (k->cfg->unix_socket) {
		mblk__nbdc_conn_fail(k, status == UV_ENOENT ? -ENOENT : status,
				     "could not connect to %s: %s",
				     k->cfg->server, uv_strerror(status));
		return;
	}
	/* Next address: the TCP handle must be closed and made again. */
	k->creq.data = (void *)(intptr_t)status;
	uv_close(&k->sock.handle, conn_on_tcp_closed_for_retry);
}

static void conn_try_next(struct mblk__nbdc_conn *k, int last_err)
{
	while (k->ai_next) {
		struct addrinfo *ai = k->ai_next;
		k->ai_next = ai->ai_next;
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		int r = uv_tcp_init(k->loop, &k->sock.tcp);
		if (r < 0) {
			last_err = r;
			break;
		}
		k->sock.handle.data = k;
		k->sock_inited = true;
		k->handles_open++;
		if (!k->referenced)
			uv_unref(&k->sock.handle);
		uv_tcp_nodelay(&k->sock.tcp, 1);
		k->creq.data = k;
		r = uv_tcp_connect(&k->creq, &k->sock.tcp, ai->ai_addr,
				   conn_on_connect);
		if (r == 0)
			return;
		k->creq.data = (void *)(intptr_t)r;
		uv_close(&k->sock.handle, conn_on_tcp_closed_for_retry);
		return;
	}
	mblk__nbdc_conn_fail(k, last_err ? last_err : -EHOSTUNREACH,
			     "could not connect to %s: %s", k->cfg->server,
			     last_err ? uv_strerror(last_err)
				      : "no usable address");
}

static void conn_on_resolved(uv_getaddrinfo_t *g, int status,
			     struct addrinfo *res)
{
	struct mblk__nbdc_conn *k = g->data;
	k->handles_open--;
	k->resolving = false;
	if (k->phase == MBLK__NBDC_DEAD) {
		if (res)
			uv_freeaddrinfo(res);
		if (k->handles_open == 0 && k->on_closed)
			k->on_closed(k);
		return;
	}
	if (status < 0) {
		mblk__nbdc_conn_fail(k, -EHOSTUNREACH,
				     "could not resolve %s: %s", k->cfg->server,
				     uv_strerror(status));
		return;
	}
	k->ai_list = res;
	k->ai_next = res;
	conn_try_next(k, 0);
}

/* A connection that fails before its first callback (no memory for a
 * handle) still reports from the loop: through the timer at 0 ms. */
static void conn_on_early_fail(uv_timer_t *t)
{
	struct mblk__nbdc_conn *k = t->data;
	mblk__nbdc_conn_fail(k, k->err, "%s", k->msg);
}

/* A write to a socket the server has closed raises SIGPIPE, whose
 * default action kills the process; libuv writes with write(2), so it
 * cannot pass MSG_NOSIGNAL. The first connection therefore ignores
 * SIGPIPE, but only if the program left it at its default: a program
 * that handles it keeps its handler (and must then cope with it). The
 * write then fails with EPIPE, which fails the connection like any
 * other loss. Documented in docs/devices/nbd.md. */
static pthread_once_t conn_sigpipe_once = PTHREAD_ONCE_INIT;

static void conn_ignore_sigpipe(void)
{
	struct sigaction old;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
	    !(old.sa_flags & SA_SIGINFO)) {
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGPIPE, &ign, NULL);
	}
}

void mblk__nbdc_conn_start(struct mblk__nbdc_conn *k,
			   mblk__nbdc_ready_fn on_ready)
{
	pthread_once(&conn_sigpipe_once, conn_ignore_sigpipe);
	k->on_ready = on_ready;
	k->phase = MBLK__NBDC_CONNECTING;
	k->referenced = true;
	int r = uv_timer_init(k->loop, &k->timer);
	if (r < 0) {
		/* Nothing to report through: the owner is told at once. */
		k->phase = MBLK__NBDC_DEAD;
		snprintf(k->msg, sizeof(k->msg), "%s: %s", k->cfg->server,
			 uv_strerror(r));
		on_ready(k, r, k->msg);
		return;
	}
	k->timer.data = k;
	k->timer_inited = true;
	k->handles_open++;
	mblk__nbdc_conn_arm_timer(k);

	if (k->cfg->unix_socket) {
		r = uv_pipe_init(k->loop, &k->sock.pipe, 0);
		if (r == 0) {
			k->sock.handle.data = k;
			k->sock_inited = true;
			k->handles_open++;
			k->creq.data = k;
			uv_pipe_connect(&k->creq, &k->sock.pipe, k->cfg->socket,
					conn_on_connect);
			return;
		}
	} else {
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_ADDRCONFIG;
		k->gai.data = k;
		r = uv_getaddrinfo(k->loop, &k->gai, conn_on_resolved,
				   k->cfg->host, k->cfg->port, &hints);
		if (r == 0) {
			k->handles_open++; /* the request counts as one */
			k->resolving = true;
			return;
		}
	}
	/* Deliver the failure from the loop, not inside this call. */
	k->err = r;
	snprintf(k->msg, sizeof(k->msg), "could not connect to %s: %s",
		 k->cfg->server, uv_strerror(r));
	k->phase = MBLK__NBDC_HANDSHAKE; /* so that fail reports on_ready */
	uv_timer_start(&k->timer, conn_on_early_fail, 0, 0);
}
