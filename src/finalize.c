/* finalize.c — finalizers, cleanups and weak references, and the queue
 * that runs finalizers and cleanups.
 *
 * Specials.  Everything attached to a block is a `special` record in one
 * hash table keyed by the block's start: finalizers (at most one a block),
 * cleanups (any number), weak references (one record per handle, keyed by
 * the target, naming the handle) and handle records (keyed by the handle,
 * naming the target, so that freeing a handle finds its weak record).  The
 * table and records live off the heap (os_alloc_meta): the
 * collector never scans them, so keys are not pointers to it (the seed's
 * finalizer table explains why they must not be), and it marks the values
 * that are roots — finalizer and cleanup arguments — explicitly.
 *
 * A weak handle is a noscan block holding the pointer given to
 * mgc_weak_new: noscan, so it keeps nothing alive.
 *
 * The collector's passes (special_after_mark_stopped), with the world stopped,
 * after marking from the roots:
 *   1. weak: a handle whose target is unmarked is cleared now, before any
 *      finalizer can resurrect the target; records of dead handles go;
 *   2. finalizers, in the seed's two steps: every unmarked block with a
 *      finalizer has its contents marked (not itself); then each such block
 *      still unmarked is reached by no other one: it is marked (kept alive
 *      for its finalizer), and its finalizer leaves the table for the queue.
 *      One that is marked now is reached from another finalizable block
 *      (which goes first) or from itself through a cycle (never finalized);
 *   3. cleanups: every cleanup of an unmarked block goes to the queue; the
 *      block is not marked, so this collection reclaims it.
 * Disappearing links (mgc_link_register) are records keyed by the link's
 * address, naming the target: pass 1 writes NULL into the link of each
 * unmarked target (short links), and a last pass after step 2 does it for
 * the targets still unmarked once finalizable blocks were kept (long
 * links), so that no thread ever reads a link to a block the sweep may
 * reuse.  A link inside a heap block that is itself unmarked is dropped
 * without being written.
 * A leak found in leak mode (debug.c) is a record too, keyed by the block:
 * the block is a root, like a finalizer's argument, until it is freed.
 * The queue is a list of job arrays (struct segment): unbounded, and its
 * objects and arguments are roots until run.  The runner thread (started
 * on first use) and mgc_run_finalizers take one job at a time with a
 * fetch-add, so each runs exactly once; they never wait for each other.
 *
 * Locking: special_lock guards the table; it is an allocator lock
 * (internal.h), so the collector reads and changes the table with the world
 * stopped, without it.  The queue takes no lock: jobs are added only with
 * the world stopped and taken inside busy sections (see struct segment).
 * The runner sleeps on its own mutex and condition.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* SP_DEAD: a record the collector's passes removed; dropped in one sweep
 * of the array (compact) when the passes end. */
enum special_kind {
	SP_FINALIZER,
	SP_CLEANUP,
	SP_WEAK,
	SP_HANDLE,
	SP_LINK,
	SP_LONG_LINK,
	SP_LEAKED,
	SP_DEAD
};

enum { NIL = UINT32_MAX };

/* A record of the table.  Records sit in one dense array, so the
 * collector's passes are linear walks rather than chases through a million
 * scattered list nodes; the hash index only serves lookups by block. */
struct special {
	uintptr_t base; /* the block it belongs to */
	uint32_t next;  /* next record in the same bucket, or NIL */
	uint8_t kind;   /* enum special_kind */
	bool unreached; /* [world stopped] finalizer pass: block unmarked after the roots */
	bool in_heap;   /* link: the link lies in a heap block */
	union {
		mgc_finalizer_fn fin;
		mgc_cleanup_fn cleanup;
	} fn;
	/* finalizer/cleanup: a root; weak: the handle; handle: the target;
	 * link (keyed by the link's address): the target block's start */
	void *arg;
};

struct mgc_weak {
	void *_Atomic ptr; /* the pointer given to mgc_weak_new, or NULL */
};

/* A queued finalizer (obj is its block) or cleanup (obj is NULL). */
struct job {
	union {
		mgc_finalizer_fn fin;
		mgc_cleanup_fn cleanup;
	} fn;
	void *obj, *arg; /* roots while queued */
};

