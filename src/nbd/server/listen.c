/* listen.c - the NBD server's listeners: a unix socket, TCP on every
 * address a host name resolves to (IPv4 and IPv6), or a socket that is
 * already listening (systemd socket activation); and serving one socket
 * that is already connected.
 *
 * Each listener remembers the URI base a client would use to reach it,
 * for mblk_nbd_server_uri. Accepting is conn.c's job
 * (mblk__nbds_conn_start); a listener only hands over the stream.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <mblk/backend.h>

#include "server.h"

#define NBDS_BACKLOG 128
#define NBDS_DEFAULT_PORT "10809"

static void listen_on_connection(uv_stream_t *server, int status)
{
	struct nbds_listener *l = server->data;
	if (status < 0) {
		mblk__nbds_log(l->srv, "accepting a connection failed: %s",
			       uv_strerror(status));
		return;
	}
	mblk__nbds_conn_start(l->srv, server, -1);
}

static void listen_free(struct nbds_listener *l)
{
	free(l->unlink_path);
	free(l->uri_base);
	free(l->uri_socket);
	free(l);
}

static void listen_closed(uv_handle_t *h)
{
	struct nbds_listener *l = h->data;
	struct mblk_nbd_server *srv = l->srv;
	listen_free(l);
	mblk__nbds_pending_done(srv);
}

void mblk__nbds_listener_close(struct nbds_listener *l)
{
	if (l->unlink_path)
		unlink(l->unlink_path);
	uv_close(&l->u.h, listen_closed);
}

/* Closing a listener that never made it into the list. */
static void listen_discard_closed(uv_handle_t *h)
{
	listen_free(h->data);
}

static void listen_add(struct mblk_nbd_server *srv, struct nbds_listener *l)
{
	struct nbds_listener **p = &srv->listeners;
	while (*p)
		p = &(*p)->next;
	*p = l;
}

static struct nbds_listener *listen_new(struct mblk_nbd_server *srv)
{
	struct nbds_listener *l = calloc(1, sizeof(*l));
	if (l)
		l->srv = srv;
	return l;
}

int mblk_nbd_server_listen_unix(mblk_nbd_server *srv, const char *path)
{
	if (!path || !*path)
		return mblk_set_error(-EINVAL,
				      "nbd server: no unix socket path given");
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return mblk_set_error(
			-ENAMETOOLONG,
			"nbd server: the unix socket path '%s' "
			"is longer than %zu bytes",
			path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return mblk_set_error(-EEXIST,
					      "nbd server: '%s' exists and is "
					      "not a socket; not replacing it",
					      path);
		unlink(path);
	}
	struct nbds_listener *l = listen_new(srv);
	if (!l)
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	l->is_pipe = true;
	uv_pipe_init(srv->loop, &l->u.pipe, 0);
	l->u.h.data = l;
	int r = uv_pipe_bind(&l->u.pipe, path);
	if (r == 0)
		r = uv_listen(&l->u.s, NBDS_BACKLOG, listen_on_connection);
	if (r < 0) {
		uv_close(&l->u.h, listen_discard_closed);
		return mblk_set_error(r,
				      "nbd server: cannot listen on unix "
				      "socket '%s': %s",
				      path, uv_strerror(r));
	}
	l->unlink_path = strdup(path);
	l->uri_base = strdup("nbd+unix://");
	l->uri_socket = strdup(path);
	listen_add(srv, l);
	if (!l->unlink_path || !l->uri_base || !l->uri_socket)
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	return 0;
}

/* "nbd://HOST:PORT" for an address, with IPv6 in brackets, and the
 * wildcard addresses spelt as the loopback a local client would use. */
static char *listen_tcp_uri(const char *host, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN + 2] = "";
	int port = 0;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		port = ntohs(s6->sin6_port);
		uv_ip6_name(s6, addr, sizeof(addr));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		port = ntohs(s4->sin_port);
		uv_ip4_name(s4, addr, sizeof(addr));
	}
	const char *h = host && *host ? host : addr;
	if (!host || !*host) {
		if (strcmp(addr, "0.0.0.0") == 0)
			h = "127.0.0.1";
		else if (strcmp(addr, "::") == 0)
			h = "::1";
	}
	bool v6 = strchr(h, ':') != NULL;
	char buf[300];
	snprintf(buf, sizeof(buf), "nbd://%s%s%s:%d", v6 ? "[" : "", h,
		 v6 ? "]" : "", port);
	return strdup(buf);
}

