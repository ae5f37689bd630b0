/* file.c - the file device: a regular file or a block device as an mblk
 * device, buffered or O_DIRECT, on io_uring or libuv's thread pool.
 *
 * Design notes
 *
 * Opening (file:PATH?key=value..., docs/devices/file.md) resolves every
 * setting once: read-write or read-only, O_DIRECT or not, the lock, the
 * geometry, the engine. get_uri prints all of them back, the engine
 * actually in use included, so the printed URI reopens the device the
 * same way. What opening had to decide on the caller's behalf (read-only
 * because the file is not writable, threads because io_uring could not be
 * set up) is kept as a note: mblk_file_notes().
 *
 * Requests. The core has checked every request (bounds, read-only, caps)
 * before an op sees it. Each op initialises the request's context (a
 * cursor, io.c) and hands it to the engine that file_engine_for picks:
 * io_uring for reads, writes and flushes when the ring exists, libuv's
 * thread pool otherwise and always for discard, write_zeroes, resize and
 * seeks (space.c). Seeks on a block device are answered inline ("all
 * data"): there is nothing to ask.
 *
 * Buffered reads first try preadv2(RWF_NOWAIT) inline on the loop
 * thread: a page-cache hit costs about 1 us that way against 2 us through
 * io_uring and more through the pool. A miss (EAGAIN, or a short read
 * that stopped at an uncached page) continues on the engine from where
 * the inline attempt stopped. After a miss the next 2^k - 1 reads skip
 * the attempt (k = consecutive misses, at most 6), so a cold file pays at
 * most one failed syscall in 64 reads; a kernel that refuses the flag
 * turns the attempt off for the device. Reads above NOWAIT_MAX go straight
 * to the engine so that one request cannot hold the loop for long.
 *
 * Disconnect: the core calls it with nothing in flight. The ring's
 * handles are closed (asynchronously, uv_close), then the ring, then the
 * fd, which drops the lock; the disconnect completes from the last close
 * callback.
 *
 * Upstream defects fixed (seed-behaviour §1, §5): discard works on Linux
 * files (PUNCH_HOLE needs KEEP_SIZE); seeks answer the end of the device
 * instead of failing with ENXIO; many requests in flight instead of one at
 * a time behind a mutex; lock defaults on; no fd leaks on error paths;
 * the legacy `buffered:` prefix is stripped; a bad sector-size is an
 * error with a sentence, not an exception; every open failure has its
 * own sentence.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <mblk/backend.h>
#include "../../common/checked.h"
#include "../../common/hex.h"
#include "../../core/core.h"
#include "../../core/uri.h"
#include "file.h"

/* Buffered reads up to this size are tried inline with RWF_NOWAIT. */
#define NOWAIT_MAX (256u * 1024)

static const char *sync_name(enum file_sync s)
{
	return s == FILE_SYNC_NONE ? "none"
	       : s == FILE_SYNC_OS ? "os"
				   : "drive";
}

