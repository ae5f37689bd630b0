/* client.h - the NBD client device's internals (not installed).
 *
 * Design notes
 *
 * The client is four concepts, one file each:
 *
 *   uri.c        nbd://, nbds://, nbd+unix://, nbds+unix:// into a
 *                struct mblk__nbdc_cfg, and back (mblk_get_uri)
 *   conn.c       one connection: the socket (TCP or a unix socket), its
 *                receive buffer and the "want" machinery every parser
 *                below is written in, the timer, closing
 *   handshake.c  option haggling as a state machine driven by reads
 *   xmit.c       transmission: cookies, the send queue, reply parsing
 *   nbd.c        the mblk device: ops, open, multi-conn, reconnect
 *   list.c       mblk_nbd_list: the exports a server offers
 *
 * Receiving. Every parser is a chain of steps. A step asks for the next
 * piece of input with one of
 *
 *   mblk__nbdc_want(k, n, step)        n bytes, contiguous, then step(k, p)
 *   mblk__nbdc_want_data(k, iov, ...)  bytes straight into a caller's
 *                                      buffers, then step(k, NULL)
 *
 * and returns; the read callback feeds the input to whatever is wanted.
 * Input lands in a staging buffer (k->rbuf) and is parsed from there, so
 * one read() can carry many small replies; but when a large read payload
 * is wanted and nothing is staged, the alloc callback hands libuv the
 * caller's own buffer, so big reads are never copied.
 *
 * Nothing here allocates per request: the cookie table (slots) grows to
 * the high-water mark of commands in flight, the batch of headers and
 * buffers for one uv_write is sized once, and each request's state lives
 * in its mblk request context (struct mblk__nbdc_rctx).
 */
#ifndef MBLK_NBD_CLIENT_H
#define MBLK_NBD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <mblk/backend.h>
#include "../proto.h"

#define MBLK__NBDC_DEFAULT_PORT "10809"
/* Seconds: connecting, each option reply, and each request. */
#define MBLK__NBDC_DEFAULT_TIMEOUT 60
#define MBLK__NBDC_MAX_CONNS 16
/* The largest option reply payload accepted during the handshake, and
 * the largest error chunk: anything bigger is a broken server. */
#define MBLK__NBDC_MAX_OPT_REPLY (1u << 20)
/* The largest read payload asked for when the server advertises none
 * (the spec's portable maximum). */
#define MBLK__NBDC_DEFAULT_MAX_PAYLOAD (32u << 20)
/* Commands without payload (trim, zeroes, cache, block status) are cut
 * into pieces of at most this many bytes. */
#define MBLK__NBDC_MAX_EFFECT (1u << 30)
/* Headers one uv_write may carry. */
#define MBLK__NBDC_BATCH 128

/* What the URI says. Strings are owned (malloc'd). */
struct mblk__nbdc_cfg {
	char scheme[12]; /* "nbd", "nbds", "nbd+unix", "nbds+unix" */
	bool tls;
	bool unix_socket;
	char *host;   /* TCP: the host, IPv6 without its brackets */
	char *port;   /* TCP: the port (a number or a service name) */
	char *socket; /* unix: the socket's path */
	char *export_name;
	char *tls_certificates;
	char *tls_psk_file;
	char *tls_username;
	uint64_t timeout_s;
	uint64_t connections;
	uint64_t reconnect_s;
	bool read_only;
	char *server; /* for sentences: "127.0.0.1:10809", "/run/s.sock" */
};

struct mblk_uri;
int mblk__nbdc_cfg_parse(struct mblk_uri *u, struct mblk__nbdc_cfg *cfg);
void mblk__nbdc_cfg_free(struct mblk__nbdc_cfg *cfg);
/* Writes the URI that reopens cfg's export (snprintf's contract). */
int mblk__nbdc_cfg_uri(const struct mblk__nbdc_cfg *cfg, char *buf, size_t len,
		       bool with_device_keys);

/* What the handshake learnt about the export. */
struct mblk__nbdc_export {
	uint64_t size;        /* bytes */
	uint16_t tflags;      /* NBD_FLAG_* transmission flags */
	uint32_t min_block;   /* 0 when not advertised */
	uint32_t pref_block;  /* 0 when not advertised */
	uint32_t max_payload; /* 0 when not advertised */
	bool structured;      /* structured replies (or extended headers) */
	bool extended;        /* extended headers */
	bool have_meta;       /* base:allocation negotiated */
	uint32_t meta_id;     /* its context id */
	bool fixed_newstyle;
	bool no_zeroes;        /* the server offered NBD_FLAG_NO_ZEROES */
	bool have_export_info; /* size and flags arrived */
	bool used_export_name; /* the server knew no NBD_OPT_GO */
	char *description;     /* NBD_INFO_DESCRIPTION, or NULL */
};

