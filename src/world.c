/* world.c — stopping and starting the world; the only file that touches
 * signals.
 *
 * The protocol, as in the Boehm collector and Go's preemption: the
 * collecting thread bumps `epoch` to an odd value and sends the suspend
 * signal (SIGPWR, or MGC_SIGNAL_SUSPEND) to every other registered thread.
 * Each handler spills the registers onto its stack (they are scanned with
 * it), publishes its stack pointer in its record, acknowledges on a
 * semaphore and waits in sigsuspend, where only the restart signal (SIGXCPU,
 * or MGC_SIGNAL_RESTART) is let through, until the epoch moves on.  The
 * collector waits for every acknowledgement, works, then bumps the epoch
 * back to even and sends the restart signal.  (Under ThreadSanitizer the
 * stopped threads wait on the epoch with a futex instead; see wait_restart.)
 * While it waits, every RESEND_MS without an acknowledgement, it sends the
 * suspend signal again to each thread that has not stopped, as the Boehm
 * collector does: ThreadSanitizer's runtime, which takes every signal
 * first and hands it to the program later, has been seen to leave a thread
 * running long after its stop signal.  A second signal is harmless: a
 * thread stops once per stop (stop_wanted).
 *
 * A thread that is inside a busy section (changing its cache without a
 * lock, or holding an allocator lock: internal.h) when the signal lands
 * does not stop there: the handler records the request and returns, and
 * busy_leave stops the thread as soon as the section ends; busy sections
 * wait for nothing the collector holds, and end quickly.
 *
 * Both handlers are installed with SA_RESTART, so a thread blocked in
 * read() or similar resumes the call rather than seeing EINTR.  Calls the
 * kernel never restarts (sleeps, poll, select, epoll_wait) may return EINTR,
 * as with any signal; see the header.
 *
 * Suspending one thread (mgc_suspend_thread) takes the same path: under
 * the gc and thread locks, so never during a stop, the thread's record is
 * marked SUSPEND_ASKED and the suspend signal sent; the handler (or the
 * busy_leave it defers to) sees no stop under way but the request, and
 * parks: it publishes its stack pointer, marks itself SUSPEND_PARKED,
 * acknowledges and waits on a futex until mgc_resume_thread, also under
 * the gc lock, clears the mark.  A parked thread is already stopped, with
 * its stack pointer published: world_stop neither signals nor waits for
 * it, and the collector scans it as any other.  A thread that suspends
 * itself parks the same way without the signal.
 *
 * mgc_stop_world and mgc_start_world give a program the collector's stop:
 * the gc and thread locks are held from the one to the other.
 *
 * Locking: world_stop and world_start are called with the gc and thread
 * locks held.  Threads holding allocator locks are busy, so none is stopped
 * holding one (internal.h).  Between the two, world_stopped_here is true on
 * the calling thread alone: the _stopped functions of every file assert it.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { SUSPEND_NONE, SUSPEND_ASKED, SUSPEND_PARKED };

static sem_t acks;             /* [atomic] one post per stopped thread */
static _Atomic unsigned epoch; /* [atomic] odd while the world is stopped */
/* [owner] this thread has the world stopped: set by world_stop once every
 * other thread has stopped, cleared by world_start before any restarts.
 * Read by the debug checks of the _stopped functions (world_stopped_here). */
static __thread bool stopped_by_me;

#if MGC_TSAN
/* Under ThreadSanitizer a stopped thread waits on the epoch word with a
 * futex, and world_start wakes them all, instead of the restart signal.
 * Its runtime runs a signal that lands outside a blocking call later, from
 * a routine that blocks every signal and saves the mask in one per-thread
 * slot; the restart signal, taken in sigsuspend inside the suspend handler
 * that routine is already running, re-enters it, which overwrites the slot
 * with the full mask: the thread would keep every signal blocked for good
 * and never stop again.  The raw system call is not intercepted. */
static void
wait_restart(unsigned stopped)
{
	while (atomic_load(&epoch) == stopped)
		syscall(SYS_futex, &epoch, FUTEX_WAIT_PRIVATE, stopped, NULL, NULL, 0);
}

static void
wake_threads(void)
{
	syscall(SYS_futex, &epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
/* Wait in sigsuspend, where only the restart signal is let through. */
static void
wait_restart(unsigned stopped)
{
	sigset_t wait;
	sigfillset(&wait);
	sigdelset(&wait, knobs.sig_restart);
	while (atomic_load(&epoch) == stopped)
		sigsuspend(&wait);
}

static void
wake_threads(void)
{
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t))
		if (t != tls_thread)
			pthread_kill(t->id, knobs.sig_restart);
}
#endif

/* Publish this thread's stack pointer, acknowledge, and wait for the
 * restart.  The restart signal must be blocked on entry. */
