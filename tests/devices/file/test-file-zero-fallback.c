/* test-file-zero-fallback.c - write_zeroes' last resort, writing zeros,
 * over a range larger than its 1 MiB buffer, where the filesystem refuses
 * every cheaper way.
 *
 * Usage: test-file-zero-fallback OPTIONS   (the file: URI query)
 *
 * The test makes fallocate(2) fail with EOPNOTSUPP for the whole process
 * (a seccomp filter installed before libuv starts its thread pool, so it
 * holds on every thread), as a filesystem without PUNCH_HOLE and
 * ZERO_RANGE does (tmpfs had no ZERO_RANGE before 6.x, NFS 3 neither).
 * The file device must then fall through PUNCH_HOLE, ZERO_RANGE (and, on
 * block devices only, BLKZEROOUT) to writing zeros from its 1 MiB buffer,
 * chunk after chunk. Checked, with and without MBLK_ZEROES_NO_HOLE and
 * twice each (the second time the refusals are remembered):
 *   - ranges of 3 MiB plus a few sectors, from an offset that is not a
 *     multiple of 1 MiB, and one reaching the last sector of the file;
 *   - afterwards every byte of the file: zeros exactly in the ranges, the
 *     pattern everywhere else (neighbours of every range included);
 *   - the file's size is unchanged (KEEP_SIZE's promise);
 *   - discard, which has no writing fallback, answers -ENOTSUP with a
 *     sentence, and the data stays.
 * Exit 77 if the seccomp filter cannot be installed.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "filetest.h"
#include "mtest.h"

#define FILE_BYTES (12ll << 20)

static int refuse_fallocate(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fallocate, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | (EOPNOTSUPP & 0xffff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { sizeof(prog) / sizeof(prog[0]), prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

static unsigned char *model;

static void check_file(const char *img, const char *when)
{
	unsigned char *got = ft_buf(FILE_BYTES);
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, got, FILE_BYTES, 0), FILE_BYTES);
	struct stat st;
	CHECK(fstat(fd, &st) == 0);
	close(fd);
	if (st.st_size != FILE_BYTES) {
		fprintf(stderr, "%s: the file is now %lld bytes, was %lld\n",
			when, (long long)st.st_size, FILE_BYTES);
		exit(1);
	}
	for (long long i = 0; i < FILE_BYTES; i++)
		if (got[i] != model[i]) {
			fprintf(stderr,
				"%s: byte %lld (MiB %lld + %lld) is 0x%02x, "
				"expected 0x%02x (%s)\n",
				when, i, i >> 20, i & ((1 << 20) - 1), got[i],
				model[i], model[i] ? "data" : "zeroed");
			exit(1);
		}
	free(got);
}

int main(int argc, char **argv)
{
	mtest_watchdog(15, "the zero fallback test");
	const char *opts = argc > 1 ? argv[1] : "";
	const char *img = ft_make_file("zero-fallback.img", FILE_BYTES);
	if (refuse_fallocate() != 0)
		mtest_skip("cannot install a seccomp filter: %s",
			   strerror(errno));
	/* The filter works: fallocate is refused here too. */
	int fd = open(img, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0,
			4096) < 0 &&
	      errno == EOPNOTSUPP);
	close(fd);

	uv_loop_t loop;
	uv_loop_init(&loop);
	char uri[8400];
	snprintf(uri, sizeof(uri), "file:%s?%s", img, opts);
	mblk_dev *dev;
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	mtest_check_engine(uri, dev);
	struct mblk_info info;
	mblk_get_info(dev, &info);
	const uint64_t ss = info.sector_size;
	const uint64_t nsec = FILE_BYTES / ss;
	printf("%s: sector size %llu\n", uri, (unsigned long long)ss);

	/* A pattern over the whole file, never a zero byte. */
	model = ft_buf(FILE_BYTES);
	for (long long i = 0; i < FILE_BYTES; i++)
		model[i] = (unsigned char)(i * 7 + (i >> 12) * 13) | 1u;
	struct iovec iov = { model, FILE_BYTES };
	CHECK_EQ(mblk_write_sync(dev, 0, &iov, 1, 0), 0);
	check_file(img, "after the pattern");

	/* 3 MiB and a few sectors from 1 MiB - 2 sectors; then from just
	 * after 5 MiB; then one reaching the last sector. */
	const uint64_t mib = (1u << 20) / ss;
	struct {
		uint64_t first, count;
		unsigned flags;
	} ranges[] = {
		{ mib - 2, 3 * mib + 5, 0 },
		{ 5 * mib + 3, 3 * mib + 1, MBLK_ZEROES_NO_HOLE },
		{ nsec - (2 * mib + 7), 2 * mib + 7, 0 },
		{ 9 * mib - 1, 1, MBLK_ZEROES_NO_HOLE },
	};
	for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
		uint64_t first = ranges[k].first, count = ranges[k].count;
		int r = mblk_write_zeroes_sync(dev, first, count,
					       ranges[k].flags);
		if (r != 0) {
			fprintf(stderr,
				"write_zeroes of sectors %llu+%llu: %d: %s\n",
				(unsigned long long)first,
				(unsigned long long)count, r,
				mblk_last_error());
			exit(1);
		}
		memset(model + first * ss, 0, count * ss);
		char when[160];
		snprintf(when, sizeof(when),
			 "after write_zeroes%s of sectors %llu+%llu",
			 ranges[k].flags ? "(NO_HOLE)" : "",
			 (unsigned long long)first, (unsigned long long)count);
		check_file(img, when);
		/* Through the device too (the page cache, or O_DIRECT). */
		unsigned char *back = ft_buf(count * ss + 2 * ss);
		uint64_t from = first > 0 ? first - 1 : first;
		uint64_t n = first + count < nsec ? first + count + 1 - from
						  : nsec - from;
		struct iovec bi = { back, n * ss };
		CHECK_EQ(mblk_read_sync(dev, from, &bi, 1), 0);
		CHECK(memcmp(back, model + from * ss, n * ss) == 0);
		free(back);
	}

	/* Discard has no writing fallback: -ENOTSUP with a sentence, and
	 * nothing changes. */
	int r = mblk_discard_sync(dev, 16, 64);
	CHECK_EQ(r, -ENOTSUP);
	CHECK_CONTAINS(mblk_last_error(), "discard");
	check_file(img, "after the refused discard");

	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	free(model);
	printf("ok\n");
	return 0;
}
