/* Fault injection: when the OS refuses the nth mapping, allocation calls
 * return NULL with ENOMEM and the heap stays consistent and usable. */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

enum { NLIVE = 64 };
static unsigned char *live[NLIVE];
static size_t live_size[NLIVE];

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i);
}

static void
verify(int k)
{
	for (size_t i = 0; i < live_size[k]; i++)
		CHECK(live[k][i] == (unsigned char)(k * 31 + i), "block %d corrupted at %zu", k, i);
}

/* Sizes that force new spans of fresh classes, large blocks and growth. */
static size_t
size_for(int k)
{
	static const size_t sizes[] = {24, 3000, 20000, 40000, 1 << 20, 9 << 20, 100, 32768};
	return sizes[k % 8] + (size_t)k * 16;
}

static void
try_alloc(int k)
{
	errno = 0;
	void *p = (k & 1) ? mgc_alloc_noscan(size_for(k)) : mgc_alloc(size_for(k));
	if (p == NULL) {
		CHECK(errno == ENOMEM, "NULL without ENOMEM (errno %d)", errno);
		return;
	}
	live[k] = p;
	live_size[k] = size_for(k);
	fill(live[k], live_size[k], (unsigned)k);
}

int
main(void)
{
	mgc_init();
	int failures = 0;
	for (int n = 1; n <= 40; n++) {
		os_fail_after(n);
		for (int k = 0; k < NLIVE; k++)
			if (live[k] == NULL)
				try_alloc(k);
		os_fail_after(0);
		for (int k = 0; k < NLIVE; k++)
			if (live[k] == NULL)
				failures++;
		/* Free half so the next round allocates again. */
		for (int k = n % 2; k < NLIVE; k += 2) {
			if (live[k] != NULL) {
				verify(k);
				mgc_free(live[k]);
				live[k] = NULL;
			}
		}
	}
	CHECK(failures > 0, "no injected failure reached an allocation");
	uint64_t expect = 0;
	for (int k = 0; k < NLIVE; k++) {
		if (live[k] == NULL)
			try_alloc(k);
		CHECK(live[k] != NULL, "allocation %d fails with injection off", k);
		verify(k);
		size_t usable;
		CHECK(mgc_base(live[k], &usable) == live[k], "block %d not live", k);
		expect += usable;
	}
	mgc_stats st;
	mgc_read_stats(&st);
	CHECK(st.alloc == expect, "alloc %llu, live blocks hold %llu", (unsigned long long)st.alloc,
	      (unsigned long long)expect);
	for (int k = 0; k < NLIVE; k++)
		mgc_free(live[k]);
	mgc_read_stats(&st);
	CHECK(st.alloc == 0 && st.mallocs == st.frees, "stats not back to zero: alloc %llu",
	      (unsigned long long)st.alloc);
	return 0;
}
