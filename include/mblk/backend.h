/* mblk/backend.h - the interface for writing a device or a decorator.
 *
 * Users of devices need only <mblk.h>. This header is for code that
 * implements one: a backend (ram, file, nbd) that stores data, or a
 * decorator (safe, mirror, fault) that holds other devices, its children,
 * and changes what passes through.
 *
 * The model, in one picture:
 *
 *   mblk_write(top, ...)            user request, from top's pool
 *        |  core: checks, counts it in flight, calls top's ops->write
 *        v
 *   decorator ops->write(dev, req)  may allocate child requests on its
 *        |                          children (mblk_req_alloc), submit them
 *        v                          (mblk_req_submit) and finish req when
 *   backend ops->write(dev, req)    they are done; a backend does the I/O
 *        |                          and calls mblk_req_done(req, status)
 *        v
 *   core: stops counting it, calls the parent's done function or the
 *         user's callback, and returns req to its pool
 *
 * Every device has its own request pool. A request is the fixed header
 * below followed by ops->req_ctx_size bytes of per-device context
 * (mblk_req_ctx), so a layer never allocates per I/O: the pool grows to
 * the high-water mark of requests in flight and is reused from then on.
 *
 * The core guarantees to every op: the device is connected (and has not
 * said it is lost: mblk_dev_set_disconnected); the request is inside the
 * device (start and end, no overflow); buffers are a whole number of
 * sectors, not NULL, and their total equals count sectors; writes,
 * discards, zeroes and resizes target a read-write device; the op is one
 * the capabilities allow. Backends may assert these.
 *
 * A device must call mblk_req_done exactly once per request it is given,
 * from the loop's thread. It may do so at once, inside its op: the core
 * then defers the callback to the loop, so a callback never runs inside
 * the submitting call.
 */
#ifndef MBLK_BACKEND_H
#define MBLK_BACKEND_H

#include <stdarg.h>
#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mblk_op {
	MBLK_OP_READ,
	MBLK_OP_WRITE,
	MBLK_OP_FLUSH,
	MBLK_OP_DISCARD,
	MBLK_OP_WRITE_ZEROES,
	MBLK_OP_RESIZE,
	MBLK_OP_SEEK_MAPPED,
	MBLK_OP_SEEK_UNMAPPED,
	MBLK_OP_DISCONNECT,
	MBLK_OP_EXTENTS,
	MBLK_OP_CACHE,
};

/* The longest error sentence a request carries, NUL included. */
#define MBLK_MSG_MAX 320

typedef struct mblk_req mblk_req;
/* Called when a child request finishes; see mblk_req_submit. */
typedef void (*mblk_done_fn)(mblk_req *req);

/* A request as a device sees it: its meaning, which a device reads, and
 * its outcome (status, result, ext_n and msg), which a device writes only
 * through mblk_req_done / mblk_req_fail (and ext_n for extents). The
 * core's own bookkeeping lives before this header in memory and is not
 * part of the interface. */
struct mblk_req {
	mblk_dev *dev; /* the device the request was submitted to */
	enum mblk_op op;
	unsigned flags;          /* MBLK_WRITE_FUA, MBLK_ZEROES_* */
	uint64_t sector;         /* start; RESIZE: the new size; SEEK: from */
	uint64_t count;          /* sectors: READ/WRITE (sum of iov),
	                            DISCARD, WRITE_ZEROES, EXTENTS, CACHE */
	const struct iovec *iov; /* READ/WRITE buffers (borrowed) */
	int iovcnt;
	struct mblk_extent *ext; /* EXTENTS: room for ext_max (borrowed) */
	int ext_max;
	int ext_n;              /* EXTENTS: how many the device filled in */
	int status;             /* 0 or -errno, set at completion */
	uint64_t result;        /* SEEK: the answer */
	void *done_data;        /* for the done function's use */
	char msg[MBLK_MSG_MAX]; /* the sentence when status < 0 */
};

/* The request header's size rounded up to 16 bytes, so that the context
 * after it is aligned like malloc's memory whatever the header's size;
 * the pool lays requests out with the same figure. */
