/* test-pagetable.c - unit tests of the ramdisk's radix tree
 * (src/devices/ram/pagetable.c).
 *
 * Directed tests cover the edges: an empty tree, a full leaf (64 pages)
 * and a full level-2 subtree (4096 pages) for next_absent, height growth
 * and shrink, node freeing, and keys at the top of the 64-bit range. A
 * model-based test then runs seeded random operations against the tree
 * and a sorted array of keys, and after each compares the page count,
 * the height and node count the invariants imply, and lookups and both
 * seeks at keys near the interesting boundaries.
 *
 * The seed is printed; MBLK_TEST_SEED=N reruns one, MBLK_TEST_OPS=N sets
 * the number of random operations (default 4000).
 *
 * Pages are fake pointers (key + 1), so a wrong slot shows up as a wrong
 * value; mblk__pt_destroy's free_page counts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/ram/pagetable.h"

#define PAGE(key) ((void *)(uintptr_t)((key) + 1))

static uint64_t freed;
static void count_free(void *page)
{
	(void)page;
	freed++;
}

/* ------------------------------------------------------------------ */
/* The model: a sorted array of distinct keys.                         */

struct model {
	uint64_t *keys;
	size_t n, cap;
};

/* Index of the first key >= k. */
static size_t model_lower(const struct model *m, uint64_t k)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool model_has(const struct model *m, uint64_t k)
{
	size_t i = model_lower(m, k);
	return i < m->n && m->keys[i] == k;
}

static void model_insert(struct model *m, uint64_t k)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->keys = realloc(m->keys, m->cap * sizeof(*m->keys));
		assert_non_null(m->keys);
	}
	size_t i = model_lower(m, k);
	memmove(m->keys + i + 1, m->keys + i, (m->n - i) * sizeof(*m->keys));
	m->keys[i] = k;
	m->n++;
}

static void model_remove(struct model *m, uint64_t k)
{
	size_t i = model_lower(m, k);
	memmove(m->keys + i, m->keys + i + 1,
		(m->n - i - 1) * sizeof(*m->keys));
	m->n--;
}

static uint64_t model_next_present(const struct model *m, uint64_t k)
{
	size_t i = model_lower(m, k);
	return i < m->n ? m->keys[i] : PT_NONE;
}

static uint64_t model_next_absent(const struct model *m, uint64_t k)
{
	size_t i = model_lower(m, k);
	while (i < m->n && m->keys[i] == k) {
		i++;
		k++;
	}
	return k;
}

/* The height the invariants imply: the smallest h >= 1 whose 64^h keys
 * cover the largest key (0 when empty). */
static unsigned model_height(const struct model *m)
{
	if (m->n == 0)
		return 0;
	uint64_t max = m->keys[m->n - 1];
	unsigned h = 1;
	while (6 * h < 64 && max >> (6 * h) != 0)
		h++;
	return h;
}

/* The node count the invariants imply: at each level l (1 = leaves) one
 * node per distinct key >> 6l, since no node is ever empty. */
static uint64_t model_nodes(const struct model *m)
{
	unsigned h = model_height(m);
	uint64_t nodes = 0;
	for (unsigned l = 1; l <= h; l++) {
		unsigned shift = 6 * l;
		for (size_t i = 0; i < m->n; i++) {
			uint64_t p = shift >= 64 ? 0 : m->keys[i] >> shift;
			uint64_t q = i == 0        ? ~p
				     : shift >= 64 ? 0
						   : m->keys[i - 1] >> shift;
			if (i == 0 || p != q)
				nodes++;
		}
	}
	return nodes;
}

/* ------------------------------------------------------------------ */
/* Comparing the tree with the model.                                  */

static uint64_t seed;

static void fail_at(const char *what, uint64_t key, uint64_t got, uint64_t want)
{
	if (seed != 0)
		print_error("seed %" PRIu64 ": ", seed);
	print_error("%s(%" PRIu64 ") = %" PRIu64 ", model says %" PRIu64 "\n",
		    what, key, got, want);
	fail();
}

static void check_key(const struct pagetable *pt, const struct model *m,
		      uint64_t k)
{
	void *want = model_has(m, k) ? PAGE(k) : NULL;
	void *got = mblk__pt_lookup(pt, k);
	if (got != want)
		fail_at("lookup", k, (uint64_t)(uintptr_t)got,
			(uint64_t)(uintptr_t)want);
	uint64_t a = mblk__pt_next_present(pt, k), b = model_next_present(m, k);
	if (a != b)
		fail_at("next_present", k, a, b);
	a = mblk__pt_next_absent(pt, k);
	b = model_next_absent(m, k);
	if (a != b)
		fail_at("next_absent", k, a, b);
}

