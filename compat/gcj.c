/* gcj.c — Boehm's gcj-style objects (gc_gcj.h): objects whose first word
 * points to a type structure (gcj's vtable) holding a mark descriptor in
 * its second word (Boehm's MARK_DESCR_OFFSET).
 *
 * GC_init_gcj_malloc(mp_index, mp) fixes mark procedure mp_index to mp (a
 * procedure that aborts if mp is NULL, as Boehm's), and makes the two
 * kinds: GC_gcj_kind, whose descriptor is Boehm's indirect per-object one
 * (the descriptor is read at MARK_DESCR_OFFSET from the address in word
 * 0), and GC_gcj_debug_kind, whose objects are marked by mp with
 * environment 1 (Boehm's debug gcj objects, which carry a debug header).
 * GC_debug_gcj_malloc gives a debug block of the debug kind, whose record
 * lies before the object, as Boehm's debug header does.  kinds.c's trace
 * interprets both kinds, as it does any Boehm descriptor: a length, a
 * bitmap, a mark procedure, or another indirection.  An object
 * whose word 0 is still 0 (allocated, its vtable not yet stored) is not
 * scanned: it holds nothing yet.  With GC_IGNORE_GCJ_INFO in the
 * environment, as in Boehm, both kinds are the normal kind.
 *
 * Locking: the first GC_init_gcj_malloc makes the kinds holding gcj_lock
 * (the later ones return); the kind numbers are published by the release
 * store of gcj_ready.
 */
#include "compat.h"

#include <gc_gcj.h>
#include <gc_inline.h>

#include <stdatomic.h>
#include <stdlib.h>

enum { MARK_DESCR_OFFSET = sizeof(GC_word) };

int GC_gcj_kind;
int GC_gcj_debug_kind;
static atomic_bool gcj_ready;
/* Held while GC_init_gcj_malloc makes the kinds (before compat_lock). */
static pthread_mutex_t gcj_lock = PTHREAD_MUTEX_INITIALIZER;

static struct GC_ms_entry *
no_mark_proc(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *msl, GC_word env)
{
	(void)addr;
	(void)msp;
	(void)msl;
	(void)env;
	compat_abort("mgc: no gcj mark procedure was given to GC_init_gcj_malloc");
}

static void
make_gcj_kinds(int mp_index, GC_mark_proc proc)
{
	compat_set_proc((unsigned)mp_index, proc);
	if (getenv("GC_IGNORE_GCJ_INFO") != NULL) {
		GC_gcj_kind = GC_gcj_debug_kind = GC_I_NORMAL;
		return;
	}
	GC_word indirect = (GC_word)(-(GC_signed_word)MARK_DESCR_OFFSET - GC_INDIR_PER_OBJ_BIAS);
	GC_gcj_kind = (int)compat_new_kind(indirect | GC_DS_PER_OBJECT, false, NULL);
	GC_gcj_debug_kind = (int)compat_new_kind(GC_MAKE_PROC((GC_word)mp_index, 1), false, NULL);
}

void GC_CALL
GC_init_gcj_malloc(int mp_index, void *mp)
{
	GC_init();
	pthread_mutex_lock(&gcj_lock);
	if (!atomic_load_explicit(&gcj_ready, memory_order_relaxed)) {
		GC_mark_proc proc = mp != NULL ? (GC_mark_proc)(uintptr_t)mp : no_mark_proc;
		make_gcj_kinds(mp_index, proc);
		atomic_store_explicit(&gcj_ready, true, memory_order_release);
	}
	pthread_mutex_unlock(&gcj_lock);
}

void *GC_CALL
GC_gcj_malloc(size_t size, void *vtable)
{
	if (!atomic_load_explicit(&gcj_ready, memory_order_acquire))
		compat_abort("mgc: GC_gcj_malloc before GC_init_gcj_malloc");
	if (size < sizeof(GC_word))
		size = sizeof(GC_word);
	void **p = GC_generic_malloc(size, GC_gcj_kind);
	if (p != NULL)
		atomic_store_explicit((_Atomic(void *) *)p, vtable, memory_order_relaxed);
	return p;
}

void *GC_CALL
GC_gcj_malloc_ignore_off_page(size_t size, void *vtable)
{
	return GC_gcj_malloc(size, vtable);
}

/* A debug block (mgc_debug_alloc: its site recorded, its end guarded) of
 * GC_gcj_debug_kind: the mark procedure, called with environment 1, gets
 * the block's start and finds the object GC_get_debug_header_size() past
 * it (GC_USR_PTR_FROM_BASE), as in Boehm. */
void *GC_CALL
GC_debug_gcj_malloc(size_t size, void *vtable, GC_EXTRA_PARAMS)
{
	if (!atomic_load_explicit(&gcj_ready, memory_order_acquire))
		compat_abort("mgc: GC_debug_gcj_malloc before GC_init_gcj_malloc");
	if (size < sizeof(GC_word))
		size = sizeof(GC_word);
	int kind = compat_kind_mgc(GC_gcj_debug_kind);
	void **p = compat_checked(mgc_debug_alloc(size, kind, s, i), size);
	if (p != NULL)
		atomic_store_explicit((_Atomic(void *) *)p, vtable, memory_order_relaxed);
	return p;
}
