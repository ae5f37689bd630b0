/* test-mirror-sector-sizes.c - a mirror between devices whose sector
 * sizes differ by 128x (512 bytes and 64 KiB), both ways, with data in the
 * middle of a large sector.
 *
 * The mirror's sector is the larger one, so every answer of the primary's
 * seeks in small sectors must be rounded to large ones: data rounded
 * outward (down), holes inward. Getting it backwards skips the data that
 * sits inside a large sector but not at its start. Layout, in 64 KiB
 * units of a 4 MiB device (every other byte a hole):
 *
 *   5   512 bytes at +30 KiB (the middle)
 *   9   the last 512 bytes
 *   20  the first 512 bytes
 *   30-31  1.5 KiB straddling the boundary
 *
 * Checked, with the secondary full of junk and fresh (zeros), both sector
 * size orders: the copy completes byte-exact (nothing skipped, holes
 * zeroed); on the mirror, for every start sector, seek_mapped never
 * answers past the first data at or after it, and whatever seek_unmapped
 * answers reads as zeros; a write through the mirror after sync lands on
 * both devices at the scaled place.
 */
#include "harness.h"
#include "mtest.h"

static uv_loop_t loop;

#define BYTES (4u << 20)
#define BIG 65536u

static const struct {
	uint64_t off, len;
} data[] = {
	{ 5 * BIG + 30720, 512 },
	{ 9 * BIG + BIG - 512, 512 },
	{ 20 * BIG, 512 },
	{ 30 * BIG + BIG - 512, 1536 },
};
#define NDATA (sizeof(data) / sizeof(data[0]))

/* The first 64 KiB unit at or after `from` holding data, or the end. */
static uint64_t next_data(uint64_t from)
{
	uint64_t best = BYTES / BIG;
	for (size_t i = 0; i < NDATA; i++) {
		uint64_t first = data[i].off / BIG,
			 last = (data[i].off + data[i].len - 1) / BIG;
		for (uint64_t u = first; u <= last; u++)
			if (u >= from && u < best)
				best = u;
	}
	return best;
}

static void one(uint32_t pss, uint32_t sss, bool junk)
{
	char what[100];
	snprintf(what, sizeof(what), "primary %u, secondary %u (%s)", pss, sss,
		 junk ? "junk" : "zeros");
	mblk_dev *p = ram(&loop, BYTES, pss), *s = ram(&loop, BYTES, sss);
	uint64_t seed = 99;
	if (junk)
		fill_pattern(s, &seed, 100);
	char buf[2048];
	for (size_t i = 0; i < NDATA; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)(i * 31 + k * 7 + 1) | 1;
		/* With 64 KiB primary sectors, write the whole sector the
		 * bytes are in (the rest of it zeros): same data layout. */
		uint64_t off = data[i].off, len = data[i].len;
		if (pss == BIG) {
			uint64_t first = off / BIG,
				 last = (off + len - 1) / BIG;
			char *big = calloc(1, (last - first + 1) * BIG);
			memcpy(big + (off - first * BIG), buf, len);
			struct iovec iov = { big, (last - first + 1) * BIG };
			CHECK_EQ(mblk_write_sync(p, first, &iov, 1, 0), 0);
			free(big);
		} else {
			struct iovec iov = { buf, len };
			CHECK_EQ(mblk_write_sync(p, off / pss, &iov, 1, 0), 0);
		}
	}
	struct events ev;
	memset(&ev, 0, sizeof(ev));
	struct mblk_mirror_opts o = { .chunk_bytes = BIG,
				      .buffer_bytes = 1u << 20 };
	mblk_dev *m;
	CHECK(mblk_mirror_open(p, s, &o, record_event, &ev, &m) == 0,
	      "mirror open: %s", mblk_last_error());
	run_until(&loop, &ev.done, 20000, "the copy");
	CHECK(ev.complete == 1 && ev.failed == 0, "%s: complete %d: %s", what,
	      ev.complete, ev.msg);
	CHECK(same_contents(p, s), "%s: after the copy", what);

	struct mblk_info mi;
	mblk_get_info(m, &mi);
	CHECK_EQ(mi.sector_size, BIG);
	CHECK_EQ(mi.size_sectors, BYTES / BIG);
	char *z = malloc(BIG);
	for (uint64_t from = 0; from <= mi.size_sectors; from++) {
		uint64_t got;
		CHECK_EQ(mblk_seek_mapped_sync(m, from, &got), 0);
		uint64_t want = next_data(from);
		CHECK(got >= from && got <= want,
		      "%s: seek_mapped(%llu) = %llu, but sector %llu holds "
		      "data",
		      what, (unsigned long long)from, (unsigned long long)got,
		      (unsigned long long)want);
		CHECK_EQ(mblk_seek_unmapped_sync(m, from, &got), 0);
		CHECK(got >= from && got <= mi.size_sectors,
		      "%s: seek_unmapped(%llu) = %llu", what,
		      (unsigned long long)from, (unsigned long long)got);
		if (got == mi.size_sectors)
			continue;
		struct iovec iov = { z, BIG };
		CHECK_EQ(mblk_read_sync(m, got, &iov, 1), 0);
		for (uint32_t k = 0; k < BIG; k++)
			CHECK(z[k] == 0,
			      "%s: seek_unmapped(%llu) = %llu, whose byte %u "
			      "is not zero",
			      what, (unsigned long long)from,
			      (unsigned long long)got, k);
	}
	/* After sync, a write through the mirror reaches both. */
	memset(z, 0x3c, BIG);
	struct iovec wi = { z, BIG };
	CHECK_EQ(mblk_write_sync(m, 7, &wi, 1, 0), 0);
	CHECK(same_contents(p, s), "%s: after a write in sync", what);
	free(z);
	close_dev(&loop, m);
	printf("ok %s\n", what);
}

int main(void)
{
	mtest_watchdog(10, "the mirror sector-size test");
	uv_loop_init(&loop);
	one(512, BIG, true);
	one(512, BIG, false);
	one(BIG, 512, true);
	one(BIG, 512, false);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return 0;
}
