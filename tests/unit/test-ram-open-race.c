/* test-ram-open-race.c - opening a named ramdisk by URI while another
 * thread destroys and recreates it.
 *
 * mblk_open_sync("ram:NAME?size=1M") connects to NAME if it exists with that
 * geometry and creates it with that geometry otherwise; it must never
 * hand back a device of another size. One thread opens the URI over and
 * over and checks the size; the other destroys NAME and creates it
 * again with the same geometry. Each opened device must have the 2048
 * sectors the URI asks for. (The check and the connect used to be two
 * steps: a destroy between them made the connect create a default
 * 16 MiB device.) */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <mblk.h>
#include <mblk/ram.h>

#define NAME "test-ram-open-race"
#define ROUNDS 20000

static atomic_int stop;

struct opener {
	int opens, wrong;
	uint64_t wrong_size;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	uv_loop_t loop;
	uv_loop_init(&loop);
	while (!atomic_load(&stop)) {
		mblk_dev *dev;
		if (mblk_open_sync(&loop, "ram:" NAME "?size=1M",
				   MBLK_OPEN_NO_SAFE, &dev) < 0)
			continue; /* -EEXIST racing with a create: fine */
		struct mblk_info info;
		mblk_get_info(dev, &info);
		o->opens++;
		if (info.size_sectors != 2048) {
			o->wrong++;
			o->wrong_size = info.size_sectors;
		}
		mblk_close_sync(dev);
	}
	uv_loop_close(&loop);
	return NULL;
}

static void test_open_uri_while_recreated(void **state)
{
	(void)state;
	uv_loop_t loop;
	pthread_t t;
	struct opener o = { 0 };

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(pthread_create(&t, NULL, opener_main, &o), 0);
	for (int i = 0; i < ROUNDS; i++) {
		mblk_dev *dev;
		(void)mblk_ram_destroy(NAME);
		if (mblk_ram_create(&loop, NAME, 2048, 512, &dev) == 0)
			mblk_close_sync(dev);
	}
	atomic_store(&stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	(void)mblk_ram_destroy(NAME);
	assert_int_equal(uv_loop_close(&loop), 0);
	if (o.wrong > 0)
		print_error("%d of %d opens got %llu sectors, not 2048\n",
			    o.wrong, o.opens, (unsigned long long)o.wrong_size);
	assert_int_equal(o.wrong, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_uri_while_recreated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
