/* mblk/mirror.h - the live mirror: serve a primary device while copying
 * it onto a secondary. docs/decorators/mirror.md.
 *
 * A mirror is a device with two children. Every read is served by the
 * primary. In the background the primary's contents are copied onto the
 * secondary; once the copy is done ("synced") the secondary equals the
 * primary byte for byte and every write, discard and write_zeroes goes to
 * both until the mirror is closed. Flush flushes both. Writes during the
 * copy are tracked so the result is exact under any concurrent load; if
 * a client writes faster than the copy converges, the mirror switches by
 * itself to "active" mode, where writes go to both devices at once, and
 * then always finishes.
 *
 * By URI (mblk_open):
 *   mirror:?primary=<URI>&secondary=<URI>[&buffer=16M][&chunk=64K]
 *          [&rate=BYTES/s][&share=PERCENT][&on-error=stop|retry][&retries=N]
 *          [&secondary-zero=1][&in-sync=1][&scan=0][&active=1]
 *          [&pivot-timeout-ms=N]
 * (inner URIs with their '&' and '%' percent-encoded as %26 and %25).
 */
#ifndef MBLK_MIRROR_H
#define MBLK_MIRROR_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What to do when copying a range onto the secondary fails (a read of
 * the primary or a write, zero or flush of the secondary). */
enum mblk_mirror_on_error {
	MBLK_MIRROR_STOP = 0, /* stop copying; the mirror keeps serving */
	MBLK_MIRROR_RETRY,    /* copy the range again, up to `retries` times
	                         in all, then stop */
};

/* Options; a zeroed struct gives the defaults. */
struct mblk_mirror_opts {
	uint64_t buffer_bytes; /* memory for copying; 0: 16 MiB */
	uint64_t chunk_bytes;  /* tracking granularity, a power of two; 0:
	                          64 KiB (raised to the sector size, and for
	                          huge devices until the map fits 64 MiB) */
	uint64_t rate;         /* copy at most this many bytes per second of
	                          data read; 0: no limit */
	/* The largest write the copy makes on the secondary (rounded up to
	 * whole mirror sectors); 0: one write per extent read, up to an
	 * operation (1 MiB). A buffered file that will take small writes
	 * later wants the page size: Linux caches a large write in large
	 * folios, and a 4 KiB write into one costs 4-5 times as much as
	 * into a page written alone (docs/decorators/mirror.md). */
	uint64_t copy_write_bytes;
	/* While the mirror's users have requests in flight, the copy has an
	 * operation out at most this percent of the time (1-100; after each
	 * operation it rests in proportion to how long the operation took),
	 * so that a busy device keeps more of its rate; idle, the copy runs
	 * flat out. 0 or 100: never rest. The price is a longer copy, and
	 * one that has more to copy when the users write ahead of it
	 * (docs/decorators/mirror.md). */
	unsigned copy_share;
	enum mblk_mirror_on_error on_error;
	unsigned retries;          /* MBLK_MIRROR_RETRY: failures allowed */
	bool secondary_is_zero;    /* the secondary reads as zeros everywhere:
	                           holes of the primary need no writing. Also
	                           detected when the secondary reports no
	                           data at all (seek_mapped). */
	bool secondary_in_sync;    /* trust that the secondary already equals
	                           the primary (a copy made while neither
	                           changed): nothing is copied, and writes go
	                           to both from the start. Wrong data stays
	                           wrong: use it only when you know. */
	bool no_scan;              /* when the secondary reads as zeros, copying
	                           normally starts with one walk of the
	                           primary's extents, so that only its data is
	                           marked for copying (an empty device is in
	                           sync at once): skip that walk, and sweep the
	                           whole map (for a primary whose extents are
	                           slow to compute). */
	bool active;               /* start in active mode: writes go to both
	                              devices from the first one (except into
	                              chunks the copy has yet to reach), for a
	                              client known to write faster than a
	                              background copy converges; default: start
	                              in background mode and switch when needed */
	uint64_t pivot_timeout_ms; /* the longest each step of a pivot may
	                              take (the pre-flush of the secondary,
	                              then the pause: draining and flushing)
	                              before it gives up with -ETIMEDOUT and
	                              the mirror goes on as it was; 0: 30 s */
};