/* One command on the wire: the table entry its cookie names. */
struct mblk__nbdc_slot {
	mblk_req *req;   /* NULL when the slot is free */
	uint64_t offset; /* the command's range, in bytes */
	uint64_t length;
	uint64_t got;      /* READ: content bytes received (data + holes) */
	uint64_t deadline; /* uv_now() past which it has stalled */
	uint32_t gen;      /* bumped on every reuse: stale cookies miss */
	uint32_t next_free;
	uint16_t cmd;
};

enum mblk__nbdc_want_kind {
	MBLK__NBDC_WANT_NONE,
	MBLK__NBDC_WANT_BYTES,
	MBLK__NBDC_WANT_DATA,
};

struct mblk__nbdc_conn;
/* A parser step: p is the n bytes asked for (NULL after data). */
typedef void (*mblk__nbdc_step)(struct mblk__nbdc_conn *k, const uint8_t *p);
/* The connection's end of the handshake: status 0, or -errno and msg. */
typedef void (*mblk__nbdc_ready_fn)(struct mblk__nbdc_conn *k, int status,
				    const char *msg);

enum mblk__nbdc_phase {
	MBLK__NBDC_CONNECTING,
	MBLK__NBDC_HANDSHAKE,
	MBLK__NBDC_TRANSMISSION,
	MBLK__NBDC_DEAD, /* failed or closing: no more input is parsed */
};

/* The exports mblk_nbd_list collects, for list.c. */
struct mblk__nbdc_listing;

struct mblk__nbdc_conn {
	uv_loop_t *loop;
	const struct mblk__nbdc_cfg *cfg;
	void *owner; /* the device state (nbd.c) or the listing */
	int index;   /* in the owner's connection array */
	enum mblk__nbdc_phase phase;
	struct mblk__nbdc_export ex;

	/* The socket, the connect request and the timer. */
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} sock;
	bool sock_inited;
	bool referenced; /* sock and timer are ref'd (requests in flight) */
	uv_getaddrinfo_t gai;
	bool resolving;
	struct addrinfo *ai_list, *ai_next;
	uv_connect_t creq;
	uv_timer_t timer;
	bool timer_inited;
	int handles_open; /* close callbacks pending */
	void (*on_closed)(struct mblk__nbdc_conn *k); /* all handles gone */

	/* Receiving (see the design notes). */
	uint8_t *rbuf;
	size_t rcap, rlen, rpos;
	enum mblk__nbdc_want_kind want;
	size_t want_n;
	mblk__nbdc_step step;
	bool direct; /* the last alloc gave libuv the caller's buffer */
	const struct iovec *d_iov;
	int d_iovcnt, d_i;
	size_t d_off;
	uint64_t d_left;

	/* The handshake (handshake.c). */
	mblk__nbdc_ready_fn on_ready;
	bool list_mode; /* NBD_OPT_LIST then NBD_OPT_INFO each, no GO */
	uint32_t opt;   /* the option whose replies are being read */
	uint32_t rep_type;
	int hs_list_i; /* list mode: the export being asked about */

	/* Transmission (xmit.c). */
	struct mblk__nbdc_slot *slots;
	uint32_t nslots, free_slot;  /* free list through next_free */
	uint32_t inflight;           /* slots in use */
	mblk_req *sq_head, *sq_tail; /* requests with commands to send */
	uint64_t queued;             /* requests in the send queue */
	uv_write_t wreq;
	bool writing;
	bool disc_sent;
	uv_buf_t *wbufs;
	uint8_t *whdrs;
	/* The reply being parsed. */
	struct mblk__nbd_reply rep;
	uint32_t rslot;   /* the slot its cookie names (an index: see xmit.c) */
	uint32_t bs_left; /* block status descriptors still to read */
	bool bs_match;    /* the chunk is for base:allocation */
	uv_write_t dreq;  /* NBD_CMD_DISC */
	int write_err;    /* a write failed (see xmit_write_failed) */
	uint32_t sector_size; /* the device's, set by the owner */

	/* Why the connection died, for every request it fails. */
	int err;
	char msg[256];
	bool counted; /* nbd.c: counted among the device's live conns */
};

/* ---- conn.c ---- */

/* Zeroes *k and prepares it (buffers; no handle yet). 0 or -ENOMEM. */
int mblk__nbdc_conn_init(struct mblk__nbdc_conn *k, uv_loop_t *loop,
			 const struct mblk__nbdc_cfg *cfg, void *owner);
/* Resolves, connects and runs the handshake; on_ready is called exactly
 * once, from the loop (never inside this call). */
void mblk__nbdc_conn_start(struct mblk__nbdc_conn *k,
			   mblk__nbdc_ready_fn on_ready);
/* Closes every handle; on_closed (may be NULL) once they are all gone.
 * k's memory must stay until then. */
