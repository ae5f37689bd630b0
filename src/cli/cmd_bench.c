/* cmd_bench.c - `mblk bench URI`: an in-process load generator.
 *
 * Design notes
 *
 * QD slots, each with its own aligned buffer and iovec, are submitted at
 * once; each completion records its latency, then submits the slot's
 * next request from inside the callback, so QD requests stay in flight
 * until the time is up. Nothing is allocated per I/O: offsets come from
 * a xorshift generator (mapped onto the block count by a 128-bit
 * multiply, not a division) and latencies go into fixed histograms
 * (histogram.h).
 *
 * The clock. Reading it costs ~25 ns here, a tenth of the budget of a
 * ramdisk request, so only some slots are timed: every slot when QD < 8,
 * otherwise one slot in BENCH_TIME_STRIDE. All slots are alike (same
 * generator, same FIFO completion order), so the timed ones are a fair
 * sample of the latency; a timed slot reads the clock once per
 * completion, the end of one request being the start of the next, and
 * is also what notices the deadline, within a few requests of it.
 *
 * A read test never changes a device it did not create: on an existing
 * file or device it reads what is there, as fio does with an existing
 * file of the right size. Filling is opt-in (--fill), or the default only
 * on a ram: device, which the command itself creates (it is empty and
 * gone at exit, and reading never-written sectors of it measures
 * nothing). Filling writes non-zero data into the holes of the range
 * only (found with the core's walker, src/core/walk.h), so data already there stays.
 * --fill does it for a write test too, to measure overwrites rather than
 * first allocations. A test that writes to a device the command did not
 * create says so on stderr before it starts.
 *
 * --ramp S runs the load for S seconds before measuring, as fio's
 * ramp_time does: the first timed completion after the ramp clears the
 * counters and histograms and takes the clock and getrusage again, so
 * the report covers the steady state only (a remote device's first
 * second, with its connections and caches cold, is not in it).
 *
 * The report gives IOPS, MB/s (10^6 bytes), latency percentiles, the CPU
 * time of the process (getrusage) and its peak RSS, so that the memory
 * cost of a sparse device can be read from the same run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "cli.h"
#include "histogram.h"
#include "../common/iobuf.h"
#include "../common/size.h"

static const char bench_help[] =
	"Usage: mblk bench URI --rw MODE --bs SIZE --qd N --time SECONDS\n"
	"                  [--size SIZE] [--rwmixread PCT] [--seed S]\n"
	"                  [--ramp SECONDS] [--fill | --no-fill] [--json]\n"
	"\n"
	"Runs an in-process load on the device (no network, no other\n"
	"process) and prints IOPS, MB/s, latency percentiles, CPU time and\n"
	"peak memory. A read test reads what is there and writes nothing,\n"
	"except on a ram: device (created by the command), whose holes it\n"
	"fills first with non-zero data; --fill does that on any device (data\n"
	"already there is kept). A test that writes to a device the command\n"
	"did not create says so on stderr before it starts.\n"
	"\n"
	"Options:\n"
	"  -w, --rw MODE        randread, randwrite, read, write or randrw\n"
	"  -B, --bs SIZE        request size (default 4K)\n"
	"  -q, --qd N           requests in flight (default 32)\n"
	"  -T, --time SECONDS   how long to run (default 5; fractions allowed)\n"
	"  -s, --size SIZE      bytes of the device to touch, from 0\n"
	"                       (default: the whole device)\n"
	"      --rwmixread PCT  randrw: percentage of reads (default 50)\n"
	"      --ramp SECONDS   run the load this long before measuring, as\n"
	"                       fio's ramp_time (default 0)\n"
	"  -S, --seed S         random seed (default 1)\n"
	"  -F, --fill           write non-zero data into the holes of the range\n"
	"                       first (read tests: something to read; write\n"
	"                       tests: overwrites, not first allocation)\n"
	"      --no-fill        do not fill, even a ram: device\n"
	"                       (--prefill and --no-prefill: older spellings)\n"
	"  -j, --json           print one JSON object\n"
	"  -h, --help           show this help\n"
	"\n"
	"Examples:\n"
	"  mblk bench 'ram:b?size=1G' --rw randread --bs 4k --qd 32 --time 5\n"
	"  mblk bench 'ram:x?size=1T' --rw write --bs 1M --size 100M --time 2\n"
	"  mblk bench disk.img --rw randrw --rwmixread 70 --bs 64k --qd 8 "
	"--json\n";

/* With QD >= 8, one slot in this many reads the clock (see above). */
#define BENCH_TIME_STRIDE 8