/* The queue is a list of segments, each an array of jobs filled at tail
 * and taken at head.  Jobs are added only with the world stopped, so while
 * threads run, tail and next are fixed and taking a job is one fetch-add
 * on head, inside a busy section (internal.h) so that no collection sees
 * a job half taken.  A fetch-add that finds head past tail takes nothing;
 * enqueue pulls head back before adding.  An exhausted segment leaves the
 * list by compare-and-swap on qhead and waits on the retired list until
 * the next collection, when no thread can still be looking at it. */
enum { SEGMENT_JOBS = 1 << 14 };
struct segment {
	struct segment *_Atomic next;
	_Atomic size_t head; /* jobs [head, tail) are queued */
	_Atomic size_t tail;
	struct segment *retired_next;
	struct job jobs[SEGMENT_JOBS];
};

static struct lock special_lock = LOCK_INIT(LOCK_SPECIAL);
static struct special *recs;            /* [special lock] records [0, nrecs) */
static size_t nrecs, reccap;            /* [special lock] */
static size_t ndead;                    /* [world stopped] SP_DEAD records */
static uint32_t *heads;                 /* [special lock] first record of each bucket */
static size_t nbuckets;                 /* [special lock] a power of two, >= reccap */
static _Atomic size_t any;              /* [atomic] nrecs, for the free path */
static struct segment *_Atomic qhead;   /* see struct segment */
static struct segment *qtail;           /* [world stopped] */
static struct segment *_Atomic retired; /* pushed by consumers, emptied with the world stopped */
static struct segment *spare;           /* [world stopped] one segment kept for reuse */
static _Atomic uint64_t queued_total, run_total;

static pthread_mutex_t wake_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static bool runner_started; /* [wake_mutex] */
static _Atomic bool work_waiting;

/* ---- the table --------------------------------------------------------------- */

static size_t
bucket(uintptr_t base)
{
	return (size_t)(((uint64_t)base >> 4) * 0x9e3779b97f4a7c15u >> 32) & (nbuckets - 1);
}

static void
rebuild_index(void)
{
	for (size_t b = 0; b < nbuckets; b++)
		heads[b] = NIL;
	for (size_t i = 0; i < nrecs; i++) {
		size_t b = bucket(recs[i].base);
		recs[i].next = heads[b];
		heads[b] = (uint32_t)i;
	}
}

/* Double the record array and the index (or create them); false on ENOMEM. */
static bool
grow_table(void)
{
	size_t ncap = reccap ? reccap * 2 : 1024;
	if (ncap >= NIL)
		return false;
	struct special *r = os_alloc_meta(ncap * sizeof *r);
	uint32_t *h = r ? os_alloc_meta(ncap * sizeof *h) : NULL;
	if (h == NULL) {
		if (r != NULL)
			os_free_meta(r, ncap * sizeof *r);
		return false;
	}
	if (recs != NULL) {
		memcpy(r, recs, nrecs * sizeof *r);
		os_free_meta(recs, reccap * sizeof *recs);
		os_free_meta(heads, nbuckets * sizeof *heads);
	}
	recs = r;
	heads = h;
	reccap = nbuckets = ncap;
	rebuild_index();
	return true;
}

static struct special *
add_special(uintptr_t base, enum special_kind kind)
{
	if (nrecs == reccap && !grow_table())
		return NULL;
	size_t b = bucket(base);
	struct special *s = &recs[nrecs];
	*s = (struct special){.base = base, .next = heads[b], .kind = (uint8_t)kind};
	heads[b] = (uint32_t)nrecs++;
	atomic_store(&any, nrecs);
	return s;
}

/* The link (a bucket head or a record's next) that holds index i. */
static uint32_t *
link_of(uint32_t i)
{
	uint32_t *l = &heads[bucket(recs[i].base)];
	while (*l != i)
		l = &recs[*l].next;
	return l;
}

/* Remove record i: the last record moves into its slot, so a walk of the
 * array that removes record i must look at slot i again. */
static void
remove_index(uint32_t i)
{
	uint32_t *l = link_of(i);
	*l = recs[i].next;
	uint32_t last = (uint32_t)--nrecs;
	if (i != last) {
		*link_of(last) = i;
		recs[i] = recs[last];
	}
	atomic_store(&any, nrecs);
}

/* Index of the first record of block base of the given kind (any kind if
 * kind < 0), or NIL. */
static uint32_t
find(uintptr_t base, int kind)
{
	if (nrecs == 0)
		return NIL;
	for (uint32_t i = heads[bucket(base)]; i != NIL; i = recs[i].next)
		if (recs[i].base == base && (kind < 0 || recs[i].kind == kind))
			return i;
	return NIL;
}

