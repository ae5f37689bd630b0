/* metrics.c - `mblk serve --metrics [HOST:]PORT`: Prometheus text format
 * over HTTP (libmicrohttpd), at /metrics.
 *
 * Design notes
 *
 * libmicrohttpd answers on a thread of its own; every number lives on
 * the loop's thread (the counting layers, the mirror, the server). The
 * two meet in one text, the snapshot, guarded by a mutex:
 *
 *   HTTP thread                         loop thread
 *   lock; want = gen + 1                 
 *   uv_async_send ───────────────────►  build the text from the live
 *   wait on cond (≤ 1 s) ...            counters; lock; swap it in;
 *                        ◄────────────  gen++; broadcast; unlock
 *   copy the text; unlock; respond
 *
 * so a scrape sees the counters as they are when it arrives (a test can
 * compare them with what its client did), and a loop too busy to answer
 * within a second costs a scrape of the previous snapshot, never a hang:
 * a 1 s timer refreshes it anyway. Shutdown sets `stopping` under the
 * mutex before MHD_stop_daemon joins the thread, so no scrape waits for
 * a loop that has stopped listening.
 *
 * Bound to 127.0.0.1 unless a HOST is given.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <mblk/backend.h>

#include "cli.h"
#include "serve_admin.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define METRICS_WAIT_NS 1000000000ll
#define METRICS_REFRESH_MS 1000

struct metrics {
	struct serve_admin *a;
	struct MHD_Daemon *d;
	uv_async_t async;
	uv_timer_t timer;
	unsigned handles;
	/* mu guards text, len, gen and stopping. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *text;
	size_t len;
	uint64_t gen;
	bool stopping;
};

/* A label value: \, " and newline escaped. */
static void metrics_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

/* Starts a sample of an export's series: NAME{export="E" (E escaped);
 * the caller adds further labels, then the closing brace and value. */
static void metrics_sample(FILE *f, const char *name,
			   const struct admin_export *e)
{
	fputs(name, f);
	fputs("{export=\"", f);
	metrics_label(f, e->name);
	fputc('"', f);
}

/* Export i if it is open, else NULL. */
static struct admin_export *metrics_export(struct serve_admin *a, int i)
{
	struct admin_export *e = a->exports[i];
	return e && !e->closed ? e : NULL;
}

static void metrics_head(FILE *f, const char *name, const char *type,
			 const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_export_counter(FILE *f, struct serve_admin *a,
				   const char *name, const char *help,
				   int which)
{
	metrics_head(f, name, "counter", help);
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = metrics_export(a, i);
		if (!e)
			continue;
		for (int op = 0; op < STATS_NOPS; op++) {
			const struct stats_op_counts *oc = &e->st->op[op];
			uint64_t v = which == 0   ? oc->requests
				     : which == 1 ? oc->bytes
						  : oc->errors;
			metrics_sample(f, name, e);
			fprintf(f, ",op=\"%s\"} %llu\n",
				stats_op_name((enum stats_op)op),
				(unsigned long long)v);
		}
	}
}