#define MBLK_REQ_HDR_SIZE ((sizeof(struct mblk_req) + 15u) & ~(size_t)15u)

/* The device's own part of the request: ops->req_ctx_size bytes, aligned
 * for any type, uninitialised when the op receives it. */
static inline void *mblk_req_ctx(mblk_req *req)
{
	return (char *)req + MBLK_REQ_HDR_SIZE;
}

/* What a device does. Every member may be NULL: on a device with
 * children, a NULL member passes the request to child 0 unchanged; on a
 * device without, it fails with -ENOTSUP (the seeks answer "all data").
 * Each op receives a request the core has checked (see above) and must
 * complete it exactly once with mblk_req_done or mblk_req_fail. While a
 * request is in flight the device keeps something referenced on its
 * loop (a handle, a uv_work_t, a child's request) that will lead to its
 * completion: uv_run must not return 0 with requests pending (the _sync
 * helpers report such a request as -EIO, a device bug). */
struct mblk_dev_ops {
	const char *kind;    /* "ram", "file", "safe", ...: for messages */
	size_t req_ctx_size; /* bytes of context per request */
	/* Fill req->iov from sector; may fail with -EIO etc. */
	void (*read)(mblk_dev *dev, mblk_req *req);
	/* Store req->iov at sector; honour MBLK_WRITE_FUA if the device
	 * has MBLK_CAP_FUA (otherwise the core emulates it with a flush). */
	void (*write)(mblk_dev *dev, mblk_req *req);
	void (*flush)(mblk_dev *dev, mblk_req *req);
	void (*discard)(mblk_dev *dev, mblk_req *req);
	void (*write_zeroes)(mblk_dev *dev, mblk_req *req);
	/* Change the size to req->sector; on success the core records the
	 * new size in the device's info. */
	void (*resize)(mblk_dev *dev, mblk_req *req);
	/* req->op is MBLK_OP_SEEK_MAPPED or _UNMAPPED; answer in
	 * req->result, never past the device size. A device with extents
	 * but no seek gets seeks derived from its extents by the core. */
	void (*seek)(mblk_dev *dev, mblk_req *req);
	/* Fill req->ext[0..req->ext_n) (1 <= ext_n <= ext_max) with
	 * consecutive extents from req->sector, within [sector, sector +
	 * count) (the core clips count to the device). A device with seeks
	 * but no extents gets extents derived from its seeks by the core;
	 * with neither, a leaf reports everything as data and a decorator
	 * passes the request to child 0. */
	void (*extents)(mblk_dev *dev, mblk_req *req);
	/* Prefetch [sector, sector + count): advisory. NULL on a leaf:
	 * done at once with 0. */
	void (*cache)(mblk_dev *dev, mblk_req *req);
	/* Called once, when no request is in flight: release what serves
	 * I/O (fds, rings, handles) and complete req. Never fails. NULL:
	 * disconnect the children, or nothing for a backend. */
	void (*disconnect)(mblk_dev *dev, mblk_req *req);
	/* Optional: refresh *info (already holding the cached values).
	 * Only size_sectors may change: capabilities, sector size and the
	 * rest are fixed once the device exists (the core keeps them). */
	void (*get_info)(mblk_dev *dev, struct mblk_info *info);
	/* Optional: see mblk_get_uri. NULL on a decorator: child 0's. */
	int (*get_uri)(mblk_dev *dev, char *buf, size_t len);
	/* Optional: see mblk_get_allocated. NULL on a decorator: child 0's. */
	int (*get_allocated)(mblk_dev *dev, uint64_t *bytes);
	/* Free the private state; the device is disconnected and idle. The
	 * core closes the children afterwards. */
	void (*destroy)(mblk_dev *dev);
};

/* Device flags for mblk_dev_create. MBLK_DEV_CHECKS_ITSELF: the ops
 * validate requests themselves (safe): skip the core's entry checks on
 * requests users submit. */
