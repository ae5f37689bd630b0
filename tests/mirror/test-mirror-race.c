/* test-mirror-race.c - the mirror under concurrent load.
 *
 * For each seed: random geometry (sector sizes 512/4096 both ways, a
 * size that is rarely a multiple of the chunk, small chunks and buffers
 * so that many copy operations run), random delays injected on both
 * sides by fault devices (changed half-way), and a client keeping up to
 * 16 random writes, discards, write_zeroes, reads and flushes in flight,
 * spanning chunk edges and overlapping each other, while the copy runs.
 * At the end the mirror must report Complete and the secondary must equal
 * the primary; then a second burst runs in sync and they must still be
 * equal. One seed in four also injects I/O errors on both sides during
 * the first burst (the mirror retries); once they stop it must sync. One
 * in three starts in active mode, one in five copies in pieces of one
 * mirror sector.
 *
 * Then a client writing flat out against a slow secondary: the mirror
 * must switch to active mode by itself and finish.
 *
 *   test-mirror-race [--seeds N] [--seed S] [--no-flat-out]
 */
#include "harness.h"

static uv_loop_t loop;
/* Over all seeds: retried copy failures, switches to active mode. */
static unsigned long total_errors, total_active;

#define SLOTS 16
#define SLOT_BYTES (64 * 1024)

struct client {
	mblk_dev *m;
	uint64_t rng;
	uint64_t nsec; /* mirror sectors */
	uint32_t ss;
	uint64_t max_len; /* sectors */
	int issued, completed, total, inflight, qd;
	bool flat_out; /* keep going until told to stop */
	bool stop;
	char *buf[SLOTS];
	struct iovec iov[SLOTS];
	bool busy[SLOTS];
	struct client_slot {
		struct client *c;
		int i;
	} slot[SLOTS];
	int failures;
	char msg[400];
};

static void client_issue(struct client *c);

static void client_done(void *data, int status, const char *error)
{
	struct client_slot *s = data;
	struct client *c = s->c;
	c->busy[s->i] = false;
	c->inflight--;
	c->completed++;
	if (status < 0) {
		c->failures++;
		snprintf(c->msg, sizeof(c->msg), "%s", error);
	}
	client_issue(c);
}

static void client_issue(struct client *c)
{
	while (c->inflight < c->qd && !c->stop &&
	       (c->flat_out || c->issued < c->total)) {
		int i = 0;
		while (c->busy[i])
			i++;
		uint64_t start = rng_below(&c->rng, c->nsec);
		uint64_t len = 1 + rng_below(&c->rng, c->max_len);
		if (len > c->nsec - start)
			len = c->nsec - start;
		unsigned kind = (unsigned)rng_below(&c->rng, 100);
		if (c->flat_out)
			kind = 0;
		int r;
		c->busy[i] = true;
		c->inflight++;
		c->issued++;
		c->iov[i].iov_base = c->buf[i];
		c->iov[i].iov_len = len * c->ss;
		if (kind < 55) {
			for (size_t k = 0; k < len * c->ss; k += 8) {
				uint64_t v = rng_next(&c->rng);
				memcpy(c->buf[i] + k, &v, 8);
			}
			r = mblk_write(c->m, start, &c->iov[i], 1, 0,
				       client_done, &c->slot[i]);
		} else if (kind < 70) {
			r = mblk_discard(c->m, start, len, client_done,
					 &c->slot[i]);
		} else if (kind < 85) {
			r = mblk_write_zeroes(c->m, start, len,
					      kind & 1 ? MBLK_ZEROES_NO_HOLE
						       : 0,
					      client_done, &c->slot[i]);
		} else if (kind < 95) {
			r = mblk_read(c->m, start, &c->iov[i], 1, client_done,
				      &c->slot[i]);
		} else {
			r = mblk_flush(c->m, client_done, &c->slot[i]);
		}
		CHECK(r == 0, "submit: %s", mblk_last_error());
	}
}

static void client_init(struct client *c, mblk_dev *m, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->rng = seed * 2654435761u + 1;
	struct mblk_info in;
	mblk_get_info(m, &in);
	c->nsec = in.size_sectors;
	c->ss = in.sector_size;
	for (int i = 0; i < SLOTS; i++) {
		c->buf[i] = malloc(SLOT_BYTES);
		c->slot[i].c = c;
		c->slot[i].i = i;
	}
}

static void client_free(struct client *c)
{
	for (int i = 0; i < SLOTS; i++)
		free(c->buf[i]);
}

/* Sets 0-2 random delay rules on f and, with fail_ops, a rule failing
 * every Nth request of those operations with EIO. */
