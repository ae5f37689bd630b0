/* cmd_ctl.c - `mblk ctl PATH COMMAND [ARGS]`: drive a running `mblk serve`
 * through its control socket (control.c; docs/migration.md).
 *
 * Design notes
 *
 * A plain blocking client: connect, send one JSON line built with
 * jansson, read lines until the reply (printing or skipping the event
 * lines in between), print it, exit 0 if it says ok. Every wait is
 * bounded by --timeout (poll on the socket). `wait STATE` polls status
 * every 100 ms until the mirror reaches STATE, and fails at once when it
 * reaches a state it cannot leave for that one (failed, cancelled).
 * `events` prints event lines until the server closes the socket.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char ctl_help[] =
	"Usage: mblk ctl PATH COMMAND [ARGS] [--json] [--timeout SECONDS]\n"
	"\n"
	"Sends COMMAND to the control socket PATH of 'mblk serve --control\n"
	"PATH' and prints the reply (--json: the reply line as it came).\n"
	"Exit status 0 when the server says ok, 1 when it refuses (the\n"
	"sentence on stderr), 2 for a usage error.\n"
	"\n"
	"Commands:\n"
	"  status                    exports, connections, requests and bytes,\n"
	"                            the mirror's state, bytes left, rates and\n"
	"                            errors\n"
	"  pivot                     switch the export onto the destination\n"
	"                            (refused until it is in sync)\n"
	"  cancel                    stop the mirror; keep serving the source\n"
	"  retry                     after a failure or a cancel: copy\n"
	"                            everything onto the destination again\n"
	"  set-rate RATE             the copy's limit in bytes/s (K/M/G; 0:\n"
	"                            none)\n"
	"  set-share PERCENT         the copy's share of a busy export's time\n"
	"                            (1-100; 100: never rest)\n"
	"  add-export NAME URI [--read-only] [--description TEXT]\n"
	"  remove-export NAME        drop its clients and close its device\n"
	"  quit                      stop the server gracefully\n"
	"  wait STATE                wait until the mirror is in STATE\n"
	"                            (in-sync, pivoted, failed, cancelled)\n"
	"  events                    print event lines until the server stops\n"
	"  send JSON                 send one raw request line\n"
	"\n"
	"Options:\n"
	"  -j, --json                print the reply as JSON\n"
	"  -T, --timeout SECONDS     give up after this long (default 60)\n"
	"  -r, --read-only           add-export: export read-only\n"
	"  -d, --description TEXT    add-export: the description\n"
	"  -h, --help                show this help\n"
	"\n"
	"Examples:\n"
	"  mblk ctl /run/mig.sock status\n"
	"  mblk ctl /run/mig.sock wait in-sync && mblk ctl /run/mig.sock pivot\n";

#ifndef MBLK_CLI_CONTROL

int cmd_ctl(int argc, char **argv)
{
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(ctl_help, stdout);
		return CLI_OK;
	}
	return cli_fail("ctl", "this mblk was built without jansson, so "
			       "without the control socket");
}

#else

#include <jansson.h>

#include "../common/size.h"

struct ctl_conn {
	int fd;
	char buf[1 << 16];
	size_t len;
	double deadline;
	bool json;
	bool eof_is_end; /* events: the server closing is the normal end */
	bool eof;        /* ... and it has closed */
};