static void metrics_build(struct serve_admin *a, FILE *f)
{
	metrics_head(f, "mblk_server_connections", "gauge",
		     "NBD connections open now.");
	fprintf(f, "mblk_server_connections %u\n",
		mblk_nbd_server_connections(a->srv));

	metrics_head(f, "mblk_export_connections", "gauge",
		     "NBD connections in transmission on the export.");
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = metrics_export(a, i);
		if (!e)
			continue;
		int n = mblk_nbd_server_export_connections(a->srv, e->name);
		metrics_sample(f, "mblk_export_connections", e);
		fprintf(f, "} %d\n", n < 0 ? 0 : n);
	}
	metrics_head(f, "mblk_export_requests_in_flight", "gauge",
		     "Requests submitted to the export's device and not yet "
		     "answered.");
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = metrics_export(a, i);
		if (!e)
			continue;
		metrics_sample(f, "mblk_export_requests_in_flight", e);
		fprintf(f, "} %llu\n", (unsigned long long)e->st->inflight);
	}
	metrics_export_counter(f, a, "mblk_export_requests_total",
			       "Requests completed, failed ones included, by "
			       "NBD operation.",
			       0);
	metrics_export_counter(f, a, "mblk_export_bytes_total",
			       "Bytes read or written (the range for trim, "
			       "write_zeroes and cache), by NBD operation.",
			       1);
	metrics_export_counter(f, a, "mblk_export_errors_total",
			       "Requests that failed, by NBD operation.", 2);

	metrics_head(f, "mblk_export_request_duration_seconds", "histogram",
		     "Time from submission to the device until its answer.");
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = metrics_export(a, i);
		if (!e)
			continue;
		for (int op = 0; op < STATS_NOPS; op++) {
			const struct stats_op_counts *oc = &e->st->op[op];
			const char *opn = stats_op_name((enum stats_op)op);
			uint64_t cum = 0;
			for (int b = 0; b < STATS_NBUCKETS; b++) {
				cum += oc->bucket[b];
				metrics_sample(f,
					       "mblk_export_request_duration_"
					       "seconds_bucket",
					       e);
				fprintf(f, ",op=\"%s\",le=\"", opn);
				if (b < STATS_NBUCKETS - 1)
					fprintf(f, "%g",
						stats_bucket_us[b] / 1e6);
				else
					fputs("+Inf", f);
				fprintf(f, "\"} %llu\n",
					(unsigned long long)cum);
			}
			metrics_sample(
				f, "mblk_export_request_duration_seconds_sum",
				e);
			fprintf(f, ",op=\"%s\"} %.9f\n", opn,
				(double)oc->sum_ns / 1e9);
			metrics_sample(f,
				       "mblk_export_request_duration_seconds_"
				       "count",
				       e);
			fprintf(f, ",op=\"%s\"} %llu\n", opn,
				(unsigned long long)cum);
		}
	}

	if (!a->mig)
		return;
	struct migrate_status s;
	migrate_status(a->mig, &s);
	metrics_head(f, "mblk_mirror_info", "gauge",
		     "The migration's source and destination (always 1).");
	fputs("mblk_mirror_info{source=\"", f);
	metrics_label(f, s.src);
	fputs("\",destination=\"", f);
	metrics_label(f, s.dst);
	fprintf(f, "\",pivot=\"%s\"} 1\n", s.pivot);
	metrics_head(f, "mblk_mirror_size_bytes", "gauge",
		     "The size of the device being mirrored.");
	fprintf(f, "mblk_mirror_size_bytes %llu\n",
		(unsigned long long)s.p.bytes_total);
	metrics_head(f, "mblk_mirror_remaining_bytes", "gauge",
		     "Bytes still to copy (marked or being copied).");
	fprintf(f, "mblk_mirror_remaining_bytes %llu\n",
		(unsigned long long)s.p.bytes_remaining);
	metrics_head(f, "mblk_mirror_read_bytes_total", "counter",
		     "Data read from the source by the copy.");
	fprintf(f, "mblk_mirror_read_bytes_total %llu\n",
		(unsigned long long)s.p.bytes_read);
	metrics_head(f, "mblk_mirror_copy_rate_bytes_per_second", "gauge",
		     "Bytes done per second since the copy started.");
	fprintf(f, "mblk_mirror_copy_rate_bytes_per_second %.0f\n", s.p.rate);
	metrics_head(f, "mblk_mirror_rate_limit_bytes_per_second", "gauge",
		     "The copy's rate limit (0: none).");
	fprintf(f, "mblk_mirror_rate_limit_bytes_per_second %llu\n",
		(unsigned long long)s.rate_limit);
	metrics_head(f, "mblk_mirror_copy_errors_total", "counter",
		     "Copy failures, retried or not.");
	fprintf(f, "mblk_mirror_copy_errors_total %llu\n",
		(unsigned long long)s.copy_errors);
	static const char *const states[] = {
		"copying", "in-sync", "pivoting",
		"pivoted", "failed",  "cancelled"
	};
	metrics_head(f, "mblk_mirror_state", "gauge",
		     "1 for the state the migration is in, 0 for the others.");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		fprintf(f, "mblk_mirror_state{state=\"%s\"} %d\n", states[i],
			strcmp(states[i], s.state) == 0);
	metrics_head(f, "mblk_mirror_mode", "gauge",
		     "1 for the mirror's copy mode, 0 for the other.");
	fprintf(f, "mblk_mirror_mode{mode=\"background\"} %d\n",
		strcmp(s.mode, "background") == 0);
	fprintf(f, "mblk_mirror_mode{mode=\"active\"} %d\n",
		strcmp(s.mode, "active") == 0);
	if (s.pivot_ms >= 0) {
		metrics_head(f, "mblk_mirror_pivot_seconds", "gauge",
			     "How long the pivot took.");
		fprintf(f, "mblk_mirror_pivot_seconds %.6f\n",
			s.pivot_ms / 1e3);
	}
}

