/* server.h - internals shared by the NBD server's files (not installed).
 *
 * Design notes
 *
 * The files, one concept each:
 *   server.c      the server object: exports, limits, logging, shutdown
 *   listen.c      listeners (unix, TCP, inherited fd) and accepting
 *   conn.c        one connection: the socket, the receive buffer, reading
 *                 with back-pressure, sending, the request slots, teardown
 *   handshake.c   the fixed-newstyle negotiation, option by option
 *   transmit.c    transmission: parse, validate and submit each request
 *   reply.c       encoding replies: simple, structured and extended chunks
 *
 * A connection reads into one receive buffer (rx) sized for the largest
 * option. Bytes are parsed from rx in place; a WRITE's payload is copied
 * from rx into the request's buffer, or, when rx is empty, libuv reads
 * straight into that buffer (no copy for large writes).
 *
 * Every request in flight owns a slot: its header, its data buffer, the
 * scratch space for its reply headers and block-status descriptors, and
 * the uv_write_t of its reply. Slots are allocated the first time the
 * connection needs that many and reused from a free list afterwards, so a
 * connection in steady state does not allocate. Data buffers are kept
 * with their slot; their total per connection never exceeds max_bytes
 * (idle buffers are freed first, and a request that does not fit waits).
 *
 * Replies are not written one by one: a finished reply joins the
 * connection's out queue, and a prepare handle (which runs every loop
 * iteration just before libuv waits) writes the whole queue with one
 * uv_try_write, so 16 requests completing together cost one writev, not
 * 16, and a reply waits for no wakeup. What the socket does not take
 * goes through uv_write, in order.
 *
 * Back-pressure: a request is taken from rx only if a slot is free and
 * its buffer fits the byte budget. Otherwise the connection stops reading
 * its socket (uv_read_stop) and starts again when a reply has gone out,
 * so nothing is buffered without bound: rx, the slots and their buffers.
 *
 *   socket ──► rx ──► header ──► slot ──► mblk_read/write/...
 *                                           │ completion
 *   socket ◄── uv_write(reply) ◄── reply.c ◄┘   (any order)
 *                  │ write done: slot freed, reading resumes
 *
 * A connection that breaks the protocol is dropped (logged); requests it
 * had in flight still finish on the device before its memory goes, so an
 * acknowledged write is never lost and a device never sees a freed
 * buffer.
 */
#ifndef MBLK_NBD_SERVER_H
#define MBLK_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <mblk.h>
#include <mblk/nbd.h>

#include "../../core/walk.h"
#include "../proto.h"
#include "../tls.h"

/* Descriptors in one block-status reply, and content chunks in one
 * structured READ reply (a longer map ends in one data chunk). */
#define NBDS_MAX_EXTENTS 64
#define NBDS_MAX_SEGS 16
/* READs this long or longer are mapped for OFFSET_HOLE chunks. */
#define NBDS_HOLE_MIN (64u * 1024)
/* How long a closing connection waits for the client to close. */
#define NBDS_LINGER_MS 2000
/* The longest error message carried in a structured error chunk. */
#define NBDS_MAX_MSG 200
/* The metadata context id of base:allocation. */
#define NBDS_CTX_BASE_ALLOCATION 1

struct nbds_export {
	char *name; /* "" for the default export */
	char *description;
	mblk_dev *dev;
	bool read_only;
};

/* A listener's or a connection's socket: TCP or unix, seen as a handle
 * or a stream. */
union nbds_stream {
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	uv_handle_t h;
	uv_stream_t s;
};

struct nbds_listener {
	struct mblk_nbd_server *srv;
	union nbds_stream u;
	bool is_pipe;
	char *unlink_path; /* the socket file to remove on close, or NULL */
	char *uri_base;    /* "nbd+unix://" ... or "nbd://host:port" */
	char *uri_socket;  /* the unix socket path for the URI, or NULL */
	struct nbds_listener *next;
};

struct mblk_nbd_server {
	uv_loop_t *loop;
	struct nbds_export *exports;
	size_t nexports;
	struct mblk_nbd_server_opts opts; /* defaults filled in */

	struct mblk__nbd_tls *tls; /* credentials, or NULL: TLS off */
	enum mblk_nbd_tls_mode tls_mode;

	struct nbds_listener *listeners;
	struct nbds_conn *conns;      /* doubly linked */
	struct nbds_retired *retired; /* removed exports still in use
	                                 (exports.c) */
	unsigned nconns;
	uint64_t next_id;

	/* Polling (opts.poll_us): while active, the loop does not block. */
	uv_idle_t poller;
	bool poller_init;
	uint64_t last_rx_ns;  /* uv_hrtime() of the last bytes read */
	uint64_t rx_requests; /* request headers read, ever */