static void add_note(struct file_dev *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_note(struct file_dev *f, const char *fmt, ...)
{
	size_t n = strlen(f->notes);
	if (n + 2 >= sizeof(f->notes))
		return;
	if (n > 0)
		f->notes[n++] = '\n';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->notes + n, sizeof(f->notes) - n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* The one place that decides which engine serves a request. */
static enum file_engine file_engine_for(const struct file_dev *f,
					const mblk_req *req)
{
	switch (req->op) {
	case MBLK_OP_READ:
	case MBLK_OP_WRITE:
	case MBLK_OP_FLUSH:
		return f->uring != NULL ? FILE_ENGINE_URING
					: FILE_ENGINE_THREADS;
	default: return FILE_ENGINE_THREADS;
	}
}

static void file_start(struct file_dev *f, struct file_rq *rq)
{
	if (file_engine_for(f, rq->req) == FILE_ENGINE_URING)
		mblk__file_uring_start(rq);
	else
		mblk__file_threads_start(rq);
}

static struct file_rq *file_rq(mblk_dev *dev, mblk_req *req)
{
	struct file_rq *rq = mblk_req_ctx(req);
	mblk__file_rq_init(rq, mblk_dev_priv(dev), req);
	return rq;
}

/* Tries a buffered read inline without blocking. Returns true when the
 * request has been completed (read, or failed for good). */
static bool file_read_nowait(struct file_dev *f, struct file_rq *rq)
{
	if (f->nowait_skip > 0) {
		f->nowait_skip--;
		return false;
	}
	int r = mblk__file_rw_blocking(rq, RWF_NOWAIT);
	if (r == 0) {
		f->nowait_misses = 0;
		mblk_req_done(rq->req, 0);
		return true;
	}
	rq->retries = 0;
	if (r == -EAGAIN) {
		if (f->nowait_misses < 6)
			f->nowait_misses++;
		f->nowait_skip = (1u << f->nowait_misses) - 1;
		return false;
	}
	if (r == -EOPNOTSUPP) {
		f->nowait_ok = false;
		return false;
	}
	mblk__file_rq_complete(rq);
	return true;
}

static void file_read(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct file_rq *rq = file_rq(dev, req);
	if (rq->left == 0) {
		mblk_req_done(req, 0);
		return;
	}
	if (f->buffered && f->nowait_ok && rq->left <= NOWAIT_MAX &&
	    file_read_nowait(f, rq))
		return;
	file_start(f, rq);
}

static void file_write(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct file_rq *rq = file_rq(dev, req);
	if (rq->left == 0) {
		mblk_req_done(req, 0);
		return;
	}
	/* MBLK_WRITE_FUA reaches us only with MBLK_CAP_FUA (sync != none). */
	if (req->flags & MBLK_WRITE_FUA)
		rq->rwflags = f->sync == FILE_SYNC_DRIVE ? RWF_SYNC : RWF_DSYNC;
	file_start(f, rq);
}

/* flush, discard, write_zeroes, resize: the engine does it all. */
static void file_other(mblk_dev *dev, mblk_req *req)
{
	file_start(mblk_dev_priv(dev), file_rq(dev, req));
}

static void file_seek(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (f->is_blk) {
		req->result = req->op == MBLK_OP_SEEK_MAPPED
				      ? req->sector
				      : mblk_dev_info(dev)->size_sectors;
		mblk_req_done(req, 0);
		return;
	}
	file_start(f, file_rq(dev, req));
}

/* ------------------------------------------------------------------ */
/* Disconnect, destroy, URI, allocation                                */

static void file_free(struct file_dev *f)
{
	free(f->path);
	free(f->abspath);
	free(f);
}

/* The ring (if any) is gone: close the fd, then finish what waited. */
static void file_closed(struct file_dev *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->destroy_pending) {
		file_free(f);
		return;
	}
	mblk_req *req = f->disc_req;
	f->disc_req = NULL;
	if (req != NULL)
		mblk_req_done(req, 0);
}

static void file_disconnect(mblk_dev *dev, mblk_req *req)
{
	struct file_dev *f = mblk_dev_priv(dev);
	f->disc_req = req;
	if (f->uring != NULL)
		mblk__file_uring_close(f, file_closed);
	else
		file_closed(f);
}

static void file_destroy(mblk_dev *dev)
{
	struct file_dev *f = mblk_dev_priv(dev);
	if (f->uring != NULL) {
		/* Only when close could not disconnect first (no memory):
		 * the handles close asynchronously and free f. */
		f->destroy_pending = true;
		mblk__file_uring_close(f, file_closed);
		return;
	}
	if (f->fd >= 0)
		close(f->fd);
	file_free(f);
}

static int file_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct file_dev *f = mblk_dev_priv(dev);
	char *p = mblk__pct_encode_path(f->abspath);
	if (p == NULL)
		return mblk_set_error(-ENOMEM, "%s: no memory for the URI",
				      f->path);
	int n = snprintf(buf, len,
			 "file:%s?buffered=%d&sync=%s&lock=%d&sector-size=%u"
			 "&read-only=%d&engine=%s",
			 p, f->buffered, sync_name(f->sync), f->lock,
			 f->sector_size, f->read_only,
			 f->engine == FILE_ENGINE_URING ? "uring" : "threads");
	free(p);
	return n;
}

