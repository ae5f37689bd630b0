/* file.h - what the file device's files share (not installed).
 *
 * The file device is split by concept:
 *   open.c           the scheme: URI keys, opening, geometry, the lock;
 *   file.c           the ops, get_uri, disconnect and destroy; the one
 *                    function that picks the engine for a request
 *                    (file_engine_for);
 *   io.c             the request cursor and the blocking read/write loop
 *                    (short transfers, EINTR/EAGAIN, EOF) shared by the
 *                    thread-pool engine and the inline RWF_NOWAIT attempt;
 *   space.c          discard, write_zeroes, resize and the seeks: blocking
 *                    syscalls that always run on libuv's thread pool;
 *   engine_threads.c libuv's thread pool (uv_queue_work);
 *   engine_uring.c   io_uring, when built with liburing.
 *
 * A request's context (struct file_rq) holds everything an engine needs,
 * so no engine allocates per I/O.
 */
#ifndef MBLK_DEVICES_FILE_FILE_H
#define MBLK_DEVICES_FILE_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <mblk/backend.h>
#include <mblk/file.h>

enum file_sync { FILE_SYNC_NONE, FILE_SYNC_OS, FILE_SYNC_DRIVE };
enum file_engine { FILE_ENGINE_URING, FILE_ENGINE_THREADS };
/* How the io_uring ring is set up (engine_uring.c's notes say why coop is
 * the default). */
enum file_uring_setup { FILE_URING_COOP, FILE_URING_PLAIN, FILE_URING_DEFER };

/* Ways of zeroing or discarding that failed once with "not supported"
 * and are skipped from then on (file_dev.broken). Set from pool threads,
 * hence atomic. */
enum {
	FILE_NO_PUNCH = 1u << 0,      /* fallocate PUNCH_HOLE|KEEP_SIZE */
	FILE_NO_ZERO_RANGE = 1u << 1, /* fallocate ZERO_RANGE */
	FILE_NO_BLKZEROOUT = 1u << 2, /* ioctl BLKZEROOUT */
	FILE_NO_BLKDISCARD = 1u << 3, /* ioctl BLKDISCARD */
	FILE_WROTE_ZEROES = 1u << 4,  /* zeroing fell back to writing */
	FILE_NO_SEEK_HOLE = 1u << 5,  /* lseek SEEK_DATA/HOLE unsupported */
};

struct file_uring;

struct file_dev {
	mblk_dev *dev;
	uv_loop_t *loop;
	int fd;        /* -1 once disconnected */
	char *path;    /* as given: the device name */
	char *abspath; /* for the URI */
	bool is_blk;   /* a block device, not a regular file */
	bool buffered; /* false: O_DIRECT */
	bool lock;
	bool read_only; /* opened read-only (asked or fallen back) */
	enum file_sync sync;
	enum file_engine engine;           /* the engine in use */
	enum file_uring_setup uring_setup; /* asked; then what is in use */
	unsigned uring_batch;              /* the submission batch */
	uint32_t sector_size;
	unsigned shift;     /* log2(sector_size) */
	uint32_t dio_align; /* O_DIRECT alignment (buffered=0) */
	atomic_uint broken; /* FILE_NO_* */

	/* The inline RWF_NOWAIT attempt for buffered reads (loop thread
	 * only): off for good once the kernel refuses the flag; after a
	 * miss the next `nowait_skip` reads go straight to the engine. */
	bool nowait_ok;
	unsigned nowait_skip, nowait_misses;
	/* Inline buffered writes (loop thread only, file.c): requests other
	 * than reads on the engine now, and the backoff after a slow one. */
	unsigned engine_busy;
	unsigned inline_skip, inline_slow;

	struct file_uring *uring; /* NULL on the thread-pool engine */
	mblk_req *disc_req;       /* the disconnect waiting for teardown */
	bool destroy_pending;     /* free once the ring's handles close */
	char notes[512];          /* informational notes, "" if none */
};

/* Per-request context: the cursor through req->iov and the outcome. */
struct file_rq {
	mblk_req *req;
	struct file_dev *f;
	int idx;              /* current buffer in req->iov */
	size_t off;           /* bytes of it already done */
	uint64_t pos;         /* file byte offset of the cursor */
	uint64_t left;        /* bytes still to transfer */
	uint64_t dev_sectors; /* the device size when the request started
	                         (seeks read it on a pool thread) */
	int rwflags;          /* RWF_* for the write (FUA) */
	int retries;          /* EINTR/EAGAIN retries so far */
	int res;              /* 0 or -errno, set by the engine */
	bool busy;            /* counted in f->engine_busy */
	char cause[200];      /* the sentence's cause when res < 0 */
	uv_work_t work;       /* thread-pool engine */
	struct file_rq *next; /* io_uring queue of requests waiting for SQEs */
};

#define FILE_MAX_RETRIES 1000

/* file.c */
extern const struct mblk_dev_ops mblk__file_ops;
/* Adds one line to the device's notes (mblk_file_notes). */
void mblk__file_add_note(struct file_dev *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *mblk__file_sync_name(enum file_sync s);
const char *mblk__file_uring_setup_name(enum file_uring_setup s);

/* io.c */
void mblk__file_rq_init(struct file_rq *rq, struct file_dev *f, mblk_req *req);
void mblk__file_rq_advance(struct file_rq *rq, size_t n);
/* The buffer run the cursor points at: either a whole tail of req->iov
 * (*single false) or what is left of one buffer (*single true). */
void mblk__file_rq_span(const struct file_rq *rq, const struct iovec **iov,
			int *cnt, struct iovec *one, bool *single);
/* Blocking read/write from the cursor to the end with rq->rwflags |
 * extra. Returns 0; -EAGAIN when extra has RWF_NOWAIT and the kernel
 * would block (the cursor keeps what was done); or -errno with
 * rq->cause set. */
int mblk__file_rw_blocking(struct file_rq *rq, int extra);
/* Sets rq->res and rq->cause for a failed read/write syscall. */
void mblk__file_rw_error(struct file_rq *rq, int err, const char *call);
/* Explains a read that got 0 bytes before its end. */
void mblk__file_rw_eof(struct file_rq *rq);
/* Completes rq->req from rq->res / rq->cause (loop thread). */
void mblk__file_rq_complete(struct file_rq *rq);

/* space.c: blocking; run on the thread pool. Each sets rq->res (and
 * rq->cause), the seeks also rq->req->result. */
void mblk__file_space_discard(struct file_rq *rq);
void mblk__file_space_zeroes(struct file_rq *rq);
void mblk__file_space_resize(struct file_rq *rq);
void mblk__file_space_seek(struct file_rq *rq);
void mblk__file_space_extents(struct file_rq *rq);
/* posix_fadvise(WILLNEED) over the request's range (buffered files). */
void mblk__file_space_cache(struct file_rq *rq);
void mblk__file_space_flush(struct file_rq *rq);

/* engine_threads.c: runs the request's operation on libuv's pool and
 * completes it from the loop. */
void mblk__file_threads_start(struct file_rq *rq);

/* engine_uring.c (only with liburing; otherwise these fail/abort). */
/* Sets up the ring; returns 0 or -errno with why (len bytes) filled. */
int mblk__file_uring_init(struct file_dev *f, char *why, size_t len);
/* Queues a read, write or flush; completes it from the loop. */
void mblk__file_uring_start(struct file_rq *rq);
/* Closes the ring's handles and the ring; calls done(f) from the loop. */
void mblk__file_uring_close(struct file_dev *f,
			    void (*done)(struct file_dev *));

#endif
