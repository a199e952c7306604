/* kinds.c — Boehm's object kinds, mark procedures, typed allocation and
 * the collection-start callback, on mgc's kinds (include/mgc.h).
 *
 * Kind numbers are Boehm's: 0 pointer-free, 1 normal, 2 uncollectable,
 * 3 atomic uncollectable, then those GC_new_kind makes.  Each maps to an
 * mgc kind: the first four to mgc's built-in ones, and a new kind to
 *   - mgc's normal kind when its descriptor says "scan the whole object"
 *     (a length descriptor with the size added: GC_new_kind's adjust);
 *   - mgc's noscan kind for a length of 0;
 *   - otherwise a kind of mgc's own (mgc_kind_new) whose trace function
 *     interprets the descriptor for each reached block: a length, a bitmap,
 *     a mark procedure, or a per-object descriptor.
 *
 * Mark procedures.  Boehm calls proc(addr, msp, msl, env), and the
 * procedure pushes what it finds with GC_MARK_AND_PUSH, which calls
 * GC_mark_and_push when the candidate lies between the plausible-address
 * globals.  Here the trace function calls the procedure with a small
 * local stack (clients cannot write entries themselves: gc_mark.h keeps
 * their layout opaque), and GC_mark_and_push reports the candidate to
 * the tracer of the marker running the procedure, kept in a thread-local
 * variable; the stack pointer is returned unchanged.  The plausible
 * addresses are set from mgc_heap_bounds while the world is stopped,
 * before any procedure can run (the collection event callback).
 *
 * GC_get_kind_and_size maps a block's mgc kind back to the first Boehm
 * kind made on it: a kind GC_new_kind maps to mgc's normal kind reads as
 * GC_I_NORMAL, and a typed block as GC_I_NORMAL too.
 *
 * Typed allocation: GC_make_descriptor's descriptor is an mgc layout's
 * address (an mgc_layout is 16-byte aligned, so it never reads as a small
 * length); GC_malloc_explicitly_typed is mgc_alloc_typed.
 *
 * A kind may also have a disclaim procedure (GC_register_disclaim_proc),
 * which becomes its mgc kind's disclaim callback, and a type description
 * function for the debug printing (GC_register_describe_type_fn,
 * compat_describe_type).  disclaim.c and gcj.c make their kinds here
 * (compat_new_kind).  The collection events this file installs also run
 * the toggle-ref passes (toggle.c), and its roots callback is marking.c's.
 *
 * Locking: the kind table is written under compat_lock and read without
 * it (entries are published by the release store of nkinds; a kind's mgc
 * kind, disclaim and describe functions are atomic, as they may change
 * later).  The event callback, the trace functions and GC_mark_and_push
 * take no lock: they run inside a collection.
 */
#include "compat.h"

#include <gc_inline.h>
#include <gc_mark.h>
#include <gc_typed.h>

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *GC_least_plausible_heap_addr;
void *GC_greatest_plausible_heap_addr;

/* FREE_LISTS: the length of a Boehm free-list array (a list per granule). */
enum { MAX_KINDS = 24, FIRST_NEW_KIND = 4, LOCAL_STACK = 64, FREE_LISTS = 129 };

struct kind {
	_Atomic int mgc; /* the mgc kind; [compat_lock] to change once published */
	GC_word descr;   /* Boehm's descriptor */
	bool adjust;     /* the object's size is added to a length descriptor */
	_Atomic(GC_disclaim_proc) disclaim;    /* GC_register_disclaim_proc's */
	_Atomic(GC_describe_type_fn) describe; /* GC_register_describe_type_fn's */
};

static struct kind kinds[MAX_KINDS] = {
        {.mgc = MGC_KIND_NOSCAN, .adjust = false},
        {.mgc = MGC_KIND_NORMAL, .adjust = true},
        {.mgc = MGC_KIND_UNCOLLECTABLE, .adjust = true},
        {.mgc = MGC_KIND_UNCOLLECTABLE_NOSCAN, .adjust = false},
};
static _Atomic unsigned nkinds = FIRST_NEW_KIND;

