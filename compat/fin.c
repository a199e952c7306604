/* fin.c — Boehm finalization and disappearing links on mgc.
 *
 * Finalizers: every GC_register_finalizer* installs one mgc finalizer,
 * fin_run, whose argument is a record (an mgc block, so the client data
 * stays alive as Boehm keeps it) holding the Boehm fn and cd.  A malloc'd
 * map from the hidden (complemented) object address to its record answers
 * the old-fn/old-cd out-parameters and lets re-registration change fn and
 * cd in place; being malloc'd and hidden, it keeps no object alive.  With
 * GC_finalize_on_demand set, fin_run queues the call instead (in mgc
 * blocks reached from this library's data, which keeps the object alive)
 * for GC_invoke_finalizers.  Boehm's await-finalize hook
 * (GC_set_await_finalize_proc) is called with the object as fin_run
 * starts, before the finalizer runs or is queued: Boehm calls it as the
 * collection queues the object, mgc's finalizers are taken after it.
 *
 * GC_finalize_all takes every record out of the map and runs it here;
 * fin_run runs a record only if it takes it out itself, so each finalizer
 * runs once.
 *
 * Disappearing links, short and long, are mgc's own (mgc_link_register):
 * the collection clears them with the world stopped, as Boehm's does, so
 * no thread can read a link to a block already dead.
 */
#include "compat.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#include <javaxfc.h>

struct fin_rec {
	GC_finalization_proc fn;
	void *cd;
	size_t offset; /* fn gets the block's start plus this: a debug block's pointer */
};

struct fin_call {
	struct fin_call *next;
	void *obj;
	GC_finalization_proc fn;
	void *cd;
};

static struct compat_map fins;
/* Set once a finalizer record was ever added: until then GC_free and
 * GC_realloc have none to forget and take no lock (a C++ program through
 * libgccpp frees millions of blocks). */
static atomic_bool any_fins;
static struct fin_call *queue_head, *queue_tail;
static _Thread_local int finalizers_ran;

static uintptr_t
hide(const void *p)
{
	return ~(uintptr_t)p;
}

static void
queue_push(struct fin_call *c)
{
	compat_lock_acquire();
	if (queue_tail != NULL)
		queue_tail->next = c;
	else
		queue_head = c;
	queue_tail = c;
	compat_lock_release();
}

static struct fin_call *
queue_pop(void)
{
	struct fin_call *c;

	compat_lock_acquire();
	c = queue_head;
	if (c != NULL) {
		queue_head = c->next;
		if (queue_head == NULL)
			queue_tail = NULL;
	}
	compat_lock_release();
	return c;
}

/* Queues the call for GC_invoke_finalizers; false if out of memory. */
static bool
defer(void *obj, GC_finalization_proc fn, void *cd)
{
	struct fin_call *c = mgc_alloc(sizeof *c);
	GC_finalizer_notifier_proc notify = GC_finalizer_notifier;

	if (c == NULL)
		return false;
	*c = (struct fin_call){NULL, obj, fn, cd};
	queue_push(c);
	if (notify != NULL)
		notify();
	return true;
}

/* The mgc finalizer of every object with a Boehm finalizer.  It runs
 * Boehm's only if it takes the record out of the map: a record already
 * gone was cleared (GC_register_finalizer with fn 0) or taken by
 * GC_finalize_all, which runs it itself. */
static void
fin_run(void *obj, void *arg)
{
	struct fin_rec *rec = arg;
	struct compat_slot *s;
	GC_finalization_proc fn;
	void *cd;

	compat_lock_acquire();
	s = compat_map_find(&fins, hide(obj));
	bool mine = s != NULL && s->val == rec;
	if (mine)
		compat_map_del(&fins, hide(obj), NULL);
	fn = rec->fn;
	cd = rec->cd;
	obj = (char *)obj + rec->offset;
	compat_lock_release();
	if (!mine || fn == NULL)
		return;
	GC_await_finalize_proc await = GC_get_await_finalize_proc();
	if (await != NULL)
		await(obj);
	if (GC_finalize_on_demand && defer(obj, fn, cd))
		return;
	fn(obj, cd);
	finalizers_ran++;
}

/* Whether obj has an mgc finalizer (asked by trying to set one, which
 * fails with EEXIST if so; one set by the question is cleared again).
 * Caller holds compat_lock and obj, so fin_run cannot run meanwhile. */
static bool
has_finalizer(void *obj)
{
	if (mgc_set_finalizer(obj, fin_run, NULL) != 0)
		return errno == EEXIST;
	mgc_set_finalizer(obj, NULL, NULL);
	return false;
}

