/* test-fault.c - the fault decorator: every/after/at triggers, sector
 * ranges, errno choice, delays and their ordering, rules replaced at run
 * time, statistics, and the fault: URI. */
#include "harness.h"

static uv_loop_t loop;
static char buf[4096];

static int wr(mblk_dev *d, uint64_t sector, uint32_t n)
{
	struct iovec iov = { buf, (size_t)n * 512 };
	return mblk_write_sync(d, sector, &iov, 1, 0);
}

static int rd(mblk_dev *d, uint64_t sector)
{
	struct iovec iov = { buf, 512 };
	return mblk_read_sync(d, sector, &iov, 1);
}

static int ord_log[4], ord_n;
static void ord_cb(void *data, int status, const char *error)
{
	(void)status;
	(void)error;
	ord_log[ord_n++] = (int)(intptr_t)data;
}

int main(void)
{
	uv_loop_init(&loop);
	mblk_dev *f;
	struct mblk_fault_rule r = { .ops = MBLK_FAULT_WRITE,
				     .error = EIO,
				     .every = 3 };
	CHECK_EQ(mblk_fault_wrap(ram(&loop, 1 << 20, 512), &r, 1, &f), 0);

	/* every 3rd write */
	CHECK_EQ(wr(f, 0, 1), 0);
	CHECK_EQ(wr(f, 1, 1), 0);
	CHECK_EQ(wr(f, 2, 1), -EIO);
	CHECK(strstr(mblk_last_error(), "injected EIO") != NULL, "sentence: %s",
	      mblk_last_error());
	CHECK(strstr(mblk_last_error(), "write of sector 2") != NULL,
	      "sentence: %s", mblk_last_error());
	CHECK_EQ(rd(f, 0), 0); /* reads untouched */
	CHECK_EQ(wr(f, 3, 1), 0);

	/* after 2 reads, every read fails, with ENOSPC */
	r = (struct mblk_fault_rule){ .ops = MBLK_FAULT_READ,
				      .error = ENOSPC,
				      .after = 2 };
	CHECK_EQ(mblk_fault_set_rules(f, &r, 1), 0);
	CHECK_EQ(rd(f, 0), 0);
	CHECK_EQ(rd(f, 0), 0);
	CHECK_EQ(rd(f, 0), -ENOSPC);
	CHECK_EQ(rd(f, 0), -ENOSPC);
	CHECK_EQ(wr(f, 0, 1), 0);

	/* once, at the 2nd match */
	r = (struct mblk_fault_rule){ .ops = MBLK_FAULT_ANY,
				      .error = EIO,
				      .at = 2 };
	CHECK_EQ(mblk_fault_set_rules(f, &r, 1), 0);
	CHECK_EQ(wr(f, 0, 1), 0);
	CHECK_EQ(rd(f, 0), -EIO);
	CHECK_EQ(mblk_flush_sync(f), 0);
	CHECK_EQ(mblk_discard_sync(f, 0, 8), 0);

	/* sector range [100, 200) */
	r = (struct mblk_fault_rule){ .ops = MBLK_FAULT_WRITE,
				      .error = EIO,
				      .from = 100,
				      .to = 200 };
	CHECK_EQ(mblk_fault_set_rules(f, &r, 1), 0);
	CHECK_EQ(wr(f, 0, 8), 0);
	CHECK_EQ(wr(f, 92, 8), 0);    /* 92-99 */
	CHECK_EQ(wr(f, 93, 8), -EIO); /* 93-100 touches 100 */
	CHECK_EQ(wr(f, 150, 1), -EIO);
	CHECK_EQ(wr(f, 199, 1), -EIO);
	CHECK_EQ(wr(f, 200, 8), 0);
	struct mblk_fault_stats st;
	CHECK_EQ(mblk_fault_get_stats(f, &st), 0);
	CHECK_EQ(st.failed, 3);
	CHECK_EQ(st.matched, 3);

	/* delays: 30 ms on the first read only; the second overtakes it */
	struct mblk_fault_rule d = { .ops = MBLK_FAULT_READ,
				     .at = 1,
				     .delay_us = 30000 };
	CHECK_EQ(mblk_fault_set_rules(f, &d, 1), 0);
	static char b1[512], b2[512];
	struct iovec i1 = { b1, 512 }, i2 = { b2, 512 };
	uint64_t t0 = uv_hrtime();
	CHECK_EQ(mblk_read(f, 0, &i1, 1, ord_cb, (void *)1), 0);
	CHECK_EQ(mblk_read(f, 0, &i2, 1, ord_cb, (void *)2), 0);
	while (ord_n < 2)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK((uv_hrtime() - t0) >= 30000000ull, "delay too short: %llu ns",
	      (unsigned long long)(uv_hrtime() - t0));
	CHECK(ord_log[0] == 2 && ord_log[1] == 1, "order %d %d", ord_log[0],
	      ord_log[1]);
	CHECK_EQ(mblk_fault_get_stats(f, &st), 0);
	CHECK_EQ(st.delayed, 1);

	/* delayed and failed */
	d = (struct mblk_fault_rule){ .ops = MBLK_FAULT_FLUSH,
				      .error = EIO,
				      .delay_us = 5000 };
	CHECK_EQ(mblk_fault_set_rules(f, &d, 1), 0);
	t0 = uv_hrtime();
	CHECK_EQ(mblk_flush_sync(f), -EIO);
	CHECK(uv_hrtime() - t0 >= 5000000ull, "flush not delayed");

	/* no rules: everything passes */
	CHECK_EQ(mblk_fault_set_rules(f, NULL, 0), 0);
	CHECK_EQ(wr(f, 150, 1), 0);
	/* bad rules are refused */
	d = (struct mblk_fault_rule){ .ops = 0x100 };
	CHECK_EQ(mblk_fault_set_rules(f, &d, 1), -EINVAL);
	close_dev(&loop, f);

	/* By URI, under safe. */
	mblk_dev *u;
	CHECK(mblk_open_sync(
		      &loop,
		      "fault:?inner=ram:?size=1M&fail=write&every=2&errno=ENOSPC",
		      0, &u) == 0,
	      "open: %s", mblk_last_error());
	CHECK_EQ(wr(u, 0, 1), 0);
	CHECK_EQ(wr(u, 0, 1), -ENOSPC);
	CHECK_EQ(rd(u, 0), 0);
	CHECK_EQ(mblk_fault_get_stats(u, &st), 0);
	CHECK_EQ(st.failed, 1);
	close_dev(&loop, u);
	CHECK(mblk_open_sync(
		      &loop,
		      "fault:?inner=ram:%3Fsize%3D1M&delay=read&delay-us=2000"
		      "&from=8&to=16",
		      0, &u) == 0,
	      "open: %s", mblk_last_error());
	t0 = uv_hrtime();
	CHECK_EQ(rd(u, 8), 0);
	CHECK(uv_hrtime() - t0 >= 2000000ull, "read not delayed");
	close_dev(&loop, u);
	/* The reopen URI holds the rules. */
	CHECK(mblk_open_sync(
		      &loop,
		      "fault:?inner=ram:?size=1M&fail=write&every=2"
		      "&errno=ENOSPC&delay=read&delay-us=1000&from=4&to=64",
		      0, &u) == 0,
	      "open: %s", mblk_last_error());
	char uri[512];
	CHECK(mblk_get_uri(u, uri, sizeof(uri)) > 0, "get_uri");
	CHECK(strstr(uri, "fail=write&errno=ENOSPC&every=2") != NULL &&
		      strstr(uri, "delay=read&delay-us=1000") != NULL &&
		      strstr(uri, "from=4&to=64") != NULL,
	      "%s", uri);
	close_dev(&loop, u);
	CHECK(mblk_open_sync(&loop, uri, 0, &u) == 0, "reopen %s: %s", uri,
	      mblk_last_error());
	CHECK_EQ(wr(u, 4, 1), 0);
	CHECK_EQ(wr(u, 4, 1), -ENOSPC);
	CHECK_EQ(wr(u, 100, 1), 0);
	close_dev(&loop, u);
	CHECK_EQ(mblk_open_sync(&loop, "fault:?fail=write", 0, &u), -EINVAL);
	CHECK(strstr(mblk_last_error(), "inner=") != NULL, "%s",
	      mblk_last_error());
	CHECK_EQ(mblk_open_sync(&loop, "fault:?inner=ram:&fail=jump", 0, &u),
		 -EINVAL);
	CHECK_EQ(mblk_open_sync(&loop, "fault:?inner=ram:&errno=EWHAT", 0, &u),
		 -EINVAL);

	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("fault: ok\n");
	return 0;
}
