/* thread.c — the registry of threads that use mgc.
 *
 * A thread is registered on its first mgc call (the fast paths see a NULL
 * tls_cache and fall into a slow path that calls thread_attach) or by
 * mgc_register_thread, and unregistered when it exits (a pthread key
 * destructor) or by mgc_unregister_thread.  Its record holds its cache;
 * unregistering returns the cache's blocks to the centrals and folds its
 * counters into `retired`, so the totals stay exact after threads come and
 * go.
 *
 * Locking: thread_lock guards the list of records and `retired`.  A record
 * is created and destroyed by its own thread; other threads only read its
 * counters, under thread_lock.
 */
#include "internal.h"

#include <errno.h>

struct thread {
	struct cache cache;           /* [owner] */
	struct thread *next, *prev;   /* [thread lock] */
};

static struct lock thread_lock = LOCK_INIT(LOCK_THREAD);
static struct thread threads = {.next = &threads, .prev = &threads}; /* [thread lock] */
static struct counters retired; /* [thread lock] counters of unregistered threads */
static struct fixalloc thread_fix = FIXALLOC_INIT((sizeof(struct thread) + 15) & ~(size_t)15);
static pthread_key_t exit_key;
static __thread struct thread *tls_thread;

static void thread_exit(void *arg);

void
thread_init(void)
{
	if (pthread_key_create(&exit_key, thread_exit) != 0)
		fatal("mgc: pthread_key_create failed");
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
	lock_acquire(&thread_lock);
	t->next = threads.next;
	t->prev = &threads;
	threads.next->prev = t;
	threads.next = t;
	lock_release(&thread_lock);
	pthread_setspecific(exit_key, t);
	tls_thread = t;
	tls_cache = &t->cache;
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
thread_detach(struct thread *t)
{
	tls_cache = NULL;
	tls_thread = NULL;
	pthread_setspecific(exit_key, NULL);
	cache_flush_all(&t->cache);
	lock_acquire(&thread_lock);
	t->prev->next = t->next;
	t->next->prev = t->prev;
	add_counters(&retired, &t->cache);
	lock_release(&thread_lock);
	fixalloc_free(&thread_fix, t);
}

static void
thread_exit(void *arg)
{
	thread_detach(arg);
}

void
thread_sum_counters(struct counters *out)
{
	lock_acquire(&thread_lock);
	*out = retired;
	for (struct thread *t = threads.next; t != &threads; t = t->next)
		add_counters(out, &t->cache);
	lock_release(&thread_lock);
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
