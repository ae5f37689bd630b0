/* server.c - the NBD server object: its exports and limits, logging, and
 * the graceful shutdown (stop accepting, drain, flush, then call back).
 *
 * Design notes
 * - Shutting down counts what is still closing in srv->pending: each
 *   listener until its handle is closed, each connection until it is
 *   freed, the drain handle until it is closed. When that reaches zero
 *   every export that can flush is flushed (pending counts the flushes),
 *   and when those are done the server is freed and the caller's
 *   callback runs. Nothing is freed while a libuv handle or a device
 *   request still points at it.
 * - Draining, as the spec asks of a server shutting down ("wait for
 *   inflight requests to be serviced prior to initiating a hard
 *   disconnect"; requests received meanwhile SHOULD get NBD_ESHUTDOWN):
 *   a connection in transmission with requests on the device keeps
 *   reading, every request that arrives now is answered NBD_ESHUTDOWN
 *   (transmit.c) instead of being left without a reply, and once none of
 *   its requests is on the device (their replies queued) it is closed;
 *   the replies go out before the socket does. Every other connection
 *   is closed at once. A check handle (srv->drain) looks once per loop
 *   iteration, so nothing in the connection's own paths has to know;
 *   the wait is bounded by the device's requests, since nothing new is
 *   submitted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>

#include "../../common/hex.h"
#include "server.h"

#define NBDS_DEFAULT_MAX_OPTION (64u * 1024)
#define NBDS_DEFAULT_MAX_REQUESTS 64u
#define NBDS_DEFAULT_MAX_BYTES (64ull * 1024 * 1024)
#define NBDS_DEFAULT_HANDSHAKE_MS 10000u
#define NBDS_DEFAULT_REQUEST_MS 30000u
#define NBDS_DEFAULT_MAX_CONNECTIONS 1024u

void mblk__nbds_log(struct mblk_nbd_server *srv, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (srv->opts.log)
		srv->opts.log(srv->opts.log_data, line);
	else
		fprintf(stderr, "mblk nbd: %s\n", line);
}

struct nbds_export *mblk__nbds_find_export(struct mblk_nbd_server *srv,
					   const char *name, size_t len)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		struct nbds_export *e = &srv->exports[i];
		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
			return e;
	}
	return NULL;
}

static void server_free(struct mblk_nbd_server *srv)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		free(srv->exports[i].name);
		free(srv->exports[i].description);
	}
	free(srv->exports);
	mblk__nbd_tls_free(srv->tls);
	free(srv->close_error);
	free(srv);
}

static int server_check_exports(const struct mblk_nbd_export *exports, size_t n,
				uint32_t max_payload)
{
	if (n == 0)
		return mblk_set_error(-EINVAL, "nbd server: no export given");
	size_t defaults = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mblk_nbd_export *e = &exports[i];
		const char *name = e->name ? e->name : "";
		if (!e->dev)
			return mblk_set_error(-EINVAL,
					      "nbd server: export '%s' has no "
					      "device",
					      name);
		if (strlen(name) > NBD_MAX_STRING)
			return mblk_set_error(-EINVAL,
					      "nbd server: an export name is "
					      "longer than %d bytes",
					      NBD_MAX_STRING);
		if (e->description && strlen(e->description) > NBD_MAX_STRING)
			return mblk_set_error(-EINVAL,
					      "nbd server: the description of "
					      "export '%s' is longer than %d "
					      "bytes",
					      name, NBD_MAX_STRING);
		if (!*name && ++defaults > 1)
			return mblk_set_error(-EINVAL,
					      "nbd server: two exports have no "
					      "name; only one can be the "
					      "default export");
		for (size_t j = 0; j < i; j++) {
			const char *other = exports[j].name ? exports[j].name
							    : "";
			if (*name && strcmp(name, other) == 0)
				return mblk_set_error(
					-EINVAL,
					"nbd server: two exports are named "
					"'%s'",
					name);
		}
		struct mblk_info info;
		mblk_get_info(e->dev, &info);
		if (max_payload % info.sector_size)
			return mblk_set_error(
				-EINVAL,
				"nbd server: the maximum payload %u is not a "
				"multiple of the sector size %u of %s",
				max_payload, info.sector_size,
				mblk_dev_name(e->dev));
	}
	return 0;
}

int mblk_nbd_server_create(uv_loop_t *loop,
			   const struct mblk_nbd_export *exports, size_t n,
			   const struct mblk_nbd_server_opts *opts,
			   mblk_nbd_server **srvp)
{
	if (!loop || !srvp || (n && !exports))
		return mblk_set_error(-EINVAL, "nbd server: no loop, export "
					       "array or result pointer given");
	struct mblk_nbd_server_opts o = { 0 };
	if (opts)
		o = *opts;
	if (!o.max_payload)
		o.max_payload = NBD_DEFAULT_MAX_PAYLOAD;
	if (!o.max_option)
		o.max_option = NBDS_DEFAULT_MAX_OPTION;
	if (o.max_option < 2 * NBD_MAX_STRING + 64)
		o.max_option = 2 * NBD_MAX_STRING + 64;
	if (!o.max_requests)
		o.max_requests = NBDS_DEFAULT_MAX_REQUESTS;
	if (!o.max_bytes)
		o.max_bytes = NBDS_DEFAULT_MAX_BYTES;
	if (o.max_bytes < o.max_payload)
		o.max_bytes = o.max_payload;
	if (!o.handshake_ms)
		o.handshake_ms = NBDS_DEFAULT_HANDSHAKE_MS;
	if (!o.request_ms)
		o.request_ms = NBDS_DEFAULT_REQUEST_MS;
	if (!o.max_connections)
		o.max_connections = NBDS_DEFAULT_MAX_CONNECTIONS;
	int r = server_check_exports(exports, n, o.max_payload);
	if (r < 0)
		return r;

	struct mblk_nbd_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	srv->loop = loop;
	srv->opts = o;
	/* Polling is a bet that the client runs on another CPU meanwhile;
	 * on one CPU, it would only keep the client from running. */
	if (uv_available_parallelism() < 2)
		srv->opts.poll_us = 0;
	srv->next_id = 1;
	srv->tls_mode = o.tls;
	if (o.tls != MBLK_NBD_TLS_OFF) {
		r = mblk__nbd_tls_server_new(o.tls_certs, o.tls_psk,
					     o.tls_verify_peer, &srv->tls);
		if (r < 0) {
			free(srv);
			return r;
		}
	}
	srv->opts.tls_certs = srv->opts.tls_psk = NULL; /* not kept */
	srv->exports = calloc(n, sizeof(*srv->exports));
	if (!srv->exports)
		goto nomem;
	srv->nexports = n;
	for (size_t i = 0; i < n; i++) {
		struct nbds_export *e = &srv->exports[i];
		e->dev = exports[i].dev;
		e->read_only = exports[i].read_only;
		e->name = strdup(exports[i].name ? exports[i].name : "");
		e->description = strdup(
			exports[i].description ? exports[i].description : "");
		if (!e->name || !e->description)
			goto nomem;
	}
	*srvp = srv;
	return 0;
