/* locks.c — the shim's locks: compat_lock, which guards its side tables
 * (compat.h), Boehm's allocator lock for clients (and GC_stop_world_external,
 * which holds it), and the fork handlers that hold both across fork(),
 * which a program may also run by hand (GC_atfork_prepare, _parent,
 * _child).
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- compat_lock ---- */

pthread_mutex_t compat_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool compat_lock_mine; /* this thread holds compat_lock */

void
compat_lock_acquire(void)
{
	compat_fork_init();
	pthread_mutex_lock(&compat_lock);
	compat_lock_mine = true;
}

void
compat_lock_release(void)
{
	compat_lock_mine = false;
	pthread_mutex_unlock(&compat_lock);
}

bool
compat_lock_held(void)
{
	return compat_lock_mine;
}

/* ---- Boehm's allocator lock ---- */

/* Boehm's allocator lock, for clients that read GC state consistently.
 * GC_alloc_lock guards nothing inside the shim; GC_call_with_alloc_lock
 * also keeps collections out (mgc_call_exclusive).  Unlike Boehm's,
 * allocating while holding it is harmless.  A client may call the shim
 * holding it, so it comes before compat_lock. */
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;

void GC_CALL
GC_alloc_lock(void)
{
	compat_fork_init();
	pthread_mutex_lock(&alloc_lock);
}

void GC_CALL
GC_alloc_unlock(void)
{
	pthread_mutex_unlock(&alloc_lock);
}

/* Boehm runs fn with no collection under way or starting (clients rely
 * on it: Guile reads weak entries and moves its VM stacks in fn), which
 * mgc_call_exclusive gives. */
void *GC_CALL
GC_call_with_alloc_lock(GC_fn_type fn, void *cd)
{
	void *r;

	compat_fork_init();
	pthread_mutex_lock(&alloc_lock);
	r = mgc_call_exclusive(fn, cd);
	pthread_mutex_unlock(&alloc_lock);
	return r;
}

/* Boehm's stop of the world for a program: its allocator lock, then every
 * other registered thread stopped (mgc_stop_world), until
 * GC_start_world_external.  In between the caller must not call the
 * collector. */
void GC_CALL
GC_stop_world_external(void)
{
	compat_fork_init();
	pthread_mutex_lock(&alloc_lock);
	mgc_stop_world();
}

void GC_CALL
GC_start_world_external(void)
{
	mgc_start_world();
	pthread_mutex_unlock(&alloc_lock);
}

/* ---- fork ----
 * A child of fork keeps only the forking thread, so a lock another thread
 * held at the fork would stay held in the child for good.  As Boehm's fork
 * handlers take its allocator lock, these take the shim's two locks, in
 * their order (alloc_lock, then compat_lock), hold them across fork() and
 * release them in the parent and the child: the tables they guard are then
 * whole in the child.  They are installed after mgc's (mgc_init installs
 * those), and pthread_atfork runs prepare handlers in the reverse order of
 * installation, parent and child handlers in order: these locks are taken
 * before mgc's prepare handler stops the world and released after mgc's
 * parent and child handlers, as their lock order wants (compat.h): a thread
 * holding compat_lock may wait for mgc's locks or a collection, never the
 * reverse.
 * GC_atfork_prepare, _parent and _child run the same steps, with mgc's
 * (mgc_fork_prepare...), for a program that forks by other means than
 * fork(); from GC_atfork_prepare to the matching call, the handlers do
 * nothing on that thread (mgc's neither), so a fork() in between runs the
 * steps once. */

static _Thread_local bool by_hand; /* GC_atfork_prepare ran, no matching call yet */

static void
take_locks(void)
{
	pthread_mutex_lock(&alloc_lock);
	pthread_mutex_lock(&compat_lock);
}

static void
release_locks(void)
{
	pthread_mutex_unlock(&compat_lock);
	pthread_mutex_unlock(&alloc_lock);
}

static void
fork_prepare(void)
{
	if (!by_hand)
		take_locks();
}

static void
fork_release(void)
{
	if (!by_hand)
		release_locks();
}

static void
fork_install(void)
{
	mgc_init();
	if (pthread_atfork(fork_prepare, fork_release, fork_release) != 0) {
		fputs("libmgc-gc: pthread_atfork failed\n", stderr);
		abort();
	}
}

void GC_CALL
GC_atfork_prepare(void)
{
	compat_init();
	take_locks();
	mgc_fork_prepare();
	by_hand = true;
}

void GC_CALL
GC_atfork_parent(void)
{
	by_hand = false;
	mgc_fork_parent();
	release_locks();
}

void GC_CALL
GC_atfork_child(void)
{
	by_hand = false;
	mgc_fork_child();
	release_locks();
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

void
compat_fork_init(void)
{
	pthread_once(&fork_once, fork_install);
}
