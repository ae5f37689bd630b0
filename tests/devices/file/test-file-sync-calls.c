/* test-file-sync-calls.c - FUA and flush reach the kernel as
 * docs/devices/file.md says, for every `sync` mode, on one engine.
 *
 * Usage: test-file-sync-calls ENGINE   (threads or uring)
 *
 * Durability cannot be observed after the fact, so the test observes the
 * calls. It is linked with -Wl,--wrap for pwritev2, fdatasync and fsync
 * (the thread-pool engine's syscalls) and, with liburing, for
 * io_uring_submit, whose wrapper reads the submission entries about to be
 * handed to the kernel (opcode, rw_flags, fsync_flags) before calling the
 * real one. For sync = none, os, drive, buffered and O_DIRECT:
 *
 *   sync   plain write   FUA write             flush
 *   none   flags 0       flags 0, no flush     no call at all
 *   os     flags 0       RWF_DSYNC             fdatasync / FSYNC+DATASYNC
 *   drive  flags 0       RWF_SYNC              fsync / FSYNC
 *
 * and on the uring engine no read, write or flush goes through the
 * thread pool's syscalls (the engine is the one asked for), except a
 * small plain write on a buffered file, which either engine does inline
 * with pwritev2 (file.c): not while a large write is on the engine, and
 * not for the write after an inline one that was slow (the backoff). Exit 77 when
 * uring was asked and io_uring is refused here, or not built.
 */
#include <stdatomic.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef MBLK_TEST_HAVE_URING
#include <liburing.h>
#endif

#include "filetest.h"
#include "mtest.h"

/* What reached the kernel, by kind. Bumped from libuv's pool threads. */
struct calls {
	atomic_int pw_plain, pw_dsync, pw_sync, pw_other;
	atomic_int fdatasync, fsync;
	atomic_int sqe_w_plain, sqe_w_dsync, sqe_w_sync, sqe_w_other;
	atomic_int sqe_fsync_data, sqe_fsync_full;
};
static struct calls calls;

static void calls_reset(void)
{
	memset(&calls, 0, sizeof(calls));
}

/* Set: the next pwritev2 sleeps this long first (the inline write's
 * backoff, file.c). */
static atomic_int slow_next_us;

static void count_pwrite(int flags)
{
	int us = atomic_exchange(&slow_next_us, 0);
	if (us > 0)
		usleep((useconds_t)us);
	if (flags == 0)
		atomic_fetch_add(&calls.pw_plain, 1);
	else if (flags == RWF_DSYNC)
		atomic_fetch_add(&calls.pw_dsync, 1);
	else if (flags == RWF_SYNC)
		atomic_fetch_add(&calls.pw_sync, 1);
	else
		atomic_fetch_add(&calls.pw_other, 1);
}

/* With _FILE_OFFSET_BITS=64 (meson's default) glibc's pwritev2 is
 * pwritev64v2: wrap both names. */
ssize_t __real_pwritev2(int fd, const struct iovec *iov, int iovcnt,
			off_t offset, int flags);
ssize_t __wrap_pwritev2(int fd, const struct iovec *iov, int iovcnt,
			off_t offset, int flags);
ssize_t __wrap_pwritev2(int fd, const struct iovec *iov, int iovcnt,
			off_t offset, int flags)
{
	count_pwrite(flags);
	return __real_pwritev2(fd, iov, iovcnt, offset, flags);
}

ssize_t __real_pwritev64v2(int fd, const struct iovec *iov, int iovcnt,
			   off_t offset, int flags);
ssize_t __wrap_pwritev64v2(int fd, const struct iovec *iov, int iovcnt,
			   off_t offset, int flags);
ssize_t __wrap_pwritev64v2(int fd, const struct iovec *iov, int iovcnt,
			   off_t offset, int flags)
{
	count_pwrite(flags);
	return __real_pwritev64v2(fd, iov, iovcnt, offset, flags);
}

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
	atomic_fetch_add(&calls.fdatasync, 1);
	return __real_fdatasync(fd);
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
	atomic_fetch_add(&calls.fsync, 1);
	return __real_fsync(fd);
}

