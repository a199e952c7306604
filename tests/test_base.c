/* test_base — block lookup, alignment and zeroing.
 *
 * mgc_base must map every byte of a live block (small size classes and large
 * blocks) to the block start and its usable size, which the contract bounds;
 * it must return NULL one past the end of a block when no live block starts
 * there, for memory mgc does not own, and for freed blocks; `lookups` counts
 * every call.  Blocks are 16-byte aligned (8 for requests of 8 bytes or
 * less), zeroed even when their memory is reused, and size 0 gives unique
 * freeable pointers.  mgc_alloc_noscan gives the same guarantees.
 */
#include "check.h"

#include <mgc.h>

#define NNEIGH 64
#define NZERO 16
#define NALIGN 4
#define NZEROSIZE 256

typedef void *(*alloc_fn)(size_t);

static void *held[8192];	/* in bss: a root */
static int global_int;

static const size_t class_sizes[] = {
	1, 8, 9, 16, 100, 128, 1000, 4096, 30000,
	100 * 1024, 1024 * 1024,
};

static const size_t zero_sizes[] = {
	1, 7, 8, 15, 16, 17, 33, 64, 100, 127, 128, 200, 512, 1000, 2048,
	4096, 8000, 16384, 30000, 65536, 100000, 262144, 1 << 20, 3 << 20,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void *
alloc_checked(alloc_fn fn, size_t size, size_t *usable)
{
	void *p = fn(size);
	size_t u = 0;

	CHECK(p != NULL, "allocation of %zu bytes returned NULL (errno %d)", size, errno);
	CHECK(mgc_base(p, &u) == p, "mgc_base(%p) of a new block of %zu bytes", p, size);
	CHECK(check_ok_amount(size, u), "usable size %zu for a request of %zu", u, size);
	if (usable != NULL)
		*usable = u;
	return p;
}

/* One past the end of a block belongs to no block but possibly the next. */
static void
check_one_past(char *p, size_t u)
{
	void *r = mgc_base(p + u, NULL);

	CHECK(r == NULL || r == p + u, "mgc_base(%p), one past the end of %p (%zu bytes), "
	      "gave %p", (void *)(p + u), (void *)p, u, r);
}

/* Every byte offset of a block maps to its start and usable size. */
static void
check_every_offset(alloc_fn fn, size_t size)
{
	size_t u, s;
	char *p = alloc_checked(fn, size, &u);

	for (size_t off = 0; off < u; off++) {
		void *r = mgc_base(p + off, &s);

		CHECK(r == p && s == u, "mgc_base(%p + %zu) gave %p size %zu, want %p size %zu",
		      (void *)p, off, r, s, (void *)p, u);
	}
	CHECK(mgc_base(p + u / 2, NULL) == p, "mgc_base with size NULL");
	check_one_past(p, u);
	mgc_free(p);
	CHECK(mgc_base(p, NULL) == NULL, "mgc_base(%p) after free of %zu bytes", (void *)p, size);
	CHECK(mgc_base(p + u - 1, NULL) == NULL, "mgc_base(%p + %zu) after free", (void *)p, u - 1);
}

/* Index of the freed block (odd index) holding q, or -1. */
static int
freed_holding(char *q, char *const *blk, size_t u, int n)
{
	for (int i = 1; i < n; i += 2)
		if (q >= blk[i] && q < blk[i] + u)
			return i;
	return -1;
}

/* Allocates NNEIGH blocks, frees every other one: one past the end of a
 * kept block that lands in a freed neighbour must give NULL.  Returns how
 * many kept blocks had a freed neighbour there. */
static int
check_free_neighbours(alloc_fn fn, size_t size)
{
	char *blk[NNEIGH];
	size_t u = 0;
	int hits = 0;

	for (int i = 0; i < NNEIGH; i++)
		held[i] = blk[i] = alloc_checked(fn, size, &u);
	for (int i = 1; i < NNEIGH; i += 2)
		mgc_free(blk[i]);
	for (int i = 0; i < NNEIGH; i += 2) {
		char *q = blk[i] + u;

		check_one_past(blk[i], u);
		if (freed_holding(q, blk, u, NNEIGH) < 0)
			continue;
		CHECK(mgc_base(q, NULL) == NULL, "mgc_base(%p), one past %p into a freed "
		      "block, is not NULL", (void *)q, (void *)blk[i]);
		hits++;
	}
	for (int i = 0; i < NNEIGH; i += 2)
		mgc_free(blk[i]);
	return hits;
}

static void
test_lookup(alloc_fn fn)
{
	for (size_t i = 0; i < COUNT(class_sizes); i++) {
		size_t size = class_sizes[i];

		check_every_offset(fn, size);
		if (size <= 1000)
			CHECK(check_free_neighbours(fn, size) > 0,
			      "no pair of adjacent blocks of %zu bytes among %d", size, NNEIGH);
		else if (size <= 30000)
			check_free_neighbours(fn, size);
	}
}

/* A large block followed by a freed large block. */
static void
test_after_large(void)
{
	size_t u1, u2;
	char *a = alloc_checked(mgc_alloc, 1 << 20, &u1);
	char *b = alloc_checked(mgc_alloc, 1 << 20, &u2);

	mgc_free(b);
	check_one_past(a, u1);
	if (b == a + u1)
		CHECK(mgc_base(a + u1, NULL) == NULL, "one past a large block %p, into a "
		      "freed one, is not NULL", (void *)a);
	CHECK(mgc_base(b, NULL) == NULL, "freed large block %p still found", (void *)b);
	mgc_free(a);
}

static void
test_foreign(void)
{
	int local = 0;
	void *m = malloc(100);
	static const uintptr_t odd[] = {
		0, 1, 8, 4096, 65536, (uintptr_t)1 << 32, ((uintptr_t)1 << 47) - 8,
		(uintptr_t)1 << 47, UINTPTR_MAX / 2, UINTPTR_MAX - 15, UINTPTR_MAX,
	};

	CHECK(m != NULL, "malloc failed");
	CHECK(mgc_base(&local, NULL) == NULL, "mgc_base of a stack address");
	CHECK(mgc_base(&global_int, NULL) == NULL, "mgc_base of a global");
	CHECK(mgc_base(held, NULL) == NULL, "mgc_base of a global array");
	CHECK(mgc_base(m, NULL) == NULL, "mgc_base of a malloc block");
	CHECK(mgc_base((char *)m + 50, NULL) == NULL, "mgc_base inside a malloc block");
	for (size_t i = 0; i < COUNT(odd); i++)
		CHECK(mgc_base((const void *)odd[i], NULL) == NULL, "mgc_base(%#jx) is not NULL",
		      (uintmax_t)odd[i]);
	free(m);
}

static uint64_t
lookups_now(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.lookups;
}

/* `lookups` counts mgc_base calls, hits and misses, and nothing else. */
static void
test_lookups_count(void)
{
	uint64_t before = lookups_now();
	uint64_t calls = 0;
	int local;

	for (int i = 0; i < 100; i++) {
		char *p = mgc_alloc((size_t)i * 37 + 1);
		char *q = mgc_realloc(mgc_alloc_noscan(10), (size_t)i * 100 + 1);

		CHECK(p != NULL && q != NULL, "allocation failed");
		calls += mgc_base(p, NULL) == p;
		calls += mgc_base(q + i, NULL) == q;
		calls += mgc_base(&local, NULL) == NULL;
		mgc_free(p);
		mgc_free(q);
		calls += mgc_base(NULL, NULL) == NULL;
	}
	CHECK(calls == 400, "a lookup gave a wrong answer");
	CHECK(lookups_now() - before == calls, "lookups advanced by %llu for %llu mgc_base calls",
	      (unsigned long long)(lookups_now() - before), (unsigned long long)calls);
}

static void
check_alignment(const void *p, size_t size)
{
	uintptr_t align = size <= 8 ? 8 : 16;

	CHECK((uintptr_t)p % align == 0, "block %p of %zu bytes is not %ju-aligned", p,
	      size, (uintmax_t)align);
}

static void
test_alignment(alloc_fn fn)
{
	static const size_t big[] = { 2000, 4095, 4097, 65537, 200000, 1000001 };
	size_t n = 0;

	for (size_t size = 0; size <= 1024; size++)
		for (int k = 0; k < NALIGN; k++) {
			held[n] = alloc_checked(fn, size, NULL);
			check_alignment(held[n++], size);
		}
	for (size_t i = 0; i < COUNT(big); i++) {
		held[n] = alloc_checked(fn, big[i], NULL);
		check_alignment(held[n++], big[i]);
	}
	while (n > 0)
		mgc_free(held[--n]);
}

static void
check_zero(const unsigned char *p, size_t u, size_t size)
{
	for (size_t i = 0; i < u; i++)
		CHECK(p[i] == 0, "block %p (request %zu, usable %zu) byte %zu is %#x, not 0",
		      (const void *)p, size, u, i, p[i]);
}

static void *
alloc_by_realloc(size_t size)
{
	return mgc_realloc(NULL, size);
}

/* Fill, free, allocate again: the new blocks (often the same memory) read
 * as zero over their whole usable size. */
static void
test_zero_size(size_t size, int round)
{
	static const alloc_fn fns[] = { mgc_alloc, mgc_alloc_noscan, alloc_by_realloc };
	int n = size > 100000 ? 2 : NZERO;
	size_t u[NZERO];

	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < n; i++) {
			held[i] = alloc_checked(fns[(r + round + i) % 3], size, &u[i]);
			check_zero(held[i], u[i], size);
			memset(held[i], 0xff, u[i]);
		}
		for (int i = 0; i < n; i++)
			mgc_free(held[i]);
	}
}

