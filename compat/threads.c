/* threads.c — threads under the Boehm API: registration, stack bases and
 * bottoms, signal stacks, the GC_pthread_* wrappers (a new thread is
 * registered before it runs, and the result of a joinable one stays
 * reachable until it is joined), GC_dlopen, the blocking wrappers,
 * suspending a thread, the marker threads and the stop signals.  mgc
 * registers threads by itself (src/thread.c), so these mostly keep
 * Boehm's answers, and map the rest onto mgc's extensions (include/mgc.h).
 * The results map is [compat_lock].
 */
#include "compat.h"

#include <gc_mark.h>
#include <javaxfc.h>

#include <dlfcn.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>

/* Registered through the API (GC_register_my_thread, GC_pthread_create,
 * GC_init): a second GC_register_my_thread is GC_DUPLICATE. */
static _Thread_local int registered;

void
compat_note_registered(void)
{
	registered = 1;
}

void GC_CALL
GC_allow_register_threads(void)
{
	mgc_init();
}

int GC_CALL
GC_register_my_thread(const struct GC_stack_base *sb)
{
	(void)sb;
	if (registered)
		return GC_DUPLICATE;
	mgc_register_thread();
	registered = 1;
	return GC_SUCCESS;
}

int GC_CALL
GC_unregister_my_thread(void)
{
	registered = 0;
	mgc_unregister_thread();
	return GC_SUCCESS;
}

/* Registered through the API, or by mgc itself: a thread that called
 * the collector is in mgc's registry, scanned and stopped as Boehm's
 * registered threads are. */
int GC_CALL
GC_thread_is_registered(void)
{
	return registered || (GC_is_init_called() && mgc_stack_bottom(pthread_self()) != NULL);
}

int GC_CALL
GC_get_stack_base(struct GC_stack_base *sb)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return GC_UNIMPLEMENTED;
	if (pthread_attr_getstack(&attr, &addr, &size) != 0) {
		pthread_attr_destroy(&attr);
		return GC_UNIMPLEMENTED;
	}
	pthread_attr_destroy(&attr);
	sb->mem_base = (char *)addr + size;
	return GC_SUCCESS;
}

void *GC_CALL
GC_call_with_stack_base(GC_stack_base_func fn, void *arg)
{
	struct GC_stack_base sb;

	sb.mem_base = __builtin_frame_address(0);
	return fn(&sb, arg);
}

/* What a new thread starts with: the parent waits on started until the
 * child has registered and copied fn and arg onto its own stack. */
struct start {
	void *(*fn)(void *);
	void *arg;
	sem_t started;
};

/* Results of finished joinable threads until they are joined, in mgc
 * memory so that the collector sees them (as Boehm does). */
static struct compat_map results = {.gc = true};

/* Joinable threads of GC_pthread_create that returned and are not joined
 * yet, valued EXITED, or SUSPENDED once GC_suspend_thread named them:
 * Boehm keeps such a thread's record until the join, so it can be
 * suspended, and mgc has forgotten it.  [compat_lock] */
static struct compat_map exited;
#define EXITED    ((void *)1)
#define SUSPENDED ((void *)2)

static bool
is_detached(void)
{
	pthread_attr_t attr;
	int state = PTHREAD_CREATE_JOINABLE;

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return false;
	pthread_attr_getdetachstate(&attr, &state);
	pthread_attr_destroy(&attr);
	return state == PTHREAD_CREATE_DETACHED;
}

static void
keep_result(void *ret)
{
	if (ret == NULL || is_detached())
		return;
	compat_lock_acquire();
	compat_map_put(&results, (uintptr_t)pthread_self(), ret);
	compat_lock_release();
}

static void
drop_result(pthread_t t)
{
	compat_lock_acquire();
	compat_map_del(&results, (uintptr_t)t, NULL);
	compat_map_del(&exited, (uintptr_t)t, NULL);
	compat_lock_release();
}

static void *
thread_main(void *p)
{
	struct start *st = p;
	void *(*fn)(void *) = st->fn;
	void *arg = st->arg, *ret;

	mgc_register_thread();
	registered = 1;
	sem_post(&st->started);
	ret = fn(arg);
	keep_result(ret);
	if (!is_detached()) {
		compat_lock_acquire();
		compat_map_put(&exited, (uintptr_t)pthread_self(), EXITED);
		compat_lock_release();
	}
	return ret;
}

int
GC_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct start st = {fn, arg, {{0}}};
	int rc;

	/* As Boehm's: the first call initialises, registering the caller. */
	compat_init();
	sem_init(&st.started, 0, 0);
	rc = pthread_create(t, attr, thread_main, &st);
	if (rc == 0)
		while (sem_wait(&st.started) != 0)
			;
	sem_destroy(&st.started);
	__asm__ volatile("" : : "r"(&st) : "memory");
	return rc;
}

int
GC_pthread_join(pthread_t t, void **ret)
{
	int rc = pthread_join(t, ret);

	if (rc == 0)
		drop_result(t);
	return rc;
}

int
GC_pthread_detach(pthread_t t)
{
	int rc = pthread_detach(t);

	if (rc == 0)
		drop_result(t);
	return rc;
}

