/* mblk.h - the user's interface to mblk block devices.
 *
 * A device is an opaque mblk_dev bound to the caller's libuv loop. Every
 * operation is asynchronous and completes on that loop; the *_sync helpers
 * at the end of this file run the loop until one request is done.
 *
 * The asynchronous contract, the same on every call that takes a callback:
 *
 *   Returns 0 if submitted, in which case cb is called exactly once, from
 *   the loop, and never from inside the submitting call; returns -errno
 *   otherwise, in which case cb is never called.
 *
 * Submission fails only when no callback can be delivered (a NULL device
 * or callback: -EINVAL; no memory for a request: -ENOMEM). Everything
 * wrong with the request itself (out of range, misaligned, read-only,
 * disconnected, an I/O error) arrives through the callback as a negative
 * errno together with a sentence that names the device, the operation,
 * the sector range and the cause.
 *
 * Buffers are borrowed, never copied by the core, from submission until
 * the callback returns; after a failed read their contents are undefined.
 *
 * Threading: a device, and everything stacked on it, belongs to the thread
 * that runs its loop. Call every function on a device from that thread.
 * mblk creates no threads of its own; the file device's thread-pool engine
 * uses libuv's shared thread pool (see docs/devices/file.md).
 */
#ifndef MBLK_H
#define MBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(MBLK_BUILDING)
#define MBLK_API __attribute__((visibility("default")))
#else
#define MBLK_API
#endif

#define MBLK_VERSION_MAJOR 0
#define MBLK_VERSION_MINOR 1
#define MBLK_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH". */
MBLK_API const char *mblk_version(void);

typedef struct mblk_dev mblk_dev;

/* Capability bits in mblk_info.caps. A device without a bit answers that
 * operation with -ENOTSUP (and a sentence), except the seeks, which every
 * device answers: without MBLK_CAP_SEEK everything is reported as data. */
enum {
	MBLK_CAP_FLUSH = 1u << 0,   /* flush makes earlier writes durable */
	MBLK_CAP_DISCARD = 1u << 1, /* discard frees space; reads give zeros */
	MBLK_CAP_WRITE_ZEROES = 1u << 2, /* write_zeroes is supported */
	MBLK_CAP_RESIZE = 1u << 3,       /* resize is supported */
	MBLK_CAP_SEEK = 1u << 4,         /* seeks report real holes */
	MBLK_CAP_FUA = 1u << 5, /* MBLK_WRITE_FUA is honoured natively */
	MBLK_CAP_ZERO_IS_FAST = 1u << 6, /* MBLK_ZEROES_FAST is honoured:
	                                    zeroing is quick or refused */
	MBLK_CAP_CACHE = 1u << 7,        /* cache (prefetch) does something */
};

/* The name of one MBLK_CAP_* bit ("flush", "discard", "write_zeroes",
 * "resize", "seek", "fua", "zero_is_fast", "cache"), or NULL for anything
 * else. The one table of these names: messages, `mblk info` and the
 * tests use it. */
MBLK_API const char *mblk_cap_name(uint32_t bit);

/* What a device is and what it can do. size_sectors may change after a
 * resize: query again rather than caching it. Everything else is fixed
 * once the device is open: a server that negotiated its flags from caps
 * can rely on them for the device's life. */
struct mblk_info {
	uint64_t size_sectors; /* device size in sectors */
	uint32_t sector_size;  /* bytes per sector: a power of two, >= 1 */
	bool read_write;       /* false: every write-like request gets -EROFS */
	uint32_t buf_align;    /* required alignment of buffer addresses and
	                          lengths in bytes (1 = any); O_DIRECT needs it */
	uint32_t min_io;       /* smallest request in bytes (= sector_size) */
	uint32_t pref_io;      /* preferred request size in bytes */
	uint32_t max_io;       /* largest read/write in bytes (0 = no limit) */
	uint32_t caps;         /* MBLK_CAP_* bits */
};

/* Flags for mblk_write. MBLK_WRITE_FUA: durable before completion
 * (emulated with a flush when the device lacks MBLK_CAP_FUA). */
#define MBLK_WRITE_FUA 1u
/* Flags for mblk_write_zeroes. */
#define MBLK_ZEROES_NO_HOLE 1u /* keep the range allocated: no hole */
#define MBLK_ZEROES_FAST \
	2u /* fail at once with -ENOTSUP rather than
                                  zero slowly (NBD's FAST_ZERO); refused by
                                  every device without ZERO_IS_FAST */

/* An extent: count sectors from sector, all of one kind. flags 0 is data
 * (or not known to be anything else). */
#define MBLK_EXTENT_HOLE 1u /* not allocated: writing may need space */
#define MBLK_EXTENT_ZERO 2u /* reads as zeros */
struct mblk_extent {
	uint64_t sector;
	uint64_t count;
	uint32_t flags; /* MBLK_EXTENT_* */
};