static int listen_tcp_one(struct mblk_nbd_server *srv, const char *host,
			  const struct addrinfo *ai)
{
	struct nbds_listener *l = listen_new(srv);
	if (!l)
		return -ENOMEM;
	uv_tcp_init(srv->loop, &l->u.tcp);
	l->u.h.data = l;
	unsigned flags = ai->ai_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	int r = uv_tcp_bind(&l->u.tcp, ai->ai_addr, flags);
	if (r == 0)
		r = uv_listen(&l->u.s, NBDS_BACKLOG, listen_on_connection);
	if (r < 0) {
		uv_close(&l->u.h, listen_discard_closed);
		return r;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len);
	l->uri_base = listen_tcp_uri(host, (struct sockaddr *)&ss);
	listen_add(srv, l);
	return l->uri_base ? 0 : -ENOMEM;
}

int mblk_nbd_server_listen_tcp(mblk_nbd_server *srv, const char *host,
			       const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	const char *p = port && *port ? port : NBDS_DEFAULT_PORT;
	const char *h = host && *host ? host : NULL;
	struct addrinfo *res;
	int g = getaddrinfo(h, p, &hints, &res);
	if (g != 0)
		return mblk_set_error(-EINVAL,
				      "nbd server: cannot resolve '%s' port "
				      "'%s': %s",
				      h ? h : "*", p, gai_strerror(g));
	int ok = 0, first = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int r = listen_tcp_one(srv, h, ai);
		if (r == 0)
			ok++;
		else if (!first)
			first = r;
	}
	freeaddrinfo(res);
	if (!ok)
		return mblk_set_error(first ? first : -EADDRNOTAVAIL,
				      "nbd server: cannot listen on TCP %s "
				      "port %s: %s",
				      h ? h : "*", p,
				      uv_strerror(first ? first
							: -EADDRNOTAVAIL));
	return 0;
}

/* Opens fd as a stream handle of the right kind (TCP or unix). */
static int listen_open_fd(uv_loop_t *loop, int fd, uv_stream_t *s,
			  bool *is_pipe)
{
	uv_handle_type t = uv_guess_handle(fd);
	if (t == UV_TCP) {
		uv_tcp_init(loop, (uv_tcp_t *)s);
		*is_pipe = false;
		return uv_tcp_open((uv_tcp_t *)s, fd);
	}
	if (t == UV_NAMED_PIPE) {
		uv_pipe_init(loop, (uv_pipe_t *)s, 0);
		*is_pipe = true;
		return uv_pipe_open((uv_pipe_t *)s, fd);
	}
	return -ENOTSOCK;
}

int mblk_nbd_server_listen_fd(mblk_nbd_server *srv, int fd)
{
	struct nbds_listener *l = listen_new(srv);
	if (!l)
		return mblk_set_error(-ENOMEM, "nbd server: out of memory");
	int r = listen_open_fd(srv->loop, fd, &l->u.s, &l->is_pipe);
	if (r == -ENOTSOCK) {
		free(l);
		return mblk_set_error(r,
				      "nbd server: file descriptor %d is "
				      "not a TCP or unix socket",
				      fd);
	}
	l->u.h.data = l;
	if (r == 0)
		r = uv_listen(&l->u.s, NBDS_BACKLOG, listen_on_connection);
	if (r < 0) {
		uv_close(&l->u.h, listen_discard_closed);
		return mblk_set_error(r,
				      "nbd server: cannot listen on file "
				      "descriptor %d: %s",
				      fd, uv_strerror(r));
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (l->is_pipe) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
		size_t plen = sizeof(path);
		l->uri_base = strdup("nbd+unix://");
		if (uv_pipe_getsockname(&l->u.pipe, path, &plen) == 0)
			l->uri_socket = strdup(path);
		else
			l->uri_socket = strdup("?");
	} else {
		uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len);
		l->uri_base = listen_tcp_uri(NULL, (struct sockaddr *)&ss);
	}
	listen_add(srv, l);
	return 0;
}

int mblk_nbd_server_serve_fd(mblk_nbd_server *srv, int fd)
{
	uv_handle_type t = uv_guess_handle(fd);
	if (t != UV_TCP && t != UV_NAMED_PIPE)
		return mblk_set_error(-ENOTSOCK,
				      "nbd server: file descriptor %d is not "
				      "a TCP or unix socket",
				      fd);
	return mblk__nbds_conn_start(srv, NULL, fd);
}
