/* test_compat_kinds — libmgc-gc.so's object kinds through Boehm's headers
 * (gc_mark.h, gc_typed.h, gc_inline.h), as GNU Guile uses them: a kind
 * with a mark procedure that pushes with GC_MARK_AND_PUSH, allocation by
 * kind one at a time and in batches (GC_generic_malloc_many), typed
 * blocks from GC_make_descriptor, uncollectable blocks freed by GC_free,
 * interior pointers off with a registered displacement, GC_is_visible, the
 * start callback (which reads GC_get_heap_usage_safe) and the
 * plausible-address globals.
 *
 * Reclamation is observed through disappearing links on many targets: a
 * target that must stay alive always does; of those that must go, at most
 * a tenth may linger (conservative retention of stale stack words).
 */
#include "check.h"

#define GC_THREADS
#include <gc.h>
#include <gc_inline.h>
#include <gc_mark.h>
#include <gc_typed.h>
#include "settle.h"

#define N 200

/* ---- a kind with a mark procedure ----------------------------------------- */

static int proc_kind;
static atomic_long proc_calls;

/* Pushes word 0 and, if env says so, word 2; never word 1. */
static struct GC_ms_entry *
mark_pair(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *msl, GC_word env)
{
	atomic_fetch_add(&proc_calls, 1);
	msp = GC_MARK_AND_PUSH((void *)addr[0], msp, msl, (void **)&addr[0]);
	if (env == 5)
		msp = GC_MARK_AND_PUSH((void *)addr[2], msp, msl, (void **)&addr[2]);
	return msp;
}

static __attribute__((noinline)) void **
make_pairs(struct watch *keep, struct watch *keep2, struct watch *drop)
{
	void **roots = GC_malloc(N * sizeof *roots);
	for (int i = 0; i < N; i++) {
		GC_word *p = GC_generic_malloc(4 * sizeof(GC_word), proc_kind);
		CHECK(p != NULL, "GC_generic_malloc");
		p[0] = (GC_word)target(keep, i);
		p[1] = (GC_word)target(drop, i);
		p[2] = (GC_word)target(keep2, i);
		roots[i] = p;
	}
	return roots;
}

static void
check_proc_kind(void)
{
	unsigned proc = GC_new_proc(mark_pair);
	proc_kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 5), 0, 1);
	CHECK(proc_kind >= 4, "GC_new_kind gave %d", proc_kind);
	static struct watch keep, keep2, drop;
	void **roots = make_pairs(&keep, &keep2, &drop);
	settle(2, false);
	CHECK(atomic_load(&proc_calls) >= N, "mark procedure called %ld times",
	      atomic_load(&proc_calls));
	CHECK(alive(&keep) == N && alive(&keep2) == N, "pushed words keep targets: %d %d",
	      alive(&keep), alive(&keep2));
	CHECK(alive(&drop) <= N / 10, "a word not pushed keeps nothing: %d alive", alive(&drop));
	CHECK((char *)GC_least_plausible_heap_addr <= (char *)roots[0] &&
	              (char *)roots[0] <= (char *)GC_greatest_plausible_heap_addr,
	      "plausible heap addresses bound the heap");
}

/* ---- batches ------------------------------------------------------------------ */

static void
check_many(void)
{
	for (int k = 0; k < 2; k++) {
		void *list = NULL;
		GC_generic_malloc_many(48, k == 0 ? GC_I_NORMAL : proc_kind, &list);
		CHECK(list != NULL, "GC_generic_malloc_many");
		int n = 0;
		for (void **p = list; p != NULL; p = *p, n++)
			CHECK(GC_base(p) == p && GC_size(p) >= 48 && p[1] == NULL, "batch block %d",
			      n);
		CHECK(n >= 1, "batch of %d", n);
	}
	void *m = GC_malloc_many(64);
	CHECK(m != NULL, "GC_malloc_many");
}

/* ---- typed ------------------------------------------------------------------ */

struct typed {
	void *ptr;
	GC_word number;
};

static __attribute__((noinline)) struct typed **
make_typed(struct watch *keep, struct watch *drop)
{
	GC_word bm[GC_BITMAP_SIZE(struct typed)] = {0};
	GC_set_bit(bm, GC_WORD_OFFSET(struct typed, ptr));
	GC_descr d = GC_make_descriptor(bm, GC_WORD_LEN(struct typed));
	struct typed **all = GC_malloc(N * sizeof *all);
	for (int i = 0; i < N; i++) {
		struct typed *t = GC_malloc_explicitly_typed(sizeof *t, d);
		CHECK(t != NULL && GC_size(t) >= sizeof *t, "typed");
		t->ptr = target(keep, i);
		t->number = (GC_word)target(drop, i);
		all[i] = t;
	}
	struct typed *arr = GC_calloc_explicitly_typed(4, sizeof(struct typed), d);
	CHECK(arr != NULL && GC_size(arr) >= 4 * sizeof *arr, "typed array");
	return all;
}

