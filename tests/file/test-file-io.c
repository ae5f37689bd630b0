/* test-file-io.c - reads and writes through the file device with many
 * requests in flight, on one engine and buffering mode.
 *
 * Usage: test-file-io OPTIONS [BLOCKDEV]
 *   OPTIONS  the URI query, e.g. "buffered=0&engine=uring"
 *   BLOCKDEV run on this block device instead of a scratch file (its
 *            contents are overwritten).
 *
 * Checks: more requests in flight than the ring holds (the wait queue),
 * split buffers with an empty one among them, FUA and flush, an empty
 * read, a read past the end of a file that shrank underneath (-EIO with a
 * sentence, never zeros), disconnect with requests in flight.
 */
#include "filetest.h"
#include "mtest.h"

#define NREQ 700 /* more than the ring's 512 CQEs */
#define BS 4096

struct slot {
	struct iovec iov[3];
	int status;
	char msg[400];
};

static int outstanding;

static void slot_cb(void *data, int status, const char *error)
{
	struct slot *s = data;
	s->status = status;
	if (error)
		snprintf(s->msg, sizeof(s->msg), "%s", error);
	outstanding--;
}

static void run(uv_loop_t *loop)
{
	while (outstanding > 0)
		uv_run(loop, UV_RUN_ONCE);
}