/* Changes or clears an existing registration; false if there is none.
 * A record whose object has no mgc finalizer is stale and is dropped
 * unread: its object died without fin_run, which happens in a child of
 * fork to the jobs the parent's finalizer runner had taken (they are not
 * in the child), and the record, no longer a finalizer argument, may have
 * been freed and its memory reused; obj is a new block at that address. */
static bool
update(void *obj, size_t offset, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
       void **ocd)
{
	struct compat_slot *s;
	struct fin_rec *rec;

	compat_lock_acquire();
	s = compat_map_find(&fins, hide(obj));
	if (s != NULL && !has_finalizer(obj)) {
		compat_map_del(&fins, hide(obj), NULL);
		s = NULL;
	}
	if (s == NULL) {
		compat_lock_release();
		return false;
	}
	rec = s->val;
	if (ofn != NULL)
		*ofn = rec->fn;
	if (ocd != NULL)
		*ocd = rec->cd;
	if (fn == NULL)
		compat_map_del(&fins, hide(obj), NULL);
	rec->fn = fn;
	rec->cd = cd;
	rec->offset = offset;
	compat_lock_release();
	if (fn == NULL)
		mgc_set_finalizer(obj, NULL, NULL);
	return true;
}

static void
install(void *obj, size_t offset, GC_finalization_proc fn, void *cd)
{
	struct fin_rec *rec = mgc_alloc(sizeof *rec);

	if (rec == NULL)
		return;
	rec->fn = fn;
	rec->cd = cd;
	rec->offset = offset;
	if (mgc_set_finalizer(obj, fin_run, rec) != 0) {
		mgc_free(rec);
		return;
	}
	compat_lock_acquire();
	atomic_store_explicit(&any_fins, true, memory_order_relaxed);
	if (compat_map_put(&fins, hide(obj), rec) != 0) {
		compat_lock_release();
		mgc_set_finalizer(obj, NULL, NULL);
		return;
	}
	compat_lock_release();
}

/* A finalizer for the block at base, called with base + offset. */
static void
register_at(void *base, size_t offset, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
            void **ocd)
{
	if (update(base, offset, fn, cd, ofn, ocd))
		return;
	if (ofn != NULL)
		*ofn = NULL;
	if (ocd != NULL)
		*ocd = NULL;
	if (fn != NULL && mgc_base(base, NULL) == base)
		install(base, offset, fn, cd);
}

void GC_CALL
GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                      void **ocd)
{
	register_at(obj, 0, fn, cd, ofn, ocd);
}

void GC_CALL
GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                  GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer(obj, fn, cd, ofn, ocd);
}

void GC_CALL
GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                               GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer(obj, fn, cd, ofn, ocd);
}

void GC_CALL
GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                  GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer(obj, fn, cd, ofn, ocd);
}

/* The GC_debug_ forms take a debug block's pointer (GC_debug_malloc's):
 * the finalizer goes on its block and is called with that pointer.  Any
 * other pointer is taken as the plain forms take it. */
#define DEBUG_REGISTER(kind)                                                                       \
	void GC_CALL GC_debug_register_finalizer##kind(void *obj, GC_finalization_proc fn,         \
	                                               void *cd, GC_finalization_proc *ofn,        \
	                                               void **ocd)                                 \
	{                                                                                          \
		char *base = mgc_base(obj, NULL);                                                  \
		if (base != NULL && (char *)obj - base == MGC_DEBUG_OFFSET)                        \
			register_at(base, MGC_DEBUG_OFFSET, fn, cd, ofn, ocd);                     \
		else                                                                               \
			GC_register_finalizer##kind(obj, fn, cd, ofn, ocd);                        \
	}

DEBUG_REGISTER()
DEBUG_REGISTER(_ignore_self)
DEBUG_REGISTER(_no_order)
DEBUG_REGISTER(_unreachable)

void
compat_fin_forget(void *obj)
{
	/* A record is added under compat_lock before its block is handed back
	 * to the caller, who then frees it: the flag is seen set. */
	if (!atomic_load_explicit(&any_fins, memory_order_relaxed))
		return;
	compat_lock_acquire();
	compat_map_del(&fins, hide(obj), NULL);
	compat_lock_release();
}

/* Run mgc's queued finalizers here, and wait for those mgc's runner thread
 * has taken: in on-demand mode each only queues a call for
 * GC_invoke_finalizers (defer), and a batch the runner took just before
 * would otherwise reach the queue after this call returned, although
 * Boehm's collection made them all ready for it.  The runner's jobs here
 * are quick (fin_run, the link cleanups), so the wait is short. */
