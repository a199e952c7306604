/* test_fin_table — the specials table under many records, growth and
 * removals in every order.
 *
 * N blocks each get a finalizer, even ones two cleanups, every seventh a
 * weak handle: the table grows many times past its first size.  Then
 * records leave in every way there is, which moves other records around
 * inside the table: finalizers cleared with fn NULL (every third block),
 * blocks freed with mgc_free (i % 5 == 1: all their records go, and their
 * weak handles read NULL at once), cleared ones set and cleared again.
 * Every block left must still answer EEXIST for its finalizer, and nothing
 * else may have been lost or duplicated: once all blocks are dropped,
 *   - no finalizer runs for a cleared or freed block, and none twice;
 *   - no cleanup runs for a freed block, and none twice;
 *   - at least 99% of the expected finalizers and cleanups run (a
 *     conservative collector may keep a few blocks a stale word points to);
 *   - a block's weak handle is already NULL when its finalizer runs.
 */
#include "check.h"

#include <stdatomic.h>

#include <mgc.h>

#define N      20000
#define ROUNDS 50

static struct blk {
	long index;
} *volatile keep[N];
static mgc_weak *weak[N];
static atomic_int fin_runs[N], cleanup_runs[N][2];
static atomic_int errors;

static bool
cleared(long i)
{
	return i % 3 == 0;
}
static bool
freed(long i)
{
	return i % 5 == 1;
}
static bool
has_cleanups(long i)
{
	return i % 2 == 0;
}

static void
on_final(void *obj, void *arg)
{
	long i = (long)(uintptr_t)arg - 1;
	if (i < 0 || i >= N || ((struct blk *)obj)->index != i) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	if (weak[i] != NULL && mgc_weak_get(weak[i]) != NULL)
		atomic_fetch_add(&errors, 1);
	atomic_fetch_add(&fin_runs[i], 1);
}

static void
on_cleanup(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	long i = (long)(v >> 1) - 1;
	if (i < 0 || i >= N)
		atomic_fetch_add(&errors, 1);
	else
		atomic_fetch_add(&cleanup_runs[i][v & 1], 1);
}

static void
build(void)
{
	for (long i = 0; i < N; i++) {
		struct blk *b = mgc_alloc(sizeof *b);
		CHECK(b != NULL, "mgc_alloc failed");
		b->index = i;
		keep[i] = b;
		CHECK(mgc_set_finalizer(b, on_final, (void *)(uintptr_t)(i + 1)) == 0,
		      "set_finalizer %ld", i);
		if (has_cleanups(i))
			for (uintptr_t k = 0; k < 2; k++)
				CHECK(mgc_add_cleanup(b, on_cleanup,
				                      (void *)((uintptr_t)(i + 1) << 1 | k)) == 0,
				      "add_cleanup %ld", i);
		if (i % 7 == 0)
			CHECK((weak[i] = mgc_weak_new(b)) != NULL, "weak_new %ld", i);
	}
}

static void
remove_some(void)
{
	for (long i = 0; i < N; i++) {
		struct blk *b = keep[i];
		if (cleared(i)) {
			CHECK(mgc_set_finalizer(b, NULL, NULL) == 0, "clear %ld", i);
			CHECK(mgc_set_finalizer(b, on_final, (void *)1) == 0, "reset %ld", i);
			CHECK(mgc_set_finalizer(b, NULL, NULL) == 0, "clear again %ld", i);
		}
		if (freed(i)) {
			mgc_free(b);
			keep[i] = NULL;
			if (weak[i] != NULL)
				CHECK(mgc_weak_get(weak[i]) == NULL, "weak of freed %ld", i);
		}
	}
	for (long i = 0; i < N; i++) {
		if (freed(i) || cleared(i))
			continue;
		errno = 0;
		CHECK(mgc_set_finalizer(keep[i], on_final, NULL) == -1 && errno == EEXIST,
		      "finalizer of %ld lost", i);
		if (weak[i] != NULL)
			CHECK(mgc_weak_get(weak[i]) == keep[i], "weak of %ld", i);
	}
}

int
main(void)
{
	build();
	remove_some();
	for (long i = 0; i < N; i++)
		keep[i] = NULL;
	long want_fin = 0, want_clean = 0;
	for (long i = 0; i < N; i++) {
		want_fin += !freed(i) && !cleared(i);
		want_clean += (!freed(i) && has_cleanups(i)) * 2;
	}
	long got_fin = 0, got_clean = 0;
	for (int r = 0; r < ROUNDS && (got_fin < want_fin || got_clean < want_clean); r++) {
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
		got_fin = got_clean = 0;
		for (long i = 0; i < N; i++) {
			got_fin += atomic_load(&fin_runs[i]);
			got_clean +=
			        atomic_load(&cleanup_runs[i][0]) + atomic_load(&cleanup_runs[i][1]);
		}
	}
	for (long i = 0; i < N; i++) {
		int f = atomic_load(&fin_runs[i]);
		CHECK(f <= 1, "finalizer of %ld ran %d times", i, f);
		CHECK(f == 0 || (!freed(i) && !cleared(i)), "finalizer of removed %ld ran", i);
		for (int k = 0; k < 2; k++) {
			int c = atomic_load(&cleanup_runs[i][k]);
			CHECK(c <= 1, "cleanup %d of %ld ran %d times", k, i, c);
			CHECK(c == 0 || (!freed(i) && has_cleanups(i)), "cleanup of %ld ran", i);
		}
	}
	CHECK(got_fin * 100 >= want_fin * 99, "%ld of %ld finalizers ran", got_fin, want_fin);
	CHECK(got_clean * 100 >= want_clean * 99, "%ld of %ld cleanups ran", got_clean, want_clean);
	CHECK(atomic_load(&errors) == 0, "%d finalizers saw a bad object or a live weak handle",
	      atomic_load(&errors));
	printf("%ld finalizers, %ld cleanups ran\n", got_fin, got_clean);
	return 0;
}