/* Prefilling more than this needs an explicit --size. */
#define BENCH_PREFILL_LIMIT (16ull << 30)

enum bench_rw { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };

static const char *const bench_rw_names[] = {
	"read", "write", "randread", "randwrite", "randrw",
};

struct bench;

struct bench_slot {
	struct bench *b;
	struct iovec iov;
	uint64_t start_ns;
	bool is_read;
	bool timed; /* reads the clock: latency sample and deadline */
};

struct bench_stats {
	uint64_t ops, bytes;
	struct histogram lat;
};

struct bench {
	mblk_dev *dev;
	enum bench_rw rw;
	uint64_t bs_sectors; /* request size in sectors */
	uint64_t nblocks;    /* requests that fit in the range */
	uint64_t seq_next;   /* next block for read / write */
	uint64_t rng;
	unsigned mixread; /* percent */
	uint64_t deadline_ns;
	uint64_t ramp_end_ns; /* 0: no ramp, or it is over */
	uint64_t t0;          /* start of the measured window */
	struct rusage ru0;
	bool stopping;
	int inflight;
	int error;
	char msg[512];
	struct bench_stats rd, wr;
};

static inline uint64_t bench_rand(struct bench *b)
{
	uint64_t x = b->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void bench_cb(void *data, int status, const char *error);

/* Submits the slot's next request; start_ns is already set. */
static int bench_submit(struct bench *b, struct bench_slot *s)
{
	uint64_t block;
	bool is_read;
	switch (b->rw) {
	case RW_READ:
	case RW_WRITE:
		block = b->seq_next++;
		if (b->seq_next == b->nblocks)
			b->seq_next = 0;
		is_read = b->rw == RW_READ;
		break;
	default:
		block = (uint64_t)(((unsigned __int128)bench_rand(b) *
				    b->nblocks) >>
				   64);
		is_read =
			b->rw == RW_RANDREAD ||
			(b->rw == RW_RANDRW &&
			 (unsigned)(((unsigned __int128)bench_rand(b) * 100) >>
				    64) < b->mixread);
		break;
	}
	s->is_read = is_read;
	uint64_t sector = block * b->bs_sectors;
	if (is_read)
		return mblk_read(b->dev, sector, &s->iov, 1, bench_cb, s);
	return mblk_write(b->dev, sector, &s->iov, 1, 0, bench_cb, s);
}

/* The ramp is over: what was counted so far is forgotten. */
static void bench_ramp_over(struct bench *b, uint64_t now)
{
	b->ramp_end_ns = 0;
	b->t0 = now;
	getrusage(RUSAGE_SELF, &b->ru0);
	memset(&b->rd, 0, sizeof(b->rd));
	memset(&b->wr, 0, sizeof(b->wr));
}

static void bench_cb(void *data, int status, const char *error)
{
	struct bench_slot *s = data;
	struct bench *b = s->b;
	struct bench_stats *st = s->is_read ? &b->rd : &b->wr;
	if (status < 0) {
		if (b->error == 0) {
			b->error = status;
			snprintf(b->msg, sizeof(b->msg), "%s", error);
		}
		b->stopping = true;
	} else {
		st->ops++;
		st->bytes += s->iov.iov_len;
	}
	if (s->timed) {
		uint64_t now = uv_hrtime();
		if (status >= 0)
			hist_record(&st->lat, now - s->start_ns);
		s->start_ns = now;
		if (b->ramp_end_ns != 0 && now >= b->ramp_end_ns)
			bench_ramp_over(b, now);
		if (now >= b->deadline_ns)
			b->stopping = true;
	}
	if (b->stopping) {
		b->inflight--;
		return;
	}
	int r = bench_submit(b, s);
	if (r < 0) {
		if (b->error == 0) {
			b->error = r;
			snprintf(b->msg, sizeof(b->msg), "cannot submit: %s",
				 mblk_strerror(r));
		}
		b->stopping = true;
		b->inflight--;
	}
}

/* Prefill: sequential writes of chunk bytes of pattern, 4 in flight. */
struct prefill;

struct prefill_slot {
	struct prefill *p;
	struct iovec iov;
};

struct prefill {
	mblk_dev *dev;
	uint64_t next, end, chunk; /* bytes */
	uint32_t ss;
	int inflight;
	int error;
	char msg[512];
	struct prefill_slot slot[4];
};

static void prefill_cb(void *data, int status, const char *error);

static void prefill_next(struct prefill_slot *s)
{
	struct prefill *p = s->p;
	if (p->error != 0 || p->next >= p->end)
		return;
	uint64_t len = p->end - p->next < p->chunk ? p->end - p->next
						   : p->chunk;
	s->iov.iov_len = len;
	int r = mblk_write(p->dev, p->next / p->ss, &s->iov, 1, 0, prefill_cb,
			   s);
	if (r < 0) {
		p->error = r;
		snprintf(p->msg, sizeof(p->msg), "cannot submit: %s",
			 mblk_strerror(r));
		return;
	}
	p->next += len;
	p->inflight++;
}

static void prefill_cb(void *data, int status, const char *error)
{
	struct prefill_slot *s = data;
	struct prefill *p = s->p;
	p->inflight--;
	if (status < 0 && p->error == 0) {
		p->error = status;
		snprintf(p->msg, sizeof(p->msg), "%s", error);
	}
	prefill_next(s);
}

/* Writes pattern over the bytes [start, end), chunk at a time. */
static int prefill_range(uv_loop_t *loop, mblk_dev *dev, uint32_t ss,
			 uint64_t start, uint64_t end, uint64_t chunk,
			 void *pattern, char *msg, size_t msglen)
{
	struct prefill p = { .dev = dev,
			     .next = start,
			     .end = end,
			     .chunk = chunk,
			     .ss = ss };
	for (int i = 0; i < 4; i++) {
		p.slot[i].p = &p;
		p.slot[i].iov.iov_base = pattern;
		prefill_next(&p.slot[i]);
	}
	while (p.inflight > 0)
		uv_run(loop, UV_RUN_ONCE);
	if (p.error != 0)
		snprintf(msg, msglen, "%s", p.msg);
	return p.error;
}

/* Fills the holes of [0, end) with pattern and adds the bytes written to
 * *filled. Data already there is kept. A device that cannot tell holes
 * reports none, so nothing is written to it. */
static int bench_prefill(uv_loop_t *loop, mblk_dev *dev, uint32_t ss,
			 uint64_t end, uint64_t chunk, void *pattern,
			 uint64_t *filled, char *msg, size_t msglen)
{
	struct mblk__walk w;
	mblk__walk_init(&w, dev, 0, end / ss, 1);
	for (;;) {
		struct mblk_extent e;
		int r = cli_walk_sync(&w, loop, &e);
		if (r < 0) {
			snprintf(msg, msglen, "%s", mblk_last_error());
			return r;
		}
		if (e.count == 0)
			break;
		if (!(e.flags & MBLK_EXTENT_HOLE))
			continue;
		r = prefill_range(loop, dev, ss, e.sector * ss,
				  (e.sector + e.count) * ss, chunk, pattern,
				  msg, msglen);
		if (r < 0)
			return r;
		*filled += e.count * ss;
	}
	return 0;
}

static void bench_print_lat(const struct bench_stats *st, bool json)
{
	static const double qs[] = { 0.50, 0.90, 0.99, 0.999 };
	static const char *const names[] = { "p50", "p90", "p99", "p99.9" };
	for (int i = 0; i < 4; i++) {
		uint64_t v = hist_quantile(&st->lat, qs[i]);
		if (json)
			printf("\"%s\":%" PRIu64 ",", names[i], v);
		else
			printf(" %s %.1f", names[i], (double)v / 1000.0);
	}
	if (json)
		printf("\"max\":%" PRIu64 ",\"mean\":%.0f", st->lat.max,
		       st->lat.count
			       ? (double)st->lat.sum / (double)st->lat.count
			       : 0.0);
	else
		printf(" max %.1f", (double)st->lat.max / 1000.0);
}

static void bench_print_stats(const char *what, const struct bench_stats *st,
			      double secs, bool json)
{
	double iops = (double)st->ops / secs;
	double mbps = (double)st->bytes / secs / 1e6;
	if (json) {
		printf("\"%s\":{\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"iops\":%.0f,\"mb_per_s\":%.1f,\"lat_ns\":{",
		       what, st->ops, st->bytes, iops, mbps);
		bench_print_lat(st, true);
		printf("}}");
	} else {
		printf("%-6s %10.0f IOPS %10.1f MB/s  latency us:", what, iops,
		       mbps);
		bench_print_lat(st, false);
		printf("\n");
	}
}

static double bench_tv(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int cmd_bench(int argc, char **argv)
{
	enum { OPT_MIX = 256, OPT_RAMP };
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'w' },
		{ "bs", required_argument, NULL, 'B' },
		{ "qd", required_argument, NULL, 'q' },
		{ "time", required_argument, NULL, 'T' },
		{ "size", required_argument, NULL, 's' },
		{ "rwmixread", required_argument, NULL, OPT_MIX },
		{ "ramp", required_argument, NULL, OPT_RAMP },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-fill", no_argument, NULL, 'n' },
		{ "fill", no_argument, NULL, 'F' },
		{ "no-prefill", no_argument, NULL, 'n' },
		{ "prefill", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rw = -1;
	uint64_t bs = 4096, qd = 32, size = 0, mix = 50, seed = 1;
	double secs = 5, ramp = 0;
	bool json = false, prefill = true, have_size = false;
	bool no_fill = false, mix_given = false, seed_given = false;
	bool force_prefill = false;
	uint64_t filled = 0; /* bytes the prefill wrote */
	int c;
	while ((c = getopt_long(argc, argv, ":w:B:q:T:s:S:Fjh", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'w':
			for (int i = 0; i < 5; i++)
				if (strcmp(optarg, bench_rw_names[i]) == 0)
					rw = i;
			if (rw < 0)
				return cli_usage("bench",
						 "--rw takes read, "
						 "write, randread, "
						 "randwrite or randrw, "
						 "not '%s'",
						 optarg);
			break;
		case 'B':
			if (cli_parse_size("bench", "--bs", optarg, &bs) < 0)
				return CLI_USAGE;
			if (bs == 0 || bs > (1u << 30))
				return cli_usage("bench",
						 "--bs must be from 1 "
						 "byte to 1G, not %s",
						 optarg);
			break;
		case 'q':
			if (cli_parse_uint("bench", "--qd", optarg, 1, 4096,
					   &qd) < 0)
				return CLI_USAGE;
			break;
		case 'T':
			if (cli_parse_seconds("bench", "--time", optarg, false,
					      &secs) < 0)
				return CLI_USAGE;
			break;
		case OPT_RAMP:
			if (cli_parse_seconds("bench", "--ramp", optarg, true,
					      &ramp) < 0)
				return CLI_USAGE;
			break;
		case 's':
			if (cli_parse_size("bench", "--size", optarg, &size) <
			    0)
				return CLI_USAGE;
			have_size = true;
			break;
		case OPT_MIX:
			if (cli_parse_uint("bench", "--rwmixread", optarg, 0,
					   100, &mix) < 0)
				return CLI_USAGE;
			mix_given = true;
			break;
		case 'S':
			if (cli_parse_uint("bench", "--seed", optarg, 0,
					   UINT64_MAX, &seed) < 0)
				return CLI_USAGE;
			seed_given = true;
			break;
		case 'n': no_fill = true; break;
		case 'F': force_prefill = true; break;
		case 'j': json = true; break;
		case 'h': fputs(bench_help, stdout); return CLI_OK;
		default: return cli_bad_option("bench", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("bench",
				 "expected one device URI, got %d "
				 "arguments",
				 argc - optind);
	if (rw < 0)
		return cli_usage("bench", "--rw is required");
	const char *uri = argv[optind];
	bool reads = rw == RW_READ || rw == RW_RANDREAD || rw == RW_RANDRW;
	bool writes = rw != RW_READ && rw != RW_RANDREAD;
	if (mix_given && rw != RW_RANDRW)
		return cli_usage("bench", "--rwmixread needs --rw randrw");
	if (seed_given && (rw == RW_READ || rw == RW_WRITE))
		return cli_usage("bench", "--seed needs a random test (--rw "
					  "randread, randwrite or randrw)");
	if (force_prefill && no_fill)
		return cli_usage("bench", "--fill and --no-fill "
					  "contradict each other");
	/* Only a ram: device is the command's own (new, gone at exit). */
	bool own = strncasecmp(uri, "ram:", 4) == 0;
	/* From here on, prefill says whether this run lays data out. */
	prefill = force_prefill || (reads && own && !no_fill);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct bench *b = calloc(1, sizeof(*b));
	struct bench_slot *slots = calloc((size_t)qd, sizeof(*slots));
	char *bufs = NULL, *pattern = NULL;
	int rc = CLI_FAIL;
	if (b == NULL || slots == NULL) {
		cli_fail("bench", "no memory for %" PRIu64 " request slots",
			 qd);
		goto out;
	}
	if (cli_open("bench", &loop, uri,
		     (writes || prefill) ? 0 : MBLK_OPEN_RDONLY, &b->dev) < 0)
		goto out;
	struct mblk_info inf;
	mblk_get_info(b->dev, &inf);
	uint64_t devbytes = inf.size_sectors * inf.sector_size;
	const char *name = mblk_dev_name(b->dev);
	if (!have_size)
		size = devbytes;
	if (size > devbytes) {
		cli_fail("bench",
			 "--size %" PRIu64 " is larger than '%s' (%" PRIu64
			 " bytes)",
			 size, name, devbytes);
		goto out;
	}
	if (bs % inf.sector_size != 0 ||
	    (inf.buf_align > 1 && bs % inf.buf_align != 0)) {
		cli_fail("bench",
			 "--bs %" PRIu64 " is not a multiple of the "
			 "sector size (%" PRIu32 ") and buffer alignment "
			 "(%" PRIu32 ") of '%s'",
			 bs, inf.sector_size, inf.buf_align, name);
		goto out;
	}
	if (inf.max_io && bs > inf.max_io) {
		cli_fail("bench",
			 "--bs %" PRIu64 " is larger than the %" PRIu32
			 " bytes '%s' accepts in one request",
			 bs, inf.max_io, name);
		goto out;
	}
	if ((writes || prefill) && !inf.read_write) {
		cli_fail("bench",
			 "'%s' is read-only; use a read test without "
			 "--fill",
			 name);
		goto out;
	}
	b->nblocks = size / bs;
	if (b->nblocks == 0) {
		cli_fail("bench",
			 "the range of %" PRIu64 " bytes holds no "
			 "request of %" PRIu64 " bytes",
			 size, bs);
		goto out;
	}
	uint64_t range = b->nblocks * bs;
	if (prefill && !have_size && range > BENCH_PREFILL_LIMIT) {
		char h[32];
		cli_fail("bench",
			 "filling writes the whole range first, and '%s' "
			 "is %s; limit the range with --size or skip the "
			 "fill with --no-fill",
			 name, mblk__human_size(range, h, sizeof(h)));
		goto out;
	}

	size_t align = inf.buf_align > 4096 ? inf.buf_align : 4096;
	size_t slot_bytes;
	bufs = mblk__iobuf_alloc_array((size_t)qd, (size_t)bs, align,
				       &slot_bytes);
	if (bufs == NULL) {
		cli_fail("bench",
			 "no memory for %" PRIu64 " buffers of %" PRIu64
			 " bytes",
			 qd, bs);
		goto out;
	}
	/* Non-zero data everywhere: a sparse device must store it. */
	for (size_t i = 0; i < slot_bytes * (size_t)qd; i++)
		bufs[i] = (char)(0xa5 ^ (i * 31 >> 3));

	if ((writes || prefill) && !own) {
		char h[32];
		fprintf(stderr,
			"mblk bench: note: this test writes to '%s': %s%s "
			"over its first %s\n",
			name, prefill ? "data into the holes" : "",
			writes ? (prefill ? ", then the load" : "the load")
			       : "",
			mblk__human_size(range, h, sizeof(h)));
	}
	if (prefill) {
		uint64_t chunk = 1u << 20;
		if (chunk < bs)
			chunk = bs;
		if (inf.max_io && chunk > inf.max_io)
			chunk = inf.max_io / bs * bs;
		pattern = mblk__iobuf_alloc((size_t)chunk, align);
		if (pattern == NULL) {
			cli_fail("bench", "no memory for the prefill buffer");
			goto out;
		}
		for (size_t i = 0; i < chunk; i++)
			pattern[i] = (char)(0x5a ^ (i * 7 >> 2) ^ 1);
		int r = bench_prefill(&loop, b->dev, inf.sector_size, range,
				      chunk, pattern, &filled, b->msg,
				      sizeof(b->msg));
		if (r < 0) {
			cli_fail("bench", "prefill failed: %s", b->msg);
			goto out;
		}
	}

	b->rw = (enum bench_rw)rw;
	b->bs_sectors = bs / inf.sector_size;
	b->mixread = (unsigned)mix;
	b->rng = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
	if (b->rng == 0)
		b->rng = 1;

	struct rusage ru1;
	getrusage(RUSAGE_SELF, &b->ru0);
	uint64_t t0 = uv_hrtime();
	b->t0 = t0;
	b->ramp_end_ns = ramp > 0 ? t0 + (uint64_t)(ramp * 1e9) : 0;
	b->deadline_ns = t0 + (uint64_t)((ramp + secs) * 1e9);
	for (uint64_t i = 0; i < qd; i++) {
		struct bench_slot *s = &slots[i];
		s->b = b;
		s->iov.iov_base = bufs + slot_bytes * i;
		s->iov.iov_len = (size_t)bs;
		s->start_ns = t0;
		s->timed = qd < 8 || i % BENCH_TIME_STRIDE == 0;
		int r = bench_submit(b, s);
		if (r < 0) {
			b->error = r;
			snprintf(b->msg, sizeof(b->msg), "cannot submit: %s",
				 mblk_strerror(r));
			b->stopping = true;
			break;
		}
		b->inflight++;
	}
	while (b->inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	uint64_t t1 = uv_hrtime();
	getrusage(RUSAGE_SELF, &ru1);
	if (b->error != 0) {
		cli_fail("bench", "%s", b->msg);
		goto out;
	}

	struct rusage ru0 = b->ru0;
	double el = (double)(t1 - b->t0) / 1e9;
	uint64_t timed_slots =
		qd < 8 ? qd : (qd + BENCH_TIME_STRIDE - 1) / BENCH_TIME_STRIDE;
	double user = bench_tv(ru1.ru_utime) - bench_tv(ru0.ru_utime);
	double sys = bench_tv(ru1.ru_stime) - bench_tv(ru0.ru_stime);
	uint64_t ops = b->rd.ops + b->wr.ops;
	uint64_t bytes = b->rd.bytes + b->wr.bytes;
	long maxrss_kib = ru1.ru_maxrss;
	uint64_t alloc = 0;
	bool have_alloc = mblk_get_allocated(b->dev, &alloc) == 0;
	if (json) {
		printf("{\"device\":");
		cli_json_string(stdout, name);
		printf(",\"rw\":\"%s\",\"bs\":%" PRIu64 ",\"qd\":%" PRIu64
		       ",\"range\":%" PRIu64
		       ",\"prefill\":%s,\"ramp_s\":%.3f,\"seconds\":%.3f"
		       ",\"prefill_bytes\":%" PRIu64 ",\"timed_slots\":%" PRIu64
		       ",\"ops\":%" PRIu64 ",\"iops\":%.0f,\"mb_per_s\":%.1f,",
		       bench_rw_names[rw], bs, qd, range,
		       prefill ? "true" : "false", ramp, el, filled,
		       timed_slots, ops, (double)ops / el,
		       (double)bytes / el / 1e6);
		if (b->rd.ops || reads) {
			bench_print_stats("read", &b->rd, el, true);
			printf(",");
		}
		if (b->wr.ops || writes) {
			bench_print_stats("write", &b->wr, el, true);
			printf(",");
		}
		printf("\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
		       "\"cpu_percent\":%.1f,\"max_rss_kib\":%ld,"
		       "\"allocated\":",
		       user, sys, 100.0 * (user + sys) / el, maxrss_kib);
		if (have_alloc)
			printf("%" PRIu64, alloc);
		else
			printf("null");
		printf("}\n");
	} else {
		char h[32], f[32];
		printf("%s: %s, bs %" PRIu64 ", qd %" PRIu64 ", %.2f s over %s",
		       name, bench_rw_names[rw], bs, qd, el,
		       mblk__human_size(range, h, sizeof(h)));
		if (prefill)
			printf(" (holes filled first: %s)",
			       mblk__human_size(filled, f, sizeof(f)));
		printf("\n");
		if (b->rd.ops || reads)
			bench_print_stats("read", &b->rd, el, false);
		if (b->wr.ops || writes)
			bench_print_stats("write", &b->wr, el, false);
		printf("total  %10.0f IOPS %10.1f MB/s\n", (double)ops / el,
		       (double)bytes / el / 1e6);
		printf("cpu    user %.2f s, sys %.2f s (%.0f%% of one core); "
		       "max RSS %.1f MiB",
		       user, sys, 100.0 * (user + sys) / el,
		       (double)maxrss_kib / 1024.0);
		if (have_alloc)
			printf("; device holds %s",
			       mblk__human_size(alloc, h, sizeof(h)));
		printf("\n");
	}
	rc = CLI_OK;
out:
	if (b != NULL)
		cli_close(&loop, b->dev);
	free(bufs);
	free(pattern);
	free(slots);
	free(b);
	uv_loop_close(&loop);
	return rc;
}
