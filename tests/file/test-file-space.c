/* test-file-space.c - discard, write_zeroes, resize and the seeks on a
 * real file: holes checked with SEEK_HOLE and st_blocks (what du shows).
 *
 * Usage: test-file-space [OPTIONS]   (the URI query, e.g. engine=threads)
 */
#include "filetest.h"
#include "mtest.h"

#define MiB (1ll << 20)

static int raw_fd;

static long long hole_at(long long off)
{
	return (long long)lseek(raw_fd, off, SEEK_HOLE);
}

static void check_zero(mblk_dev *dev, uint64_t sector, size_t len)
{
	char *b = ft_buf(len);
	memset(b, 0x5a, len);
	struct iovec iov = { b, len };
	CHECK_EQ(mblk_read_sync(dev, sector, &iov, 1), 0);
	for (size_t i = 0; i < len; i++)
		if (b[i] != 0) {
			fprintf(stderr, "byte %zu after sector %llu is %d\n", i,
				(unsigned long long)sector, b[i]);
			exit(1);
		}
	free(b);
}

static uint64_t seek(mblk_dev *dev, bool mapped, uint64_t from)
{
	uint64_t s = 0;
	int r = mapped ? mblk_seek_mapped_sync(dev, from, &s)
		       : mblk_seek_unmapped_sync(dev, from, &s);
	CHECK_EQ(r, 0);
	return s;
}

int main(int argc, char **argv)
{
	/* A seek that loops on a hole edge fails here, with a sentence. */
	mtest_watchdog(15, "test-file-space");
	const char *opts = argc > 1 ? argv[1] : "";
	uv_loop_t loop;
	mblk_dev *dev;
	char uri[8400];
	uv_loop_init(&loop);
	const char *img = ft_make_file("space.img", 16 * MiB);
	snprintf(uri, sizeof(uri), "file:%s?%s", img, opts);
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	mtest_check_engine(uri, dev);
	raw_fd = open(img, O_RDONLY | O_CLOEXEC);
	CHECK(raw_fd >= 0);

	/* A fully sparse file: nothing mapped, the end is the answer (the
	 * seed failed with ENXIO here). */
	CHECK_EQ(seek(dev, true, 0), 32768);
	CHECK_EQ(seek(dev, false, 0), 0);

	/* Fill 8 MiB with data. */
	char *data = ft_buf(MiB);
	memset(data, 0xaa, MiB);
	struct iovec iov = { data, MiB };
	for (int i = 0; i < 8; i++)
		CHECK_EQ(mblk_write_sync(dev, (uint64_t)i * 2048, &iov, 1, 0),
			 0);
	CHECK_EQ(mblk_flush_sync(dev), 0);
	long long full = ft_blocks(img);
	CHECK(full >= 8 * MiB);
	uint64_t alloc = 0;
	CHECK_EQ(mblk_get_allocated(dev, &alloc), 0);
	CHECK_EQ(alloc, full);
	CHECK_EQ(seek(dev, true, 0), 0);
	CHECK_EQ(seek(dev, false, 0), 16384); /* the hole after 8 MiB */
	CHECK_EQ(seek(dev, true, 16384), 32768);

	/* discard [1 MiB, 2 MiB): a real hole, zeros, fewer blocks. */
	CHECK_EQ(mblk_discard_sync(dev, 2048, 2048), 0);
	CHECK_EQ(hole_at(0), 1 * MiB);
	CHECK_EQ(lseek(raw_fd, MiB, SEEK_DATA), 2 * MiB);
	CHECK_EQ(ft_blocks(img), full - MiB);
	check_zero(dev, 2048, MiB);
	CHECK_EQ(seek(dev, false, 0), 2048);
	CHECK_EQ(seek(dev, true, 2048), 4096);

	/* write_zeroes may punch: [3 MiB, 4 MiB) goes. */
	CHECK_EQ(mblk_write_zeroes_sync(dev, 6144, 2048, 0), 0);
	CHECK_EQ(ft_blocks(img), full - 2 * MiB);
	check_zero(dev, 6144, MiB);
	CHECK_EQ(seek(dev, false, 4096), 6144);

	/* ...unless NO_HOLE: [5 MiB, 6 MiB) stays allocated, reads zeros.
	 * (The filesystem may add a metadata block for the split extent.) */
	long long before = ft_blocks(img);
	CHECK_EQ(mblk_write_zeroes_sync(dev, 10240, 2048, MBLK_ZEROES_NO_HOLE),
		 0);
	CHECK(ft_blocks(img) >= before && ft_blocks(img) <= before + 65536);
	before = ft_blocks(img);
	check_zero(dev, 10240, MiB);

	/* Unaligned, sub-block ranges: a single sector. */
	CHECK_EQ(mblk_discard_sync(dev, 1, 1), 0);
	check_zero(dev, 1, 512);
	CHECK_EQ(mblk_write_zeroes_sync(dev, 3, 1, MBLK_ZEROES_NO_HOLE), 0);
	check_zero(dev, 3, 512);

	/* resize: growing is sparse and reads zeros; shrinking cuts. */
	struct mblk_info info;
	CHECK_EQ(mblk_resize_sync(dev, 65536), 0);
	mblk_get_info(dev, &info);
	CHECK_EQ(info.size_sectors, 65536);
	struct stat st;
	CHECK(stat(img, &st) == 0);
	CHECK_EQ(st.st_size, 32 * MiB);
	CHECK(ft_blocks(img) <= before);
	check_zero(dev, 65536 - 2048, MiB);
	CHECK_EQ(seek(dev, true, 16384), 65536);
	CHECK_EQ(mblk_resize_sync(dev, 4096), 0);
	CHECK(stat(img, &st) == 0);
	CHECK_EQ(st.st_size, 2 * MiB);
	mblk_get_info(dev, &info);
	CHECK_EQ(info.size_sectors, 4096);
	CHECK_EQ(mblk_resize_sync(dev, 0), 0);
	CHECK_EQ(mblk_resize_sync(dev, 2048), 0);
	check_zero(dev, 0, MiB);
	mblk_close_sync(dev);

	/* Sectors bigger than the filesystem's blocks: a 64 KiB sector with
	 * 4 KiB of data in it is mapped, never "unmapped". */
	const char *big = ft_make_file("big-sectors.img", MiB);
	int fd = open(big, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, data, 4096, 65536 + 8192), 4096);
	CHECK_EQ(fsync(fd), 0);
	close(fd);
	snprintf(uri, sizeof(uri), "file:%s?sector-size=64K&%s", big, opts);
	CHECK_EQ(mblk_open_sync(&loop, uri, 0, &dev), 0);
	CHECK_EQ(seek(dev, false, 0), 0);
	CHECK_EQ(seek(dev, true, 0), 1);
	CHECK_EQ(seek(dev, false, 1), 2);
	CHECK_EQ(seek(dev, true, 2), 16);
	mblk_close_sync(dev);

	close(raw_fd);
	free(data);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("ok\n");
	return 0;
}
