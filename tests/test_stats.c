/* test_stats — mgc_read_stats after known sequences.
 *
 * mallocs, frees, alloc and total_alloc follow every allocation and free
 * exactly (block sizes as mgc_base reports them); heap_inuse covers the live
 * blocks and is a whole number of pages, inuse_pages counting them (the page
 * size, heap_inuse / inuse_pages, a power of two of at least 4096); a large
 * block's pages leave heap_inuse when it is freed; sys >= heap_inuse;
 * heap_released <= sys.  mgc_init is idempotent.
 */
#include "check.h"

#include <mgc.h>

#define NBLK 3000

static void *blk[NBLK];	/* in bss: a root */
static size_t blk_usable[NBLK];

#define LLU(v) ((unsigned long long)(v))

/* The invariants that hold at any quiet moment; returns the page size
 * (0 while no page is in use). */
static uint64_t
check_invariants(const mgc_stats *s)
{
	uint64_t page;

	CHECK(s->sys >= s->heap_inuse, "sys %llu < heap_inuse %llu", LLU(s->sys),
	      LLU(s->heap_inuse));
	CHECK(s->heap_released <= s->sys, "heap_released %llu > sys %llu",
	      LLU(s->heap_released), LLU(s->sys));
	CHECK(s->heap_inuse >= s->alloc, "heap_inuse %llu < alloc %llu", LLU(s->heap_inuse),
	      LLU(s->alloc));
	CHECK(s->total_alloc >= s->alloc, "total_alloc %llu < alloc %llu",
	      LLU(s->total_alloc), LLU(s->alloc));
	CHECK(s->mallocs >= s->frees, "mallocs %llu < frees %llu", LLU(s->mallocs),
	      LLU(s->frees));
	if (s->inuse_pages == 0) {
		CHECK(s->heap_inuse == 0, "heap_inuse %llu with no page in use",
		      LLU(s->heap_inuse));
		return 0;
	}
	page = s->heap_inuse / s->inuse_pages;
	CHECK(page * s->inuse_pages == s->heap_inuse, "heap_inuse %llu is not %llu pages",
	      LLU(s->heap_inuse), LLU(s->inuse_pages));
	CHECK(page >= 4096 && (page & (page - 1)) == 0, "page size %llu (heap_inuse %llu, "
	      "inuse_pages %llu)", LLU(page), LLU(s->heap_inuse), LLU(s->inuse_pages));
	return page;
}

static void
read_checked(mgc_stats *s)
{
	mgc_read_stats(s);
	check_invariants(s);
}

static void
check_delta(const mgc_stats *a, const mgc_stats *b, uint64_t mallocs, uint64_t frees,
	    int64_t alloc, uint64_t total, const char *when)
{
	CHECK(b->mallocs - a->mallocs == mallocs, "%s: mallocs +%llu, want +%llu", when,
	      LLU(b->mallocs - a->mallocs), LLU(mallocs));
	CHECK(b->frees - a->frees == frees, "%s: frees +%llu, want +%llu", when,
	      LLU(b->frees - a->frees), LLU(frees));
	CHECK((int64_t)(b->alloc - a->alloc) == alloc, "%s: alloc %+lld, want %+lld", when,
	      (long long)(b->alloc - a->alloc), (long long)alloc);
	CHECK(b->total_alloc - a->total_alloc == total, "%s: total_alloc +%llu, want +%llu",
	      when, LLU(b->total_alloc - a->total_alloc), LLU(total));
}

static void
test_init(void)
{
	mgc_stats a, b;

	mgc_init();
	read_checked(&a);
	mgc_init();
	mgc_init();
	read_checked(&b);
	check_delta(&a, &b, 0, 0, 0, 0, "mgc_init again");
	CHECK(a.sys == b.sys, "mgc_init again changed sys %llu -> %llu", LLU(a.sys), LLU(b.sys));
}

static size_t
usable_of(void *p)
{
	size_t u = 0;

	CHECK(mgc_base(p, &u) == p, "block %p not live", p);
	return u;
}

