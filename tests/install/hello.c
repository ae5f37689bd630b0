/* hello.c - a user program built against an installed mblk (mblk.pc).
 *
 * scripts/test.sh compiles it with the flags pkg-config gives for the
 * staged install, once against the shared library and once against the
 * static archive, and runs it: it must write, read back and compare a
 * few sectors on a private ramdisk, and exit 0.
 */
/* uv.h, which mblk.h includes, needs POSIX types (pthread_rwlock_t) that
 * strict -std=c11 hides: a POSIX program says it is one. */
#define _POSIX_C_SOURCE 200809L
#include <mblk.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	uv_loop_t loop;
	mblk_dev *dev;
	char out[4096], in[4096];
	struct iovec wv = { out, sizeof(out) }, rv = { in, sizeof(in) };

	if (uv_loop_init(&loop) != 0)
		return 1;
	if (mblk_open_sync(&loop, "ram:?size=1M", 0, &dev) < 0) {
		fprintf(stderr, "hello: %s\n", mblk_last_error());
		return 1;
	}
	memset(out, 0x5a, sizeof(out));
	if (mblk_write_sync(dev, 8, &wv, 1, 0) < 0 ||
	    mblk_read_sync(dev, 8, &rv, 1) < 0) {
		fprintf(stderr, "hello: %s\n", mblk_last_error());
		return 1;
	}
	int same = memcmp(in, out, sizeof(in)) == 0;
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	printf("hello: mblk %s %s\n", mblk_version(),
	       same ? "read back what it wrote" : "READ BACK WRONG DATA");
	return same ? 0 : 1;
}
