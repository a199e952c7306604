/* internal.h — the one internal header of mgc.
 *
 * Switches, constants, the lock order, the internal structs and the
 * prototypes every layer exports to the others, grouped by file.  Only
 * include/mgc.h is public; everything declared here is hidden from the
 * shared library's exports (-fvisibility=hidden).
 *
 * Lock order (a thread holding one may take only those below it):
 *	1. gc_lock            roots.c: one collection at a time; held across
 *	                      stop-the-world
 *	   (the loader's)     dl_iterate_phdr's lock: the collector stops the
 *	                      world inside the walk (roots_collect_then)
 *	2. thread_lock        thread.c: the registry of threads and their caches
 *	3. centrals[i].lock   central.c: one per span class; never two at once
 *	4. heap_mutex         heap.c, "the heap lock": the page heap and the page
 *	                      map's writers
 *	5. special_lock       finalize.c: the table of finalizers, cleanups and
 *	                      weak references
 *	6. fixalloc_lock      fixalloc.c: the metadata allocators (a leaf)
 * These are struct locks, each with its level (enum lock_level): debug
 * builds check the order with a per-thread record of the levels held
 * (lock_acquire/lock_release in util.c).
 *
 * The other mutexes are plain pthread ones, outside the levels, each
 * private to one file and its own threads:
 *	tls_walk_lock   thread.c: a registering thread's walk of the loaded
 *	                objects, which takes only the loader's lock under it.
 *	                Above everything: fork_prepare takes it first.
 *	wake_mutex      finalize.c: the finalizer runner's sleep.  A leaf,
 *	                taken under gc_lock (special_wake_runner).
 *	mu              scavenge.c: the scavenger's sleep.  A leaf, taken under
 *	                gc_lock (scavenge_start).
 *	helper_lock     drain.c: a drain opened to the helper markers, on which
 *	                they sleep.  A leaf, taken by the collector with the
 *	                world stopped (under gc_lock and thread_lock) and by
 *	                helpers that hold nothing else.
 *	pool_lock       drain.c: the pool of mark work the markers share.  A
 *	                leaf, taken like helper_lock, never under it.
 *	slots_mutex     central.c: making a kind slot's centrals.  A leaf,
 *	                taken holding no other lock.
 *	kind_lock       kind.c: the custom kinds and the layout arena.  A
 *	                leaf, taken holding no other lock.
 *	excl_mu         gc.c: the end of exclusive sections
 *	                (mgc_call_exclusive), which full collections wait for
 *	                holding no lock.  A leaf.
 *	dirty_lock      dirty.c: the tracked ranges.  A leaf, taken under the
 *	                heap lock (dirty_track) and under gc_lock (the
 *	                collector's dirty_begin, dirty_collect, dirty_end).
 * world.c's acks semaphore is no lock: stopped threads post it, and the
 * collector waits on it holding gc_lock and thread_lock.  The
 * Boehm-compatible library's compat_lock, and Boehm's allocator lock
 * before it, come before all of these (compat/compat.h).
 *
 * Locks 3-6 are allocator locks: a registered thread holding one is busy
 * (see struct cache) and is never stopped for a collection until it has let
 * go, and no section holding one waits for anything the collector holds.
 * So when the world is stopped no allocator lock is held by a registered
 * thread, and the collector reads and changes allocator state freely.
 *
 * Names.  A function that needs a lock held ends in _locked (its comment,
 * or its file's, says which), one that runs only while the calling thread
 * has the world stopped ends in _stopped, and debug builds assert it
 * (lock_held, world_stopped_here).  The functions of mark.c and drain.c run
 * with the world stopped, but for the test hooks, drain_start_helpers and
 * drain_after_fork_child: they keep their short names, and mark.c's entry
 * points assert it too.
 */
#ifndef MGC_INTERNAL_H
#define MGC_INTERNAL_H

#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(default)
#include "mgc.h"
#pragma GCC visibility pop

/* Declared hidden too, not only defined so: the library then reaches its
 * own variables and functions directly, not through the GOT. */
#pragma GCC visibility push(hidden)

/* ---- switches (always 0 or 1; used as `if (MGC_DEBUG)` so both sides compile) */
#ifndef MGC_DEBUG
#define MGC_DEBUG 0
#endif
#ifndef MGC_DEBUG_EXPENSIVE
#define MGC_DEBUG_EXPENSIVE 0
#endif
#ifndef MGC_VALGRIND /* built to run under Valgrind's Memcheck (mark.c) */
#define MGC_VALGRIND 0
#endif
#if defined(__SANITIZE_THREAD__)
#define MGC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MGC_TSAN 1
#endif
#endif
#ifndef MGC_TSAN
#define MGC_TSAN 0
#endif

/* mgc's own static variables that hold heap addresses: kept out of the
 * root scan (roots.c cuts this section out of the data segment). */
#define MGC_STATE __attribute__((section("mgc_state")))

#if MGC_VALGRIND
#include <valgrind/memcheck.h>
#endif

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NOINLINE    __attribute__((noinline))

/* Fences for the sequence-count readers and writers (alloc.c block_live
 * and lookup, sweep.c, heap.c geometry_begin).  gcc's ThreadSanitizer
 * rejects thread fences; its builds run on x86-64, where loads are not
 * reordered with loads nor stores with stores, so a compiler barrier does
 * there. */
static inline void
fence_acquire(void)
{
#if MGC_TSAN
	atomic_signal_fence(memory_order_acquire);
#else
	atomic_thread_fence(memory_order_acquire);
#endif
}

static inline void
fence_release(void)
{
#if MGC_TSAN
	atomic_signal_fence(memory_order_release);
#else
	atomic_thread_fence(memory_order_release);
#endif
}