static int file_get_allocated(mblk_dev *dev, uint64_t *bytes)
{
	struct file_dev *f = mblk_dev_priv(dev);
	struct stat st;
	if (f->is_blk)
		return mblk_set_error(-ENOTSUP,
				      "%s: a block device does not say how much "
				      "of it is allocated",
				      f->path);
	if (f->fd < 0)
		return mblk_set_error(-ENODEV, "%s: device is disconnected",
				      f->path);
	if (fstat(f->fd, &st) < 0)
		return mblk_set_error(-errno, "%s: fstat: %s", f->path,
				      strerror(errno));
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static const struct mblk_dev_ops file_ops = {
	.kind = "file",
	.req_ctx_size = sizeof(struct file_rq),
	.read = file_read,
	.write = file_write,
	.flush = file_other,
	.discard = file_other,
	.write_zeroes = file_other,
	.resize = file_other,
	.seek = file_seek,
	.disconnect = file_disconnect,
	.get_uri = file_get_uri,
	.get_allocated = file_get_allocated,
	.destroy = file_destroy,
};

const char *mblk_file_notes(mblk_dev *dev)
{
	/* Look through decorators (safe) for the file device. */
	while (dev != NULL && mblk_dev_ops(dev) != &file_ops)
		dev = mblk_dev_child(dev, 0);
	if (dev == NULL)
		return NULL;
	struct file_dev *f = mblk_dev_priv(dev);
	return f != NULL ? f->notes : NULL;
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */

struct file_opts {
	bool buffered, lock, read_only;
	enum file_sync sync;
	enum file_engine engine;
	uint64_t sector_size; /* 0: not given */
};

/* The pid holding a flock on the file st describes, from /proc/locks,
 * or 0 when it cannot be told. */
static long lock_holder(const struct stat *st)
{
	FILE *fp = fopen("/proc/locks", "re");
	char line[256];
	long pid = 0;
	if (fp == NULL)
		return 0;
	while (pid == 0 && fgets(line, sizeof(line), fp) != NULL) {
		char kind[16];
		long p;
		unsigned maj, min;
		unsigned long long ino;
		/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:56789 0 EOF";
		 * waiters have "->" in place of the kind and do not match. */
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p,
			   &maj, &min, &ino) == 5 &&
		    strcmp(kind, "FLOCK") == 0 && ino == st->st_ino &&
		    makedev(maj, min) == st->st_dev)
			pid = p;
	}
	fclose(fp);
	return pid;
}

static int file_lock(const char *path, int fd, bool ro, const struct stat *st)
{
	int r;
	do
		r = flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return mblk_set_error(-errno,
				      "%s: cannot lock it: flock: %s (open with "
				      "lock=0 to go without the lock)",
				      path, strerror(errno));
	long pid = lock_holder(st);
	char who[80] = "";
	if (pid > 0 && pid == (long)getpid())
		return mblk_set_error(-EBUSY,
				      "%s is locked by another device of this "
				      "process: close that one first (lock=0 "
				      "skips the lock, at the risk of "
				      "corrupting it)",
				      path);
	if (pid > 0)
		snprintf(who, sizeof(who), " (pid %ld)", pid);
	return mblk_set_error(-EBUSY,
			      "%s is locked by another process%s: it is open "
			      "%selsewhere; close it there first (lock=0 "
			      "skips the lock, at the risk of corrupting it)",
			      path, who, ro ? "for writing " : "");
}

/* Opens path; on EACCES/EPERM/EROFS for read-write, falls back to
 * read-only with a note. Returns the fd or -errno with the sentence. */
