/* debug.c — debug allocation, the guard-word check and leak finding.
 *
 * A debug block (mgc_debug_alloc) is an ordinary block of one of the four
 * built-in kinds, or of a kind of mgc_kind_new (whose trace function is
 * given the whole block and knows where the user bytes lie), laid out as
 *     [file][line][size][start guard] user bytes [end guard: 8 bytes]
 * The program gets the address of the user bytes, DEBUG_HDR past the
 * block's start, so they keep the 16-byte alignment of every block; that
 * offset is registered as a displacement, so the block stays reachable
 * through it when interior pointers are off.  The start guard is
 * START_MAGIC xor the block's address: a word no ordinary block holds
 * there by chance, it is what identifies a debug block, and it is stored
 * last, with release order, so a block is never taken for a debug block
 * before its header is whole.  The end guard is 8 bytes right after the
 * user bytes (unaligned), so an overrun of even one byte changes it.
 *
 * What a collection does, with the world stopped, after the finalization
 * passes (debug_stopped, from gc.c), and only once a debug block exists
 * or leak mode is on:
 *   - every allocated debug block's end guard is checked; a smashed one is
 *     recorded, and its guard rewritten so it is reported once;
 *   - in leak mode, every allocated block the mark did not reach (a leak:
 *     the program lost it without freeing it) is recorded, marked, and
 *     remembered as a special record (finalize.c, special_add_leaked), whose
 *     blocks every later mark treats as roots: a leak is reported once and
 *     never reclaimed, as a leak checker for a malloc/free program must
 *     (the block may still be reached through a pointer mgc cannot see),
 *     until the program frees it, which drops the record.
 * The records go to a list that the collecting thread hands to the report
 * callback (debug_deliver) once the world runs again and it holds no mgc
 * lock, so the callback may print, allocate, even collect.
 *
 * Locking: the pending list is built with the world stopped and taken by
 * one atomic exchange, so no lock guards it; the settings are atomics.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEBUG_HDR = MGC_DEBUG_OFFSET, GUARD = 8 };
_Static_assert(DEBUG_HDR == 4 * WORD, "the record is four words");
static const uint64_t START_MAGIC = 0x6d67632d64626721u; /* xor the block's address */
static const uint64_t END_MAGIC = 0xfeedfacecafef00du;

struct debug_hdr {
	const char *file;
	uint64_t line;
	uint64_t size;
	_Atomic uint64_t start;
};

/* One collection's findings: two arrays in one metadata mapping. */
struct findings {
	struct findings *next;
	size_t cap, nleak, nsmash;
	mgc_report *leaks, *smashes;
};

static _Atomic bool used;       /* [atomic] a debug block was made */
static _Atomic bool leak_mode;  /* [atomic] mgc_set_find_leaks */
static _Atomic bool atexit_set; /* [atomic] the exit collection is registered */
static _Atomic(mgc_report_fn) report_fn;
static void *_Atomic report_arg;
static struct findings *_Atomic pending; /* see the locking rule above */
static struct findings *building;        /* [world stopped] this collection's */
static _Atomic uint64_t smashes_found;   /* [atomic] ever */

/* ---- debug blocks -------------------------------------------------------- */

static uint64_t
start_guard(uintptr_t block)
{
	return START_MAGIC ^ (uint64_t)block;
}

static uint64_t
end_guard(uintptr_t block)
{
	return END_MAGIC ^ (uint64_t)block;
}

static bool
end_intact(uintptr_t block, const struct debug_hdr *h)
{
	uint64_t g, want = end_guard(block);
	memcpy(&g, (const char *)block + DEBUG_HDR + h->size, sizeof g);
	return g == want;
}

/* The first byte of block's end guard that differs from what was written. */
static void *
first_smashed(uintptr_t block, const struct debug_hdr *h)
{
	uint64_t want = end_guard(block);
	const unsigned char *g = (const unsigned char *)block + DEBUG_HDR + h->size;
	const unsigned char *w = (const unsigned char *)&want;
	for (int k = 0; k < GUARD; k++)
		if (g[k] != w[k])
			return (void *)(g + k);
	return (void *)g;
}

/* Is the block at `block`, of elem_size bytes, a whole debug block? */
static bool
is_debug(uintptr_t block, size_t elem_size)
{
	if (elem_size < DEBUG_HDR + GUARD)
		return false;
	const struct debug_hdr *h = (const struct debug_hdr *)block;
	if (atomic_load_explicit(&h->start, memory_order_acquire) != start_guard(block))
		return false;
	return h->size <= elem_size - DEBUG_HDR - GUARD;
}

