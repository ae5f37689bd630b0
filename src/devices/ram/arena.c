/* arena.c - see arena.h. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"

#define ARENA_CHUNK (2u << 20)

void mblk__arena_init(struct arena *a, size_t block, int release, int huge)
{
	a->release = release;
	a->huge = huge;
	a->run = NULL;
	a->run_len = 0;
	a->block = (block + 15) & ~(size_t)15;
	a->chunk = a->block >= ARENA_CHUNK ? a->block
					   : ARENA_CHUNK / a->block * a->block;
	a->chunks = NULL;
	a->nchunks = a->cap = 0;
	a->bump = a->bump_end = NULL;
	a->free = NULL;
	a->nfree = a->free_cap = 0;
	a->used = 0;
}

void mblk__arena_destroy(struct arena *a)
{
	for (size_t i = 0; i < a->nchunks; i++)
		munmap(a->chunks[i], a->chunk);
	free(a->chunks);
	free(a->free);
	mblk__arena_init(a, a->block, a->release, a->huge);
}

static int arena_grow(struct arena *a)
{
	if (a->nchunks == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **c = realloc(a->chunks, cap * sizeof(*c));
		if (c == NULL)
			return -1;
		a->chunks = c;
		a->cap = cap;
	}
	/* Ask for 2 MiB alignment so the chunk can be one huge page: map
	 * twice the size and trim, as mmap gives only page alignment. */
	size_t align = ARENA_CHUNK, len = a->chunk + align;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	char *start =
		(char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	size_t tail = (size_t)((p + len) - (start + a->chunk));
	if (tail > 0)
		munmap(start + a->chunk, tail);
#ifdef MADV_HUGEPAGE
	if (a->huge)
		madvise(start, a->chunk, MADV_HUGEPAGE);
#endif
	a->chunks[a->nchunks++] = start;
	a->bump = start;
	a->bump_end = start + a->chunk;
	return 0;
}

void *mblk__arena_alloc(struct arena *a)
{
	void *p;
	if (a->nfree > 0) {
		p = a->free[--a->nfree];
		/* A block still in the unreleased run is about to be reused:
		 * end the run before it so madvise never zeroes live data. */
		if (a->run_len > 0 && (char *)p >= a->run &&
		    (char *)p < a->run + a->run_len)
			mblk__arena_flush(a);
	} else {
		if (a->bump == a->bump_end && arena_grow(a) < 0)
			return NULL;
		p = a->bump;
		a->bump += a->block;
	}
	a->used++;
	return p;
}

void mblk__arena_flush(struct arena *a)
{
	if (a->run_len > 0) {
		/* madvise takes whole system pages and rounds the length up:
		 * with blocks smaller than a page (4 KiB blocks on a 16 or
		 * 64 KiB page kernel) it would zero live neighbours. Release
		 * only the pages wholly inside the run; the rest of the run
		 * stays allocated, which is harmless (blocks come out of
		 * mblk__arena_alloc with undefined contents). */
		uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
		uintptr_t start = ((uintptr_t)a->run + pg - 1) & ~(pg - 1);
		uintptr_t end = ((uintptr_t)a->run + a->run_len) & ~(pg - 1);
		if (end > start)
			madvise((void *)start, end - start, MADV_DONTNEED);
	}
	a->run = NULL;
	a->run_len = 0;
}

/* Returns 0, or -1 if the free stack cannot grow (the block is then
 * leaked until the arena is destroyed: no data is lost). */
int mblk__arena_free(struct arena *a, void *p)
{
	if (a->nfree == a->free_cap) {
		size_t cap = a->free_cap ? a->free_cap * 2 : 1024;
		void **f = realloc(a->free, cap * sizeof(*f));
		if (f == NULL) {
			a->used--;
			return -1;
		}
		a->free = f;
		a->free_cap = cap;
	}
	if (a->release) {
		/* Gather adjacent frees into one madvise. */
		if (a->run_len == 0 || (char *)p != a->run + a->run_len ||
		    a->run_len >= (64u << 20))
			mblk__arena_flush(a);
		if (a->run_len == 0)
			a->run = p;
		a->run_len += a->block;
	}
	a->free[a->nfree++] = p;
	a->used--;
	return 0;
}