bool
special_any(void)
{
	return atomic_load_explicit(&any, memory_order_relaxed) != 0;
}

/* ---- the public calls ------------------------------------------------------ */

/* The start of the live block holding p (exactly at p if `start`), or 0. */
static uintptr_t
live_block(const void *p, bool start)
{
	if (p == NULL || thread_attach() == NULL)
		return 0;
	uintptr_t base = alloc_block_base((uintptr_t)p, NULL);
	return start && base != (uintptr_t)p ? 0 : base;
}

static int
fail(int err)
{
	errno = err;
	return -1;
}

int
mgc_set_finalizer(void *obj, mgc_finalizer_fn fn, void *arg)
{
	uintptr_t base = live_block(obj, true);
	if (base == 0)
		return fail(EINVAL);
	int err = 0;
	lock_acquire(&special_lock);
	uint32_t i = find(base, SP_FINALIZER);
	if (fn == NULL) {
		if (i != NIL)
			remove_index(i);
	} else if (i != NIL) {
		err = EEXIST;
	} else {
		struct special *s = add_special(base, SP_FINALIZER);
		if (s == NULL)
			err = ENOMEM;
		else {
			s->fn.fin = fn;
			s->arg = arg;
		}
	}
	lock_release(&special_lock);
	return err ? fail(err) : 0;
}

int
mgc_add_cleanup(void *obj, mgc_cleanup_fn fn, void *arg)
{
	uintptr_t base = live_block(obj, false);
	if (base == 0 || fn == NULL)
		return fail(EINVAL);
	lock_acquire(&special_lock);
	struct special *s = add_special(base, SP_CLEANUP);
	if (s != NULL) {
		s->fn.cleanup = fn;
		s->arg = arg;
	}
	lock_release(&special_lock);
	return s == NULL ? fail(ENOMEM) : 0;
}

