/* marking.c — Boehm's marker interface (gc_mark.h) beyond kinds: mark
 * bits, pushing ranges, the push-other-roots procedure, and the walk of
 * reachable objects.
 *
 * Mark bits are mgc's (mgc_is_marked, mgc_set_mark), with mgc's meaning:
 * during a collection (a mark procedure, the push-other-roots procedure)
 * the bits as marked so far; between collections, whether the object
 * survives the last collection's sweep, which GC_set_mark_bit and
 * GC_clear_mark_bit change while the object's block is not yet swept
 * (Boehm's weak maps bring an object back this way).
 *
 * GC_push_all and its variants report a range to the tracer of whatever
 * is running on this thread (compat_tracer): a mark procedure's (the range
 * is scanned as heap memory) or the push-other-roots procedure's (scanned
 * as a root: interior pointers count).  Scanning is as eager as Boehm's
 * _eager variant asks in both cases, since the world stays stopped until
 * the mark ends; mgc keeps no dirty bits, so GC_push_conditional pushes
 * the whole range.  Called outside those, they do nothing.
 *
 * GC_push_other_roots is Boehm's variable (a private symbol programs set
 * directly, as ECL does, or through GC_set_push_other_roots, as Crystal
 * does, chaining to the previous one).  mgc's roots callback calls it at
 * every collection, after the thread stacks, with the world stopped; the
 * default does nothing, since mgc scans every registered thread's stack
 * itself.
 *
 * Locking: none.  The procedure variable is read by the collector with
 * the world stopped; Boehm asks callers of its setter to synchronise.
 */
#include "compat.h"

#include <stdatomic.h>

int GC_CALL
GC_is_marked(const void *p)
{
	return mgc_is_marked(p);
}

void GC_CALL
GC_set_mark_bit(const void *p)
{
	mgc_set_mark(p, 1);
}

void GC_CALL
GC_clear_mark_bit(const void *p)
{
	mgc_set_mark(p, 0);
}

/* ---- pushing ------------------------------------------------------------- */

void GC_CALL
GC_push_all(void *bottom, void *top)
{
	mgc_tracer *t = compat_tracer();
	if (t != NULL)
		mgc_trace_range(t, bottom, top);
}

void GC_CALL
GC_push_all_eager(void *bottom, void *top)
{
	GC_push_all(bottom, top);
}

void GC_CALL
GC_push_conditional(void *bottom, void *top, int all)
{
	(void)all; /* no dirty bits: every page counts as dirty */
	GC_push_all(bottom, top);
}

/* mgc marks its finalization tables (finalizer and cleanup arguments,
 * queued jobs) itself at every collection, and the shim keeps its own
 * records in mgc blocks reached from its data: nothing to push. */
void GC_CALL
GC_push_finalizer_structures(void)
{
}

/* ---- the push-other-roots procedure ---------------------------------------- */

static void GC_CALLBACK
push_nothing(void)
{
}

__attribute__((visibility("default"))) GC_push_other_roots_proc GC_push_other_roots = push_nothing;

void GC_CALL
GC_set_push_other_roots(GC_push_other_roots_proc fn)
{
	compat_kinds_init();
	GC_push_other_roots = fn;
}

GC_push_other_roots_proc GC_CALL
GC_get_push_other_roots(void)
{
	return GC_push_other_roots;
}

void
compat_push_roots(mgc_tracer *t, void *arg)
{
	(void)arg;
	GC_push_other_roots_proc fn = GC_push_other_roots;
	if (fn == NULL)
		return;
	mgc_tracer *saved = compat_set_tracer(t);
	fn();
	compat_set_tracer(saved);
}

/* ---- reachable objects ---------------------------------------------------- */

struct enumerate {
	GC_reachable_object_proc proc;
	void *cd;
};

static void
enumerate_block(void *block, size_t size, void *arg)
{
	const struct enumerate *e = arg;
	e->proc(block, size, e->cd);
}

/* Boehm walks the objects its last collection marked; mgc's heap walk
 * gives those the last collection left and those allocated since.  proc
 * runs with the other threads stopped (mgc_heap_walk's rules). */
void GC_CALL
GC_enumerate_reachable_objects_inner(GC_reachable_object_proc proc, void *cd)
{
	struct enumerate e = {proc, cd};
	mgc_heap_walk(enumerate_block, &e);
}