/* ---- checks: debug assertion, expensive assertion, always-on fatal error */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void assert_fail(const char *what, const char *file, int line);
#define MGC_ASSERT(c) ((MGC_DEBUG && !(c)) ? assert_fail(#c, __FILE__, __LINE__) : (void)0)
#define MGC_ASSERT_EXPENSIVE(c)                                                                    \
	((MGC_DEBUG_EXPENSIVE && !(c)) ? assert_fail(#c, __FILE__, __LINE__) : (void)0)

/* ---- constants */
enum {
	PAGE_SHIFT = 13,
	PAGE_SIZE = 1 << PAGE_SHIFT, /* 8 KiB: the page heap's unit */
	CHUNK_SHIFT = 26,            /* 64 MiB: the page map's second level */
	PAGES_PER_CHUNK = 1 << (CHUNK_SHIFT - PAGE_SHIFT),
	ADDR_BITS = 48, /* user-space addresses on x86-64 and arm64 */
	MAX_SMALL = 32 << 10,
	MAX_CLASSES = 96,
	MAX_SPANCLASSES = 2 * MAX_CLASSES, /* of one kind slot (below) */
	MAX_BLOCKS_PER_SPAN = 1024,
	WORD = sizeof(void *),
};

/* Largest request mgc accepts: beyond it NULL/ENOMEM without touching the OS. */
#define MAX_REQUEST (((size_t)1 << 46))

static inline size_t
round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* ---- util.c: locks, fatal errors */
enum lock_level {
	LOCK_GC = 1,
	LOCK_THREAD,
	LOCK_CENTRAL,
	LOCK_HEAP,
	LOCK_SPECIAL,
	LOCK_FIXALLOC,
};
struct lock {
	pthread_mutex_t mutex;
	enum lock_level level;
};
#define LOCK_INIT(level)                                                                           \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, level                                                   \
	}
void lock_acquire(struct lock *l);
void lock_release(struct lock *l);
bool lock_held(const struct lock *l); /* debug builds only; true otherwise */
/* Take a plain leaf mutex that a registered thread may hold while it is
 * stopped (slots_mutex, kind_lock): under ThreadSanitizer, which holds back
 * the stop signal from a thread blocked in pthread_mutex_lock, by polling,
 * as lock_acquire does for the gc and thread locks. */
void lock_plain(pthread_mutex_t *m);

/* Relaxed counter owned by one thread and read by others: a plain load and
 * store (no read-modify-write), so the fast path stays free of atomics. */
static inline void
counter_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}
static inline uint64_t
counter_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- os.c: the only caller of mmap/munmap/madvise/mprotect */
void *os_reserve(size_t size, size_t align); /* PROT_NONE address space */
bool os_commit(void *p, size_t size);        /* make readable/writable; counts sys */
void *os_alloc_meta(size_t size);            /* zeroed metadata memory; counts sys */
void os_release(void *p, size_t size);       /* give pages back, keep the range */
void os_hint_huge(void *p, size_t size);     /* committed range: back it with huge pages */
/* Readable, writable, zero range that costs memory only where written; the
 * caller counts the pages it writes with os_account.  NULL on failure. */
void *os_map_sparse(size_t size);
void os_account(size_t size);
void os_free_meta(void *p, size_t size); /* unmap what os_alloc_meta gave; uncounts sys */
uint64_t os_sys_bytes(void);
void os_fail_after(long n); /* test hook: the nth mapping call from now fails; 0 = never */

/* ---- dirty.c: dirty-page tracking for marking while the program runs */
enum dirty_kind { DIRTY_NONE, DIRTY_UFFD, DIRTY_SOFT };
void dirty_init(void); /* pick the backend once (idempotent, thread-safe) */
enum dirty_kind dirty_backend(void);
const char *dirty_backend_name(void); /* "uffd-wp", "soft-dirty", "none" */
/* The heap committed [lo, hi) (page aligned, a fresh anonymous private
 * mapping): track it.  Heap lock held; takes only dirty_lock. */
void dirty_track(uintptr_t lo, uintptr_t hi);
/* Forget every earlier write to the tracked ranges: writes from now on are
 * reported.  False if tracking is unavailable or failed (the caller then
 * collects with the world stopped).  Gc lock held. */
bool dirty_begin(void);
/* fn(lo, hi, arg) for each maximal run of OS pages [lo, hi) of the tracked
 * ranges written since dirty_begin or the previous dirty_collect, which
 * are then forgotten.  Returns the bytes reported, or -1 if tracking was
 * lost (treat every page as written).  Gc lock held; fn must not call
 * back into this layer.  Under soft-dirty, only with the world stopped. */
