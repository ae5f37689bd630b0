/* test-nbd-proto.c - unit tests of src/nbd/proto.c: request and reply
 * headers byte for byte against the spec's layouts, both request forms,
 * bad magics refused, and the errno <-> wire mapping both ways. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/endian.h"
#include "nbd/proto.h"

static void test_request_compact(void **state)
{
	uint8_t b[NBD_EXTENDED_REQUEST_SIZE];
	(void)state;
	struct mblk__nbd_request r = {
		.flags = NBD_CMD_FLAG_FUA,
		.type = NBD_CMD_WRITE,
		.cookie = 0x0102030405060708ull,
		.offset = 0x1000,
		.length = 4096,
	};
	assert_int_equal(mblk__nbd_request_encode(b, false, &r),
			 NBD_REQUEST_SIZE);
	static const uint8_t want[NBD_REQUEST_SIZE] = {
		0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1, 1,    2, 3, 4, 5,    6,
		7,    8,    0,    0,    0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0
	};
	assert_memory_equal(b, want, NBD_REQUEST_SIZE);
	struct mblk__nbd_request d;
	assert_int_equal(mblk__nbd_request_decode(b, false, &d), 0);
	assert_int_equal(d.flags, r.flags);
	assert_int_equal(d.type, r.type);
	assert_int_equal(d.cookie, r.cookie);
	assert_int_equal(d.offset, r.offset);
	assert_int_equal(d.length, r.length);
	/* The compact form read as extended has the wrong magic. */
	assert_int_equal(mblk__nbd_request_decode(b, true, &d), -EPROTO);
	b[0] ^= 1;
	assert_int_equal(mblk__nbd_request_decode(b, false, &d), -EPROTO);
}

