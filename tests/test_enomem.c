/* test_enomem — requests that cannot be satisfied.
 *
 * mgc_alloc, mgc_alloc_noscan and mgc_realloc with sizes no address space
 * can hold (SIZE_MAX and sizes whose rounding would overflow, 2^48, just
 * under 2^47) return NULL with errno ENOMEM and count nothing; a failed
 * mgc_realloc leaves its block intact.  The heap stays usable afterwards.
 */
#include "check.h"

#include <mgc.h>

static const size_t huge[] = {
	SIZE_MAX,
	SIZE_MAX - 1,
	SIZE_MAX - 15,
	SIZE_MAX - 4095,
	SIZE_MAX - ((size_t)1 << 20) + 1,
	SIZE_MAX / 2,
	SIZE_MAX / 2 + 1,
	(size_t)1 << 48,
	((size_t)1 << 47) - 4096,
};

#define NHUGE (sizeof huge / sizeof huge[0])

static unsigned char *blocks[64];	/* in bss: a root */

static void
check_failed(void *p, const char *call, size_t size)
{
	int e = errno;

	CHECK(p == NULL, "%s(%zu) returned %p", call, size, p);
	CHECK(e == ENOMEM, "%s(%zu): errno %d, want ENOMEM (%d)", call, size, e, ENOMEM);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static void
verify(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == (unsigned char)(i * 31 + seed), "block %p byte %zu is %#x, "
		      "want %#x", (const void *)p, i, p[i], (unsigned char)(i * 31 + seed));
}

static void
check_same_counts(const mgc_stats *a, const mgc_stats *b, const char *when)
{
	CHECK(a->mallocs == b->mallocs && a->frees == b->frees,
	      "%s: mallocs %llu -> %llu, frees %llu -> %llu", when,
	      (unsigned long long)a->mallocs, (unsigned long long)b->mallocs,
	      (unsigned long long)a->frees, (unsigned long long)b->frees);
	CHECK(a->alloc == b->alloc && a->total_alloc == b->total_alloc,
	      "%s: alloc %llu -> %llu, total_alloc %llu -> %llu", when,
	      (unsigned long long)a->alloc, (unsigned long long)b->alloc,
	      (unsigned long long)a->total_alloc, (unsigned long long)b->total_alloc);
}

static void
test_alloc_fails(void)
{
	mgc_stats before, after;

	mgc_read_stats(&before);
	for (size_t i = 0; i < NHUGE; i++) {
		errno = 0;
		check_failed(mgc_alloc(huge[i]), "mgc_alloc", huge[i]);
		errno = 0;
		check_failed(mgc_alloc_noscan(huge[i]), "mgc_alloc_noscan", huge[i]);
		errno = 0;
		check_failed(mgc_realloc(NULL, huge[i]), "mgc_realloc(NULL)", huge[i]);
	}
	mgc_read_stats(&after);
	check_same_counts(&before, &after, "failed allocations");
}

/* A failed realloc of a block of `size` bytes leaves it live and intact. */
static void
test_realloc_fails(void *(*fn)(size_t), size_t size)
{
	mgc_stats before, after;
	unsigned char *p = fn(size);
	size_t u = 0;

	CHECK(p != NULL, "allocation of %zu bytes failed", size);
	blocks[0] = p;
	fill(p, size, 7);
	mgc_read_stats(&before);
	for (size_t i = 0; i < NHUGE; i++) {
		errno = 0;
		check_failed(mgc_realloc(p, huge[i]), "mgc_realloc(p)", huge[i]);
		CHECK(mgc_base(p, &u) == p, "block %p not live after a failed realloc", (void *)p);
		CHECK(check_ok_amount(size, u), "usable size %zu of %zu bytes after a failed "
		      "realloc", u, size);
		verify(p, size, 7);
	}
	mgc_read_stats(&after);
	check_same_counts(&before, &after, "failed reallocs");
	mgc_free(p);
	blocks[0] = NULL;
}

/* After the failures, blocks of every kind of size still work. */
static void
test_heap_usable(void)
{
	static const size_t sizes[] = { 0, 1, 8, 24, 100, 1000, 5000, 40000, 300000, 2 << 20 };
	const size_t n = sizeof sizes / sizeof sizes[0];
	mgc_stats before, during, after;
	uint64_t sum = 0;

	mgc_read_stats(&before);
	for (size_t i = 0; i < n; i++) {
		size_t u = 0;

		blocks[i] = i % 2 ? mgc_alloc(sizes[i]) : mgc_alloc_noscan(sizes[i]);
		CHECK(blocks[i] != NULL, "mgc_alloc(%zu) after failures: NULL", sizes[i]);
		CHECK(mgc_base(blocks[i], &u) == blocks[i] || sizes[i] == 0, "mgc_base");
		CHECK(sizes[i] == 0 || check_ok_amount(sizes[i], u), "usable %zu", u);
		sum += sizes[i] == 0 ? 0 : u;
		fill(blocks[i], sizes[i], (unsigned)i);
	}
	mgc_read_stats(&during);
	CHECK(during.mallocs == before.mallocs + n, "mallocs advanced by %llu, want %zu",
	      (unsigned long long)(during.mallocs - before.mallocs), n);
	CHECK(during.alloc >= before.alloc + sum, "alloc advanced by %llu, blocks hold %llu",
	      (unsigned long long)(during.alloc - before.alloc), (unsigned long long)sum);
	for (size_t i = 0; i < n; i++) {
		verify(blocks[i], sizes[i], (unsigned)i);
		mgc_free(blocks[i]);
		blocks[i] = NULL;
	}
	mgc_read_stats(&after);
	CHECK(after.frees == before.frees + n, "frees advanced by %llu, want %zu",
	      (unsigned long long)(after.frees - before.frees), n);
	CHECK(after.alloc == before.alloc, "alloc %llu after freeing all, was %llu",
	      (unsigned long long)after.alloc, (unsigned long long)before.alloc);
}

int
main(void)
{
	test_alloc_fails();
	test_realloc_fails(mgc_alloc, 100);
	test_realloc_fails(mgc_alloc_noscan, 5000);
	test_realloc_fails(mgc_alloc, 500000);
	test_heap_usable();
	test_alloc_fails();
	test_heap_usable();
	return 0;
}