/* Memory of a freed large block reused for small blocks reads as zero. */
static void
test_zero_reuse(void)
{
	size_t u;
	char *big = alloc_checked(mgc_alloc, 3 << 20, &u);

	memset(big, 0xee, u);
	mgc_free(big);
	for (int i = 0; i < 2000; i++) {
		held[i] = alloc_checked(i % 2 ? mgc_alloc : mgc_alloc_noscan, 512, &u);
		check_zero(held[i], u, 512);
		memset(held[i], 0xdd, u);
	}
	for (int i = 0; i < 2000; i++)
		mgc_free(held[i]);
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return (x > y) - (x < y);
}

/* Size 0: non-NULL, pairwise distinct, 8-aligned, freeable. */
static void
test_size_zero(void)
{
	for (int i = 0; i < 2 * NZEROSIZE; i++) {
		held[i] = i % 2 ? mgc_alloc(0) : mgc_alloc_noscan(0);
		CHECK(held[i] != NULL, "size 0 allocation returned NULL");
		check_alignment(held[i], 0);
	}
	qsort(held, 2 * NZEROSIZE, sizeof held[0], cmp_ptr);
	for (int i = 1; i < 2 * NZEROSIZE; i++)
		CHECK(held[i] != held[i - 1], "size 0 pointer %p returned twice", held[i]);
	for (int i = 0; i < 2 * NZEROSIZE; i++)
		mgc_free(held[i]);
}

int
main(void)
{
	test_lookup(mgc_alloc);
	test_lookup(mgc_alloc_noscan);
	test_after_large();
	test_foreign();
	test_lookups_count();
	test_alignment(mgc_alloc);
	test_alignment(mgc_alloc_noscan);
	for (size_t i = 0; i < COUNT(zero_sizes); i++)
		test_zero_size(zero_sizes[i], (int)i);
	test_zero_reuse();
	test_size_zero();
	return 0;
}
