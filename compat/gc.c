/* gc.c — the Boehm GC allocation, collection, statistics, root and tuning
 * calls of libmgc-gc.so, each mapped onto mgc's public API (include/mgc.h).
 *
 * Uncollectable blocks are mgc's uncollectable kinds.  Every block is
 * handed out in Boehm's granules of 16 bytes (compat_granule).  Tuning
 * variables Boehm exports are real variables here; most are recorded and
 * otherwise ignored (docs/COMPAT.md says which).  Boehm's private arrays
 * (GC_arrays, and the free lists its inline allocators may read) are
 * exported with libgc's sizes but hold nothing: the free lists read as
 * empty, and the arrays are cut out of the root scan.
 *
 * Statistics come from mgc_read_stats and mgc_info; those Boehm counts
 * "since the last collection" subtract what the counters held when the
 * last collection ended (compat_note_collection, from the END event).
 */
#include "compat.h"

#include <gc_inline.h>
#include <gc_mark.h>

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variables gc.h declares. */
GC_word GC_gc_no;
int GC_parallel;
int GC_find_leak;
int GC_all_interior_pointers = 1;
int GC_finalize_on_demand;
int GC_java_finalization = 1;
int GC_dont_gc;
int GC_dont_expand;
int GC_use_entire_heap;
int GC_full_freq = 19;
GC_word GC_non_gc_bytes;
int GC_no_dls;
GC_word GC_free_space_divisor = 3;
GC_word GC_max_retries;
char *GC_stackbottom;
int GC_dont_precollect;
unsigned long GC_time_limit = GC_TIME_UNLIMITED; /* libgc 8.2.2's default */
GC_finalizer_notifier_proc GC_finalizer_notifier;
GC_on_heap_resize_proc GC_on_heap_resize;

/* Boehm's private state, which libgc 8.2.2 exports (182768 bytes on
 * x86-64: a program linked against libgc may have a copy of that size),
 * and pointers to its free lists of the four built-in kinds (one list per
 * granule count, 0 to 128).  Here the lists are always empty: a client
 * that reads one finds nothing and calls the allocator. */
enum { ARRAYS_BYTES = 182768, FREE_LISTS = 129 };
__attribute__((visibility("default"), aligned(64))) char GC_arrays[ARRAYS_BYTES];
#define FREE_LIST(i) ((void **)(GC_arrays + (i)*FREE_LISTS * sizeof(void *)))
__attribute__((visibility("default"))) void **const GC_objfreelist_ptr = FREE_LIST(0);
__attribute__((visibility("default"))) void **const GC_aobjfreelist_ptr = FREE_LIST(1);
__attribute__((visibility("default"))) void **const GC_uobjfreelist_ptr = FREE_LIST(2);
__attribute__((visibility("default"))) void **const GC_auobjfreelist_ptr = FREE_LIST(3);

static void *GC_CALLBACK
default_oom(size_t bytes)
{
	(void)bytes;
	return NULL;
}
GC_oom_func GC_oom_fn = default_oom;

static void pace_like_boehm(void);
static pthread_once_t inited = PTHREAD_ONCE_INIT;
static atomic_bool init_done;

/* What Boehm's GC_init does, which its first allocation runs too: mgc
 * started with the shim's handlers, the settings the program made before
 * (GC_all_interior_pointers, GC_stackbottom, the environment) applied, the
 * calling thread registered. */
static void
init_once(void)
{
	mgc_init();
	mgc_register_thread();
	compat_note_registered();
	compat_fork_init();
	compat_kinds_init();
	mgc_set_interior_pointers(GC_all_interior_pointers);
	if (GC_stackbottom != NULL)
		mgc_set_stack_bottom(pthread_self(), GC_stackbottom);
	else
		GC_stackbottom = mgc_stack_bottom(pthread_self());
	compat_init_markers();
	mgc_exclude_roots(GC_arrays, GC_arrays + ARRAYS_BYTES);
	pace_like_boehm();
}

void
compat_init(void)
{
	if (!atomic_load_explicit(&init_done, memory_order_acquire)) {
		pthread_once(&inited, init_once);
		atomic_store_explicit(&init_done, true, memory_order_release);
	}
}

