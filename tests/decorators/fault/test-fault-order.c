/* test-fault-order.c - delayed requests leave a fault device in deadline
 * order, whatever order they arrived in.
 *
 * The fault device keeps one timer and a list of delayed requests sorted
 * by deadline (fault.c), inserting from the tail. Five reads, each
 * matched by a rule of its own sector range with a different delay
 * (40, 10, 30, 50, 20 ms, submitted in that order), must complete
 * shortest first: 10, 20, 30, 40, 50. A list kept in the wrong order, or
 * a timer armed for the wrong head, completes them out of order or late.
 * Each completion is also checked against its own delay (not early).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mblk.h>
#include <mblk/fault.h>
#include <mblk/ram.h>

#include "mtest.h"

#define N 5

static int order[N], done_n;
static uint64_t done_at[N];

static void read_cb(void *data, int status, const char *error)
{
	int i = (int)(intptr_t)data;
	if (status != 0) {
		printf("FAIL read %d: %s\n", i, error);
		exit(1);
	}
	done_at[i] = uv_hrtime();
	order[done_n++] = i;
}

int main(void)
{
	mtest_watchdog(10, "the fault order test");
	static const unsigned delay_ms[N] = { 40, 10, 30, 50, 20 };
	uv_loop_t loop;
	uv_loop_init(&loop);
	mblk_dev *ram, *f;
	if (mblk_ram_create(&loop, NULL, 2048, 512, &ram) != 0) {
		printf("FAIL ram: %s\n", mblk_last_error());
		return 1;
	}
	struct mblk_fault_rule rules[N];
	for (int i = 0; i < N; i++)
		rules[i] = (struct mblk_fault_rule){
			.ops = MBLK_FAULT_READ,
			.from = (uint64_t)i * 100,
			.to = (uint64_t)i * 100 + 100,
			.delay_us = delay_ms[i] * 1000u,
		};
	if (mblk_fault_wrap(ram, rules, N, &f) != 0) {
		printf("FAIL fault: %s\n", mblk_last_error());
		return 1;
	}
	static char bufs[N][512];
	struct iovec iov[N];
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ bufs[i], 512 };
		if (mblk_read(f, (uint64_t)i * 100 + 1, &iov[i], 1, read_cb,
			      (void *)(intptr_t)i) != 0) {
			printf("FAIL submit %d\n", i);
			return 1;
		}
	}
	while (done_n < N)
		uv_run(&loop, UV_RUN_ONCE);
	/* Expected: by delay, shortest first. */
	static const int want[N] = { 1, 4, 2, 0, 3 };
	int fails = 0;
	for (int k = 0; k < N; k++) {
		int i = order[k];
		uint64_t took = (done_at[i] - t0) / 1000000;
		printf("%d: read %d (delay %u ms) after %llu ms\n", k, i,
		       delay_ms[i], (unsigned long long)took);
		if (i != want[k]) {
			printf("FAIL completion %d was read %d (delay %u ms), "
			       "expected read %d (delay %u ms): delayed "
			       "requests left out of deadline order\n",
			       k, i, delay_ms[i], want[k], delay_ms[want[k]]);
			fails++;
		}
		if (took + 1 < delay_ms[i]) {
			printf("FAIL read %d completed after %llu ms, before "
			       "its %u ms delay\n",
			       i, (unsigned long long)took, delay_ms[i]);
			fails++;
		}
	}
	mblk_close_sync(f);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		printf("FAIL: handles left on the loop\n");
		return 1;
	}
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
