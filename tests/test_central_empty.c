/* Spans a sweep empties wait on their class's empty list, are reused by
 * that class in place, and go back to the page heap when the next
 * collection starts and when mgc_collect ends.
 *
 * A structure of one size class is dropped; automatic collections then
 * run while the program allocates blocks of the same class, which sweeps
 * lazily and empties the dropped structure's spans.  While that goes on
 * the class must reuse them: heap_inuse stays within a bound well below
 * what fresh spans for every allocation would need.  mgc_collect must
 * leave no empty-list span and give the pages back (heap_inuse drops to
 * about the live blocks).  Every live block is checked.
 */
#define _GNU_SOURCE 1
#include "internal.h"
#include "check.h"

enum { SIZE = 48, NLIVE = 20000, NDROP = 200000, NCHURN = 2000000 };

static uint64_t *live[NLIVE];

static __attribute__((noinline)) void
build_and_drop(void)
{
	for (long i = 0; i < NDROP; i++) {
		uint64_t *p = mgc_alloc(SIZE);
		CHECK(p != NULL, "mgc_alloc");
		p[0] = 0x5a5a5a5a5a5a5a5au;
	}
}

static void
check_live(const char *when)
{
	for (long i = 0; i < NLIVE; i++) {
		CHECK(mgc_base(live[i], NULL) == live[i], "%s: live block %ld freed", when, i);
		CHECK_PATTERN(live[i], SIZE / 8, (uint64_t)i, when);
	}
}

int
main(void)
{
	mgc_init();
	for (long i = 0; i < NLIVE; i++) {
		live[i] = mgc_alloc(SIZE);
		CHECK(live[i] != NULL, "mgc_alloc");
		check_fill(live[i], SIZE / 8, (uint64_t)i);
	}
	build_and_drop();

	mgc_stats st;
	uint64_t max_inuse = 0, gc0;
	bool saw_empty = false;
	mgc_read_stats(&st);
	gc0 = st.num_gc;
	for (long i = 0; i < NCHURN; i++) {
		uint64_t *p = mgc_alloc(SIZE);
		CHECK(p != NULL, "mgc_alloc");
		p[1] = (uint64_t)i;
		if (i % 4096 == 0) {
			saw_empty |= central_count_empty() > 0;
			mgc_read_stats(&st);
			if (st.heap_inuse > max_inuse)
				max_inuse = st.heap_inuse;
		}
	}
	mgc_read_stats(&st);
	CHECK(st.num_gc > gc0 + 2, "only %llu automatic collections ran",
	      (unsigned long long)(st.num_gc - gc0));
	CHECK(saw_empty, "no sweep left a span on an empty list");
	/* Churn garbage alone (NCHURN * SIZE = 96 MB) would need 12 times the
	 * bound if emptied spans were not reused. */
	uint64_t bound = 2 * (uint64_t)(NLIVE + NDROP) * SIZE + (8u << 20);
	CHECK(max_inuse <= bound, "heap_inuse reached %llu, bound %llu",
	      (unsigned long long)max_inuse, (unsigned long long)bound);
	check_live("after churn");

	mgc_collect();
	CHECK(central_count_empty() == 0, "%zu spans left on empty lists after mgc_collect",
	      central_count_empty());
	mgc_read_stats(&st);
	uint64_t need = (uint64_t)NLIVE * SIZE;
	CHECK(st.heap_inuse <= 2 * need + (1u << 20), "heap_inuse %llu after mgc_collect, live %llu",
	      (unsigned long long)st.heap_inuse, (unsigned long long)need);
	check_live("after mgc_collect");
	return 0;
}
