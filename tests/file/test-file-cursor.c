/* test-file-cursor.c - the file device's request cursor (io.c): how a
 * short transfer continues. Walks a request of five buffers (two of them
 * empty) through every split point a kernel could return and checks what
 * the next syscall would be given: the remaining buffers from a buffer
 * boundary, or the rest of one buffer from inside it.
 */
#include "../../src/devices/file/file.h"
#include "filetest.h"

int main(void)
{
	uv_loop_t loop;
	mblk_dev *ram;
	uv_loop_init(&loop);
	CHECK_EQ(mblk_ram_create(&loop, NULL, 64, 512, &ram), 0);

	struct file_dev f = { .dev = ram, .sector_size = 512, .shift = 9 };
	static char a[1024], c[512], e[2048];
	const struct iovec iov[] = {
		{ NULL, 0 },      { a, sizeof(a) }, { NULL, 0 },
		{ c, sizeof(c) }, { e, sizeof(e) },
	};
	const size_t total = sizeof(a) + sizeof(c) + sizeof(e);
	mblk_req req = { .op = MBLK_OP_READ,
			 .sector = 3,
			 .count = total / 512,
			 .iov = iov,
			 .iovcnt = 5 };

	/* Every split point: advance by k, then check the span. */
	for (size_t k = 0; k <= total; k++) {
		struct file_rq rq;
		mblk__file_rq_init(&rq, &f, &req);
		CHECK_EQ(rq.left, total);
		CHECK_EQ(rq.pos, 3 * 512);
		CHECK_EQ(rq.idx, 1); /* the leading empty buffer is skipped */
		mblk__file_rq_advance(&rq, k);
		CHECK_EQ(rq.left, total - k);
		CHECK_EQ(rq.pos, 3 * 512 + k);
		if (k == total) {
			CHECK_EQ(rq.idx, 5);
			continue;
		}
		const struct iovec *span;
		struct iovec one;
		int cnt;
		bool single;
		mblk__file_rq_span(&rq, &span, &cnt, &one, &single);
		/* The span starts at the byte the cursor is at. */
		const char *want = k < sizeof(a) ? a + k
				   : k < sizeof(a) + sizeof(c)
					   ? c + (k - sizeof(a))
					   : e + (k - sizeof(a) - sizeof(c));
		CHECK(span[0].iov_base == want);
		size_t bytes = 0;
		for (int i = 0; i < cnt; i++)
			bytes += span[i].iov_len;
		/* A whole tail of buffers, or the rest of one. */
		if (single)
			CHECK(cnt == 1 &&
			      (char *)span[0].iov_base + span[0].iov_len ==
				      (char *)iov[rq.idx].iov_base +
					      iov[rq.idx].iov_len);
		else
			CHECK_EQ(bytes, total - k);
	}
	mblk_close_sync(ram);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	printf("ok\n");
	return 0;
}
