/* control.c - the control socket of `mblk serve --control PATH`.
 *
 * Design notes
 *
 * A unix socket, created with mode 0600 (umask 077 around the bind, and
 * a chmod after it in case the filesystem ignored it), speaking JSON
 * lines: each request is one object on one line,
 *     {"cmd":"status"}  {"cmd":"set-rate","rate":"10M","id":7}
 *     {"cmd":"set-share","share":40}
 * and gets exactly one reply line, in order,
 *     {"ok":true,"result":{...}}  {"ok":false,"error":"<sentence>",
 *                                   "errno":"EBUSY"}
 * with the request's "id" echoed when it has one. Between replies the
 * server sends event lines, {"event":"in-sync",...}. Parsing is
 * jansson's (json_loadb), never by hand.
 *
 Up to CONTROL_MAX_CLIENTS controllers at once (one more gets an error
 * line and is closed): each gets its own replies, every one gets the
 * events. Two controllers asking for conflicting things are sorted out
 * by the operations themselves: the second pivot is refused with
 * EALREADY while the first runs, a second add-export with EBUSY. (One
 * controller at a time was tried and dropped: `mblk ctl A && mblk ctl
 * B` would race the server noticing A's close.) A command that
 * completes later (pivot, add-export, remove-export) holds its
 * connection's reading until its reply is sent, so replies stay in
 * order; if the controller disconnects meanwhile, the command still
 * finishes and its reply is dropped (the pending operation holds the
 * controller's id, not a pointer to it). A line longer than
 * CONTROL_MAX_LINE, or a controller that sends faster than it reads its
 * replies (more than CONTROL_MAX_QUEUED bytes unsent), is dropped with
 * an error line: nothing grows without bound.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <mblk/backend.h>

#include "../common/size.h"
#include "cli.h"
#include "serve_admin.h"

#define CONTROL_MAX_LINE (64u * 1024)
#define CONTROL_MAX_QUEUED (4u * 1024 * 1024)
#define CONTROL_MAX_CLIENTS 8

struct ctl_client;

struct control {
	struct serve_admin *a;
	uv_pipe_t listener;
	char *path;
	struct ctl_client *clients; /* connected controllers */
	unsigned nclients;
	uint64_t next_id;
	unsigned handles; /* open handles, the listener included */
	unsigned pending; /* commands completing later */
	bool stopping;
	bool quit_pending;
};

struct ctl_client {
	struct control *ctl;
	uv_pipe_t pipe;
	uint64_t id; /* unique for the server's life */
	struct ctl_client *next;
	bool listed; /* on ctl->clients */
	char *buf;
	size_t len;
	bool busy; /* a command is waiting for its completion */
	bool closing;
	bool refused; /* one error line, then close */
	size_t queued;
};

struct ctl_write {
	uv_write_t req;
	struct ctl_client *cl;
	size_t len;
	bool then_quit;
	char data[];
};

/* A command completing later. */
struct ctl_pending {
	struct control *ctl;
	uint64_t client;
	json_t *id;
};

static void ctl_process(struct ctl_client *cl);

/* Freed once stopped with no handle open and no command pending. */
static void ctl_maybe_free(struct control *ctl)
{
	if (ctl->stopping && ctl->handles == 0 && ctl->pending == 0) {
		free(ctl->path);
		free(ctl);
	}
}

static void ctl_handle_closed(uv_handle_t *h)
{
	struct control *ctl = h->data;
	if (h != (uv_handle_t *)&ctl->listener) {
		struct ctl_client *cl =
			(struct ctl_client *)((char *)h -
					      offsetof(struct ctl_client,
						       pipe));
		free(cl->buf);
		free(cl);
	}
	if (--ctl->handles == 0)
		ctl_maybe_free(ctl);
}

