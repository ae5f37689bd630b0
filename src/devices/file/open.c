/* open.c - opening the file device: the URI's keys, the file, its lock
 * and geometry, the engine.
 *
 * Every setting is resolved once, here: read-write or read-only, O_DIRECT
 * or not, the lock, the geometry, the engine and how its ring is set up.
 * get_uri (file.c) prints all of them back, so the printed URI reopens
 * the device the same way. What opening had to decide on the caller's
 * behalf (read-only because the file is not writable, threads because
 * io_uring could not be set up) is kept as a note: mblk_file_notes().
 * Opening is synchronous (open, fstat, flock, the ring): it finishes the
 * open request before returning.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <mblk/file.h>
#include "../../common/checked.h"
#include "file.h"

struct file_opts {
	bool buffered, lock, read_only;
	enum file_sync sync;
	enum file_engine engine;
	uint64_t sector_size; /* 0: not given */
	enum file_uring_setup uring_setup;
	unsigned uring_batch;
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
				mblk__file_add_note(
					f,
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
	f->uring_setup = o->uring_setup;
	f->uring_batch = o->uring_batch;
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
	if (o->buffered)
		info.caps |= MBLK_CAP_CACHE;

	r = mblk_dev_create(loop, &mblk__file_ops, f, path, &info, NULL, 0, 0,
			    &f->dev);
	if (r < 0)
		goto fail;

	f->engine = FILE_ENGINE_THREADS;
	if (o->engine == FILE_ENGINE_URING) {
		char why[160];
		if (mblk__file_uring_init(f, why, sizeof(why)) == 0)
			f->engine = FILE_ENGINE_URING;
		else
			mblk__file_add_note(
				f,
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
static int file_uri_path(struct mblk_uri *u, const char **path)
{
	const char *p = mblk_uri_path(u), *text = mblk_uri_text(u);
	const char *scheme = mblk_uri_scheme(u);
	size_t sl = strlen(scheme);
	bool explicit = strncasecmp(text, scheme, sl) == 0 && text[sl] == ':';
	/* A bare path "//x" is a path, not an authority. */
	if (explicit && strncmp(p, "//", 2) == 0) {
		const char *host = p + 2, *slash = strchr(host, '/');
		size_t hl = slash ? (size_t)(slash - host) : strlen(host);
		if (hl != 0 && !(hl == 9 && strncmp(host, "localhost", 9) == 0))
			return mblk_set_error(-EINVAL,
					      "URI '%s' names host '%.*s': the "
					      "file device opens local paths "
					      "only (write file:/path)",
					      text, (int)hl, host);
		p = slash ? slash : "";
	}
	if (*p == '\0')
		return mblk_set_error(-EINVAL,
				      "URI '%s' has no path: write "
				      "file:/path/to/image or just the path",
				      text);
	*path = p;
	return 0;
}

/* The keys of file: and buffered: (docs/devices/file.md). */
static const struct mblk_uri_key file_keys[] = {
	{ "buffered", "bool",
	  "1: through the page cache (default); 0: O_DIRECT" },
	{ "sync", "none|os|drive",
	  "what flush does: nothing, fdatasync (default) or fsync" },
	{ "lock", "bool",
	  "flock the file: exclusive read-write, shared read-only (default 1)" },
	{ "sector-size", "size",
	  "bytes per sector (default 512, O_DIRECT: its alignment; block "
	  "devices: their logical sector)" },
	{ "read-only", "bool", "open read-only (default 0)" },
	{ "engine", "uring|threads",
	  "io_uring (default; falls back with a note) or libuv's thread pool" },
	{ "uring-setup", "coop|plain|defer",
	  "how the io_uring ring is set up (default coop)" },
	{ "uring-batch", "number",
	  "submit once this many requests wait, 1 to 256 (default 4)" },
	{ NULL, NULL, NULL },
};

/* MBLK_FILE_URING_SETUP and MBLK_FILE_URING_BATCH give the defaults of
 * the uring-setup and uring-batch keys (for bench/uring_batch.sh); the
 * URI's keys win, and mblk_get_uri prints what is in use. */
static int parse_uring_setup(const char *v, enum file_uring_setup *out)
{
	if (!strcmp(v, "coop"))
		*out = FILE_URING_COOP;
	else if (!strcmp(v, "plain"))
		*out = FILE_URING_PLAIN;
	else if (!strcmp(v, "defer"))
		*out = FILE_URING_DEFER;
	else
		return -EINVAL;
	return 0;
}

static int open_file_common(struct mblk_open_req *req, struct mblk_uri *u,
			    bool force_buffered)
{
	uv_loop_t *loop = mblk_open_req_loop(req);
	unsigned flags = mblk_open_req_flags(req);
	const char *text = mblk_uri_text(u);
	struct file_opts o = {
		.buffered = true,
		.lock = true,
		.read_only = (flags & MBLK_OPEN_RDONLY) != 0,
		.sync = FILE_SYNC_OS,
		.engine = FILE_ENGINE_URING,
		.sector_size = 0,
		.uring_setup = FILE_URING_COOP,
		.uring_batch = 4,
	};
	bool ro = false;
	const char *path = NULL;
	int r;

	const char *env = getenv("MBLK_FILE_URING_SETUP");
	if (env != NULL)
		(void)parse_uring_setup(env, &o.uring_setup);
	env = getenv("MBLK_FILE_URING_BATCH");
	if (env != NULL) {
		unsigned long v = strtoul(env, NULL, 10);
		if (v >= 1 && v <= 256)
			o.uring_batch = (unsigned)v;
	}
	uint64_t batch = o.uring_batch;
	if ((r = mblk_uri_get_bool(u, "buffered", &o.buffered)) < 0 ||
	    (r = mblk_uri_get_bool(u, "lock", &o.lock)) < 0 ||
	    (r = mblk_uri_get_bool(u, "read-only", &ro)) < 0 ||
	    (r = mblk_uri_get_size(u, "sector-size", &o.sector_size)) < 0 ||
	    (r = mblk_uri_get_uint(u, "uring-batch", &batch)) < 0)
		return r;
	if (batch < 1 || batch > 256)
		return mblk_set_error(-EINVAL,
				      "uring-batch=%llu in URI '%s': must be "
				      "from 1 to 256",
				      (unsigned long long)batch, text);
	o.uring_batch = (unsigned)batch;
	if (mblk_uri_get(u, "sector-size") != NULL && o.sector_size == 0)
		return mblk_set_error(-EINVAL,
				      "sector-size=0 in URI '%s': must be a "
				      "power of two from 512 to 65536",
				      text);
	const char *s = mblk_uri_get(u, "sync");
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
					      s, text);
	}
	const char *e = mblk_uri_get(u, "engine");
	if (e != NULL) {
		if (!strcmp(e, "uring") || !strcmp(e, "io_uring"))
			o.engine = FILE_ENGINE_URING;
		else if (!strcmp(e, "threads"))
			o.engine = FILE_ENGINE_THREADS;
		else
			return mblk_set_error(-EINVAL,
					      "engine=%s in URI '%s': expected "
					      "uring or threads",
					      e, text);
	}
	const char *us = mblk_uri_get(u, "uring-setup");
	if (us != NULL && parse_uring_setup(us, &o.uring_setup) < 0)
		return mblk_set_error(-EINVAL,
				      "uring-setup=%s in URI '%s': expected "
				      "coop, plain or defer",
				      us, text);
	if ((r = mblk_uri_finish(u)) < 0)
		return r;
	if ((r = file_uri_path(u, &path)) < 0)
		return r;
	if (force_buffered)
		o.buffered = true;
	o.read_only = o.read_only || ro;
	mblk_dev *dev = NULL;
	r = file_open(loop, path, &o, &dev);
	if (r == 0)
		mblk_open_done(req, dev);
	return r;
}

static void file_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	int r = open_file_common(req, u, false);
	if (r < 0)
		mblk_open_fail_last(req, r);
}

/* Upstream's legacy "buffered:PATH": buffered, with the prefix stripped
 * (upstream kept it in the path and opened a file named "buffered:..."). */
static void file_open_buffered_uri(struct mblk_open_req *req,
				   struct mblk_uri *u)
{
	int r = open_file_common(req, u, true);
	if (r < 0)
		mblk_open_fail_last(req, r);
}

const struct mblk_scheme mblk__scheme_file = {
	.name = "file",
	.syntax = "file:PATH[?key=value...]  (or a bare PATH)",
	.summary = "a regular file or a block device, buffered or O_DIRECT, on "
		   "io_uring or libuv's thread pool",
	.keys = file_keys,
	.open = file_open_uri,
};

const struct mblk_scheme mblk__scheme_buffered = {
	.name = "buffered",
	.syntax = "buffered:PATH[?key=value...]",
	.summary = "upstream's legacy spelling of file:PATH?buffered=1",
	.keys = file_keys,
	.open = file_open_buffered_uri,
};
