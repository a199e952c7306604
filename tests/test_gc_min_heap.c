/* test_gc_min_heap — mgc_set_min_heap: the floor of next_gc.  A small floor
 * makes a small heap collect often; a large one holds collections off;
 * 0 restores the 4 MiB default; each call returns the previous floor. */
#include "check.h"

#define LLU(x) ((unsigned long long)(x))

/* Collections while `bytes` of garbage is allocated in 1000-byte blocks. */
static uint64_t
collections_over(size_t bytes)
{
	mgc_stats s;
	mgc_read_stats(&s);
	uint64_t before = s.num_gc;
	for (size_t i = 0; i < bytes / 1000; i++)
		CHECK(mgc_alloc(1000) != NULL, "allocation failed");
	mgc_read_stats(&s);
	return s.num_gc - before;
}

int
main(void)
{
	mgc_stats s;
	mgc_init();
	mgc_set_gc_percent(100);
	CHECK(mgc_set_min_heap(256 << 10) == 4 << 20, "default floor is not 4 MiB");
	mgc_collect();
	mgc_read_stats(&s);
	CHECK(s.next_gc >= 256 << 10 && s.next_gc < 4 << 20,
	      "next_gc %llu with a 256 KiB floor and a tiny live heap", LLU(s.next_gc));
	uint64_t often = collections_over(8 << 20);
	CHECK(often >= 10, "256 KiB floor: only %llu collections over 8 MiB", LLU(often));

	CHECK(mgc_set_min_heap(64 << 20) == 256 << 10, "previous floor not returned");
	mgc_collect();
	mgc_read_stats(&s);
	CHECK(s.next_gc >= 64 << 20, "next_gc %llu below a 64 MiB floor", LLU(s.next_gc));
	uint64_t seldom = collections_over(16 << 20);
	CHECK(seldom == 0, "64 MiB floor: %llu collections over 16 MiB", LLU(seldom));

	CHECK(mgc_set_min_heap(0) == 64 << 20, "previous floor not returned");
	mgc_collect();
	mgc_read_stats(&s);
	CHECK(s.next_gc >= 4 << 20, "0 did not restore the 4 MiB floor (next_gc %llu)",
	      LLU(s.next_gc));
	puts("test_gc_min_heap: ok");
	return 0;
}