static void ctl_client_close(struct ctl_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	struct control *ctl = cl->ctl;
	if (cl->listed) {
		struct ctl_client **pp = &ctl->clients;
		while (*pp != cl)
			pp = &(*pp)->next;
		*pp = cl->next;
		cl->listed = false;
		ctl->nclients--;
	}
	uv_close((uv_handle_t *)&cl->pipe, ctl_handle_closed);
}

static void ctl_written(uv_write_t *req, int status)
{
	struct ctl_write *w = (struct ctl_write *)req;
	struct ctl_client *cl = w->cl;
	struct control *ctl = cl->ctl;
	bool quit = w->then_quit;
	cl->queued -= w->len;
	free(w);
	if (status < 0 || cl->refused) {
		ctl_client_close(cl);
	}
	if (quit && !ctl->stopping && ctl->a->stop)
		ctl->a->stop(ctl->a->stop_data);
}

/* Sends j (consumed) as one line. */
static void ctl_send(struct ctl_client *cl, json_t *j, bool then_quit)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(j);
	if (!s || cl->closing) {
		free(s);
		return;
	}
	size_t n = strlen(s);
	struct ctl_write *w = malloc(sizeof(*w) + n + 1);
	if (!w) {
		free(s);
		ctl_client_close(cl);
		return;
	}
	memcpy(w->data, s, n);
	w->data[n] = '\n';
	free(s);
	w->cl = cl;
	w->len = n + 1;
	w->then_quit = then_quit;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)(n + 1));
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, ctl_written) <
	    0) {
		free(w);
		ctl_client_close(cl);
		return;
	}
	cl->queued += n + 1;
	if (cl->queued > CONTROL_MAX_QUEUED)
		ctl_client_close(cl); /* not reading its replies */
}

static const char *ctl_errno_name(int err)
{
	switch (-err) {
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EALREADY: return "EALREADY";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENOSPC: return "ENOSPC";
	case ENOMEM: return "ENOMEM";
	case ENOTSUP: return "ENOTSUP";
	case ESHUTDOWN: return "ESHUTDOWN";
	case ECANCELED: return "ECANCELED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EIO: return "EIO";
	default: return "EIO";
	}
}

static json_t *ctl_error(int err, const char *msg)
{
	return json_pack("{s:b,s:s,s:s}", "ok", 0, "error", msg, "errno",
			 ctl_errno_name(err));
}

static json_t *ctl_ok(json_t *result)
{
	return json_pack("{s:b,s:o}", "ok", 1, "result",
			 result ? result : json_object());
}

/* Adds the request's id to a reply. */
static json_t *ctl_with_id(json_t *reply, json_t *id)
{
	if (id)
		json_object_set(reply, "id", id);
	return reply;
}

/* ------------------------------------------------------------------ */
/* Status                                                              */

static json_t *ctl_mirror_json(struct serve_admin *a)
{
	if (!a->mig)
		return json_null();
	struct migrate_status s;
	migrate_status(a->mig, &s);
	json_t *m = json_pack(
		"{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:i,s:i,s:f,"
		"s:I,s:I,s:i}",
		"source", s.src, "destination", s.dst, "state", s.state, "mode",
		s.mode, "pivot", s.pivot, "bytes_total",
		(json_int_t)s.p.bytes_total, "bytes_done",
		(json_int_t)s.p.bytes_done, "bytes_remaining",
		(json_int_t)s.p.bytes_remaining, "bytes_read",
		(json_int_t)s.p.bytes_read, "bytes_zeroed",
		(json_int_t)s.p.bytes_zeroed, "copy_rate_bytes_per_s", s.p.rate,
		"percent", s.p.percent, "passes", (int)s.p.passes, "elapsed_s",
		s.p.elapsed, "rate_limit_bytes_per_s", (json_int_t)s.rate_limit,
		"copy_errors", (json_int_t)s.copy_errors, "copy_share_percent",
		(int)s.copy_share);
	json_object_set_new(m, "error",
			    s.error ? json_string(s.error) : json_null());
	json_object_set_new(m, "pivot_ms",
			    s.pivot_ms >= 0 ? json_real(s.pivot_ms)
					    : json_null());
	json_object_set_new(m, "pause_ms",
			    s.pause_ms >= 0 ? json_real(s.pause_ms)
					    : json_null());
	return m;
}