	/* Shutting down (mblk_nbd_server_close). */
	unsigned closing; /* 1: draining connections, 2: flushing */
	uv_check_t drain; /* closing 1: closes connections drained */
	unsigned pending; /* listeners and connections still closing,
	                     flushes under way */
	int close_status;
	char *close_error;
	mblk_cb close_cb;
	void *close_data;
};

enum nbds_phase {
	NBDS_CLIENT_FLAGS, /* waiting for the client's 32-bit flags */
	NBDS_OPTIONS,      /* option haggling */
	NBDS_TRANSMISSION,
	NBDS_CLOSING, /* nothing more is read */
};

enum nbds_slot_state {
	NBDS_SLOT_FREE,
	NBDS_SLOT_PAYLOAD, /* receiving a WRITE's payload */
	NBDS_SLOT_DEVICE,  /* submitted to the device */
	NBDS_SLOT_REPLY,   /* the reply is being written */
};

/* A content chunk of a structured READ reply, or a block-status
 * descriptor: a range in bytes and whether it is a hole. */
struct nbds_extent {
	uint64_t offset, length;
	uint32_t flags; /* NBD_STATE_* */
};

struct nbds_slot {
	struct nbds_conn *conn;
	enum nbds_slot_state state;
	struct mblk__nbd_request rq;
	uint64_t payload_got;

	/* The data buffer (READ, WRITE), kept between requests. */
	uint8_t *buf;
	size_t buf_cap;
	struct iovec iov; /* borrowed by the device until completion */
	/* The reply encrypted (TLS), kept between requests. */
	uint8_t *tbuf;
	size_t tbuf_len, tbuf_cap;

	/* Mapping holes (READ) or extents (BLOCK_STATUS): the list so far,
	 * walk[0..nwalk) covering [rq.offset, walk_pos), and the walker. */
	uint64_t walk_pos, walk_end; /* bytes */
	unsigned nwalk, walk_max;
	struct nbds_extent walk[NBDS_MAX_EXTENTS];
	struct mblk__walk walker;

	/* The reply: headers, error message, descriptors, the write. */
	uv_write_t wr;
	uv_buf_t bufs[2 * NBDS_MAX_SEGS + 1];
	unsigned nbufs;
	uint8_t hdr[NBDS_MAX_SEGS + 1][NBD_EXTENDED_REPLY_SIZE + 16];
	uint8_t payload[8 + 16 * NBDS_MAX_EXTENTS];
	char msg[NBDS_MAX_MSG];

	struct nbds_slot *next_free;
	struct nbds_slot *next_out; /* queued to be written (conn.c) */
};

struct nbds_conn {
	struct mblk_nbd_server *srv;
	uint64_t id;
	char peer[80]; /* for messages: "unix", "127.0.0.1:40112" */
	union nbds_stream u;
	uv_timer_t timer;     /* the handshake deadline */
	uv_prepare_t flusher; /* writes the queued replies */
	uv_shutdown_t shut;   /* our FIN, when closing */
	bool lingering;       /* closing: reading until the client closes */
	unsigned handles_open;
	enum nbds_phase phase;
	struct nbds_conn *prev, *next;

	/* Receiving. rx[rx_off, rx_len) is read but not yet parsed. */
	uint8_t *rx;
	size_t rx_cap, rx_off, rx_len;
	bool reading;          /* uv_read_start is in effect */
	bool blocked;          /* waiting for a slot or buffer budget */
	bool rx_direct;        /* the last alloc_cb gave the payload buffer */
	struct nbds_slot *pay; /* the slot receiving a WRITE payload */

	/* Negotiated. */
	bool no_zeroes, structured, extended;
	bool meta_set;     /* SET_META_CONTEXT selected base:allocation */
	char *meta_export; /* ... for this export name */
	struct nbds_export *exp;
	struct mblk_info info;
	uint16_t tflags;
	uint32_t max_payload; /* what BLOCK_SIZE advertised */

	/* Slots: slots[0..nslots) allocated, free ones on a list. */
	struct nbds_slot **slots;
	unsigned nslots, nactive;
	struct nbds_slot *free;
	uint64_t buf_total; /* bytes in every slot's buffer */
	/* Replies ready and not yet written: one writev before the loop next
	 * waits (conn.c). */
	struct nbds_slot *out_head, **out_tail;

	/* TLS (tls.c): ciphertext received and not yet decrypted, the
	 * handshake's and option replies' ciphertext, and where GnuTLS's
	 * push appends now. */
	struct mblk__nbd_tls_session *tls;
	bool tls_handshaking, tls_up;
	uint8_t *tin;
	size_t tin_off, tin_len, tin_cap;
	uint8_t *tout;
	size_t tout_len, tout_cap;
	uint8_t **sink;
	size_t *sink_len, *sink_cap;

