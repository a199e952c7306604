/* test_compat_toggle — toggle references and GC_finalize_all through
 * libmgc-gc.so.
 *
 * Toggle refs: objects reached only through their entries; the toggle-ref
 * function answers from each object's own state word, as a bridge to a
 * reference-counted world would.  A strong entry keeps its object, a weak
 * one does not (its object dies, and the function is not asked about it
 * again), a dropped one is forgotten; an object switched from strong to
 * weak dies at the collection that sees the switch.  GC_toggleref_add
 * with no function set registers nothing.
 *
 * GC_finalize_all (javaxfc.h): every registered finalizer runs, reachable
 * objects' too, once, in the calling thread, including one registered by
 * another finalizer meanwhile; none runs again afterwards.
 */
#include "check.h"

#define GC_THREADS
#include <gc.h>
#include <javaxfc.h>
#include "settle.h"

#define N 64

struct obj {
	GC_word state; /* what the toggle-ref function answers */
	GC_word id;
	atomic_int asked;
};

static void *links[N];      /* disappearing links: NULL once the object died */
static struct obj *view[N]; /* hidden addresses, to read an object the test knows alive */
static atomic_int toggle_bad;

static GC_ToggleRefStatus GC_CALLBACK
decide(void *p)
{
	struct obj *o = p;
	if (o->id >= N || GC_base(o) != o)
		atomic_fetch_add(&toggle_bad, 1);
	else
		atomic_fetch_add(&o->asked, 1);
	return (GC_ToggleRefStatus)o->state;
}

static struct obj *
unhide(int i)
{
	return (struct obj *)GC_REVEAL_POINTER((GC_word)view[i]);
}

static __attribute__((noinline)) void
make_objects(void)
{
	for (int i = 0; i < N; i++) {
		struct obj *o = GC_malloc(sizeof *o);
		CHECK(o != NULL, "alloc");
		o->id = (GC_word)i;
		o->state = i % 3 == 0   ? GC_TOGGLE_REF_STRONG
		           : i % 3 == 1 ? GC_TOGGLE_REF_WEAK
		                        : GC_TOGGLE_REF_DROP;
		CHECK(GC_toggleref_add(o, i % 2) == GC_SUCCESS, "GC_toggleref_add");
		links[i] = (void *)GC_HIDE_POINTER(o);
		CHECK(GC_general_register_disappearing_link(&links[i], o) == GC_SUCCESS, "link");
		view[i] = (struct obj *)GC_HIDE_POINTER(o);
	}
}

static void
check_toggle_refs(void)
{
	void *o = GC_malloc(16);
	CHECK(GC_get_toggleref_func() == 0, "no function at first");
	CHECK(GC_toggleref_add(o, 1) == GC_SUCCESS, "without a function: success, nothing kept");
	GC_set_toggleref_func(decide);
	CHECK(GC_get_toggleref_func() == decide, "read back");
	make_objects();
	settle(2, false);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			CHECK(links[i] != NULL && atomic_load(&unhide(i)->asked) == 2,
			      "strong %d: alive %d, asked %d", i, links[i] != NULL,
			      links[i] ? atomic_load(&unhide(i)->asked) : -1);
		}
	}
	int weak_alive = 0, dropped_alive = 0;
	for (int i = 1; i < N; i += 3)
		weak_alive += links[i] != NULL;
	for (int i = 2; i < N; i += 3)
		dropped_alive += links[i] != NULL;
	CHECK(weak_alive <= N / 30 && dropped_alive <= N / 30, "weak: %d alive, dropped: %d alive",
	      weak_alive, dropped_alive);
	/* Strong to weak: the next collection lets it go; asked no more. */
	for (int i = 0; i < N; i += 3)
		unhide(i)->state = GC_TOGGLE_REF_WEAK;
	settle(2, false);
	int strong_alive = 0;
	for (int i = 0; i < N; i += 3)
		strong_alive += links[i] != NULL;
	CHECK(strong_alive <= N / 30, "switched to weak: %d still alive", strong_alive);
	CHECK(atomic_load(&toggle_bad) == 0, "%d calls on a bad object", atomic_load(&toggle_bad));
	GC_set_toggleref_func(0);
}

/* ---- GC_finalize_all --------------------------------------------------------- */

static atomic_int finalized[N + 1];
static void *kept[N]; /* reachable: finalized all the same */

static void GC_CALLBACK
fin(void *obj, void *cd)
{
	GC_word i = *(GC_word *)obj;
	if (cd != obj || i > N)
		return;
	atomic_fetch_add(&finalized[i], 1);
	if (i == 0) { /* a finalizer registering another one meanwhile */
		GC_word *late = GC_malloc(16);
		*late = N;
		GC_register_finalizer(late, fin, late, NULL, NULL);
	}
}

static __attribute__((noinline)) void
make_finalizable(void)
{
	for (int i = 0; i < N; i++) {
		GC_word *p = GC_malloc(16);
		*p = (GC_word)i;
		GC_register_finalizer(p, fin, p, NULL, NULL);
		if (i % 2 == 0)
			kept[i] = p;
	}
}

static void
check_finalize_all(void)
{
	GC_set_finalize_on_demand(1);
	make_finalizable();
	settle(1, false); /* the unreachable half is queued, not run */
	GC_finalize_all();
	for (int i = 0; i <= N; i++)
		CHECK(atomic_load(&finalized[i]) == 1, "finalizer %d ran %d times", i,
		      atomic_load(&finalized[i]));
	settle(2, true);
	for (int i = 0; i <= N; i++)
		CHECK(atomic_load(&finalized[i]) == 1, "finalizer %d ran again", i);
	CHECK(kept[0] != NULL && *(GC_word *)kept[2] == 2, "finalized objects still reachable");
	GC_set_finalize_on_demand(0);
}

int
main(void)
{
	GC_INIT();
	check_toggle_refs();
	check_finalize_all();
	printf("test_compat_toggle: ok\n");
	return 0;
}
