/* finalize.c — finalizers, cleanups and weak references, and the queue
 * that runs finalizers and cleanups.
 *
 * Specials.  Everything attached to a block is a `special` record in one
 * hash table keyed by the block's start: finalizers (at most one a block),
 * cleanups (any number), weak references (one record per handle, keyed by
 * the target, naming the handle) and handle records (keyed by the handle,
 * naming the target, so that freeing a handle finds its weak record).  The
 * table and records live off the heap (fixalloc, os_alloc_meta): the
 * collector never scans them, so keys are not pointers to it (the seed's
 * finalizer table explains why they must not be), and it marks the values
 * that are roots — finalizer and cleanup arguments — explicitly.
 *
 * A weak handle is a noscan block holding the pointer given to
 * mgc_weak_new: noscan, so it keeps nothing alive.
 *
 * The collector's passes (special_after_mark), with the world stopped,
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
 * The queue is a list of records: unbounded, and its objects and arguments
 * are roots until run.  The runner thread (started on first use) and
 * mgc_run_finalizers pop one record at a time under the queue lock, so each
 * runs exactly once.
 *
 * Locking: special_lock guards the table, queue_lock the queue; both are
 * allocator locks (internal.h), never held together, so the collector reads
 * and changes both with the world stopped, without them.  The runner
 * sleeps on its own mutex and condition, never while holding either.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

enum special_kind { SP_FINALIZER, SP_CLEANUP, SP_WEAK, SP_HANDLE };

struct special {
	uintptr_t base;       /* the block it belongs to */
	struct special *next; /* [special lock] hash chain */
	enum special_kind kind;
	mgc_finalizer_fn fin;
	mgc_cleanup_fn cleanup;
	void *arg; /* finalizer/cleanup: a root; weak: the handle; handle: the target */
	bool unreached; /* [world stopped] finalizer pass: block unmarked after the roots */
};

struct mgc_weak {
	void *_Atomic ptr; /* the pointer given to mgc_weak_new, or NULL */
};

struct work {
	struct work *next; /* [queue lock] */
	mgc_finalizer_fn fin;
	mgc_cleanup_fn cleanup;
	void *obj, *arg; /* roots while queued */
};

static struct lock special_lock = LOCK_INIT(LOCK_SPECIAL);
static struct lock queue_lock = LOCK_INIT(LOCK_SPECIAL);
static struct special **table; /* [special lock] */
static size_t nbuckets, nspecials; /* [special lock] */
static _Atomic size_t any;         /* [atomic] nspecials, for the free path */
static struct work *qhead, *qtail; /* [queue lock] */
static _Atomic uint64_t queued_total, run_total;
static struct fixalloc special_fix = FIXALLOC_INIT((sizeof(struct special) + 15) & ~(size_t)15);
static struct fixalloc work_fix = FIXALLOC_INIT((sizeof(struct work) + 15) & ~(size_t)15);

static pthread_mutex_t wake_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static bool runner_started;  /* [wake_mutex] */
static _Atomic bool work_waiting;

/* ---- the table --------------------------------------------------------------- */

static size_t
bucket(uintptr_t base)
{
	return (size_t)(((uint64_t)base >> 4) * 0x9e3779b97f4a7c15u >> 32) & (nbuckets - 1);
}

/* Double the table (or create it); false on ENOMEM. */
static bool
grow_table(void)
{
	size_t n = nbuckets ? nbuckets * 2 : 1024;
	struct special **t = os_alloc_meta(n * sizeof *t);
	if (t == NULL)
		return false;
	struct special **old = table;
	size_t oldn = nbuckets;
	table = t;
	nbuckets = n;
	for (size_t i = 0; i < oldn; i++)
		for (struct special *s = old[i], *next; s != NULL; s = next) {
			next = s->next;
			s->next = table[bucket(s->base)];
			table[bucket(s->base)] = s;
		}
	if (old != NULL)
		os_free_meta(old, oldn * sizeof *old);
	return true;
}