mgc_weak *
mgc_weak_new(void *obj)
{
	uintptr_t base = live_block(obj, false);
	if (base == 0) {
		errno = EINVAL;
		return NULL;
	}
	mgc_weak *w = mgc_alloc_noscan(sizeof *w);
	if (w == NULL)
		return NULL;
	atomic_store(&w->ptr, obj);
	lock_acquire(&special_lock);
	/* Both records or neither: the handle's record is added first, so a
	 * failure to add the weak one removes the last record. */
	struct special *hs = add_special((uintptr_t)w, SP_HANDLE);
	if (hs != NULL) {
		hs->arg = (void *)base;
		struct special *ws = add_special(base, SP_WEAK);
		if (ws != NULL)
			ws->arg = w;
		else
			remove_index((uint32_t)(hs - recs));
		hs = ws;
	}
	lock_release(&special_lock);
	if (hs == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

void *
mgc_weak_get(const mgc_weak *w)
{
	/* The caller must be registered before it holds the pointer: an
	 * unregistered thread's stack is no root, and the block would be
	 * freed under it by the next collection. */
	if (w == NULL || (tls_thread == NULL && thread_attach() == NULL))
		return NULL;
	return atomic_load(&((mgc_weak *)w)->ptr);
}

/* ---- disappearing links ------------------------------------------------------ */

static enum special_kind
link_kind(int flags)
{
	return flags & MGC_LINK_LONG ? SP_LONG_LINK : SP_LINK;
}

int
mgc_link_register(void **link, const void *obj, int flags)
{
	uintptr_t target = live_block(obj, false);
	if (link == NULL || target == 0 || (flags & ~MGC_LINK_LONG))
		return fail(EINVAL);
	bool in_heap = alloc_block_base((uintptr_t)link, NULL) != 0;
	int err = 0;
	lock_acquire(&special_lock);
	if (find((uintptr_t)link, link_kind(flags)) != NIL) {
		err = EEXIST;
	} else {
		struct special *s = add_special((uintptr_t)link, link_kind(flags));
		if (s == NULL) {
			err = ENOMEM;
		} else {
			s->arg = (void *)target;
			s->in_heap = in_heap;
		}
	}
	lock_release(&special_lock);
	return err ? fail(err) : 0;
}

int
mgc_link_unregister(void **link, int flags)
{
	if (thread_attach() == NULL)
		return fail(ENOMEM);
	lock_acquire(&special_lock);
	uint32_t i = find((uintptr_t)link, link_kind(flags));
	if (i != NIL)
		remove_index(i);
	lock_release(&special_lock);
	return i == NIL ? fail(ENOENT) : 0;
}

int
mgc_link_move(void **link, void **new_link, int flags)
{
	if (new_link == NULL || thread_attach() == NULL)
		return fail(EINVAL);
	bool in_heap = alloc_block_base((uintptr_t)new_link, NULL) != 0;
	enum special_kind k = link_kind(flags);
	int err = 0;
	lock_acquire(&special_lock);
	uint32_t i = find((uintptr_t)link, k);
	if (i == NIL)
		err = ENOENT;
	else if (new_link != link && find((uintptr_t)new_link, k) != NIL)
		err = EEXIST;
	else if (new_link != link) {
		void *target = recs[i].arg;
		remove_index(i);
		struct special *s = add_special((uintptr_t)new_link, k); /* room: one was freed */
		s->arg = target;
		s->in_heap = in_heap;
	}
	lock_release(&special_lock);
	return err ? fail(err) : 0;
}

/* ---- explicit frees --------------------------------------------------------- */

/* Remove record i now, or (`later`, world stopped) mark it dead for
 * compact. */
static void
discard(uint32_t i, bool later)
{
	if (later) {
		recs[i].kind = SP_DEAD;
		ndead++;
	} else {
		remove_index(i);
	}
}

/* Drop the weak record of target `base` that names handle w. */
static void
drop_weak_record(uintptr_t base, const mgc_weak *w, bool later)
{
	for (uint32_t i = heads[bucket(base)]; i != NIL; i = recs[i].next)
		if (recs[i].base == base && recs[i].kind == SP_WEAK && recs[i].arg == w) {
			discard(i, later);
			return;
		}
}

/* Drop record i of a block going away (freed, or found dead). */
static void
drop_index(uint32_t i, bool later)
{
	struct special s = recs[i];
	discard(i, later);
	if (s.kind == SP_WEAK)
		atomic_store(&((mgc_weak *)s.arg)->ptr, NULL);
	else if (s.kind == SP_HANDLE)
		drop_weak_record((uintptr_t)s.arg, (const mgc_weak *)s.base, later);
}

void
special_drop(uintptr_t base)
{
	lock_acquire(&special_lock);
	for (uint32_t i; (i = find(base, -1)) != NIL;)
		drop_index(i, false);
	lock_release(&special_lock);
}

/* ---- the collector's passes (world stopped) ----------------------------------
 * Each pass walks the record array once.  Records it removes are marked
 * dead and squeezed out in one go at the end (compact), which rebuilds the
 * index: a million removals cost two linear walks, not a million chain
 * searches.  Marking inside a pass does not drain: each pass ends with one
 * mark_drain. */

static void
compact(void)
{
	size_t n = 0;
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].kind != SP_DEAD)
			recs[n++] = recs[i];
	nrecs = n;
	ndead = 0;
	rebuild_index();
	atomic_store(&any, nrecs);
}

void
special_each_root_stopped(void (*fn)(uintptr_t w, void *arg), void *arg)
{
	MGC_ASSERT(world_stopped_here());
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].kind == SP_FINALIZER || recs[i].kind == SP_CLEANUP)
			fn((uintptr_t)recs[i].arg, arg);
		else if (recs[i].kind == SP_LEAKED)
			fn(recs[i].base, arg);
	for (struct segment *g = qhead; g != NULL; g = g->next)
		for (size_t k = g->head; k < g->tail; k++) {
			fn((uintptr_t)g->jobs[k].obj, arg);
			fn((uintptr_t)g->jobs[k].arg, arg);
		}
}

static void
mark_root_word(uintptr_t w, void *arg)
{
	(void)arg;
	mark_word(w);
}

void
special_mark_roots_stopped(void)
{
	MGC_ASSERT(world_stopped_here());
	special_each_root_stopped(mark_root_word, NULL);
	mark_drain();
}

void
special_add_leaked(uintptr_t base)
{
	MGC_ASSERT(world_stopped_here());
	add_special(base, SP_LEAKED); /* without memory, found again next time */
}