static void random_rules(mblk_dev *f, uint64_t *rng, unsigned fail_ops)
{
	struct mblk_fault_rule r[3];
	int n = (int)rng_below(rng, 3);
	for (int i = 0; i < n; i++) {
		r[i] = (struct mblk_fault_rule){
			.ops = (unsigned)(1 + rng_below(rng, MBLK_FAULT_ANY)),
			.every = 1 + rng_below(rng, 4),
			.delay_us = rng_below(rng, 2500),
		};
	}
	if (fail_ops)
		r[n++] = (struct mblk_fault_rule){
			.ops = fail_ops,
			.error = EIO,
			.every = 5 + rng_below(rng, 20),
		};
	CHECK_EQ(mblk_fault_set_rules(f, r, n), 0);
}

static void random_delays(mblk_dev *f, uint64_t *rng)
{
	random_rules(f, rng, 0);
}

/* Runs the loop until the mirror is in sync (and flushed). */
static void wait_synced(mblk_dev *m, uint64_t seed)
{
	uint64_t deadline = uv_hrtime() + 60000000000ull;
	for (;;) {
		struct mblk_mirror_progress p;
		CHECK_EQ(mblk_mirror_get_progress(m, &p), 0);
		if (p.state == MBLK_MIRROR_SYNCED)
			return;
		CHECK(p.state == MBLK_MIRROR_COPYING, "seed %llu: state %d: %s",
		      (unsigned long long)seed, (int)p.state,
		      p.error_msg ? p.error_msg : "");
		CHECK(uv_hrtime() < deadline, "seed %llu: no sync in 60 s",
		      (unsigned long long)seed);
		uv_run(&loop, UV_RUN_ONCE);
	}
}

static void one_seed(uint64_t seed)
{
	uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 12345;
	uint32_t pss = rng_below(&rng, 2) ? 4096 : 512;
	uint32_t sss = rng_below(&rng, 2) ? 4096 : 512;
	uint32_t ss = pss > sss ? pss : sss;
	uint64_t chunk = 4096u << rng_below(&rng, 3);
	if (chunk < ss)
		chunk = ss;
	uint64_t nsec = 1 + rng_below(&rng, (2u << 20) / ss / 4);
	uint64_t bytes = nsec * ss;
	struct mblk_mirror_opts o = {
		.chunk_bytes = chunk,
		.buffer_bytes = chunk * (1 + rng_below(&rng, 4)) *
				(1 + rng_below(&rng, 4)),
	};
	/* One seed in three starts in active mode: dual writes, and the
	 * primary only for chunks the copy has not reached. */
	o.active = seed % 3 == 1;
	/* One seed in five writes the secondary one mirror sector at a
	 * time (copy_write_bytes): many pieces of one extent in flight. */
	if (seed % 5 == 2)
		o.copy_write_bytes = ss;
	bool fresh = rng_below(&rng, 2);
	o.secondary_is_zero = fresh && rng_below(&rng, 2);
	/* One seed in four also injects I/O errors while the client runs:
	 * secondary writes/zeroes/flushes, and primary reads and writes
	 * (the client sees those). The mirror retries; once the errors
	 * stop it must sync and be exact. */
	bool inject = seed % 4 == 3;
	if (inject) {
		o.on_error = MBLK_MIRROR_RETRY;
		o.retries = 1000000;
	}
	unsigned sfail = inject ? MBLK_FAULT_WRITE | MBLK_FAULT_WRITE_ZEROES |
					  MBLK_FAULT_DISCARD | MBLK_FAULT_FLUSH
				: 0;
	unsigned pfail = inject ? MBLK_FAULT_READ | MBLK_FAULT_WRITE : 0;

	mblk_dev *pr = ram(&loop, bytes, pss), *sr = ram(&loop, bytes, sss);
	fill_pattern(pr, &rng, (unsigned)rng_below(&rng, 100));
	if (!fresh)
		fill_pattern(sr, &rng, 100);
	mblk_dev *pf, *sf, *m;
	CHECK_EQ(mblk_fault_wrap(pr, NULL, 0, &pf), 0);
	CHECK_EQ(mblk_fault_wrap(sr, NULL, 0, &sf), 0);
	random_rules(pf, &rng, pfail);
	random_rules(sf, &rng, sfail);
	struct events ev = { 0 };
	int r = mblk_mirror_open(pf, sf, &o, record_event, &ev, &m);
	CHECK(r == 0, "seed %llu: open: %s", (unsigned long long)seed,
	      mblk_last_error());

	struct client c;
	client_init(&c, m, seed);
	c.qd = 1 + (int)rng_below(&rng, SLOTS);
	c.max_len = (3 * chunk) / ss;
	if (c.max_len * ss > SLOT_BYTES)
		c.max_len = SLOT_BYTES / ss;
	c.total = 60 + (int)rng_below(&rng, 200);
	client_issue(&c);
	bool changed = false;
	while (c.completed < c.total) {
		uv_run(&loop, UV_RUN_ONCE);
		if (!changed && c.completed >= c.total / 2) {
			changed = true;
			random_rules(pf, &rng, pfail);
			random_rules(sf, &rng, sfail);
		}
	}
	if (inject) {
		CHECK(c.failures == 0 || strstr(c.msg, "injected") != NULL,
		      "seed %llu: %s", (unsigned long long)seed, c.msg);
		random_delays(pf, &rng);
		random_delays(sf, &rng);
		c.failures = 0;
	}
	CHECK(c.failures == 0, "seed %llu: %d failures: %s",
	      (unsigned long long)seed, c.failures, c.msg);
	run_until(&loop, &ev.done, 60000, "the mirror to finish");
	wait_synced(m, seed);
	total_errors += (unsigned long)ev.errors;
	total_active += (unsigned long)ev.active;
	CHECK(ev.complete >= 1 && ev.failed == 0,
	      "seed %llu: complete %d failed %d %s", (unsigned long long)seed,
	      ev.complete, ev.failed, ev.msg);
	CHECK(!ev.percent_regressed, "seed %llu: percent went down",
	      (unsigned long long)seed);
	if (!same_contents(pr, sr)) {
		fprintf(stderr,
			"seed %llu: p %u s %u chunk %llu bytes %llu buffer "
			"%llu fresh %d zero-hint %d qd %d ops %d active %d "
			"start-active %d\n",
			(unsigned long long)seed, pss, sss,
			(unsigned long long)chunk, (unsigned long long)bytes,
			(unsigned long long)o.buffer_bytes, fresh,
			o.secondary_is_zero, c.qd, c.total, ev.active,
			o.active);
		exit(1);
	}

	/* In sync: another burst, everything dual. */
	c.total += 40;
	client_issue(&c);
	while (c.completed < c.total)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(c.failures == 0, "seed %llu: %s", (unsigned long long)seed,
	      c.msg);
	struct mblk_mirror_progress p;
	CHECK_EQ(mblk_mirror_get_progress(m, &p), 0);
	CHECK(p.state == MBLK_MIRROR_SYNCED, "seed %llu: state %d",
	      (unsigned long long)seed, (int)p.state);
	CHECK(same_contents(pr, sr), "seed %llu: after the synced burst",
	      (unsigned long long)seed);
	client_free(&c);
	close_dev(&loop, m);
}

