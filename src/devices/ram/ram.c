/* ram.c - the ram device: sparse, named, in-memory block devices.
 *
 * Design notes
 *
 * A ramdisk's data is a `store`: a page table (pagetable.h) of pages of
 * max(4096, sector_size) bytes, a size, a sector size and a lock. Handles
 * (mblk_dev) point at a store; a process-wide registry maps names to
 * stores. The store is reference-counted by its handles plus one for the
 * registry entry, so mblk_ram_destroy unregisters at once and the memory
 * goes when the last handle closes.
 *
 * Upstream defects fixed here (seed-behaviour §2, docs/devices/ram.md):
 *   - data is copied in on write (upstream kept the caller's buffers);
 *   - the sector size is honoured (upstream keyed 512-byte chunks);
 *   - creating over an existing name is refused (-EEXIST) instead of
 *     silently replacing it and its data;
 *   - requests are bounds-checked, and seeks past the end answer the
 *     size, not `from`;
 *   - seeks are O(tree height), not a sector-by-sector scan.
 *
 * Sparseness: an absent page reads as zeros. A write of a whole page of
 * zeros frees the page rather than storing it; discard and write_zeroes
 * free every whole page in the range and zero the partial ends. So memory
 * grows with the data written, never with the size.
 *
 * Locking: handles may live on different loops and threads, so the store
 * has a rwlock: reads and seeks share it, anything that changes the data
 * or the size takes it exclusively. Every op completes at once (the core
 * defers the callback to the loop), except reads and writes of
 * RAM_POOL_MIN or more, which copy in libuv's thread pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include "../../common/checked.h"
#include "../../common/geometry.h"
#include <mblk/ram.h>
#include "pagetable.h"

struct store {
	pthread_rwlock_t lock; /* protects everything below */
	char *name;            /* NULL for an anonymous device */
	bool registered;
	int refs; /* handles + 1 while registered */
	uint64_t size_sectors;
	uint32_t sector_size;
	unsigned page_shift; /* log2 of the page size */
	struct pagetable pt;
	struct arena pages; /* where the data pages live */
	struct store *next; /* registry list */
};

/* The registry; the mutex also protects every store's refs/registered. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *registry;

static struct store *registry_find(const char *name)
{
	for (struct store *s = registry; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static void registry_unlink(struct store *st)
{
	for (struct store **p = &registry; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}
	st->registered = false;
	st->refs--;
}

static void store_free(struct store *st)
{
	mblk__pt_destroy(&st->pt, NULL);
	mblk__arena_destroy(&st->pages);
	pthread_rwlock_destroy(&st->lock);
	free(st->name);
	free(st);
}

/* Drops one reference; called with registry_lock held. */
static void store_put_locked(struct store *st)
{
	if (--st->refs == 0)
		store_free(st);
}

static int check_geometry(const char *name, uint64_t size_sectors,
			  uint32_t sector_size)
{
	uint64_t bytes;
	if (!mblk__is_pow2(sector_size) || sector_size < 512 ||
	    sector_size > 65536)
		return mblk_set_error(-EINVAL,
				      "ram:%s: sector size %u is not a power of "
				      "two from 512 to 65536",
				      name ? name : "", sector_size);
	if (mblk__mul_overflow(size_sectors, sector_size, &bytes) ||
	    bytes > MBLK__MAX_BYTES)
		return mblk_set_error(-EFBIG,
				      "ram:%s: %llu sectors of %u bytes is more "
				      "than the 2^63 bytes a device can hold",
				      name ? name : "",
				      (unsigned long long)size_sectors,
				      sector_size);
	return 0;
}

static struct store *store_new(const char *name, uint64_t size_sectors,
			       uint32_t sector_size)
{
	struct store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	if (name != NULL && (st->name = strdup(name)) == NULL) {
		free(st);
		return NULL;
	}
	pthread_rwlock_init(&st->lock, NULL);
	st->size_sectors = size_sectors;
	st->sector_size = sector_size;
	st->page_shift = mblk__log2(mblk__max_u64(4096, sector_size));
	mblk__pt_init(&st->pt);
	mblk__arena_init(&st->pages, 1u << st->page_shift, 1, 0);
	return st;
}

