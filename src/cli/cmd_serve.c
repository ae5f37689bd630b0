/* cmd_serve.c - `mblk serve URI...`: export devices over NBD.
 *
 * Design notes
 *
 * Opens every URI, builds one NBD server (include/mblk/nbd.h) with an
 * export per device, listens where asked (a unix socket, TCP, an fd, the
 * sockets systemd passed with LISTEN_FDS, or, for --run, a private unix
 * socket in a temporary directory), prints the URI clients should use,
 * and runs the loop.
 *
 * Stopping: SIGINT or SIGTERM starts the graceful shutdown (no new
 * connections, requests in flight finish, every export is flushed) and
 * the command exits 0; a second signal exits at once with status 1.
 * --once does the same when the first client has gone. --run CMD
 * (nbdkit's captive mode) runs CMD under /bin/sh with $uri, $nbd and
 * $unixsocket set, shuts down when it exits and exits with its status.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mblk/nbd.h>

#include "cli.h"
#include "serve_admin.h"

static const char serve_help[] =
	"Usage: mblk serve URI... [--unix PATH | --tcp [HOST]:PORT | --fd N]\n"
	"                  [--name NAME]... [--description TEXT]...\n"
	"                  [--read-only] [--max-connections N] [--once]\n"
	"                  [--pidfile FILE] [--run 'CMD']\n"
	"                  [--mirror-to DST [--pivot auto|manual]]\n"
	"                  [--control PATH] [--metrics [HOST:]PORT]\n"
	"                  [--tls=off|on|require (--tls-certs DIR |\n"
	"                   --tls-psk FILE) [--tls-verify-peer]]\n"
	"\n"
	"Exports each device URI over NBD until interrupted, and prints the\n"
	"URI a client uses (nbd+unix:///?socket=PATH, nbd://HOST:PORT/NAME).\n"
	"The first --name names the first URI, and so on; the one device left\n"
	"without a name is the default export (the empty name), so with one\n"
	"device and no --name, nbd+unix:///?socket=PATH reaches it. Every\n"
	"client of an export shares one device handle, so the server offers\n"
	"multi-conn: a flush on any connection covers them all.\n"
	"\n"
	"Where it listens (one of; default: TCP port 10809 on every address,\n"
	"or the sockets systemd passes with LISTEN_FDS):\n"
	"  -u, --unix PATH           a unix socket (replaced if it exists)\n"
	"  -t, --tcp [HOST]:PORT     TCP; HOST an IPv4 or IPv6 address ([::1])\n"
	"                            or name; no HOST: every address\n"
	"  -f, --fd N                file descriptor N: a listening socket, or\n"
	"                            one connected client\n"
	"\n"
	"Options:\n"
	"  -n, --name NAME           the export name of the next URI\n"
	"  -d, --description TEXT    the description of the next URI\n"
	"  -r, --read-only           export read-only (and open read-only)\n"
	"  -m, --max-connections N   clients at once (default 1024)\n"
	"  -H, --handshake-timeout S drop a client still negotiating after S\n"
	"                            seconds (default 10)\n"
	"  --request-timeout S       drop a client whose request stalls half\n"
	"                            sent for S seconds (default 30)\n"
	"  --poll-us N               after a request arrives alone, poll N\n"
	"                            microseconds for the next before sleeping\n"
	"                            (default 50; 0: never; CPU for latency)\n"
	"  -1, --once                exit when the first client disconnects\n"
	"  -P, --pidfile FILE        write the process id to FILE once\n"
	"                            listening\n"
	"  -R, --run 'CMD'           run CMD with $uri, $nbd and $unixsocket\n"
	"                            set (a private unix socket unless a\n"
	"                            listener is given), stop when it exits\n"
	"                            and exit with its status\n"
	"  --tls=off|on|require      TLS (GnuTLS): off (default without\n"
	"                            credentials), on (clients choose;\n"
	"                            default with them) or require (nothing\n"
	"                            but STARTTLS before TLS is up)\n"
	"  --tls-certs DIR           X.509: DIR holds server-cert.pem,\n"
	"                            server-key.pem and ca-cert.pem\n"
	"  --tls-psk FILE            PSK: a psktool keys file\n"
	"  --tls-verify-peer         X.509 clients must present a certificate\n"
	"                            signed by DIR/ca-cert.pem\n"
	"  -h, --help                show this help\n"
	"\n"
	"%s"
	"\n"
	"SIGINT or SIGTERM: stop accepting, finish the requests in flight\n"
	"(answering NBD_ESHUTDOWN to any that arrive meanwhile), flush,\n"
	"exit 0; a second signal exits at once (status 1).\n"
	"\n"
	"Examples:\n"
	"  mblk serve 'ram:?size=1G' --unix /tmp/ram.sock\n"
	"  mblk serve disk.img --name disk --tcp 127.0.0.1:10809\n"
	"  mblk serve 'ram:?size=64M' --run 'qemu-img info \"$uri\"'\n"
	"  mblk serve src.img --mirror-to dst.img --unix /tmp/disk.sock\n";

#define SERVE_MAX_EXPORTS 64
/* The polling window: longer than a client's round trip on this VM
 * (about 30 us), as qemu's iothreads poll up to 32 us by default. */
