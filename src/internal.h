/* internal.h — the one internal header of mgc.
 *
 * Switches, constants, the lock order, the internal structs and the
 * prototypes every layer exports to the others, grouped by file.  Only
 * include/mgc.h is public; everything declared here is hidden from the
 * shared library's exports (-fvisibility=hidden).
 *
 * Lock order (a thread holding one may take only those below it):
 *	1. gc_lock           one collection at a time; held across stop-the-world
 *	2. thread_lock       the registry of threads and their caches
 *	3. central[i].lock   one per span class; never two at once
 *	4. heap_lock         the page heap and the page map's writers
 *	5. fixalloc locks    leaf locks of the metadata allocators
 * Debug builds check the order with a per-thread record of the highest
 * level held (lock_acquire/lock_release below).
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

/* ---- switches (always 0 or 1; used as `if (MGC_DEBUG)` so both sides compile) */
#ifndef MGC_DEBUG
#define MGC_DEBUG 0
#endif
#ifndef MGC_DEBUG_EXPENSIVE
#define MGC_DEBUG_EXPENSIVE 0
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))

/* ---- checks: debug assertion, expensive assertion, always-on fatal error */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void assert_fail(const char *what, const char *file, int line);
#define MGC_ASSERT(c) ((MGC_DEBUG && !(c)) ? assert_fail(#c, __FILE__, __LINE__) : (void)0)
#define MGC_ASSERT_EXPENSIVE(c) \
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
	MAX_SPANCLASSES = 2 * MAX_CLASSES,
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
	LOCK_FIXALLOC,
};
struct lock {
	pthread_mutex_t mutex;
	enum lock_level level;
};
#define LOCK_INIT(level) {PTHREAD_MUTEX_INITIALIZER, level}
void lock_acquire(struct lock *l);
void lock_release(struct lock *l);
bool lock_held(const struct lock *l); /* debug builds only; true otherwise */

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
/* Readable, writable, zero range that costs memory only where written; the
 * caller counts the pages it writes with os_account.  NULL on failure. */
void *os_map_sparse(size_t size);
void os_account(size_t size);
uint64_t os_sys_bytes(void);
void os_fail_after(long n); /* test hook: the nth mapping call from now fails; 0 = never */

/* ---- fixalloc.c: fixed-size off-heap allocator for metadata */
struct fixalloc {
	struct lock lock;
	size_t size;    /* [init only] object size */
	void *free;     /* [lock] free list of objects */
	char *chunk;    /* [lock] bump region */
	size_t nchunk;  /* [lock] bytes left in it */
	uint64_t inuse; /* [lock] objects handed out */
};
#define FIXALLOC_INIT(sz) {LOCK_INIT(LOCK_FIXALLOC), sz, NULL, NULL, 0, 0}
void *fixalloc_alloc(struct fixalloc *f); /* zeroed object, NULL on ENOMEM */
void fixalloc_free(struct fixalloc *f, void *p);

/* ---- sizeclass.c */
extern uint32_t class_size[MAX_CLASSES];   /* [init only] block size of each class */
extern uint8_t class_npages[MAX_CLASSES];  /* [init only] pages per span */
extern uint16_t class_nelems[MAX_CLASSES]; /* [init only] blocks per span */
extern uint32_t class_divmul[MAX_CLASSES]; /* [init only] offset*divmul>>32 == offset/size */
extern uint16_t class_batch[MAX_CLASSES];  /* [init only] blocks moved per refill */
extern int num_classes;                    /* [init only] class 0 is unused (large) */
extern uint8_t class_small_index[MAX_SMALL / 8 + 1]; /* size <= 1024: by (size+7)/8 */
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

/* ---- heap.c: spans, the page heap and the page map */
enum span_kind { SPAN_FREE = 0, SPAN_SMALL, SPAN_LARGE };
enum block_state { BLOCK_FREE = 0, BLOCK_LIVE = 1 };

struct span {
	uintptr_t base;           /* [heap lock] first byte */
	size_t npages;            /* [heap lock] */
	struct span *next, *prev; /* [heap lock] free list, or [central lock] central list */
	uint8_t kind;             /* [heap lock] enum span_kind */
	uint8_t spanclass;        /* class << 1 | noscan; 0/1 for large spans */
	bool needzero;            /* [heap lock] free span: pages may hold old data */
	bool released;            /* [heap lock] free span: pages given back to the OS */
	bool in_partial;          /* [central lock] on its central's partial list */
	size_t elem_size;         /* usable size of each block */
	uint32_t nelems;          /* blocks in the span */
	uint32_t divmul;          /* see class_divmul */
	uint32_t nout;            /* [central lock] blocks not on the span's free list */
	uint32_t bump;            /* [central lock] blocks [bump, nelems) never handed out */
	void *free;               /* [central lock] free blocks, linked through word 0 */
	/* One byte per block, written only by the thread that owns the block at
	 * that moment (the allocating or freeing thread), so no two threads write
	 * the same byte and no read-modify-write is needed.  mgc_base and
	 * mgc_free read it to tell live blocks from free ones. */
	_Atomic uint8_t *state;
	uint64_t *mark; /* [world stopped] one bit per block */
	_Atomic uint8_t state1; /* storage for state/mark of one-block spans */
	uint64_t mark1;
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
	struct chunk_map *c = atomic_load_explicit(&pagemap_l1[a >> CHUNK_SHIFT], memory_order_acquire);
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

void heap_init(void);
/* A span of npages pages set up as `kind` for `spanclass` (side maps, block
 * geometry; a large span's elem_size is the caller's to set).  Its pages are
 * zero unless s->needzero, which the caller clears by zeroing them.  NULL on
 * ENOMEM. */
struct span *heap_alloc_span(size_t npages, enum span_kind kind, unsigned spanclass);
void heap_free_span(struct span *s);
void heap_release_free(void); /* give every free span's pages back to the OS */
struct heap_figures {
	uint64_t inuse_bytes;
	uint64_t released_bytes;
	uint64_t free_bytes;
};
void heap_read_figures(struct heap_figures *out);

/* ---- central.c: per-span-class central lists */
size_t central_take(unsigned spanclass, void **head, size_t want);
void central_give(unsigned spanclass, void *head);
void central_init(void);

/* ---- cache.c: per-thread caches */
struct cache_list {
	void *head;     /* [owner] free blocks linked through word 0; all zero but word 0 */
	uint32_t count; /* [owner] */
	uint32_t limit; /* [owner] flush a batch to central beyond this */
};
struct cache {
	struct cache_list list[MAX_SPANCLASSES];
	/* Counters: written by the owner thread only, read by mgc_read_stats. */
	_Atomic uint64_t nmalloc, nfree, bytes_alloc, bytes_freed, nlookup;
};
extern __thread struct cache *tls_cache __attribute__((tls_model("initial-exec")));
void *cache_refill(struct cache *c, unsigned spanclass);
void cache_overflow(struct cache *c, unsigned spanclass);
void cache_flush_all(struct cache *c);
void cache_init(struct cache *c);

/* ---- alloc.c */
void *alloc_slow(size_t size, bool noscan);

/* ---- thread.c: the registry of threads */
void thread_init(void);
struct cache *thread_attach(void); /* registers the caller; its cache, or NULL on ENOMEM */
struct counters {
	uint64_t nmalloc, nfree, bytes_alloc, bytes_freed, nlookup;
};
void thread_sum_counters(struct counters *out);

#endif
