/* thread.c — the registry of threads that use mgc.
 *
 * A thread is registered on its first mgc call (the fast paths see a NULL
 * tls_cache and fall into a slow path that calls thread_attach) or by
 * mgc_register_thread, and unregistered when it exits (a pthread key
 * destructor) or by mgc_unregister_thread.  No wrapper around
 * pthread_create is needed.
 *
 * A record holds the thread's cache and what the collector needs to scan
 * it: its pthread id (to signal it), the base of its stack (from
 * pthread_getattr_np), the stack pointer it saves when stopped, and the
 * address ranges of its static TLS blocks (found with dl_iterate_phdr from
 * the thread itself: dlpi_tls_data is the calling thread's block), so that
 * __thread variables are roots.
 *
 * A record is complete and the thread's TLS pointers set before it is
 * linked, so a stop signal always finds its record; on the way out the
 * cache is emptied while the thread is still registered (and stoppable
 * only between steps), then the record is unlinked.  Unregistering
 * folds the thread's counters into `retired`, so totals stay exact.
 *
 * The program may move a stack's base (mgc_set_stack_bottom: coroutines
 * that switch stacks) and name a signal stack (mgc_register_altstack):
 * a thread stopped while running on it has the rest of it scanned and
 * its whole normal stack, as the interrupted frames are there.
 *
 * Locking: thread_lock guards the list, `retired`, and the stack bounds a
 * program sets.  The collector holds it from before stopping the world
 * until after restarting it, so threads neither join nor leave, nor move
 * their stacks, while it looks.
 */
#include "internal.h"

#include <errno.h>
#include <link.h>
#include <sched.h>

__thread struct thread *tls_thread __attribute__((tls_model("initial-exec")));

static struct lock thread_lock = LOCK_INIT(LOCK_THREAD);
/* Held around a registering thread's walk of the loaded objects for its TLS
 * blocks.  dl_iterate_phdr holds the loader's lock throughout, and glibc's
 * fork does not take that lock: a fork while another thread walks would
 * leave the child with it held for good, and the child's first collection
 * (roots.c walks the objects too) would wait forever.  So fork_prepare
 * (gc.c) takes this lock first, before the gc lock, under which the
 * collector's own walk runs, and holds it across fork().  Outside the
 * levels of the lock order (internal.h): a registering thread takes
 * nothing under it but the loader's lock. */
static pthread_mutex_t tls_walk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread threads = {.next = &threads, .prev = &threads}; /* [thread lock] */
static struct counters retired; /* [thread lock] counters of unregistered threads */
static struct fixalloc thread_fix = FIXALLOC_INIT((sizeof(struct thread) + 15) & ~(size_t)15);
static pthread_key_t exit_key;

static void thread_exit(void *arg);

void
thread_init(void)
{
	if (pthread_key_create(&exit_key, thread_exit) != 0)
		fatal("mgc: pthread_key_create failed");
}

static void
find_stack(struct thread *t)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		fatal("mgc: cannot find the stack of a new thread (pthread_getattr_np)");
	pthread_attr_getstack(&attr, &addr, &size);
	pthread_attr_destroy(&attr);
	atomic_store(&t->stack_hi, (uintptr_t)addr + size);
}

static int
add_tls_block(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct thread *t = arg;
	(void)size;
	if (info->dlpi_tls_data == NULL)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_TLS || t->ntls == MAX_TLS_RANGES)
			continue;
		uintptr_t lo = (uintptr_t)info->dlpi_tls_data;
		t->tls[t->ntls][0] = lo;
		t->tls[t->ntls][1] = lo + ph->p_memsz;
		t->ntls++;
	}
	return 0;
}

struct cache *
thread_attach(void)
{
	if (tls_thread != NULL)
		return &tls_thread->cache;
	mgc_init();
	struct thread *t = fixalloc_alloc(&thread_fix);
	if (t == NULL)
		return NULL;
	cache_init(&t->cache);
	t->id = pthread_self();
	find_stack(t);
	pthread_mutex_lock(&tls_walk_lock);
	dl_iterate_phdr(add_tls_block, t);
	pthread_mutex_unlock(&tls_walk_lock);
	pthread_setspecific(exit_key, t);
	tls_thread = t;
	tls_cache = &t->cache;
	lock_acquire(&thread_lock);
	t->next = threads.next;
	t->prev = &threads;
	threads.next->prev = t;
	threads.next = t;
	atomic_store(&t->linked, true);
	lock_release(&thread_lock);
	return &t->cache;
}

static void
add_counters(struct counters *to, const struct cache *c)
{
	to->nmalloc += counter_read(&c->nmalloc);
	to->nfree += counter_read(&c->nfree);
	to->bytes_alloc += counter_read(&c->bytes_alloc);
	to->bytes_freed += counter_read(&c->bytes_freed);
	to->nlookup += counter_read(&c->nlookup);
}

static void
unlink_locked(struct thread *t)
{
	MGC_ASSERT(lock_held(&thread_lock));
	atomic_store(&t->linked, false);
	t->prev->next = t->next;
	t->next->prev = t->prev;
	add_counters(&retired, &t->cache);
}