static double ctl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ctl_connect(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return cli_fail("ctl", "the socket path '%s' is too long",
				path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cli_fail("ctl", "cannot connect to %s: %s", path,
				strerror(errno));
	return CLI_OK;
}

/* The next line (NUL-terminated, in c->buf, valid until the next call),
 * or NULL after printing why (timeout, closed). */
static char *ctl_line(struct ctl_conn *c, size_t *consumed)
{
	if (*consumed) {
		memmove(c->buf, c->buf + *consumed, c->len - *consumed);
		c->len -= *consumed;
		*consumed = 0;
	}
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = '\0';
			*consumed = (size_t)(nl - c->buf) + 1;
			return c->buf;
		}
		if (c->len == sizeof(c->buf)) {
			cli_fail("ctl",
				 "a line from the server is longer "
				 "than %zu bytes",
				 sizeof(c->buf));
			return NULL;
		}
		double left = c->deadline - ctl_now();
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int ms = left > 86400.0 ? -1 : (int)(left * 1000) + 1;
		int r = left > 0 ? poll(&p, 1, ms) : 0;
		if (r == 0) {
			cli_fail("ctl", "no reply from the server in time "
					"(--timeout)");
			return NULL;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = r < 0 ? -1
				  : read(c->fd, c->buf + c->len,
					 sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && c->eof_is_end) {
			c->eof = true;
			return NULL;
		}
		if (n <= 0) {
			cli_fail("ctl",
				 "the server closed the control "
				 "socket%s%s",
				 n < 0 ? ": " : "",
				 n < 0 ? strerror(errno) : "");
			return NULL;
		}
		c->len += (size_t)n;
	}
}

static int ctl_write_all(struct ctl_conn *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cli_fail("ctl", "cannot send the request: %s",
					strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return CLI_OK;
}

/* Sends line and returns the reply object (the caller's), or NULL. */
static json_t *ctl_request(struct ctl_conn *c, const char *line)
{
	if (ctl_write_all(c, line, strlen(line)) != CLI_OK ||
	    ctl_write_all(c, "\n", 1) != CLI_OK)
		return NULL;
	size_t used = 0;
	for (;;) {
		char *l = ctl_line(c, &used);
		if (!l)
			return NULL;
		json_error_t err;
		json_t *j = json_loads(l, 0, &err);
		if (!json_is_object(j)) {
			json_decref(j);
			cli_fail("ctl",
				 "the server sent a line that is not "
				 "a JSON object: %.200s",
				 l);
			return NULL;
		}
		if (json_object_get(j, "event")) { /* not the reply */
			json_decref(j);
			continue;
		}
		/* Keep what came after the reply for the next request. */
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		return j;
	}
}

static const char *ctl_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void ctl_print_status(json_t *r)
{
	char a[24], b[24], t[24];
	json_t *srv = json_object_get(r, "server");
	printf("connections: %d\n",
	       (int)json_integer_value(json_object_get(srv, "connections")));
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r, "exports"), i, e)
	{
		const char *name = ctl_str(e, "name");
		json_t *ops = json_object_get(e, "ops");
		json_t *rd = json_object_get(ops, "read"),
		       *wr = json_object_get(ops, "write");
		printf("export '%s': %s, %d connections, %lld reads (%s), "
		       "%lld writes (%s)\n",
		       name, ctl_str(e, "uri"),
		       (int)json_integer_value(
			       json_object_get(e, "connections")),
		       json_integer_value(json_object_get(rd, "requests")),
		       mblk__human_size((uint64_t)json_integer_value(
						json_object_get(rd, "bytes")),
					a, sizeof(a)),
		       json_integer_value(json_object_get(wr, "requests")),
		       mblk__human_size((uint64_t)json_integer_value(
						json_object_get(wr, "bytes")),
					b, sizeof(b)));
	}
	json_t *m = json_object_get(r, "mirror");
	if (json_is_object(m)) {
		printf("mirror: %s -> %s: %s (%s mode), %d%%, %s left, %s/s, "
		       "%lld copy errors\n",
		       ctl_str(m, "source"), ctl_str(m, "destination"),
		       ctl_str(m, "state"), ctl_str(m, "mode"),
		       (int)json_integer_value(json_object_get(m, "percent")),
		       mblk__human_size(
			       (uint64_t)json_integer_value(
				       json_object_get(m, "bytes_remaining")),
			       a, sizeof(a)),
		       mblk__human_size(
			       (uint64_t)json_number_value(json_object_get(
				       m, "copy_rate_bytes_per_s")),
			       t, sizeof(t)),
		       json_integer_value(json_object_get(m, "copy_errors")));
		if (json_is_string(json_object_get(m, "error")))
			printf("mirror error: %s\n", ctl_str(m, "error"));
	}
}

