/* mblk/nbd.h - NBD: export mblk devices over the Network Block Device
 * protocol (the server, docs/nbd-server.md), and list what a server
 * exports (the client's helper). The NBD client itself is a device like
 * any other: open it with mblk_open and an nbd://, nbds://, nbd+unix://
 * or nbds+unix:// URI (docs/devices/nbd.md).
 *
 * The server is a user of the public asynchronous API: it exports any
 * device or stack (ram, file, safe, fault, mirror...) as it is, on the
 * caller's libuv loop, and creates no threads. It speaks fixed newstyle
 * negotiation only, with NBD_OPT_GO / INFO / EXPORT_NAME / LIST / ABORT /
 * STRUCTURED_REPLY / LIST_META_CONTEXT / SET_META_CONTEXT
 * (base:allocation) / EXTENDED_HEADERS, and in transmission READ, WRITE,
 * FLUSH, TRIM, WRITE_ZEROES, CACHE, BLOCK_STATUS and DISC, many requests
 * in flight per connection, replies in any order.
 *
 * Every connection to an export shares the one mblk_dev it was given, so
 * a flush on any connection makes every write completed on any connection
 * durable: the server advertises NBD_FLAG_CAN_MULTI_CONN.
 *
 * The client is a device like any other (mblk_open with nbd://, nbds://,
 * nbd+unix:// or nbds+unix://, docs/devices/nbd.md); its section at the
 * end lists the exports a server offers.
 */
#ifndef MBLK_NBD_H
#define MBLK_NBD_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The server                                                          */

typedef struct mblk_nbd_server mblk_nbd_server;

/* One export. name NULL or "" is the default export, the one a client
 * reaches with an empty name (nbd+unix:///?socket=PATH); at most one
 * export may have it. description (NULL: none) is shown by NBD_OPT_LIST
 * and NBD_INFO_DESCRIPTION. The device stays the caller's: the server
 * never closes it, and it must outlive the server. */
struct mblk_nbd_export {
	const char *name;
	const char *description;
	mblk_dev *dev;
	bool read_only; /* refuse writes even if the device takes them */
};

/* TLS (GnuTLS): off; on (clients may use STARTTLS); require (nothing
 * but STARTTLS, ABORT and errors is answered before TLS is up). */
enum mblk_nbd_tls_mode {
	MBLK_NBD_TLS_OFF = 0,
	MBLK_NBD_TLS_ON,
	MBLK_NBD_TLS_REQUIRE,
};

/* Limits and behaviour; a zeroed struct gives the defaults. */
struct mblk_nbd_server_opts {
	uint32_t max_payload;     /* largest READ/WRITE payload, a multiple
	                            of every export's sector size; 0: 32 MiB */
	uint32_t max_option;      /* largest option during the handshake; a
	                            longer one drops the connection; 0: 64 KiB */
	uint32_t max_requests;    /* requests in flight per connection; at the
	                            limit the server stops reading that
	                            socket; 0: 64 */
	uint64_t max_bytes;       /* payload bytes in flight per connection
	                            (raised to max_payload); 0: 64 MiB */
	uint32_t handshake_ms;    /* a connection still negotiating after
	                            this long is dropped; 0: 10 s */
	uint32_t request_ms;      /* a request whose header or payload has
	                             begun to arrive and stalls this long
	                             (no byte) drops the connection; 0: 30 s */
	uint32_t max_connections; /* connections at once; more are accepted
	                             and closed at once; 0: 1024 */
	/* Where the server's sentences go (a device error with the
	 * connection and request, a client dropped for violating the
	 * protocol). NULL: standard error, prefixed "mblk nbd: ". */
	void (*log)(void *data, const char *sentence);
	void *log_data;
	/* Called each time a connection ends, with the number still open
	 * (mblk serve --once stops at the first). NULL: not called. */
	void (*on_disconnect)(void *data, unsigned open_connections);
	void *on_disconnect_data;
	/* TLS: with a mode other than off, exactly one of tls_certs (a
	 * directory with server-cert.pem, server-key.pem and, to verify
	 * clients, ca-cert.pem: qemu-nbd's and nbdkit's layout) and tls_psk
	 * (a psktool keys file). tls_verify_peer: X.509 clients must present
	 * a certificate signed by ca-cert.pem. */
	enum mblk_nbd_tls_mode tls;
	const char *tls_certs;
	const char *tls_psk;
	bool tls_verify_peer;
	/* Polling: after bytes arrive from any client, the loop keeps
	 * polling without sleeping for this long (microseconds) before it
	 * blocks again, so a request that follows soon is read without a
	 * wake-up (on a VM, a sleeping CPU costs tens of microseconds to
	 * wake). It costs CPU only while clients are active: an idle server
	 * sleeps. 0: never poll. */
	uint32_t poll_us;
};

/* Creates a server on loop for the n exports, copying the array and its
 * strings (the devices are borrowed). Nothing listens yet. Returns 0 with
 * *srvp set, or -errno with the sentence in mblk_last_error() (two
 * default exports, a duplicate name, a NULL device, max_payload not a
 * multiple of a sector size). Call from the loop's thread, as every
 * function here. */
