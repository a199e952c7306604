/* toggle.c — Boehm's toggle references (GC_set_toggleref_func,
 * GC_toggleref_add), used by runtimes that bind objects to another
 * language's reference-counted ones (Mono's and Unity's bridges).
 *
 * Each registered object has one entry in an array: strong (the object's
 * address, which keeps it alive: the array is an mgc block reached from
 * this library's data, so the collector scans it) or weak (the address
 * complemented, which keeps nothing alive and has bit 0 set).  As in
 * Boehm, at the start of every collection the toggle-ref function decides
 * each entry's state for that collection: GC_TOGGLE_REF_DROP removes it,
 * GC_TOGGLE_REF_STRONG and _WEAK make it strong or weak (the
 * MGC_EVENT_START event: the world runs, mgc's collection lock is held, so
 * the function must not allocate from the collector, as under Boehm's
 * lock).  Weak entries whose object the collection did not reach, even
 * from objects awaiting finalization, are cleared just before the world
 * restarts (MGC_EVENT_RESUME), so no entry names a dead object.  The
 * function is not asked about cleared entries again.
 *
 * Locking: GC_toggleref_add changes the array inside an exclusive section
 * (mgc_call_exclusive), so never while a collection runs, and under
 * add_lock against other adders (a leaf, before compat_lock).  The event
 * handlers run during a collection, when no exclusive section runs: they
 * take no lock.
 */
#include "compat.h"

#include <stdatomic.h>
#include <string.h>

static _Atomic(GC_toggleref_func) toggle_func;
static uintptr_t *entries; /* an mgc block: entries[0, nentries) */
static size_t nentries, capacity;
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
is_weak(uintptr_t e)
{
	return e & 1;
}

static void *
entry_object(uintptr_t e)
{
	return is_weak(e) ? (void *)~e : (void *)e;
}

void GC_CALL
GC_set_toggleref_func(GC_toggleref_func fn)
{
	compat_kinds_init();
	atomic_store(&toggle_func, fn);
}

GC_toggleref_func GC_CALL
GC_get_toggleref_func(void)
{
	return atomic_load(&toggle_func);
}

struct add {
	void *obj;
	int strong, rc;
};

/* Room for one more entry; false if memory ran out. */
static bool
reserve(void)
{
	if (nentries < capacity)
		return true;
	size_t cap = capacity ? 2 * capacity : 32;
	uintptr_t *n = mgc_alloc(cap * sizeof *n);
	if (n == NULL)
		return false;
	if (nentries > 0)
		memcpy(n, entries, nentries * sizeof *n);
	entries = n;
	capacity = cap;
	return true;
}

static void *
add_exclusive(void *arg)
{
	struct add *a = arg;
	pthread_mutex_lock(&add_lock);
	if (atomic_load(&toggle_func) != NULL) {
		if (!reserve())
			a->rc = GC_NO_MEMORY;
		else
			entries[nentries++] = a->strong ? (uintptr_t)a->obj : ~(uintptr_t)a->obj;
	}
	pthread_mutex_unlock(&add_lock);
	return NULL;
}

/* Boehm registers nothing while no function is set, and says so with
 * GC_SUCCESS. */
int GC_CALL
GC_toggleref_add(void *obj, int is_strong)
{
	struct add a = {obj, is_strong, GC_SUCCESS};
	compat_fork_init();
	mgc_call_exclusive(add_exclusive, &a);
	return a.rc;
}

/* ---- the passes --------------------------------------------------------------- */

void
compat_toggle_start(void)
{
	GC_toggleref_func fn = atomic_load(&toggle_func);
	if (fn == NULL)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < nentries; i++) {
		if (entries[i] == 0)
			continue;
		void *obj = entry_object(entries[i]);
		GC_ToggleRefStatus st = fn(obj);
		if (st == GC_TOGGLE_REF_STRONG) {
			entries[kept++] = (uintptr_t)obj;
		} else if (st == GC_TOGGLE_REF_WEAK) {
			entries[kept++] = ~(uintptr_t)obj;
		} else if (st != GC_TOGGLE_REF_DROP) {
			compat_abort("mgc: toggle-ref function returned %d", (int)st);
		}
	}
	if (kept < nentries)
		memset(entries + kept, 0, (nentries - kept) * sizeof *entries);
	nentries = kept;
}

void
compat_toggle_resume(void)
{
	for (size_t i = 0; i < nentries; i++)
		if (is_weak(entries[i]) && !mgc_is_marked(entry_object(entries[i])))
			entries[i] = 0;
}
