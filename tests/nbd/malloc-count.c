/* malloc-count.c - an LD_PRELOAD library that counts calls to malloc,
 * calloc, realloc and posix_memalign and prints the total on standard
 * error when the process exits ("MALLOCS N"): test-no-alloc.sh uses it
 * to show that the NBD server does not allocate per request. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_long mc_calls;

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
int posix_memalign(void **p, size_t align, size_t size);

/* dlsym itself may call calloc: a small static arena serves that. */
static char mc_early[4096];
static size_t mc_early_used;

void *malloc(size_t size)
{
	static void *(*real)(size_t);
	if (!real)
		real = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	mc_calls++;
	return real(size);
}

void *calloc(size_t n, size_t size)
{
	static void *(*real)(size_t, size_t);
	static int resolving;
	if (!real) {
		if (resolving) {
			void *p = mc_early + mc_early_used;
			mc_early_used += (n * size + 15) & ~(size_t)15;
			return p;
		}
		resolving = 1;
		real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
		resolving = 0;
	}
	mc_calls++;
	return real(n, size);
}

void *realloc(void *p, size_t size)
{
	static void *(*real)(void *, size_t);
	if (!real)
		real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	mc_calls++;
	return real(p, size);
}

int posix_memalign(void **p, size_t align, size_t size)
{
	static int (*real)(void **, size_t, size_t);
	if (!real)
		real = (int (*)(void **, size_t,
				size_t))dlsym(RTLD_NEXT, "posix_memalign");
	mc_calls++;
	return real(p, align, size);
}

__attribute__((destructor)) static void mc_report(void)
{
	char b[64];
	int n = snprintf(b, sizeof(b), "MALLOCS %ld\n", (long)mc_calls);
	if (write(2, b, (size_t)n) < 0)
		return;
}
