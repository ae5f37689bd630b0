/* memcpy_rand.c - the memory-copy ceiling a ramdisk is measured against.
 *
 * Build: cc -O2 -o memcpy_rand memcpy_rand.c   (bench/ram_bench.sh does it)
 * Usage: memcpy_rand rand4k|seq1m SECONDS [BUF_MIB]
 *
 * Two buffers of BUF_MIB (default 1024) MiB, pre-faulted and written, so
 * no page fault is timed. For SECONDS:
 *   rand4k  copies 4 KiB from a random 4 KiB-aligned offset of one buffer
 *           to a random one of the other: what a ramdisk serving random
 *           4 KiB requests must at least do (TLB and cache misses
 *           included);
 *   seq1m   copies 1 MiB chunks in ascending order, wrapping around.
 * Prints one JSON line:
 *   {"mode":"rand4k","ops":N,"seconds":S,"ops_per_s":R,"gb_per_s":G}
 * (GB = 10^9 bytes). The clock is read every 256 copies.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng * 0x2545F4914F6CDD1Dull;
}

static unsigned char *map_buffer(size_t bytes, unsigned char fill)
{
	unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
				0);
	if (p == MAP_FAILED) {
		perror("memcpy_rand: mmap");
		exit(1);
	}
	for (size_t i = 0; i < bytes; i += 64)
		p[i] = (unsigned char)(fill ^ (i >> 12));
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: memcpy_rand rand4k|seq1m SECONDS "
				"[BUF_MIB]\n");
		return 2;
	}
	int rand4k = strcmp(argv[1], "rand4k") == 0;
	if (!rand4k && strcmp(argv[1], "seq1m") != 0) {
		fprintf(stderr,
			"memcpy_rand: mode must be rand4k or seq1m, "
			"not '%s'.\n",
			argv[1]);
		return 2;
	}
	double secs = atof(argv[2]);
	size_t mib = argc > 3 ? strtoul(argv[3], NULL, 10) : 1024;
	size_t bytes = mib << 20;
	size_t chunk = rand4k ? 4096 : 1u << 20;
	if (secs <= 0 || bytes < chunk) {
		fprintf(stderr, "memcpy_rand: SECONDS must be above 0 and "
				"BUF_MIB at least 1.\n");
		return 2;
	}
	unsigned char *src = map_buffer(bytes, 0x5a);
	unsigned char *dst = map_buffer(bytes, 0xa5);
	uint64_t n = bytes / chunk, ops = 0, seq = 0;

	double t0 = now(), t = t0, end = t0 + secs;
	while (t < end) {
		for (int i = 0; i < 256; i++) {
			uint64_t a, b;
			if (rand4k) {
				a = (uint64_t)(((unsigned __int128)next_rand() *
						n) >>
					       64);
				b = (uint64_t)(((unsigned __int128)next_rand() *
						n) >>
					       64);
			} else {
				a = b = seq;
				seq = seq + 1 == n ? 0 : seq + 1;
			}
			memcpy(dst + a * chunk, src + b * chunk, chunk);
		}
		ops += 256;
		t = now();
	}
	double el = t - t0;
	/* Keep the copies observable so they cannot be optimised away. */
	volatile unsigned char sink = dst[bytes / 2] ^ dst[0];
	(void)sink;
	printf("{\"mode\":\"%s\",\"ops\":%llu,\"seconds\":%.3f,"
	       "\"ops_per_s\":%.0f,\"gb_per_s\":%.2f}\n",
	       argv[1], (unsigned long long)ops, el, (double)ops / el,
	       (double)ops * (double)chunk / el / 1e9);
	return 0;
}