static json_t *ctl_export_json(struct serve_admin *a, struct admin_export *e)
{
	char uri[2048] = "";
	if (mblk_get_uri(e->dev, uri, sizeof(uri)) < 0)
		snprintf(uri, sizeof(uri), "%s", e->uri);
	int conns = mblk_nbd_server_export_connections(a->srv, e->name);
	json_t *ops = json_object();
	for (int i = 0; i < STATS_NOPS; i++) {
		const struct stats_op_counts *oc = &e->st->op[i];
		json_object_set_new(ops, stats_op_name((enum stats_op)i),
				    json_pack("{s:I,s:I,s:I}", "requests",
					      (json_int_t)oc->requests, "bytes",
					      (json_int_t)oc->bytes, "errors",
					      (json_int_t)oc->errors));
	}
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:i,s:I,s:f,s:o}", "name",
			 e->name, "uri", e->uri, "device", uri, "read_only",
			 e->read_only, "migration", e->migration, "connections",
			 conns < 0 ? 0 : conns, "in_flight",
			 (json_int_t)e->st->inflight, "max_latency_ms",
			 (double)e->st->max_ns / 1e6, "ops", ops);
}

static json_t *ctl_status(struct serve_admin *a)
{
	json_t *exps = json_array();
	for (int i = 0; i < a->nexports; i++) {
		struct admin_export *e = a->exports[i];
		if (e && !e->closed && !e->removing)
			json_array_append_new(exps, ctl_export_json(a, e));
	}
	return json_pack("{s:{s:i,s:f},s:o,s:o}", "server", "connections",
			 (int)mblk_nbd_server_connections(a->srv), "uptime_s",
			 (double)(uv_hrtime() - a->t_start) / 1e9, "exports",
			 exps, "mirror", ctl_mirror_json(a));
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

void control_event(struct control *ctl, enum migrate_event ev, const char *msg)
{
	if (!ctl || !ctl->clients)
		return;
	json_t *j = json_pack("{s:s,s:o}", "event", migrate_event_name(ev),
			      "mirror", ctl_mirror_json(ctl->a));
	if (msg)
		json_object_set_new(j, "error", json_string(msg));
	for (struct ctl_client *cl = ctl->clients, *next; cl; cl = next) {
		next = cl->next; /* ctl_send may close cl */
		if (!cl->closing && !cl->refused)
			ctl_send(cl, json_incref(j), false);
	}
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

static struct ctl_pending *ctl_pending_new(struct ctl_client *cl, json_t *id)
{
	struct ctl_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ctl = cl->ctl;
	p->client = cl->id;
	p->id = id ? json_incref(id) : NULL;
	cl->busy = true;
	cl->ctl->pending++;
	return p;
}

/* The command behind p is done: reply if its controller is still here. */
static void ctl_pending_reply(struct ctl_pending *p, json_t *reply)
{
	struct control *ctl = p->ctl;
	struct ctl_client *cl = ctl->clients;
	while (cl && cl->id != p->client)
		cl = cl->next;
	if (!ctl->stopping && cl && !cl->closing) {
		cl->busy = false;
		ctl_send(cl, ctl_with_id(reply, p->id), false);
		ctl_process(cl);
	} else {
		json_decref(reply);
	}
	json_decref(p->id);
	free(p);
	ctl->pending--;
	ctl_maybe_free(ctl);
}

static void ctl_pivot_done(void *data, int status, const char *error)
{
	struct ctl_pending *p = data;
	json_t *reply;
	if (status < 0) {
		reply = ctl_error(status, error);
	} else {
		struct migrate_status s;
		migrate_status(p->ctl->a->mig, &s);
		reply = ctl_ok(json_pack("{s:s,s:f}", "serving", s.dst,
					 "pivot_ms", s.pivot_ms));
	}
	ctl_pending_reply(p, reply);
}

static void ctl_async_done(void *data, int status, const char *error)
{
	struct ctl_pending *p = data;
	ctl_pending_reply(p,
			  status < 0 ? ctl_error(status, error) : ctl_ok(NULL));
}

/* A rate: a number of bytes per second or a size string ("10M"). */
static int ctl_get_rate(json_t *v, uint64_t *rate, char *msg, size_t len)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*rate = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) &&
	    mblk__parse_size(json_string_value(v), rate) == 0)
		return 0;
	snprintf(msg, len,
		 "set-rate wants \"rate\": bytes per second, a number or a "
		 "size such as \"10M\" (0: no limit)");
	return -EINVAL;
}