static int file_open_fd(struct file_dev *f, const struct file_opts *o, bool *ro)
{
	const char *path = f->path;
	int base = O_CLOEXEC | O_NONBLOCK | (o->buffered ? 0 : O_DIRECT);
	int fd = -1, e = 0;

	if (!*ro) {
		fd = open(path, base | O_RDWR);
		e = errno;
		if (fd < 0 &&
		    (e == EACCES || e == EPERM || e == EROFS || e == ETXTBSY)) {
			fd = open(path, base | O_RDONLY);
			if (fd >= 0) {
				*ro = true;
				add_note(f,
					 "%s is not writable (%s): opened "
					 "read-only",
					 path, strerror(e));
			} else {
				e = errno;
			}
		}
	} else {
		fd = open(path, base | O_RDONLY);
		e = errno;
	}
	if (fd >= 0)
		return fd;

	switch (e) {
	case ENOENT:
		return mblk_set_error(-ENOENT,
				      "%s does not exist (the file device does "
				      "not create files: make one with "
				      "`truncate -s SIZE %s`)",
				      path, path);
	case EISDIR:
		return mblk_set_error(-EISDIR,
				      "%s is a directory, not a file or a block "
				      "device",
				      path);
	case EACCES:
	case EPERM:
		return mblk_set_error(-e,
				      "%s cannot be opened: permission denied "
				      "(%s) even for reading",
				      path, strerror(e));
	case EINVAL:
		if (!o->buffered) {
			int t = open(path, O_CLOEXEC | O_NONBLOCK | O_RDONLY);
			if (t >= 0) {
				close(t);
				return mblk_set_error(
					-EINVAL,
					"%s: its filesystem refuses O_DIRECT "
					"(buffered=0), as ramfs and tmpfs before "
					"Linux 6.6 do; open it with buffered=1",
					path);
			}
		}
		break;
	default: break;
	}
	return mblk_set_error(-e, "%s cannot be opened: %s", path, strerror(e));
}

/* O_DIRECT's alignment for the open file: the logical block size of a
 * block device; STATX_DIOALIGN for a file where the kernel tells; 4096
 * otherwise. Never below 512. */
static uint32_t dio_alignment(struct file_dev *f, uint32_t logical)
{
	uint32_t a = f->is_blk ? logical : 4096;
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (!f->is_blk &&
	    statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0)
		a = stx.stx_dio_offset_align > stx.stx_dio_mem_align
			    ? stx.stx_dio_offset_align
			    : stx.stx_dio_mem_align;
#endif
	return a < 512 ? 512 : a;
}

/* Fills size and sector size; refuses what cannot be a device. */
static int file_geometry(struct file_dev *f, const struct file_opts *o,
			 const struct stat *st, uint64_t *bytes)
{
	const char *path = f->path;
	uint32_t logical = 512;

	if (f->is_blk) {
		int ss;
		if (ioctl(f->fd, BLKGETSIZE64, bytes) < 0)
			return mblk_set_error(-errno,
					      "%s: cannot read the block "
					      "device's size: BLKGETSIZE64: %s",
					      path, strerror(errno));
		if (ioctl(f->fd, BLKSSZGET, &ss) < 0)
			return mblk_set_error(-errno,
					      "%s: cannot read the block "
					      "device's sector size: BLKSSZGET: "
					      "%s",
					      path, strerror(errno));
		logical = (uint32_t)ss;
	} else {
		*bytes = (uint64_t)st->st_size;
	}
	f->dio_align = o->buffered ? 1 : dio_alignment(f, logical);

	uint64_t ss = o->sector_size;
	if (ss == 0)
		ss = f->is_blk ? logical : o->buffered ? 512 : f->dio_align;
	if (ss < 512 || ss > 65536 || !mblk__is_pow2(ss))
		return mblk_set_error(-EINVAL,
				      "%s: sector-size=%llu: must be a power of "
				      "two from 512 to 65536",
				      path, (unsigned long long)ss);
	if (ss < logical)
		return mblk_set_error(-EINVAL,
				      "%s: sector-size=%llu is smaller than the "
				      "block device's %u-byte logical sectors",
				      path, (unsigned long long)ss, logical);
	if (!o->buffered && ss < f->dio_align)
		return mblk_set_error(-EINVAL,
				      "%s: sector-size=%llu is smaller than the "
				      "%u-byte alignment O_DIRECT needs here: "
				      "use sector-size=%u or buffered=1",
				      path, (unsigned long long)ss,
				      f->dio_align, f->dio_align);
	if (*bytes % ss != 0) {
		uint64_t up = mblk__align_up(*bytes, ss);
		return mblk_set_error(-EINVAL,
				      "%s is %llu bytes, not a whole number of "
				      "%llu-byte sectors; pad it to %llu bytes "
				      "with `truncate -s %llu %s`, or choose "
				      "a sector-size that divides its size",
				      path, (unsigned long long)*bytes,
				      (unsigned long long)ss,
				      (unsigned long long)up,
				      (unsigned long long)up, path);
	}
	if (*bytes > MBLK__MAX_BYTES)
		return mblk_set_error(-EFBIG, "%s is larger than 2^63 bytes",
				      path);
	f->sector_size = (uint32_t)ss;
	f->shift = mblk__log2(ss);
	return 0;
}

