/* events.c — Boehm's collection and thread events (GC_set_on_collection_event,
 * GC_set_on_thread_event) from mgc's four collection events.
 *
 * mgc tells the shim (kinds.c's callback) when a collection starts, when
 * the world has stopped, when it is about to restart and when the
 * collection is over.  Boehm's ten collection events follow in its order:
 *   mgc START   GC_EVENT_START, GC_EVENT_PRE_STOP_WORLD
 *   mgc STOP    (each stopped thread: GC_EVENT_THREAD_SUSPENDED)
 *               GC_EVENT_POST_STOP_WORLD, GC_EVENT_MARK_START
 *   mgc RESUME  GC_EVENT_MARK_END, GC_EVENT_PRE_START_WORLD
 *               (each stopped thread: GC_EVENT_THREAD_UNSUSPENDED)
 *   mgc END     GC_EVENT_POST_START_WORLD, GC_EVENT_RECLAIM_START,
 *               GC_EVENT_RECLAIM_END, GC_EVENT_END
 * mgc sweeps after the collection (lazily, or before GC_gcollect returns),
 * so the two reclaim events come together at the end.  The thread events
 * name each registered thread but the collecting one (its pthread_t), from
 * mgc_each_stopped_thread.
 *
 * The callbacks run inside the collection, some with the world stopped
 * (Boehm's rules: no allocation, no lock): the procedures are [atomic] so
 * that reading them takes none.
 */
#include "compat.h"

#include <stdatomic.h>

static _Atomic(GC_on_collection_event_proc) on_collection;
static _Atomic(GC_on_thread_event_proc) on_thread;

void GC_CALL
GC_set_on_collection_event(GC_on_collection_event_proc fn)
{
	compat_kinds_init(); /* the shim's event callback */
	atomic_store(&on_collection, fn);
}

GC_on_collection_event_proc GC_CALL
GC_get_on_collection_event(void)
{
	return atomic_load(&on_collection);
}

void GC_CALL
GC_set_on_thread_event(GC_on_thread_event_proc fn)
{
	compat_kinds_init();
	atomic_store(&on_thread, fn);
}

GC_on_thread_event_proc GC_CALL
GC_get_on_thread_event(void)
{
	return atomic_load(&on_thread);
}

static void
thread_event(pthread_t t, void *arg)
{
	GC_on_thread_event_proc fn = atomic_load(&on_thread);
	if (fn != NULL)
		fn((GC_EventType)(intptr_t)arg, (void *)(uintptr_t)t);
}

static void
threads(GC_EventType e)
{
	if (atomic_load(&on_thread) != NULL)
		mgc_each_stopped_thread(thread_event, (void *)(intptr_t)e);
}

static void
emit(GC_on_collection_event_proc fn, GC_EventType a, GC_EventType b)
{
	if (fn != NULL) {
		fn(a);
		fn(b);
	}
}

void
compat_boehm_events(int e)
{
	GC_on_collection_event_proc fn = atomic_load(&on_collection);
	switch (e) {
	case MGC_EVENT_START:
		emit(fn, GC_EVENT_START, GC_EVENT_PRE_STOP_WORLD);
		break;
	case MGC_EVENT_STOP:
		threads(GC_EVENT_THREAD_SUSPENDED);
		emit(fn, GC_EVENT_POST_STOP_WORLD, GC_EVENT_MARK_START);
		break;
	case MGC_EVENT_RESUME:
		emit(fn, GC_EVENT_MARK_END, GC_EVENT_PRE_START_WORLD);
		threads(GC_EVENT_THREAD_UNSUSPENDED);
		break;
	case MGC_EVENT_END:
		emit(fn, GC_EVENT_POST_START_WORLD, GC_EVENT_RECLAIM_START);
		emit(fn, GC_EVENT_RECLAIM_END, GC_EVENT_END);
		break;
	default:
		break;
	}
}
