/* threads.c — threads under the Boehm API: registration, stack bases,
 * the GC_pthread_* wrappers (a new thread is registered before it runs,
 * and the result of a joinable one stays reachable until it is joined),
 * GC_dlopen, and the blocking wrappers.  mgc registers threads by itself
 * (src/thread.c), so these mostly keep Boehm's answers.  The results map is
 * [compat_lock].
 */
#include "compat.h"

#include <dlfcn.h>
#include <semaphore.h>
#include <signal.h>

static _Thread_local int registered;

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

int GC_CALL
GC_thread_is_registered(void)
{
	return registered;
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
	return ret;
}

int
GC_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct start st = {fn, arg, {{0}}};
	int rc;

	mgc_init();
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