#ifdef MBLK_TEST_HAVE_URING
/* The entries between sqe_head and sqe_tail are filled and not yet
 * handed to the kernel: io_uring_submit is about to. */
int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
		const struct io_uring_sqe *e = &sq->sqes[i & sq->ring_mask];
		switch (e->opcode) {
		case IORING_OP_WRITE:
		case IORING_OP_WRITEV:
			if (e->rw_flags == 0)
				atomic_fetch_add(&calls.sqe_w_plain, 1);
			else if (e->rw_flags == RWF_DSYNC)
				atomic_fetch_add(&calls.sqe_w_dsync, 1);
			else if (e->rw_flags == RWF_SYNC)
				atomic_fetch_add(&calls.sqe_w_sync, 1);
			else
				atomic_fetch_add(&calls.sqe_w_other, 1);
			break;
		case IORING_OP_FSYNC:
			if (e->fsync_flags & IORING_FSYNC_DATASYNC)
				atomic_fetch_add(&calls.sqe_fsync_data, 1);
			else
				atomic_fetch_add(&calls.sqe_fsync_full, 1);
			break;
		default: break;
		}
	}
	return __real_io_uring_submit(ring);
}
#endif

/* Expects each counter; prints the whole picture on a mismatch. */
static void expect(const char *what, const char *uri, int pw_plain,
		   int pw_dsync, int pw_sync, int fdatasync_n, int fsync_n,
		   int sqe_plain, int sqe_dsync, int sqe_sync, int sqe_fdata,
		   int sqe_ffull)
{
	int got[] = { calls.pw_plain,       calls.pw_dsync,
		      calls.pw_sync,        calls.fdatasync,
		      calls.fsync,          calls.sqe_w_plain,
		      calls.sqe_w_dsync,    calls.sqe_w_sync,
		      calls.sqe_fsync_data, calls.sqe_fsync_full };
	int want[] = { pw_plain,  pw_dsync,  pw_sync,  fdatasync_n, fsync_n,
		       sqe_plain, sqe_dsync, sqe_sync, sqe_fdata,   sqe_ffull };
	static const char *const names[] = { "pwritev2(0)",
					     "pwritev2(RWF_DSYNC)",
					     "pwritev2(RWF_SYNC)",
					     "fdatasync",
					     "fsync",
					     "SQE write rw_flags=0",
					     "SQE write RWF_DSYNC",
					     "SQE write RWF_SYNC",
					     "SQE FSYNC DATASYNC",
					     "SQE FSYNC (full)" };
	bool same = calls.pw_other == 0 && calls.sqe_w_other == 0;
	for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++)
		same = same && got[i] == want[i];
	if (same)
		return;
	fprintf(stderr, "FAIL %s on %s: calls that reached the kernel:\n", what,
		uri);
	for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++)
		fprintf(stderr, "  %-22s got %d, expected %d%s\n", names[i],
			got[i], want[i], got[i] != want[i] ? "   <--" : "");
	fprintf(stderr, "  other pwritev2 flags %d, other SQE rw_flags %d\n",
		(int)calls.pw_other, (int)calls.sqe_w_other);
	exit(1);
}

static void count_down(void *data, int status, const char *error)
{
	CHECK_EQ(status, 0);
	(void)error;
	(*(int *)data)--;
}