static void
thread_detach(struct thread *t)
{
	cache_flush_all(&t->cache);
	lock_acquire(&thread_lock);
	unlink_locked(t);
	lock_release(&thread_lock);
	tls_cache = NULL;
	tls_thread = NULL;
	pthread_setspecific(exit_key, NULL);
	fixalloc_free(&thread_fix, t);
}

static void
thread_exit(void *arg)
{
	thread_detach(arg);
}

void
thread_sum_counters_locked(struct counters *out)
{
	MGC_ASSERT(lock_held(&thread_lock));
	*out = retired;
	for (struct thread *t = threads.next; t != &threads; t = t->next)
		add_counters(out, &t->cache);
}

void
thread_sum_counters(struct counters *out)
{
	lock_acquire(&thread_lock);
	thread_sum_counters_locked(out);
	lock_release(&thread_lock);
}

void
thread_lock_registry(void)
{
	lock_acquire(&thread_lock);
}

void
thread_unlock_registry(void)
{
	lock_release(&thread_lock);
}

struct thread *
thread_first(void)
{
	return thread_next(&threads);
}

struct thread *
thread_next(struct thread *t)
{
	return t->next == &threads ? NULL : t->next;
}

/* Around fork (gc.c): no registering thread is inside its TLS walk. */
void
thread_fork_prepare(void)
{
	/* The forking thread is registered: under ThreadSanitizer, which holds
	 * a stop signal back from a thread blocked in pthread_mutex_lock, it
	 * polls, as util.c's lock_spin does (the walker may be waiting for the
	 * loader's lock, held by a collector that waits for this thread). */
	if (MGC_TSAN) {
		while (pthread_mutex_trylock(&tls_walk_lock) != 0) {
			world_poll();
			sched_yield();
		}
	} else {
		pthread_mutex_lock(&tls_walk_lock);
	}
}

void
thread_fork_done(void)
{
	pthread_mutex_unlock(&tls_walk_lock);
}

/* In the child of fork, with every lock held by the forking thread: only
 * that thread survives.  The others' records are dropped (their cached
 * blocks with them: they are free, and merely lost to the child). */
void
thread_after_fork_child(void)
{
	struct thread *self = tls_thread;
	struct thread *t = threads.next;
	while (t != &threads) {
		struct thread *next = t->next;
		if (t != self)
			unlink_locked(t);
		t = next;
	}
}

struct thread *
thread_find_locked(pthread_t id)
{
	MGC_ASSERT(lock_held(&thread_lock));
	struct thread *t = thread_first();
	while (t != NULL && !pthread_equal(t->id, id))
		t = thread_next(t);
	return t;
}

void
thread_each_stack_range(const struct thread *t, uintptr_t lo,
                        void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	MGC_ASSERT(lock_held(&thread_lock));
	uintptr_t hi = atomic_load_explicit(&t->stack_hi, memory_order_relaxed);
	if (lo >= t->alt_lo && lo < t->alt_hi) {
		fn(lo, t->alt_hi, arg);
		lo = t->norm_lo;
		hi = t->norm_hi;
	}
	if (lo < hi)
		fn(lo, hi, arg);
}

void *
mgc_stack_bottom(pthread_t id)
{
	mgc_init();
	lock_acquire(&thread_lock);
	struct thread *t = thread_find_locked(id);
	uintptr_t hi = t != NULL ? atomic_load(&t->stack_hi) : 0;
	lock_release(&thread_lock);
	if (t == NULL)
		errno = ESRCH;
	return (void *)hi;
}

int
mgc_set_stack_bottom(pthread_t id, void *bottom)
{
	if (bottom == NULL) {
		errno = EINVAL;
		return -1;
	}
	mgc_init();
	lock_acquire(&thread_lock);
	struct thread *t = thread_find_locked(id);
	if (t != NULL)
		atomic_store(&t->stack_hi, (uintptr_t)bottom);
	lock_release(&thread_lock);
	if (t == NULL) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int
mgc_register_altstack(void *stack, size_t stack_size, void *altstack, size_t altstack_size)
{
	if (stack == NULL || altstack == NULL || stack_size == 0 || altstack_size == 0) {
		errno = EINVAL;
		return -1;
	}
	if (thread_attach() == NULL) {
		errno = ENOMEM;
		return -1;
	}
	struct thread *t = tls_thread;
	lock_acquire(&thread_lock);
	t->norm_lo = (uintptr_t)stack;
	t->norm_hi = (uintptr_t)stack + stack_size;
	t->alt_lo = (uintptr_t)altstack;
	t->alt_hi = (uintptr_t)altstack + altstack_size;
	lock_release(&thread_lock);
	return 0;
}

int
mgc_register_thread(void)
{
	if (thread_attach() == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
mgc_unregister_thread(void)
{
	if (tls_thread == NULL) {
		errno = EINVAL;
		return -1;
	}
	thread_detach(tls_thread);
	return 0;
}