/* Indices below GC_RESERVED_MARK_PROCS are the clients' to fix (gcj's is
 * 0); GC_new_proc hands out the others, as Boehm does. */
static _Atomic(GC_mark_proc) procs[GC_MAX_MARK_PROCS]; /* [compat_lock] to write */
static _Atomic unsigned nprocs = GC_RESERVED_MARK_PROCS;

/* The tracer of the marker running a mark procedure on this thread. */
static __thread mgc_tracer *current;

/* ---- descriptors ---------------------------------------------------------- */

static void push_descr(mgc_tracer *t, GC_word *addr, GC_word descr, size_t size);

static void
push_bitmap(mgc_tracer *t, GC_word *addr, GC_word descr)
{
	/* The most significant bit is word 0. */
	GC_word bits = descr & ~(GC_word)GC_DS_TAGS;
	for (size_t i = 0; bits != 0; i++, bits <<= 1)
		if (bits & ((GC_word)1 << (8 * sizeof(GC_word) - 1)))
			mgc_trace_ptr(t, (void *)addr[i]);
}

static void
call_proc(mgc_tracer *t, GC_word *addr, GC_word descr)
{
	GC_word index = (descr >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1);
	GC_word env = descr >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS);
	struct GC_ms_entry stack[LOCAL_STACK];
	GC_mark_proc proc = atomic_load_explicit(&procs[index], memory_order_acquire);
	if (proc == NULL)
		return;
	mgc_tracer *saved = compat_set_tracer(t);
	proc(addr, stack, stack + LOCAL_STACK - 1, env);
	compat_set_tracer(saved);
}

/* Boehm's per-object descriptor: at a byte offset in the object, or, when
 * the offset is negative, at an offset from the address in word 0. */
static void
push_per_object(mgc_tracer *t, GC_word *addr, GC_word descr, size_t size)
{
	GC_signed_word off = (GC_signed_word)(descr & ~(GC_word)GC_DS_TAGS);
	GC_word real;
	if (off >= 0) {
		real = *(GC_word *)((char *)addr + off);
	} else {
		char *type = (char *)addr[0];
		if (type == NULL)
			return;
		real = *(GC_word *)(type - off - GC_INDIR_PER_OBJ_BIAS);
	}
	if ((real & GC_DS_TAGS) != GC_DS_PER_OBJECT)
		push_descr(t, addr, real, size);
}

static void
push_descr(mgc_tracer *t, GC_word *addr, GC_word descr, size_t size)
{
	switch (descr & GC_DS_TAGS) {
	case GC_DS_LENGTH:
		mgc_trace_range(t, addr, (char *)addr + (descr < size ? descr : size));
		break;
	case GC_DS_BITMAP:
		push_bitmap(t, addr, descr);
		break;
	case GC_DS_PROC:
		call_proc(t, addr, descr);
		break;
	default:
		push_per_object(t, addr, descr, size);
		break;
	}
}

/* The trace function of every kind made by GC_new_kind. */
static void
trace_kind(void *block, size_t size, mgc_tracer *t, void *arg)
{
	const struct kind *k = arg;
	GC_word descr = k->descr;
	if (k->adjust && (descr & GC_DS_TAGS) == GC_DS_LENGTH)
		descr += size;
	push_descr(t, block, descr, size);
}

struct GC_ms_entry *GC_CALL
GC_mark_and_push(void *obj, struct GC_ms_entry *msp, struct GC_ms_entry *msl, void **src)
{
	(void)msl;
	(void)src;
	if (current != NULL)
		mgc_trace_ptr(current, obj);
	return msp;
}

mgc_tracer *
compat_tracer(void)
{
	return current;
}

mgc_tracer *
compat_set_tracer(mgc_tracer *t)
{
	mgc_tracer *old = current;
	current = t;
	return old;
}

/* ---- kinds and procedures -------------------------------------------------- */