static struct special *
add_special(uintptr_t base, enum special_kind kind)
{
	if (nspecials >= nbuckets && !grow_table() && nbuckets == 0)
		return NULL;
	struct special *s = fixalloc_alloc(&special_fix);
	if (s == NULL)
		return NULL;
	s->base = base;
	s->kind = kind;
	s->next = table[bucket(base)];
	table[bucket(base)] = s;
	nspecials++;
	atomic_store(&any, nspecials);
	return s;
}

/* Unlink *link's record and free it. */
static void
remove_at(struct special **link)
{
	struct special *s = *link;
	*link = s->next;
	fixalloc_free(&special_fix, s);
	nspecials--;
	atomic_store(&any, nspecials);
}

static struct special **
find(uintptr_t base, enum special_kind kind)
{
	if (nbuckets == 0)
		return NULL;
	for (struct special **l = &table[bucket(base)]; *l != NULL; l = &(*l)->next)
		if ((*l)->base == base && (*l)->kind == kind)
			return l;
	return NULL;
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
	struct special **l = find(base, SP_FINALIZER);
	if (fn == NULL) {
		if (l != NULL)
			remove_at(l);
	} else if (l != NULL) {
		err = EEXIST;
	} else {
		struct special *s = add_special(base, SP_FINALIZER);
		if (s == NULL)
			err = ENOMEM;
		else {
			s->fin = fn;
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
		s->cleanup = fn;
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
	struct special *ws = add_special(base, SP_WEAK);
	struct special *hs = ws ? add_special((uintptr_t)w, SP_HANDLE) : NULL;
	if (ws != NULL)
		ws->arg = w;
	if (hs != NULL)
		hs->arg = (void *)base;
	else if (ws != NULL)
		remove_at(find(base, SP_WEAK));
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
	return w == NULL ? NULL : atomic_load(&((mgc_weak *)w)->ptr);
}

/* ---- explicit frees --------------------------------------------------------- */

/* Remove the weak record of target `base` that names handle w. */
static void
remove_weak_record(uintptr_t base, const mgc_weak *w)
{
	for (struct special **l = &table[bucket(base)]; *l != NULL; l = &(*l)->next)
		if ((*l)->base == base && (*l)->kind == SP_WEAK && (*l)->arg == w) {
			remove_at(l);
			return;
		}
}

/* Drop record *l of a block going away (freed, or found dead). */
static void
drop_at(struct special **l)
{
	struct special *s = *l;
	if (s->kind == SP_WEAK)
		atomic_store(&((mgc_weak *)s->arg)->ptr, NULL);
	else if (s->kind == SP_HANDLE)
		remove_weak_record((uintptr_t)s->arg, (const mgc_weak *)s->base);
	remove_at(l);
}

void
special_drop(uintptr_t base)
{
	lock_acquire(&special_lock);
	if (nbuckets != 0) {
		struct special **l = &table[bucket(base)];
		while (*l != NULL)
			if ((*l)->base == base)
				drop_at(l);
			else
				l = &(*l)->next;
	}
	lock_release(&special_lock);
}

/* ---- the collector's passes (world stopped) ---------------------------------- */

static void
mark_word(void *const *p)
{
	mark_range((uintptr_t)p, (uintptr_t)(p + 1));
}

void
special_mark_roots(void)
{
	for (size_t i = 0; i < nbuckets; i++)
		for (struct special *s = table[i]; s != NULL; s = s->next)
			if (s->kind == SP_FINALIZER || s->kind == SP_CLEANUP)
				mark_word(&s->arg);
	for (struct work *w = qhead; w != NULL; w = w->next) {
		mark_word(&w->obj);
		mark_word(&w->arg);
	}
}

static void
enqueue(mgc_finalizer_fn fin, mgc_cleanup_fn cleanup, void *obj, void *arg)
{
	struct work *w = fixalloc_alloc(&work_fix);
	if (w == NULL)
		fatal("mgc: out of memory queueing a finalizer");
	w->fin = fin;
	w->cleanup = cleanup;
	w->obj = obj;
	w->arg = arg;
	w->next = NULL;
	if (qtail != NULL)
		qtail->next = w;
	else
		qhead = w;
	qtail = w;
	atomic_fetch_add(&queued_total, 1);
	atomic_store(&work_waiting, true);
}

/* Pass 1: weak handles of unreachable blocks are cleared; records of dead
 * handles are dropped. */
static void
pass_weak(void)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct special **l = &table[i];
		while (*l != NULL) {
			struct special *s = *l;
			bool gone = (s->kind == SP_WEAK &&
				     (!mark_is_marked((uintptr_t)s->arg) || !mark_is_marked(s->base))) ||
				    (s->kind == SP_HANDLE && !mark_is_marked(s->base));
			if (gone)
				drop_at(l);
			else
				l = &s->next;
		}
	}
}

