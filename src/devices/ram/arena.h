/* arena.h - fixed-size block allocator for the ramdisk's pages and nodes.
 *
 * Blocks are carved from 2 MiB chunks mapped with mmap and recycled
 * through a free list. Why not malloc: a ramdisk of 1 GiB has 262144
 * pages and ~4000 tree nodes; from malloc they interleave across the
 * heap, so every tree level and every page costs a TLB miss (perf showed
 * mblk__pt_lookup at 26% of a random-read run). Kept apart, the nodes fit
 * a few chunks.
 *
 * Transparent huge pages (`huge`): the node arena asks for them, the data
 * arena does not. Huge data pages made random reads over 1 GiB ~1.4x
 * faster (fewer TLB misses), but the first write into fresh memory pays
 * a 2 MiB fault, which measured 2.7-5.8 ms per chunk here against
 * 1.1-1.3 ms for the same 2 MiB in 4 KiB faults: fresh 4 KiB random
 * writes fell from 408k to 160k per second, and through the NBD server
 * to half of nbdkit's (docs/BENCHMARKS.md, issue 9). Writing a disk is
 * what every user does first; the nodes are few and read on every
 * lookup, so they keep huge pages.
 *
 * Memory still grows with what is stored: a chunk is mapped only when
 * the free list is empty, and blocks are handed out in address order.
 * Freed blocks are reused first. With `release` set (the data pages),
 * freed blocks also give their memory back: frees are gathered into runs
 * of adjacent blocks and mblk__arena_flush hands the whole system pages of each
 * run to madvise(MADV_DONTNEED), so discarding data lowers the RSS too.
 * Not thread-safe (the ramdisk's lock covers it).
 */
#ifndef MBLK_RAM_ARENA_H
#define MBLK_RAM_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena {
	size_t block;  /* bytes per block, a multiple of 16 */
	size_t chunk;  /* bytes per chunk, a multiple of block */
	char **chunks; /* every chunk mapped, to unmap them at the end */
	size_t nchunks, cap;
	char *bump, *bump_end; /* the unused tail of the newest chunk */
	void **free;           /* free blocks, a stack kept outside the blocks
	                      (released blocks read as zeros, so no link
	                      word may live in them) */
	size_t nfree, free_cap;
	uint64_t used; /* blocks handed out and not freed */
	int release;   /* give freed memory back (see above) */
	int huge;      /* advise chunks for transparent huge pages */
	char *run;     /* freed blocks not yet released: [run, +run_len) */
	size_t run_len;
};

void mblk__arena_init(struct arena *a, size_t block, int release, int huge);
/* Releases the pending run of freed blocks (when `release`). */
void mblk__arena_flush(struct arena *a);
void mblk__arena_destroy(struct arena *a);
/* A block (contents undefined), or NULL when out of memory. */
void *mblk__arena_alloc(struct arena *a);
int mblk__arena_free(struct arena *a, void *p);

#endif
