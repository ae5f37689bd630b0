/* pagetable.c - the ramdisk's radix tree; see pagetable.h.
 *
 * Invariants, for every node at level l (leaves are level 1, whose slots
 * hold pages):
 *   - bit i of present is set iff slot[i] != NULL;
 *   - bit i of full is set iff slot i's subtree holds all 64^(l-1) pages
 *     (at level 1: iff the page is present);
 *   - no node is empty: a node whose present becomes 0 is freed, and
 *     the root shrinks while it has only slot 0 in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagetable.h"

#define PT_BITS 6
#define PT_FAN (1u << PT_BITS)
#define PT_MASK (PT_FAN - 1)

struct pt_node {
	uint64_t present;
	uint64_t full;
	void *slot[PT_FAN];
};

void mblk__pt_init(struct pagetable *pt)
{
	mblk__arena_init(&pt->nodes, sizeof(struct pt_node), 0, 1);
	pt->root = NULL;
	pt->height = 0;
	pt->npages = 0;
	pt->nnodes = 0;
}

static void destroy_node(struct pt_node *n, unsigned level,
			 void (*free_page)(void *))
{
	uint64_t bits = n->present;
	while (bits) {
		unsigned i = (unsigned)__builtin_ctzll(bits);
		bits &= bits - 1;
		if (level == 1)
			free_page(n->slot[i]);
		else
			destroy_node(n->slot[i], level - 1, free_page);
	}
}

void mblk__pt_destroy(struct pagetable *pt, void (*free_page)(void *))
{
	if (pt->root && free_page)
		destroy_node(pt->root, pt->height, free_page);
	mblk__arena_destroy(&pt->nodes); /* every node at once */
	mblk__pt_init(pt);
}

static void free_node(struct pagetable *pt, struct pt_node *n)
{
	mblk__arena_free(&pt->nodes, n);
	pt->nnodes--;
}

/* Number of keys the tree can hold at height h (0 if it covers all). */
static uint64_t capacity(unsigned h)
{
	unsigned bits = h * PT_BITS;
	return bits >= 64 ? 0 : 1ull << bits;
}

static bool fits(const struct pagetable *pt, uint64_t key)
{
	uint64_t cap = capacity(pt->height);
	return cap == 0 || key < cap;
}

static unsigned idx(uint64_t key, unsigned level)
{
	return (unsigned)(key >> ((level - 1) * PT_BITS)) & PT_MASK;
}

/* The leaf (level-1 node) whose slots would hold key, or NULL. */
static struct pt_node *find_leaf(const struct pagetable *pt, uint64_t key)
{
	if (pt->root == NULL || !fits(pt, key))
		return NULL;
	struct pt_node *n = pt->root;
	for (unsigned l = pt->height; l > 1 && n != NULL; l--)
		n = n->slot[idx(key, l)];
	return n;
}

void *mblk__pt_lookup(const struct pagetable *pt, uint64_t key)
{
	struct pt_node *leaf = find_leaf(pt, key);
	return leaf != NULL ? leaf->slot[idx(key, 1)] : NULL;
}

void mblk__pt_prefetch(const struct pagetable *pt, uint64_t key)
{
	const struct pt_node *leaf = find_leaf(pt, key);
	if (leaf != NULL)
		__builtin_prefetch(&leaf->slot[idx(key, 1)]);
}

static struct pt_node *new_node(struct pagetable *pt)
{
	struct pt_node *n = mblk__arena_alloc(&pt->nodes);
	if (n) {
		memset(n, 0, sizeof(*n));
		pt->nnodes++;
	}
	return n;
}