/* World stopped: free the retired segments, keeping one for reuse. */
static void
reclaim_retired(void)
{
	struct segment *g = atomic_exchange(&retired, NULL);
	while (g != NULL) {
		struct segment *n = g->retired_next;
		if (spare == NULL)
			spare = g;
		else
			os_free_meta(g, sizeof *g);
		g = n;
	}
}

static struct segment *
new_segment(void)
{
	struct segment *g = spare;
	if (g != NULL)
		spare = NULL;
	else if ((g = os_alloc_meta(sizeof *g)) == NULL)
		fatal("mgc: out of memory queueing a finalizer");
	atomic_store_explicit(&g->next, NULL, memory_order_relaxed);
	atomic_store_explicit(&g->head, 0, memory_order_relaxed);
	atomic_store_explicit(&g->tail, 0, memory_order_relaxed);
	return g;
}

/* A finalizer (fin, its block obj) or a cleanup; world stopped. */
static void
enqueue(mgc_finalizer_fn fin, mgc_cleanup_fn cleanup, void *obj, void *arg)
{
	if (qhead == NULL)
		qtail = NULL;
	if (qtail != NULL && qtail->head > qtail->tail)
		atomic_store_explicit(&qtail->head, qtail->tail, memory_order_relaxed);
	if (qtail == NULL || qtail->tail == SEGMENT_JOBS) {
		struct segment *g = new_segment();
		if (qtail != NULL)
			atomic_store_explicit(&qtail->next, g, memory_order_relaxed);
		else
			atomic_store_explicit(&qhead, g, memory_order_relaxed);
		qtail = g;
	}
	size_t k = atomic_load_explicit(&qtail->tail, memory_order_relaxed);
	struct job *j = &qtail->jobs[k];
	if (fin != NULL)
		j->fn.fin = fin;
	else
		j->fn.cleanup = cleanup;
	j->obj = obj;
	j->arg = arg;
	atomic_store_explicit(&qtail->tail, k + 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&queued_total, 1, memory_order_relaxed);
	atomic_store(&work_waiting, true);
}

/* Is block `base` (a block start when registered) allocated and marked? */
static bool
block_marked(uintptr_t base)
{
	return alloc_block_allocated(base) == base && mark_is_marked(base);
}

/* Link record s: true when it is settled (its holder block died: dropped;
 * its target died: NULL written into the link). */
static bool
link_settle_stopped(struct special *s)
{
	MGC_ASSERT(world_stopped_here());
	if (s->in_heap) {
		uintptr_t holder = alloc_block_allocated(s->base);
		if (holder == 0 || !mark_is_marked(holder))
			return true;
	}
	if (block_marked((uintptr_t)s->arg))
		return false;
	*(void **)s->base = NULL;
	return true;
}

/* The last pass: long links of the blocks still unmarked. */
static void
pass_long_links(void)
{
	for (uint32_t i = 0; i < nrecs; i++)
		if (recs[i].kind == SP_LONG_LINK && link_settle_stopped(&recs[i]))
			discard(i, true);
}

/* Pass 1: weak handles of unreachable blocks are cleared; records of dead
 * handles are dropped.  Finalizable blocks the roots do not reach are
 * noted for pass 2. */
static void
pass_weak(void)
{
	for (uint32_t i = 0; i < nrecs; i++) {
		struct special *s = &recs[i];
		bool gone = false;
		if (s->kind == SP_WEAK)
			gone = !mark_is_marked((uintptr_t)s->arg) || !mark_is_marked(s->base);
		else if (s->kind == SP_HANDLE)
			gone = !mark_is_marked(s->base);
		else if (s->kind == SP_FINALIZER)
			s->unreached = !mark_is_marked(s->base);
		else if (s->kind == SP_LINK)
			gone = link_settle_stopped(s);
		/* A dead handle's weak record goes by its own test above, in
		 * this same walk: searching for it here would cost a walk of
		 * its target's chain per handle, quadratic when many handles
		 * share a target (Guile's weak tables). */
		if (gone && s->kind == SP_HANDLE)
			discard(i, true);
		else if (gone)
			drop_index(i, true);
	}
}

/* Pass 2, step 1: mark what the unreached finalizable blocks reach (not
 * themselves). */
static void
pass_finalizer_reach(void)
{
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].kind == SP_FINALIZER && recs[i].unreached)
			mark_contents(recs[i].base);
	mark_drain();
}

/* Pass 2, step 2: queue the finalizer of each such block that is still
 * unmarked, and keep the block alive for it.  One marked now is reached by
 * another finalizable block, or by itself: held back.  (Marking a queued
 * block changes no later verdict: what it reaches was marked in step 1.) */