/* ------------------------------------------------------------------ */
/* Data path (called with the lock held)                               */

static bool is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	/* The first byte rejects random data at once; then memcmp against
	 * itself shifted by one compares every byte with its neighbour. */
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Copies len bytes at byte offset off into dst, pages or zeros. */
static void store_read(struct store *st, uint64_t off, char *dst, size_t len)
{
	uint64_t psize = 1ull << st->page_shift;
	while (len > 0) {
		uint64_t in = off & (psize - 1);
		size_t n = (size_t)mblk__min_u64(len, psize - in);
		const char *page =
			mblk__pt_lookup(&st->pt, off >> st->page_shift);
		if (page)
			memcpy(dst, page + in, n);
		else
			memset(dst, 0, n);
		dst += n;
		off += n;
		len -= n;
	}
}

/* Writes len bytes from src (NULL: zeros) at byte offset off. A whole
 * page of zeros becomes a hole unless keep is set. */
static int store_write(struct store *st, uint64_t off, const char *src,
		       size_t len, bool keep)
{
	uint64_t psize = 1ull << st->page_shift;
	while (len > 0) {
		uint64_t key = off >> st->page_shift;
		uint64_t in = off & (psize - 1);
		size_t n = (size_t)mblk__min_u64(len, psize - in);
		bool zero = src == NULL || is_zero(src, n);
		char *page = mblk__pt_lookup(&st->pt, key);
		if (zero && !keep) {
			if (n == psize && page)
				mblk__arena_free(&st->pages,
						 mblk__pt_remove(&st->pt, key));
			else if (page)
				memset(page + in, 0, n);
		} else {
			if (page == NULL) {
				page = mblk__arena_alloc(&st->pages);
				if (page == NULL)
					return -ENOMEM;
				if (n != psize)
					memset(page, 0, psize);
				if (mblk__pt_insert(&st->pt, key, page) < 0) {
					mblk__arena_free(&st->pages, page);
					return -ENOMEM;
				}
			}
			if (src)
				memcpy(page + in, src, n);
			else
				memset(page + in, 0, n);
		}
		if (src)
			src += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Drops every page at or past byte offset `end`, zeroing the tail of the
 * page that straddles it, so that growing later reads zeros. */
static void store_truncate(struct store *st, uint64_t end)
{
	uint64_t psize = 1ull << st->page_shift;
	uint64_t first = end >> st->page_shift;
	if (end & (psize - 1)) {
		char *page = mblk__pt_lookup(&st->pt, first);
		if (page)
			memset(page + (end & (psize - 1)), 0,
			       psize - (end & (psize - 1)));
		first++;
	}
	for (uint64_t k = mblk__pt_next_present(&st->pt, first); k != PT_NONE;
	     k = mblk__pt_next_present(&st->pt, k + 1))
		mblk__arena_free(&st->pages, mblk__pt_remove(&st->pt, k));
	mblk__arena_flush(&st->pages);
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */

/* Every op works under the store's lock and completes after releasing
 * it: a completion may run the caller's callback at once (from the
 * deferred step of a read, at loop level), and that callback may submit
 * to this store again, which would deadlock on the lock still held. */

/* Another handle may have shrunk the store since the core checked this
 * request against our cached size: such a request must not touch pages
 * past the end. Called with the lock held; *now gets the current size. */
static bool in_bounds(struct store *st, mblk_req *req, uint64_t *now)
{
	*now = st->size_sectors;
	return req->sector + req->count <= st->size_sectors;
}

/* Completes req after the lock is released: out of bounds (size `now`),
 * out of memory (r < 0, the store holding `held` bytes), or done. */
static void ram_complete(mblk_dev *dev, mblk_req *req, bool ok, uint64_t now,
			 int r, uint64_t held)
{
	if (!ok) {
		mblk_dev_info(dev)->size_sectors = now;
		mblk_req_fail(req, -EINVAL,
			      "the device now has %llu sectors (resized "
			      "through another handle)",
			      (unsigned long long)now);
	} else if (r < 0) {
		mblk_req_fail(req, r,
			      "out of memory for new pages (the ramdisk "
			      "holds %llu bytes)",
			      (unsigned long long)held);
	} else {
		mblk_req_done(req, 0);
	}
}

/* A request's outcome, worked out under the lock and reported after it
 * is released (ram_complete). */
struct ram_result {
	bool ok;
	uint64_t now, held;
	int r;
};

/* Copies the request's data out, under the read lock. */
static void ram_read_locked(struct store *st, mblk_req *req,
			    struct ram_result *res)
{
	pthread_rwlock_rdlock(&st->lock);
	*res = (struct ram_result){ .r = 0 };
	res->ok = in_bounds(st, req, &res->now);
	if (res->ok) {
		uint64_t off = req->sector << mblk__log2(st->sector_size);
		for (int i = 0; i < req->iovcnt; i++) {
			store_read(st, off, req->iov[i].iov_base,
				   req->iov[i].iov_len);
			off += req->iov[i].iov_len;
		}
	}
	pthread_rwlock_unlock(&st->lock);
}

/* Copies the request's data in, under the write lock. */
static void ram_write_locked(struct store *st, mblk_req *req,
			     struct ram_result *res)
{
	int r = 0;
	pthread_rwlock_wrlock(&st->lock);
	res->ok = in_bounds(st, req, &res->now);
	if (res->ok) {
		uint64_t off = req->sector << mblk__log2(st->sector_size);
		for (int i = 0; i < req->iovcnt && r == 0; i++) {
			r = store_write(st, off, req->iov[i].iov_base,
					req->iov[i].iov_len, false);
			off += req->iov[i].iov_len;
		}
		mblk__arena_flush(&st->pages);
	}
	res->r = r;
	res->held = st->pt.npages << st->page_shift;
	pthread_rwlock_unlock(&st->lock);
}

/* Large copies run in libuv's thread pool: a loop that also serves a
 * socket (mblk serve) then reads the next request while a pool thread
 * copies this one, as nbdkit's threads do. Below RAM_POOL_MIN the hop
 * costs more than the copy: with 256 KiB in the pool, nbdcopy (256 KiB
 * requests, four connections) into and out of mblk serve ram: ran 5-10 %
 * slower than with them on the loop; 1 MiB writes gain from the pool.
 * The store's lock orders them against every other op; requests in
 * flight at once were never ordered anyway. */
#define RAM_POOL_MIN (512u * 1024)

struct ram_work {
	uv_work_t work;
	mblk_req *req;
	struct ram_result res;
};

static void ram_work_run(uv_work_t *w)
{
	struct ram_work *rw = (struct ram_work *)w;
	struct store *st = mblk_dev_priv(rw->req->dev);
	if (rw->req->op == MBLK_OP_READ)
		ram_read_locked(st, rw->req, &rw->res);
	else
		ram_write_locked(st, rw->req, &rw->res);
}

static void ram_work_after(uv_work_t *w, int status)
{
	struct ram_work *rw = (struct ram_work *)w;
	(void)status; /* never cancelled */
	ram_complete(rw->req->dev, rw->req, rw->res.ok, rw->res.now, rw->res.r,
		     rw->res.held);
}

/* Queues a large copy; false if it must run here. */
static bool ram_pool(mblk_dev *dev, mblk_req *req, uint64_t bytes)
{
	if (bytes < RAM_POOL_MIN)
		return false;
	struct ram_work *rw = mblk_req_ctx(req);
	rw->req = req;
	return uv_queue_work(mblk_dev_loop(dev), &rw->work, ram_work_run,
			     ram_work_after) == 0;
}

static void ram_read_copy(mblk_req *req)
{
	struct ram_result res;
	ram_read_locked(mblk_dev_priv(req->dev), req, &res);
	ram_complete(req->dev, req, res.ok, res.now, 0, 0);
}

static void ram_read(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	uint64_t bytes = req->count << mblk__log2(st->sector_size);
	if (bytes > (1ull << st->page_shift)) {
		if (!ram_pool(dev, req, bytes))
			ram_read_copy(req);
		return;
	}
	pthread_rwlock_rdlock(&st->lock);
	mblk__pt_prefetch(&st->pt,
			  (req->sector << mblk__log2(st->sector_size)) >>
				  st->page_shift);
	pthread_rwlock_unlock(&st->lock);
	mblk_req_defer(req, ram_read_copy);
}

static void ram_write(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	struct ram_result res;
	if (ram_pool(dev, req, req->count << mblk__log2(st->sector_size)))
		return;
	ram_write_locked(st, req, &res);
	ram_complete(dev, req, res.ok, res.now, res.r, res.held);
}

/* Zeros len bytes at off, leaving holes: partial pages at the ends are
 * cleared in place, whole pages in between are dropped. It visits only
 * pages that exist (mblk__pt_next_present), so its cost follows the data held,
 * not the length: a discard of 2^63 bytes is as quick as the data is
 * small. */
static void store_punch(struct store *st, uint64_t off, uint64_t len)
{
	uint64_t psize = 1ull << st->page_shift, end = off + len;
	uint64_t first = off >> st->page_shift;
	uint64_t last = end >> st->page_shift; /* first page not wholly in */

	if (off & (psize - 1)) {
		char *page = mblk__pt_lookup(&st->pt, first);
		uint64_t in = off & (psize - 1);
		uint64_t n = mblk__min_u64(len, psize - in);
		if (page)
			memset(page + in, 0, n);
		first++;
	}
	if (first < last)
		for (uint64_t k = mblk__pt_next_present(&st->pt, first);
		     k != PT_NONE && k < last;
		     k = mblk__pt_next_present(&st->pt, k + 1))
			mblk__arena_free(&st->pages,
					 mblk__pt_remove(&st->pt, k));
	if ((end & (psize - 1)) && last >= first &&
	    (last << st->page_shift) >= off) {
		char *page = mblk__pt_lookup(&st->pt, last);
		if (page)
			memset(page, 0, end & (psize - 1));
	}
	mblk__arena_flush(&st->pages);
}

/* Discard and write_zeroes: zeros over the range; holes unless NO_HOLE,
 * which allocates (zeroed) pages so the range stays mapped. */
static void ram_zero(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	bool keep = req->op == MBLK_OP_WRITE_ZEROES &&
		    (req->flags & MBLK_ZEROES_NO_HOLE);
	uint64_t now;
	int r = 0;
	pthread_rwlock_wrlock(&st->lock);
	bool ok = in_bounds(st, req, &now);
	if (ok) {
		unsigned ss = mblk__log2(st->sector_size);
		uint64_t off = req->sector << ss, len = req->count << ss;
		if (!keep)
			store_punch(st, off, len);
		/* store_write takes size_t lengths: a GiB at a time. */
		while (keep && len > 0 && r == 0) {
			size_t n = (size_t)mblk__min_u64(len, 1ull << 30);
			r = store_write(st, off, NULL, n, true);
			off += n;
			len -= n;
		}
		mblk__arena_flush(&st->pages);
	}
	uint64_t held = st->pt.npages << st->page_shift;
	pthread_rwlock_unlock(&st->lock);
	ram_complete(dev, req, ok, now, r, held);
}

static void ram_resize(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_wrlock(&st->lock);
	if (req->sector < st->size_sectors)
		store_truncate(st, req->sector << mblk__log2(st->sector_size));
	st->size_sectors = req->sector;
	pthread_rwlock_unlock(&st->lock);
	mblk_req_done(req, 0);
}

static void ram_seek(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_rdlock(&st->lock);
	unsigned ss = mblk__log2(st->sector_size);
	uint64_t size = st->size_sectors;
	uint64_t key = (req->sector << ss) >> st->page_shift;
	uint64_t k = req->op == MBLK_OP_SEEK_MAPPED
			     ? mblk__pt_next_present(&st->pt, key)
			     : mblk__pt_next_absent(&st->pt, key);
	uint64_t ans = size;
	/* Convert the page back to a sector, never before `from`. */
	if (k != PT_NONE && k < (size << ss >> st->page_shift) + 1)
		ans = mblk__max_u64(req->sector, (k << st->page_shift) >> ss);
	req->result = mblk__min_u64(ans, size);
	pthread_rwlock_unlock(&st->lock);
	mblk_req_done(req, 0);
}

/* Many extents at once, from the page table: a present page is data, an
 * absent one a hole that reads as zeros. Each extent costs one walk of
 * the table to the next change, whatever its length. */
static void ram_extents(mblk_dev *dev, mblk_req *req)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_rdlock(&st->lock);
	unsigned ss = mblk__log2(st->sector_size);
	uint64_t now = st->size_sectors;
	uint64_t end = mblk__min_u64(req->sector + req->count, now);
	uint64_t pos = req->sector;
	int n = 0;
	while (pos < end && n < req->ext_max) {
		uint64_t key = (pos << ss) >> st->page_shift;
		bool data = mblk__pt_lookup(&st->pt, key) != NULL;
		uint64_t k = data ? mblk__pt_next_absent(&st->pt, key)
				  : mblk__pt_next_present(&st->pt, key);
		uint64_t next = end;
		if (k != PT_NONE &&
		    (k << st->page_shift >> st->page_shift) == k)
			next = mblk__min_u64(end, (k << st->page_shift) >> ss);
		if (next <= pos) /* a page smaller than a sector cannot be */
			next = pos + 1;
		req->ext[n].sector = pos;
		req->ext[n].count = next - pos;
		req->ext[n].flags = data ? 0
					 : MBLK_EXTENT_HOLE | MBLK_EXTENT_ZERO;
		n++;
		pos = next;
	}
	pthread_rwlock_unlock(&st->lock);
	req->ext_n = n;
	if (n == 0) {
		/* Shrunk through another handle below the request. */
		mblk_req_fail(req, -EINVAL,
			      "the device now has %llu sectors (resized "
			      "through another handle)",
			      (unsigned long long)now);
		return;
	}
	mblk_req_done(req, 0);
}

static void ram_get_info(mblk_dev *dev, struct mblk_info *info)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_rdlock(&st->lock);
	info->size_sectors = st->size_sectors;
	pthread_rwlock_unlock(&st->lock);
}

static int ram_get_uri(mblk_dev *dev, char *buf, size_t len)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_rdlock(&st->lock); /* another handle may resize */
	uint64_t size = st->size_sectors;
	pthread_rwlock_unlock(&st->lock);
	/* The name percent-encoded, so that a name with '?', '&' or '%'
	 * reopens as itself. */
	char *name = mblk_uri_encode(st->name ? st->name : "", NULL);
	if (name == NULL)
		return mblk_set_error(-ENOMEM, "%s: no memory for the URI",
				      mblk_dev_name(dev));
	int n = snprintf(buf, len, "ram:%s?size=%llu&sector-size=%u", name,
			 (unsigned long long)(size
					      << mblk__log2(st->sector_size)),
			 st->sector_size);
	free(name);
	return n;
}

