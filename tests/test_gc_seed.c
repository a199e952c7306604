/* test_gc_seed — the seed's test/gc.go, ported.
 *
 *	func mk2() { b := new([10000]byte); _ = b }
 *	func mk1() { mk2() }
 *	func main() { for i := 0; i < 10; i++ { mk1(); runtime.GC() } }
 *
 * Run twice: with automatic collection off, so that exactly the ten
 * explicit collections are counted, and with the default setting, where
 * automatic collections may add to them.  Either way the ten dropped blocks
 * do not pile up: after the last collection alloc has not grown by more
 * than two of them (a conservative collector may keep one or two through a
 * stale word).
 */
#include "check.h"

#include <mgc.h>

#define ROUNDS 10
#define BLOCK 10000
#define KEPT_AT_MOST 2

static void *volatile last;	/* how big a block of BLOCK bytes is */

static __attribute__((noinline)) void
mk2(void)
{
	char *b = mgc_alloc(BLOCK);

	CHECK(b != NULL, "mgc_alloc(%d) failed (errno %d)", BLOCK, errno);
	b[0] = 1;
	b[BLOCK - 1] = 2;
}

static __attribute__((noinline)) void
mk1(void)
{
	mk2();
}

static size_t
block_usable(void)
{
	size_t u = 0;

	last = mgc_alloc(BLOCK);
	CHECK(last != NULL && mgc_base(last, &u) == last, "mgc_alloc(%d) failed", BLOCK);
	mgc_free(last);
	last = NULL;
	return u;
}

static void
run_seed(bool automatic)
{
	size_t u = block_usable();
	mgc_stats a, b;

	mgc_collect();
	mgc_read_stats(&a);
	for (int i = 0; i < ROUNDS; i++) {
		mk1();
		check_clear_stack();	/* where mk2 left its pointer */
		mgc_collect();
	}
	mgc_read_stats(&b);
	if (automatic)
		CHECK(b.num_gc - a.num_gc >= ROUNDS, "num_gc grew by %llu for %d collections",
		      (unsigned long long)(b.num_gc - a.num_gc), ROUNDS);
	else
		CHECK(b.num_gc - a.num_gc == ROUNDS, "num_gc grew by %llu for %d collections "
		      "with automatic collection off", (unsigned long long)(b.num_gc - a.num_gc),
		      ROUNDS);
	CHECK(b.mallocs - a.mallocs >= ROUNDS, "mallocs grew by %llu for %d allocations",
	      (unsigned long long)(b.mallocs - a.mallocs), ROUNDS);
	CHECK(b.total_alloc - a.total_alloc >= (uint64_t)ROUNDS * BLOCK,
	      "total_alloc grew by %llu for %d blocks of %d bytes",
	      (unsigned long long)(b.total_alloc - a.total_alloc), ROUNDS, BLOCK);
	CHECK(b.alloc <= a.alloc + KEPT_AT_MOST * u, "alloc grew from %llu to %llu: more "
	      "than %d of the %d dropped blocks of %zu bytes are kept",
	      (unsigned long long)a.alloc, (unsigned long long)b.alloc, KEPT_AT_MOST, ROUNDS, u);
}

int
main(void)
{
	int before = mgc_set_gc_percent(-1);

	run_seed(false);
	CHECK(mgc_set_gc_percent(before) == -1, "mgc_set_gc_percent did not return -1 (off)");
	run_seed(true);
	return 0;
}