static void flat_out(void)
{
	uint64_t rng = 42;
	uint64_t bytes = 4u << 20;
	mblk_dev *pr = ram(&loop, bytes, 512), *sr = ram(&loop, bytes, 512);
	fill_pattern(pr, &rng, 60);
	fill_pattern(sr, &rng, 100);
	mblk_dev *sf, *m;
	struct mblk_fault_rule slow = { .ops = MBLK_FAULT_WRITE |
					       MBLK_FAULT_WRITE_ZEROES |
					       MBLK_FAULT_DISCARD,
					.delay_us = 1000 };
	CHECK_EQ(mblk_fault_wrap(sr, &slow, 1, &sf), 0);
	struct events ev = { 0 };
	struct mblk_mirror_opts o = { .buffer_bytes = 256 << 10 };
	CHECK_EQ(mblk_mirror_open(pr, sf, &o, record_event, &ev, &m), 0);
	struct client c;
	client_init(&c, m, 99);
	c.qd = 16;
	c.max_len = 8;
	c.flat_out = true;
	client_issue(&c);
	uint64_t t0 = uv_hrtime();
	while (!ev.done) {
		uv_run(&loop, UV_RUN_ONCE);
		CHECK(uv_hrtime() - t0 < 60000000000ull,
		      "flat out: no convergence in 60 s (active %d, %d writes)",
		      ev.active, c.completed);
	}
	c.stop = true;
	while (c.inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(ev.complete == 1, "flat out: %s", ev.msg);
	CHECK(ev.active == 1,
	      "flat out: finished without switching to active "
	      "(%d writes)",
	      c.completed);
	CHECK(c.failures == 0, "flat out: %s", c.msg);
	CHECK(same_contents(pr, sr), "flat out: contents");
	printf("flat out: %d writes while copying, switched to active, "
	       "finished\n",
	       c.completed);
	client_free(&c);
	close_dev(&loop, m);
}

int main(int argc, char **argv)
{
	uint64_t first = 1, n = 200;
	bool do_flat = true;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 10);
			n = 1;
		} else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--no-flat-out"))
			do_flat = false;
		else {
			fprintf(stderr,
				"usage: %s [--seeds N] [--seed S] "
				"[--first S] [--no-flat-out]\n",
				argv[0]);
			return 2;
		}
	}
	uv_loop_init(&loop);
	for (uint64_t s = first; s < first + n; s++)
		one_seed(s);
	printf("race: %llu seeds from %llu ok (%lu copy failures retried, "
	       "%lu switches to active mode)\n",
	       (unsigned long long)n, (unsigned long long)first, total_errors,
	       total_active);
	if (do_flat)
		flat_out();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return 0;
}
