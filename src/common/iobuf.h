/* iobuf.h - memory for data buffers: aligned, and on huge pages when big.
 *
 * Header-only; used by the mirror's copy and by `mblk copy` and `bench`,
 * each of which keeps one buffer per request slot in one arena.
 *
 * A request's buffer reaches the disk as one segment per physically
 * contiguous run of memory. Buffers of 4 KiB pages are scattered, so a
 * 1 MiB request is 256 segments, more than a virtio disk takes at once
 * (254 here): the kernel splits it, and sequential requests cannot merge.
 * On 2 MiB transparent huge pages the same request is one or two
 * segments, and sequential requests merge up to the disk's largest
 * request (4 MiB here). Measured (docs/BENCHMARKS.md): O_DIRECT 1 MiB
 * sequential writes at QD 8 went from 1.9 k to 3.2 k IOPS.
 *
 * A buffer of IOBUF_HUGE_MIN bytes or more is rounded up to whole 2 MiB
 * pages, aligned to 2 MiB, and madvise(MADV_HUGEPAGE)d (THP is often in
 * "madvise" mode). Smaller ones are plain posix_memalign. Where THP is
 * off, madvise fails harmlessly and the buffer is ordinary memory. Free
 * either kind with free().
 */
#ifndef MBLK_COMMON_IOBUF_H
#define MBLK_COMMON_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define IOBUF_HUGE_PAGE ((size_t)2 << 20)
#define IOBUF_HUGE_MIN ((size_t)256 << 10)

/* Returns len bytes aligned to align (a power of two, at least
 * sizeof(void *)), or NULL. */
static inline void *mblk__iobuf_alloc(size_t len, size_t align)
{
	void *p;
	bool huge = len >= IOBUF_HUGE_MIN;
	if (huge) {
		if (len > SIZE_MAX - IOBUF_HUGE_PAGE)
			return NULL;
		len = (len + IOBUF_HUGE_PAGE - 1) & ~(IOBUF_HUGE_PAGE - 1);
		if (align < IOBUF_HUGE_PAGE)
			align = IOBUF_HUGE_PAGE;
	}
	if (posix_memalign(&p, align, len) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (huge)
		(void)madvise(p, len, MADV_HUGEPAGE);
#endif
	return p;
}

/* n buffers of len bytes each, one after another in one allocation (as
 * above), each aligned to align: *stride is the distance between them
 * (len rounded up to align). Returns the first, or NULL. */
static inline void *mblk__iobuf_alloc_array(size_t n, size_t len, size_t align,
					    size_t *stride)
{
	size_t st = (len + align - 1) / align * align;
	if (st < len || (n != 0 && st > SIZE_MAX / n))
		return NULL;
	*stride = st;
	return mblk__iobuf_alloc(st * n, align);
}

#endif
