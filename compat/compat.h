/* compat.h — what the files of the Boehm-compatible shim share: the gc.h
 * configuration every compat source includes, the shim's lock, and a small
 * open-addressing map (table.c) used for the side tables: uncollectable
 * blocks, finalizer records and disappearing links.
 *
 * Internal only: everything here has hidden visibility; the GC_* names
 * declared by gc.h get default visibility through GC_API.
 */
#ifndef MGC_COMPAT_H
#define MGC_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

/* Export exactly what gc.h declares; define its variables without the
 * deprecation attribute; keep the real pthread_create and dlopen. */
#define GC_API extern __attribute__((visibility("default")))
#define GC_ATTR_DEPRECATED
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc_disclaim.h>
#include <gc_mark.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mgc.h>

/* One lock for every side table of the shim.  Never held while user code
 * (finalizers, warn or oom procs) runs.  Held while calling mgc, which may
 * take its own locks, stop the world or run a collection; mgc never calls
 * back into the shim holding one of them, so compat_lock comes before all
 * of mgc's locks.  Taken with compat_lock_acquire, which first installs the
 * shim's fork handlers (locks.c), so that a fork never copies it held. */
extern pthread_mutex_t compat_lock;
void compat_lock_acquire(void);
void compat_lock_release(void);
/* The calling thread took compat_lock with compat_lock_acquire: what the
 * shim's _locked functions assert. */
bool compat_lock_held(void);

/* Boehm hands out blocks in granules of 16 bytes: GC_size(GC_malloc(0)) is
 * 16 and every block is 16-byte aligned.  mgc's classes from 16 bytes up
 * are multiples of 16, and so are its large blocks: only requests below 16
 * bytes (mgc's 8-byte class) are raised. */
static inline size_t
compat_granule(size_t size)
{
	return size < 16 ? 16 : size;
}

/* gc.c: p, or the oom procedure's answer for size if p is NULL. */
void *compat_checked(void *p, size_t size);
/* gc.c: the collector as Boehm's GC_init leaves it (mgc started, the
 * shim's handlers and settings in place), once; every allocation and
 * GC_init call it. */
void compat_init(void);
/* gc.c: a collection ended (the END event, gc lock held: figures come
 * from mgc_read_stats and mgc_info only). */
void compat_note_collection(void);
/* events.c: Boehm's collection and thread events for mgc's event e
 * (MGC_EVENT_*), from the shim's event callback. */
void compat_boehm_events(int e);
/* threads.c: the calling thread counts as registered through the API
 * (GC_init registers it). */
void compat_note_registered(void);
/* threads.c: at GC_init, the marker count the program asked for before,
 * and GC_parallel. */
void compat_init_markers(void);
/* gc.c: whether the program's static-roots callback
 * (GC_register_has_static_roots_callback), if any, has the segment
 * scanned. */
bool compat_has_static_roots(const char *name, void *start, size_t size);
/* gc.c: a pointer off bytes into a block retains it from the heap with
 * interior pointers off: 0, or a registered displacement. */
bool compat_displacement_ok(size_t off);
/* print.c: Boehm's fatal error: the abort function (GC_on_abort) with the
 * message (printf's format and arguments), then abort(). */
_Noreturn void compat_abort(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* debug.c: Boehm's leak and smash reports, and leak mode if asked; once. */
void compat_debug_init(void);
/* kinds.c: install the shim's collection-event and roots callbacks, once. */
void compat_kinds_init(void);
/* kinds.c: Boehm kind k's mgc kind, or -1 for an unknown one. */
int compat_kind_mgc(int k);
/* kinds.c: a new Boehm kind (as GC_new_kind) whose mgc kind is traced by
 * trace, or, trace NULL, as its descriptor says.  Takes compat_lock. */
unsigned compat_new_kind(GC_word descr, bool adjust, mgc_trace_fn trace);
/* kinds.c: mark procedure index (GC_MAKE_PROC) is proc, as a client
 * reserving one (an index below GC_RESERVED_MARK_PROCS) fixes it. */
void compat_set_proc(unsigned index, GC_mark_proc proc);
/* kinds.c: the tracer that GC_mark_and_push and the GC_push_* calls report
 * to on this thread while a mark procedure or the push-other-roots
 * procedure runs (NULL otherwise); compat_set_tracer returns the old one. */
mgc_tracer *compat_tracer(void);
mgc_tracer *compat_set_tracer(mgc_tracer *t);
/* kinds.c: a description of the type of p, of Boehm kind k, for printing
 * it: what GC_register_describe_type_fn's function for k writes in buf,
 * or NULL if k has none. */
const char *compat_describe_type(int k, void *p, char buf[GC_TYPE_DESCR_LEN + 1]);
/* kinds.c: the Boehm kind of mgc kind mk (a new Boehm kind that shares
 * mgc's normal or pointer-free kind answers as GC_I_NORMAL or
 * GC_I_PTRFREE), or -1. */
int compat_boehm_kind(int mk);
/* marking.c: the roots callback (GC_push_other_roots). */
void compat_push_roots(mgc_tracer *t, void *arg);
/* toggle.c: the toggle-ref passes, from the collection events: the
 * callback's verdicts at the start, weak entries of unmarked objects
 * cleared just before the world restarts. */
void compat_toggle_start(void);
void compat_toggle_resume(void);

/* locks.c: install the shim's pthread_atfork handlers, once, after mgc's;
 * every path that takes compat_lock or Boehm's allocator lock calls it. */
void compat_fork_init(void);

/* A map from nonzero keys to values, linear probing, backward-shift
 * deletion.  Its slots live in mgc memory (scanned, so keys and values that
 * are plain pointers keep their blocks alive) when gc is true, else in
 * malloc'd memory (invisible to the collector). */
struct compat_slot {
	uintptr_t key;
	void *val;
};
struct compat_map {
	struct compat_slot *slots;
	size_t cap, n;
	bool gc;
};
/* 0 on success, -1 if memory ran out (the map is unchanged). */
int compat_map_put(struct compat_map *m, uintptr_t key, void *val);
/* The slot of key, or NULL. */
struct compat_slot *compat_map_find(struct compat_map *m, uintptr_t key);
/* Removes key; true if it was there (its value in *val if val not NULL). */
bool compat_map_del(struct compat_map *m, uintptr_t key, void **val);

/* fin.c: forget the finalizer record of a block being freed or moved. */
void compat_fin_forget(void *obj);
/* fin.c: print the objects that have a finalizer (GC_dump_finalization). */
void compat_fin_dump(void);

/* print.c: libgc exports these three without declaring them in its
 * headers.  Standard output, standard error, and the log descriptor. */
GC_API void GC_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
GC_API void GC_err_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
GC_API void GC_log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
