/* test_mallocrep — the seed's mallocrep: 128 rounds of allocating and
 * freeing one block of each power of two from 1 byte to 4 MiB.  Between the
 * pairs no block is live, so alloc must read exactly the baseline taken at
 * the start; while the block is live it must read baseline + its usable
 * size.  The footprint (sys) must stay under 1e9.
 *
 * usage: test_mallocrep [-v]
 */
#include "check.h"

#include <mgc.h>

#define ROUNDS (1 << 7)
#define MAX_SIZE ((size_t)1 << 22)

static uint64_t baseline;
static uint64_t oldsys;
static bool chatty;

static uint64_t
current_alloc(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.alloc;
}

/* The seed's bigger(): sys only grows, and never past 1e9 bytes. */
static void
bigger(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	if (oldsys >= s.sys)
		return;
	oldsys = s.sys;
	if (chatty)
		printf("%llu system bytes for %llu bytes\n", (unsigned long long)s.sys,
		       (unsigned long long)s.alloc);
	CHECK(s.sys <= 1000000000u, "sys %llu too big", (unsigned long long)s.sys);
}

static void
alloc_and_free(int round, size_t size)
{
	uint64_t a = current_alloc(), during, after;
	size_t usable = 0;
	void *b;

	CHECK(a == baseline, "round %d size %zu: no block live but alloc %llu, baseline %llu",
	      round, size, (unsigned long long)a, (unsigned long long)baseline);
	b = mgc_alloc(size);
	CHECK(b != NULL, "mgc_alloc(%zu) returned NULL (errno %d)", size, errno);
	CHECK(mgc_base(b, &usable) == b, "mgc_base(%p) of a new block", b);
	during = current_alloc();
	mgc_free(b);
	after = current_alloc();
	CHECK(during == baseline + usable,
	      "round %d size %zu: alloc %llu while live, want %llu + %zu", round,
	      size, (unsigned long long)during, (unsigned long long)baseline, usable);
	CHECK(after == baseline, "round %d size %zu: wrong stats: during=%llu after=%llu (want %llu)",
	      round, size, (unsigned long long)during, (unsigned long long)after,
	      (unsigned long long)baseline);
	bigger();
}

int
main(int argc, char **argv)
{
	chatty = argc > 1 && strcmp(argv[1], "-v") == 0;
	baseline = current_alloc();
	for (int i = 0; i < ROUNDS; i++) {
		for (size_t j = 1; j <= MAX_SIZE; j <<= 1) {
			if (i == 0 && chatty)
				printf("first alloc: %zu\n", j);
			alloc_and_free(i, j);
		}
	}
	return 0;
}
