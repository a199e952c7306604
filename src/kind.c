/* kind.c — object kinds: uncollectable blocks, typed blocks, kinds with a
 * trace function, batch allocation by kind.
 *
 * A kind is a slot (internal.h, span classes) and a noscan bit.  Slot 0
 * holds the plain kinds (mgc_alloc's and mgc_alloc_noscan's), whose lists
 * and centrals exist from the start; each other slot's are made on first
 * use (central_slot_ready, cache_slot_ready), so a program that never asks
 * for a kind pays nothing for it.  What a slot means to the collector:
 *   SLOT_UNCOLLECTABLE  every allocated block is a root: mark.c marks them
 *                       all at the start of each mark (mark_uncollectable),
 *                       so no sweep frees one; mgc_free does.
 *   SLOT_TYPED          the block's last word names its layout (the
 *                       trailer, kind_layout); only the words the layout
 *                       marks are candidates.
 *   SLOT_FIRST_CUSTOM.. a trace function and its argument (mgc_kind_new),
 *                       called for each reached block.
 * Any kind may also have a disclaim callback (mgc_kind_set_disclaim),
 * kept per slot and noscan bit: the sweep asks it before it reclaims a
 * block (sweep.c, the disclaim hook), and with MGC_DISCLAIM_TRACE_ALL the
 * mark traces every allocated block of the kind (mark_trace_all).
 * Typed and custom spans carry a tag (TAG_TYPED, TAG_KIND), which the mark
 * loop puts in the low bits of a block's range so that the drain sends it
 * to mark.c's typed scan or here (kind_trace) instead of the conservative
 * one.
 *
 * Layouts and disclaim records are metadata: bump-allocated from
 * os_alloc_meta chunks, never freed, never scanned, and outside the heap,
 * so a typed block's trailer is no candidate pointer to any scanner.  A
 * disclaim record is never changed once published: a new callback is a
 * new record, so a sweeper that loaded the old one may still use it.
 *
 * Locking: kind_lock (a leaf, taken holding no other) guards the slot
 * table's writers, the disclaim table's writers and the layout arena.  A
 * custom slot is written once, before its number is returned; the markers
 * read it with the world stopped, after the stop that orders it.  The
 * disclaim table is read without the lock (an acquire load of a record's
 * address) by sweepers and, with the world stopped, by the mark.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

struct custom {
	mgc_trace_fn trace; /* set once, before ncustom counts the slot */
	void *arg;
};

static pthread_mutex_t kind_lock = PTHREAD_MUTEX_INITIALIZER;
static struct custom customs[KIND_SLOTS];
/* Custom slots handed out: [kind_lock] to write, after the slot (release);
 * read without it. */
static _Atomic unsigned ncustom;

enum { FIRST_CUSTOM_KIND = 4, MAX_KIND = FIRST_CUSTOM_KIND + KIND_SLOTS - SLOT_FIRST_CUSTOM };

bool
kind_tagged(unsigned slot)
{
	return slot == SLOT_TYPED || slot >= SLOT_FIRST_CUSTOM;
}

/* The kind_sc of kind number k, or false for no such kind. */
static bool
kind_sc_of(int k, unsigned *kind_sc)
{
	if (k >= 0 && k < FIRST_CUSTOM_KIND) {
		unsigned slot = k < MGC_KIND_UNCOLLECTABLE ? SLOT_PLAIN : SLOT_UNCOLLECTABLE;
		*kind_sc = sc_make(slot, 0, k & 1);
		return true;
	}
	if (k < FIRST_CUSTOM_KIND || k >= MAX_KIND)
		return false;
	unsigned i = (unsigned)k - FIRST_CUSTOM_KIND;
	*kind_sc = sc_make(SLOT_FIRST_CUSTOM + i, 0, false);
	return i < atomic_load_explicit(&ncustom, memory_order_acquire);
}

int
kind_of_sc(unsigned sc)
{
	unsigned slot = sc_slot(sc);
	if (slot == SLOT_TYPED)
		return MGC_KIND_TYPED;
	if (slot >= SLOT_FIRST_CUSTOM)
		return FIRST_CUSTOM_KIND + (int)(slot - SLOT_FIRST_CUSTOM);
	int k = slot == SLOT_UNCOLLECTABLE ? MGC_KIND_UNCOLLECTABLE : MGC_KIND_NORMAL;
	return k | (int)(sc & 1);
}

static void *
einval(void)
{
	errno = EINVAL;
	return NULL;
}