static bool ctl_need_mirror(struct ctl_client *cl, json_t *id, const char *cmd)
{
	if (cl->ctl->a->mig)
		return true;
	char msg[200];
	snprintf(msg, sizeof(msg),
		 "%s: this server has no mirror (start it with --mirror-to)",
		 cmd);
	ctl_send(cl, ctl_with_id(ctl_error(-ENOENT, msg), id), false);
	return false;
}

/* The reply to a set- command: {KEY: value} when r is 0, else the error
 * r with its sentence msg. */
static void ctl_reply_set(struct ctl_client *cl, json_t *id, int r,
			  const char *msg, const char *key, json_int_t value)
{
	json_t *reply;
	if (r == 0)
		reply = ctl_ok(json_pack("{s:I}", key, value));
	else
		reply = ctl_error(r, msg);
	ctl_send(cl, ctl_with_id(reply, id), false);
}

static void ctl_command(struct ctl_client *cl, json_t *req)
{
	struct serve_admin *a = cl->ctl->a;
	json_t *id = json_object_get(req, "id");
	json_t *jcmd = json_object_get(req, "cmd");
	char msg[600];
	if (!json_is_string(jcmd)) {
		ctl_send(cl,
			 ctl_with_id(
				 ctl_error(-EINVAL,
					   "a request needs \"cmd\", a "
					   "string: status, pivot, cancel, "
					   "retry, set-rate, set-share, add-export, "
					   "remove-export or quit"),
				 id),
			 false);
		return;
	}
	const char *cmd = json_string_value(jcmd);
	int r;
	if (strcmp(cmd, "status") == 0) {
		ctl_send(cl, ctl_with_id(ctl_ok(ctl_status(a)), id), false);
	} else if (strcmp(cmd, "pivot") == 0) {
		if (!ctl_need_mirror(cl, id, cmd))
			return;
		struct ctl_pending *p = ctl_pending_new(cl, id);
		if (!p || (r = migrate_pivot(a->mig, ctl_pivot_done, p)) < 0) {
			cl->busy = false;
			if (p) {
				json_decref(p->id);
				cl->ctl->pending--;
			}
			free(p);
			ctl_send(cl,
				 ctl_with_id(ctl_error(p ? r : -ENOMEM,
						       p ? mblk_last_error()
							 : "out of memory"),
					     id),
				 false);
		}
	} else if (strcmp(cmd, "cancel") == 0 || strcmp(cmd, "retry") == 0) {
		if (!ctl_need_mirror(cl, id, cmd))
			return;
		r = cmd[0] == 'c' ? migrate_cancel(a->mig)
				  : migrate_retry(a->mig);
		ctl_send(cl,
			 ctl_with_id(r < 0 ? ctl_error(r, mblk_last_error())
					   : ctl_ok(NULL),
				     id),
			 false);
	} else if (strcmp(cmd, "set-rate") == 0) {
		uint64_t rate = 0;
		if (!ctl_need_mirror(cl, id, cmd))
			return;
		r = ctl_get_rate(json_object_get(req, "rate"), &rate, msg,
				 sizeof(msg));
		if (r == 0 && (r = migrate_set_rate(a->mig, rate)) < 0)
			snprintf(msg, sizeof(msg), "%s", mblk_last_error());
		ctl_reply_set(cl, id, r, msg, "rate_limit_bytes_per_s",
			      (json_int_t)rate);
	} else if (strcmp(cmd, "set-share") == 0) {
		if (!ctl_need_mirror(cl, id, cmd))
			return;
		json_t *v = json_object_get(req, "share");
		r = -EINVAL;
		snprintf(msg, sizeof(msg),
			 "set-share wants \"share\": the copy's share of a busy "
			 "export's time, a whole percent from 1 to 100 (100: "
			 "never rest)");
		json_int_t share = json_is_integer(v) ? json_integer_value(v)
						      : 0;
		if (share >= 1 && share <= 100 &&
		    (r = migrate_set_share(a->mig, (unsigned)share)) < 0)
			snprintf(msg, sizeof(msg), "%s", mblk_last_error());
		ctl_reply_set(cl, id, r, msg, "copy_share_percent", share);
	} else if (strcmp(cmd, "add-export") == 0 ||
		   strcmp(cmd, "remove-export") == 0) {
		bool add = cmd[0] == 'a';
		json_t *jn = json_object_get(req, "name");
		json_t *ju = json_object_get(req, "uri");
		json_t *jd = json_object_get(req, "description");
		json_t *jr = json_object_get(req, "read_only");
		if (!json_is_string(jn) || (add && !json_is_string(ju)) ||
		    (jd && !json_is_string(jd)) ||
		    (jr && !json_is_boolean(jr))) {
			snprintf(msg, sizeof(msg),
				 add ? "add-export wants \"name\" and \"uri\" "
				       "(strings), and may have "
				       "\"description\" (a string) and "
				       "\"read_only\" (a boolean)"
				     : "remove-export wants \"name\", a string");
			ctl_send(cl, ctl_with_id(ctl_error(-EINVAL, msg), id),
				 false);
			return;
		}
		struct ctl_pending *p = ctl_pending_new(cl, id);
		if (!p) {
			ctl_send(cl,
				 ctl_with_id(ctl_error(-ENOMEM,
						       "out of memory"),
					     id),
				 false);
			return;
		}
		r = add ? serve_admin_add(a, json_string_value(jn),
					  json_string_value(ju),
					  jd ? json_string_value(jd) : NULL,
					  jr && json_is_true(jr),
					  ctl_async_done, p)
			: serve_admin_remove(a, json_string_value(jn),
					     ctl_async_done, p);
		if (r < 0) {
			cl->busy = false;
			json_decref(p->id);
			cl->ctl->pending--;
			free(p);
			ctl_send(cl,
				 ctl_with_id(ctl_error(r, mblk_last_error()),
					     id),
				 false);
		}
	} else if (strcmp(cmd, "quit") == 0) {
		cl->ctl->quit_pending = true;
		ctl_send(cl, ctl_with_id(ctl_ok(NULL), id), true);
	} else {
		snprintf(msg, sizeof(msg),
			 "unknown command '%.100s'; the commands are status, "
			 "pivot, cancel, retry, set-rate, set-share, add-export, "
			 "remove-export and quit",
			 cmd);
		ctl_send(cl, ctl_with_id(ctl_error(-EINVAL, msg), id), false);
	}
}

