/* test_limit_hard — a hard heap maximum gives ENOMEM, and the heap stays
 * usable.
 *
 * Under mgc_set_max_heap(M) (256 MiB; 64 MiB in debug builds) the program
 * keeps 64 KiB blocks until an allocation fails.  It must fail with errno
 * ENOMEM after a full collection (num_gc grows) and not before the heap
 * came near M (at least half of it in blocks), with heap_inuse never above
 * M; a request bigger than M fails at once.  Then half the blocks are
 * dropped, and allocation works again: the collection the next failure
 * would run reclaims them.  All kept blocks keep their contents.  The same
 * maximum through MGC_MAXHEAP is checked in a child.
 *
 * usage: test_limit_hard [MAX_MIB]
 */
#include "memory.h"

enum { BLOCK = 64 << 10 };

static void **kept; /* an mgc block, reached from this global */
static size_t nkept, cap;

static void
check_kept(void)
{
	for (size_t i = 0; i < nkept; i++)
		if (kept[i] != NULL)
			CHECK_PATTERN(kept[i], BLOCK / 8, i, "kept block");
}

static size_t
fill_until_enomem(uint64_t max)
{
	mgc_stats s;

	while (nkept < cap) {
		void *p = mgc_alloc_noscan(BLOCK);
		if (p == NULL) {
			CHECK(errno == ENOMEM, "allocation failed with errno %d, not ENOMEM", errno);
			break;
		}
		check_fill(p, BLOCK / 8, nkept);
		kept[nkept++] = p;
	}
	CHECK(nkept < cap, "no allocation failed under a %llu MiB maximum",
	      (unsigned long long)(max >> 20));
	mgc_read_stats(&s);
	CHECK(s.heap_inuse <= max, "heap_inuse %llu over the maximum %llu",
	      (unsigned long long)s.heap_inuse, (unsigned long long)max);
	return nkept;
}

static void
env_max(void *arg)
{
	(void)arg;
	void *p = mgc_alloc(MIB(40));

	CHECK(p == NULL && errno == ENOMEM, "MGC_MAXHEAP=32MiB let a 40 MiB block through");
	CHECK(mgc_alloc(MIB(8)) != NULL, "an 8 MiB block failed under MGC_MAXHEAP=32MiB");
	CHECK(mgc_set_max_heap(0) == MIB(32), "MGC_MAXHEAP=32MiB not read as 32 MiB");
}

int
main(int argc, char **argv)
{
	uint64_t max = MIB(check_arg(argc, argv, "[MAX_MIB]", 1, MGC_DEBUG_BUILD ? 64 : 256, 16,
	                             1 << 14));
	mgc_stats before, after;

	memory_child_with_env("MGC_MAXHEAP", "32MiB", env_max);

	CHECK(mgc_set_max_heap(max) == 0, "a maximum was set before any");
	cap = (size_t)(max / BLOCK) * 2;
	kept = mgc_alloc(cap * sizeof *kept);
	CHECK(kept != NULL, "table allocation failed");

	errno = 0;
	CHECK(mgc_alloc(max + MIB(1)) == NULL && errno == ENOMEM,
	      "a block bigger than the maximum did not fail with ENOMEM");

	mgc_read_stats(&before);
	size_t n = fill_until_enomem(max);
	mgc_read_stats(&after);
	CHECK(after.num_gc > before.num_gc, "the failing allocation did not collect first");
	CHECK((uint64_t)n * BLOCK >= max / 2, "failed after only %zu blocks (%llu MiB)", n,
	      (unsigned long long)((uint64_t)n * BLOCK >> 20));
	check_kept();

	for (size_t i = 0; i < n; i += 2)
		kept[i] = NULL;
	size_t again = 0;
	for (; again < n / 4; again++) {
		void *p = mgc_alloc_noscan(BLOCK);
		CHECK(p != NULL, "allocation %zu after dropping half failed (errno %d)", again,
		      errno);
		check_fill(p, BLOCK / 8, again + 7);
		CHECK_PATTERN(p, BLOCK / 8, again + 7, "new block");
	}
	check_kept();
	printf("test_limit_hard: ENOMEM after %zu blocks of 64 KiB under %llu MiB; %zu more "
	       "after dropping half\n",
	       n, (unsigned long long)(max >> 20), again);
	return 0;
}