static void test_request_extended(void **state)
{
	uint8_t b[NBD_EXTENDED_REQUEST_SIZE];
	(void)state;
	struct mblk__nbd_request r = {
		.flags = NBD_CMD_FLAG_PAYLOAD_LEN,
		.type = NBD_CMD_BLOCK_STATUS,
		.cookie = UINT64_MAX,
		.offset = UINT64_MAX - 1,
		.length = 1ull << 40,
	};
	assert_int_equal(mblk__nbd_request_encode(b, true, &r),
			 NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(mblk__get_be32(b), NBD_EXTENDED_REQUEST_MAGIC);
	assert_int_equal(mblk__get_be64(b + 24), 1ull << 40);
	struct mblk__nbd_request d;
	assert_int_equal(mblk__nbd_request_decode(b, true, &d), 0);
	assert_int_equal(d.length, 1ull << 40);
	assert_int_equal(d.offset, UINT64_MAX - 1);
	assert_int_equal(d.cookie, UINT64_MAX);
	assert_int_equal(mblk__nbd_request_decode(b, false, &d), -EPROTO);
}

static void test_replies(void **state)
{
	uint8_t b[NBD_EXTENDED_REPLY_SIZE];
	(void)state;
	struct mblk__nbd_reply r = {
		.kind = MBLK__NBD_SIMPLE,
		.error = NBD_EIO,
		.cookie = 42,
	};
	assert_int_equal(mblk__nbd_reply_encode(b, &r), NBD_SIMPLE_REPLY_SIZE);
	assert_int_equal(mblk__get_be32(b), NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(mblk__get_be32(b + 4), NBD_EIO);
	assert_int_equal(mblk__get_be64(b + 8), 42);

	r = (struct mblk__nbd_reply){
		.kind = MBLK__NBD_STRUCTURED,
		.flags = NBD_REPLY_FLAG_DONE,
		.type = NBD_REPLY_TYPE_OFFSET_HOLE,
		.cookie = 7,
		.length = 12,
	};
	assert_int_equal(mblk__nbd_reply_encode(b, &r),
			 NBD_STRUCTURED_REPLY_SIZE);
	static const uint8_t want[NBD_STRUCTURED_REPLY_SIZE] = {
		0x66, 0x8e, 0x33, 0xef, 0, 1, 0, 2, 0, 0,
		0,    0,    0,    0,    0, 7, 0, 0, 0, 12
	};
	assert_memory_equal(b, want, sizeof(want));
	struct mblk__nbd_reply d;
	assert_int_equal(mblk__nbd_reply_decode(b, MBLK__NBD_STRUCTURED, &d),
			 0);
	assert_int_equal(d.type, NBD_REPLY_TYPE_OFFSET_HOLE);
	assert_int_equal(d.length, 12);
	assert_int_equal(mblk__nbd_reply_decode(b, MBLK__NBD_SIMPLE, &d),
			 -EPROTO);

	r = (struct mblk__nbd_reply){
		.kind = MBLK__NBD_EXTENDED,
		.flags = NBD_REPLY_FLAG_DONE,
		.type = NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
		.cookie = 9,
		.offset = 1ull << 50,
		.length = 24,
	};
	assert_int_equal(mblk__nbd_reply_encode(b, &r),
			 NBD_EXTENDED_REPLY_SIZE);
	assert_int_equal(mblk__nbd_reply_kind_of(mblk__get_be32(b)),
			 MBLK__NBD_EXTENDED);
	assert_int_equal(mblk__nbd_reply_decode(b, MBLK__NBD_EXTENDED, &d), 0);
	assert_int_equal(d.offset, 1ull << 50);
	assert_int_equal(d.length, 24);
	assert_int_equal(d.cookie, 9);
	assert_int_equal(mblk__nbd_reply_kind_of(0x12345678), -EPROTO);
	assert_int_equal(mblk__nbd_reply_size(MBLK__NBD_SIMPLE), 16);
	assert_int_equal(mblk__nbd_reply_size(MBLK__NBD_STRUCTURED), 20);
	assert_int_equal(mblk__nbd_reply_size(MBLK__NBD_EXTENDED), 32);
}

static void test_errno(void **state)
{
	(void)state;
	assert_int_equal(mblk__nbd_errno_to_wire(0), 0);
	assert_int_equal(mblk__nbd_errno_to_wire(-EIO), NBD_EIO);
	assert_int_equal(mblk__nbd_errno_to_wire(-EROFS), NBD_EPERM);
	assert_int_equal(mblk__nbd_errno_to_wire(-EPERM), NBD_EPERM);
	assert_int_equal(mblk__nbd_errno_to_wire(-EDQUOT), NBD_ENOSPC);
	assert_int_equal(mblk__nbd_errno_to_wire(-EFBIG), NBD_ENOSPC);
	assert_int_equal(mblk__nbd_errno_to_wire(-ENOTSUP), NBD_ENOTSUP);
	assert_int_equal(mblk__nbd_errno_to_wire(-EOPNOTSUPP), NBD_ENOTSUP);
	assert_int_equal(mblk__nbd_errno_to_wire(-ESHUTDOWN), NBD_ESHUTDOWN);
	assert_int_equal(mblk__nbd_errno_to_wire(-EOVERFLOW), NBD_EOVERFLOW);
	assert_int_equal(mblk__nbd_errno_to_wire(-ENOMEM), NBD_ENOMEM);
	assert_int_equal(mblk__nbd_errno_to_wire(-EINVAL), NBD_EINVAL);
	assert_int_equal(mblk__nbd_errno_to_wire(-EBADMSG), NBD_EIO);
	/* Every wire value round-trips. */
	static const uint32_t codes[] = { NBD_EPERM,   NBD_EIO,
					  NBD_ENOMEM,  NBD_EINVAL,
					  NBD_ENOSPC,  NBD_EOVERFLOW,
					  NBD_ENOTSUP, NBD_ESHUTDOWN };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(mblk__nbd_errno_to_wire(
					 mblk__nbd_wire_to_errno(codes[i])),
				 codes[i]);
	assert_int_equal(mblk__nbd_wire_to_errno(0), 0);
	assert_int_equal(mblk__nbd_wire_to_errno(9999), -EIO);
	assert_int_equal(mblk__nbd_wire_to_errno(NBD_ENOSPC), -ENOSPC);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mblk__nbd_opt_name(NBD_OPT_GO), "NBD_OPT_GO");
	assert_string_equal(mblk__nbd_opt_name(77), "unknown option");
	assert_string_equal(mblk__nbd_cmd_name(NBD_CMD_BLOCK_STATUS),
			    "NBD_CMD_BLOCK_STATUS");
	assert_string_equal(mblk__nbd_cmd_name(99), "unknown command");
	assert_string_equal(mblk__nbd_rep_name(NBD_REP_ERR_UNKNOWN),
			    "NBD_REP_ERR_UNKNOWN");
	assert_string_equal(mblk__nbd_rep_name(NBD_REP_FLAG_ERROR | 99),
			    "unknown reply");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_compact),
		cmocka_unit_test(test_request_extended),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