static void check_shape(const struct pagetable *pt, const struct model *m)
{
	if (pt->npages != m->n)
		fail_at("npages", 0, pt->npages, m->n);
	if (pt->height != model_height(m))
		fail_at("height", 0, pt->height, model_height(m));
	if (pt->nnodes != model_nodes(m))
		fail_at("nnodes", 0, pt->nnodes, model_nodes(m));
	if ((pt->root == NULL) != (m->n == 0))
		fail_at("root is NULL", 0, pt->root == NULL, m->n == 0);
}

static void check_all_keys(const struct pagetable *pt, const struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		uint64_t k = m->keys[i];
		check_key(pt, m, k);
		check_key(pt, m, k + 1);
		if (k > 0)
			check_key(pt, m, k - 1);
	}
}

static void do_insert(struct pagetable *pt, struct model *m, uint64_t k)
{
	assert_int_equal(mblk__pt_insert(pt, k, PAGE(k)), 0);
	model_insert(m, k);
}

static void do_remove(struct pagetable *pt, struct model *m, uint64_t k)
{
	void *want = model_has(m, k) ? PAGE(k) : NULL;
	void *got = mblk__pt_remove(pt, k);
	if (got != want)
		fail_at("remove", k, (uint64_t)(uintptr_t)got,
			(uint64_t)(uintptr_t)want);
	if (want)
		model_remove(m, k);
}

static void destroy_both(struct pagetable *pt, struct model *m)
{
	freed = 0;
	mblk__pt_destroy(pt, count_free);
	assert_int_equal(freed, m->n);
	assert_null(pt->root);
	assert_int_equal(pt->nnodes, 0);
	free(m->keys);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Directed tests                                                      */

static void test_empty(void **state)
{
	struct pagetable pt;
	(void)state;
	mblk__pt_init(&pt);
	assert_null(mblk__pt_lookup(&pt, 0));
	assert_null(mblk__pt_lookup(&pt, UINT64_MAX - 1));
	assert_null(mblk__pt_remove(&pt, 5));
	assert_int_equal(mblk__pt_next_present(&pt, 0), PT_NONE);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 0);
	assert_int_equal(mblk__pt_next_absent(&pt, 12345), 12345);
	freed = 0;
	mblk__pt_destroy(&pt, count_free);
	assert_int_equal(freed, 0);
}

static void test_full_runs(void **state)
{
	struct pagetable pt;
	struct model m = { 0 };
	(void)state;
	mblk__pt_init(&pt);
	/* A full leaf: next_absent must skip it in one step. */
	for (uint64_t k = 0; k < 64; k++)
		do_insert(&pt, &m, k);
	check_shape(&pt, &m);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 64);
	assert_int_equal(mblk__pt_next_absent(&pt, 63), 64);
	/* key 64 grows the tree to height 2. */
	do_insert(&pt, &m, 64);
	assert_int_equal(pt.height, 2);
	assert_int_equal(pt.nnodes, 3);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 65);
	/* A full level-2 subtree (4096 pages) and a hole in the middle. */
	for (uint64_t k = 65; k < 4096; k++)
		do_insert(&pt, &m, k);
	check_shape(&pt, &m);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 4096);
	assert_int_equal(mblk__pt_next_present(&pt, 4096), PT_NONE);
	do_remove(&pt, &m, 2049);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 2049);
	assert_int_equal(mblk__pt_next_absent(&pt, 2050), 4096);
	do_insert(&pt, &m, 2049);
	assert_int_equal(mblk__pt_next_absent(&pt, 0), 4096);
	/* A key far away: height 3 and a gap. */
	do_insert(&pt, &m, 100000);
	assert_int_equal(pt.height, 3);
	assert_int_equal(mblk__pt_next_present(&pt, 4096), 100000);
	assert_int_equal(mblk__pt_next_absent(&pt, 100000), 100001);
	check_shape(&pt, &m);
	check_all_keys(&pt, &m);
	/* Removing it shrinks the tree back to height 2. */
	do_remove(&pt, &m, 100000);
	assert_int_equal(pt.height, 2);
	check_shape(&pt, &m);
	/* Emptying frees every node. */
	for (uint64_t k = 0; k < 4096; k++)
		do_remove(&pt, &m, k);
	check_shape(&pt, &m);
	assert_null(pt.root);
	assert_int_equal(pt.nnodes, 0);
	destroy_both(&pt, &m);
}