static int ram_get_allocated(mblk_dev *dev, uint64_t *bytes)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_rwlock_rdlock(&st->lock);
	*bytes = st->pt.npages << st->page_shift;
	pthread_rwlock_unlock(&st->lock);
	return 0;
}

static void ram_destroy(mblk_dev *dev)
{
	struct store *st = mblk_dev_priv(dev);
	pthread_mutex_lock(&registry_lock);
	store_put_locked(st);
	pthread_mutex_unlock(&registry_lock);
}

static const struct mblk_dev_ops ram_ops = {
	.kind = "ram",
	.req_ctx_size = sizeof(struct ram_work),
	.read = ram_read,
	.write = ram_write,
	.discard = ram_zero,
	.write_zeroes = ram_zero,
	.resize = ram_resize,
	.seek = ram_seek,
	.extents = ram_extents,
	.get_info = ram_get_info,
	.get_uri = ram_get_uri,
	.get_allocated = ram_get_allocated,
	.destroy = ram_destroy,
};

/* ------------------------------------------------------------------ */
/* Handles and the registry                                            */

/* Makes a handle for st, which the caller has already counted. */
static int make_handle(uv_loop_t *loop, struct store *st, mblk_dev **devp)
{
	char name[300];
	/* Sentences name the device: an anonymous one is "ram:(anonymous)"
	 * rather than a bare "ram:" that reads as a typo. */
	snprintf(name, sizeof(name), "ram:%s",
		 st->name ? st->name : "(anonymous)");
	/* The size is the store's lock's (another handle may resize); the
	 * registry lock the caller holds does not cover it. */
	pthread_rwlock_rdlock(&st->lock);
	uint64_t size = st->size_sectors;
	pthread_rwlock_unlock(&st->lock);
	struct mblk_info info = {
		.size_sectors = size,
		.sector_size = st->sector_size,
		.read_write = true,
		.buf_align = 1,
		.pref_io = 1u << st->page_shift,
		.max_io = 0,
		.caps = MBLK_CAP_DISCARD | MBLK_CAP_WRITE_ZEROES |
			MBLK_CAP_RESIZE | MBLK_CAP_SEEK | MBLK_CAP_ZERO_IS_FAST,
	};
	return mblk_dev_create(loop, &ram_ops, st, name, &info, NULL, 0, 0,
			       devp);
}