int main(int argc, char **argv)
{
	const char *opts = argc > 1 ? argv[1] : "";
	const char *blk = argc > 2 ? argv[2] : NULL;
	const char *path = blk ? blk : ft_make_file("io.img", 8 << 20);
	char uri[8192];
	snprintf(uri, sizeof(uri), "file:%s?%s", path, opts);

	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *dev;
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	mtest_check_engine(uri, dev);

	char got[8192];
	CHECK(mblk_get_uri(dev, got, sizeof(got)) > 0);
	printf("opened %s\nnotes: %s\n", got, mblk_file_notes(dev));
	if (strstr(opts, "engine=threads"))
		CHECK_CONTAINS(got, "engine=threads");
	if (strstr(opts, "engine=uring") && strstr(got, "engine=threads"))
		CHECK_CONTAINS(mblk_file_notes(dev), "io_uring");
	struct mblk_info info;
	mblk_get_info(dev, &info);
	CHECK(info.size_sectors * info.sector_size >= (uint64_t)NREQ * BS);
	unsigned spb = BS / info.sector_size; /* sectors per block */

	/* Writes: NREQ in flight at once, each its own pattern. */
	char *wbuf = ft_buf((size_t)NREQ * BS),
	     *rbuf = ft_buf((size_t)NREQ * BS);
	struct slot *slots = calloc(NREQ, sizeof(*slots));
	for (int i = 0; i < NREQ; i++) {
		ft_fill(wbuf + (size_t)i * BS, BS, (unsigned)i + 1);
		slots[i].iov[0].iov_base = wbuf + (size_t)i * BS;
		slots[i].iov[0].iov_len = BS;
		unsigned flags = i % 50 == 0 ? MBLK_WRITE_FUA : 0;
		CHECK_EQ(mblk_write(dev, (uint64_t)i * spb, slots[i].iov, 1,
				    flags, slot_cb, &slots[i]),
			 0);
		outstanding++;
	}
	run(&loop);
	for (int i = 0; i < NREQ; i++)
		if (slots[i].status != 0) {
			fprintf(stderr, "write %d: %s\n", i, slots[i].msg);
			return 1;
		}
	CHECK_EQ(mblk_flush_sync(dev), 0);

	/* Reads: NREQ in flight, each split in two with an empty buffer
	 * between the halves (the halves must stay aligned for O_DIRECT:
	 * split at the device's alignment). */
	size_t half = info.buf_align > 1 && info.buf_align < BS
			      ? BS / 2 >= info.buf_align ? BS / 2
							 : info.buf_align
			      : BS / 2;
	if (half < info.sector_size)
		half = info.sector_size;
	memset(rbuf, 0xee, (size_t)NREQ * BS);
	for (int i = 0; i < NREQ; i++) {
		char *b = rbuf + (size_t)i * BS;
		slots[i].iov[0] = (struct iovec){ b, half };
		slots[i].iov[1] = (struct iovec){ b + half, 0 };
		slots[i].iov[2] = (struct iovec){ b + half, BS - half };
		int cnt = half < BS ? 3 : 1;
		CHECK_EQ(mblk_read(dev, (uint64_t)i * spb, slots[i].iov, cnt,
				   slot_cb, &slots[i]),
			 0);
		outstanding++;
	}
	run(&loop);
	for (int i = 0; i < NREQ; i++) {
		if (slots[i].status != 0) {
			fprintf(stderr, "read %d: %s\n", i, slots[i].msg);
			return 1;
		}
		if (memcmp(rbuf + (size_t)i * BS, wbuf + (size_t)i * BS, BS)) {
			fprintf(stderr, "block %d reads back different data\n",
				i);
			return 1;
		}
	}
	/* Once more: now the pages are cached (the inline path). */
	memset(rbuf, 0, (size_t)NREQ * BS);
	struct iovec big = { rbuf, (size_t)NREQ * BS };
	CHECK_EQ(mblk_read_sync(dev, 0, &big, 1), 0);
	CHECK(memcmp(rbuf, wbuf, (size_t)NREQ * BS) == 0);

	/* discard and write_zeroes read back as zeros (files: holes;
	 * block devices: fallocate/BLKDISCARD/BLKZEROOUT). */
	CHECK_EQ(mblk_discard_sync(dev, 0, 2 * spb), 0);
	CHECK_EQ(mblk_write_zeroes_sync(dev, 2 * spb, spb, MBLK_ZEROES_NO_HOLE),
		 0);
	CHECK_EQ(mblk_write_zeroes_sync(dev, 3 * spb, spb, 0), 0);
	memset(rbuf, 0x11, 4 * BS);
	struct iovec z = { rbuf, 4 * BS };
	CHECK_EQ(mblk_read_sync(dev, 0, &z, 1), 0);
	for (int i = 0; i < 4 * BS; i++)
		CHECK_EQ(rbuf[i], 0);
	CHECK_EQ(mblk_read_sync(dev, 4 * spb, &z, 1), 0);
	CHECK(memcmp(rbuf, wbuf + 4 * BS, 4 * BS) == 0);

	/* An empty read. */
	CHECK_EQ(mblk_read_sync(dev, 0, NULL, 0), 0);

	/* Disconnect with reads in flight: they finish first. */
	for (int i = 0; i < 64; i++) {
		slots[i].iov[0] = (struct iovec){ rbuf + (size_t)i * BS, BS };
		CHECK_EQ(mblk_read(dev, (uint64_t)i * spb, slots[i].iov, 1,
				   slot_cb, &slots[i]),
			 0);
		outstanding++;
	}
	int disc = -1;
	CHECK_EQ(mblk_disconnect_sync(dev), 0);
	disc = outstanding;
	CHECK_EQ(disc, 0);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(slots[i].status, 0);
	CHECK(mblk_read_sync(dev, 0, &big, 1) == -ENODEV);
	mblk_close_sync(dev);

	/* A file that shrinks underneath: the read fails with a sentence. */
	if (blk == NULL) {
		CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
		CHECK_EQ(truncate(path, 4 << 20), 0);
		struct iovec tail = { rbuf, BS };
		int r = mblk_read_sync(dev, (6u << 20) / info.sector_size,
				       &tail, 1);
		CHECK_EQ(r, -EIO);
		CHECK_CONTAINS(mblk_last_error(), "shrank");
		printf("shrunk file: %s\n", mblk_last_error());
		mblk_close_sync(dev);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	free(slots);
	free(wbuf);
	free(rbuf);
	printf("ok\n");
	return 0;
}
