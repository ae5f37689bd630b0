/* test-file-map.c - the file device's seeks agree with `qemu-img map
 * --output=json` on the same sparse file (interop; exit 77 without
 * qemu-img).
 *
 * The file gets scattered data extents of 4 KiB to 1 MiB, some touching,
 * some separated by a single block; both views are reduced to a sorted
 * list of data ranges in bytes and compared range by range.
 */
#include "filetest.h"
#include "mtest.h"

#define MAXR 4096

struct range {
	long long start, end;
};

static int add(struct range *r, int n, long long s, long long e)
{
	if (n > 0 && r[n - 1].end == s) {
		r[n - 1].end = e;
		return n;
	}
	CHECK(n < MAXR);
	r[n].start = s;
	r[n].end = e;
	return n + 1;
}

static long long field(const char *obj, const char *key)
{
	const char *p = strstr(obj, key);
	CHECK(p != NULL);
	return atoll(p + strlen(key));
}

/* Runs cmd and collects the "data": true ranges of its JSON array
 * (qemu-img map's format, which `mblk map --json` follows). */
static int json_ranges(const char *cmd, struct range *r)
{
	static char json[1 << 20];
	int n = 0;
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t len = fread(json, 1, sizeof(json) - 1, p);
	json[len] = '\0';
	CHECK_EQ(pclose(p), 0);
	for (char *o = strchr(json, '{'); o; o = strchr(o + 1, '{')) {
		char *close_ = strchr(o, '}');
		CHECK(close_ != NULL);
		*close_ = '\0';
		long long s = field(o, "\"start\":");
		long long l = field(o, "\"length\":");
		if (strstr(o, "\"data\": true") || strstr(o, "\"data\":true"))
			n = add(r, n, s, s + l);
		*close_ = '}';
	}
	return n;
}

static bool compare(const char *who, const struct range *a, int na,
		    const struct range *b, int nb)
{
	bool same = na == nb;
	for (int i = 0; same && i < na; i++)
		same = a[i].start == b[i].start && a[i].end == b[i].end;
	printf("%s: %d data ranges; qemu-img: %d\n", who, na, nb);
	if (!same)
		for (int i = 0; i < na || i < nb; i++)
			fprintf(stderr,
				"%4d %s %12lld-%-12lld qemu %12lld-%lld\n", i,
				who, i < na ? a[i].start : -1,
				i < na ? a[i].end : -1,
				i < nb ? b[i].start : -1,
				i < nb ? b[i].end : -1);
	return same;
}

int main(void)
{
	mtest_need_peer("qemu-img");
	const long long size = 64ll << 20;
	const char *img = ft_make_file("map.img", size);
	int fd = open(img, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	char *buf = ft_buf(1 << 20);
	memset(buf, 0x42, 1 << 20);
	srand(42);
	for (int i = 0; i < 60; i++) {
		long long len = 4096ll << (rand() % 9);
		long long off = ((long long)rand() % (size / 4096)) * 4096;
		if (off + len > size)
			len = size - off;
		CHECK_EQ(pwrite(fd, buf, (size_t)len, off), len);
	}
	/* Data up to the very end, and a one-block hole before it. */
	CHECK_EQ(pwrite(fd, buf, 8192, size - 8192), 8192);
	CHECK_EQ(fsync(fd), 0);
	close(fd);

	/* Ours. */
	uv_loop_t loop;
	mblk_dev *dev;
	uv_loop_init(&loop);
	CHECK_EQ(mblk_open_sync(&loop, img, MBLK_OPEN_RDONLY, &dev), 0);
	static struct range ours[MAXR], theirs[MAXR];
	int no = 0, nt = 0;
	uint64_t pos = 0, end = (uint64_t)size / 512;
	while (pos < end) {
		uint64_t m, u;
		CHECK_EQ(mblk_seek_mapped_sync(dev, pos, &m), 0);
		if (m >= end)
			break;
		CHECK_EQ(mblk_seek_unmapped_sync(dev, m, &u), 0);
		CHECK(u > m);
		no = add(ours, no, (long long)m * 512, (long long)u * 512);
		pos = u;
	}
	mblk_close_sync(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);

	/* qemu-img's. */
	char cmd[8600];
	snprintf(cmd, sizeof(cmd), "qemu-img map --output=json -f raw '%s'",
		 img);
	nt = json_ranges(cmd, theirs);
	if (!compare("mblk seeks", ours, no, theirs, nt))
		return 1;

	/* The mblk command's `map --json`, when it is built. */
	const char *cli = getenv("MBLK_CLI");
	if (cli != NULL) {
		static struct range cl[MAXR];
		snprintf(cmd, sizeof(cmd), "'%s' map --json '%s'", cli, img);
		int nc = json_ranges(cmd, cl);
		if (!compare("mblk map", cl, nc, theirs, nt))
			return 1;
	}
	free(buf);
	printf("ok\n");
	return 0;
}