void *
mgc_debug_alloc(size_t size, int kind, const char *file, int line)
{
	if (size > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	if (!atomic_load_explicit(&used, memory_order_relaxed)) {
		mgc_register_displacement(DEBUG_HDR);
		atomic_store(&used, true);
	}
	char *b = mgc_alloc_kind(DEBUG_HDR + size + GUARD, kind); /* EINVAL: no such kind */
	if (b == NULL)
		return NULL;
	struct debug_hdr *h = (struct debug_hdr *)b;
	h->file = file;
	h->line = (uint64_t)(int64_t)line;
	h->size = size;
	uint64_t g = end_guard((uintptr_t)b);
	memcpy(b + DEBUG_HDR + size, &g, sizeof g);
	atomic_store_explicit(&h->start, start_guard((uintptr_t)b), memory_order_release);
	return b + DEBUG_HDR;
}

uintptr_t
debug_block_of(const void *p)
{
	if (!atomic_load_explicit(&used, memory_order_relaxed) || (uintptr_t)p < DEBUG_HDR ||
	    thread_attach() == NULL)
		return 0;
	size_t size;
	uintptr_t b = alloc_block_base((uintptr_t)p, &size);
	if (b == 0 || (uintptr_t)p != b + DEBUG_HDR || !is_debug(b, size))
		return 0;
	return b;
}

/* One finding about debug block b (or plain block b of elem_size bytes),
 * as the program sees it. */
static mgc_report
finding(int what, uintptr_t b, size_t elem_size, unsigned sc)
{
	mgc_report r = {.what = what, .kind = kind_of_sc(sc), .p = (void *)b, .size = elem_size};
	if (is_debug(b, elem_size)) {
		const struct debug_hdr *h = (const struct debug_hdr *)b;
		r.p = (void *)(b + DEBUG_HDR);
		r.size = h->size;
		r.file = h->file;
		r.line = (int)(int64_t)h->line;
	}
	return r;
}

static void
print_one(const mgc_report *r)
{
	char site[256];
	if (r->file != NULL)
		snprintf(site, sizeof site, "%s:%d", r->file, r->line);
	else
		snprintf(site, sizeof site,
		         "an unknown site (build with -DMGC_DEBUG_ALLOC to know)");
	if (r->what == MGC_REPORT_LEAK)
		fprintf(stderr, "mgc: leak: %zu bytes at %p, allocated at %s\n", r->size, r->p,
		        site);
	else
		fprintf(stderr,
		        "mgc: smashed block: %zu bytes at %p, allocated at %s, overwritten at %p\n",
		        r->size, r->p, site, r->smashed);
}

/* A debug block about to be freed by the program: a smashed guard is
 * reported now (the block's memory is reused at once). */
void
debug_check_free(uintptr_t b)
{
	const struct debug_hdr *h = (const struct debug_hdr *)b;
	if (end_intact(b, h))
		return;
	mgc_report r = {.what = MGC_REPORT_SMASH,
	                .kind = MGC_KIND_NORMAL,
	                .p = (void *)(b + DEBUG_HDR),
	                .size = h->size,
	                .file = h->file,
	                .line = (int)(int64_t)h->line,
	                .smashed = first_smashed(b, h)};
	atomic_fetch_add(&smashes_found, 1);
	mgc_report_fn fn = atomic_load(&report_fn);
	if (fn != NULL)
		fn(&r, 1, atomic_load(&report_arg));
	else
		print_one(&r);
}

void *
mgc_debug_realloc(void *p, size_t size, const char *file, int line)
{
	if (p == NULL)
		return mgc_debug_alloc(size, MGC_KIND_NORMAL, file, line);
	uintptr_t b = debug_block_of(p);
	size_t old;
	int kind = MGC_KIND_NORMAL;
	if (b != 0) {
		old = ((const struct debug_hdr *)b)->size;
		kind = kind_of_sc(pagemap_lookup(b)->spanclass);
	} else if (mgc_base(p, &old) != p) {
		return mgc_realloc(p, size); /* its own message and abort */
	} else {
		kind = kind_of_sc(pagemap_lookup((uintptr_t)p)->spanclass);
	}
	if (kind < 0 || kind > MGC_KIND_UNCOLLECTABLE_NOSCAN)
		kind = MGC_KIND_NORMAL;
	void *q = mgc_debug_alloc(size, kind, file, line);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	mgc_free(p);
	return q;
}

uintptr_t
debug_realloc_site(uintptr_t b, size_t size)
{
	const struct debug_hdr *h = (const struct debug_hdr *)b;
	return (uintptr_t)mgc_debug_realloc((void *)(b + DEBUG_HDR), size, h->file,
	                                    (int)(int64_t)h->line);
}

/* ---- the collector's part (world stopped) -------------------------------- */

static bool
grow_findings(void)
{
	struct findings *f = building;
	size_t cap = f ? f->cap * 2 : 256;
	size_t bytes = sizeof *f + 2 * cap * sizeof(mgc_report);
	struct findings *n = os_alloc_meta(bytes);
	if (n == NULL)
		return false;
	n->cap = cap;
	n->leaks = (mgc_report *)(n + 1);
	n->smashes = n->leaks + cap;
	if (f != NULL) {
		n->nleak = f->nleak;
		n->nsmash = f->nsmash;
		memcpy(n->leaks, f->leaks, f->nleak * sizeof(mgc_report));
		memcpy(n->smashes, f->smashes, f->nsmash * sizeof(mgc_report));
		os_free_meta(f, sizeof *f + 2 * f->cap * sizeof(mgc_report));
	}
	building = n;
	return true;
}

static void
record(const mgc_report *r)
{
	struct findings *f = building;
	size_t n = r->what == MGC_REPORT_LEAK ? (f ? f->nleak : 0) : (f ? f->nsmash : 0);
	if ((f == NULL || n == f->cap) && !grow_findings())
		return; /* out of metadata memory: found again next time */
	f = building;
	if (r->what == MGC_REPORT_LEAK)
		f->leaks[f->nleak++] = *r;
	else
		f->smashes[f->nsmash++] = *r;
}

/* Block i of s: check its guard, and, unmarked in leak mode, record it. */
static void
look_at(const struct span *s, uint32_t i, bool leaks)
{
	uintptr_t b = s->base + (uintptr_t)i * s->elem_size;
	if (is_debug(b, s->elem_size)) {
		struct debug_hdr *h = (struct debug_hdr *)b;
		if (!end_intact(b, h)) {
			mgc_report r = finding(MGC_REPORT_SMASH, b, s->elem_size, s->spanclass);
			r.smashed = first_smashed(b, h);
			record(&r);
			uint64_t g = end_guard(b);
			memcpy((char *)b + DEBUG_HDR + h->size, &g, sizeof g);
		}
	}
	if (leaks && !(s->mark[i >> 6] >> (i & 63) & 1)) {
		mgc_report r = finding(MGC_REPORT_LEAK, b, s->elem_size, s->spanclass);
		record(&r);
	}
}

void
debug_stopped(const struct sweep_item *items, size_t n)
{
	MGC_ASSERT(world_stopped_here());
	bool leaks = atomic_load(&leak_mode);
	if (!leaks && !atomic_load(&used))
		return;
	building = NULL;
	for (size_t k = 0; k < n; k++) {
		const struct span *s = items[k].span;
		if (s->kind == SPAN_FREE)
			continue;
		uint32_t end = s->kind == SPAN_SMALL ? s->bump : 1;
		for (uint32_t i = 0; i < end; i++)
			if (atomic_load_explicit(&s->state[i], memory_order_relaxed) == BLOCK_LIVE)
				look_at(s, i, leaks);
	}
	struct findings *f = building;
	if (f == NULL)
		return;
	/* Leaks are kept: marked now, roots from now on.  Marking waits until
	 * all are recorded, or a leak reached only from another would be
	 * marked before it was seen, and missed. */
	for (size_t j = 0; j < f->nleak; j++) {
		uintptr_t b = alloc_block_allocated((uintptr_t)f->leaks[j].p);
		mark_word(b);
		special_add_leaked(b);
	}
	mark_drain();
	atomic_fetch_add(&smashes_found, f->nsmash);
	/* Append to what is not delivered yet; a deliverer takes the whole
	 * list with one exchange, so it never sees one half built. */
	f->next = atomic_load(&pending);
	atomic_store(&pending, f);
}

static void
deliver_one(const mgc_report *r, size_t n, mgc_report_fn fn, void *arg)
{
	if (n == 0)
		return;
	if (fn != NULL) {
		fn(r, n, arg);
		return;
	}
	for (size_t i = 0; i < n; i++)
		print_one(&r[i]);
}

void
debug_deliver(void)
{
	if (atomic_load_explicit(&pending, memory_order_relaxed) == NULL)
		return;
	struct findings *f = atomic_exchange(&pending, NULL), *rev = NULL;
	while (f != NULL) { /* oldest collection first */
		struct findings *next = f->next;
		f->next = rev;
		rev = f;
		f = next;
	}
	mgc_report_fn fn = atomic_load(&report_fn);
	void *arg = atomic_load(&report_arg);
	while (rev != NULL) {
		struct findings *next = rev->next;
		deliver_one(rev->smashes, rev->nsmash, fn, arg);
		deliver_one(rev->leaks, rev->nleak, fn, arg);
		os_free_meta(rev, sizeof *rev + 2 * rev->cap * sizeof(mgc_report));
		rev = next;
	}
}

/* ---- settings ------------------------------------------------------------ */

static void
collect_at_exit(void)
{
	if (atomic_load(&leak_mode))
		mgc_collect();
}

/* Leak mode on or off; the previous setting. */
static bool
set_leak_mode(bool on)
{
	if (on && !atomic_exchange(&atexit_set, true))
		atexit(collect_at_exit);
	return atomic_exchange(&leak_mode, on);
}

int
mgc_set_find_leaks(int on)
{
	mgc_init();
	return set_leak_mode(on != 0);
}

void
mgc_set_report_callback(mgc_report_fn fn, void *arg)
{
	atomic_store(&report_arg, arg);
	atomic_store(&report_fn, fn);
}

size_t
mgc_check_heap(void)
{
	uint64_t before = atomic_load(&smashes_found);
	mgc_collect();
	return (size_t)(atomic_load(&smashes_found) - before);
}

void
debug_init(void)
{
	const char *v = getenv("MGC_FIND_LEAKS");
	if (v != NULL && *v != '\0' && strcmp(v, "0") != 0)
		set_leak_mode(true);
}
