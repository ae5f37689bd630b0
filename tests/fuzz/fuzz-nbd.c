/* fuzz-nbd.c - the NBD fuzz targets' shared driver (fuzz-nbd.h). */
#include "fuzz-nbd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/nbd.h>
#include <mblk/ram.h>

static uv_loop_t *fuzz_loop;
static mblk_dev *fuzz_dev;

static void fuzz_quiet(void *data, const char *sentence)
{
	(void)data;
	(void)sentence;
}

static void fuzz_init(void)
{
	if (fuzz_loop)
		return;
	fuzz_loop = uv_default_loop();
	if (mblk_ram_create(fuzz_loop, NULL, 2048, 512, &fuzz_dev) < 0)
		abort();
}

static void fuzz_drain(uv_poll_t *p, int status, int events)
{
	char buf[65536];
	(void)events;
	int fd = *(int *)p->data;
	if (status < 0 || read(fd, buf, sizeof(buf)) <= 0)
		uv_poll_stop(p);
}

static void fuzz_closed(void *data, int status, const char *error)
{
	(void)status;
	(void)error;
	*(int *)data = 1;
}

void fuzz_nbd_serve(const uint8_t *prefix, size_t plen, const uint8_t *data,
		    size_t len)
{
	fuzz_init();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	struct mblk_nbd_export ex = { .name = "", .dev = fuzz_dev };
	struct mblk_nbd_server_opts o = {
		.log = fuzz_quiet,
		.max_payload = 1u << 20,
		.max_bytes = 4u << 20,
		.handshake_ms = 2000,
	};
	mblk_nbd_server *srv;
	if (mblk_nbd_server_create(fuzz_loop, &ex, 1, &o, &srv) < 0 ||
	    mblk_nbd_server_serve_fd(srv, sv[0]) < 0)
		abort();
	/* The input: as much as the socket takes now, the rest as the
	 * server reads (from the poll below). Small inputs fit at once. */
	struct iovec iov[2] = { { (void *)prefix, plen },
				{ (void *)data, len } };
	size_t total = plen + len, sent = 0;
	uv_poll_t poll;
	int fd = sv[1];
	uv_poll_init(fuzz_loop, &poll, fd);
	poll.data = &fd;
	uv_poll_start(&poll, UV_READABLE, fuzz_drain);
	for (int i = 0; i < 1000000 && mblk_nbd_server_connections(srv); i++) {
		while (sent < total) {
			struct iovec v[2];
			int n = 0;
			size_t skip = sent;
			for (int k = 0; k < 2; k++) {
				if (skip >= iov[k].iov_len) {
					skip -= iov[k].iov_len;
					continue;
				}
				v[n].iov_base = (char *)iov[k].iov_base + skip;
				v[n++].iov_len = iov[k].iov_len - skip;
				skip = 0;
			}
			ssize_t w = writev(fd, v, n);
			if (w <= 0)
				break;
			sent += (size_t)w;
		}
		if (sent == total)
			shutdown(fd, SHUT_WR);
		uv_run(fuzz_loop, UV_RUN_NOWAIT);
		if (sent < total || mblk_nbd_server_connections(srv))
			uv_run(fuzz_loop, UV_RUN_ONCE);
	}
	if (mblk_nbd_server_connections(srv))
		abort(); /* the server hung on this input */
	int done = 0;
	mblk_nbd_server_close(srv, fuzz_closed, &done);
	while (!done)
		uv_run(fuzz_loop, UV_RUN_ONCE);
	uv_poll_stop(&poll);
	uv_close((uv_handle_t *)&poll, NULL);
	uv_run(fuzz_loop, UV_RUN_NOWAIT);
	close(fd);
}