static void
suspend_here(struct thread *t)
{
	unsigned stopped = atomic_load(&epoch);
	__builtin_unwind_init(); /* callee-saved registers onto this frame */
	volatile uintptr_t marker = 0;
	atomic_store_explicit(&t->stack_lo, (uintptr_t)&marker, memory_order_release);
	atomic_store(&t->stopped_in, stopped);
	sem_post(&acks);
	wait_restart(stopped);
	(void)marker;
}

/* Park this thread for mgc_suspend_thread until mgc_resume_thread: as
 * suspend_here, but the mark in t->suspend is what it waits on.  From the
 * suspend handler (signalled: acknowledge), or from mgc_suspend_thread on
 * the thread itself, which holds the gc lock until the mark is set. */
static void
park_here(struct thread *t, bool signalled)
{
	__builtin_unwind_init();
	volatile uintptr_t marker = 0;
	atomic_store_explicit(&t->stack_lo, (uintptr_t)&marker, memory_order_release);
	atomic_store(&t->suspend, SUSPEND_PARKED);
	if (signalled)
		sem_post(&acks);
	else
		lock_release(&gc_lock);
	while (atomic_load(&t->suspend) == SUSPEND_PARKED)
		syscall(SYS_futex, &t->suspend, FUTEX_WAIT_PRIVATE, SUSPEND_PARKED, NULL, NULL, 0);
	(void)marker;
}

static bool
park_wanted(const struct thread *t)
{
	return t != NULL && atomic_load(&t->suspend) == SUSPEND_ASKED;
}

/* True when the world is being stopped and this thread has not stopped for
 * it yet.  A thread may be asked twice for one stop (a signal that arrives
 * late, or a poll, see world_poll); it stops once. */
static bool
stop_wanted(const struct thread *t)
{
	unsigned e = atomic_load(&epoch);
	return t != NULL && (e & 1) && atomic_load(&t->linked) && atomic_load(&t->stopped_in) != e;
}

static void
on_suspend(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	(void)ctx;
	int saved = errno;
	struct thread *t = tls_thread;
	if (stop_wanted(t) || park_wanted(t)) {
		if (atomic_load_explicit(&t->cache.busy, memory_order_relaxed))
			atomic_store_explicit(&t->cache.stop_pending, 1, memory_order_relaxed);
		else if (stop_wanted(t))
			suspend_here(t);
		else
			park_here(t, true);
	}
	errno = saved;
}

static void
on_restart(int sig)
{
	(void)sig; /* only wakes sigsuspend */
}

void
world_deferred_stop(struct cache *c)
{
	atomic_store_explicit(&c->stop_pending, 0, memory_order_relaxed);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, knobs.sig_suspend);
	sigaddset(&block, knobs.sig_restart);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (stop_wanted(tls_thread))
		suspend_here(tls_thread);
	else if (park_wanted(tls_thread))
		park_here(tls_thread, true);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

bool
world_spawn_quiet(void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

void
world_poll(void)
{
	struct thread *t = tls_thread;
	if ((stop_wanted(t) || park_wanted(t)) &&
	    atomic_load_explicit(&t->cache.busy, memory_order_relaxed) == 0)
		world_deferred_stop(&t->cache);
}

void
world_init(void)
{
	struct sigaction sa = {0};
	if (sem_init(&acks, 0, 0) != 0)
		fatal("mgc: sem_init failed");
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sa.sa_sigaction = on_suspend;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, knobs.sig_restart);
	if (sigaction(knobs.sig_suspend, &sa, NULL) != 0)
		fatal("mgc: cannot install the suspend handler for signal %d", knobs.sig_suspend);
	struct sigaction sr = {0};
	sr.sa_flags = SA_RESTART;
	sr.sa_handler = on_restart;
	sigemptyset(&sr.sa_mask);
	if (sigaction(knobs.sig_restart, &sr, NULL) != 0)
		fatal("mgc: cannot install the restart handler for signal %d", knobs.sig_restart);
}

enum { RESEND_MS = 50 };

/* Wait for n acknowledgements on acks; after each RESEND_MS without one,
 * call resend(arg) to signal again the threads that have not stopped. */
static void
wait_acks(size_t n, void (*resend)(void *), void *arg)
{
	for (size_t i = 0; i < n;) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += RESEND_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (sem_timedwait(&acks, &until) == 0)
			i++;
		else if (errno == ETIMEDOUT)
			resend(arg);
		else if (errno != EINTR)
			fatal("mgc: sem_timedwait failed while stopping threads");
	}
}

static void
send_suspend(struct thread *t)
{
	int err = pthread_kill(t->id, knobs.sig_suspend);
	if (err != 0)
		fatal("mgc: cannot signal a registered thread (error %d): did it exit "
		      "without unregistering?",
		      err);
}