static void test_top_of_range(void **state)
{
	struct pagetable pt;
	struct model m = { 0 };
	(void)state;
	mblk__pt_init(&pt);
	const uint64_t keys[] = { UINT64_MAX - 1, 1ull << 63, (1ull << 54) - 1,
				  1ull << 54, 7 };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		do_insert(&pt, &m, keys[i]);
		check_shape(&pt, &m);
		check_all_keys(&pt, &m);
	}
	assert_int_equal(pt.height, 11); /* 66 bits cover 64 */
	assert_int_equal(mblk__pt_next_present(&pt, 8), (1ull << 54) - 1);
	assert_int_equal(mblk__pt_next_present(&pt, (1ull << 54) + 1),
			 1ull << 63);
	assert_int_equal(mblk__pt_next_absent(&pt, UINT64_MAX - 1), UINT64_MAX);
	/* Removing the big keys shrinks the height step by step. */
	do_remove(&pt, &m, UINT64_MAX - 1);
	do_remove(&pt, &m, 1ull << 63);
	check_shape(&pt, &m);
	assert_int_equal(pt.height, 10);
	do_remove(&pt, &m, 1ull << 54);
	do_remove(&pt, &m, (1ull << 54) - 1);
	check_shape(&pt, &m);
	assert_int_equal(pt.height, 1);
	assert_int_equal(pt.nnodes, 1);
	destroy_both(&pt, &m);
}

/* ------------------------------------------------------------------ */
/* Model-based random test                                             */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A key near one of the boundaries where levels meet. */
static uint64_t random_key(void)
{
	static const uint64_t bases[] = {
		0,
		64 - 8,
		4096 - 8,
		262144 - 8,
		(1ull << 24) - 8,
		(1ull << 36) - 8,
		(1ull << 48) - 8,
		(1ull << 54) - 8,
		1ull << 60,
		1ull << 63,
		UINT64_MAX - 80,
	};
	uint64_t b = bases[rnd() % (sizeof(bases) / sizeof(bases[0]))];
	return b + rnd() % 72;
}

static void test_random_model(void **state)
{
	struct pagetable pt;
	struct model m = { 0 };
	(void)state;
	const char *s = getenv("MBLK_TEST_SEED");
	const char *o = getenv("MBLK_TEST_OPS");
	seed = s ? strtoull(s, NULL, 10) : 20261121;
	long ops = o ? atol(o) : 4000;
	rng_state = seed;
	print_message("seed %" PRIu64 ", %ld operations\n", seed, ops);

	mblk__pt_init(&pt);
	for (long i = 0; i < ops; i++) {
		uint64_t k = random_key(), r = rnd() % 100;
		if (r < 45 && m.n < 4000) {
			if (!model_has(&m, k))
				do_insert(&pt, &m, k);
		} else if (r < 85) {
			/* Remove a present key most of the time. */
			if (m.n > 0 && rnd() % 4 != 0)
				k = m.keys[rnd() % m.n];
			do_remove(&pt, &m, k);
		} else if (r < 92) {
			/* Fill a run, often making nodes full. */
			uint64_t base = k & ~63ull, len = 1 + rnd() % 130;
			for (uint64_t j = 0; j < len && m.n < 4000; j++)
				if (base + j < UINT64_MAX &&
				    !model_has(&m, base + j))
					do_insert(&pt, &m, base + j);
		} else {
			/* Clear a run. */
			uint64_t base = k & ~63ull, len = 1 + rnd() % 130;
			for (uint64_t j = 0; j < len && base + j < UINT64_MAX;
			     j++)
				do_remove(&pt, &m, base + j);
		}
		for (int q = 0; q < 4; q++)
			check_key(&pt, &m, random_key());
		check_key(&pt, &m, k);
		if (i % 50 == 0) {
			check_shape(&pt, &m);
			if (i % 500 == 0)
				check_all_keys(&pt, &m);
		}
	}
	check_shape(&pt, &m);
	check_all_keys(&pt, &m);
	destroy_both(&pt, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_full_runs),
		cmocka_unit_test(test_top_of_range),
		cmocka_unit_test(test_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