	unsigned writes; /* handshake sends in flight */
	bool disc;       /* NBD_CMD_DISC received */
	bool dropped;    /* the reason was logged; close without more */
	bool served;     /* not refused at accept (counts for --once) */
};

/* server.c */
void mblk__nbds_log(struct mblk_nbd_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct nbds_export *mblk__nbds_find_export(struct mblk_nbd_server *srv,
					   const char *name, size_t len);
/* A connection has been freed; served: it was not refused at once. */
void mblk__nbds_conn_gone(struct mblk_nbd_server *srv, bool served);
void mblk__nbds_pending_done(struct mblk_nbd_server *srv);
/* Bytes came in; lone: they brought at most one request, to a connection
 * with no other in flight. Polls for opts.poll_us after a lone read,
 * stops polling after any other (server.c, "Polling"). */
void mblk__nbds_poll_after_read(struct mblk_nbd_server *srv, bool lone);

/* exports.c: a connection is gone; finishes removed exports left
 * without one. */
void mblk__nbds_exports_conn_gone(struct mblk_nbd_server *srv);

/* listen.c */
void mblk__nbds_listener_close(struct nbds_listener *l);

/* conn.c */
int mblk__nbds_conn_start(struct mblk_nbd_server *srv, uv_stream_t *server,
			  int fd);
void mblk__nbds_conn_log(struct nbds_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops the connection: stops reading; frees it once nothing is in
 * flight. The reason (if fmt is not NULL) is logged. */
void mblk__nbds_conn_drop(struct nbds_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sends len bytes (copied) during the handshake. 0 or -errno (then the
 * connection is being dropped). */
int mblk__nbds_conn_send(struct nbds_conn *c, const void *data, size_t len);
/* The same without TLS even when it is up (the handshake's own bytes). */
int mblk__nbds_conn_send_raw(struct nbds_conn *c, const void *data, size_t len);
/* Takes bytes [rx_off, rx_off+n) from rx. */
void mblk__nbds_conn_consume(struct nbds_conn *c, size_t n);
/* A slot for a request needing buf bytes of buffer, or NULL (then the
 * connection is blocked until a slot is released). */
struct nbds_slot *mblk__nbds_slot_get(struct nbds_conn *c, size_t buf);
/* The reply has gone out (or failed): frees the slot and resumes. */
void mblk__nbds_slot_put(struct nbds_slot *s);
/* Writes s's reply (s->bufs[0..nbufs)) and puts the slot when done. */
void mblk__nbds_slot_send(struct nbds_slot *s);
void mblk__nbds_conn_begin_close(struct nbds_conn *c);
/* Parses what rx holds, as far as possible. */
void mblk__nbds_conn_process(struct nbds_conn *c);

/* handshake.c */
void mblk__nbds_handshake_start(struct nbds_conn *c);
/* Parses one step from rx. Returns 1 if it consumed something and may be
 * called again, 0 if it needs more bytes, -1 if the connection is going. */
int mblk__nbds_handshake_step(struct nbds_conn *c);

/* transmit.c */
int mblk__nbds_transmit_step(struct nbds_conn *c);
/* A WRITE's payload is complete. */
void mblk__nbds_transmit_payload_done(struct nbds_slot *s);

/* tls.c */
/* After STARTTLS's ACK: starts the session; bytes already in rx are the
 * client's first TLS bytes. 0 or -1 (dropped). */
int mblk__nbds_tls_start(struct nbds_conn *c);
/* Advances the handshake or decrypts into rx (or the payload buffer).
 * Returns 1 if plaintext was produced, 0 if nothing more can be done
 * now, -1 if the connection is being dropped. */
int mblk__nbds_tls_pump(struct nbds_conn *c);
/* Encrypts bufs into *buf (grown as needed). 0 or -1 (dropped). */
int mblk__nbds_tls_seal(struct nbds_conn *c, uint8_t **buf, size_t *len,
			size_t *cap, const uv_buf_t *bufs, unsigned n);
/* Sends close_notify and frees the session. */
void mblk__nbds_tls_end(struct nbds_conn *c);

/* reply.c */
void mblk__nbds_reply_ok(struct nbds_slot *s);
void mblk__nbds_reply_error(struct nbds_slot *s, int err, const char *msg);
/* A READ whose data is in s->buf and whose map is s->walk[0..nwalk)
 * (empty: all data). */
void mblk__nbds_reply_read(struct nbds_slot *s);
/* A BLOCK_STATUS from s->walk[0..nwalk). */
void mblk__nbds_reply_block_status(struct nbds_slot *s);

#endif