void **GC_CALL
GC_new_free_list_inner(void)
{
	/* Boehm's free lists are its own; mgc keeps its lists per thread, so
	 * this only gives the caller a valid array to pass to GC_new_kind. */
	void **fl = calloc(FREE_LISTS, sizeof *fl);
	if (fl == NULL)
		compat_abort("mgc: GC_new_free_list: out of memory");
	return fl;
}

void **GC_CALL
GC_new_free_list(void)
{
	return GC_new_free_list_inner();
}

unsigned GC_CALL
GC_new_proc_inner(GC_mark_proc proc)
{
	unsigned n = atomic_load_explicit(&nprocs, memory_order_relaxed);
	if (n == GC_MAX_MARK_PROCS)
		compat_abort("mgc: GC_new_proc: more than %d mark procedures", GC_MAX_MARK_PROCS);
	atomic_store_explicit(&procs[n], proc, memory_order_release);
	atomic_store_explicit(&nprocs, n + 1, memory_order_relaxed);
	return n;
}

void
compat_set_proc(unsigned index, GC_mark_proc proc)
{
	atomic_store_explicit(&procs[index % GC_MAX_MARK_PROCS], proc, memory_order_release);
}

unsigned GC_CALL
GC_new_proc(GC_mark_proc proc)
{
	compat_kinds_init();
	compat_lock_acquire();
	unsigned n = GC_new_proc_inner(proc);
	compat_lock_release();
	return n;
}

/* The mgc kind for Boehm's (descr, adjust). */
static int
mgc_kind_for(struct kind *k)
{
	if ((k->descr & GC_DS_TAGS) == GC_DS_LENGTH && k->adjust && k->descr == 0)
		return MGC_KIND_NORMAL;
	if (k->descr == 0 && !k->adjust)
		return MGC_KIND_NOSCAN;
	return mgc_kind_new(trace_kind, k, 0);
}

static _Noreturn void
kind_failed(const char *call)
{
	compat_abort("mgc: %s: %s", call, strerror(errno));
}

/* A new kind traced by trace (NULL: from its descriptor).  The caller
 * holds compat_lock or, for GC_new_kind_inner, Boehm's allocator lock. */
static unsigned
new_kind(GC_word descr, bool adjust, mgc_trace_fn trace)
{
	unsigned n = atomic_load_explicit(&nkinds, memory_order_relaxed);
	if (n == MAX_KINDS)
		compat_abort("mgc: GC_new_kind: more than %d kinds", MAX_KINDS);
	kinds[n] = (struct kind){.descr = descr, .adjust = adjust};
	int mk = trace != NULL ? mgc_kind_new(trace, &kinds[n], 0) : mgc_kind_for(&kinds[n]);
	if (mk < 0)
		kind_failed("GC_new_kind");
	atomic_store_explicit(&kinds[n].mgc, mk, memory_order_relaxed);
	atomic_store_explicit(&nkinds, n + 1, memory_order_release);
	return n;
}

unsigned GC_CALL
GC_new_kind_inner(void **free_list, GC_word descr, int adjust, int clear)
{
	(void)free_list;
	(void)clear; /* mgc clears every block */
	return new_kind(descr, adjust != 0, NULL);
}

unsigned
compat_new_kind(GC_word descr, bool adjust, mgc_trace_fn trace)
{
	compat_kinds_init();
	compat_lock_acquire();
	unsigned n = new_kind(descr, adjust, trace);
	compat_lock_release();
	return n;
}

unsigned GC_CALL
GC_new_kind(void **free_list, GC_word descr, int adjust, int clear)
{
	compat_kinds_init();
	compat_lock_acquire();
	unsigned n = GC_new_kind_inner(free_list, descr, adjust, clear);
	compat_lock_release();
	return n;
}

/* Boehm kind k's mgc kind, or -1 for an unknown one. */
static int
mgc_kind_of(int k)
{
	if (k < 0 || (unsigned)k >= atomic_load_explicit(&nkinds, memory_order_acquire))
		return -1;
	return atomic_load_explicit(&kinds[k].mgc, memory_order_relaxed);
}

int
compat_kind_mgc(int k)
{
	return mgc_kind_of(k);
}