int mblk__pt_insert(struct pagetable *pt, uint64_t key, void *page)
{
	if (pt->root == NULL) {
		/* Start at the height the key needs: growing from height 1
		 * would leave a chain of empty nodes in slot 0. */
		pt->root = new_node(pt);
		if (pt->root == NULL)
			return -ENOMEM;
		pt->height = 1;
		while (!fits(pt, key))
			pt->height++;
	}
	while (!fits(pt, key)) {
		struct pt_node *r = new_node(pt);
		if (r == NULL)
			return -ENOMEM;
		r->slot[0] = pt->root;
		r->present = 1;
		r->full = pt->root->full == ~0ull ? 1 : 0;
		pt->root = r;
		pt->height++;
	}
	/* Walk down, creating nodes; remember the path to update `full`. */
	struct pt_node *path[12];
	struct pt_node *n = pt->root;
	for (unsigned l = pt->height; l > 1; l--) {
		unsigned i = idx(key, l);
		path[l] = n;
		if (n->slot[i] == NULL) {
			struct pt_node *c = new_node(pt);
			if (c == NULL)
				return -ENOMEM; /* the empty path stays: harmless,
						   freed at destroy */
			n->slot[i] = c;
			n->present |= 1ull << i;
		}
		n = n->slot[i];
	}
	path[1] = n;
	unsigned i = idx(key, 1);
	n->slot[i] = page;
	n->present |= 1ull << i;
	n->full |= 1ull << i;
	pt->npages++;
	/* Propagate fullness upwards while nodes become full. */
	for (unsigned l = 2; l <= pt->height && path[l - 1]->full == ~0ull; l++)
		path[l]->full |= 1ull << idx(key, l);
	return 0;
}

void *mblk__pt_remove(struct pagetable *pt, uint64_t key)
{
	if (pt->root == NULL || !fits(pt, key))
		return NULL;
	struct pt_node *path[12];
	struct pt_node *n = pt->root;
	for (unsigned l = pt->height; l > 1; l--) {
		path[l] = n;
		n = n->slot[idx(key, l)];
		if (n == NULL)
			return NULL;
	}
	path[1] = n;
	unsigned i = idx(key, 1);
	void *page = n->slot[i];
	if (page == NULL)
		return NULL;
	n->slot[i] = NULL;
	n->present &= ~(1ull << i);
	n->full &= ~(1ull << i);
	pt->npages--;
	/* Upwards: nothing below is full any more; free empty nodes. */
	for (unsigned l = 2; l <= pt->height; l++) {
		unsigned j = idx(key, l);
		struct pt_node *p = path[l];
		p->full &= ~(1ull << j);
		if (path[l - 1]->present == 0) {
			free_node(pt, path[l - 1]);
			p->slot[j] = NULL;
			p->present &= ~(1ull << j);
		}
	}
	if (pt->root->present == 0) {
		free_node(pt, pt->root);
		pt->root = NULL;
		pt->height = 0;
		return page;
	}
	/* Shrink the root while only slot 0 is used. */
	while (pt->height > 1 && pt->root->present == 1) {
		struct pt_node *r = pt->root;
		pt->root = r->slot[0];
		free_node(pt, r);
		pt->height--;
	}
	return page;
}

/* Finds the first key >= key (inside node n at level l, whose subtree
 * starts at base) whose bit is set in the chosen bitmap: present
 * (want_present) or not full (!want_present). */
static uint64_t find(const struct pt_node *n, unsigned l, uint64_t key,
		     bool want_present)
{
	unsigned shift = (l - 1) * PT_BITS;
	unsigned start = idx(key, l);
	uint64_t bits = want_present ? n->present : ~n->full;
	bits &= ~0ull << start;
	/* At the top of a height-11 tree only 16 slots map to 64-bit keys;
	 * the others would wrap around to key 0. */
	if (shift + PT_BITS > 64)
		bits &= (1ull << (1u << (64 - shift))) - 1;
	while (bits) {
		unsigned i = (unsigned)__builtin_ctzll(bits);
		bits &= bits - 1;
		uint64_t child_base = (key >> shift >> PT_BITS << PT_BITS | i)
				      << shift;
		/* Within the child, start at key if it is the same slot. */
		uint64_t from = i == start ? key : child_base;
		if (l == 1)
			return from;
		const struct pt_node *c = n->slot[i];
		if (c == NULL) /* only when looking for absent */
			return from;
		uint64_t r = find(c, l - 1, from, want_present);
		if (r != PT_NONE)
			return r;
	}
	return PT_NONE;
}

uint64_t mblk__pt_next_present(const struct pagetable *pt, uint64_t key)
{
	if (pt->root == NULL || !fits(pt, key))
		return PT_NONE;
	return find(pt->root, pt->height, key, true);
}

uint64_t mblk__pt_next_absent(const struct pagetable *pt, uint64_t key)
{
	if (pt->root == NULL || !fits(pt, key))
		return key;
	uint64_t r = find(pt->root, pt->height, key, false);
	if (r == PT_NONE) /* everything the tree covers is present: the
			     first key past it, or PT_NONE if it covers
			     every key (capacity 0) */
		r = capacity(pt->height) != 0 ? capacity(pt->height) : PT_NONE;
	return r;
}
