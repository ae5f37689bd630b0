/* filetest.h - small helpers shared by the file device's tests.
 *
 * CHECK survives NDEBUG and prints both sides; scratch files go in a
 * directory under $MBLK_TEST_TMPDIR (the build directory, on the root
 * ext4 disk: /tmp may be tmpfs, where O_DIRECT fails).
 */
#ifndef MBLK_TEST_FILETEST_H
#define MBLK_TEST_FILETEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mblk.h>
#include <mblk/file.h>
#include <mblk/ram.h>

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
				"%s:%d: check failed: %s\n  last "             \
				"error: %s\n",                                 \
				__FILE__, __LINE__, #cond, mblk_last_error()); \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                              \
	do {                                                        \
		long long a_ = (long long)(a), b_ = (long long)(b); \
		if (a_ != b_) {                                     \
			fprintf(stderr,                             \
				"%s:%d: %s == %s failed: %lld != "  \
				"%lld\n  last error: %s\n",         \
				__FILE__, __LINE__, #a, #b, a_, b_, \
				mblk_last_error());                 \
			exit(1);                                    \
		}                                                   \
	} while (0)

#define CHECK_CONTAINS(s, needle)                                             \
	do {                                                                  \
		const char *s_ = (s);                                         \
		if (s_ == NULL || strstr(s_, (needle)) == NULL) {             \
			fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", \
				__FILE__, __LINE__, (needle),                 \
				s_ ? s_ : "(null)");                          \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* A fresh scratch directory; removed by ft_cleanup at exit. */
static char ft_dir[4000];

static inline void ft_cleanup(void)
{
	char cmd[8400];
	if (ft_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "chattr -i '%s'/* 2>/dev/null; rm -rf '%s'",
		 ft_dir, ft_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", ft_dir);
}

static inline const char *ft_tmpdir(void)
{
	if (ft_dir[0] == '\0') {
		const char *base = getenv("MBLK_TEST_TMPDIR");
		snprintf(ft_dir, sizeof(ft_dir), "%s/mblk-file-XXXXXX",
			 base ? base : ".");
		if (mkdtemp(ft_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(ft_cleanup);
	}
	return ft_dir;
}

/* A sparse file of `bytes` in the scratch directory; returns its path
 * (static storage, one per name). */
static inline const char *ft_make_file(const char *name, long long bytes)
{
	static char paths[8][8400];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 8400, "%s/%s", ft_tmpdir(), name);
	int fd = open(p, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, bytes) < 0) {
		perror(p);
		exit(1);
	}
	close(fd);
	return p;
}

static inline long long ft_blocks(const char *path)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return (long long)st.st_blocks * 512;
}

/* Aligned buffer for O_DIRECT. */
static inline void *ft_buf(size_t len)
{
	void *p = NULL;
	CHECK(posix_memalign(&p, 4096, len) == 0);
	return p;
}

static inline void ft_fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *b = buf;
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}

#endif