/* ---- disclaim procedures and type descriptions ---------------------------
 * A disclaim procedure or a description function belongs to one Boehm
 * kind, so a new kind that shares mgc's normal or pointer-free kind gets a
 * kind of its own first (tracing as its descriptor says); its blocks
 * allocated before that keep the shared kind.  Boehm's built-in kinds are
 * mgc's own: a procedure for GC_I_NORMAL sees every normal block. */

static int
disclaim_trampoline(void *block, void *arg)
{
	struct kind *k = arg;
	GC_disclaim_proc proc = atomic_load_explicit(&k->disclaim, memory_order_acquire);
	return proc != NULL ? proc(block) : 0;
}

/* Kind k's own mgc kind, made if it shares one; compat_lock held. */
static int
own_kind_locked(int k)
{
	assert(compat_lock_held());
	int mk = mgc_kind_of(k);
	if (k < FIRST_NEW_KIND || (mk != MGC_KIND_NORMAL && mk != MGC_KIND_NOSCAN))
		return mk;
	mk = mgc_kind_new(trace_kind, &kinds[k], 0);
	if (mk < 0)
		kind_failed("GC_register_disclaim_proc");
	atomic_store_explicit(&kinds[k].mgc, mk, memory_order_relaxed);
	return mk;
}

void GC_CALL
GC_register_disclaim_proc(int k, GC_disclaim_proc proc, int mark_unconditionally)
{
	if (GC_find_leak)
		return; /* as Boehm: nothing is reclaimed in leak-finding mode */
	compat_kinds_init();
	compat_lock_acquire();
	int mk = own_kind_locked(k);
	if (mk < 0)
		compat_abort("mgc: GC_register_disclaim_proc: no kind %d", k);
	atomic_store_explicit(&kinds[k].disclaim, proc, memory_order_release);
	unsigned flags = mark_unconditionally ? MGC_DISCLAIM_TRACE_ALL : 0;
	if (mgc_kind_set_disclaim(mk, disclaim_trampoline, &kinds[k], flags) != 0)
		kind_failed("GC_register_disclaim_proc");
	compat_lock_release();
}

/* As for a disclaim procedure, a new kind sharing an mgc kind gets its
 * own, so that its objects can be told from the others'. */
void GC_CALL
GC_register_describe_type_fn(int k, GC_describe_type_fn fn)
{
	compat_kinds_init();
	compat_lock_acquire();
	if (own_kind_locked(k) >= 0)
		atomic_store_explicit(&kinds[k].describe, fn, memory_order_release);
	compat_lock_release();
}

const char *
compat_describe_type(int k, void *p, char buf[GC_TYPE_DESCR_LEN + 1])
{
	if (k < 0 || k >= MAX_KINDS)
		return NULL;
	GC_describe_type_fn fn = atomic_load_explicit(&kinds[k].describe, memory_order_acquire);
	if (fn == NULL)
		return NULL;
	buf[0] = buf[GC_TYPE_DESCR_LEN] = '\0';
	fn(p, buf);
	return buf;
}

/* The first Boehm kind made on mk: GC_I_NORMAL for mgc's normal kind,
 * though a new kind may share it. */
int
compat_boehm_kind(int mk)
{
	unsigned n = atomic_load_explicit(&nkinds, memory_order_acquire);
	for (unsigned k = 0; k < n; k++)
		if (atomic_load_explicit(&kinds[k].mgc, memory_order_relaxed) == mk)
			return (int)k;
	return -1;
}

void *GC_CALL
GC_generic_malloc(size_t size, int k)
{
	int mk = mgc_kind_of(k);
	if (mk < 0)
		compat_abort("mgc: GC_generic_malloc: no kind %d", k);
	return compat_checked(mgc_alloc_kind(compat_granule(size), mk), size);
}

void *GC_CALL
GC_generic_malloc_ignore_off_page(size_t size, int k)
{
	return GC_generic_malloc(size, k);
}