/* Allocates n blocks of sizes size(i); returns the usable bytes. */
static uint64_t
alloc_n(int n, size_t (*size)(int))
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		blk[i] = i % 3 ? mgc_alloc(size(i)) : mgc_alloc_noscan(size(i));
		CHECK(blk[i] != NULL, "mgc_alloc(%zu) failed", size(i));
		blk_usable[i] = usable_of(blk[i]);
		sum += blk_usable[i];
	}
	return sum;
}

static size_t
size_same(int i)
{
	(void)i;
	return 48;
}

static size_t
size_mixed(int i)
{
	return (size_t)(i * 7919 % 20000) + 1;
}

static size_t
size_large(int i)
{
	return (size_t)(i + 1) * 100000;
}

/* Allocate n blocks, free the odd ones, then the even ones. */
static void
test_sequence(int n, size_t (*size)(int), const char *name)
{
	mgc_stats a, b, c, d;
	uint64_t sum, odd = 0;

	read_checked(&a);
	sum = alloc_n(n, size);
	read_checked(&b);
	check_delta(&a, &b, (uint64_t)n, 0, (int64_t)sum, sum, name);
	CHECK(b.heap_inuse >= a.heap_inuse, "%s: heap_inuse fell while allocating", name);
	for (int i = 1; i < n; i += 2) {
		odd += blk_usable[i];
		mgc_free(blk[i]);
	}
	read_checked(&c);
	check_delta(&b, &c, 0, (uint64_t)n / 2, -(int64_t)odd, 0, name);
	for (int i = 0; i < n; i += 2)
		mgc_free(blk[i]);
	read_checked(&d);
	check_delta(&a, &d, (uint64_t)n, (uint64_t)n, 0, sum, name);
}

/* A large block's pages are in use exactly while it is live.  A collection
 * first, so that no lazy sweep of an earlier automatic collection gives
 * spans back to the heap between the readings. */
static void
test_large_pages(size_t size)
{
	mgc_stats a, b, c;
	void *p;
	size_t u;
	uint64_t page;

	mgc_collect();
	read_checked(&a);
	p = mgc_alloc(size);
	CHECK(p != NULL, "mgc_alloc(%zu) failed", size);
	u = usable_of(p);
	read_checked(&b);
	page = check_invariants(&b);
	CHECK(b.heap_inuse - a.heap_inuse >= u, "large block of %zu usable: heap_inuse +%llu",
	      u, LLU(b.heap_inuse - a.heap_inuse));
	CHECK(b.inuse_pages - a.inuse_pages == (b.heap_inuse - a.heap_inuse) / page,
	      "inuse_pages +%llu for heap_inuse +%llu", LLU(b.inuse_pages - a.inuse_pages),
	      LLU(b.heap_inuse - a.heap_inuse));
	CHECK(b.sys >= b.heap_inuse, "sys below heap_inuse");
	mgc_free(p);
	read_checked(&c);
	CHECK(c.heap_inuse == a.heap_inuse, "after freeing a large block: heap_inuse %llu, "
	      "was %llu before it", LLU(c.heap_inuse), LLU(a.heap_inuse));
	CHECK(c.inuse_pages == a.inuse_pages, "inuse_pages %llu, was %llu",
	      LLU(c.inuse_pages), LLU(a.inuse_pages));
}

/* Live small blocks keep pages in use. */
static void
test_small_pages(void)
{
	mgc_stats a, b;
	uint64_t sum;

	read_checked(&a);
	sum = alloc_n(NBLK, size_same);
	read_checked(&b);
	CHECK(b.heap_inuse >= sum, "heap_inuse %llu below %llu bytes of live blocks",
	      LLU(b.heap_inuse), LLU(sum));
	CHECK(b.inuse_pages > 0, "no page in use with %d live blocks", NBLK);
	for (int i = 0; i < NBLK; i++)
		mgc_free(blk[i]);
}

int
main(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	check_invariants(&s);
	test_init();
	test_small_pages();
	test_sequence(1, size_same, "one block");
	test_sequence(NBLK, size_same, "same size");
	test_sequence(NBLK, size_mixed, "mixed sizes");
	test_sequence(20, size_large, "large blocks");
	test_large_pages(100000);
	test_large_pages(1 << 20);
	test_large_pages(5 << 20);
	test_init();
	return 0;
}
