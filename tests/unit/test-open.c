/* test-open.c - asynchronous mblk_open (src/open/): the contract (the
 * callback exactly once, never inside the call, errors through it), the
 * scheme table with a scheme registered at run time whose opener
 * finishes later from the loop, nested URIs in brackets, and printed
 * URIs that reopen what they name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include <mblk/ram.h>
#include <mblk/safe.h>

static uv_loop_t loop;
static int in_open; /* > 0 while mblk_open runs */

struct opened {
	int calls;
	bool inside;
	int status;
	mblk_dev *dev;
	char err[1024];
};

static void opened_cb(void *data, int status, mblk_dev *dev, const char *error)
{
	struct opened *o = data;
	o->calls++;
	o->inside = in_open > 0;
	o->status = status;
	o->dev = dev;
	snprintf(o->err, sizeof(o->err), "%s", error ? error : "");
}

/* Opens uri asynchronously and runs the loop until the callback. */
static void open_async(const char *uri, unsigned flags, struct opened *o)
{
	memset(o, 0, sizeof(*o));
	in_open++;
	int r = mblk_open(&loop, uri, flags, opened_cb, o);
	in_open--;
	assert_int_equal(r, 0);
	for (int i = 0; i < 1000 && o->calls == 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(o->calls, 1);
	assert_false(o->inside);
	if (o->status == 0)
		assert_non_null(o->dev);
	else
		assert_null(o->dev);
}

static void expect_open_error(const char *uri, int err, const char *needle)
{
	struct opened o;
	open_async(uri, 0, &o);
	if (o.status != err || strstr(o.err, needle) == NULL)
		print_error("open '%s': %d \"%s\", expected %d with \"%s\"\n",
			    uri, o.status, o.err, err, needle);
	assert_int_equal(o.status, err);
	assert_non_null(strstr(o.err, needle));
}

static void test_contract(void **state)
{
	(void)state;
	struct opened o;
	assert_int_equal(mblk_open(NULL, "ram:", 0, opened_cb, &o), -EINVAL);
	assert_int_equal(mblk_open(&loop, "ram:", 0, NULL, NULL), -EINVAL);
	/* Every error arrives through the callback, with a sentence. */
	expect_open_error("rma:x", -EINVAL, "unknown scheme 'rma'");
	expect_open_error("ram:?sise=1M", -EINVAL, "size, sector-size");
	expect_open_error("ram:?size=1Q", -EINVAL, "size=1Q");
	expect_open_error("/nonexistent/x.img", -ENOENT, "does not exist");
	expect_open_error("mirror:?primary=[ram:?size=1M]&secondary=[rma:]",
			  -EINVAL, "unknown scheme 'rma'");
	expect_open_error("fault:?inner=[ram:?size=1M", -EINVAL,
			  "no matching ']'");
	/* Success, synchronously and not. */
	open_async("ram:?size=1M", 0, &o);
	assert_int_equal(o.status, 0);
	mblk_close_sync(o.dev);
}

/* A scheme of the test's own: opens a ramdisk 5 ms later, from a timer,
 * as a network device would after its handshake. */
struct late {
	struct mblk_open_req *req;
	uv_timer_t timer;
	uint64_t size;
};

static void late_closed(uv_handle_t *h)
{
	free(h->data);
}

static void late_fire(uv_timer_t *t)
{
	struct late *l = t->data;
	mblk_dev *dev;
	int r = mblk_ram_create(mblk_open_req_loop(l->req), NULL, l->size / 512,
				512, &dev);
	if (r < 0)
		mblk_open_fail_last(l->req, r);
	else
		mblk_open_done(l->req, dev);
	uv_close((uv_handle_t *)&l->timer, late_closed);
}

static void late_open(struct mblk_open_req *req, struct mblk_uri *u)
{
	uint64_t size = 1 << 20;
	int r = mblk_uri_get_size(u, "size", &size);
	if (r == 0)
		r = mblk_uri_finish(u);
	if (r < 0) {
		mblk_open_fail_last(req, r);
		return;
	}
	struct late *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->req = req;
	l->size = size;
	uv_timer_init(mblk_open_req_loop(req), &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, late_fire, 5, 0);
}

static const struct mblk_uri_key late_keys[] = {
	{ "size", "size", "bytes" },
	{ NULL, NULL, NULL },
};

static const struct mblk_scheme late_scheme = {
	.name = "late",
	.syntax = "late:?size=SIZE",
	.summary = "a ramdisk that takes 5 ms to open",
	.keys = late_keys,
	.open = late_open,
};

static void read_cb(void *data, int status, const char *error)
{
	(void)error;
	*(int *)data = status;
}

static void test_registered_scheme(void **state)
{
	(void)state;
	assert_int_equal(mblk_scheme_register(&late_scheme), 0);
	assert_int_equal(mblk_scheme_register(&late_scheme), -EEXIST);
	bool seen_late = false, seen_ram = false;
	const struct mblk_scheme *s;
	for (int i = 0; (s = mblk_scheme_at(i)) != NULL; i++) {
		seen_late |= strcmp(s->name, "late") == 0;
		seen_ram |= strcmp(s->name, "ram") == 0;
		assert_non_null(s->summary);
		assert_non_null(s->keys);
	}
	assert_true(seen_late && seen_ram);

	/* Opened later from the loop; read-only and safe applied. */
	struct opened o;
	open_async("late:?size=64K", MBLK_OPEN_RDONLY, &o);
	assert_int_equal(o.status, 0);
	struct mblk_info info;
	mblk_get_info(o.dev, &info);
	assert_int_equal(info.size_sectors, 128);
	assert_false(info.read_write);
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	/* mblk_safe_unsafe_read accepts only a safe device: wrapped. */
	int got = 1;
	assert_int_equal(mblk_safe_unsafe_read(o.dev, 0, &iov, 1, read_cb,
					       &got),
			 0);
	while (got == 1)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(got, 0);
	assert_int_equal(mblk_write_sync(o.dev, 0, &iov, 1, 0), -EROFS);
	mblk_close_sync(o.dev);
	/* Keys of a registered scheme are checked like the others. */
	expect_open_error("late:?sise=1", -EINVAL, "accepts: size");
	/* A decorator over it: the child finishes after the parent's
	 * opener returned. */
	open_async("fault:?inner=[late:?size=1M]&fail=write", 0, &o);
	assert_int_equal(o.status, 0);
	assert_int_equal(mblk_write_sync(o.dev, 0, &iov, 1, 0), -EIO);
	mblk_close_sync(o.dev);
}

static void test_nesting(void **state)
{
	(void)state;
	/* Bracketed values are verbatim: '&', '?' and '%' inside are the
	 * inner URI's own. */
	struct opened o;
	open_async("fault:?inner=[ram:nest%25a?size=1M&sector-size=4096]", 0,
		   &o);
	assert_int_equal(o.status, 0);
	struct mblk_info info;
	mblk_get_info(o.dev, &info);
	assert_int_equal(info.sector_size, 4096);
	assert_string_equal(mblk_dev_name(o.dev), "fault:ram:nest%a");
	mblk_close_sync(o.dev);
	/* Two levels, no escaping of escaping. */
	open_async("mirror:?primary=[fault:?inner=[ram:?size=1M&sector-size="
		   "4096]]&secondary=[ram:?size=1M]&secondary-zero=1",
		   0, &o);
	if (o.status != 0)
		print_error("%s\n", o.err);
	assert_int_equal(o.status, 0);
	mblk_close_sync(o.dev);
	mblk_ram_destroy("nest%a");
}

static void test_ram_name_reopens(void **state)
{
	(void)state;
	mblk_dev *a, *b;
	assert_int_equal(mblk_open_sync(&loop, "ram:a%3Fb%26c%25d?size=1M", 0,
					&a),
			 0);
	assert_string_equal(mblk_dev_name(a), "ram:a?b&c%d");
	char uri[256];
	assert_true(mblk_get_uri(a, uri, sizeof(uri)) > 0);
	assert_int_equal(mblk_open_sync(&loop, uri, 0, &b), 0);
	char buf[512] = "same store";
	struct iovec iov = { buf, sizeof(buf) };
	assert_int_equal(mblk_write_sync(a, 3, &iov, 1, 0), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(mblk_read_sync(b, 3, &iov, 1), 0);
	assert_string_equal(buf, "same store");
	mblk_close_sync(a);
	mblk_close_sync(b);
	assert_int_equal(mblk_ram_destroy("a?b&c%d"), 0);
}

static int setup(void **state)
{
	(void)state;
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract),
		cmocka_unit_test(test_registered_scheme),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_ram_name_reopens),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
