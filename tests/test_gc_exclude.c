/* test_gc_exclude — mgc_exclude_roots, mgc_clear_excluded_roots and
 * mgc_set_segment_filter: what they cut out of the data and bss scan.
 *
 * Blocks held only by a global array are watched through weak handles.
 * Excluding the whole array lets them die (at least 90%: a stale word
 * elsewhere may keep a few); excluding its middle lets the middle die and
 * keeps the rest exactly; clearing the exclusions keeps them all again.
 * A filter that refuses the executable's segment holding the array lets
 * them die too, and it is asked about the executable ("") and about the
 * segment that holds the array.  mgc_is_root follows both. */
#include "check.h"

#include <mgc.h>

#define N 64

static void *held[N];
static mgc_weak *weak[N];

static __attribute__((noinline)) void
fill(void)
{
	for (int i = 0; i < N; i++) {
		held[i] = mgc_alloc_noscan(100);
		CHECK(held[i] != NULL, "allocation failed");
		weak[i] = mgc_weak_new(held[i]);
		CHECK(weak[i] != NULL, "mgc_weak_new failed");
	}
}

static void
collect(void)
{
	check_clear_stack();
	mgc_collect();
	mgc_collect();
}

static int
alive(int from, int to)
{
	int n = 0;
	for (int i = from; i < to; i++)
		n += mgc_weak_get(weak[i]) != NULL;
	return n;
}

static void
check_exclude_all(void)
{
	fill();
	mgc_exclude_roots(held, held + N);
	CHECK(!mgc_is_root(&held[0]) && !mgc_is_root(&held[N - 1]),
	      "mgc_is_root answers 1 inside an excluded range");
	CHECK(mgc_is_root(&weak[0]), "mgc_is_root answers 0 outside the excluded range");
	collect();
	CHECK(alive(0, N) <= N / 10, "%d of %d blocks held only from an excluded range survived",
	      alive(0, N), N);
	mgc_clear_excluded_roots();
	CHECK(mgc_is_root(&held[0]), "mgc_is_root answers 0 after the exclusions were cleared");
}

static void
check_exclude_middle(void)
{
	fill();
	/* Unaligned bounds round outward: held[16] and held[47] are cut. */
	mgc_exclude_roots((char *)&held[16] + 3, (char *)&held[47] + 5);
	collect();
	CHECK(alive(0, 16) == 16 && alive(48, N) == N - 48,
	      "blocks outside the excluded middle died (%d, %d)", alive(0, 16), alive(48, N));
	CHECK(alive(16, 48) <= 4, "%d of 32 blocks held only from the excluded middle survived",
	      alive(16, 48));
	mgc_clear_excluded_roots();
	fill();
	collect();
	CHECK(alive(0, N) == N, "only %d of %d blocks survived with no exclusion", alive(0, N), N);
}

struct seen {
	int calls, executable, holder;
};

static int
refuse_holder(const char *name, void *start, size_t size, void *arg)
{
	struct seen *s = arg;
	bool holds = (char *)held >= (char *)start && (char *)held < (char *)start + size;
	s->calls++;
	s->executable += name[0] == '\0';
	s->holder += holds;
	return !holds;
}

static void
check_filter(void)
{
	struct seen s = {0, 0, 0};
	fill();
	mgc_set_segment_filter(refuse_holder, &s);
	CHECK(!mgc_is_root(&held[3]), "mgc_is_root answers 1 in a refused segment");
	collect();
	CHECK(s.calls > 0 && s.executable > 0 && s.holder > 0,
	      "the filter was not asked about the executable's segments (%d calls, %d, %d)",
	      s.calls, s.executable, s.holder);
	CHECK(alive(0, N) <= N / 10, "%d of %d blocks held only from a refused segment survived",
	      alive(0, N), N);
	mgc_set_segment_filter(NULL, NULL);
	fill();
	collect();
	CHECK(alive(0, N) == N, "only %d of %d blocks survived without the filter", alive(0, N), N);
}

int
main(void)
{
	check_exclude_all();
	check_exclude_middle();
	check_filter();
	printf("test_gc_exclude: ok\n");
	return 0;
}