void mblk__nbdc_conn_close(struct mblk__nbdc_conn *k,
			   void (*on_closed)(struct mblk__nbdc_conn *k));
/* Frees the buffers (after the handles are closed). */
void mblk__nbdc_conn_free(struct mblk__nbdc_conn *k);
void mblk__nbdc_want(struct mblk__nbdc_conn *k, size_t n, mblk__nbdc_step step);
void mblk__nbdc_want_data(struct mblk__nbdc_conn *k, const struct iovec *iov,
			  int iovcnt, uint64_t skip, uint64_t len,
			  mblk__nbdc_step step);
/* Marks the connection dead with a sentence (printf-style), stops
 * reading and tells the owner: the handshake's on_ready during the
 * handshake, mblk__nbdc_lost during transmission. */
void mblk__nbdc_conn_fail(struct mblk__nbdc_conn *k, int status,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sock and timer keep the loop alive only while requests are in flight. */
void mblk__nbdc_conn_ref(struct mblk__nbdc_conn *k, bool ref);
/* Re-arms the timer for the connection's current phase. */
void mblk__nbdc_conn_arm_timer(struct mblk__nbdc_conn *k);

/* ---- handshake.c ---- */

/* Called by conn.c once connected: runs the handshake, then
 * k->on_ready. */
void mblk__nbdc_handshake_start(struct mblk__nbdc_conn *k);
/* Appends n bytes to be sent as one option (control path). */
int mblk__nbdc_send_option(struct mblk__nbdc_conn *k, uint32_t opt,
			   const void *data, uint32_t len);
/* A human name for an option reply error. */
const char *mblk__nbdc_rep_err_text(uint32_t rep);

/* ---- xmit.c ---- */

/* Per-request state, in the mblk request context. */
struct mblk__nbdc_rctx {
	mblk_req *next;               /* send queue link */
	struct mblk__nbdc_conn *conn; /* where its commands go */
	uint64_t base;                /* byte offset of the request */
	uint64_t total;               /* bytes the commands cover */
	uint64_t sent;                /* bytes already in commands */
	uint16_t cmd;                 /* NBD_CMD_* */
	uint16_t cflags;              /* NBD_CMD_FLAG_* */
	uint32_t pending;             /* commands sent and not answered */
	int iov_i;                    /* write: where the next piece starts */
	size_t iov_off;
	bool finished;  /* completed or failed: ignore further news */
	bool queued;    /* in a send queue */
	uint32_t epoch; /* reconnect: the connection generation it is on */
	/* Extents: the partial sector being assembled (see xmit.c). */
	uint64_t bs_pos;
	uint32_t bs_pflags;
	bool bs_partial;
	int status; /* the first failure of one of its commands */
	char cause[256];
};

/* Prepares k's slot table and batch buffers. */
int mblk__nbdc_xmit_init(struct mblk__nbdc_conn *k);
void mblk__nbdc_xmit_free(struct mblk__nbdc_conn *k);
/* Queues req (its rctx filled in) on k and starts sending. */
void mblk__nbdc_xmit_submit(struct mblk__nbdc_conn *k, mblk_req *req);
/* Starts reading replies (the handshake is over). */
void mblk__nbdc_xmit_start(struct mblk__nbdc_conn *k);
/* Sends NBD_CMD_DISC (nothing is in flight), then closes k like
 * mblk__nbdc_conn_close. */
void mblk__nbdc_xmit_disc(struct mblk__nbdc_conn *k,
			  void (*on_closed)(struct mblk__nbdc_conn *k));
/* The stall check run by the timer: fails the connection if a command
 * has been waiting past its deadline. */
void mblk__nbdc_xmit_check_stall(struct mblk__nbdc_conn *k);
/* Takes every request off k (in flight or queued), calling fn on each
 * once. */
void mblk__nbdc_xmit_drain(struct mblk__nbdc_conn *k,
			   void (*fn)(void *data, mblk_req *req), void *data);

/* ---- nbd.c ---- */

/* The connection is lost during transmission (k->err, k->msg). */
void mblk__nbdc_lost(struct mblk__nbdc_conn *k);
/* A request's last command is answered: complete it. */
void mblk__nbdc_req_finish(mblk_req *req);

/* ---- list.c ---- */
/* Called by handshake.c in list mode for each export, then at the end. */
void mblk__nbdc_list_add(struct mblk__nbdc_conn *k, const char *name,
			 size_t name_len, const char *desc, size_t desc_len);
/* The name of export i, or NULL past the last. */
const char *mblk__nbdc_list_name(struct mblk__nbdc_conn *k, int i);
/* NBD_OPT_INFO for export i ended: status 0 and k->ex filled, or < 0. */
void mblk__nbdc_list_info(struct mblk__nbdc_conn *k, int i, int status);

#endif /* MBLK_NBD_CLIENT_H */