void *GC_CALL
GC_generic_malloc_uncollectable(size_t size, int k)
{
	int mk = mgc_kind_of(k);
	bool noscan = mk == MGC_KIND_NOSCAN || mk == MGC_KIND_UNCOLLECTABLE_NOSCAN;
	return compat_checked(
	        mgc_alloc_kind(compat_granule(size),
	                       noscan ? MGC_KIND_UNCOLLECTABLE_NOSCAN : MGC_KIND_UNCOLLECTABLE),
	        size);
}

void *GC_CALL
GC_generic_or_special_malloc(size_t size, int k)
{
	return GC_generic_malloc(size, k);
}

/* About a page's worth of blocks, as Boehm hands out a block's worth. */
static size_t
batch_for(size_t size)
{
	size_t n = 4096 / (size ? size : 1);
	return n < 1 ? 1 : n;
}

void GC_CALL
GC_generic_malloc_many(size_t size, int k, void **result)
{
	int mk = mgc_kind_of(k);
	if (mk < 0)
		compat_abort("mgc: GC_generic_malloc_many: no kind %d", k);
	size = compat_granule(size);
	void *list = mgc_alloc_many(size, mk, batch_for(size));
	*result = list != NULL ? list : compat_checked(NULL, size);
}

void *GC_CALL
GC_malloc_many(size_t size)
{
	void *list;
	GC_generic_malloc_many(size, GC_I_NORMAL, &list);
	return list;
}

/* ---- typed allocation ------------------------------------------------------ */

/* What GC_make_descriptor returns (its address): the layout, and the bitmap
 * it came from, kept to widen it for arrays.  malloc'ed, never freed, as
 * Boehm's descriptors live as long as the program. */
struct descr {
	const mgc_layout *layout;
	size_t len;
	struct wide *wide; /* [compat_lock] the layouts widened from this one */
	uint64_t bits[];
};
struct wide {
	size_t words;
	const mgc_layout *layout;
	struct wide *next;
};

GC_descr GC_CALL
GC_make_descriptor(const GC_word *bm, size_t len)
{
	enum { WORD_BITS = 8 * sizeof(GC_word) };
	size_t n = len ? len : 1;
	struct descr *d = calloc(1, sizeof *d + (n + 63) / 64 * sizeof(uint64_t));
	if (d == NULL)
		return 0; /* scanned conservatively, as Boehm's fallback */
	for (size_t i = 0; i < len; i++)
		if (bm[i / WORD_BITS] >> (i % WORD_BITS) & 1)
			d->bits[i / 64] |= (uint64_t)1 << (i % 64);
	d->len = n;
	d->layout = mgc_layout_new(d->bits, n);
	if (d->layout == NULL) {
		free(d);
		return 0;
	}
	return (GC_descr)(uintptr_t)d;
}

void *GC_CALL
GC_malloc_explicitly_typed(size_t size, GC_descr d)
{
	if (d == 0)
		return GC_malloc(size);
	const struct descr *dd = (const struct descr *)(uintptr_t)d;
	return compat_checked(mgc_alloc_typed(size, dd->layout), size);
}

void *GC_CALL
GC_malloc_explicitly_typed_ignore_off_page(size_t size, GC_descr d)
{
	return GC_malloc_explicitly_typed(size, d);
}

/* d's layout widened to `words` words (the rest not pointers); under
 * compat_lock. */
static const mgc_layout *
widened_locked(struct descr *d, size_t words)
{
	assert(compat_lock_held());
	struct wide *w = d->wide;
	while (w != NULL && w->words != words)
		w = w->next;
	if (w != NULL)
		return w->layout;
	uint64_t *bits = calloc((words + 63) / 64, sizeof *bits);
	w = malloc(sizeof *w);
	if (bits == NULL || w == NULL) {
		free(bits);
		free(w);
		return NULL;
	}
	for (size_t i = 0; i < words && i < d->len; i++)
		bits[i / 64] |= d->bits[i / 64] & (uint64_t)1 << (i % 64);
	*w = (struct wide){words, mgc_layout_new(bits, words), d->wide};
	free(bits);
	if (w->layout == NULL) {
		free(w);
		return NULL;
	}
	d->wide = w;
	return w->layout;
}

