/* test-mirror-flush.c - a flush while the mirror is still copying reaches
 * the secondary, and a secondary whose flushes fail is reported at once.
 *
 * The secondary is a stack of two fault devices over ram: the inner one
 * delays every write, zero and discard by 2 ms, so the copy is still
 * running when the test flushes; the outer one has a rule matching
 * flushes only, whose statistics count the flushes that reach the
 * secondary (and, in the failing cases, fail them with EIO).
 *
 * Checked:
 *   1. a flush of the mirror while COPYING is passed to the secondary
 *      (exactly one flush there, none from the copier yet), and the
 *      mirror is still copying when the flush completes;
 *   2. with on_error=stop, a secondary flush failing with EIO: by the
 *      time the mirror's flush completes (status 0: the primary's), the
 *      FAILED event has fired with -EIO and a sentence naming the flush,
 *      and the mirror is STOPPED; the next flush goes to the primary only;
 *   3. with on_error=retry, the same failure fires ERROR (not FAILED) at
 *      once and the mirror keeps copying; it then completes, equal to the
 *      primary, once flushes work again.
 */
#include "harness.h"
#include "mtest.h"

static uv_loop_t loop;

struct stack {
	mblk_dev *p, *s_ram, *s_delay, *s_count, *m;
	struct events ev;
};

static mblk_dev *fault(mblk_dev *inner, const struct mblk_fault_rule *r, int n)
{
	mblk_dev *d;
	CHECK(mblk_fault_wrap(inner, r, n, &d) == 0, "fault wrap: %s",
	      mblk_last_error());
	return d;
}

static void open_stack(struct stack *x, enum mblk_mirror_on_error on_error,
		       int flush_error)
{
	const uint64_t bytes = 1u << 20;
	uint64_t seed = 77;
	memset(x, 0, sizeof(*x));
	x->p = ram(&loop, bytes, 512);
	fill_pattern(x->p, &seed, 60);
	x->s_ram = ram(&loop, bytes, 512);
	struct mblk_fault_rule slow = {
		.ops = MBLK_FAULT_WRITE | MBLK_FAULT_WRITE_ZEROES |
		       MBLK_FAULT_DISCARD,
		.delay_us = 2000,
	};
	x->s_delay = fault(x->s_ram, &slow, 1);
	struct mblk_fault_rule flushes = { .ops = MBLK_FAULT_FLUSH,
					   .error = flush_error };
	x->s_count = fault(x->s_delay, &flushes, 1);
	struct mblk_mirror_opts o = { .chunk_bytes = 65536,
				      .buffer_bytes = 64 << 10,
				      .on_error = on_error,
				      .retries = 3 };
	CHECK(mblk_mirror_open(x->p, x->s_count, &o, record_event, &x->ev,
			       &x->m) == 0,
	      "mirror open: %s", mblk_last_error());
}

static uint64_t flushes_seen(struct stack *x)
{
	struct mblk_fault_stats st;
	CHECK_EQ(mblk_fault_get_stats(x->s_count, &st), 0);
	return st.matched;
}

static enum mblk_mirror_state state_of(struct stack *x)
{
	struct mblk_mirror_progress pr;
	CHECK_EQ(mblk_mirror_get_progress(x->m, &pr), 0);
	return pr.state;
}

struct flush_wait {
	bool done;
	int status;
	struct events at_completion; /* the events seen when it completed */
	enum mblk_mirror_state state;
	struct stack *x;
};

static void flush_cb(void *data, int status, const char *error)
{
	struct flush_wait *w = data;
	(void)error;
	w->status = status;
	w->at_completion = w->x->ev;
	w->state = state_of(w->x);
	w->done = true;
}

static void flush_now(struct stack *x, struct flush_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->x = x;
	CHECK_EQ(mblk_flush(x->m, flush_cb, w), 0);
	run_until(&loop, &w->done, 10000, "the flush");
}

/* Runs the loop until the copier has really started. */
static void let_copy_start(struct stack *x)
{
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_EQ(state_of(x), MBLK_MIRROR_COPYING);
}