static int file_open(uv_loop_t *loop, const char *path,
		     const struct file_opts *o, mblk_dev **devp)
{
	struct stat st;
	int r;
	struct file_dev *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return mblk_set_error(-ENOMEM, "%s: no memory", path);
	f->fd = -1;
	f->loop = loop;
	f->buffered = o->buffered;
	f->lock = o->lock;
	f->sync = o->sync;
	f->nowait_ok = true;
	atomic_init(&f->broken, 0);
	f->path = strdup(path);
	if (f->path == NULL) {
		r = mblk_set_error(-ENOMEM, "%s: no memory", path);
		goto fail;
	}

	bool ro = o->read_only;
	r = file_open_fd(f, o, &ro);
	if (r < 0)
		goto fail;
	f->fd = r;
	f->read_only = ro;

	if (fstat(f->fd, &st) < 0) {
		r = mblk_set_error(-errno, "%s: fstat: %s", path,
				   strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		r = mblk_set_error(-EISDIR,
				   "%s is a directory, not a file or a block "
				   "device",
				   path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = mblk_set_error(-EINVAL,
				   "%s is a %s, not a regular file or a block "
				   "device",
				   path,
				   S_ISCHR(st.st_mode)    ? "character device"
				   : S_ISFIFO(st.st_mode) ? "FIFO (named pipe)"
				   : S_ISSOCK(st.st_mode) ? "socket"
							  : "special file");
		goto fail;
	}
	f->is_blk = S_ISBLK(st.st_mode);
	/* O_NONBLOCK was only for opening FIFOs safely: off again, or
	 * io_uring would answer -EAGAIN instead of waiting for the disk. */
	int fl = fcntl(f->fd, F_GETFL);
	if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = mblk_set_error(-errno, "%s: fcntl: %s", path,
				   strerror(errno));
		goto fail;
	}
	if (o->lock && (r = file_lock(path, f->fd, ro, &st)) < 0)
		goto fail;

	uint64_t bytes;
	if ((r = file_geometry(f, o, &st, &bytes)) < 0)
		goto fail;

	char *abs = realpath(path, NULL);
	f->abspath = abs != NULL ? abs : strdup(path);
	if (f->abspath == NULL) {
		r = mblk_set_error(-ENOMEM, "%s: no memory", path);
		goto fail;
	}

	struct mblk_info info = {
		.size_sectors = bytes >> f->shift,
		.sector_size = f->sector_size,
		.read_write = !ro,
		.buf_align = f->dio_align,
		.min_io = f->sector_size,
		.pref_io = (uint32_t)
			mblk__max_u64(f->sector_size,
				      mblk__is_pow2((uint64_t)st.st_blksize) &&
						      st.st_blksize <= 65536
					      ? (uint64_t)st.st_blksize
					      : 4096),
		.max_io = 0,
		.caps = MBLK_CAP_DISCARD | MBLK_CAP_WRITE_ZEROES,
	};
	if (o->sync != FILE_SYNC_NONE)
		info.caps |= MBLK_CAP_FLUSH | MBLK_CAP_FUA;
	if (!f->is_blk)
		info.caps |= MBLK_CAP_RESIZE | MBLK_CAP_SEEK |
			     MBLK_CAP_ZERO_IS_FAST;

	r = mblk_dev_create(loop, &file_ops, f, path, &info, NULL, 0, 0,
			    &f->dev);
	if (r < 0)
		goto fail;

	f->engine = FILE_ENGINE_THREADS;
	if (o->engine == FILE_ENGINE_URING) {
		char why[160];
		if (mblk__file_uring_init(f, why, sizeof(why)) == 0)
			f->engine = FILE_ENGINE_URING;
		else
			add_note(f,
				 "io_uring is not available (%s): using the "
				 "thread-pool engine (engine=threads)",
				 why);
	}
	*devp = f->dev;
	return 0;
fail:
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->abspath);
	free(f);
	return r;
}

/* The path of a file: URI: "file:/p", "file:p" (relative), "file:///p"
 * and "file://localhost/p" all work; another host does not. */