#define MBLK_DEV_CHECKS_ITSELF 1u

#define MBLK_DEV_MAX_CHILDREN 4

/* Creates a device. info is copied (min_io and pref_io default to the
 * sector size, buf_align to 1 when 0). children (up to 4) become owned by
 * the new device: they are closed when it is. priv is returned by
 * mblk_dev_priv. name is copied and used in every sentence. On failure
 * returns -errno with mblk_last_error set; the children are not touched. */
MBLK_API int mblk_dev_create(uv_loop_t *loop, const struct mblk_dev_ops *ops,
			     void *priv, const char *name,
			     const struct mblk_info *info,
			     mblk_dev *const *children, int nchildren,
			     unsigned flags, mblk_dev **devp);

/* Replaces the device's children with children[0..n) (up to 4); the
 * device owns the new ones from now on, and the caller the ones it no
 * longer lists. For a decorator that changes what it holds while open
 * (the mirror's pivot): call it when no request of the device is on its
 * way to a child being dropped. Returns 0 or -EINVAL. */
MBLK_API int mblk_dev_set_children(mblk_dev *dev, mblk_dev *const *children,
				   int n);

MBLK_API void *mblk_dev_priv(const mblk_dev *dev);
MBLK_API mblk_dev *mblk_dev_child(const mblk_dev *dev, int i);
MBLK_API const struct mblk_dev_ops *mblk_dev_ops(const mblk_dev *dev);
/* The cached geometry, for the device itself to read or update. */
MBLK_API struct mblk_info *mblk_dev_info(mblk_dev *dev);
/* True once the device cannot serve requests: it is disconnecting or
 * disconnected (mblk_disconnect, mblk_close), or it said it is lost
 * (mblk_dev_set_disconnected). A decorator with exactly one child is
 * disconnected when that child is. Loop thread only. */
MBLK_API bool mblk_dev_is_disconnected(const mblk_dev *dev);
/* Called by a device that has lost what it serves from for good (its
 * server closed the connection and it will not reconnect, its client
 * was fenced): fmt (printf-style) says why, naming the peer and the
 * cause. From then on mblk_dev_is_disconnected is true, and the core
 * fails every request submitted to dev with -ESHUTDOWN and "<device>:
 * <operation and range>: <that sentence>" before it reaches the ops;
 * requests already in flight are the device's to finish. Disconnecting
 * and closing work as before (ops->disconnect still runs). Only the
 * first call counts; a device that is only retrying does not call it.
 * Loop thread only. */