int main(int argc, char **argv)
{
	mtest_watchdog(10, "the sync calls test");
	const char *engine = argc > 1 ? argv[1] : "threads";
	bool uring = strcmp(engine, "uring") == 0;
#ifndef MBLK_TEST_HAVE_URING
	if (uring)
		mtest_skip("built without liburing: no io_uring engine");
#endif
	const char *img = ft_make_file("sync-calls.img", 1 << 20);
	static const char *const syncs[] = { "none", "os", "drive" };
	char *buf = ft_buf(4096);
	ft_fill(buf, 4096, 3);
	struct iovec iov = { buf, 4096 };
	char *bigbuf = ft_buf(128 * 1024); /* above the inline limit */
	ft_fill(bigbuf, 128 * 1024, 4);
	struct iovec big = { bigbuf, 128 * 1024 };

	for (int buffered = 1; buffered >= 0; buffered--)
		for (int s = 0; s < 3; s++) {
			uv_loop_t loop;
			uv_loop_init(&loop);
			char uri[8400];
			snprintf(uri, sizeof(uri),
				 "file:%s?engine=%s&sync=%s&buffered=%d", img,
				 engine, syncs[s], buffered);
			mblk_dev *dev;
			CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
			mtest_check_engine(uri, dev);
			int w = uring ? 0 : 1, q = uring ? 1 : 0;
			/* A small plain buffered write is done inline (a
			 * pwritev2 on the loop thread) on either engine. */
			int pw = buffered ? 1 : w, pq = buffered ? 0 : q;

			calls_reset();
			CHECK_EQ(mblk_write_sync(dev, 8, &iov, 1, 0), 0);
			expect("a plain write", uri, pw, 0, 0, 0, 0, pq, 0, 0,
			       0, 0);

			if (buffered && s == 0) {
				/* With a large write on the engine, a small
				 * one goes there too: inline, it would wait
				 * for the file's lock the worker holds. */
				calls_reset();
				int left = 2;
				CHECK_EQ(mblk_write(dev, 64, &big, 1, 0,
						    count_down, &left),
					 0);
				CHECK_EQ(mblk_write(dev, 8, &iov, 1, 0,
						    count_down, &left),
					 0);
				while (left > 0)
					uv_run(&loop, UV_RUN_ONCE);
				expect("a small write behind a large one", uri,
				       2 * w, 0, 0, 0, 0, 2 * q, 0, 0, 0, 0);
			}

			calls_reset();
			CHECK_EQ(mblk_write_sync(dev, 16, &iov, 1,
						 MBLK_WRITE_FUA),
				 0);
			if (s == 0) /* none: a plain write, nothing else */
				expect("a FUA write (sync=none)", uri, pw, 0, 0,
				       0, 0, pq, 0, 0, 0, 0);
			else if (s == 1)
				expect("a FUA write (sync=os)", uri, 0, w, 0, 0,
				       0, 0, q, 0, 0, 0);
			else
				expect("a FUA write (sync=drive)", uri, 0, 0, w,
				       0, 0, 0, 0, q, 0, 0);

			calls_reset();
			CHECK_EQ(mblk_flush_sync(dev), 0);
			if (s == 0)
				expect("a flush (sync=none)", uri, 0, 0, 0, 0,
				       0, 0, 0, 0, 0, 0);
			else if (s == 1)
				expect("a flush (sync=os)", uri, 0, 0, 0, w, 0,
				       0, 0, 0, q, 0);
			else
				expect("a flush (sync=drive)", uri, 0, 0, 0, 0,
				       w, 0, 0, 0, 0, q);

			mblk_close_sync(dev);
			if (uring && buffered && s == 0) {
				/* An inline write slower than 0.5 ms (the
				 * kernel throttled it) sends the next one to
				 * the engine; the one after is inline again.
				 * A handle of its own (the first one closed:
				 * the file is locked), so that no earlier
				 * write slowed by a busy machine has started
				 * a backoff already. */
				mblk_dev *d2;
				CHECK_EQ(mblk_open_sync(&loop, uri, 0, &d2), 0);
				calls_reset();
				atomic_store(&slow_next_us, 2000);
				CHECK_EQ(mblk_write_sync(d2, 8, &iov, 1, 0), 0);
				expect("a slow inline write", uri, 1, 0, 0, 0,
				       0, 0, 0, 0, 0, 0);
				calls_reset();
				CHECK_EQ(mblk_write_sync(d2, 8, &iov, 1, 0), 0);
				expect("the write after a slow one", uri, 0, 0,
				       0, 0, 0, 1, 0, 0, 0, 0);
				calls_reset();
				CHECK_EQ(mblk_write_sync(d2, 8, &iov, 1, 0), 0);
				expect("the write after the backoff", uri, 1, 0,
				       0, 0, 0, 0, 0, 0, 0, 0);
				mblk_close_sync(d2);
			}
			uv_run(&loop, UV_RUN_DEFAULT);
			CHECK_EQ(uv_loop_close(&loop), 0);
			printf("ok %s\n", uri);
		}
	free(buf);
	free(bigbuf);
	return 0;
}
