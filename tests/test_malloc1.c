/* test_malloc1 — the seed's malloc1: allocate one byte and free it.
 * The statistics must show exactly that: one malloc, one free, and alloc
 * back where it was.  -v prints the statistics. */
#include "check.h"

#include <mgc.h>

static void
print_stats(const mgc_stats *s)
{
	printf("alloc=%llu total_alloc=%llu sys=%llu heap_inuse=%llu "
	       "mallocs=%llu frees=%llu lookups=%llu\n",
	       (unsigned long long)s->alloc, (unsigned long long)s->total_alloc,
	       (unsigned long long)s->sys, (unsigned long long)s->heap_inuse,
	       (unsigned long long)s->mallocs, (unsigned long long)s->frees,
	       (unsigned long long)s->lookups);
}

int
main(int argc, char **argv)
{
	mgc_stats before, during, after;
	size_t usable = 0;
	void *p;
	bool chatty = argc > 1 && strcmp(argv[1], "-v") == 0;

	mgc_read_stats(&before);
	p = mgc_alloc(1);
	CHECK(p != NULL, "mgc_alloc(1) returned NULL (errno %d)", errno);
	CHECK(mgc_base(p, &usable) == p, "mgc_base(%p) is not %p", p, p);
	CHECK(check_ok_amount(1, usable), "usable size %zu for 1 byte", usable);
	mgc_read_stats(&during);
	mgc_free(p);
	mgc_read_stats(&after);
	if (chatty)
		print_stats(&after);

	CHECK(during.mallocs == before.mallocs + 1, "mallocs %llu -> %llu",
	      (unsigned long long)before.mallocs, (unsigned long long)during.mallocs);
	CHECK(during.alloc == before.alloc + usable, "alloc %llu -> %llu, block of %zu",
	      (unsigned long long)before.alloc, (unsigned long long)during.alloc, usable);
	CHECK(during.total_alloc == before.total_alloc + usable, "total_alloc %llu -> %llu",
	      (unsigned long long)before.total_alloc, (unsigned long long)during.total_alloc);
	CHECK(after.mallocs == before.mallocs + 1, "mallocs %llu -> %llu after free",
	      (unsigned long long)before.mallocs, (unsigned long long)after.mallocs);
	CHECK(after.frees == before.frees + 1, "frees %llu -> %llu",
	      (unsigned long long)before.frees, (unsigned long long)after.frees);
	CHECK(after.alloc == before.alloc, "alloc %llu, want %llu after free",
	      (unsigned long long)after.alloc, (unsigned long long)before.alloc);
	CHECK(after.total_alloc == during.total_alloc, "total_alloc moved on free");
	CHECK(after.sys >= after.heap_inuse, "sys %llu < heap_inuse %llu",
	      (unsigned long long)after.sys, (unsigned long long)after.heap_inuse);
	return 0;
}