#define SERVE_POLL_US 50

struct serve_run {
	uv_loop_t loop;
	mblk_nbd_server *srv;
	uv_signal_t sigint, sigterm;
	uv_process_t child;
	bool child_running, stopping, once, served;
	int child_status;
	int signals;
	int exit_status;
	struct serve_admin *adm; /* NULL: no --mirror-to/--control/--metrics */
	char tmpdir[64];
	char sock[128];
};

static void serve_log(void *data, const char *sentence)
{
	(void)data;
	fprintf(stderr, "mblk serve: %s\n", sentence);
}

static void serve_closed(void *data, int status, const char *error)
{
	struct serve_run *r = data;
	r->srv = NULL;
	if (status < 0) {
		fprintf(stderr, "mblk serve: %s\n", error);
		if (r->exit_status == 0)
			r->exit_status = CLI_FAIL;
	}
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void serve_stop(struct serve_run *r)
{
	if (r->stopping)
		return;
	r->stopping = true;
	if (r->adm)
		serve_admin_stop(r->adm);
	mblk_nbd_server_close(r->srv, serve_closed, r);
}

/* The control socket's quit. */
static void serve_quit(void *data)
{
	serve_stop(data);
}

static void serve_signal(uv_signal_t *h, int signum)
{
	struct serve_run *r = h->data;
	if (++r->signals > 1) {
		fprintf(stderr, "mblk serve: second signal (%s): exiting now\n",
			strsignal(signum));
		if (r->sock[0])
			unlink(r->sock);
		_exit(CLI_FAIL);
	}
	if (r->child_running)
		uv_process_kill(&r->child, signum);
	serve_stop(r);
}

static void serve_on_disconnect(void *data, unsigned open)
{
	struct serve_run *r = data;
	r->served = true;
	if (r->once && open == 0)
		serve_stop(r);
}

static void serve_child_exit(uv_process_t *p, int64_t status, int sig)
{
	struct serve_run *r = p->data;
	r->child_running = false;
	r->exit_status = sig ? 128 + sig : (int)status;
	uv_close((uv_handle_t *)p, NULL);
	serve_stop(r);
}

/* --tcp [HOST]:PORT, with [v6] in brackets. */
static int serve_split_tcp(char *arg, char **host, char **port)
{
	char *colon = strrchr(arg, ':');
	if (!colon)
		return -1;
	*colon = 0;
	*port = colon + 1;
	*host = arg;
	size_t n = strlen(arg);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		arg[n - 1] = 0;
		*host = arg + 1;
	}
	return **port ? 0 : -1;
}