void GC_CALL
GC_init(void)
{
	compat_init();
	mgc_register_thread();
	compat_note_registered();
}

int GC_CALL
GC_is_init_called(void)
{
	return atomic_load_explicit(&init_done, memory_order_acquire);
}

void GC_CALL
GC_deinit(void)
{
}

unsigned GC_CALL
GC_get_version(void)
{
	return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}

/* ---- allocation ---- */

static void *
oom(size_t size)
{
	GC_oom_func fn;

	compat_lock_acquire();
	fn = GC_oom_fn;
	compat_lock_release();
	return fn != NULL ? fn(size) : NULL;
}

static void *
checked(void *p, size_t size)
{
	compat_init();
	return p != NULL ? p : oom(size);
}

void *
compat_checked(void *p, size_t size)
{
	return checked(p, size);
}

void *GC_CALL
GC_malloc(size_t size)
{
	return checked(mgc_alloc(compat_granule(size)), size);
}

void *GC_CALL
GC_malloc_atomic(size_t size)
{
	return checked(mgc_alloc_noscan(compat_granule(size)), size);
}

void *GC_CALL
GC_malloc_ignore_off_page(size_t size)
{
	return GC_malloc(size);
}

void *GC_CALL
GC_malloc_atomic_ignore_off_page(size_t size)
{
	return GC_malloc_atomic(size);
}

void *GC_CALL
GC_malloc_uncollectable(size_t size)
{
	return checked(mgc_alloc_kind(compat_granule(size), MGC_KIND_UNCOLLECTABLE), size);
}

void *GC_CALL
GC_malloc_atomic_uncollectable(size_t size)
{
	return checked(mgc_alloc_kind(compat_granule(size), MGC_KIND_UNCOLLECTABLE_NOSCAN), size);
}

/* The kinds of gc_inline.h (0 to 3, or one GC_new_kind made): GC_malloc's
 * blocks, without Boehm's per-thread free lists (mgc has its own). */
void *GC_CALL
GC_malloc_kind(size_t size, int k)
{
	return GC_generic_malloc(size, k);
}

void *GC_CALL
GC_malloc_kind_global(size_t size, int k)
{
	return GC_generic_malloc(size, k);
}

/* A scanned block whose start is a multiple of align: a block start like
 * any other (GC_free and GC_base take it), where Boehm may return a
 * pointer into a larger block.  Boehm's limit is 4096; mgc's is 8192.  An
 * alignment of 16 or less is every block's; a larger one that is not a
 * power of two, or above the limit, fails as Boehm's above its limit
 * does, through the oom function. */
void *GC_CALL
GC_memalign(size_t align, size_t size)
{
	if (align <= 16)
		return GC_malloc(size);
	if ((align & (align - 1)) != 0 || align > 8192)
		return checked(NULL, size);
	return checked(mgc_alloc_aligned(compat_granule(size), align), size);
}

int GC_CALL
GC_posix_memalign(void **p, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	void *q = GC_memalign(align, size);
	if (q == NULL)
		return ENOMEM;
	*p = q;
	return 0;
}

/* Stubborn objects are gone from Boehm 8.2 but for these names: plain
 * blocks, and changes that need no notice (GC_end_stubborn_change only
 * dirties a page for incremental collection, which mgc does not do). */
void *GC_CALL
GC_malloc_stubborn(size_t size)
{
	return GC_malloc(size);
}

void GC_CALL
GC_change_stubborn(const void *p)
{
	(void)p;
}

void GC_CALL
GC_end_stubborn_change(const void *p)
{
	(void)p;
}