static void flush_reaches_secondary(void)
{
	struct stack x;
	struct flush_wait w;
	open_stack(&x, MBLK_MIRROR_STOP, 0);
	let_copy_start(&x);
	CHECK_EQ(flushes_seen(&x), 0);
	flush_now(&x, &w);
	CHECK_EQ(w.status, 0);
	CHECK(w.state == MBLK_MIRROR_COPYING,
	      "the copy ended before the flush (state %d): the test needs a "
	      "slower secondary",
	      (int)w.state);
	CHECK(flushes_seen(&x) == 1,
	      "a flush of the mirror while copying reached the secondary %llu "
	      "times, expected once",
	      (unsigned long long)flushes_seen(&x));
	run_until(&loop, &x.ev.done, 20000, "the copy");
	CHECK(x.ev.complete == 1, "complete %d failed %d %s", x.ev.complete,
	      x.ev.failed, x.ev.msg);
	CHECK(same_contents(x.p, x.s_ram), "after the copy");
	close_dev(&loop, x.m);
}

static void failing_flush_stop(void)
{
	struct stack x;
	struct flush_wait w;
	open_stack(&x, MBLK_MIRROR_STOP, EIO);
	let_copy_start(&x);
	flush_now(&x, &w);
	CHECK_EQ(w.status, 0); /* the primary flushed fine */
	CHECK(w.at_completion.failed == 1,
	      "when the mirror's flush completed, FAILED had fired %d times "
	      "(ERROR %d): a secondary flush failure must be reported at once",
	      w.at_completion.failed, w.at_completion.errors);
	CHECK_EQ(w.at_completion.last_error, -EIO);
	CHECK(strstr(w.at_completion.msg, "flush") != NULL,
	      "the sentence does not name the flush: %s", w.at_completion.msg);
	CHECK_EQ(w.state, MBLK_MIRROR_STOPPED);
	/* Stopped: the next flush is the primary's alone. */
	uint64_t before = flushes_seen(&x);
	flush_now(&x, &w);
	CHECK_EQ(w.status, 0);
	CHECK_EQ(flushes_seen(&x), before);
	close_dev(&loop, x.m);
}

static void failing_flush_retry(void)
{
	struct stack x;
	struct flush_wait w;
	open_stack(&x, MBLK_MIRROR_RETRY, EIO);
	let_copy_start(&x);
	flush_now(&x, &w);
	CHECK_EQ(w.status, 0);
	CHECK(w.at_completion.errors == 1 && w.at_completion.failed == 0,
	      "when the mirror's flush completed: ERROR %d, FAILED %d; "
	      "expected one ERROR at once",
	      w.at_completion.errors, w.at_completion.failed);
	CHECK_EQ(w.at_completion.last_error, -EIO);
	CHECK(strstr(w.at_completion.msg, "flush") != NULL,
	      "the sentence does not name the flush: %s", w.at_completion.msg);
	CHECK_EQ(w.state, MBLK_MIRROR_COPYING);
	/* Flushes work again: the copy (which flushes at the end) ends in
	 * sync. */
	struct mblk_fault_rule count = { .ops = MBLK_FAULT_FLUSH };
	CHECK_EQ(mblk_fault_set_rules(x.s_count, &count, 1), 0);
	run_until(&loop, &x.ev.done, 20000, "the copy");
	CHECK(x.ev.complete == 1 && x.ev.failed == 0,
	      "complete %d failed %d %s", x.ev.complete, x.ev.failed, x.ev.msg);
	CHECK(flushes_seen(&x) >= 1, "Complete without flushing the secondary");
	CHECK(same_contents(x.p, x.s_ram), "after the retried copy");
	close_dev(&loop, x.m);
}

int main(void)
{
	mtest_watchdog(10, "the mirror flush test");
	uv_loop_init(&loop);
	flush_reaches_secondary();
	printf("ok flush while copying reaches the secondary\n");
	failing_flush_stop();
	printf("ok a failing secondary flush stops the mirror at once\n");
	failing_flush_retry();
	printf("ok a failing secondary flush is an ERROR at once (retry)\n");
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return 0;
}