static void
pass_finalizer_queue(struct special_result *out)
{
	for (uint32_t i = 0; i < nrecs; i++) {
		struct special *s = &recs[i];
		if (s->kind != SP_FINALIZER || !s->unreached)
			continue;
		if (mark_is_marked(s->base)) {
			out->held_back++;
		} else {
			mark_block(s->base);
			enqueue(s->fn.fin, NULL, (void *)s->base, s->arg);
			out->queued++;
			discard(i, true);
		}
	}
	mark_drain();
}

/* Pass 3: queue the cleanups of unreachable blocks (not resurrected). */
static void
pass_cleanup(struct special_result *out)
{
	for (uint32_t i = 0; i < nrecs; i++) {
		struct special *s = &recs[i];
		if (s->kind == SP_CLEANUP && !mark_is_marked(s->base)) {
			enqueue(NULL, s->fn.cleanup, NULL, s->arg);
			out->queued++;
			discard(i, true);
		}
	}
}

void
special_after_mark_stopped(struct special_result *out)
{
	MGC_ASSERT(world_stopped_here());
	*out = (struct special_result){0};
	reclaim_retired();
	if (nrecs == 0)
		return;
	pass_weak();
	pass_finalizer_reach();
	pass_finalizer_queue(out);
	pass_cleanup(out);
	pass_long_links();
	if (ndead > 0)
		compact();
}

/* ---- running ------------------------------------------------------------------ */

/* Jobs are taken in batches: one claim (a fetch-add on the segment's
 * head) per batch rather than per job, so that the runner and threads in
 * mgc_run_finalizers do not pass the queue's cache lines to and fro
 * between every two short finalizers (with 1,000,000 trivial finalizers,
 * batches cut the time to run them by two thirds).  But a taken job waits
 * for the ones before it in its batch, and no other thread can run it: so
 * batches start at one job and double, up to TAKE_BATCH, only while each
 * batch runs in under FAST_BATCH_NS; a slow one sets them back to one.
 * A finalizer that blocks after a run of fast ones holds back at most
 * TAKE_BATCH - 1 others. */
enum { TAKE_BATCH = 32, FAST_BATCH_NS = 50000 };

/* Take up to want (<= TAKE_BATCH) queued jobs into out[]; returns how many
 * (0 when the queue is empty).  Busy section held (see struct segment), so
 * no collection runs meanwhile and the segments' tails do not move. */
static size_t
take_jobs(struct job *out, size_t want)
{
	for (;;) {
		struct segment *g = atomic_load_explicit(&qhead, memory_order_acquire);
		if (g == NULL)
			return 0;
		size_t tail = atomic_load_explicit(&g->tail, memory_order_relaxed);
		size_t k = atomic_fetch_add_explicit(&g->head, want, memory_order_relaxed);
		if (k < tail) {
			size_t n = tail - k < want ? tail - k : want;
			for (size_t i = 0; i < n; i++) {
				out[i] = g->jobs[k + i];
				g->jobs[k + i] = (struct job){0}; /* no longer a root */
			}
			return n;
		}
		struct segment *next = atomic_load_explicit(&g->next, memory_order_relaxed);
		if (next == NULL)
			return 0;
		if (atomic_compare_exchange_strong(&qhead, &g, next)) {
			g->retired_next = atomic_load_explicit(&retired, memory_order_relaxed);
			while (!atomic_compare_exchange_weak(&retired, &g->retired_next, g))
				;
		}
	}
}

/* Run a batch of up to want queued finalizers and cleanups; returns how
 * many ran (0 if none was queued).  The jobs are taken inside a busy
 * section, so no collection finds them neither in the queue nor in this
 * thread's registers or stack; once taken they are roots in `jobs`, each
 * cleared after it ran.  Not inlined: its frame lies below the caller's,
 * where wipe_traces reaches it. */
static NOINLINE size_t
run_batch(size_t want)
{
	struct cache *c = tls_cache; /* callers are registered threads */
	struct job jobs[TAKE_BATCH];
	busy_enter(c);
	size_t n = take_jobs(jobs, want);
	if (n == 0)
		atomic_store(&work_waiting, false);
	busy_leave(c);
	for (size_t i = 0; i < n; i++) {
		struct job j = jobs[i];
		if (j.obj != NULL)
			j.fn.fin(j.obj, j.arg);
		else
			j.fn.cleanup(j.arg);
		/* volatile: the store must stay, though jobs is not read again */
		*(void *volatile *)&jobs[i].obj = NULL;
		*(void *volatile *)&jobs[i].arg = NULL;
	}
	if (n > 0)
		atomic_fetch_add(&run_total, n);
	return n;
}