MBLK_API int mblk_nbd_server_create(uv_loop_t *loop,
				    const struct mblk_nbd_export *exports,
				    size_t n,
				    const struct mblk_nbd_server_opts *opts,
				    mblk_nbd_server **srvp);

/* Listens on a unix socket at path (an existing socket file there is
 * replaced; the server removes it when it closes). */
MBLK_API int mblk_nbd_server_listen_unix(mblk_nbd_server *srv,
					 const char *path);

/* Listens on TCP: host is an IPv4 or IPv6 address or name (NULL or "":
 * every address), port a number or service (NULL: 10809). Every address
 * the name resolves to is listened on. Returns 0 or -errno with the
 * sentence in mblk_last_error(). */
MBLK_API int mblk_nbd_server_listen_tcp(mblk_nbd_server *srv, const char *host,
					const char *port);

/* Accepts connections on fd, a socket that is already listening (unix or
 * TCP; systemd socket activation). The server owns fd from then on. */
MBLK_API int mblk_nbd_server_listen_fd(mblk_nbd_server *srv, int fd);

/* Serves one client already connected on fd (a socketpair, inetd). The
 * server owns fd from then on. */
MBLK_API int mblk_nbd_server_serve_fd(mblk_nbd_server *srv, int fd);

/* The number of connections open now. */
MBLK_API unsigned mblk_nbd_server_connections(const mblk_nbd_server *srv);

/* Writes into buf (size len) the URI a client uses to reach the default
 * export (or the first one) through the first listener, such as
 * "nbd+unix:///?socket=/run/x.sock" or "nbd://127.0.0.1:10809/disk".
 * Returns the length the URI needs, like snprintf, or -ENOTCONN when
 * nothing listens. */
MBLK_API int mblk_nbd_server_uri(mblk_nbd_server *srv, char *buf, size_t len);

/* Adds an export while the server runs, with the rules of
 * mblk_nbd_server_create (names unique, one default export, payload a
 * multiple of the sector size); clients negotiating from now on see it.
 * The device stays the caller's. Returns 0 or -errno with the sentence
 * in mblk_last_error(). */
MBLK_API int mblk_nbd_server_add_export(mblk_nbd_server *srv,
					const struct mblk_nbd_export *e);

/* Removes the export named name ("" the default export): clients can no
 * longer choose it, its connections are dropped once their requests in
 * flight have finished and been answered, and then cb (if not NULL) is
 * called with status 0, from the loop and never inside this call; from
 * then on the server no longer touches the device. Returns 0 if started,
 * in which case cb is called exactly once, or -errno (-ENOENT no such
 * export, -EBUSY the last one) with the sentence in mblk_last_error(),
 * in which case cb is never called. */
MBLK_API int mblk_nbd_server_remove_export(mblk_nbd_server *srv,
					   const char *name, mblk_cb cb,
					   void *data);

/* The number of connections in transmission on the export named name,
 * or -ENOENT. */
MBLK_API int mblk_nbd_server_export_connections(const mblk_nbd_server *srv,
						const char *name);

/* Shuts the server down gracefully and frees it: stops accepting, drops
 * connections still negotiating, stops reading requests, lets every
 * request in flight finish and its reply go out, flushes every export
 * that can flush, closes the connections and the listeners (removing a
 * unix socket it created), then calls cb (if not NULL) with status 0, or
 * the first flush failure and its sentence. The devices are untouched
 * otherwise. srv must not be used after this call. */
MBLK_API void mblk_nbd_server_close(mblk_nbd_server *srv, mblk_cb cb,
				    void *data);

/* ------------------------------------------------------------------ */
/* The client: listing exports                                         */

/* One export an NBD server offers, as NBD_OPT_LIST and NBD_OPT_INFO
 * describe it. */
struct mblk_nbd_listed {
	char *name;        /* the export name ("" is the default export) */
	char *description; /* "" when the server gave none */
	bool have_info;    /* the fields below are known (NBD_OPT_INFO) */
	uint64_t size;     /* bytes */
	uint16_t flags;    /* NBD transmission flags (NBD_FLAG_*) */
	uint32_t min_block, pref_block, max_payload; /* 0 if not advertised */
};

/* Connects to the server that uri names (an NBD URI: its export name is
 * ignored; its socket, TLS and timeout keys are used), asks for its
 * exports with NBD_OPT_LIST and then for each one's size, flags and
 * block sizes with NBD_OPT_INFO, the way `nbdinfo --list` does. On
 * success returns the number of exports (0 or more) and stores a malloc'd
 * array of them in *exports, to be released with mblk_nbd_list_free.
 * Returns -errno with the sentence in mblk_last_error() otherwise (for
 * example -ENOTSUP when the server does not list exports).
 *
 * Synchronous: it runs a private libuv loop of its own until done,
 * within the URI's timeout (default 60 s). Any thread may call it. */
MBLK_API int mblk_nbd_list(const char *uri, struct mblk_nbd_listed **exports);

/* Frees what mblk_nbd_list returned (n exports). NULL is a no-op. */
MBLK_API void mblk_nbd_list_free(struct mblk_nbd_listed *exports, int n);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_NBD_H */