/* Loop thread: a fresh snapshot. */
static void metrics_refresh(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	metrics_build(m->a, f);
	if (fclose(f) != 0) {
		free(text);
		return;
	}
	pthread_mutex_lock(&m->mu);
	char *old = m->text;
	m->text = text;
	m->len = len;
	m->gen++;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	free(old);
}

static void metrics_async(uv_async_t *h)
{
	metrics_refresh(h->data);
}

static void metrics_timer(uv_timer_t *t)
{
	metrics_refresh(t->data);
}

/* HTTP thread. */
static MHD_Result_t metrics_answer(void *cls, struct MHD_Connection *conn,
				   const char *url, const char *method,
				   const char *version, const char *upload,
				   size_t *upload_size, void **state)
{
	struct metrics *m = cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static char msg[] = "only GET /metrics\n";
		struct MHD_Response *r =
			MHD_create_response_from_buffer(sizeof(msg) - 1, msg,
							MHD_RESPMEM_PERSISTENT);
		MHD_Result_t ret =
			MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					   r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0) {
		static char msg[] = "not found: the metrics are at /metrics\n";
		struct MHD_Response *r =
			MHD_create_response_from_buffer(sizeof(msg) - 1, msg,
							MHD_RESPMEM_PERSISTENT);
		MHD_Result_t ret =
			MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	pthread_mutex_lock(&m->mu);
	uint64_t want = m->gen + 1;
	if (!m->stopping)
		uv_async_send(&m->async);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += METRICS_WAIT_NS / 1000000000ll;
	while (m->gen < want && !m->stopping)
		if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
			break;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(m->len,
						m->text ? m->text : (char *)"",
						MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&m->mu);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type",
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_Result_t ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* "[HOST:]PORT", HOST possibly "[v6]". */
static int metrics_resolve(const char *addr, struct sockaddr_storage *ss,
			   socklen_t *sslen)
{
	char buf[256];
	if (strlen(addr) >= sizeof(buf))
		return mblk_set_error(-EINVAL, "--metrics: '%s' is too long",
				      addr);
	strcpy(buf, addr);
	char *host = "127.0.0.1", *port = buf;
	char *colon = strrchr(buf, ':');
	if (colon) {
		*colon = '\0';
		port = colon + 1;
		host = buf;
		size_t n = strlen(host);
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
			host[n - 1] = '\0';
			host++;
		}
		if (!*host)
			host = "127.0.0.1";
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return mblk_set_error(-EINVAL,
				      "--metrics: cannot resolve '%s' "
				      "(want [HOST:]PORT): %s",
				      addr, gai_strerror(r));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int metrics_start(struct metrics **mp, struct serve_admin *a, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int r = metrics_resolve(addr, &ss, &sslen);
	if (r < 0)
		return r;
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return mblk_set_error(-ENOMEM, "out of memory");
	m->a = a;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->mu, NULL);
	uv_async_init(a->loop, &m->async, metrics_async);
	uv_timer_init(a->loop, &m->timer);
	m->async.data = m->timer.data = m;
	m->handles = 2;
	metrics_refresh(m);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, metrics_answer, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_CONNECTION_LIMIT, 16u,
				MHD_OPTION_END);
	if (!m->d) {
		*mp = m;
		metrics_stop(m);
		*mp = NULL;
		return mblk_set_error(-EADDRINUSE,
				      "--metrics: cannot listen on %s (in "
				      "use, or not an address of this host)",
				      addr);
	}
	uv_timer_start(&m->timer, metrics_timer, METRICS_REFRESH_MS,
		       METRICS_REFRESH_MS);
	char host[INET6_ADDRSTRLEN] = "?";
	const void *ip =
		ss.ss_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
			: (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
	inet_ntop(ss.ss_family, ip, host, sizeof(host));
	unsigned port = ntohs(ss.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&ss)->sin6_port
				      : ((struct sockaddr_in *)&ss)->sin_port);
	fprintf(stderr, "mblk serve: metrics at http://%s%s%s:%u/metrics\n",
		ss.ss_family == AF_INET6 ? "[" : "", host,
		ss.ss_family == AF_INET6 ? "]" : "", port);
	*mp = m;
	return 0;
}

static void metrics_closed(uv_handle_t *h)
{
	struct metrics *m = h->data;
	if (--m->handles > 0)
		return;
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m->text);
	free(m);
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->d)
		MHD_stop_daemon(m->d);
	m->d = NULL;
	uv_close((uv_handle_t *)&m->async, metrics_closed);
	uv_close((uv_handle_t *)&m->timer, metrics_closed);
}