/* Takes whole lines from the buffer while no command is pending. */
static void ctl_process(struct ctl_client *cl)
{
	size_t off = 0;
	while (!cl->busy && !cl->closing && !cl->ctl->quit_pending) {
		char *nl = memchr(cl->buf + off, '\n', cl->len - off);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (cl->buf + off));
		const char *line = cl->buf + off;
		off += n + 1;
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
			n--;
		if (n == 0)
			continue;
		json_error_t err;
		json_t *req = json_loadb(line, n, 0, &err);
		if (!req || !json_is_object(req)) {
			char msg[400];
			if (req)
				snprintf(msg, sizeof(msg),
					 "a request is a JSON object on one "
					 "line, such as {\"cmd\":\"status\"}");
			else
				snprintf(msg, sizeof(msg),
					 "malformed JSON at column %d: %s",
					 err.column, err.text);
			json_decref(req);
			ctl_send(cl, ctl_error(-EINVAL, msg), false);
			continue;
		}
		ctl_command(cl, req);
		json_decref(req);
	}
	memmove(cl->buf, cl->buf + off, cl->len - off);
	cl->len -= off;
}

static void ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)hint;
	struct ctl_client *cl =
		(struct ctl_client *)((char *)h -
				      offsetof(struct ctl_client, pipe));
	if (!cl->buf)
		cl->buf = malloc(CONTROL_MAX_LINE + 1);
	if (!cl->buf || cl->len >= CONTROL_MAX_LINE) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(cl->buf + cl->len,
			 (unsigned)(CONTROL_MAX_LINE - cl->len));
}