/* What a URI asks of a store that exists: the geometry it gives (if it
 * gives it) must match. Checked under the registry lock, together with
 * the connect: a destroy in between would let the connect create a
 * default-size device the URI did not ask for. */
struct ram_want {
	bool size, sector_size; /* which of the two the URI gave */
	const char *uri;
};

static int create_common(uv_loop_t *loop, const char *name,
			 uint64_t size_sectors, uint32_t sector_size,
			 bool connect, const struct ram_want *want,
			 mblk_dev **devp)
{
	if (loop == NULL || devp == NULL)
		return mblk_set_error(-EINVAL, "ram: loop and devp must not be "
					       "NULL");
	if (name != NULL && *name == '\0')
		name = NULL;
	if (name != NULL && strlen(name) > 255)
		return mblk_set_error(-ENAMETOOLONG,
				      "ram: name '%.40s...' is longer than 255 "
				      "bytes",
				      name);
	int r = check_geometry(name, size_sectors, sector_size);
	if (r < 0)
		return r;

	pthread_mutex_lock(&registry_lock);
	struct store *st = name ? registry_find(name) : NULL;
	if (st != NULL && !connect) {
		pthread_mutex_unlock(&registry_lock);
		return mblk_set_error(-EEXIST,
				      "ram:%s already exists; creating it again "
				      "would drop its data: connect to it, or "
				      "destroy it first",
				      name);
	}
	if (st != NULL && want != NULL) {
		pthread_rwlock_rdlock(&st->lock);
		uint64_t have_sectors = st->size_sectors;
		uint32_t have_ss = st->sector_size;
		pthread_rwlock_unlock(&st->lock);
		if ((want->size &&
		     have_sectors * have_ss != size_sectors * sector_size) ||
		    (want->sector_size && have_ss != sector_size)) {
			pthread_mutex_unlock(&registry_lock);
			return mblk_set_error(
				-EEXIST,
				"ram:%s already exists with %llu bytes in "
				"%u-byte sectors, not what URI '%s' asks for; "
				"resize it or use another name",
				name,
				(unsigned long long)(have_sectors * have_ss),
				have_ss, want->uri);
		}
	}
	if (st == NULL) {
		st = store_new(name, size_sectors, sector_size);
		if (st == NULL) {
			pthread_mutex_unlock(&registry_lock);
			return mblk_set_error(-ENOMEM, "ram: no memory");
		}
		if (name != NULL) {
			st->registered = true;
			st->refs = 1;
			st->next = registry;
			registry = st;
		}
	}
	st->refs++;
	r = make_handle(loop, st, devp);
	if (r < 0)
		store_put_locked(st);
	pthread_mutex_unlock(&registry_lock);
	return r;
}

