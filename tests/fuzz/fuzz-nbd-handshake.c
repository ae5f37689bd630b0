/* fuzz-nbd-handshake.c - libFuzzer target: the input is everything a
 * client sends from the start of a connection (client flags, options,
 * and whatever follows), so the fuzzer explores the fixed-newstyle
 * option parser and the step into transmission. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_nbd_serve(NULL, 0, data, size);
	return 0;
}
