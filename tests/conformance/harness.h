/* harness.h - what the conformance checks share: the device under test,
 * the pass/fail bookkeeping, completion records and request helpers.
 *
 * Every request a check makes goes through the asynchronous API via
 * s_read / s_write / s_op, which raise in_submit around the call; each
 * callback records into a struct done whether it ran inside a submission,
 * how many times it ran, its status and its sentence. The do_* helpers
 * submit one request, run the loop until it completes and check those
 * rules (done_ok), returning the status, or HARNESS after recording a
 * failure of the harness itself (refused submission, lost callback).
 *
 * A check records at most one failure (the first: later ones are usually
 * its consequences) with fail(), or a reason to skip with skip(); the
 * FAIL / EXPECT macros record and return.
 */
#ifndef MBLK_TEST_HARNESS_H
#define MBLK_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <mblk.h>
#include <mblk/safe.h>
#include "pattern.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* The data tag of every pattern the checks write. */
#define TAG 0xc0fu

/* The device under test and what is known about it. */
extern uv_loop_t loop;
extern mblk_dev *dev;
extern struct mblk_info info; /* as of the last refresh_info */
extern const char *uri;
extern const char *devname;     /* mblk_dev_name(dev) */
extern unsigned open_flags;     /* MBLK_OPEN_NO_SAFE or 0 */
extern const char *shim_spec;   /* --shim: see shim.h; NULL: none */
extern const char *expect_caps; /* --expect-caps, or NULL */
extern uint32_t ss;             /* sector size */
extern uint64_t size;           /* sectors, as of the last refresh */
extern uint64_t spp;            /* sectors per 4 KiB page, at least 1 */
extern size_t balign;           /* alignment of the harness's buffers */

extern int in_submit;              /* > 0 while a submitting call runs */
extern unsigned long inside_count; /* callbacks that ran inside one */
extern bool cur_failed;
extern int npass, nfail, nskip;

/* Records the first failure of the current check; returns false so that
 * helpers returning bool can `return fail(...)`. */
bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the current check skipped, with the reason. */
void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FAIL(...)                  \
	do {                       \
		fail(__VA_ARGS__); \
		return;            \
	} while (0)
#define EXPECT(cond, ...)                  \
	do {                               \
		if (!(cond))               \
			FAIL(__VA_ARGS__); \
	} while (0)
/* Stops the check when a helper has already recorded a failure. */
#define STOP_IF_FAILED()        \
	do {                    \
		if (cur_failed) \
			return; \
	} while (0)

/* Runs one check and prints its line; SIGALRM (alarm_handler) reports a
 * check that hangs. */
void run_check(const char *name, void (*fn)(void));
void alarm_handler(int sig);
/* Re-reads info and size from the device. */
void refresh_info(void);

/* What one callback did. */
struct done {
	int calls;
	int status;
	uint64_t sector; /* seeks */
	bool inside;     /* ran inside a submitting call */
	bool err_null;
	long seq; /* completion order, from 1 */
	char err[512];
};

void done_record(struct done *d, int status, const char *error);
void io_cb(void *data, int status, const char *error);
void seek_cb(void *data, int status, uint64_t sector, const char *error);
/* Runs the loop until each of the n records has had its callback. */
bool wait_all(struct done *d, size_t n, const char *what);
/* Exactly once, never inside a submission, a sentence exactly on error. */
bool done_ok(const struct done *d, const char *what);

/* Submission with in_submit raised; the return value of the mblk call. */
enum sop {
	S_FLUSH,
	S_DISCARD,
	S_ZEROES,
	S_RESIZE,
	S_MAPPED,
	S_UNMAPPED,
	S_DISCONNECT,
	S_EXTENTS, /* into h_ext[0..h_ext_max); the count lands in d->sector */
	S_CACHE
};
#define H_EXT_MAX 64
extern struct mblk_extent h_ext[H_EXT_MAX];
extern int h_ext_max;
void extents_cb(void *data, int status, int n, const char *error);
const char *sop_name(enum sop op);
int s_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	   struct done *d);
int s_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	    unsigned flags, struct done *d);
/* a, b: the sector and count, the new size, or the seek's start. */
int s_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b, unsigned flags,
	 struct done *d);