nomem:
	server_free(srv);
	return mblk_set_error(-ENOMEM, "nbd server: out of memory");
}

unsigned mblk_nbd_server_connections(const mblk_nbd_server *srv)
{
	return srv->nconns;
}

int mblk_nbd_server_uri(mblk_nbd_server *srv, char *buf, size_t len)
{
	struct nbds_listener *l = srv->listeners;
	if (!l)
		return -ENOTCONN;
	/* The default export if there is one, else the first. */
	const char *name = srv->exports[0].name;
	for (size_t i = 0; i < srv->nexports; i++)
		if (!*srv->exports[i].name)
			name = "";
	char *enc = mblk__pct_encode_path(name);
	if (!enc)
		return -ENOMEM;
	/* "nbd://..." or "nbd+unix://...": with TLS, "nbds". */
	const char *rest = l->uri_base + 3;
	const char *s = srv->tls_mode != MBLK_NBD_TLS_OFF ? "s" : "";
	int n;
	if (l->uri_socket)
		n = snprintf(buf, len, "nbd%s%s/%s?socket=%s", s, rest, enc,
			     l->uri_socket);
	else
		n = snprintf(buf, len, "nbd%s%s/%s", s, rest, enc);
	free(enc);
	return n;
}

/* A connection has been freed (conn.c). */
void mblk__nbds_conn_gone(struct mblk_nbd_server *srv, bool served)
{
	/* Counted in pending only if the close began before: the callback
	 * below may begin it (mblk serve --once), and then this connection,
	 * already off the list, was not counted. */
	bool counted = srv->closing != 0;
	srv->nconns--;
	mblk__nbds_exports_conn_gone(srv);
	if (served && srv->opts.on_disconnect)
		srv->opts.on_disconnect(srv->opts.on_disconnect_data,
					srv->nconns);
	if (counted)
		mblk__nbds_pending_done(srv);
}

static void server_flush_done(void *data, int status, const char *error)
{
	struct mblk_nbd_server *srv = data;
	if (status < 0 && srv->close_status == 0) {
		srv->close_status = status;
		srv->close_error = strdup(error ? error : "flush failed");
	}
	mblk__nbds_pending_done(srv);
}