int
GC_pthread_cancel(pthread_t t)
{
	return pthread_cancel(t);
}

void
GC_pthread_exit(void *ret)
{
	pthread_exit(ret);
}

int
GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return pthread_sigmask(how, set, old);
}

void *
GC_dlopen(const char *path, int mode)
{
	return dlopen(path, mode);
}

/* mgc keeps scanning a blocked thread's whole stack, which is always
 * safe: both wrappers just call fn. */
void *GC_CALL
GC_do_blocking(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

void *GC_CALL
GC_call_with_gc_active(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

/* ---- stack bottoms and signal stacks -------------------------------------- */

/* Boehm's handle of a thread is its record; here, a thread-local one
 * naming the thread, valid while the thread lives. */
struct handle {
	pthread_t id;
};
static _Thread_local struct handle me;

void *GC_CALL
GC_get_my_stackbottom(struct GC_stack_base *sb)
{
	mgc_register_thread();
	me.id = pthread_self();
	sb->mem_base = mgc_stack_bottom(me.id);
	return &me;
}

/* The scanned stack of the thread (NULL: the caller) ends at sb from now
 * on, for a thread that runs on a stack of its own (a coroutine). */
void GC_CALL
GC_set_stackbottom(void *handle, const struct GC_stack_base *sb)
{
	pthread_t id = handle != NULL ? ((struct handle *)handle)->id : pthread_self();
	if (handle == NULL)
		mgc_register_thread();
	if (mgc_set_stack_bottom(id, sb->mem_base) == 0 && !GC_is_init_called())
		GC_stackbottom = sb->mem_base;
}

/* stack: the lowest address of the thread's normal stack. */
void GC_CALL
GC_register_altstack(void *stack, GC_word stack_size, void *altstack, GC_word altstack_size)
{
	mgc_register_altstack(stack, stack_size, altstack, altstack_size);
}

/* ---- suspending one thread (javaxfc.h) -------------------------------------- */

/* A returned thread's state in `exited` becomes `to`, if it is there. */
static void
mark_exited(GC_SUSPEND_THREAD_ID t, void *to)
{
	compat_lock_acquire();
	struct compat_slot *s = compat_map_find(&exited, (uintptr_t)t);
	if (s != NULL)
		s->val = to;
	compat_lock_release();
}

/* Collections go on around a suspended thread; one that is not registered
 * is left alone, as Boehm does, but for a returned, unjoined thread of
 * GC_pthread_create, which only records it. */
void GC_CALL
GC_suspend_thread(GC_SUSPEND_THREAD_ID t)
{
	if (mgc_suspend_thread(t) != 0)
		mark_exited(t, SUSPENDED);
}

void GC_CALL
GC_resume_thread(GC_SUSPEND_THREAD_ID t)
{
	if (mgc_resume_thread(t) != 0)
		mark_exited(t, EXITED);
}

int GC_CALL
GC_is_thread_suspended(GC_SUSPEND_THREAD_ID t)
{
	if (mgc_thread_is_suspended(t) == 1)
		return 1;
	compat_lock_acquire();
	struct compat_slot *s = compat_map_find(&exited, (uintptr_t)t);
	int suspended = s != NULL && s->val == SUSPENDED;
	compat_lock_release();
	return suspended;
}

/* ---- markers and signals ------------------------------------------------------- */

/* Boehm's count includes the collecting thread, as MGC_MARKERS does; 0
 * lets the collector decide.  Boehm takes it before GC_init only; mgc
 * from its next collection.  Before GC_init it is kept for GC_init
 * (compat_init_markers), so that mgc is not started yet and the stop
 * signals can still be chosen. */
static _Atomic int markers_asked = -1;

void
compat_init_markers(void)
{
	int n = atomic_load(&markers_asked);
	if (n >= 0)
		mgc_set_markers(n);
	GC_parallel = (int)mgc_info(MGC_INFO_MARKERS) - 1;
}

void GC_CALL
GC_set_markers_count(unsigned n)
{
	atomic_store(&markers_asked, n > 8 ? 8 : (int)n);
	if (GC_is_init_called())
		compat_init_markers();
}

/* The marker threads besides the collecting one (0 before GC_init, as
 * Boehm's). */
int GC_CALL
GC_get_parallel(void)
{
	return GC_is_init_called() ? (int)mgc_info(MGC_INFO_MARKERS) - 1 : 0;
}

/* mgc starts its marker threads at its first collection (and again in
 * the child of a fork): nothing to do. */
void GC_CALL
GC_start_mark_threads(void)
{
}

/* Before the collector starts (Boehm: before GC_init), as
 * mgc_set_signals; ignored after. */
void GC_CALL
GC_set_suspend_signal(int sig)
{
	mgc_set_signals(sig, 0);
}

void GC_CALL
GC_set_thr_restart_signal(int sig)
{
	mgc_set_signals(0, sig);
}

int GC_CALL
GC_get_suspend_signal(void)
{
	return (int)mgc_info(MGC_INFO_SIGNAL_SUSPEND);
}

int GC_CALL
GC_get_thr_restart_signal(void)
{
	return (int)mgc_info(MGC_INFO_SIGNAL_RESTART);
}