int64_t dirty_collect(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
void dirty_end(void);              /* cycle over: writes stop costing faults (uffd-wp) */
void dirty_after_fork_child(void); /* the child tracks nothing */

/* ---- fixalloc.c: fixed-size off-heap allocator for metadata */
/* All fixallocs share one leaf lock: metadata allocation is rare, and one
 * lock is one more thing the collector and fork can hold. */
extern struct lock fixalloc_lock;
struct fixalloc {
	size_t size;    /* [init only] object size */
	void *free;     /* [lock] free list of objects */
	char *chunk;    /* [lock] bump region */
	size_t nchunk;  /* [lock] bytes left in it */
	uint64_t inuse; /* [lock] objects handed out */
};
#define FIXALLOC_INIT(sz)                                                                          \
	{                                                                                          \
		sz, NULL, NULL, 0, 0                                                               \
	}
void *fixalloc_alloc(struct fixalloc *f); /* zeroed object, NULL on ENOMEM */
void fixalloc_free(struct fixalloc *f, void *p);

/* ---- sizeclass.c */
extern uint32_t class_size[MAX_CLASSES];   /* [init only] block size of each class */
extern uint8_t class_npages[MAX_CLASSES];  /* [init only] pages per span */
extern uint16_t class_nelems[MAX_CLASSES]; /* [init only] blocks per span */
extern uint32_t class_divmul[MAX_CLASSES]; /* [init only] offset*divmul>>32 == offset/size */
extern uint16_t class_batch[MAX_CLASSES];  /* [init only] blocks moved per refill */
extern int num_classes;                    /* [init only] class 0 is unused (large) */
extern uint8_t class_small_index[MAX_SMALL / 8 + 1];   /* size <= 1024: by (size+7)/8 */
extern uint8_t class_large_index[MAX_SMALL / 128 + 1]; /* size > 1024: by (size+127)/128 */
void sizeclass_init(void);
bool sizeclass_check(void); /* every table invariant; used by init and tests */

static inline unsigned
sizeclass_of(size_t size)
{
	if (size <= 1024)
		return class_small_index[(size + 7) >> 3];
	return class_large_index[(size + 127) >> 7];
}

/* Span classes.  A span holds blocks of one size class and one kind.  The
 * plain kinds (mgc_alloc's scan blocks and mgc_alloc_noscan's) are slot 0,
 * told apart by the noscan bit, and their span classes are below 256, so
 * the fast path indexes its cache's fixed array with them; every other
 * kind (kind.c) has a slot of its own, whose lists and centrals are made
 * when it is first used. */
enum {
	SLOT_PLAIN = 0,
	SLOT_UNCOLLECTABLE = 1, /* both flavours, by the noscan bit */
	SLOT_TYPED = 2,         /* mgc_alloc_typed: scanned by a layout */
	SLOT_FIRST_CUSTOM = 3,  /* mgc_kind_new's kinds */
	KIND_SLOTS = 16,
	SLOT_SHIFT = 8,
};

static inline unsigned
sc_make(unsigned slot, unsigned cls, bool noscan)
{
	return slot << SLOT_SHIFT | cls << 1 | (unsigned)noscan;
}
static inline unsigned
sc_class(unsigned sc)
{
	return (sc >> 1) & 127;
}
static inline unsigned
sc_slot(unsigned sc)
{
	return sc >> SLOT_SHIFT;
}
static inline unsigned
sc_index(unsigned sc) /* within its slot's arrays */
{
	return sc & ((1u << SLOT_SHIFT) - 1);
}

/* ---- heap.c: spans, the page heap and the page map */
enum span_kind { SPAN_FREE = 0, SPAN_SMALL, SPAN_LARGE };
enum block_state { BLOCK_FREE = 0, BLOCK_LIVE = 1 };

struct span {
	/* The fields the mark loop reads come first, in one cache line: span
	 * records are 64-byte aligned (heap.c), and the loop prefetches only
	 * a record's first line. */
	uintptr_t base;   /* [heap lock] first byte */
	size_t elem_size; /* usable size of each block */
	/* One byte per block, written only by the thread that owns the block at
	 * that moment (the allocating or freeing thread), so no two threads write
	 * the same byte and no read-modify-write is needed.  mgc_base and
	 * mgc_free read it to tell live blocks from free ones. */
	_Atomic uint8_t *state;
	uint64_t *mark;  /* [world stopped] one bit per block */
	uint32_t nelems; /* blocks in the span */
	uint32_t divmul; /* see class_divmul */
	uint8_t kind;    /* [heap lock] enum span_kind; set in use last, with release */
	/* TAG_TYPED or TAG_KIND when the blocks are scanned through their
	 * kind (typed layouts, trace functions: kind.c), 0 when
	 * conservatively or not at all: the mark loop tags their ranges
	 * with it. */
	uint8_t tag;
	uint16_t spanclass;       /* slot << 8 | class << 1 | noscan (sc_make); class 0 if large */
	bool needzero;            /* [heap lock] free span: pages may hold old data */
	bool released;            /* [heap lock] free span: pages given back to the OS */
	bool in_partial;          /* [central lock] on its central's partial list */
	bool in_full;             /* [central lock] on its central's full list */
	size_t npages;            /* [heap lock] */
	struct span *next, *prev; /* [heap lock] free list, or [central lock] central list */
	uint32_t nout;            /* [central lock] blocks not on the span's free list */
	uint32_t bump;            /* [central lock] blocks [bump, nelems) never handed out */
	void *free;               /* [central lock] free blocks, linked through word 0 */
	/* Blocks the last sweep freed, one bit each: BLOCK_FREE but still
	 * holding their old contents.  central_take zeroes and hands them out,
	 * so a sweep never touches the memory of the blocks it frees, and a
	 * freed block is written next just before it is used again. */
	uint64_t *dead;         /* [central lock] */
	uint32_t ndead;         /* [central lock] bits set in dead */
	_Atomic uint8_t state1; /* storage for state/mark of one-block spans */
	uint64_t mark1;
	/* Sweep generation, as in Go's mspan: with sg the heap's current
	 * generation, sg-2 means not yet swept this cycle, sg-1 being swept,
	 * sg swept.  Spans are swept before their blocks are handed out again
	 * and before they return to the page heap. */
	_Atomic uint32_t sweepgen;
	uint32_t inuse_index; /* [heap lock] position in the heap's in-use array */
	/* Odd while the geometry above (kind, base, elem_size, nelems, divmul,
	 * state, mark) changes: a sequence count for lock-free lookups of
	 * arbitrary pointers (heap.c, geometry_begin).  [heap lock] to change */
	_Atomic uint32_t seq;
};

struct chunk_map {
	struct span *_Atomic page[PAGES_PER_CHUNK];
};
extern struct chunk_map *_Atomic *pagemap_l1; /* [init only] 2^(48-26) entries */

/* The span holding address a, or NULL when a is outside every span.  Two
 * dependent loads, no lock: see the page map comment in heap.c. */
static inline struct span *
pagemap_lookup(uintptr_t a)
{
	if (unlikely(a >> ADDR_BITS))
		return NULL;
	struct chunk_map *c =
	        atomic_load_explicit(&pagemap_l1[a >> CHUNK_SHIFT], memory_order_acquire);
	if (c == NULL)
		return NULL;
	return atomic_load_explicit(&c->page[(a >> PAGE_SHIFT) & (PAGES_PER_CHUNK - 1)],
	                            memory_order_acquire);
}

static inline uint32_t
span_block_index(const struct span *s, uintptr_t a)
{
	return (uint32_t)(((uint64_t)(a - s->base) * s->divmul) >> 32);
}

/* A free block of 16 bytes or more carries in word 1 the address of its
 * state byte, so the allocation fast path marks it live without a page-map
 * lookup (the word is cleared on the way out, like the link in word 0). */
static inline void
block_set_state_ref(struct span *s, void **b, uint32_t i)
{
	if (s->elem_size >= 2 * WORD)
		b[1] = (void *)&s->state[i];
}

void heap_init(void);
/* A span of npages pages set up as `kind` for `spanclass` (side maps, block
 * geometry; a large span holds one live block of usable size large_size,
 * whose address is stored in *pin before the heap lock is released: until
 * the caller holds the address itself, the span record is its only
 * reference, and a record is no heap pointer).  Its pages are
 * zero unless s->needzero, which the caller clears by zeroing them.  NULL on
 * ENOMEM. */
struct span *heap_alloc_span(size_t npages, enum span_kind kind, unsigned spanclass,
                             size_t large_size, _Atomic uintptr_t *pin);
void heap_free_span(struct span *s);
void heap_release_free(void);              /* give every free span's pages back to the OS */
void heap_set_retain_goal(uint64_t bytes); /* free memory below this heap size is kept */
/* The memory limit (growth past it asks for a collection) and the maximum
 * of in-use pages (never exceeded); 0: none. */
void heap_set_limits(uint64_t soft, uint64_t max);
bool heap_has_max(void);
/* Release free pages, biggest spans first, while more than `keep` bytes of
 * free pages are unreleased, stopping once `budget` bytes or more went back;
 * returns the bytes released. */
uint64_t heap_scavenge(uint64_t keep, uint64_t budget);
uint64_t heap_retain_goal(void);
uint64_t heap_held(void);             /* sys less released: the memory mgc holds */
void heap_free_large(struct span *s); /* explicit free of a large block's span */
/* Tear down the spans freed while a concurrent cycle marked (gc_black). */
void heap_free_deferred_stopped(void);
extern _Atomic uint32_t heap_sweepgen;     /* [atomic; written with the world stopped] */
extern _Atomic uintptr_t heap_lo, heap_hi; /* [atomic] bounds of every arena so far */
/* What a cycle sweeps: the spans in use when the world stopped, with the
 * kind and class they had then (read from here, not from a record that may
 * have been swept, freed and reused meanwhile). */
struct sweep_item {
	struct span *span;
	uint8_t kind;
	uint16_t spanclass;
};
/* A new sweep generation; points *items at the in-use spans (an array
 * owned by heap.c) and returns how many. */
size_t heap_begin_cycle_stopped(struct sweep_item **items);
/* A concurrent cycle, before its final stop: copy the in-use spans into
 * the next snapshot ahead of it (gc_black set). */
void heap_prepare_snapshot(void);
/* Heap lock held: the page heap's part of sweeping the large span s. */
void heap_sweep_large_locked(struct span *s, uint32_t sg);
/* World stopped: fn(s, arg) for every span in use. */
void heap_each_span_stopped(void (*fn)(struct span *s, void *arg), void *arg);
void heap_lock(void);
void heap_unlock(void);
bool heap_lock_held(void); /* debug builds only; true otherwise */
struct heap_figures {
	uint64_t inuse_bytes;
	uint64_t released_bytes;
	uint64_t free_bytes;
	uint64_t committed_bytes; /* pages ever committed: in use, free and released */
};
void heap_read_figures(struct heap_figures *out);
void heap_verify_stopped(void); /* free lists and page map agree */

/* ---- central.c: per-span-class central lists */
struct cache_list;
/* Prepends up to `want` blocks to list l, under the central lock so that
 * a collection never sees them in flight; returns how many. */
size_t central_take(unsigned spanclass, struct cache_list *l, size_t want);
void central_give(unsigned spanclass, void *head);
bool central_slot_ready(unsigned slot); /* a kind slot's centrals made; false on ENOMEM */
void central_give_stopped(unsigned spanclass, void *head);
/* Sweep span s of span class sc if it is still unswept in generation sg. */
void central_sweep(struct span *s, unsigned spanclass, uint32_t sg);
void central_init(void);
/* Give every span left on the centrals' empty lists back to the page heap. */
void central_release_empty(void);
void central_release_empty_stopped(void);
void central_begin_sweep_stopped(void); /* a new sweep: every full span unswept */
size_t central_count_empty(void);       /* test hook */
/* Debug builds: the calling thread holds span class sc's central lock;
 * true otherwise. */
bool central_lock_held(unsigned spanclass);
/* Take and release span class sc's central lock (its slot is ready). */
void central_lock(unsigned spanclass);
void central_unlock(unsigned spanclass);
void central_after_fork_child(void);
void central_fork_prepare(void); /* every central lock, for fork (gc.c) */
void central_fork_done(void);

/* ---- cache.c: per-thread caches */
struct cache_list {
	void *head;     /* [owner] free blocks linked through word 0 (alloc.c) */
	uint32_t count; /* [owner] */
	uint32_t limit; /* [owner] flush a batch to central beyond this */
};
struct cache {
	struct cache_list list[MAX_SPANCLASSES]; /* slot 0's */
	/* The lists of the other kind slots, MAX_SPANCLASSES each, made on
	 * the thread's first use of the slot (cache_slot_ready).  [owner], and
	 * [world stopped] for the collector. */
	struct cache_list *slot_lists[KIND_SLOTS];
	/* Counters: written by the owner thread only, read by mgc_read_stats. */
	_Atomic uint64_t nmalloc, nfree, bytes_alloc, bytes_freed, nlookup;
	/* bytes_alloc - bytes_freed as last added to heap_live (cache_publish);
	 * [owner], and [world stopped] for the collector's reset. */
	uint64_t published;
	/* The stop-the-world handshake: `busy` (a nesting count) while the
	 * thread changes its lists or a block's state without a lock, and while
	 * it holds an allocator lock (central, heap, special or fixalloc); a
	 * stop request that lands then is deferred (stop_pending) to the
	 * busy_leave that ends it.  Only this thread and its signal handler
	 * touch them. */
	_Atomic uint32_t busy;
	_Atomic uint8_t stop_pending;
};
extern __thread struct cache *tls_cache __attribute__((tls_model("initial-exec")));
/* Span class sc's list in c; for a slot other than 0, cache_slot_ready
 * must have said yes. */
static inline struct cache_list *
cache_list_of(struct cache *c, unsigned sc)
{
	if (likely(sc < (1u << SLOT_SHIFT)))
		return &c->list[sc];
	return &c->slot_lists[sc_slot(sc)][sc_index(sc)];
}
bool cache_slot_ready(struct cache *c, unsigned slot); /* false on ENOMEM */
bool cache_refill(struct cache *c, unsigned spanclass);
void *cache_overflow(struct cache *c, unsigned spanclass); /* chain for central_give */
void cache_flush_stopped(struct cache *c);                 /* every block back to the centrals */
void cache_publish(struct cache *c); /* add this thread's net allocation to heap_live */

static inline void
busy_enter(struct cache *c)
{
	atomic_store_explicit(&c->busy, atomic_load_explicit(&c->busy, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
}

void world_deferred_stop(struct cache *c);

/* End a busy section; true when it was the outermost one and a stop
 * request is waiting for it: the caller then calls world_deferred_stop. */
static inline bool
busy_end(struct cache *c)
{
	atomic_signal_fence(memory_order_seq_cst);
	uint32_t b = atomic_load_explicit(&c->busy, memory_order_relaxed) - 1;
	atomic_store_explicit(&c->busy, b, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	return unlikely(b == 0 && atomic_load_explicit(&c->stop_pending, memory_order_relaxed));
}

static inline void
busy_leave(struct cache *c)
{
	if (busy_end(c))
		world_deferred_stop(c);
}
/* Every block back to the centrals, and the slot lists freed: the thread
 * is leaving the registry. */
void cache_flush_all(struct cache *c);
void cache_init(struct cache *c);

/* ---- alloc.c */
/* kind_sc below: a kind's span class of class 0 (its slot and noscan bit). */
void *alloc_slow(size_t size, unsigned kind_sc);
void *alloc_of_kind(size_t size, unsigned kind_sc); /* the fast path, for any kind */
/* A typed block of need bytes (its trailer included) whose trailer is set
 * to `trailer`. */
void *alloc_typed_block(size_t need, uintptr_t trailer);
/* Up to n blocks of one kind, linked through word 0 (mgc_alloc_many). */
void *alloc_many(size_t size, unsigned kind_sc, size_t n);
/* mgc_base without counting a lookup: the live block holding p, or 0 (one
 * the last mark found unreachable is not live).  Registered threads only. */
uintptr_t alloc_block_base(uintptr_t p, size_t *size);
/* The block holding p if its state byte says allocated, whatever the last
 * mark found, or 0: for checks made with the world stopped. */
uintptr_t alloc_block_allocated(uintptr_t p);
/* mgc_is_marked between collections: 1 if the block holding p survives
 * the last collection's sweep (alloc.c, block_live), 0 otherwise. */
int alloc_block_marked(uintptr_t p);
/* Where the block holding p lies, for a caller about to take the lock of
 * its span: the span, its span class, whether it is large, the block's
 * index, and the span's geometry count then.  False if p is in no block. */
struct block_ref {
	struct span *s;
	unsigned sc;
	bool large;
	uint32_t i, seq;
};
bool alloc_block_ref(uintptr_t p, struct block_ref *r);
/* With the span's lock (central or heap) held: r still describes it. */
bool alloc_block_ref_valid(const struct block_ref *r);

/* ---- thread.c: the registry of threads */
enum { MAX_TLS_RANGES = 8 };
struct thread {
	struct cache cache;         /* [owner] */
	struct thread *next, *prev; /* [thread lock] */
	pthread_t id;               /* [init only] */
	/* The stack's base (highest address): found at registration, moved
	 * by mgc_set_stack_bottom.  [thread lock] to write; [atomic] */
	_Atomic uintptr_t stack_hi;
	_Atomic uintptr_t stack_lo;  /* [atomic] stack pointer saved when stopped */
	_Atomic unsigned stopped_in; /* [atomic] epoch of the last stop (debug check) */
	/* mgc_register_altstack: the signal stack, and the normal stack scanned
	 * whole when the thread stops on the signal one.  [thread lock] */
	uintptr_t alt_lo, alt_hi, norm_lo, norm_hi;
	/* mgc_suspend_thread's handshake (world.c): SUSPEND_NONE, _ASKED,
	 * _PARKED.  [atomic]; moves to or from _PARKED under the gc lock. */
	_Atomic unsigned suspend;
	/* The large block this thread is allocating, a root until the thread
	 * holds the address itself (heap_alloc_span).  [atomic] */
	_Atomic uintptr_t pinned;
	_Atomic bool linked;              /* [thread lock] in the registry: stops apply to it */
	uintptr_t tls[MAX_TLS_RANGES][2]; /* [init only] static TLS blocks */
	int ntls;                         /* [init only] */
};
extern __thread struct thread *tls_thread __attribute__((tls_model("initial-exec")));
void thread_init(void);
struct cache *thread_attach(void); /* registers the caller; its cache, or NULL on ENOMEM */
void thread_lock_registry(void);
void thread_unlock_registry(void);
struct thread *thread_first(void); /* thread lock held: iterate with t->next until NULL */
struct thread *thread_next(struct thread *t);
void thread_after_fork_child(void);
void thread_fork_prepare(void); /* fork: no thread is walking the loaded objects */
void thread_fork_done(void);    /* in parent and child after fork */
struct counters {
	uint64_t nmalloc, nfree, bytes_alloc, bytes_freed, nlookup;
};
void thread_sum_counters(struct counters *out);
void thread_sum_counters_locked(struct counters *out); /* thread lock held */
/* fn on the stack ranges of t to scan, given the stack pointer lo it
 * stopped at: [lo, base), or, stopped on its registered signal stack,
 * the rest of that one and the whole normal stack.  Thread lock held. */
void thread_each_stack_range(const struct thread *t, uintptr_t lo,
                             void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
/* The registered thread whose id is id, or NULL.  Thread lock held. */
struct thread *thread_find_locked(pthread_t id);

/* ---- world.c: stopping and starting the world */
void world_init(void);
size_t world_stop(void); /* gc and thread locks held; returns how many threads stopped */
void world_start(void);
/* Debug checks: the calling thread has the world stopped (world_stop
 * returned, world_start not yet called).  Every _stopped function asserts
 * it. */
bool world_stopped_here(void);
void world_after_fork_child(void);
void world_poll(void); /* stop here if a stop is under way (ThreadSanitizer builds) */
/* Start a detached thread of mgc's own with every signal blocked, so the
 * program's signals never run on it; false if it could not start. */
bool world_spawn_quiet(void *(*fn)(void *), void *arg);

/* ---- roots.c */
typedef void (*roots_fn)(uintptr_t lo, uintptr_t hi, void *arg);
/* Lists the data/bss segments of every loaded object, then calls then(arg)
 * still under the loader's lock, so no listed object is unmapped before it
 * returns.  gc lock held. */
void roots_collect_then(void (*then)(void *), void *arg);
void roots_each_segment(roots_fn fn, void *arg); /* inside `then` */
void roots_each_added(roots_fn fn, void *arg);   /* gc lock held */
/* World stopped: the program's roots callback (mgc_set_roots_callback),
 * if any, reports to t. */
void roots_call_stopped(struct mgc_tracer *t);
extern struct lock gc_lock;

/* ---- mark.c */
struct mark_result {
	uint64_t marked_bytes, marked_blocks;
	uint64_t root_bytes, stack_bytes;
};
void mark_begin(uint64_t last_live);                     /* marked bytes of the last collection */
void mark_set_spans(struct sweep_item *items, size_t n); /* for overflow recovery */
void mark_range(uintptr_t lo, uintptr_t hi);
void mark_add_root_bytes(uint64_t roots, uint64_t stacks);
void mark_drain(void);
void mark_end(struct mark_result *out);
void mark_set_stack_limit(size_t entries); /* test hook: force overflow recovery */
void mark_set_pipeline_min(uint64_t live); /* test hook: 0 always pipelines */
void mark_check_closed(void);              /* debug: no marked block points to an unmarked one */
bool mark_is_marked(uintptr_t base);       /* base: a live block's start */
/* Without draining (the caller calls mark_drain once after many): */
void mark_block(uintptr_t base);    /* mark it (it is scanned) if it is not */
void mark_contents(uintptr_t base); /* scan its contents without marking it */
void mark_word(uintptr_t w);        /* w as a candidate pointer */
uint64_t mark_helper_blocks(void);  /* test hook: blocks the helpers marked last time */
/* Test hook: the next mark forgets it marked the block at base (a live
 * block's start), as a broken marker would; the checkmark must catch it. */
void mark_drop_next(uintptr_t base);
void mark_forget_dropped(void); /* world stopped, roots marked: the hook's effect */
/* Mostly-concurrent cycles (gc.c).  While roots are pushed in the first
 * stop, mark_drain only pushes (mark_push_only); mark_drain_running drains
 * with the world running; mark_rescan pushes the marked blocks of written
 * pages again (in part, for a large block), and mark_rescan_all every
 * marked block, at the next drain (dirty tracking lost).  The gc lock is
 * held, spans are not torn down (gc_black). */
void mark_push_only(bool on);
void mark_drain_running(void);
void mark_rescan(uintptr_t lo, uintptr_t hi);
void mark_rescan_all(void);

/* The markers.  Each (the collecting thread's, and one per helper thread,
 * drain.c) has its own mark stack, FIFO and candidate pipeline; mark.c
 * scans with them, drain.c moves work between their stacks.  They hold
 * heap addresses: not roots (MGC_STATE). */
struct range {
	uintptr_t lo, hi;
};
/* What a trace function reports to (kind.c): each marker has one, and so
 * do the checkmark and the verifier.  word: a candidate read from a heap
 * block, under the heap rule (mark.c, mark_offset_ok); range: memory to
 * scan conservatively under the same rule. */
struct mgc_tracer {
	void (*word)(struct mgc_tracer *t, uintptr_t w);
	void (*range)(struct mgc_tracer *t, uintptr_t lo, uintptr_t hi);
	struct marker *m; /* the marker's own */
};
/* Newly marked blocks wait in a small FIFO, prefetched on entry, before
 * they reach the stack: by the time one is scanned its first line has
 * arrived, instead of the scan stalling on each pointer it follows. */
enum { FIFO = 16 };
/* The candidate pipeline's rings (mark.c, pipe_page). */
enum { LAG = 8 };
struct stage {
	uintptr_t w[LAG];
	const void *p[LAG]; /* page-map slot, span, or span (with w as index) */
	unsigned next, count;
};
struct marker {
	struct range *stack;
	size_t depth, capacity;
	bool overflowed;
	unsigned fifo_head, fifo_len;
	struct range fifo[FIFO];
	struct stage pipe[3];
	/* Candidates follow the heap rule with interior pointers off: while
	 * mark_base_only, but for root ranges (mark_range, mark_word). */
	bool strict;
	struct mark_result result;
	struct mgc_tracer tracer;
} __attribute__((aligned(64)));
enum { MAX_MARKERS = 8 };
extern struct marker markers[MAX_MARKERS];
#define COLLECTOR (&markers[0]) /* the collecting thread's marker */
/* Grow m's stack (it may be empty, capacity 0); false at the limit
 * (mark_set_stack_limit) or on ENOMEM. */
bool mark_grow_stack(struct marker *m);
/* While helpers may mark (on), mark bits are set with an atomic or.  Set
 * by the collector with every helper asleep or about to join. */
void mark_set_parallel(bool on);
bool mark_parallel(void);
/* Marker m's part of a parallel drain: scan until it has no work of its
 * own left, giving part of it to any idle peer (drain_share). */
void mark_drain_sharing(struct marker *m);

/* A candidate word of a root or block, read without the sanitizers: roots
 * hold words the program never initialised (padding, dead stack slots) and
 * memory other threads may be writing, by design.  Under Valgrind
 * (MGC_VALGRIND builds) the copy is declared defined, so that neither the
 * tests on it nor the mark bits they set count as uses of undefined memory,
 * while the word itself keeps Memcheck's view for the program. */
__attribute__((no_sanitize("address", "thread"))) static inline uintptr_t
mark_load_word(const uintptr_t *p)
{
	uintptr_t w = *p;
#if MGC_VALGRIND
	VALGRIND_MAKE_MEM_DEFINED(&w, sizeof w);
#endif
	return w;
}

/* ---- drain.c: the parallel drain */
void drain_start_helpers(void); /* gc lock held, world running */
void drain_after_fork_child(void);
bool drain_helper_here(void); /* the calling thread is one of the helper markers */
/* Ranges the collector scans alone before it calls drain_with_helpers:
 * unlimited when there are no helpers. */
size_t drain_alone_budget(void);
void drain_with_helpers(void);      /* the rest of a drain, shared with the helpers */
extern _Atomic unsigned drain_idle; /* markers of this drain out of work */
extern _Atomic size_t drain_pool_n; /* ranges in the pool; read as a hint */
/* An idle peer waits for work, the pool is empty and m has work to give. */
static inline bool
drain_peer_hungry(const struct marker *m)
{
	return m->depth > 1 && atomic_load_explicit(&drain_idle, memory_order_relaxed) > 0 &&
	       atomic_load_explicit(&drain_pool_n, memory_order_relaxed) == 0;
}
void drain_share(struct marker *m); /* give part of m's stack to the pool */

/* The heap rule.  A candidate read from a root retains the block it
 * points into anywhere; one read from a heap block, the same unless
 * interior pointers are off (mgc_set_interior_pointers), when only the
 * block's start and the registered displacements retain it. */
enum { MAX_DISPLACEMENT = 4096 };
extern bool mark_base_only;                                /* [gc lock] */
extern uint64_t mark_displacements[MAX_DISPLACEMENT / 64]; /* [gc lock] */
static inline bool
mark_offset_ok(uintptr_t off)
{
	return !mark_base_only || off == 0 ||
	       (off < MAX_DISPLACEMENT && (mark_displacements[off >> 6] >> (off & 63) & 1));
}
/* World stopped, roots marked: mark every allocated uncollectable block of
 * the cycle's spans (they are roots) and drain. */
void mark_uncollectable(const struct sweep_item *items, size_t n);
/* World stopped, roots marked: scan the contents of every allocated,
 * unmarked block of the kinds traced whole (kind_traced_all), and drain. */
void mark_trace_all(const struct sweep_item *items, size_t n);
/* World stopped: call the roots callback (roots.c) with the collector's
 * root tracer, and drain. */
void mark_roots_callback(void);
/* The collecting thread enters (on) or leaves a collection's stop: from
 * then, until it leaves, mgc_is_marked and mgc_set_mark on this thread
 * read and change the mark bits in place. */
void mark_phase_stopped(bool on);

/* ---- kind.c: object kinds beyond the plain two */
struct mgc_layout {
	size_t nwords;
	bool any;        /* some word may hold a pointer */
	bool all;        /* every word may */
	uint64_t bits[]; /* bit i: word i may hold a pointer */
};
/* A typed block's last word holds its layout's address, with bit 0 set for
 * an array (the layout repeated over the block); 0 before the allocating
 * call wrote it (nothing to scan yet).  Typed spans carry tag 3 (custom
 * ones 1): the mark loop finds the layout from a tagged range alone, and
 * typed blocks, 16 bytes or more, are 16-byte aligned. */
enum { TAG_KIND = 1, TAG_TYPED = 3 };
static inline size_t
kind_trailer(unsigned sc)
{
	return sc_slot(sc) == SLOT_TYPED ? WORD : 0;
}
/* The words of typed block [base, base+size) (size: the whole block) that
 * may hold pointers, as a walk: the layout, and how many words to cover. */
static inline const struct mgc_layout *
kind_layout(uintptr_t base, size_t size, size_t *nwords)
{
	/* Read as a candidate word: a concurrent cycle's markers read it while
	 * the block's owner may be writing it. */
	uintptr_t t = mark_load_word((const uintptr_t *)(base + size - WORD));
	const struct mgc_layout *l = (const struct mgc_layout *)(t & ~(uintptr_t)1);
	size_t words = size / WORD - 1;
	*nwords = l == NULL ? 0 : (t & 1) || l->nwords > words ? words : l->nwords;
	return l;
}
/* World stopped: report the pointers of block base of span s (s->tag set:
 * typed or of a custom kind) to t. */
void kind_trace(const struct span *s, uintptr_t base, struct mgc_tracer *t);
/* A block of p's kind (sc, its span class), typed with p's layout. */
void *kind_alloc_like(const void *p, unsigned sc, size_t size);
/* The kind number (as mgc_block_kind answers) of span class sc. */
int kind_of_sc(unsigned sc);
/* Slot `slot`'s kind scans through kind_trace (the span's tag). */
bool kind_tagged(unsigned slot);
/* A kind's disclaim callback (mgc_kind_set_disclaim): never changed once
 * published, never freed. */
struct kind_disclaim {
	mgc_disclaim_fn fn;
	void *arg;
	unsigned flags;
};
/* The disclaim callback of span class sc's kind, or NULL. */
const struct kind_disclaim *kind_disclaim_of(unsigned sc);
/* Span class sc's kind is traced whole at every mark (MGC_DISCLAIM_TRACE_ALL);
 * whether any kind is. */
bool kind_traced_all(unsigned sc);
bool kind_any_traced_all(void);
bool kind_any_custom(void);   /* a kind with a trace function exists */
void kind_fork_prepare(void); /* kind_lock, held across fork (gc.c) */
void kind_fork_done(void);

/* ---- checkmark.c: MGC_CHECKMARK */
/* World stopped, after marking from the roots and before the finalization
 * passes: mark again from the same roots (the collecting thread's stack
 * from self_lo) with a simple marker, and abort if the real mark missed a
 * block.  items/n: the cycle's in-use spans. */
void checkmark_stopped(const struct sweep_item *items, size_t n, uintptr_t self_lo);

/* ---- finalize.c: finalizers, cleanups, weak references */
bool special_any(void);                /* any finalizer, cleanup or weak handle? */
void special_drop(uintptr_t base);     /* a block freed explicitly loses its specials */
void special_mark_roots_stopped(void); /* args and queued work are roots */
/* fn(word, arg) for every word special_mark_roots_stopped marks. */
void special_each_root_stopped(void (*fn)(uintptr_t w, void *arg), void *arg);
struct special_result {
	uint64_t queued, held_back;
};
void special_after_mark_stopped(struct special_result *out); /* the passes */
void special_wake_runner(void);                              /* after the world restarts */
/* A leak found (debug.c): block base is a root until freed; world stopped. */
void special_add_leaked(uintptr_t base);
void special_read_counts(uint64_t *queued, uint64_t *run);
void special_after_fork_child(void);
void special_fork_prepare(void); /* special_lock, held across fork (gc.c) */
void special_fork_done(void);

/* ---- sweep.c */
void sweep_begin_stopped(struct sweep_item *items, size_t n, uint32_t sg);
void sweep_finish(void); /* sweep everything left in this thread */
void sweep_some(void);   /* a little sweeping, from allocation slow paths */
/* s's central lock held, s claimed (sweepgen sg-1): sweep it; the blocks
 * freed in *freed_blocks. */
void sweep_small_locked(struct span *s, uint32_t sg, uint64_t *freed_blocks);
void sweep_count(uint64_t blocks, uint64_t bytes);
void sweep_read_counts(uint64_t *blocks, uint64_t *bytes);
/* The disclaim hook.  s claimed by this thread (sweepgen sg-1), its lock
 * held, no mark bit cleared yet: ask d about every allocated unmarked
 * block of s, and mark those it keeps. */
void sweep_disclaim_locked(struct span *s, const struct kind_disclaim *d);
/* The span this thread is disclaiming in (inside sweep_disclaim_locked), or NULL. */
extern __thread const struct span *sweep_disclaiming __attribute__((tls_model("initial-exec")));
/* mgc_set_mark between collections (world running): 0 or -1 with errno. */
int sweep_set_mark(uintptr_t p, bool on);

/* ---- gc.c */
/* Live bytes as the trigger sees them: the bytes marked by the last
 * collection, plus what threads have allocated minus what they have freed
 * since, as they publish it from their slow paths.  [atomic] */
extern _Atomic int64_t heap_live;
extern _Atomic int64_t gc_trigger; /* [atomic] collect when heap_live reaches it */
extern bool gc_stress;             /* [init only] collect at every allocation */
/* A mostly-concurrent cycle is marking while the program runs: a block is
 * marked as it leaves its central for a thread cache and as it is freed
 * into one (so it is allocated marked, "black"), a large block as its span
 * is made, and spans are not torn down (heap.c defers it to the final
 * stop), so markers read in-use spans' geometry without a lock.  Set and
 * cleared with the world stopped; read inside busy sections.  [atomic] */
extern _Atomic bool gc_black;
/* In concurrent mode, allocating threads wait for the running cycle past
 * this heap_live (pace.c sets it).  [atomic] */
extern _Atomic int64_t gc_ceiling;
bool gc_concurrent_on(void); /* automatic collections are concurrent cycles */
static inline void
gc_blacken(struct span *s, uint32_t i)
{
	__atomic_fetch_or(&s->mark[i >> 6], (uint64_t)1 << (i & 63), __ATOMIC_RELAXED);
}
void gc_init(void);
void gc_auto(void);
struct gc_figures {
	uint64_t num_gc, pause_total_ns, pause_last_ns, pause_max_ns, next_gc;
	bool enabled;
	/* The longest single stop; concurrent cycles, their marking time and
	 * the bytes of written pages they rescanned. */
	uint64_t stop_max_ns, concurrent_cycles, mark_concurrent_ns, rescanned_bytes;
};
void gc_read_figures(struct gc_figures *out);
void gc_collect_full(void); /* a full collection and sweep; no mgc lock held */
void gc_collect_idle(void); /* the scavenger's: concurrent if on, else full */
void gc_pressure(void);     /* over the memory limit: collect soon, CPU cap allowing */
uint64_t gc_alloc_since(uint64_t *last_ns); /* bytes allocated since the last collection */

/* ---- pace.c: the heap goal */
struct pace_sample {
	uint64_t live;        /* bytes marked */
	uint64_t allocated;   /* bytes allocated since the previous collection */
	uint64_t mutator_ns;  /* time from the end of the previous collection to this one */
	uint64_t gc_ns;       /* this collection's time */
	uint64_t heap_before; /* block bytes when it started (alloc) */
	uint64_t held_before; /* memory mgc held then (sys less released) */
	bool concurrent;      /* a concurrent cycle, */
	uint64_t cycle_alloc; /* and the bytes allocated while it marked */
};
void pace_init(void);
/* The _locked functions of pace.c need the gc lock. */
void pace_after_cycle_locked(const struct pace_sample *s);
uint64_t pace_goal_locked(void); /* next_gc; UINT64_MAX when automatic collection is off */
uint64_t pace_goal(void);        /* the same, as last published, without the lock */
uint64_t pace_live_locked(void); /* bytes the last collection marked */
bool pace_enabled_locked(void);

/* ---- scavenge.c: the background scavenger */
void scavenge_start(void);         /* after a collection: start or wake it */
uint64_t scavenge_free_keep(void); /* free, unreleased bytes worth keeping now */
void scavenge_after_fork_child(void);

static inline bool
gc_due(void)
{
	return atomic_load_explicit(&heap_live, memory_order_relaxed) >=
	       atomic_load_explicit(&gc_trigger, memory_order_relaxed);
}

/* ---- verify.c */
/* black: a concurrent cycle's mark, where free blocks may be marked. */
void verify_heap_stopped(const struct sweep_item *items, size_t n, bool black);

/* ---- debug.c: debug blocks, the guard check, leak finding */
/* The block of debug block pointer p (as mgc_debug_alloc returned it), or 0. */
uintptr_t debug_block_of(const void *p);
void debug_check_free(uintptr_t block); /* report a smashed guard before a free */
/* mgc_realloc of debug block `block`: a new debug block with the same site. */
uintptr_t debug_realloc_site(uintptr_t block, size_t size);
/* After the finalization passes: check guards, find leaks (and keep them). */
void debug_stopped(const struct sweep_item *items, size_t n);
void debug_deliver(void); /* hand the findings to the report callback; no lock held */
void debug_init(void);    /* MGC_FIND_LEAKS */

/* ---- util.c: knobs from the environment, read once */
struct knobs {
	int gc_percent;    /* -1: off; MGC_GCPERCENT_ADAPTIVE: the adaptive rule */
	uint64_t memlimit; /* MGC_MEMLIMIT, 0: none */
	uint64_t max_heap; /* MGC_MAXHEAP, 0: none */
	bool trace;
	bool collect_every;
	int sig_suspend, sig_restart;
	/* Marking threads, the collector included (1..8): [atomic], written
	 * under the gc lock (mgc_set_markers). */
	_Atomic unsigned markers;
	bool checkmark;  /* MGC_CHECKMARK: check every mark (checkmark.c) */
	bool concurrent; /* MGC_CONCURRENT=1: mostly-concurrent cycles (gc.c) */
};
extern struct knobs knobs;
void knobs_init(void);
uint64_t now_ns(void);
void wipe_traces(void); /* clear stale words below the caller's frame */

#pragma GCC visibility pop

#endif