/* Pass 2, step 1: note the finalizable blocks the roots do not reach, and
 * mark what they reach (not themselves). */
static void
pass_finalizer_reach(void)
{
	for (size_t i = 0; i < nbuckets; i++)
		for (struct special *s = table[i]; s != NULL; s = s->next)
			if (s->kind == SP_FINALIZER)
				s->unreached = !mark_is_marked(s->base);
	for (size_t i = 0; i < nbuckets; i++)
		for (struct special *s = table[i]; s != NULL; s = s->next)
			if (s->kind == SP_FINALIZER && s->unreached)
				mark_contents(s->base);
}

/* Pass 2, step 2: queue the finalizer of each such block that is still
 * unmarked, and keep the block alive for it.  One marked now is reached by
 * another finalizable block, or by itself: held back. */
static void
pass_finalizer_queue(struct special_result *out)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct special **l = &table[i];
		while (*l != NULL) {
			struct special *s = *l;
			if (s->kind != SP_FINALIZER || !s->unreached) {
				l = &s->next;
			} else if (mark_is_marked(s->base)) {
				out->held_back++;
				l = &s->next;
			} else {
				mark_block(s->base);
				enqueue(s->fin, NULL, (void *)s->base, s->arg);
				out->queued++;
				remove_at(l);
			}
		}
	}
}

/* Pass 3: queue the cleanups of unreachable blocks (not resurrected). */
static void
pass_cleanup(struct special_result *out)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct special **l = &table[i];
		while (*l != NULL) {
			struct special *s = *l;
			if (s->kind == SP_CLEANUP && !mark_is_marked(s->base)) {
				enqueue(NULL, s->cleanup, NULL, s->arg);
				out->queued++;
				remove_at(l);
			} else {
				l = &s->next;
			}
		}
	}
}

void
special_after_mark(struct special_result *out)
{
	*out = (struct special_result){0};
	if (nspecials == 0)
		return;
	pass_weak();
	pass_finalizer_reach();
	pass_finalizer_queue(out);
	pass_cleanup(out);
}

/* ---- running ------------------------------------------------------------------ */

/* Run one queued finalizer or cleanup; false if none was queued.  The job
 * is read out under the lock, field by field into general registers, so
 * its object is never in neither the queue nor this thread's stack.  Not
 * inlined: its frame, where the object may be spilled, lies below the
 * caller's, where wipe_traces reaches it. */
static NOINLINE bool
run_one(void)
{
	mgc_finalizer_fn fin = NULL;
	mgc_cleanup_fn cleanup = NULL;
	void *obj = NULL, *arg = NULL;
	lock_acquire(&queue_lock);
	struct work *w = qhead;
	if (w != NULL) {
		fin = w->fin;
		cleanup = w->cleanup;
		obj = w->obj;
		arg = w->arg;
		qhead = w->next;
		if (qhead == NULL) {
			qtail = NULL;
			atomic_store(&work_waiting, false);
		}
	}
	lock_release(&queue_lock);
	if (w == NULL)
		return false;
	fixalloc_free(&work_fix, w);
	if (fin != NULL)
		fin(obj, arg);
	else
		cleanup(arg);
	atomic_fetch_add(&run_total, 1);
	return true;
}

size_t
mgc_run_finalizers(void)
{
	if (thread_attach() == NULL)
		return 0;
	size_t n = 0;
	while (run_one())
		n++;
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
		while (run_one())
			;
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

/* In the child of fork: the runner did not come along. */
void
special_after_fork_child(void)
{
	pthread_mutex_init(&wake_mutex, NULL);
	pthread_cond_init(&wake_cond, NULL);
	runner_started = false;
}
