/* gc.c — the Boehm GC allocation, collection, statistics, root and tuning
 * calls of libmgc-gc.so, each mapped onto mgc's public API (include/mgc.h).
 *
 * Uncollectable blocks are ordinary mgc blocks kept in a map whose slots
 * are themselves mgc memory reached from this library's data: that keeps
 * them alive and, for the scanned kind, their contents scanned.  Tuning
 * variables Boehm exports are real variables here; most are recorded and
 * otherwise ignored (docs/COMPAT.md says which).
 */
#include "compat.h"

#include <assert.h>
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
unsigned long GC_time_limit = 50;
GC_finalizer_notifier_proc GC_finalizer_notifier;
GC_on_heap_resize_proc GC_on_heap_resize;

static void *GC_CALLBACK
default_oom(size_t bytes)
{
	(void)bytes;
	return NULL;
}
GC_oom_func GC_oom_fn = default_oom;

static void pace_like_boehm(void);
static pthread_once_t paced = PTHREAD_ONCE_INIT;
static atomic_bool paced_done;

static void
pace_once(void)
{
	if (!atomic_load_explicit(&paced_done, memory_order_acquire)) {
		pthread_once(&paced, pace_like_boehm);
		atomic_store_explicit(&paced_done, true, memory_order_release);
	}
}

static int init_called;

void GC_CALL
GC_init(void)
{
	mgc_init();
	mgc_register_thread();
	compat_fork_init();
	compat_kinds_init();
	mgc_set_interior_pointers(GC_all_interior_pointers);
	pace_once();
	init_called = 1;
}

int GC_CALL
GC_is_init_called(void)
{
	return init_called;
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
	pace_once();
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
	return checked(mgc_alloc(size), size);
}

void *GC_CALL
GC_malloc_atomic(size_t size)
{
	return checked(mgc_alloc_noscan(size), size);
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
	return checked(mgc_alloc_kind(size, MGC_KIND_UNCOLLECTABLE), size);
}

void *GC_CALL
GC_malloc_atomic_uncollectable(size_t size)
{
	return checked(mgc_alloc_kind(size, MGC_KIND_UNCOLLECTABLE_NOSCAN), size);
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
	q = mgc_realloc(p, size); /* keeps p's kind: uncollectable stays so */
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

static int saved_percent;

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
	if (GC_dont_gc)
		saved_percent = percent;
	else
		mgc_set_gc_percent(percent);
}

void GC_CALL
GC_set_free_space_divisor(GC_word d)
{
	pace_once(); /* so a later first allocation does not undo this */
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
 * for mgc's rule, and leak finding (debug.c).  Set on the first allocation or GC_init, not at load: a
 * preloaded process that never calls the collector never starts it. */
static void
pace_like_boehm(void)
{
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
	pace_once();
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
	pace_once();
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

void GC_CALL
GC_gcollect(void)
{
	if (GC_dont_gc)
		return;
	compat_lock_acquire();
	int unmap = force_unmap;
	compat_lock_release();
	if (unmap)
		mgc_release_memory();
	else
		mgc_collect();
	GC_gc_no = GC_get_gc_no();
}

void GC_CALL
GC_gcollect_and_unmap(void)
{
	if (GC_dont_gc)
		return;
	mgc_release_memory();
	GC_gc_no = GC_get_gc_no();
}

int GC_CALL
GC_try_to_collect(GC_stop_func stop)
{
	(void)stop;
	GC_gcollect();
	return 1;
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
	if (GC_dont_gc++ == 0)
		saved_percent = mgc_set_gc_percent(-1);
	compat_lock_release();
}

void GC_CALL
GC_enable(void)
{
	compat_lock_acquire();
	if (GC_dont_gc > 0 && --GC_dont_gc == 0)
		mgc_set_gc_percent(saved_percent);
	compat_lock_release();
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

static size_t
heap_size(const mgc_stats *s)
{
	return s->sys > s->heap_released ? (size_t)(s->sys - s->heap_released) : 0;
}

size_t GC_CALL
GC_get_heap_size(void)
{
	mgc_stats s;

	stats(&s);
	return heap_size(&s);
}

size_t GC_CALL
GC_get_free_bytes(void)
{
	mgc_stats s;

	stats(&s);
	return heap_size(&s) > s.alloc ? heap_size(&s) - (size_t)s.alloc : 0;
}

size_t GC_CALL
GC_get_unmapped_bytes(void)
{
	mgc_stats s;

	stats(&s);
	return (size_t)s.heap_released;
}

size_t GC_CALL
GC_get_total_bytes(void)
{
	mgc_stats s;

	stats(&s);
	return (size_t)s.total_alloc;
}

size_t GC_CALL
GC_get_obtained_from_os_bytes(void)
{
	mgc_stats s;

	stats(&s);
	return (size_t)s.sys;
}

size_t GC_CALL
GC_get_memory_use(void)
{
	mgc_stats s;

	stats(&s);
	return (size_t)s.alloc;
}

/* Bytes allocated since the last collection: total_alloc less its value
 * when the last one ended (compat_note_collection, from the collection
 * event).  No lock, so Boehm's start callback may ask (Guile does). */
static _Atomic uint64_t total_at_gc;

void
compat_note_collection(uint64_t total_alloc)
{
	atomic_store_explicit(&total_at_gc, total_alloc, memory_order_relaxed);
}

size_t GC_CALL
GC_get_bytes_since_gc(void)
{
	mgc_stats s;
	uint64_t at;

	stats(&s);
	at = atomic_load_explicit(&total_at_gc, memory_order_relaxed);
	return (size_t)(s.total_alloc > at ? s.total_alloc - at : 0);
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
	if (pheap_size != NULL)
		*pheap_size = GC_get_heap_size();
	if (pfree_bytes != NULL)
		*pfree_bytes = GC_get_free_bytes();
	if (punmapped_bytes != NULL)
		*punmapped_bytes = GC_get_unmapped_bytes();
	if (pbytes_since_gc != NULL)
		*pbytes_since_gc = GC_get_bytes_since_gc();
	if (ptotal_bytes != NULL)
		*ptotal_bytes = GC_get_total_bytes();
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

void GC_CALL
GC_register_displacement(size_t n)
{
	if (mgc_register_displacement(n) != 0)
		warn("GC Warning: GC_register_displacement(%lu): too large, ignored\n", (GC_word)n);
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