MBLK_API void mblk_dev_set_disconnected(mblk_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The sentence given to mblk_dev_set_disconnected (by dev, or through a
 * chain of one-child decorators by the device under it), or NULL if none
 * was: connected, or disconnected on request. Valid until dev is
 * closed. Loop thread only. */
MBLK_API const char *mblk_dev_disconnect_reason(const mblk_dev *dev);
/* Requests submitted to dev and not yet completed. */
MBLK_API uint64_t mblk_dev_inflight(const mblk_dev *dev);

/* Takes a request from dev's pool with its meaning fields cleared, to be
 * filled in and passed to mblk_req_submit. NULL if out of memory. */
MBLK_API mblk_req *mblk_req_alloc(mblk_dev *dev);
/* Returns a completed request to its pool. */
MBLK_API void mblk_req_free(mblk_req *req);

/* Submits a request made by mblk_req_alloc to its device. done(req) is
 * called exactly once, from the loop and never inside this call, with
 * req->status, req->result and req->msg filled in; done must eventually
 * call mblk_req_free(req). The core checks the request as it checks a
 * user's (an invalid one completes with -EINVAL and a sentence). */
MBLK_API void mblk_req_submit(mblk_req *req, mblk_done_fn done,
			      void *done_data);

/* Completes req with status (0 or -errno). A failure without a sentence
 * gets one built from the device name, the operation and strerror. */
MBLK_API void mblk_req_done(mblk_req *req, int status);

/* Completes req with status < 0 and the sentence
 * "<device>: <operation and range>: <cause>", the cause from fmt. */
MBLK_API void mblk_req_fail(mblk_req *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
MBLK_API void mblk_req_vfail(mblk_req *req, int status, const char *fmt,
			     va_list ap);

/* Calls fn(req) from the loop on its next iteration, outside any
 * submission, in order with the device's other deferred completions; fn
 * must then complete req. For a device that starts work at submission and
 * finishes it a moment later: the ram device prefetches the page-table
 * entry of a small read when it is submitted and copies the data here, so
 * that with many requests in flight the cache miss overlaps other work. */
MBLK_API void mblk_req_defer(mblk_req *req, mblk_done_fn fn);

/* Copies req's meaning (op, flags, sector, count, iov, iovcnt, ext,
 * ext_max) into child, a request from mblk_req_alloc, for a decorator
 * that passes a request down with its own done function. The outcome
 * (status, result, ext_n, msg), dev and done_data are not copied: the
 * child's are its own, and the done function hands the outcome back
 * (mblk_req_done_from, and ext_n for extents). The buffers stay
 * borrowed from req's submitter. */
static inline void mblk_req_copy(mblk_req *child, const mblk_req *req)
{
	child->op = req->op;
	child->flags = req->flags;
	child->sector = req->sector;
	child->count = req->count;
	child->iov = req->iov;
	child->iovcnt = req->iovcnt;
	child->ext = req->ext;
	child->ext_max = req->ext_max;
}

/* Passes req unchanged to the device `to` (a child) as a new request and
 * completes req with its outcome: what a NULL op does on a decorator.
 * A decorator that needs its own done function does the same with
 * mblk_req_alloc, mblk_req_copy and mblk_req_submit. */
MBLK_API void mblk_req_forward(mblk_req *req, mblk_dev *to);

/* Completes parent with child's status, result and sentence (the child's
 * sentence already names the inner device). Does not free child. */
MBLK_API void mblk_req_done_from(mblk_req *parent, const mblk_req *child);

/* Writes "write of sectors 8-15 (8 sectors)" and the like for req. */
MBLK_API int mblk_req_describe(const mblk_req *req, char *buf, size_t len);

/* Sets this thread's last-error sentence (printf-style) and returns err,
 * for control-path functions: return mblk_set_error(-ENOENT, "..."). */
MBLK_API int mblk_set_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The name of an operation: "read", "write", "write_zeroes", ... */
MBLK_API const char *mblk_op_name(enum mblk_op op);

/* Checks a read or write request against geometry the way `safe` does:
 * buffers not NULL and a whole number of sectors, iovcnt within
 * [0, IOV_MAX], start and end inside the device without overflow, and, if
 * check_align, buffer addresses and lengths aligned to info->buf_align.
 * Returns 0, or -EINVAL with the sentence in msg (len bytes). total_sectors
 * receives the request's length. dev_name names the device in msg. */
MBLK_API int mblk_check_rw(const char *dev_name, const struct mblk_info *info,
			   enum mblk_op op, uint64_t sector,
			   const struct iovec *iov, int iovcnt,
			   bool check_align, uint64_t *total_sectors, char *msg,
			   size_t len);

/* Checks a range request (discard, write_zeroes) the same way. */
MBLK_API int mblk_check_range(const char *dev_name,
			      const struct mblk_info *info, enum mblk_op op,
			      uint64_t sector, uint64_t count, char *msg,
			      size_t len);

/* ------------------------------------------------------------------ */
/* Schemes: how a device is opened by URI (mblk_open).                 */

/* A URI being opened: the scheme's opener reads it with the getters
 * below. It stays valid until the open request finishes. */
struct mblk_uri;
/* An open in progress: finished exactly once by mblk_open_done or
 * mblk_open_fail*. */
struct mblk_open_req;

/* One key a scheme accepts, with a one-line help for `mblk --help-uri`
 * and the sentence that refuses an unknown key. */
struct mblk_uri_key {
	const char *name; /* "size" */
	const char *type; /* "size", "bool", "number", "path", "URI", ... */
	const char *help; /* one line */
};

/* A scheme. A device's folder defines one as `const struct mblk_scheme
 * mblk__scheme_NAME` and its meson.build adds `mblk_schemes += 'NAME'`:
 * the build assembles the table of schemes from the devices built, and
 * nothing else names the device. Programs may add their own devices at
 * run time with mblk_scheme_register. */
struct mblk_scheme {
	const char *name;    /* "ram": lower case, what comes before ':' */
	const char *syntax;  /* "ram:[NAME][?key=value...]" */
	const char *summary; /* one line */
	const struct mblk_uri_key *keys; /* terminated by a NULL name */
	/* Starts opening: reads the URI's keys, then creates the device
	 * (perhaps asynchronously: a connect, a handshake) and finishes req
	 * exactly once, possibly before returning (the user's callback is
	 * deferred to the loop in any case). */
	void (*open)(struct mblk_open_req *req, struct mblk_uri *u);
};

/* Adds a scheme for this process (the name must be new). Returns 0,
 * -EEXIST or -ENOSPC (more than 32 added). Thread-safe. */
MBLK_API int mblk_scheme_register(const struct mblk_scheme *s);
/* The i-th scheme known to this mblk (built in, then registered), or
 * NULL past the last: for listing them. */
MBLK_API const struct mblk_scheme *mblk_scheme_at(int i);

MBLK_API uv_loop_t *mblk_open_req_loop(const struct mblk_open_req *req);
MBLK_API unsigned mblk_open_req_flags(const struct mblk_open_req *req);
/* Finishes req with dev, which becomes the caller's. mblk_open applies
 * MBLK_OPEN_RDONLY and the safe wrapper afterwards. */
MBLK_API void mblk_open_done(struct mblk_open_req *req, mblk_dev *dev);
/* Finishes req with status < 0 and the sentence from fmt. */
MBLK_API void mblk_open_fail(struct mblk_open_req *req, int status,
			     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Finishes req with status < 0 and the sentence in mblk_last_error(). */
MBLK_API void mblk_open_fail_last(struct mblk_open_req *req, int status);

/* The URI as given, its scheme (lower case), and its path: everything
 * between "scheme:" and "?", percent-decoded ("//host:10809/export" for
 * an authority-style URI, which its scheme parses itself). */
MBLK_API const char *mblk_uri_text(const struct mblk_uri *u);
MBLK_API const char *mblk_uri_scheme(const struct mblk_uri *u);
MBLK_API const char *mblk_uri_path(const struct mblk_uri *u);
/* The value of key (decoded, or verbatim when it was in brackets), or
 * NULL when absent; marks the key used. */
MBLK_API const char *mblk_uri_get(struct mblk_uri *u, const char *key);
/* Typed getters: 0 (leaving *out alone when the key is absent) or
 * -EINVAL with a sentence naming the URI, the key and the value. */
MBLK_API int mblk_uri_get_size(struct mblk_uri *u, const char *key,
			       uint64_t *out);
MBLK_API int mblk_uri_get_bool(struct mblk_uri *u, const char *key, bool *out);
MBLK_API int mblk_uri_get_uint(struct mblk_uri *u, const char *key,
			       uint64_t *out);
/* Refuses any key no getter read: -EINVAL "unknown key 'x' in URI '...';
 * the <scheme> device accepts: <its key table>". */
MBLK_API int mblk_uri_finish(struct mblk_uri *u);

/* Percent-encodes s for a URI path or value (everything but unreserved
 * characters and those in keep). Returns a malloc'd string or NULL. For
 * get_uri: the printed URI must reopen the device. */
MBLK_API char *mblk_uri_encode(const char *s, const char *keep);
/* Writes inner, a whole URI, as the value of a decorator's key: in
 * brackets when its own brackets balance (docs/uri.md), percent-encoded
 * otherwise. Returns the length needed, like snprintf, or -ENOMEM. */
MBLK_API int mblk_uri_nest(char *out, size_t cap, const char *inner);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_BACKEND_H */