/* Completion callbacks. status is 0 or a negative errno; error is NULL on
 * success, otherwise a sentence valid only until the callback returns. */
typedef void (*mblk_cb)(void *data, int status, const char *error);
/* Seek completion: on success sector is the answer (possibly the device
 * size, meaning "none before the end"). */
typedef void (*mblk_seek_cb)(void *data, int status, uint64_t sector,
			     const char *error);
/* Extents completion: on success n >= 1 extents were filled in. */
typedef void (*mblk_extents_cb)(void *data, int status, int n,
				const char *error);
/* Open completion: on success dev is the new device, now the caller's;
 * on failure dev is NULL and error says why. */
typedef void (*mblk_open_cb)(void *data, int status, mblk_dev *dev,
			     const char *error);

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */

/* Flags for mblk_open. */
#define MBLK_OPEN_RDONLY 1u  /* open read-only whatever the URI says */
#define MBLK_OPEN_NO_SAFE 2u /* do not wrap the device in `safe` */

/* Starts opening the device that uri names, bound to loop. The grammar
 * is in docs/uri.md, and `mblk --help-uri` lists every scheme this mblk
 * has with its keys; in short:
 *   ram:NAME?size=SIZE&sector-size=N   a named in-memory device
 *   ram:?size=SIZE                     a private anonymous one
 *   file:PATH?key=value&...            a file or block device
 *   PATH                               the same as file:PATH
 *   mirror:?primary=[URI]&secondary=[URI]   a device holding others
 * Every device opened here is wrapped in the `safe` decorator unless flags
 * has MBLK_OPEN_NO_SAFE. Opening may take time (a network handshake, a
 * cluster connect): cb is called from the loop once it is done, never
 * inside this call, with the device or with -errno and a sentence (a bad
 * URI, an unknown key, a missing file...). Returns 0 if started, in which
 * case cb is called exactly once; -EINVAL (NULL loop or cb) or -ENOMEM
 * otherwise, cb never called, the sentence in mblk_last_error(). Call it
 * on the loop's thread. */
MBLK_API int mblk_open(uv_loop_t *loop, const char *uri, unsigned flags,
		       mblk_open_cb cb, void *data);

/* Starts closing dev: disconnects it if it is not already (requests in
 * flight finish first), then releases it and, for decorators, the devices
 * they hold. The memory is freed from the loop, so run the loop (for
 * example until uv_run returns) before uv_loop_close. cb, if not NULL, is
 * called once the device is gone. Closing NULL is a no-op. Calling it
 * again before the device is gone is harmless: that cb is called too,
 * after the first; once it is gone, dev must not be used. */
MBLK_API void mblk_close(mblk_dev *dev, mblk_cb cb, void *data);

/* Fills *info with the device's current geometry and capabilities. Never
 * fails; on a disconnected device it reports the last known values. */
MBLK_API void mblk_get_info(mblk_dev *dev, struct mblk_info *info);

/* The device's name as used in sentences (for example "ram:disk0" or
 * "/var/lib/images/a.raw"). Valid as long as the device. */
MBLK_API const char *mblk_dev_name(const mblk_dev *dev);

/* Writes into buf (size len, NUL-terminated) a URI that reopens the device
 * the same way: for a file, the path with every setting spelled out.
 * Returns the length the full URI needs (excluding the NUL), like
 * snprintf, or -errno. */
MBLK_API int mblk_get_uri(mblk_dev *dev, char *buf, size_t len);

/* Bytes of storage the device holds (a ramdisk's pages, a file's blocks).
 * Returns 0 with *bytes set, or -ENOTSUP when the device cannot tell. */
MBLK_API int mblk_get_allocated(mblk_dev *dev, uint64_t *bytes);

/* The loop the device is bound to. */
MBLK_API uv_loop_t *mblk_dev_loop(const mblk_dev *dev);

/* ------------------------------------------------------------------ */
/* Asynchronous operations. Each: see the contract at the top.         */

/* Reads into the iovcnt buffers of iov, in order, the data that starts at
 * sector. Each buffer is a whole number of sectors (zero-length buffers
 * are allowed) and iovcnt may be 0. iov itself is borrowed too. */
MBLK_API int mblk_read(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
		       int iovcnt, mblk_cb cb, void *data);

/* Writes the buffers of iov, in order, starting at sector. flags:
 * MBLK_WRITE_FUA. A failed write may have written part of the range. */
MBLK_API int mblk_write(mblk_dev *dev, uint64_t sector, const struct iovec *iov,
			int iovcnt, unsigned flags, mblk_cb cb, void *data);

/* Makes every write completed before this call durable. */
MBLK_API int mblk_flush(mblk_dev *dev, mblk_cb cb, void *data);

/* Tells the device that count sectors from sector are no longer needed:
 * afterwards they read as zeros and their space may be freed. */