static int serve_listen(struct serve_run *r, const char *unix_path, char *tcp,
			int fd, bool run)
{
	int rc = 0;
	const char *lpid = getenv("LISTEN_PID"), *lfds = getenv("LISTEN_FDS");
	if (unix_path) {
		rc = mblk_nbd_server_listen_unix(r->srv, unix_path);
	} else if (tcp) {
		char *host, *port;
		if (serve_split_tcp(tcp, &host, &port) < 0)
			return cli_usage("serve",
					 "--tcp wants [HOST]:PORT, not '%s'",
					 tcp);
		rc = mblk_nbd_server_listen_tcp(r->srv, host, port);
	} else if (fd >= 0) {
		int acc = 0;
		socklen_t len = sizeof(acc);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) ==
			    0 &&
		    acc)
			rc = mblk_nbd_server_listen_fd(r->srv, fd);
		else
			rc = mblk_nbd_server_serve_fd(r->srv, fd);
	} else if (lpid && lfds && strtol(lpid, NULL, 10) == getpid()) {
		long n = strtol(lfds, NULL, 10);
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		for (long i = 0; i < n && rc == 0; i++)
			rc = mblk_nbd_server_listen_fd(r->srv, 3 + (int)i);
	} else if (run) {
		snprintf(r->tmpdir, sizeof(r->tmpdir),
			 "/tmp/mblk-serve-XXXXXX");
		if (!mkdtemp(r->tmpdir))
			return cli_fail("serve",
					"cannot create a directory for the "
					"socket: %s",
					strerror(errno));
		snprintf(r->sock, sizeof(r->sock), "%s/nbd.sock", r->tmpdir);
		rc = mblk_nbd_server_listen_unix(r->srv, r->sock);
	} else {
		rc = mblk_nbd_server_listen_tcp(r->srv, NULL, "10809");
	}
	if (rc < 0)
		return cli_fail("serve", "%s", mblk_last_error());
	return CLI_OK;
}