/* Run batches until the queue is empty; returns how many jobs ran.  Not
 * inlined: its callers wipe the stack below their own frame once it
 * returns (wipe_traces), and a slot of its frame that held a job's block
 * must lie there, not in the caller's frame, where the runner thread
 * would keep it while it sleeps and the block could never die. */
static NOINLINE size_t
run_queue(void)
{
	size_t total = 0, want = 1;
	for (;;) {
		uint64_t t0 = now_ns();
		size_t n = run_batch(want);
		if (n == 0)
			return total;
		total += n;
		if (now_ns() - t0 >= FAST_BATCH_NS)
			want = 1;
		else if (want < TAKE_BATCH)
			want *= 2;
	}
}

size_t
mgc_run_finalizers(void)
{
	if (thread_attach() == NULL)
		return 0;
	size_t n = run_queue();
	if (n > 0)
		wipe_traces();
	return n;
}

/* Sleep until woken, wake_mutex held.  ThreadSanitizer holds back signals
 * to a thread blocked in pthread_cond_wait, so under it the runner wakes
 * every millisecond to let a collection stop it (world_poll). */
static void
runner_wait(void)
{
	if (!MGC_TSAN) {
		pthread_cond_wait(&wake_cond, &wake_mutex);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&wake_cond, &wake_mutex, &ts);
	pthread_mutex_unlock(&wake_mutex);
	world_poll();
	pthread_mutex_lock(&wake_mutex);
}

static void *
runner(void *arg)
{
	(void)arg;
	mgc_register_thread();
	for (;;) {
		pthread_mutex_lock(&wake_mutex);
		while (!atomic_load(&work_waiting))
			runner_wait();
		pthread_mutex_unlock(&wake_mutex);
		run_queue();
		wipe_traces();
	}
	return NULL;
}

void
special_wake_runner(void)
{
	if (!atomic_load(&work_waiting))
		return;
	pthread_mutex_lock(&wake_mutex);
	if (!runner_started) {
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		runner_started = pthread_create(&t, &attr, runner, NULL) == 0;
		pthread_attr_destroy(&attr);
	}
	pthread_cond_broadcast(&wake_cond);
	pthread_mutex_unlock(&wake_mutex);
}

void
special_read_counts(uint64_t *queued, uint64_t *run)
{
	*queued = atomic_load(&queued_total);
	*run = atomic_load(&run_total);
}

/* In the child of fork (gc.c): the runner did not come along.
 *
 * wake_mutex is re-initialised rather than held across fork(): the runner
 * is a registered thread that holds it unbusy, so the world may stop with
 * it held, and fork_prepare cannot take it before the stop either (under
 * ThreadSanitizer a stop signal waits until a thread blocked on a mutex
 * gets it).  The only other holder, special_wake_runner, runs under the gc
 * lock, which the forking thread holds.  What the mutex guards is whole in
 * the child whatever the runner was doing: runner_started, reset here as
 * there is no runner, and the condition, whose only waiter was the runner.
 *
 * special_lock needs neither: the forking thread holds it across fork
 * (special_fork_prepare), or, where fork stops the world instead (under
 * ThreadSanitizer), every path to it registers its caller first, and a
 * registered thread holding it is busy, so the stop waited until it was
 * let go; debug builds check it is free then. */
/* fork without a stop (gc.c): the forking thread holds special_lock
 * across fork(). */
void
special_fork_prepare(void)
{
	lock_acquire(&special_lock);
}

void
special_fork_done(void)
{
	lock_release(&special_lock);
}

void
special_after_fork_child(void)
{
	if (MGC_DEBUG && MGC_TSAN) {
		if (pthread_mutex_trylock(&special_lock.mutex) != 0)
			fatal("mgc: internal error: the special lock was held across fork");
		pthread_mutex_unlock(&special_lock.mutex);
	}
	pthread_mutex_init(&wake_mutex, NULL);
	pthread_cond_init(&wake_cond, NULL);
	runner_started = false;
}