MBLK_API int mblk_discard(mblk_dev *dev, uint64_t sector, uint64_t count,
			  mblk_cb cb, void *data);

/* Makes count sectors from sector read as zeros. The device may punch a
 * hole to do it unless flags has MBLK_ZEROES_NO_HOLE. */
MBLK_API int mblk_write_zeroes(mblk_dev *dev, uint64_t sector, uint64_t count,
			       unsigned flags, mblk_cb cb, void *data);

/* Changes the device size to size_sectors. Growing adds sectors that read
 * as zeros; shrinking drops the data past the new end. */
MBLK_API int mblk_resize(mblk_dev *dev, uint64_t size_sectors, mblk_cb cb,
			 void *data);

/* The first sector at or after from that may hold data, or the device size
 * when there is none. from at or past the end answers the device size. */
MBLK_API int mblk_seek_mapped(mblk_dev *dev, uint64_t from, mblk_seek_cb cb,
			      void *data);

/* The first sector at or after from that is guaranteed to read as zeros,
 * or the device size when there is none (the end counts as a hole). */
MBLK_API int mblk_seek_unmapped(mblk_dev *dev, uint64_t from, mblk_seek_cb cb,
				void *data);

/* Fills ext[0..n) (1 <= n <= max) with consecutive extents, the first
 * starting at sector, together covering at most [sector, sector + count)
 * clipped to the device; ask again from the end of the last one for
 * more. count 0 means "to the end of the device". Every device answers:
 * one without MBLK_CAP_SEEK reports data (flags 0). ext is borrowed like
 * a buffer. sector at or past the end fails with -EINVAL. */
MBLK_API int mblk_extents(mblk_dev *dev, uint64_t sector, uint64_t count,
			  struct mblk_extent *ext, int max, mblk_extents_cb cb,
			  void *data);

/* Tells the device that count sectors from sector will be read soon, so
 * that it may fetch them (NBD's CACHE). Advisory: success promises
 * nothing about later reads, and a device without MBLK_CAP_CACHE answers
 * 0 having done nothing. */
MBLK_API int mblk_cache(mblk_dev *dev, uint64_t sector, uint64_t count,
			mblk_cb cb, void *data);

/* Disconnects: requests already in flight finish, later ones fail with
 * -ENODEV "device is disconnected", and the device releases what serves
 * I/O (file descriptors, sockets). Never fails: cb gets status 0. A second
 * call also waits for the first to finish. */
MBLK_API int mblk_disconnect(mblk_dev *dev, mblk_cb cb, void *data);

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* A short description of a negative (or positive) errno value, such as
 * "Invalid argument". Never NULL; thread-safe. */
MBLK_API const char *mblk_strerror(int err);

/* The sentence that explains the last failed control-path call on this
 * thread (mblk_open, the ram registry, the sync helpers), or "" if none.
 * Valid until the next mblk call on this thread. */
MBLK_API const char *mblk_last_error(void);

/* ------------------------------------------------------------------ */
/* Synchronous helpers: submit one request, then run the device's loop
 * (UV_RUN_ONCE) until it completes. They return the status; on failure
 * the sentence is in mblk_last_error(). Never call them from inside a
 * callback of the same loop (libuv loops are not reentrant). If the loop
 * runs out of work while the request is still pending (a device bug:
 * nothing left could complete it), they return -EIO instead of spinning,
 * and mblk_close_sync returns. */

MBLK_API int mblk_open_sync(uv_loop_t *loop, const char *uri, unsigned flags,
			    mblk_dev **devp);
MBLK_API void mblk_close_sync(mblk_dev *dev);
MBLK_API int mblk_read_sync(mblk_dev *dev, uint64_t sector,
			    const struct iovec *iov, int iovcnt);
MBLK_API int mblk_write_sync(mblk_dev *dev, uint64_t sector,
			     const struct iovec *iov, int iovcnt,
			     unsigned flags);
MBLK_API int mblk_flush_sync(mblk_dev *dev);
MBLK_API int mblk_discard_sync(mblk_dev *dev, uint64_t sector, uint64_t count);
MBLK_API int mblk_write_zeroes_sync(mblk_dev *dev, uint64_t sector,
				    uint64_t count, unsigned flags);
MBLK_API int mblk_resize_sync(mblk_dev *dev, uint64_t size_sectors);
MBLK_API int mblk_seek_mapped_sync(mblk_dev *dev, uint64_t from,
				   uint64_t *sector);
MBLK_API int mblk_seek_unmapped_sync(mblk_dev *dev, uint64_t from,
				     uint64_t *sector);
MBLK_API int mblk_extents_sync(mblk_dev *dev, uint64_t sector, uint64_t count,
			       struct mblk_extent *ext, int max, int *n);
MBLK_API int mblk_cache_sync(mblk_dev *dev, uint64_t sector, uint64_t count);
MBLK_API int mblk_disconnect_sync(mblk_dev *dev);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_H */