void *
mgc_alloc_kind(size_t size, int kind)
{
	if (kind == MGC_KIND_NORMAL)
		return mgc_alloc(size);
	if (kind == MGC_KIND_NOSCAN)
		return mgc_alloc_noscan(size);
	unsigned kind_sc;
	if (!kind_sc_of(kind, &kind_sc))
		return einval();
	return alloc_of_kind(size, kind_sc);
}

void *
mgc_alloc_many(size_t size, int kind, size_t n)
{
	unsigned kind_sc;
	if (n == 0 || !kind_sc_of(kind, &kind_sc))
		return einval();
	return alloc_many(size, kind_sc, n);
}

int
mgc_kind_new(mgc_trace_fn trace, void *arg, unsigned flags)
{
	if (trace == NULL || flags != 0) {
		errno = EINVAL;
		return -1;
	}
	mgc_init();
	int k = -1;
	lock_plain(&kind_lock);
	unsigned i = atomic_load_explicit(&ncustom, memory_order_relaxed);
	if (SLOT_FIRST_CUSTOM + i < KIND_SLOTS) {
		customs[SLOT_FIRST_CUSTOM + i] = (struct custom){trace, arg};
		atomic_store_explicit(&ncustom, i + 1, memory_order_release);
		k = (int)i + FIRST_CUSTOM_KIND;
	}
	pthread_mutex_unlock(&kind_lock);
	if (k < 0)
		errno = ENOSPC;
	return k;
}

/* fork (gc.c): the forking thread holds kind_lock across fork(), so the
 * child never inherits it held. */
void
kind_fork_prepare(void)
{
	lock_plain(&kind_lock);
}

void
kind_fork_done(void)
{
	pthread_mutex_unlock(&kind_lock);
}

/* Whether any custom kind exists: its trace function is the program's
 * code, written to run with the world stopped, so a concurrent cycle is
 * not for it (gc.c). */
bool
kind_any_custom(void)
{
	return atomic_load_explicit(&ncustom, memory_order_acquire) > 0;
}

/* ---- layouts and typed blocks -------------------------------------------- */

enum { ARENA_CHUNK = 64 << 10 };
static char *arena;       /* [kind_lock] bump region for layouts */
static size_t arena_left; /* [kind_lock] */

static void *
arena_alloc(size_t bytes)
{
	bytes = round_up(bytes, 16);
	if (bytes > ARENA_CHUNK)
		return os_alloc_meta(bytes);
	lock_plain(&kind_lock);
	if (arena_left < bytes) {
		char *chunk = os_alloc_meta(ARENA_CHUNK);
		if (chunk != NULL) {
			arena = chunk;
			arena_left = ARENA_CHUNK;
		}
	}
	void *p = NULL;
	if (arena_left >= bytes) {
		p = arena;
		arena += bytes;
		arena_left -= bytes;
	}
	pthread_mutex_unlock(&kind_lock);
	return p;
}