/* Harness failures (submission refused, callback missing) return this
 * after recording the failure, so callers comparing statuses stop. */
#define HARNESS INT_MIN

/* Submit one request, wait for it, check the rules: the status. */
int do_read(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	    struct done *d);
int do_write(mblk_dev *dv, uint64_t s, const struct iovec *iov, int n,
	     unsigned flags, struct done *d);
int do_op(mblk_dev *dv, enum sop op, uint64_t a, uint64_t b, unsigned flags,
	  struct done *d);

/* Largest single request the data helpers make. */
#define CHUNK_BYTES (1u << 20)

/* An aligned buffer filled with 0xee; exits on no memory. */
void *xalloc(size_t len);
/* Compares got with the sectors [s, s+n) of pattern op (0: zeros);
 * records a failure naming the first bad sector, expected and got. */
bool compare(const char *what, const unsigned char *got, uint64_t s, uint64_t n,
	     uint64_t op);
/* Sectors per request of the data helpers (max_io respected). */
uint64_t chunk_sectors(void);
/* Writes pattern op over [s, s+n). */
bool put(uint64_t s, uint64_t n, uint64_t op);
/* Reads [s, s+n) and compares it with pattern op (0: zeros). */
bool check_data(const char *what, uint64_t s, uint64_t n, uint64_t op);
/* Skips the check (and returns false) unless size >= n. */
bool need(uint64_t n);
/* Does sentence s contain the decimal form of x? */
bool has_num(const char *s, uint64_t x);
/* Expects status want with a sentence naming the device and each of the
 * nnums numbers. */
bool expect_error(const char *what, int got, const struct done *d, int want,
		  const uint64_t *nums, int nnums);
/* A page-aligned sector plus one near the middle of the device with room
 * for need_sectors after it (0 on a device too small). */
uint64_t mid(uint64_t need_sectors);

/* The checks, by file. */
/* check_rw.c: geometry and read/write, and every refused request. */
void check_info(void);
void check_expected_caps(void);
void check_uri(void);
void check_rw_one(void);
void check_rw_copied(void);
void check_rw_scatter(void);
void check_rw_scatter_large(void);
void check_rw_zero_buffers(void);
void check_rw_first(void);
void check_rw_last(void);
void check_rw_many_pages(void);
void check_rw_fua(void);
void check_unsafe_rw(void);
void check_err_len(void);
void check_err_start(void);
void check_err_end(void);
void check_err_overflow(void);
void check_err_null_buffer(void);
void check_err_null_iov(void);
void check_err_iovcnt(void);
void check_err_range_ops(void);
void check_err_misaligned(void);
void check_empty_at_end(void);
void check_null_cb_dev(void);
/* check_ops.c: flush, discard, write_zeroes, resize, seeks, read-only. */
void check_flush(void);
void check_discard(void);
void check_write_zeroes(void);
void check_write_zeroes_no_hole(void);
void check_unsupported(void);
void check_resize_grow(void);
void check_resize_shrink_grow(void);
void check_resize_limits(void);
void check_seek_end(void);
void check_seek_sound(void);
void check_seek_hole(void);
void check_read_only(void);
/* check_ext.c: extents, cache, fast zeroes. */
void check_extents_cover(void);
void check_extents_sound(void);
void check_extents_limits(void);
void check_cache(void);
void check_zeroes_fast(void);
/* check_async.c: the asynchronous contract, disconnect and close. */
void check_never_inside(void);
void check_any_order(void);
void check_stress(void);
void check_close_in_flight(void);
void check_close_while_disconnecting(void);
void check_close_from_callback(void);
void check_disconnect(void);
void check_close(void);
void check_overall_inside(void);

#endif