/* The threads a stop is still waiting for. */
static void
stop_resend(void *arg)
{
	(void)arg;
	unsigned e = atomic_load(&epoch);
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t))
		if (t != tls_thread && atomic_load(&t->suspend) != SUSPEND_PARKED &&
		    atomic_load(&t->stopped_in) != e)
			send_suspend(t);
}

size_t
world_stop(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	atomic_fetch_add(&epoch, 1);
	size_t n = 0;
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t)) {
		if (t == tls_thread || atomic_load(&t->suspend) == SUSPEND_PARKED)
			continue;
		send_suspend(t);
		n++;
	}
	wait_acks(n, stop_resend, NULL);
	if (MGC_DEBUG)
		for (struct thread *t = thread_first(); t != NULL; t = thread_next(t))
			if (t != tls_thread && atomic_load(&t->suspend) != SUSPEND_PARKED &&
			    atomic_load(&t->stopped_in) != atomic_load(&epoch))
				fatal("mgc: internal error: a thread acknowledged without "
				      "stopping");
	stopped_by_me = true;
	return n;
}

void
world_start(void)
{
	MGC_ASSERT(stopped_by_me);
	stopped_by_me = false;
	atomic_fetch_add(&epoch, 1);
	wake_threads();
}

bool
world_stopped_here(void)
{
	return stopped_by_me;
}

void
world_after_fork_child(void)
{
	stopped_by_me = false;
	/* The world is running again: it is just us.  (Forks stop the world
	 * only under ThreadSanitizer: gc.c.) */
	if (atomic_load(&epoch) & 1)
		atomic_fetch_add(&epoch, 1);
	sem_destroy(&acks);
	if (sem_init(&acks, 0, 0) != 0)
		fatal("mgc: sem_init failed");
}

/* ---- the program's stops ------------------------------------------------- */

/* The thread mgc_suspend_thread is still waiting for. */
static void
park_resend(void *arg)
{
	struct thread *t = arg;
	if (atomic_load(&t->suspend) != SUSPEND_PARKED)
		send_suspend(t);
}

int
mgc_suspend_thread(pthread_t id)
{
	if (thread_attach() == NULL) {
		errno = ENOMEM;
		return -1;
	}
	lock_acquire(&gc_lock);
	thread_lock_registry();
	struct thread *t = thread_find_locked(id);
	bool self = t == tls_thread, ask = t != NULL && atomic_load(&t->suspend) == SUSPEND_NONE;
	if (ask && !self) {
		atomic_store(&t->suspend, SUSPEND_ASKED);
		send_suspend(t);
		wait_acks(1, park_resend, t);
	}
	thread_unlock_registry();
	if (ask && self) {
		park_here(t, false); /* releases the gc lock */
		return 0;
	}
	lock_release(&gc_lock);
	if (t == NULL) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int
mgc_resume_thread(pthread_t id)
{
	mgc_init();
	lock_acquire(&gc_lock);
	thread_lock_registry();
	struct thread *t = thread_find_locked(id);
	if (t != NULL && atomic_load(&t->suspend) == SUSPEND_PARKED) {
		atomic_store(&t->suspend, SUSPEND_NONE);
		syscall(SYS_futex, &t->suspend, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	}
	thread_unlock_registry();
	lock_release(&gc_lock);
	if (t == NULL) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int
mgc_thread_is_suspended(pthread_t id)
{
	mgc_init();
	thread_lock_registry();
	struct thread *t = thread_find_locked(id);
	int parked = t != NULL && atomic_load(&t->suspend) == SUSPEND_PARKED;
	thread_unlock_registry();
	if (t == NULL) {
		errno = ESRCH;
		return -1;
	}
	return parked;
}

static __thread bool stopped_by_program; /* [owner] between mgc_stop_world and mgc_start_world */

void
mgc_stop_world(void)
{
	mgc_init();
	if (stopped_by_program)
		fatal("mgc: mgc_stop_world called twice without mgc_start_world");
	lock_acquire(&gc_lock);
	thread_lock_registry();
	world_stop();
	stopped_by_program = true;
}

void
mgc_start_world(void)
{
	if (!stopped_by_program)
		fatal("mgc: mgc_start_world without mgc_stop_world");
	stopped_by_program = false;
	world_start();
	thread_unlock_registry();
	lock_release(&gc_lock);
}

int
mgc_each_stopped_thread(void (*fn)(pthread_t thread, void *arg), void *arg)
{
	if (!stopped_by_me) {
		errno = EPERM;
		return -1;
	}
	int n = 0;
	for (struct thread *t = thread_first(); t != NULL; t = thread_next(t))
		if (t != tls_thread) {
			fn(t->id, arg);
			n++;
		}
	return n;
}