static void ctl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	struct ctl_client *cl =
		(struct ctl_client *)((char *)s -
				      offsetof(struct ctl_client, pipe));
	if (n == UV_ENOBUFS || (n == 0 && cl->len >= CONTROL_MAX_LINE)) {
		char msg[120];
		snprintf(msg, sizeof(msg),
			 "a request line is longer than %u bytes; closing",
			 CONTROL_MAX_LINE);
		uv_read_stop(s);
		cl->refused = true; /* close after this line */
		ctl_send(cl, ctl_error(-EINVAL, msg), false);
		return;
	}
	if (n < 0) {
		/* EOF or an error: whatever the controller started goes on
		 * (its reply is dropped). */
		ctl_client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	ctl_process(cl);
	if (cl->len >= CONTROL_MAX_LINE && !cl->busy)
		ctl_read(s, UV_ENOBUFS, b);
}

static void ctl_connection(uv_stream_t *server, int status)
{
	struct control *ctl = server->data;
	if (status < 0 || ctl->stopping)
		return;
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = ctl;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = ctl;
	ctl->handles++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
		ctl_client_close(cl);
		return;
	}
	if (ctl->nclients == CONTROL_MAX_CLIENTS) {
		char msg[120];
		snprintf(msg, sizeof(msg),
			 "%d controllers are connected already, the most "
			 "this socket takes",
			 CONTROL_MAX_CLIENTS);
		cl->refused = true;
		ctl_send(cl, ctl_error(-EBUSY, msg), false);
		return;
	}
	cl->id = ++ctl->next_id;
	cl->next = ctl->clients;
	cl->listed = true;
	ctl->clients = cl;
	ctl->nclients++;
	uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_read);
}

int control_start(struct control **cp, struct serve_admin *a, const char *path)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		return mblk_set_error(-ENOMEM, "out of memory");
	}
	/* A stale socket of an earlier run is replaced; anything else at
	 * PATH is not ours to remove. */
	struct stat sb;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			free(ctl->path);
			free(ctl);
			return mblk_set_error(-EEXIST,
					      "cannot create control socket %s: "
					      "something that is not a socket "
					      "is there",
					      path);
		}
		unlink(path);
	}
	ctl->a = a;
	uv_pipe_init(a->loop, &ctl->listener, 0);
	ctl->listener.data = ctl;
	ctl->handles = 1;
	mode_t old = umask(077);
	int r = uv_pipe_bind(&ctl->listener, path);
	umask(old);
	if (r == 0 && chmod(path, 0600) < 0)
		r = -errno;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl->listener, 8, ctl_connection);
	if (r < 0) {
		ctl->stopping = true;
		uv_close((uv_handle_t *)&ctl->listener, ctl_handle_closed);
		return mblk_set_error(r,
				      "cannot listen on control socket %s: %s",
				      path, uv_strerror(r));
	}
	*cp = ctl;
	return 0;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	ctl->stopping = true;
	while (ctl->clients)
		ctl_client_close(ctl->clients);
	unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->listener, ctl_handle_closed);
}