static void
run_mgc_finalizers(void)
{
	mgc_stats s;

	for (;;) {
		mgc_run_finalizers();
		if (!GC_finalize_on_demand)
			return;
		mgc_read_stats(&s);
		if (s.finalizers_run >= s.finalizers_queued)
			return;
		sched_yield();
	}
}

int GC_CALL
GC_invoke_finalizers(void)
{
	int before = finalizers_ran;
	struct fin_call *c;

	run_mgc_finalizers();
	while ((c = queue_pop()) != NULL) {
		c->fn(c->obj, c->cd);
		finalizers_ran++;
	}
	return finalizers_ran - before;
}

/* Takes any registered finalizer out of the map: its block, the pointer
 * its fn gets (the block's start, or a debug block's pointer), fn and cd;
 * false if none is left.  The block is alive: it still has its mgc
 * finalizer, or a queued job holds it until fin_run finds the record
 * gone. */
static bool
take_any(void **base, void **obj, GC_finalization_proc *fn, void **cd)
{
	bool found = false;

	compat_lock_acquire();
	for (size_t i = 0; i < fins.cap && !found; i++) {
		struct compat_slot *s = &fins.slots[i];
		if (s->key == 0)
			continue;
		struct fin_rec *rec = s->val;
		*base = (void *)~s->key;
		*obj = (char *)*base + rec->offset;
		*fn = rec->fn;
		*cd = rec->cd;
		compat_map_del(&fins, s->key, NULL);
		found = true;
	}
	compat_lock_release();
	return found;
}

/* javaxfc.h: run every finalizer still registered, reachable objects'
 * too, in this thread (Boehm's meaning, for a runtime's exit), and those
 * already queued; again while finalizers register new ones. */
void GC_CALL
GC_finalize_all(void)
{
	void *base, *obj, *cd;
	GC_finalization_proc fn;

	GC_invoke_finalizers();
	while (take_any(&base, &obj, &fn, &cd)) {
		mgc_set_finalizer(base, NULL, NULL);
		fn(obj, cd);
		finalizers_ran++;
		GC_invoke_finalizers();
	}
}

int GC_CALL
GC_should_invoke_finalizers(void)
{
	mgc_stats s;

	if (queue_head != NULL)
		return 1;
	mgc_read_stats(&s);
	return s.finalizers_queued > s.finalizers_run;
}

void GC_CALL
GC_set_finalize_on_demand(int v)
{
	GC_finalize_on_demand = v;
}

int GC_CALL
GC_get_finalize_on_demand(void)
{
	return GC_finalize_on_demand;
}

/* ---- disappearing links: mgc's own (mgc_link_register) ---- */

static int
link_rc(int rc)
{
	if (rc == 0)
		return GC_SUCCESS;
	switch (errno) {
	case EEXIST:
		return GC_DUPLICATE;
	case ENOENT:
		return GC_NOT_FOUND;
	case ENOMEM:
		return GC_NO_MEMORY;
	default:
		return GC_UNIMPLEMENTED;
	}
}

int GC_CALL
GC_general_register_disappearing_link(void **link, const void *obj)
{
	return link_rc(mgc_link_register(link, obj, 0));
}

int GC_CALL
GC_register_disappearing_link(void **link)
{
	void *base = mgc_base(link, NULL);

	return base == NULL ? GC_NO_MEMORY : GC_general_register_disappearing_link(link, base);
}

int GC_CALL
GC_unregister_disappearing_link(void **link)
{
	return mgc_link_unregister(link, 0) == 0;
}

int GC_CALL
GC_move_disappearing_link(void **link, void **new_link)
{
	return link_rc(mgc_link_move(link, new_link, 0));
}

int GC_CALL
GC_register_long_link(void **link, const void *obj)
{
	return link_rc(mgc_link_register(link, obj, MGC_LINK_LONG));
}

int GC_CALL
GC_unregister_long_link(void **link)
{
	return mgc_link_unregister(link, MGC_LINK_LONG) == 0;
}

int GC_CALL
GC_move_long_link(void **link, void **new_link)
{
	return link_rc(mgc_link_move(link, new_link, MGC_LINK_LONG));
}

/* Boehm lists its disappearing links too; mgc keeps those itself and does
 * not list them. */
void
compat_fin_dump(void)
{
	compat_lock_acquire();
	GC_printf("***Finalization (mgc):\nDisappearing links: kept by mgc, not listed\n"
	          "Finalizers: %lu\n",
	          (unsigned long)fins.n);
	for (size_t i = 0; i < fins.cap; i++)
		if (fins.slots[i].key != 0) {
			const struct fin_rec *r = fins.slots[i].val;
			GC_printf("Finalizable object: %p (client data %p)\n",
			          (void *)~fins.slots[i].key, r->cd);
		}
	compat_lock_release();
}