const mgc_layout *
mgc_layout_new(const uint64_t *bitmap, size_t nwords)
{
	if (nwords == 0 || bitmap == NULL || nwords > MAX_REQUEST / WORD)
		return einval();
	size_t nbits = (nwords + 63) / 64;
	struct mgc_layout *l = arena_alloc(sizeof *l + nbits * sizeof(uint64_t));
	if (l == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	l->nwords = nwords;
	memcpy(l->bits, bitmap, nbits * sizeof(uint64_t));
	if (nwords % 64 != 0) /* bits past nwords stay clear */
		l->bits[nbits - 1] &= ((uint64_t)1 << (nwords % 64)) - 1;
	size_t set = 0;
	for (size_t i = 0; i < nbits; i++)
		set += (size_t)__builtin_popcountll(l->bits[i]);
	l->any = set > 0;
	l->all = set == nwords;
	return l;
}

/* A typed block of size usable bytes; array: the layout repeats.  A layout
 * with no pointer word gives a noscan block; one whose every word may
 * hold a pointer, over a block of exactly its size with no slack, a plain
 * block: the conservative scan then reads the same words, without the
 * trailer. */
static void *
alloc_typed(size_t size, const mgc_layout *l, bool array)
{
	if (unlikely(l == NULL))
		return einval();
	if (unlikely(!l->any))
		return mgc_alloc_noscan(size);
	if (l->all && (array || size == l->nwords * WORD) && size <= MAX_SMALL &&
	    size >= 2 * WORD && class_size[sizeclass_of(size)] == size)
		return mgc_alloc(size);
	if (unlikely(size > MAX_REQUEST)) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_typed_block(round_up(size, WORD) + WORD, (uintptr_t)l | array);
}

void *
mgc_alloc_typed(size_t size, const mgc_layout *layout)
{
	return alloc_typed(size, layout, false);
}

void *
mgc_alloc_typed_array(size_t n, const mgc_layout *layout)
{
	if (layout == NULL)
		return einval();
	size_t elem = layout->nwords * WORD;
	if (n != 0 && elem > MAX_REQUEST / n) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_typed(n * elem, layout, true);
}

int
mgc_block_kind(const void *p)
{
	if (tls_cache == NULL && thread_attach() == NULL)
		return -1;
	uintptr_t base = alloc_block_base((uintptr_t)p, NULL);
	if (base == 0) {
		errno = EINVAL;
		return -1;
	}
	return kind_of_sc(pagemap_lookup(base)->spanclass); /* fixed while the caller holds p */
}

void *
kind_alloc_like(const void *p, unsigned sc, size_t size)
{
	if (sc_slot(sc) != SLOT_TYPED)
		return alloc_of_kind(size, sc & ~(127u << 1));
	size_t whole = pagemap_lookup((uintptr_t)p)->elem_size;
	uintptr_t t = *(const uintptr_t *)((const char *)p + whole - WORD);
	return alloc_typed(size, (const mgc_layout *)(t & ~(uintptr_t)1), t & 1);
}

/* ---- disclaim callbacks ---------------------------------------------------- */

/* [kind_lock] to write; by slot and noscan bit. */
static const struct kind_disclaim *_Atomic disclaims[KIND_SLOTS][2];
/* Kinds whose record has MGC_DISCLAIM_TRACE_ALL.  [kind_lock] to write */
static _Atomic unsigned ntrace_all;

static unsigned
traces_all(const struct kind_disclaim *d)
{
	return d != NULL && (d->flags & MGC_DISCLAIM_TRACE_ALL) ? 1 : 0;
}

int
mgc_kind_set_disclaim(int kind, mgc_disclaim_fn fn, void *arg, unsigned flags)
{
	unsigned kind_sc;
	if ((flags & ~(unsigned)MGC_DISCLAIM_TRACE_ALL) || !kind_sc_of(kind, &kind_sc)) {
		errno = EINVAL;
		return -1;
	}
	mgc_init();
	struct kind_disclaim *d = NULL;
	if (fn != NULL) {
		d = arena_alloc(sizeof *d);
		if (d == NULL) {
			errno = ENOMEM;
			return -1;
		}
		*d = (struct kind_disclaim){fn, arg, flags};
	}
	lock_plain(&kind_lock);
	const struct kind_disclaim *_Atomic *at = &disclaims[sc_slot(kind_sc)][kind_sc & 1];
	unsigned n = atomic_load_explicit(&ntrace_all, memory_order_relaxed);
	n = n - traces_all(atomic_load_explicit(at, memory_order_relaxed)) + traces_all(d);
	atomic_store_explicit(&ntrace_all, n, memory_order_relaxed);
	atomic_store_explicit(at, d, memory_order_release);
	pthread_mutex_unlock(&kind_lock);
	return 0;
}

const struct kind_disclaim *
kind_disclaim_of(unsigned sc)
{
	return atomic_load_explicit(&disclaims[sc_slot(sc)][sc & 1], memory_order_acquire);
}

bool
kind_any_traced_all(void)
{
	return atomic_load_explicit(&ntrace_all, memory_order_relaxed) != 0;
}

bool
kind_traced_all(unsigned sc)
{
	return traces_all(kind_disclaim_of(sc));
}

/* ---- tracing ------------------------------------------------------------- */

static void
trace_typed(uintptr_t base, size_t size, struct mgc_tracer *t)
{
	size_t n;
	const struct mgc_layout *l = kind_layout(base, size, &n);
	const uintptr_t *w = (const uintptr_t *)base;
	for (size_t i = 0, j = 0; i < n; i++) {
		if (l->bits[j >> 6] >> (j & 63) & 1)
			t->word(t, mark_load_word(&w[i]));
		if (++j == l->nwords)
			j = 0;
	}
}

void
kind_trace(const struct span *s, uintptr_t base, struct mgc_tracer *t)
{
	unsigned slot = sc_slot(s->spanclass);
	if (slot == SLOT_TYPED) {
		trace_typed(base, s->elem_size, t);
		return;
	}
	const struct custom *k = &customs[slot];
	k->trace((void *)base, s->elem_size, t, k->arg);
}

void
mgc_trace_ptr(mgc_tracer *t, const void *p)
{
	t->word(t, (uintptr_t)p);
}

void
mgc_trace_range(mgc_tracer *t, const void *lo, const void *hi)
{
	if ((uintptr_t)lo < (uintptr_t)hi)
		t->range(t, (uintptr_t)lo, (uintptr_t)hi);
}
