/* test-file-open.c - opening the file device: each failure has its own
 * sentence, the read-only fallback, the URI round trip.
 *
 * What could be tested as root: a missing file, a directory, a FIFO, a
 * character device (/dev/null), a size that is not a whole number of
 * sectors, bad keys and values, O_DIRECT on tmpfs (/dev/shm, skipped when
 * it is not tmpfs), "permission denied even for reading" in a child that
 * drops to uid 65534, and the read-only fallback on an immutable file
 * (chattr +i; skipped when the filesystem does not support it).
 */
#include <sys/statfs.h>
#include <sys/wait.h>

#include "filetest.h"

static uv_loop_t loop;

/* Opens uri expecting failure with err and a sentence holding needle. */
static void expect_fail(const char *uri, int err, const char *needle)
{
	mblk_dev *dev = NULL;
	int r = mblk_open_sync(&loop, uri, 0, &dev);
	printf("%s -> %d %s\n", uri, r, mblk_last_error());
	if (r != err) {
		fprintf(stderr, "open %s: expected %d, got %d (%s)\n", uri, err,
			r, mblk_last_error());
		exit(1);
	}
	CHECK_CONTAINS(mblk_last_error(), needle);
}

static void roundtrip(const char *uri, const char *expect_in_uri)
{
	mblk_dev *dev, *dev2;
	char a[8192], b[8192];
	struct mblk_info ia, ib;
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	CHECK(mblk_get_uri(dev, a, sizeof(a)) > 0);
	printf("%s -> %s\n", uri, a);
	if (expect_in_uri)
		CHECK_CONTAINS(a, expect_in_uri);
	mblk_get_info(dev, &ia);
	mblk_close_sync(dev);
	CHECK_EQ(mblk_open_sync(&loop, a, 0, &dev2), 0);
	CHECK(mblk_get_uri(dev2, b, sizeof(b)) > 0);
	mblk_get_info(dev2, &ib);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "round trip differs:\n  %s\n  %s\n", a, b);
		exit(1);
	}
	CHECK_EQ(ia.size_sectors, ib.size_sectors);
	CHECK_EQ(ia.sector_size, ib.sector_size);
	CHECK_EQ(ia.read_write, ib.read_write);
	CHECK_EQ(ia.caps, ib.caps);
	mblk_close_sync(dev2);
}