static void server_finish(struct mblk_nbd_server *srv)
{
	mblk_cb cb = srv->close_cb;
	void *data = srv->close_data;
	int status = srv->close_status;
	char *error = srv->close_error;
	srv->close_error = NULL;
	server_free(srv);
	if (cb)
		cb(data, status, error);
	free(error);
}

/* The flushes start once every connection is gone: pending goes 0 -> n
 * flushes; the second time it reaches zero the server is done. */
void mblk__nbds_pending_done(struct mblk_nbd_server *srv)
{
	if (--srv->pending > 0)
		return;
	if (srv->closing == 1) {
		srv->closing = 2;
		srv->pending = 1; /* held while submitting */
		for (size_t i = 0; i < srv->nexports; i++) {
			struct mblk_info info;
			mblk_get_info(srv->exports[i].dev, &info);
			if (!(info.caps & MBLK_CAP_FLUSH) || !info.read_write)
				continue;
			srv->pending++;
			if (mblk_flush(srv->exports[i].dev, server_flush_done,
				       srv) < 0)
				srv->pending--;
		}
		if (--srv->pending > 0)
			return;
	}
	server_finish(srv);
}

/* A connection that, shutting down, stays open for now: in
 * transmission, with requests on the device. */
static bool server_conn_draining(const struct nbds_conn *c)
{
	if (c->phase != NBDS_TRANSMISSION || c->disc)
		return false;
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slots[i]->state == NBDS_SLOT_DEVICE)
			return true;
	return false;
}

static void server_drain_closed(uv_handle_t *h)
{
	mblk__nbds_pending_done(h->data);
}

/* ------------------------------------------------------------------ */
/* Polling
 *
 * A client that waits for each reply before it sends the next request
 * (queue depth 1) finds the server asleep every time, and on a VM waking
 * a sleeping CPU costs about as much as the request itself (QD 1 went
 * from 8k to 20k+ IOPS here with polling). So after a read that brought
 * one request (or part of one) to a connection with no other request in
 * flight, an idle handle keeps the loop from blocking for opts.poll_us.
 * A read that brought several means the client queues deeper than we
 * drain, and sleeping is what batches its requests into one read:
 * polling then would only trade the batches for a read per request, so
 * it stops. A client at QD 16 that the server outruns still looks like
 * QD 1 often enough to be polled for: 4 KiB reads then ran ~1.2x faster
 * here, for ~10 % more server CPU per request. An idle server sleeps. */

static void server_poll(uv_idle_t *h)
{
	struct mblk_nbd_server *srv = h->data;
	if (uv_hrtime() - srv->last_rx_ns > (uint64_t)srv->opts.poll_us * 1000)
		uv_idle_stop(h);
}

void mblk__nbds_poll_after_read(struct mblk_nbd_server *srv, bool lone)
{
	if (!srv->opts.poll_us || srv->closing)
		return;
	if (!lone) {
		if (srv->poller_init)
			uv_idle_stop(&srv->poller);
		return;
	}
	srv->last_rx_ns = uv_hrtime();
	if (!srv->poller_init) {
		uv_idle_init(srv->loop, &srv->poller);
		srv->poller.data = srv;
		srv->poller_init = true;
	}
	if (!uv_is_active((uv_handle_t *)&srv->poller))
		uv_idle_start(&srv->poller, server_poll);
}

/* Once per loop iteration while shutting down: closes every connection
 * that is not draining, and stops when none is left. */
static void server_drain(uv_check_t *h)
{
	struct mblk_nbd_server *srv = h->data;
	bool draining = false;
	for (struct nbds_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (c->phase == NBDS_CLOSING)
			continue;
		if (server_conn_draining(c))
			draining = true;
		else
			mblk__nbds_conn_begin_close(c);
	}
	if (!draining) {
		uv_check_stop(h);
		uv_close((uv_handle_t *)h, server_drain_closed);
	}
}

void mblk_nbd_server_close(mblk_nbd_server *srv, mblk_cb cb, void *data)
{
	if (!srv)
		return;
	srv->closing = 1;
	srv->close_cb = cb;
	srv->close_data = data;
	srv->pending = 1; /* held until everything below has started */
	struct nbds_listener *l = srv->listeners;
	srv->listeners = NULL;
	while (l) {
		struct nbds_listener *next = l->next;
		srv->pending++;
		mblk__nbds_listener_close(l);
		l = next;
	}
	for (struct nbds_conn *c = srv->conns; c; c = c->next)
		srv->pending++;
	if (srv->poller_init) {
		srv->pending++;
		uv_close((uv_handle_t *)&srv->poller, server_drain_closed);
	}
	srv->pending++; /* the drain handle, until it is closed */
	uv_check_init(srv->loop, &srv->drain);
	srv->drain.data = srv;
	uv_check_start(&srv->drain, server_drain);
	server_drain(&srv->drain);
	mblk__nbds_pending_done(srv);
}
