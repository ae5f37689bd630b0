/* test-nbd-server-api.c - the NBD server's control-path API
 * (include/mblk/nbd.h) without a client: what mblk_nbd_server_create
 * refuses and the sentence it leaves, listening on unix and TCP and the
 * URI it reports, refusing to replace a file that is not a socket, and a
 * graceful close that removes the socket and calls back once. (The wire
 * is tested by tests/nbd/.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <mblk.h>
#include <mblk/nbd.h>
#include <mblk/ram.h>

static void closed(void *data, int status, const char *error)
{
	(void)error;
	assert_int_equal(status, 0);
	(*(int *)data)++;
}

static void expect_refused(uv_loop_t *loop, const struct mblk_nbd_export *ex,
			   size_t n, const struct mblk_nbd_server_opts *o,
			   const char *sentence)
{
	mblk_nbd_server *srv = NULL;
	assert_int_equal(mblk_nbd_server_create(loop, ex, n, o, &srv), -EINVAL);
	if (!strstr(mblk_last_error(), sentence))
		fail_msg("sentence '%s' does not contain '%s'",
			 mblk_last_error(), sentence);
}

static void test_create_refusals(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	assert_int_equal(mblk_ram_create(&loop, NULL, 2048, 512, &dev), 0);
	struct mblk_nbd_export two[2] = { { .dev = dev }, { .dev = dev } };
	expect_refused(&loop, two, 2, NULL, "two exports have no name");
	two[0].name = two[1].name = "x";
	expect_refused(&loop, two, 2, NULL, "two exports are named 'x'");
	struct mblk_nbd_export nodev = { .name = "n" };
	expect_refused(&loop, &nodev, 1, NULL, "export 'n' has no device");
	expect_refused(&loop, NULL, 0, NULL, "no export given");
	struct mblk_nbd_server_opts o = { .max_payload = 1000 };
	expect_refused(&loop, two, 1, &o, "is not a multiple of the sector");
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_listen_and_close(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	assert_int_equal(mblk_ram_create(&loop, NULL, 2048, 512, &dev), 0);
	char dir[] = "/tmp/mblk-nbd-api.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sock[128], plain[128], uri[512];
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(plain, sizeof(plain), "%s/file", dir);
	FILE *f = fopen(plain, "w");
	assert_non_null(f);
	fclose(f);

	struct mblk_nbd_export ex = { .name = "disk one", .dev = dev };
	mblk_nbd_server *srv;
	assert_int_equal(mblk_nbd_server_create(&loop, &ex, 1, NULL, &srv), 0);
	assert_int_equal(mblk_nbd_server_uri(srv, uri, sizeof(uri)), -ENOTCONN);
	/* A file that is not a socket is not replaced. */
	assert_int_equal(mblk_nbd_server_listen_unix(srv, plain), -EEXIST);
	assert_non_null(strstr(mblk_last_error(), "is not a socket"));
	assert_int_equal(access(plain, F_OK), 0);
	assert_int_equal(mblk_nbd_server_listen_unix(srv, sock), 0);
	int n = mblk_nbd_server_uri(srv, uri, sizeof(uri));
	char want[512];
	snprintf(want, sizeof(want), "nbd+unix:///disk%%20one?socket=%s", sock);
	assert_string_equal(uri, want);
	assert_int_equal(n, (int)strlen(want));
	/* TCP on the IPv4 loopback, a port chosen by the kernel. */
	assert_int_equal(mblk_nbd_server_listen_tcp(srv, "127.0.0.1", "0"), 0);
	assert_int_equal(mblk_nbd_server_listen_tcp(srv, "no.such.host.invalid",
						    "1"),
			 -EINVAL);
	assert_int_equal(mblk_nbd_server_connections(srv), 0);
	assert_int_equal(access(sock, F_OK), 0);

	int done = 0;
	mblk_nbd_server_close(srv, closed, &done);
	while (done == 0)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(done, 1);
	assert_int_equal(access(sock, F_OK), -1); /* removed */
	unlink(plain);
	rmdir(dir);
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_listen_and_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
