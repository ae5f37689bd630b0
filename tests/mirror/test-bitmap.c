/* test-bitmap.c - the mirror's bitmap helper against a bool array. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/decorators/mirror/bitmap.h"

int main(void)
{
	uint64_t seed = 1;
	for (uint64_t nbits = 0; nbits < 300; nbits += 7) {
		struct mblk__bitmap b;
		bool init = nbits % 2;
		if (mblk__bitmap_init(&b, nbits, init) < 0)
			return 1;
		bool *ref = malloc(nbits + 1);
		uint64_t count = init ? nbits : 0;
		for (uint64_t i = 0; i < nbits; i++)
			ref[i] = init;
		for (int k = 0; k < 200; k++) {
			seed = seed * 6364136223846793005ull + 1;
			uint64_t a = nbits ? (seed >> 20) % nbits : 0;
			uint64_t e = nbits ? a + (seed >> 40) % (nbits - a + 1)
					   : 0;
			bool v = (seed >> 33) & 1;
			uint64_t changed = 0;
			for (uint64_t i = a; i < e; i++)
				if (ref[i] != v) {
					ref[i] = v;
					changed++;
				}
			uint64_t got = mblk__bitmap_assign(&b, a, e, v);
			if (got != changed) {
				fprintf(stderr,
					"nbits %llu [%llu,%llu) changed %llu want %llu\n",
					(unsigned long long)nbits,
					(unsigned long long)a,
					(unsigned long long)e,
					(unsigned long long)got,
					(unsigned long long)changed);
				return 1;
			}
			count = v ? count + changed : count - changed;
			uint64_t from = nbits ? (seed >> 8) % nbits : 0;
			uint64_t want = nbits;
			for (uint64_t i = from; i < nbits; i++)
				if (ref[i]) {
					want = i;
					break;
				}
			if (mblk__bitmap_next(&b, from) != want) {
				fprintf(stderr,
					"next(%llu) = %llu, want %llu\n",
					(unsigned long long)from,
					(unsigned long long)
						mblk__bitmap_next(&b, from),
					(unsigned long long)want);
				return 1;
			}
			for (uint64_t i = 0; i < nbits; i++)
				if (mblk__bitmap_get(&b, i) != ref[i]) {
					fprintf(stderr, "bit %llu\n",
						(unsigned long long)i);
					return 1;
				}
		}
		(void)count;
		free(ref);
		mblk__bitmap_free(&b);
	}
	printf("bitmap: ok\n");
	return 0;
}
