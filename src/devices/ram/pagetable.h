/* pagetable.h - a sparse map from page index to page, for the ramdisk.
 *
 * A radix tree of 64-way nodes whose height grows with the largest index
 * stored (height h covers 64^h pages; 9 levels cover 2^54 pages, more
 * than the 2^63 bytes a device may hold at 4 KiB pages). Each node keeps
 * two bitmaps: `present` (the child exists) and `full` (the child's whole
 * subtree is present), so both "next present page" and "next absent page"
 * are found with one find-first-set per level: O(height), not O(distance)
 * as upstream's sector-by-sector scan.
 *
 * Memory: a node is 528 bytes and covers 64 pages. Contiguous data costs
 * ~8.4 bytes of tree per page (0.2% at 4 KiB pages); pages scattered at
 * random cost up to one leaf per page plus a share of the upper levels,
 * ~600 bytes per page (15%) in the worst case. Empty nodes are freed at
 * once, so the tree shrinks with the data.
 *
 * Not thread-safe: the ramdisk serialises access with its lock.
 */
#ifndef MBLK_RAM_PAGETABLE_H
#define MBLK_RAM_PAGETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct pt_node;

struct pagetable {
	struct arena nodes; /* where the nodes live (arena.h explains why) */
	struct pt_node *root;
	unsigned height; /* 0: empty */
	uint64_t npages;
	uint64_t nnodes;
};

#define PT_NONE UINT64_MAX

void mblk__pt_init(struct pagetable *pt);
/* Frees every node and, through free_page, every page. */
void mblk__pt_destroy(struct pagetable *pt, void (*free_page)(void *));

/* The page stored at key, or NULL. */
void *mblk__pt_lookup(const struct pagetable *pt, uint64_t key);
/* Walks to the leaf that holds key and prefetches its slot and the page
 * if already cached; changes nothing. For a reader that looks key up a
 * moment later (see ram_read). */
void mblk__pt_prefetch(const struct pagetable *pt, uint64_t key);
/* Stores page at key (which must be absent). Returns 0 or -ENOMEM. */
int mblk__pt_insert(struct pagetable *pt, uint64_t key, void *page);
/* Removes and returns the page at key, or NULL if absent. */
void *mblk__pt_remove(struct pagetable *pt, uint64_t key);
/* The smallest present key >= key, or PT_NONE. */
uint64_t mblk__pt_next_present(const struct pagetable *pt, uint64_t key);
/* The smallest absent key >= key (never PT_NONE in practice). */
uint64_t mblk__pt_next_absent(const struct pagetable *pt, uint64_t key);

#endif