char *GC_CALL
GC_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = GC_malloc_atomic(len + 1);

	if (p != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *GC_CALL
GC_strdup(const char *s)
{
	return s == NULL ? NULL : GC_strndup(s, strlen(s));
}

static void
warn(char *msg, GC_word arg)
{
	GC_warn_proc fn = GC_get_warn_proc();

	if (fn != NULL)
		fn(msg, arg);
}

void GC_CALL
GC_free(void *p)
{
	if (p == NULL)
		return;
	compat_fin_forget(p); /* no record is kept for what is not a block */
	if (mgc_try_free(p) != 0)
		warn("GC Warning: GC_free of %p: not the start of a heap object\n", (GC_word)p);
}

void *GC_CALL
GC_realloc(void *p, size_t size)
{
	void *q;

	if (p == NULL)
		return GC_malloc(size);
	if (size == 0) {
		GC_free(p);
		return NULL;
	}
	q = mgc_realloc(p, compat_granule(size)); /* keeps p's kind: uncollectable stays so */
	if (q != p && q != NULL)
		compat_fin_forget(p);
	return checked(q, size);
}

void *GC_CALL
GC_base(void *p)
{
	return mgc_base(p, NULL);
}

int GC_CALL
GC_is_heap_ptr(const void *p)
{
	return mgc_base(p, NULL) != NULL;
}

size_t GC_CALL
GC_size(const void *p)
{
	size_t size = 0;

	return mgc_base(p, &size) != NULL ? size : 0;
}

/* ---- collection and statistics ---- */

/* Automatic collection is off while GC_disable is in force (GC_dont_gc)
 * or GC_set_disable_automatic_collection(1) is: then mgc's gc percent is
 * off and the one it had is kept here.  [compat lock] */
static int saved_percent;
static int no_auto_gc;

static bool
auto_off_locked(void)
{
	assert(compat_lock_held());
	return GC_dont_gc || no_auto_gc;
}

/* After a change to GC_dont_gc or no_auto_gc: turn mgc's automatic
 * collection off or back on if the change calls for it. */
static void
switch_auto_locked(bool was_off)
{
	assert(compat_lock_held());
	bool off = auto_off_locked();
	if (off && !was_off)
		saved_percent = mgc_set_gc_percent(-1);
	else if (!off && was_off)
		mgc_set_gc_percent(saved_percent);
}

/* The divisor as a percent, for programs that set one
 * (GC_set_free_space_divisor, GC_FREE_SPACE_DIVISOR): Boehm collects once
 * the program has allocated heap/divisor bytes since the last collection,
 * where the heap counts its free and fragmented pages too, so its heap
 * settles above live * divisor / (divisor - 1).  Measured on the real
 * programs (bench/programs.sh), its default divisor of 3 is best matched by
 * a gc percent of 60, so the divisor d maps to 120 / (d - 1).  A program
 * that sets no divisor gets mgc's adaptive pacing (src/pace.c), which beats
 * the fixed rule on time and memory at once (docs/BENCHMARKS.md).  Caller
 * holds compat_lock. */
static void
apply_divisor_locked(GC_word d)
{
	assert(compat_lock_held());
	int percent = d <= 1 ? 1000 : d > 121 ? 1 : (int)(120 / (d - 1));
	if (auto_off_locked())
		saved_percent = percent;
	else
		mgc_set_gc_percent(percent);
}

void GC_CALL
GC_set_free_space_divisor(GC_word d)
{
	compat_init(); /* so a later first allocation does not undo this */
	compat_lock_acquire();
	GC_free_space_divisor = d;
	apply_divisor_locked(d);
	compat_lock_release();
}

GC_word GC_CALL
GC_get_free_space_divisor(void)
{
	return GC_free_space_divisor;
}

/* Boehm starts from a heap of a few hundred KiB and collects before growing
 * it, so a small program stays small; mgc's own floor of 4 MiB would make it
 * several times larger. */
enum { BOEHM_MIN_HEAP = 512 << 10 };

static size_t heap_floor = BOEHM_MIN_HEAP; /* [compat lock] GC_expand_hp adds to it */
static int force_unmap;                    /* [compat lock] */

/* A size in Boehm's environment syntax: a number and an optional k, m or
 * g (powers of 1024); 0 if absent or unreadable. */
static size_t
env_size(const char *name)
{
	const char *v = getenv(name);
	char *end;
	if (v == NULL)
		return 0;
	unsigned long long n = strtoull(v, &end, 10);
	switch (*end) {
	case 'k':
	case 'K':
		n <<= 10;
		break;
	case 'm':
	case 'M':
		n <<= 20;
		break;
	case 'g':
	case 'G':
		n <<= 30;
		break;
	default:
		break;
	}
	return (size_t)n;
}

/* Boehm's settings from its environment (GC_INITIAL_HEAP_SIZE,
 * GC_MAXIMUM_HEAP_SIZE, GC_FREE_SPACE_DIVISOR), unless MGC_GCPERCENT asks
 * for mgc's rule, and leak finding (debug.c).  Set on the first allocation or GC_init, not at load:
 * a preloaded process that never calls the collector never starts it. */
static void
pace_like_boehm(void)
{
	compat_kinds_init(); /* the collection callbacks, from the first allocation on */
	const char *env = getenv("GC_FREE_SPACE_DIVISOR");
	size_t initial = env_size("GC_INITIAL_HEAP_SIZE");
	size_t max = env_size("GC_MAXIMUM_HEAP_SIZE");
	compat_lock_acquire();
	if (initial - initial / 8 > heap_floor)
		heap_floor = initial - initial / 8;
	mgc_set_min_heap(heap_floor);
	if (max != 0)
		mgc_set_max_heap(max);
	if (getenv("MGC_GCPERCENT") == NULL && env != NULL && atol(env) > 0) {
		GC_free_space_divisor = (GC_word)atol(env);
		apply_divisor_locked(GC_free_space_divisor);
	}
	compat_lock_release();
	compat_debug_init();
}

/* Boehm's GC_expand_hp grows the heap by `bytes`, and a bigger heap fills
 * longer before a collection: here, the floor below which no collection
 * starts grows by the block bytes that many bytes of heap hold (seven
 * eighths: Boehm's heap counts its pages, mgc's floor its blocks, and
 * nix, which expands by 384 MiB, peaked 1.09x Boehm's memory with the whole
 * amount), cumulatively from the initial heap size. */
int GC_CALL
GC_expand_hp(size_t bytes)
{
	compat_init();
	compat_lock_acquire();
	heap_floor += bytes - bytes / 8;
	mgc_set_min_heap(heap_floor);
	compat_lock_release();
	return 1;
}

/* A hard limit: past it an allocation collects once, then fails and the
 * oom function is called (as in Boehm).  0: none. */
void GC_CALL
GC_set_max_heap_size(GC_word n)
{
	compat_init();
	mgc_set_max_heap(n);
}

void GC_CALL
GC_set_force_unmap_on_gcollect(int on)
{
	compat_lock_acquire();
	force_unmap = on;
	compat_lock_release();
}

int GC_CALL
GC_get_force_unmap_on_gcollect(void)
{
	compat_lock_acquire();
	int on = force_unmap;
	compat_lock_release();
	return on;
}

/* Boehm asks the stop function again and again while it collects and
 * abandons the collection once it says stop; mgc's collections cannot be
 * abandoned, so it is asked once, before: a collection it stops does not
 * start.  Automatic collections do not ask it.  [compat lock] */
static int GC_CALLBACK
never_stop(void)
{
	return 0;
}

static GC_stop_func stop_func = never_stop;

void GC_CALL
GC_set_stop_func(GC_stop_func fn)
{
	compat_lock_acquire();
	stop_func = fn;
	compat_lock_release();
}

GC_stop_func GC_CALL
GC_get_stop_func(void)
{
	compat_lock_acquire();
	GC_stop_func fn = stop_func;
	compat_lock_release();
	return fn;
}

/* A full collection, unless collection is disabled or stop says stop;
 * 1 if it ran. */
static int
collect(GC_stop_func stop, bool unmap)
{
	if (GC_dont_gc || stop() != 0)
		return 0;
	compat_lock_acquire();
	unmap |= force_unmap != 0;
	compat_lock_release();
	if (unmap)
		mgc_release_memory();
	else
		mgc_collect();
	GC_gc_no = GC_get_gc_no();
	return 1;
}

void GC_CALL
GC_gcollect(void)
{
	collect(GC_get_stop_func(), false);
}

void GC_CALL
GC_gcollect_and_unmap(void)
{
	collect(never_stop, true);
}

int GC_CALL
GC_try_to_collect(GC_stop_func stop)
{
	return collect(stop, false);
}

int GC_CALL
GC_collect_a_little(void)
{
	return 0;
}

void GC_CALL
GC_disable(void)
{
	compat_lock_acquire();
	bool was_off = auto_off_locked();
	GC_dont_gc++;
	switch_auto_locked(was_off);
	compat_lock_release();
}

void GC_CALL
GC_enable(void)
{
	compat_lock_acquire();
	bool was_off = auto_off_locked();
	if (GC_dont_gc > 0)
		GC_dont_gc--;
	switch_auto_locked(was_off);
	compat_lock_release();
}

/* Automatic collections off (GC_gcollect still collects); mgc's memory
 * limit, when one is set, still starts collections. */
void GC_CALL
GC_set_disable_automatic_collection(int v)
{
	compat_lock_acquire();
	bool was_off = auto_off_locked();
	no_auto_gc = v != 0;
	switch_auto_locked(was_off);
	compat_lock_release();
}

int GC_CALL
GC_get_disable_automatic_collection(void)
{
	compat_lock_acquire();
	int v = no_auto_gc;
	compat_lock_release();
	return v;
}

int GC_CALL
GC_is_disabled(void)
{
	return GC_dont_gc != 0;
}

static void
stats(mgc_stats *s)
{
	mgc_read_stats(s);
}

/* The counters as the last collection left them (compat_note_collection),
 * and what GC_incr_bytes_allocd and GC_incr_bytes_freed added since;
 * relaxed atomics, so that Boehm's start callback may read them. */
static _Atomic uint64_t total_at_gc, freed_at_gc, swept_at_gc;
static _Atomic uint64_t extra_allocd, extra_allocd_at_gc, extra_freed_since;

void
compat_note_collection(void)
{
	mgc_stats s;
	mgc_read_stats(&s);
	atomic_store_explicit(&total_at_gc, s.total_alloc, memory_order_relaxed);
	atomic_store_explicit(&freed_at_gc, mgc_info(MGC_INFO_FREED_BYTES), memory_order_relaxed);
	atomic_store_explicit(&swept_at_gc, mgc_info(MGC_INFO_SWEPT_BYTES), memory_order_relaxed);
	atomic_store_explicit(&extra_allocd_at_gc, atomic_load(&extra_allocd),
	                      memory_order_relaxed);
	atomic_store_explicit(&extra_freed_since, 0, memory_order_relaxed);
}

static uint64_t
since(uint64_t now, _Atomic uint64_t *at)
{
	uint64_t then = atomic_load_explicit(at, memory_order_relaxed);
	return now > then ? now - then : 0;
}

/* Boehm's heap: the heap pages mgc has mapped, in use or free (its own
 * metadata is not heap); unmapped: those returned to the OS; free: the
 * mapped ones less the bytes of live blocks.  So free <= heap, and the
 * memory in use (GC_get_memory_use) is heap less free. */
struct usage {
	size_t heap, free, unmapped, since_gc, total, os, in_use;
};

static void
usage(struct usage *u)
{
	mgc_stats s;
	stats(&s);
	uint64_t pages = mgc_info(MGC_INFO_HEAP_BYTES);
	uint64_t heap = pages > s.heap_released ? pages - s.heap_released : 0;
	uint64_t extra = atomic_load_explicit(&extra_allocd, memory_order_relaxed);
	u->heap = (size_t)heap;
	u->in_use = (size_t)(s.alloc < heap ? s.alloc : heap);
	u->free = u->heap - u->in_use;
	u->unmapped = (size_t)s.heap_released;
	u->total = (size_t)(s.total_alloc + extra);
	u->since_gc =
	        (size_t)(since(s.total_alloc, &total_at_gc) + since(extra, &extra_allocd_at_gc));
	u->os = (size_t)s.sys;
}

size_t GC_CALL
GC_get_heap_size(void)
{
	struct usage u;
	usage(&u);
	return u.heap;
}

size_t GC_CALL
GC_get_free_bytes(void)
{
	struct usage u;
	usage(&u);
	return u.free;
}

size_t GC_CALL
GC_get_unmapped_bytes(void)
{
	struct usage u;
	usage(&u);
	return u.unmapped;
}

size_t GC_CALL
GC_get_total_bytes(void)
{
	struct usage u;
	usage(&u);
	return u.total;
}

size_t GC_CALL
GC_get_obtained_from_os_bytes(void)
{
	struct usage u;
	usage(&u);
	return u.os;
}

size_t GC_CALL
GC_get_memory_use(void)
{
	struct usage u;
	usage(&u);
	return u.in_use;
}

size_t GC_CALL
GC_get_bytes_since_gc(void)
{
	struct usage u;
	usage(&u);
	return u.since_gc;
}

/* Bytes GC_free (and GC_realloc moving a block) gave back since the last
 * collection, as mgc counts them (the blocks' whole sizes), and what
 * GC_incr_bytes_freed added. */
size_t GC_CALL
GC_get_expl_freed_bytes_since_gc(void)
{
	return (size_t)(since(mgc_info(MGC_INFO_FREED_BYTES), &freed_at_gc) +
	                atomic_load_explicit(&extra_freed_since, memory_order_relaxed));
}

/* Boehm's counters for allocation and freeing done outside its calls (a
 * client's own free lists, say): they count in the statistics here, not
 * in mgc's pacing. */
GC_API void GC_CALL GC_incr_bytes_allocd(size_t);
GC_API void GC_CALL GC_incr_bytes_freed(size_t);

void GC_CALL
GC_incr_bytes_allocd(size_t n)
{
	atomic_fetch_add_explicit(&extra_allocd, n, memory_order_relaxed);
}

void GC_CALL
GC_incr_bytes_freed(size_t n)
{
	atomic_fetch_add_explicit(&extra_freed_since, n, memory_order_relaxed);
}

GC_word GC_CALL
GC_get_gc_no(void)
{
	mgc_stats s;

	stats(&s);
	return (GC_word)s.num_gc;
}

void GC_CALL
GC_get_heap_usage_safe(GC_word *pheap_size, GC_word *pfree_bytes, GC_word *punmapped_bytes,
                       GC_word *pbytes_since_gc, GC_word *ptotal_bytes)
{
	struct usage u;
	usage(&u);
	if (pheap_size != NULL)
		*pheap_size = u.heap;
	if (pfree_bytes != NULL)
		*pfree_bytes = u.free;
	if (punmapped_bytes != NULL)
		*punmapped_bytes = u.unmapped;
	if (pbytes_since_gc != NULL)
		*pbytes_since_gc = u.since_gc;
	if (ptotal_bytes != NULL)
		*ptotal_bytes = u.total;
}

/* Fills the first size bytes of *out (a client may know fewer fields, or
 * more: those are set to all ones); returns how many it filled. */
size_t GC_CALL
GC_get_prof_stats(struct GC_prof_stats_s *out, size_t size)
{
	struct GC_prof_stats_s p;
	struct usage u;
	usage(&u);
	uint64_t swept = mgc_info(MGC_INFO_SWEPT_BYTES);
	p.heapsize_full = u.heap + u.unmapped;
	p.free_bytes_full = u.free + u.unmapped;
	p.unmapped_bytes = u.unmapped;
	p.bytes_allocd_since_gc = u.since_gc;
	p.allocd_bytes_before_gc = u.total - u.since_gc;
	p.non_gc_bytes = GC_non_gc_bytes;
	p.gc_no = GC_get_gc_no();
	p.markers_m1 = (GC_word)GC_get_parallel();
	p.bytes_reclaimed_since_gc = since(swept, &swept_at_gc);
	p.reclaimed_bytes_before_gc = atomic_load_explicit(&swept_at_gc, memory_order_relaxed);
	p.expl_freed_bytes_since_gc = GC_get_expl_freed_bytes_since_gc();
	p.obtained_from_os_bytes = u.os;
	if (size > sizeof p) {
		memset((char *)out + sizeof p, 0xff, size - sizeof p);
		size = sizeof p;
	}
	memcpy(out, &p, size);
	return size;
}

size_t GC_CALL
GC_get_prof_stats_unsafe(struct GC_prof_stats_s *out, size_t size)
{
	return GC_get_prof_stats(out, size);
}

/* The block size GC_malloc(i) gives, for the sizes mgc serves from its
 * size classes (up to 32 KiB); -1 beyond. */
size_t GC_CALL
GC_get_size_map_at(int i)
{
	if (i < 0 || i > 32768)
		return (size_t)-1;
	return mgc_good_size(compat_granule((size_t)i));
}

/* ---- roots ---- */

struct range {
	void *lo, *hi;
};
static struct range *ranges;
static size_t nranges, capranges;

void GC_CALL
GC_add_roots(void *lo, void *hi)
{
	compat_lock_acquire();
	if (nranges == capranges) {
		size_t cap = capranges ? capranges * 2 : 16;
		struct range *r = realloc(ranges, cap * sizeof *r);

		if (r != NULL) {
			ranges = r;
			capranges = cap;
		}
	}
	if (nranges < capranges)
		ranges[nranges++] = (struct range){lo, hi};
	compat_lock_release();
	mgc_add_roots(lo, hi);
}

void GC_CALL
GC_remove_roots(void *lo, void *hi)
{
	compat_lock_acquire();
	for (size_t i = 0; i < nranges;) {
		if ((char *)ranges[i].lo >= (char *)lo && (char *)ranges[i].hi <= (char *)hi)
			ranges[i] = ranges[--nranges];
		else
			i++;
	}
	compat_lock_release();
	mgc_remove_roots(lo, hi);
}

void GC_CALL
GC_clear_roots(void)
{
	compat_lock_acquire();
	while (nranges > 0) {
		struct range r = ranges[--nranges];

		mgc_remove_roots(r.lo, r.hi);
	}
	compat_lock_release();
}

/* Static data that needs no scanning.  Clearing the exclusions keeps the
 * shim's own (GC_arrays). */
void GC_CALL
GC_exclude_static_roots(void *lo, void *hi)
{
	compat_init();
	mgc_exclude_roots(lo, hi);
}

void GC_CALL
GC_clear_exclusion_table(void)
{
	compat_init();
	mgc_clear_excluded_roots();
	mgc_exclude_roots(GC_arrays, GC_arrays + ARRAYS_BYTES);
}

/* Boehm asks its filter about the data segments of the loaded objects at
 * each collection (the executable's too, named ""), as mgc's segment
 * filter is asked. */
static _Atomic(GC_has_static_roots_func) has_static_roots;

bool
compat_has_static_roots(const char *name, void *start, size_t size)
{
	GC_has_static_roots_func fn = atomic_load(&has_static_roots);
	return fn == NULL || fn(name, start, size);
}

static int
ask_has_static_roots(const char *name, void *start, size_t size, void *arg)
{
	(void)arg;
	return compat_has_static_roots(name, start, size);
}

void GC_CALL
GC_register_has_static_roots_callback(GC_has_static_roots_func fn)
{
	atomic_store(&has_static_roots, fn);
	mgc_set_segment_filter(fn != NULL ? ask_has_static_roots : NULL, NULL);
}

/* The displacements registered, for GC_is_valid_displacement: mgc keeps
 * its own for the marker.  [atomic] bits, below 4096 (mgc's bound). */
enum { MAX_DISPLACEMENT = 4096 };
static _Atomic uint64_t displacements[MAX_DISPLACEMENT / 64];

bool
compat_displacement_ok(size_t off)
{
	return off == 0 || (off < MAX_DISPLACEMENT &&
	                    (atomic_load_explicit(&displacements[off / 64], memory_order_relaxed) >>
	                             (off % 64) &
	                     1));
}

void GC_CALL
GC_register_displacement(size_t n)
{
	if (mgc_register_displacement(n) != 0) {
		warn("GC Warning: GC_register_displacement(%lu): too large, ignored\n", (GC_word)n);
		return;
	}
	atomic_fetch_or_explicit(&displacements[n / 64], (uint64_t)1 << (n % 64),
	                         memory_order_relaxed);
}

void GC_CALL
GC_debug_register_displacement(size_t n)
{
	GC_register_displacement(n);
}

/* Declared by gc.h only for compilers without GNU asm. */
GC_API void GC_CALL GC_noop1(GC_word);

void GC_CALL
GC_noop1(GC_word w)
{
	__asm__ volatile("" : : "r"(w) : "memory");
}