static int file_uri_path(struct mblk__uri *u, const char **path)
{
	const char *p = u->path;
	size_t sl = strlen(u->scheme);
	bool explicit = strncasecmp(u->text, u->scheme, sl) == 0 &&
			u->text[sl] == ':';
	/* A bare path "//x" is a path, not an authority. */
	if (explicit && strncmp(p, "//", 2) == 0) {
		const char *host = p + 2, *slash = strchr(host, '/');
		size_t hl = slash ? (size_t)(slash - host) : strlen(host);
		if (hl != 0 && !(hl == 9 && strncmp(host, "localhost", 9) == 0))
			return mblk_set_error(-EINVAL,
					      "URI '%s' names host '%.*s': the "
					      "file device opens local paths "
					      "only (write file:/path)",
					      u->text, (int)hl, host);
		p = slash ? slash : "";
	}
	if (*p == '\0')
		return mblk_set_error(-EINVAL,
				      "URI '%s' has no path: write "
				      "file:/path/to/image or just the path",
				      u->text);
	*path = p;
	return 0;
}

#define FILE_KEYS "buffered, sync, lock, sector-size, read-only, engine"

static int open_file_common(uv_loop_t *loop, struct mblk__uri *u,
			    unsigned flags, bool force_buffered,
			    mblk_dev **devp)
{
	struct file_opts o = {
		.buffered = true,
		.lock = true,
		.read_only = (flags & MBLK_OPEN_RDONLY) != 0,
		.sync = FILE_SYNC_OS,
		.engine = FILE_ENGINE_URING,
		.sector_size = 0,
	};
	bool ro = false;
	const char *path = NULL;
	int r;

	if ((r = mblk__uri_get_bool(u, "buffered", &o.buffered)) < 0 ||
	    (r = mblk__uri_get_bool(u, "lock", &o.lock)) < 0 ||
	    (r = mblk__uri_get_bool(u, "read-only", &ro)) < 0 ||
	    (r = mblk__uri_get_size(u, "sector-size", &o.sector_size)) < 0)
		return r;
	if (mblk__uri_get(u, "sector-size") != NULL && o.sector_size == 0)
		return mblk_set_error(-EINVAL,
				      "sector-size=0 in URI '%s': must be a "
				      "power of two from 512 to 65536",
				      u->text);
	const char *s = mblk__uri_get(u, "sync");
	if (s != NULL) {
		/* "0" and "1" are upstream's spellings of none and drive. */
		if (!strcmp(s, "none") || !strcmp(s, "0"))
			o.sync = FILE_SYNC_NONE;
		else if (!strcmp(s, "os"))
			o.sync = FILE_SYNC_OS;
		else if (!strcmp(s, "drive") || !strcmp(s, "1"))
			o.sync = FILE_SYNC_DRIVE;
		else
			return mblk_set_error(-EINVAL,
					      "sync=%s in URI '%s': expected "
					      "none, os or drive",
					      s, u->text);
	}
	const char *e = mblk__uri_get(u, "engine");
	if (e != NULL) {
		if (!strcmp(e, "uring") || !strcmp(e, "io_uring"))
			o.engine = FILE_ENGINE_URING;
		else if (!strcmp(e, "threads"))
			o.engine = FILE_ENGINE_THREADS;
		else
			return mblk_set_error(-EINVAL,
					      "engine=%s in URI '%s': expected "
					      "uring or threads",
					      e, u->text);
	}
	if ((r = mblk__uri_finish(u, FILE_KEYS)) < 0)
		return r;
	if ((r = file_uri_path(u, &path)) < 0)
		return r;
	if (force_buffered)
		o.buffered = true;
	o.read_only = o.read_only || ro;
	return file_open(loop, path, &o, devp);
}

int mblk__open_file_uri(uv_loop_t *loop, struct mblk__uri *u, unsigned flags,
			mblk_dev **devp)
{
	return open_file_common(loop, u, flags, false, devp);
}

/* Upstream's legacy "buffered:PATH": buffered, with the prefix stripped
 * (upstream kept it in the path and opened a file named "buffered:..."). */
int mblk__open_file_buffered_uri(uv_loop_t *loop, struct mblk__uri *u,
				 unsigned flags, mblk_dev **devp)
{
	return open_file_common(loop, u, flags, true, devp);
}
