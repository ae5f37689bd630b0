/* test-ram-reentry.c - a callback may submit to the ramdisk it came from.
 *
 * Small reads complete from the ram device's deferred step, at loop
 * level, so their callbacks run at once from inside the device. A
 * callback that writes to the same store must not find the store's lock
 * still held (that deadlocked: the write waited for a read lock its own
 * thread held). The chain read -> write -> read ... runs 1000 times on
 * each sector size; the test passes when it finishes with the data read
 * back equal to what was written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <mblk.h>

struct chain {
	mblk_dev *dev;
	unsigned char buf[4096];
	struct iovec iov;
	int steps;
	int failures;
	unsigned char last;
};

static void step(void *data, int status, const char *error);

static void submit_next(struct chain *c)
{
	int r;
	if (c->steps % 2 == 0) {
		memset(c->buf, (unsigned char)c->steps, sizeof(c->buf));
		c->last = (unsigned char)c->steps;
		r = mblk_write(c->dev, 8, &c->iov, 1, 0, step, c);
	} else {
		memset(c->buf, 0xee, sizeof(c->buf));
		r = mblk_read(c->dev, 8, &c->iov, 1, step, c);
	}
	assert_int_equal(r, 0);
}

static void step(void *data, int status, const char *error)
{
	struct chain *c = data;
	(void)error;
	if (status != 0)
		c->failures++;
	if (c->steps % 2 == 1 && c->buf[0] != c->last)
		c->failures++;
	if (++c->steps < 1000)
		submit_next(c);
}

static void run_chain(const char *uri)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct chain c = { .steps = 0 };
	c.iov.iov_base = c.buf;
	c.iov.iov_len = sizeof(c.buf);
	assert_int_equal(mblk_open_sync(&loop, uri, 0, &c.dev), 0);
	submit_next(&c);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.steps, 1000);
	assert_int_equal(c.failures, 0);
	mblk_close_sync(c.dev);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_chain_512(void **state)
{
	(void)state;
	run_chain("ram:?size=1M");
}

static void test_chain_4k(void **state)
{
	(void)state;
	run_chain("ram:?size=1M&sector-size=4096");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_512),
		cmocka_unit_test(test_chain_4k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