int main(void)
{
	char uri[8400];
	uv_loop_init(&loop);
	const char *dir = ft_tmpdir();
	const char *img = ft_make_file("a.img", 1 << 20);

	/* Failures, each with its own sentence. */
	snprintf(uri, sizeof(uri), "%s/missing.img", dir);
	expect_fail(uri, -ENOENT, "does not exist");
	expect_fail(dir, -EISDIR, "is a directory");
	snprintf(uri, sizeof(uri), "file:%s?buffered=0", dir);
	expect_fail(uri, -EISDIR, "is a directory");
	expect_fail("/dev/null", -EINVAL, "character device");
	snprintf(uri, sizeof(uri), "%s/fifo", dir);
	CHECK_EQ(mkfifo(uri, 0600), 0);
	expect_fail(uri, -EINVAL, "FIFO");
	const char *odd = ft_make_file("odd.img", 5);
	expect_fail(odd, -EINVAL, "truncate -s 512");
	snprintf(uri, sizeof(uri), "file:%s?sector-size=4096", img);
	roundtrip(uri, "sector-size=4096");
	snprintf(uri, sizeof(uri), "file:%s?sector-size=1000", img);
	expect_fail(uri, -EINVAL, "power of two");
	snprintf(uri, sizeof(uri), "file:%s?sector-size=abc", img);
	expect_fail(uri, -EINVAL, "sector-size=abc");
	snprintf(uri, sizeof(uri), "file:%s?sync=sometimes", img);
	expect_fail(uri, -EINVAL, "none, os or drive");
	snprintf(uri, sizeof(uri), "file:%s?engine=magic", img);
	expect_fail(uri, -EINVAL, "uring or threads");
	snprintf(uri, sizeof(uri), "file:%s?colour=blue", img);
	expect_fail(uri, -EINVAL, "unknown key 'colour'");
	snprintf(uri, sizeof(uri), "file://elsewhere%s", img);
	expect_fail(uri, -EINVAL, "local paths only");

	/* O_DIRECT where the filesystem refuses it. */
	struct statfs sfs;
	if (statfs("/dev/shm", &sfs) == 0 && sfs.f_type == 0x01021994) {
		const char *shm = "/dev/shm/mblk-test-odirect.img";
		FILE *fp = fopen(shm, "w");
		CHECK(fp != NULL);
		fclose(fp);
		snprintf(uri, sizeof(uri), "file:%s?buffered=0", shm);
		int fd = open(shm, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (fd >= 0) {
			/* tmpfs accepts O_DIRECT since Linux 6.6. */
			close(fd);
			printf("skipped: tmpfs accepts O_DIRECT here\n");
		} else {
			expect_fail(uri, -EINVAL, "refuses O_DIRECT");
		}
		unlink(shm);
	} else {
		printf("skipped: /dev/shm is not tmpfs\n");
	}

	/* Permission denied even for reading: as an unprivileged user. */
	const char *secret = ft_make_file("secret.img", 4096);
	CHECK_EQ(chmod(secret, 0600), 0);
	CHECK_EQ(chmod(dir, 0755), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		expect_fail(secret, -EACCES, "permission denied");
		fflush(stdout);
		_exit(0);
	}
	int ws;
	CHECK(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws) && (WEXITSTATUS(ws) == 0 || WEXITSTATUS(ws) == 77));

	/* Round trips: defaults, every key, odd characters in the path,
	 * file:///, the legacy buffered: prefix, read-only by flag. */
	roundtrip(img, "buffered=1&sync=os&lock=1&sector-size=512&read-only=0");
	snprintf(uri, sizeof(uri),
		 "file:%s?buffered=0&sync=drive&lock=0&read-only=1&engine=threads",
		 img);
	roundtrip(uri, "buffered=0&sync=drive&lock=0&sector-size=512&"
		       "read-only=1&engine=threads");
	snprintf(uri, sizeof(uri), "file:%s?sync=none", img);
	roundtrip(uri, "sync=none");
	const char *weird = ft_make_file("we ird?&%#é.img", 8192);
	roundtrip(weird, "we%20ird%3F%26%25%23%C3%A9.img");
	snprintf(uri, sizeof(uri), "file://%s", img);
	roundtrip(uri, "file:/");
	snprintf(uri, sizeof(uri), "buffered:%s", img);
	roundtrip(uri, "buffered=1");

	mblk_dev *dev;
	struct mblk_info info;
	CHECK_EQ(mblk_open_sync(&loop, img, MBLK_OPEN_RDONLY, &dev), 0);
	mblk_get_info(dev, &info);
	CHECK(!info.read_write);
	char buf[4096] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	CHECK_EQ(mblk_write_sync(dev, 0, &iov, 1, 0), -EROFS);
	mblk_close_sync(dev);

	/* The read-only fallback: an immutable file cannot be opened for
	 * writing, even by root. */
	const char *ro = ft_make_file("immutable.img", 1 << 20);
	char cmd[8600];
	snprintf(cmd, sizeof(cmd), "chattr +i '%s' 2>/dev/null", ro);
	if (system(cmd) == 0) {
		CHECK_EQ(mblk_open_sync(&loop, ro, 0, &dev), 0);
		mblk_get_info(dev, &info);
		CHECK(!info.read_write);
		printf("fallback note: %s\n", mblk_file_notes(dev));
		CHECK_CONTAINS(mblk_file_notes(dev), "opened read-only");
		char u[8400];
		CHECK(mblk_get_uri(dev, u, sizeof(u)) > 0);
		CHECK_CONTAINS(u, "read-only=1");
		CHECK_EQ(mblk_read_sync(dev, 0, &iov, 1), 0);
		mblk_close_sync(dev);
		snprintf(cmd, sizeof(cmd), "chattr -i '%s'", ro);
		CHECK_EQ(system(cmd), 0);
	} else {
		printf("skipped: chattr +i is not supported here\n");
	}

	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("ok\n");
	return 0;
}
