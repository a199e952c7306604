/* test_mallocrep1 — the seed's mallocrep1: for every power of two from
 * 1 byte to 512 KiB (4 MiB with -l), allocate `count` blocks and free them,
 * for counts growing from 1 by 5/4.  Every block must be its own base with a
 * usable size the contract allows; each free must lower alloc by exactly the
 * block's usable size; the bytes added by the allocations must equal the
 * bytes removed by the frees; sys stays under 1e9.
 *
 * usage: test_mallocrep1 [-v] [-r] [-l] [SIZE COUNT]
 *   -r  free in reverse order only (by default: forward, then reverse)
 *   -l  long test: sizes to 4 MiB, up to 256 MiB live
 *   SIZE COUNT  one round of COUNT blocks of SIZE bytes
 */
#include "check.h"

#include <mgc.h>

#define NB 10000

static void *b[NB];	/* in bss: a root */
static bool chatty, reverse_only, longtest;

static uint64_t
current_alloc(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.alloc;
}

static void
check_sys(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	CHECK(s.sys <= 1000000000u, "too much memory allocated: sys %llu",
	      (unsigned long long)s.sys);
}

/* Checks that p is its own base with an acceptable usable size; returns it. */
static size_t
lookup(void *p, size_t size)
{
	size_t n = 0;
	void *base = mgc_base(p, &n);

	CHECK(base == p && check_ok_amount(size, n),
	      "lookup failed: got %p %zu for %p (size %zu)", base, n, p, size);
	return n;
}

static void
alloc_all(size_t size, int count)
{
	for (int i = 0; i < count; i++) {
		b[i] = mgc_alloc(size);
		CHECK(b[i] != NULL, "mgc_alloc(%zu) #%d returned NULL (errno %d)", size,
		      i, errno);
		lookup(b[i], size);
		check_sys();
	}
}

static void
free_all(size_t size, int count, bool reverse)
{
	for (int j = 0; j < count; j++) {
		int i = reverse ? count - 1 - j : j;
		uint64_t before = current_alloc(), after;
		size_t n = lookup(b[i], size);

		mgc_free(b[i]);
		b[i] = NULL;
		after = current_alloc();
		CHECK(after == before - n, "free alloc got %llu expected %llu after free of %zu",
		      (unsigned long long)after, (unsigned long long)(before - n), n);
		check_sys();
	}
}

static void
alloc_and_free(size_t size, int count, bool reverse)
{
	uint64_t n1, n2, n3, n4;

	if (chatty)
		printf("size=%zu count=%d%s ...\n", size, count, reverse ? " reverse" : "");
	n1 = current_alloc();
	alloc_all(size, count);
	n2 = current_alloc();
	n3 = current_alloc();
	free_all(size, count, reverse);
	n4 = current_alloc();
	CHECK(n2 - n1 == n3 - n4, "size %zu count %d: wrong alloc count: %llu %llu",
	      size, count, (unsigned long long)(n2 - n1), (unsigned long long)(n3 - n4));
	CHECK(n4 == n1, "size %zu count %d: alloc %llu after, %llu before", size, count,
	      (unsigned long long)n4, (unsigned long long)n1);
}

/* The seed's counts: n blocks at most (10000, fewer so that n * size stays
 * under the limit, 10 at least); counts 1, 2, 3, 4, 5, 6, 7, 8, 10, ... */
static void
run_sizes(bool reverse)
{
	size_t maxb = longtest ? (size_t)1 << 22 : (size_t)1 << 19;
	size_t max = longtest ? (size_t)1 << 28 : maxb;

	for (size_t j = 1; j <= maxb; j <<= 1) {
		int n = NB;

		if (j * (size_t)n > max)
			n = (int)(max / j);
		if (n < 10)
			n = 10;
		for (int m = 1; m <= n;) {
			alloc_and_free(j, m, reverse);
			if (m == n)
				break;
			m = 5 * m / 4;
			if (m < 4)
				m++;
			if (m > n)
				m = n;
		}
	}
}

static long
parse_arg(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 0);

	CHECK(*s != '\0' && *end == '\0' && v >= lo && v <= hi,
	      "bad argument %s (want %ld..%ld)", s, lo, hi);
	return v;
}

int
main(int argc, char **argv)
{
	const char *args[2];
	int nargs = 0;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-v") == 0)
			chatty = true;
		else if (strcmp(argv[a], "-r") == 0)
			reverse_only = true;
		else if (strcmp(argv[a], "-l") == 0)
			longtest = true;
		else if (nargs < 2)
			args[nargs++] = argv[a];
		else
			CHECK(false, "usage: %s [-v] [-r] [-l] [SIZE COUNT]", argv[0]);
	}
	if (nargs > 0) {
		CHECK(nargs == 2, "usage: %s [-v] [-r] [-l] [SIZE COUNT]", argv[0]);
		alloc_and_free((size_t)parse_arg(args[0], 0, 1L << 30),
			       (int)parse_arg(args[1], 1, NB), reverse_only);
		return 0;
	}
	if (!reverse_only)
		run_sizes(false);
	run_sizes(true);
	return 0;
}