/* n elements of elem bytes, each scanned through d (which may cover fewer
 * words than an element). */
void *GC_CALL
GC_calloc_explicitly_typed(size_t n, size_t elem, GC_descr d)
{
	if (n != 0 && elem > SIZE_MAX / n)
		return compat_checked(NULL, SIZE_MAX);
	if (d == 0 || elem == 0 || elem % sizeof(GC_word) != 0)
		return GC_malloc(n * elem);
	compat_lock_acquire();
	const mgc_layout *l = widened_locked((struct descr *)(uintptr_t)d, elem / sizeof(GC_word));
	compat_lock_release();
	if (l == NULL)
		return compat_checked(NULL, n * elem);
	return compat_checked(mgc_alloc_typed_array(n, l), n * elem);
}

/* ---- the collection event: start callback, plausible addresses ------------- */

static _Atomic(GC_start_callback_proc) start_callback;

static void
on_event(int event, void *arg)
{
	(void)arg;
	if (event == MGC_EVENT_START) {
		GC_start_callback_proc fn = atomic_load(&start_callback);
		if (fn != NULL)
			fn();
		compat_toggle_start();
	} else if (event == MGC_EVENT_RESUME) {
		compat_toggle_resume();
	} else if (event == MGC_EVENT_STOP) {
		void *lo, *hi;
		mgc_heap_bounds(&lo, &hi);
		/* Just outside the heap, as Boehm's are: the variables lie in
		 * scanned data, and bounds pointing into the first and last
		 * blocks would keep those alive (leak mode missed the first). */
		GC_least_plausible_heap_addr = lo != NULL ? (char *)lo - sizeof(void *) : NULL;
		GC_greatest_plausible_heap_addr = hi;
	} else if (event == MGC_EVENT_END) {
		compat_note_collection();
	}
	compat_boehm_events(event);
}

static void
install(void)
{
	mgc_set_event_callback(on_event, NULL);
	mgc_set_roots_callback(compat_push_roots, NULL);
}

void
compat_kinds_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install);
}

void GC_CALL
GC_set_start_callback(GC_start_callback_proc fn)
{
	compat_kinds_init();
	atomic_store(&start_callback, fn);
}

GC_start_callback_proc GC_CALL
GC_get_start_callback(void)
{
	return atomic_load(&start_callback);
}

/* ---- queries ---------------------------------------------------------------- */

static void GC_CALLBACK
default_is_visible_print(void *p)
{
	compat_abort("mgc: GC_is_visible: %p is not a GC visible pointer location", p);
}

void(GC_CALLBACK *GC_is_visible_print_proc)(void *) = default_is_visible_print;

/* Visible: in a root the collector scans, or inside a live heap block (a
 * pointer-free one too: Boehm's check, without kind information, may
 * likewise succeed in hard cases). */
void *GC_CALL
GC_is_visible(void *p)
{
	if (!mgc_is_root(p) && mgc_base(p, NULL) == NULL)
		GC_is_visible_print_proc(p);
	return p;
}

/* Boehm's kind of the block starting at p (a normal one for a typed block:
 * Boehm's typed kinds are its own) and its size. */
int GC_CALL
GC_get_kind_and_size(const void *p, size_t *psize)
{
	int k = compat_boehm_kind(mgc_block_kind(p));
	if (k < 0)
		k = GC_I_NORMAL; /* a typed block */
	if (psize != NULL)
		*psize = GC_size(p);
	return k;
}

void GC_CALL
GC_dump(void)
{
	mgc_stats s;
	mgc_read_stats(&s);
	printf("***Static roots and heap (mgc):\n"
	       "heap: %llu bytes obtained from the OS, %llu in use by blocks, %llu released\n"
	       "collections: %llu, blocks allocated: %llu, freed: %llu\n",
	       (unsigned long long)s.sys, (unsigned long long)s.alloc,
	       (unsigned long long)s.heap_released, (unsigned long long)s.num_gc,
	       (unsigned long long)s.mallocs, (unsigned long long)s.frees);
}