static void
check_typed(void)
{
	static struct watch keep, drop;
	struct typed **all = make_typed(&keep, &drop);
	settle(2, false);
	CHECK(alive(&keep) == N, "typed pointer fields: %d", alive(&keep));
	CHECK(alive(&drop) <= N / 10, "typed number fields keep nothing: %d alive", alive(&drop));
	CHECK(all[0]->ptr != NULL, "kept");
}

/* ---- uncollectable ---------------------------------------------------------- */

static __attribute__((noinline)) GC_word
make_uncollectable(struct watch *keep)
{
	GC_word hidden = 0;
	for (int i = 0; i < N; i++) {
		void **u = GC_malloc_uncollectable(32);
		u[0] = target(keep, i);
		if (i == 0)
			hidden = GC_HIDE_POINTER(u);
	}
	return hidden;
}

static void
check_uncollectable(void)
{
	static struct watch keep;
	GC_word hidden = make_uncollectable(&keep);
	settle(2, false);
	CHECK(alive(&keep) == N, "uncollectable blocks are roots: %d", alive(&keep));
	void **u = GC_REVEAL_POINTER(hidden);
	CHECK(GC_base(u) == u, "uncollectable block live");
	GC_free(u);
	CHECK(GC_base(u) == NULL, "GC_free'd");
	void **v = GC_malloc_uncollectable(16);
	v = GC_realloc(v, 4000);
	hidden = GC_HIDE_POINTER(v);
	v = NULL;
	settle(2, false);
	CHECK(GC_base(GC_REVEAL_POINTER(hidden)) != NULL, "realloc keeps it uncollectable");
	GC_free(GC_REVEAL_POINTER(hidden));
}

/* ---- interior pointers ------------------------------------------------------------ */

static __attribute__((noinline)) void **
make_tagged(struct watch *base, struct watch *tagged, struct watch *inner)
{
	void **holder = GC_malloc(3 * N * sizeof *holder);
	for (int i = 0; i < N; i++) {
		holder[3 * i] = target(base, i);
		holder[3 * i + 1] = (char *)target(tagged, i) + 1;
		holder[3 * i + 2] = (char *)target(inner, i) + 16;
	}
	return holder;
}

static void
check_interior(void)
{
	GC_set_all_interior_pointers(0);
	GC_register_displacement(1);
	CHECK(GC_get_all_interior_pointers() == 0, "setting read back");
	static struct watch base, tagged, inner;
	void **holder = make_tagged(&base, &tagged, &inner);
	settle(2, false);
	CHECK(alive(&base) == N && alive(&tagged) == N, "base and displaced pointers: %d %d",
	      alive(&base), alive(&tagged));
	CHECK(alive(&inner) <= N / 10, "other interior pointers keep nothing: %d alive",
	      alive(&inner));
	GC_set_all_interior_pointers(1);
	CHECK(holder[0] != NULL, "kept");
}

/* ---- start callback, visibility ------------------------------------------------ */

static atomic_int starts;
static GC_word heap_at_start;

static void GC_CALLBACK
on_start(void)
{
	GC_word heap = 0;
	GC_get_heap_usage_safe(&heap, NULL, NULL, NULL, NULL);
	heap_at_start = heap;
	atomic_fetch_add(&starts, 1);
}

static int visible_static;

static void
check_callbacks(void)
{
	GC_set_start_callback(on_start);
	CHECK(GC_get_start_callback() == on_start, "start callback read back");
	GC_gcollect();
	GC_gcollect();
	GC_set_start_callback(0);
	CHECK(atomic_load(&starts) == 2, "start callback ran %d times", atomic_load(&starts));
	CHECK(heap_at_start > 0, "heap usage from the start callback");
	int local;
	CHECK(GC_is_visible(&visible_static) == &visible_static, "static data visible");
	CHECK(GC_is_visible(&local) == &local, "the stack visible");
	CHECK(GC_get_suspend_signal() > 0, "suspend signal");
}

int
main(void)
{
	GC_INIT();
	check_proc_kind();
	check_many();
	check_typed();
	check_uncollectable();
	check_interior();
	check_callbacks();
	printf("test_compat_kinds: ok\n");
	return 0;
}