/* Events passed to the progress callback. */
enum mblk_mirror_event {
	MBLK_MIRROR_PERCENT,   /* value: the new whole percent (1..99) */
	MBLK_MIRROR_COMPLETE,  /* synced and the secondary flushed */
	MBLK_MIRROR_ACTIVE,    /* switched to active mode to converge */
	MBLK_MIRROR_ERROR,     /* value: -errno; a copy failure that will be
	                         retried; error: its sentence */
	MBLK_MIRROR_FAILED,    /* value: -errno; the copy has stopped for
	                         good; error: its sentence */
	MBLK_MIRROR_SWITCHED,  /* pivoted: the mirror now serves from the
	                         secondary alone (mblk_mirror_pivot) */
	MBLK_MIRROR_CANCELLED, /* copying stopped by mblk_mirror_cancel */
};

/* Called from the loop on every increase of the whole percent copied,
 * once when the mirror is in sync (again after a failure that needed a
 * recopy), on the switch to active mode, and for every failure: a copy
 * failure is never dropped. error is NULL except for ERROR and FAILED,
 * and valid only during the call. The callback may call
 * mblk_mirror_get_progress and mblk_close on the mirror. */
typedef void (*mblk_mirror_cb)(void *data, enum mblk_mirror_event ev, int value,
			       const char *error);

enum mblk_mirror_state {
	MBLK_MIRROR_COPYING, /* the secondary is not yet in sync */
	MBLK_MIRROR_SYNCED,  /* in sync: writes go to both */
	MBLK_MIRROR_STOPPED, /* the copy failed or was cancelled: writes go
	                        to the primary only and the secondary is out
	                        of date */
	MBLK_MIRROR_PIVOTED, /* every request goes to the secondary alone;
	                        the primary is released */
};

enum mblk_mirror_mode {
	MBLK_MIRROR_BACKGROUND,  /* writes go to the primary and mark the
	                            range for (re)copying */
	MBLK_MIRROR_ACTIVE_MODE, /* writes go to both devices at once */
};

struct mblk_mirror_progress {
	uint64_t bytes_total;     /* the device size */
	uint64_t bytes_done;      /* total - remaining */
	uint64_t bytes_remaining; /* marked for copying or being copied */
	uint64_t bytes_read;      /* data read from the primary so far */
	uint64_t bytes_zeroed;    /* holes handled without reading */
	double rate;              /* bytes_done per second since the start
	                             (until in sync) */
	double elapsed;           /* seconds since the copy started */
	int percent;              /* whole percent done, 100 when synced */
	unsigned passes;          /* passes over the device so far */
	enum mblk_mirror_state state;
	enum mblk_mirror_mode mode;
	int error;             /* STOPPED: the -errno that stopped it */
	const char *error_msg; /* STOPPED: its sentence (valid until the
	                          mirror is closed), else NULL */
};

/* Creates a mirror of primary onto secondary, bound to their loop (they
 * must share it), and starts copying. opts may be NULL (defaults); cb may
 * be NULL. The secondary's contents are overwritten.
 *
 * Refused, with a sentence in mblk_last_error, when: the sector sizes are
 * not whole multiples of each other (-EINVAL), the devices differ in size
 * (-EINVAL), the secondary is read-only (-EROFS), the options are invalid
 * (-EINVAL). The mirror's sector size is the larger of the two; it is
 * read-only when the primary is.
 *
 * On success the mirror owns both devices (closing it closes them) and
 * returns 0; on failure they are still the caller's. Call on the loop's
 * thread. */
MBLK_API int mblk_mirror_open(mblk_dev *primary, mblk_dev *secondary,
			      const struct mblk_mirror_opts *opts,
			      mblk_mirror_cb cb, void *data, mblk_dev **devp);

