/* misc.c — the Boehm GC settings (setters and getters of the tuning
 * variables, warn and oom procs), the GC_debug_* allocation variants
 * (the plain calls: no debug headers are added), threads:
 * registration, GC_pthread_* wrappers, GC_get_stack_base and GC_dlopen,
 * Boehm's allocator lock, and the shim's fork handlers.
 */
#include "compat.h"

#include <dlfcn.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- warn and oom procs ---- */

static void GC_CALLBACK
default_warn(char *msg, GC_word arg)
{
	fprintf(stderr, msg, (void *)arg);
}

static GC_warn_proc warn_proc = default_warn;

void GC_CALLBACK
GC_ignore_warn_proc(char *msg, GC_word arg)
{
	(void)msg;
	(void)arg;
}

void GC_CALL
GC_set_warn_proc(GC_warn_proc p)
{
	compat_lock_acquire();
	warn_proc = p;
	compat_lock_release();
}

GC_warn_proc GC_CALL
GC_get_warn_proc(void)
{
	GC_warn_proc p;

	compat_lock_acquire();
	p = warn_proc;
	compat_lock_release();
	return p;
}

void GC_CALL
GC_set_oom_fn(GC_oom_func fn)
{
	compat_lock_acquire();
	GC_oom_fn = fn;
	compat_lock_release();
}

GC_oom_func GC_CALL
GC_get_oom_fn(void)
{
	GC_oom_func fn;

	compat_lock_acquire();
	fn = GC_oom_fn;
	compat_lock_release();
	return fn;
}

/* ---- recorded settings ---- */

#define SETTING(name, type, var)                                                                   \
	void GC_CALL GC_set_##name(type v)                                                         \
	{                                                                                          \
		var = v;                                                                           \
	}                                                                                          \
	type GC_CALL GC_get_##name(void)                                                           \
	{                                                                                          \
		return var;                                                                        \
	}

SETTING(find_leak, int, GC_find_leak)
SETTING(all_interior_pointers, int, GC_all_interior_pointers)
SETTING(java_finalization, int, GC_java_finalization)
SETTING(dont_expand, int, GC_dont_expand)
SETTING(full_freq, int, GC_full_freq)
SETTING(non_gc_bytes, GC_word, GC_non_gc_bytes)
SETTING(no_dls, int, GC_no_dls)
SETTING(max_retries, GC_word, GC_max_retries)
SETTING(dont_precollect, int, GC_dont_precollect)
SETTING(time_limit, unsigned long, GC_time_limit)
SETTING(finalizer_notifier, GC_finalizer_notifier_proc, GC_finalizer_notifier)
SETTING(on_heap_resize, GC_on_heap_resize_proc, GC_on_heap_resize)

static int handle_fork = 1;

void GC_CALL
GC_set_handle_fork(int v)
{
	handle_fork = v;
}

void GC_CALL
GC_set_pages_executable(int v)
{
	(void)v;
}

int GC_CALL
GC_get_pages_executable(void)
{
	return 0;
}

void GC_CALL
GC_enable_incremental(void)
{
}

int GC_CALL
GC_is_incremental_mode(void)
{
	return 0;
}

/* ---- GC_debug_* allocation: the plain calls ---- */

#define DEBUG_ALLOC(name)                                                                          \
	void *GC_CALL GC_debug_##name(size_t size, GC_EXTRA_PARAMS)                                \
	{                                                                                          \
		(void)s;                                                                           \
		(void)i;                                                                           \
		return GC_##name(size);                                                            \
	}

DEBUG_ALLOC(malloc)
DEBUG_ALLOC(malloc_atomic)
DEBUG_ALLOC(malloc_uncollectable)
DEBUG_ALLOC(malloc_atomic_uncollectable)
DEBUG_ALLOC(malloc_ignore_off_page)
DEBUG_ALLOC(malloc_atomic_ignore_off_page)

char *GC_CALL
GC_debug_strdup(const char *str, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_strdup(str);
}

char *GC_CALL
GC_debug_strndup(const char *str, size_t n, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_strndup(str, n);
}

void *GC_CALL
GC_debug_realloc(void *p, size_t size, GC_EXTRA_PARAMS)
{
	(void)s;
	(void)i;
	return GC_realloc(p, size);
}

void GC_CALL
GC_debug_free(void *p)
{
	GC_free(p);
}

void *GC_CALL
GC_debug_malloc_replacement(size_t size)
{
	return GC_malloc(size);
}

void *GC_CALL
GC_debug_realloc_replacement(void *p, size_t size)
{
	return GC_realloc(p, size);
}

/* ---- threads ---- */

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

/* ---- the allocator lock and the blocking wrappers ---- */

/* Boehm's allocator lock, for clients that read GC state consistently.
 * mgc has its own locking, so this one guards nothing inside the shim;
 * unlike Boehm's, allocating while holding it is harmless.  A client may
 * call the shim holding it, so it comes before compat_lock. */
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

void *GC_CALL
GC_call_with_alloc_lock(GC_fn_type fn, void *cd)
{
	void *r;

	compat_fork_init();
	pthread_mutex_lock(&alloc_lock);
	r = fn(cd);
	pthread_mutex_unlock(&alloc_lock);
	return r;
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
 * reverse. */

static void
fork_prepare(void)
{
	pthread_mutex_lock(&alloc_lock);
	pthread_mutex_lock(&compat_lock);
}

static void
fork_release(void)
{
	pthread_mutex_unlock(&compat_lock);
	pthread_mutex_unlock(&alloc_lock);
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

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

void
compat_fork_init(void)
{
	pthread_once(&fork_once, fork_install);
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
