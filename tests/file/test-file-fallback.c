/* test-file-fallback.c - where io_uring cannot be set up (seccomp in a
 * container), the file device falls back to the thread-pool engine, says
 * so in its notes and its URI, and works.
 *
 * The test forbids io_uring_setup to itself with a seccomp filter
 * (EPERM, as Docker's default profile does); exit 77 if it cannot.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "filetest.h"

static int forbid_io_uring(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & 0xffff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { sizeof(prog) / sizeof(prog[0]), prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

int main(void)
{
	uv_loop_t loop;
	mblk_dev *dev;
	char uri[8400], got[8400];
	const char *img = ft_make_file("fallback.img", 1 << 20);
	if (forbid_io_uring() != 0) {
		printf("skipped: cannot install a seccomp filter\n");
		return 77;
	}
	uv_loop_init(&loop);
	snprintf(uri, sizeof(uri), "file:%s?engine=uring", img);
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	CHECK(mblk_get_uri(dev, got, sizeof(got)) > 0);
	printf("%s\nnotes: %s\n", got, mblk_file_notes(dev));
	CHECK_CONTAINS(got, "engine=threads");
	CHECK_CONTAINS(mblk_file_notes(dev), "io_uring is not available");
	CHECK_CONTAINS(mblk_file_notes(dev), "engine=threads");

	char *w = ft_buf(65536), *r = ft_buf(65536);
	ft_fill(w, 65536, 7);
	struct iovec wi = { w, 65536 }, ri = { r, 65536 };
	CHECK_EQ(mblk_write_sync(dev, 8, &wi, 1, MBLK_WRITE_FUA), 0);
	CHECK_EQ(mblk_read_sync(dev, 8, &ri, 1), 0);
	CHECK(memcmp(w, r, 65536) == 0);
	CHECK_EQ(mblk_flush_sync(dev), 0);
	mblk_close_sync(dev);
	free(w);
	free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("ok\n");
	return 0;
}