/* Prints the reply; CLI_OK when it says ok. */
static int ctl_report(struct ctl_conn *c, json_t *reply, const char *cmd)
{
	int ok = json_is_true(json_object_get(reply, "ok"));
	if (c->json) {
		char *s = json_dumps(reply,
				     JSON_COMPACT | JSON_REAL_PRECISION(9));
		printf("%s\n", s ? s : "{}");
		free(s);
	} else if (ok && strcmp(cmd, "status") == 0) {
		ctl_print_status(json_object_get(reply, "result"));
	}
	if (!ok)
		cli_fail("ctl", "%s", ctl_str(reply, "error"));
	return ok ? CLI_OK : CLI_FAIL;
}

static int ctl_wait(struct ctl_conn *c, const char *state)
{
	static const char *const states[] = {
		"copying", "in-sync", "pivoting",
		"pivoted", "failed",  "cancelled"
	};
	bool known = false;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		known |= strcmp(state, states[i]) == 0;
	if (!known)
		return cli_usage("ctl",
				 "wait takes copying, in-sync, pivoting, "
				 "pivoted, failed or cancelled, not '%s'",
				 state);
	for (;;) {
		json_t *r = ctl_request(c, "{\"cmd\":\"status\"}");
		if (!r)
			return CLI_FAIL;
		json_t *m =
			json_object_get(json_object_get(r, "result"), "mirror");
		if (!json_is_object(m)) {
			json_decref(r);
			return cli_fail("ctl", "the server has no mirror");
		}
		const char *now = ctl_str(m, "state");
		bool done = strcmp(now, state) == 0 ||
			    (strcmp(state, "in-sync") == 0 &&
			     strcmp(now, "pivoted") == 0 &&
			     strcmp(ctl_str(m, "pivot"), "auto") == 0);
		bool stuck = !done && (strcmp(now, "failed") == 0 ||
				       strcmp(now, "cancelled") == 0 ||
				       (strcmp(now, "pivoted") == 0));
		if (done || stuck) {
			int rc = CLI_OK;
			if (c->json) {
				char *s =
					json_dumps(m,
						   JSON_COMPACT |
							   JSON_REAL_PRECISION(
								   9));
				printf("%s\n", s ? s : "{}");
				free(s);
			}
			if (stuck)
				rc = cli_fail("ctl",
					      "the mirror is %s, and will not "
					      "become %s%s%s",
					      now, state,
					      json_is_string(
						      json_object_get(m,
								      "error"))
						      ? ": "
						      : "",
					      ctl_str(m, "error"));
			json_decref(r);
			return rc;
		}
		json_decref(r);
		if (ctl_now() > c->deadline)
			return cli_fail("ctl",
					"the mirror is still %s "
					"(--timeout)",
					now);
		usleep(100000);
	}
}