/* Fills *p. dev is a mirror or a device stacked on one through child 0
 * (such as the safe wrapper mblk_open adds). Returns 0 or -EINVAL. */
MBLK_API int mblk_mirror_get_progress(mblk_dev *dev,
				      struct mblk_mirror_progress *p);

/* Sets the progress callback of a mirror (for mirrors opened by URI).
 * Returns 0 or -EINVAL. */
MBLK_API int mblk_mirror_set_callback(mblk_dev *dev, mblk_mirror_cb cb,
				      void *data);

/* Flags for mblk_mirror_pivot. */
#define MBLK_MIRROR_PIVOT_KEEP_PRIMARY \
	1u /* hand the primary back to the
                                             caller instead of closing it */

/* Pivot completion: status 0 (primary is the released primary with
 * MBLK_MIRROR_PIVOT_KEEP_PRIMARY, now the caller's, else NULL) or -errno
 * with the sentence, in which case the mirror is as it was. */
typedef void (*mblk_mirror_pivot_cb)(void *data, int status, mblk_dev *primary,
				     const char *error);

/* Switches a mirror that is in sync onto its secondary: new requests
 * wait, those in flight finish, both devices are flushed, and from then
 * on the mirror device serves every request from the secondary alone and
 * releases the primary (closes it, or hands it back with
 * MBLK_MIRROR_PIVOT_KEEP_PRIMARY). The device handle stays the same, so
 * whatever holds it (an NBD export, a program) sees no gap, only a pause
 * of about the time of a flush. A write acknowledged before the pivot's
 * callback, and every flush or FUA write acknowledged before it, is on
 * the secondary and durable there. dev is a mirror or a device stacked on
 * one through child 0.
 *
 * Returns 0 if started, in which case cb is called exactly once from the
 * loop; -EBUSY when the mirror is not in sync (a sentence in
 * mblk_last_error says how much is left), -EALREADY when it has pivoted
 * or a pivot is under way, -EINVAL when dev is not a mirror or cb is
 * NULL; cb is then never called. If the flush of the secondary fails the
 * pivot fails, and the mirror goes on serving as before; so it does,
 * with -ETIMEDOUT, when the pre-flush of the secondary, or the pause
 * after it (draining and flushing), takes longer than the
 * pivot_timeout_ms option (default 30 s). */
MBLK_API int mblk_mirror_pivot(mblk_dev *dev, unsigned flags,
			       mblk_mirror_pivot_cb cb, void *data);

/* Stops copying for good and goes on serving from the primary alone:
 * writes go to the primary only from now on (dual writes in flight
 * finish), the state becomes STOPPED with error -ECANCELED, and
 * MBLK_MIRROR_CANCELLED is reported. The secondary keeps what was copied
 * so far, a mix of old and new data: it is not a usable copy. Returns 0,
 * -EALREADY (stopped or pivoted already) or -EINVAL (not a mirror). */
MBLK_API int mblk_mirror_cancel(mblk_dev *dev);

/* Starts copying again after the copy stopped (a failure, or
 * mblk_mirror_cancel): every chunk is copied again (writes made since the
 * stop were not tracked), the retries are counted afresh, progress starts
 * over, and Complete is reported once in sync, as at the start. For a
 * destination that failed and has been repaired (space freed, a server
 * back). Returns 0, -EALREADY (not stopped, or pivoted) or -EINVAL (not
 * a mirror). */
MBLK_API int mblk_mirror_resume(mblk_dev *dev);

/* Changes the copy's rate limit (bytes per second of data read; 0: no
 * limit), at once: the copier does not wait out a delay the old rate
 * imposed. Returns 0 or -EINVAL (not a mirror). */
MBLK_API int mblk_mirror_set_rate(mblk_dev *dev, uint64_t rate);

/* Changes the copy's share of a busy device's time (copy_share, 1-100;
 * 100: never rest), at once: a rest owed under the old share is
 * dropped. -EINVAL, with a sentence, for anything else. */
MBLK_API int mblk_mirror_set_share(mblk_dev *dev, unsigned share);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_MIRROR_H */