int mblk_ram_create(uv_loop_t *loop, const char *name, uint64_t size_sectors,
		    uint32_t sector_size, mblk_dev **devp)
{
	return create_common(loop, name, size_sectors, sector_size, false, NULL,
			     devp);
}

int mblk_ram_connect(uv_loop_t *loop, const char *name, mblk_dev **devp)
{
	if (name == NULL || *name == '\0')
		return mblk_set_error(-EINVAL, "ram: connect needs a name");
	return create_common(loop, name, MBLK_RAM_DEFAULT_SECTORS,
			     MBLK_RAM_DEFAULT_SECTOR_SIZE, true, NULL, devp);
}

int mblk_ram_destroy(const char *name)
{
	pthread_mutex_lock(&registry_lock);
	struct store *st = name ? registry_find(name) : NULL;
	if (st == NULL) {
		pthread_mutex_unlock(&registry_lock);
		return mblk_set_error(-ENOENT, "ram:%s does not exist",
				      name ? name : "(null)");
	}
	registry_unlink(st);
	if (st->refs == 0)
		store_free(st);
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

/* ram:NAME?size=SIZE&sector-size=N. An existing name is connected to,
 * but only if the size and sector size given (if any) match it: a URI
 * that silently opened a device of another size would mislead. */
static void ram_open_uri(struct mblk_open_req *req, struct mblk_uri *u)
{
	uv_loop_t *loop = mblk_open_req_loop(req);
	uint64_t size = (uint64_t)MBLK_RAM_DEFAULT_SECTORS *
			MBLK_RAM_DEFAULT_SECTOR_SIZE;
	uint64_t ss = MBLK_RAM_DEFAULT_SECTOR_SIZE;
	bool have_size = mblk_uri_get(u, "size") != NULL;
	bool have_ss = mblk_uri_get(u, "sector-size") != NULL;
	const char *text = mblk_uri_text(u);
	const char *path = mblk_uri_path(u);
	mblk_dev *dev;
	int r;

	if ((r = mblk__uri_geometry(u, &size, &ss)) < 0 ||
	    (r = mblk_uri_finish(u)) < 0) {
		mblk_open_fail_last(req, r);
		return;
	}
	const char *name = path[0] ? path : NULL;
	if (name != NULL) {
		/* Connect if it exists with this geometry, else create it. */
		struct ram_want want = { have_size, have_ss, text };
		r = create_common(loop, name, size / ss, (uint32_t)ss, true,
				  &want, &dev);
	} else {
		r = mblk_ram_create(loop, name, size / ss, (uint32_t)ss, &dev);
	}
	if (r < 0) {
		mblk_open_fail_last(req, r);
		return;
	}
	mblk_open_done(req, dev);
}

/* The keys' help gives the URI's defaults: they must be ram's. */
#define RAM_DEFAULT_BYTES \
	((uint64_t)MBLK_RAM_DEFAULT_SECTORS * MBLK_RAM_DEFAULT_SECTOR_SIZE)
_Static_assert(RAM_DEFAULT_BYTES == MBLK__GEOMETRY_DEFAULT_SIZE,
	       "ram's default size is not the one its help gives");
_Static_assert(MBLK_RAM_DEFAULT_SECTOR_SIZE ==
		       MBLK__GEOMETRY_DEFAULT_SECTOR_SIZE,
	       "ram's default sector size is not the one its help gives");

static const struct mblk_uri_key ram_keys[] = {
	MBLK__GEOMETRY_KEYS,
	{ NULL, NULL, NULL },
};

const struct mblk_scheme mblk__scheme_ram = {
	.name = "ram",
	.syntax = "ram:[NAME][?size=SIZE][&sector-size=N]",
	.summary = "a sparse in-memory device; NAME shares it within the "
		   "process, no NAME makes a private one",
	.keys = ram_keys,
	.open = ram_open_uri,
};