static int ctl_events(struct ctl_conn *c)
{
	size_t used = 0;
	c->deadline = 1e300;
	c->eof_is_end = true;
	for (;;) {
		char *l = ctl_line(c, &used);
		if (!l)
			return c->eof ? CLI_OK : CLI_FAIL;
		printf("%s\n", l);
		fflush(stdout);
	}
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ctl_conn conn;
	struct ctl_conn *c = &conn;
	uint64_t timeout = 60;
	bool ro = false;
	const char *desc = NULL;
	int o;
	c->json = false;
	c->len = 0;
	while ((o = getopt_long(argc, argv, "+jT:rd:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': c->json = true; break;
		case 'T':
			if (cli_parse_uint("ctl", "--timeout", optarg, 1, 86400,
					   &timeout) < 0)
				return CLI_USAGE;
			break;
		case 'r': ro = true; break;
		case 'd': desc = optarg; break;
		case 'h': fputs(ctl_help, stdout); return CLI_OK;
		default: return cli_bad_option("ctl", o, argv);
		}
	}
	/* Options may also follow the command. */
	int rest = argc - optind;
	char **args = argv + optind;
	if (rest < 2)
		return cli_usage("ctl", "expected PATH and COMMAND");
	const char *path = args[0], *cmd = args[1];
	int nargs = rest - 2;
	char **cargs = args + 2;
	/* The positional arguments; options after the command too. */
	char *pos[4];
	int npos = 0;
	for (int i = 0; i < nargs; i++) {
		const char *x = cargs[i];
		if (strcmp(x, "--json") == 0 || strcmp(x, "-j") == 0) {
			c->json = true;
			continue;
		}
		if (strcmp(x, "--read-only") == 0) {
			ro = true;
			continue;
		}
		if ((strcmp(x, "--description") == 0 ||
		     strcmp(x, "--timeout") == 0) &&
		    i + 1 < nargs) {
			if (x[2] == 'd')
				desc = cargs[++i];
			else if (cli_parse_uint("ctl", "--timeout", cargs[++i],
						1, 86400, &timeout) < 0)
				return CLI_USAGE;
			continue;
		}
		if (npos == 4)
			return cli_usage("ctl", "too many arguments for %s",
					 cmd);
		pos[npos++] = cargs[i];
	}

	json_t *req = NULL;
	int want = 0;
	bool is_wait = false, is_events = false, raw = false;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "pivot") == 0 ||
	    strcmp(cmd, "cancel") == 0 || strcmp(cmd, "retry") == 0 ||
	    strcmp(cmd, "quit") == 0) {
		req = json_pack("{s:s}", "cmd", cmd);
	} else if (strcmp(cmd, "set-rate") == 0) {
		want = 1;
		uint64_t rate;
		if (npos == 1 &&
		    cli_parse_size("ctl", "set-rate", pos[0], &rate) < 0)
			return CLI_USAGE;
		if (npos == 1)
			req = json_pack("{s:s,s:I}", "cmd", cmd, "rate",
					(json_int_t)rate);
	} else if (strcmp(cmd, "set-share") == 0) {
		want = 1;
		uint64_t share;
		if (npos == 1 && cli_parse_uint("ctl", "set-share", pos[0], 1,
						100, &share) < 0)
			return CLI_USAGE;
		if (npos == 1)
			req = json_pack("{s:s,s:I}", "cmd", cmd, "share",
					(json_int_t)share);
	} else if (strcmp(cmd, "add-export") == 0) {
		want = 2;
		if (npos == 2) {
			req = json_pack("{s:s,s:s,s:s,s:b}", "cmd", cmd, "name",
					pos[0], "uri", pos[1], "read_only", ro);
			if (desc)
				json_object_set_new(req, "description",
						    json_string(desc));
		}
	} else if (strcmp(cmd, "remove-export") == 0) {
		want = 1;
		if (npos == 1)
			req = json_pack("{s:s,s:s}", "cmd", cmd, "name",
					pos[0]);
	} else if (strcmp(cmd, "wait") == 0) {
		want = 1;
		is_wait = true;
	} else if (strcmp(cmd, "events") == 0) {
		is_events = true;
	} else if (strcmp(cmd, "send") == 0) {
		want = 1;
		raw = true;
	} else {
		return cli_usage("ctl", "unknown command '%s'", cmd);
	}
	if (npos != want)
		return cli_usage("ctl", "%s takes %d argument%s, not %d", cmd,
				 want, want == 1 ? "" : "s", npos);

	if (ctl_connect(c, path) != CLI_OK) {
		json_decref(req);
		return CLI_FAIL;
	}
	c->deadline = ctl_now() + (double)timeout;
	int rc;
	if (is_wait) {
		rc = ctl_wait(c, pos[0]);
	} else if (is_events) {
		rc = ctl_events(c);
	} else {
		char *line = raw ? strdup(pos[0])
				 : json_dumps(req, JSON_COMPACT);
		json_t *reply = line ? ctl_request(c, line) : NULL;
		free(line);
		rc = reply ? ctl_report(c, reply, cmd) : CLI_FAIL;
		json_decref(reply);
	}
	json_decref(req);
	close(c->fd);
	return rc;
}

#endif