static int serve_run_child(struct serve_run *r, const char *cmd,
			   const char *uri)
{
	setenv("uri", uri, 1);
	setenv("nbd", uri, 1);
	if (r->sock[0])
		setenv("unixsocket", r->sock, 1);
	char *args[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	uv_process_options_t po = {
		.file = "/bin/sh",
		.args = args,
		.exit_cb = serve_child_exit,
	};
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_INHERIT_FD, .data.fd = 0 },
		{ .flags = UV_INHERIT_FD, .data.fd = 1 },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	po.stdio = stdio;
	po.stdio_count = 3;
	r->child.data = r;
	int rc = uv_spawn(&r->loop, &r->child, &po);
	if (rc < 0)
		return cli_fail("serve", "cannot run '%s': %s", cmd,
				uv_strerror(rc));
	r->child_running = true;
	return CLI_OK;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "unix", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "fd", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "handshake-timeout", required_argument, NULL, 'H' },
		{ "request-timeout", required_argument, NULL, 'Q' },
		{ "poll-us", required_argument, NULL, 'W' },
		{ "tls", required_argument, NULL, 'T' },
		{ "tls-certs", required_argument, NULL, 'C' },
		{ "tls-psk", required_argument, NULL, 'K' },
		{ "tls-verify-peer", no_argument, NULL, 'V' },
		{ "once", no_argument, NULL, '1' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "run", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		SERVE_ADMIN_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *unix_path = NULL, *pidfile = NULL, *run = NULL;
	char *tcp = NULL;
	int fd = -1, listeners = 0;
	const char *names[SERVE_MAX_EXPORTS], *descs[SERVE_MAX_EXPORTS];
	int nnames = 0, ndescs = 0;
	bool ro = false, once = false;
	uint64_t maxconn = 0, hs_timeout = 0, rq_timeout = 0, v;
	uint64_t poll_us = SERVE_POLL_US;
	struct serve_admin adm = { .mo.dst_direct = false };
	const char *tls_certs = NULL, *tls_psk = NULL;
	int tls = -1;
	bool tls_verify = false;
	int c, a;
	while ((c = getopt_long(argc, argv, "u:t:f:n:d:rm:H:1P:R:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 'u':
			unix_path = optarg;
			listeners++;
			break;
		case 't':
			tcp = optarg;
			listeners++;
			break;
		case 'f':
			if (cli_parse_uint("serve", "--fd", optarg, 0,
					   INT32_MAX, &v) < 0)
				return CLI_USAGE;
			fd = (int)v;
			listeners++;
			break;
		case 'n':
			if (nnames == SERVE_MAX_EXPORTS)
				return cli_usage("serve", "too many --name");
			names[nnames++] = optarg;
			break;
		case 'd':
			if (ndescs == SERVE_MAX_EXPORTS)
				return cli_usage("serve",
						 "too many --description");
			descs[ndescs++] = optarg;
			break;
		case 'r': ro = true; break;
		case 'm':
			if (cli_parse_uint("serve", "--max-connections", optarg,
					   1, 1u << 20, &maxconn) < 0)
				return CLI_USAGE;
			break;
		case 'H':
			if (cli_parse_uint("serve", "--handshake-timeout",
					   optarg, 1, 86400, &hs_timeout) < 0)
				return CLI_USAGE;
			break;
		case 'Q':
			if (cli_parse_uint("serve", "--request-timeout", optarg,
					   1, 86400, &rq_timeout) < 0)
				return CLI_USAGE;
			break;
		case 'W':
			if (cli_parse_uint("serve", "--poll-us", optarg, 0,
					   100000, &poll_us) < 0)
				return CLI_USAGE;
			break;
		case 'T':
			if (strcmp(optarg, "off") == 0)
				tls = MBLK_NBD_TLS_OFF;
			else if (strcmp(optarg, "on") == 0)
				tls = MBLK_NBD_TLS_ON;
			else if (strcmp(optarg, "require") == 0)
				tls = MBLK_NBD_TLS_REQUIRE;
			else
				return cli_usage("serve",
						 "--tls is off, on or require, "
						 "not '%s'",
						 optarg);
			break;
		case 'C': tls_certs = optarg; break;
		case 'K': tls_psk = optarg; break;
		case 'V': tls_verify = true; break;
		case '1': once = true; break;
		case 'P': pidfile = optarg; break;
		case 'R': run = optarg; break;
		case 'h': printf(serve_help, serve_admin_help); return CLI_OK;
		default:
			if ((a = serve_admin_option(&adm, c, optarg)) != 0) {
				if (a < 0)
					return CLI_USAGE;
				break;
			}
			return cli_bad_option("serve", c, argv);
		}
	}
	int ndev = argc - optind;
	if (ndev < 1)
		return cli_usage("serve", "no device URI given");
	if (ndev > SERVE_MAX_EXPORTS)
		return cli_usage("serve", "more than %d devices",
				 SERVE_MAX_EXPORTS);
	if (listeners > 1)
		return cli_usage("serve",
				 "give one of --unix, --tcp and --fd, not %d",
				 listeners);
	if (nnames > ndev)
		return cli_usage("serve", "%d --name for %d devices", nnames,
				 ndev);
	if (ndescs > ndev)
		return cli_usage("serve", "%d --description for %d devices",
				 ndescs, ndev);
	if (ndev - nnames > 1)
		return cli_usage("serve",
				 "%d devices have no --name; only one can be "
				 "the default export",
				 ndev - nnames);

	if (serve_admin_check(&adm, ndev) != 0)
		return CLI_USAGE;
	if (tls_certs && tls_psk)
		return cli_usage("serve", "give --tls-certs or --tls-psk, not "
					  "both");
	if (tls < 0)
		tls = tls_certs || tls_psk ? MBLK_NBD_TLS_ON : MBLK_NBD_TLS_OFF;
	if (tls != MBLK_NBD_TLS_OFF && !tls_certs && !tls_psk)
		return cli_usage("serve",
				 "--tls=%s needs --tls-certs DIR or "
				 "--tls-psk FILE",
				 tls == MBLK_NBD_TLS_ON ? "on" : "require");
	if (tls_verify && !tls_certs)
		return cli_usage("serve", "--tls-verify-peer needs "
					  "--tls-certs DIR");

	struct serve_run *r = calloc(1, sizeof(*r));
	if (!r)
		return cli_fail("serve", "out of memory");
	uv_loop_init(&r->loop);
	r->once = once;
	if (serve_admin_wanted(&adm))
		r->adm = &adm;
	struct mblk_nbd_export exps[SERVE_MAX_EXPORTS];
	int opened = 0, status = CLI_OK;
	for (int i = 0; i < ndev; i++) {
		mblk_dev *dev;
		if (r->adm ? serve_admin_open(r->adm, &r->loop,
					      argv[optind + i],
					      i < nnames ? names[i] : NULL,
					      ro ? MBLK_OPEN_RDONLY : 0, &dev)
			   : cli_open("serve", &r->loop, argv[optind + i],
				      ro ? MBLK_OPEN_RDONLY : 0, &dev)) {
			status = CLI_FAIL;
			goto out;
		}
		exps[i] = (struct mblk_nbd_export){
			.name = i < nnames ? names[i] : NULL,
			.description = i < ndescs ? descs[i] : NULL,
			.dev = dev,
			.read_only = ro,
		};
		opened++;
	}
	struct mblk_nbd_server_opts so = {
		.max_connections = (uint32_t)maxconn,
		.poll_us = (uint32_t)poll_us,
		.handshake_ms = (uint32_t)(hs_timeout * 1000),
		.request_ms = (uint32_t)(rq_timeout * 1000),
		.tls = (enum mblk_nbd_tls_mode)tls,
		.tls_certs = tls == MBLK_NBD_TLS_OFF ? NULL : tls_certs,
		.tls_psk = tls == MBLK_NBD_TLS_OFF ? NULL : tls_psk,
		.tls_verify_peer = tls_verify,
		.log = serve_log,
		.on_disconnect = serve_on_disconnect,
		.on_disconnect_data = r,
	};
	if (mblk_nbd_server_create(&r->loop, exps, (size_t)ndev, &so, &r->srv) <
	    0) {
		status = cli_fail("serve", "%s", mblk_last_error());
		goto out;
	}
	status = serve_listen(r, unix_path, tcp, fd, run != NULL);
	if (status != CLI_OK) {
		mblk_nbd_server_close(r->srv, NULL, NULL);
		uv_run(&r->loop, UV_RUN_DEFAULT);
		goto out;
	}
	if (r->adm &&
	    serve_admin_start(r->adm, r->srv, serve_quit, r) != CLI_OK) {
		status = CLI_FAIL;
		serve_admin_stop(r->adm);
		mblk_nbd_server_close(r->srv, NULL, NULL);
		uv_run(&r->loop, UV_RUN_DEFAULT);
		goto out;
	}
	char uri[4096] = "";
	mblk_nbd_server_uri(r->srv, uri, sizeof(uri));
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 ||
		    fclose(f) != 0) {
			status = cli_fail("serve",
					  "cannot write pidfile '%s': %s",
					  pidfile, strerror(errno));
			mblk_nbd_server_close(r->srv, NULL, NULL);
			uv_run(&r->loop, UV_RUN_DEFAULT);
			goto out;
		}
	}
	uv_signal_init(&r->loop, &r->sigint);
	uv_signal_init(&r->loop, &r->sigterm);
	r->sigint.data = r->sigterm.data = r;
	uv_signal_start(&r->sigint, serve_signal, SIGINT);
	uv_signal_start(&r->sigterm, serve_signal, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (run) {
		if (serve_run_child(r, run, uri) != CLI_OK) {
			r->exit_status = CLI_FAIL;
			serve_stop(r);
		}
	} else {
		printf("%s\n", uri);
		fflush(stdout);
	}
	uv_run(&r->loop, UV_RUN_DEFAULT);
	status = r->exit_status;
	if (pidfile)
		unlink(pidfile);
out:
	for (int i = 0; i < opened; i++)
		cli_close(&r->loop,
			  r->adm ? serve_admin_take(r->adm, exps[i].dev)
				 : exps[i].dev);
	if (r->adm)
		serve_admin_free(r->adm);
	if (r->sock[0])
		unlink(r->sock);
	if (r->tmpdir[0])
		rmdir(r->tmpdir);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
	free(r);
	return status;
}
