/* fuzz-nbd-transmit.c - libFuzzer target for the transmission phase: a
 * valid handshake is sent first, chosen by the input's first byte
 * (compact headers, structured replies with base:allocation, or extended
 * headers), and the rest of the input is the request stream. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../src/common/endian.h"
#include "../../src/nbd/proto.h"
#include "fuzz-nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_opt(uint8_t *p, uint32_t opt, const void *d, uint32_t len)
{
	mblk__put_be64(p, NBD_IHAVEOPT);
	mblk__put_be32(p + 8, opt);
	mblk__put_be32(p + 12, len);
	memcpy(p + 16, d, len);
	return 16 + (size_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t pre[256];
	size_t n = 0;
	mblk__put_be32(pre, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	n += 4;
	unsigned mode = data[0] % 3;
	if (mode == 1)
		n += fuzz_opt(pre + n, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	if (mode == 2)
		n += fuzz_opt(pre + n, NBD_OPT_EXTENDED_HEADERS, NULL, 0);
	if (mode) {
		static const uint8_t meta[] = { 0,   0,   0,   0,   0,   0,
						0,   1,   0,   0,   0,   15,
						'b', 'a', 's', 'e', ':', 'a',
						'l', 'l', 'o', 'c', 'a', 't',
						'i', 'o', 'n' };
		n += fuzz_opt(pre + n, NBD_OPT_SET_META_CONTEXT, meta,
			      sizeof(meta));
	}
	static const uint8_t go[] = { 0, 0, 0, 0, 0, 0 };
	n += fuzz_opt(pre + n, NBD_OPT_GO, go, sizeof(go));
	fuzz_nbd_serve(pre, n, data + 1, size - 1);
	return 0;
}
