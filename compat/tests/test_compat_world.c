/* test_compat_world — libmgc-gc.so's calls that stop threads and move
 * stacks: GC_suspend_thread, GC_resume_thread and GC_is_thread_suspended
 * (javaxfc.h: a suspended thread counts no more while collections run,
 * and its blocks survive them), GC_stop_world_external and
 * GC_start_world_external (nothing runs in between; GC_alloc_lock is
 * held), GC_atfork_prepare/_parent/_child around fork() (the handlers run
 * once: a second run would deadlock), GC_get_my_stackbottom and
 * GC_set_stackbottom (a round trip, and a coroutine whose blocks survive
 * collections once its stack bottom is set), GC_register_altstack (a
 * handler on a signal stack keeps its blocks), GC_thread_is_registered
 * for a thread that only called the collector, and the suspension of a
 * thread that may have returned but is not joined (suspended until
 * resumed, as Boehm keeps its record until the join). */
#define _GNU_SOURCE 1
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <javaxfc.h>
#include <ucontext.h>

enum { CHAIN = 1000 };

static void **
make_chain(uintptr_t seed)
{
	void **head = NULL;
	for (int i = 0; i < CHAIN; i++) {
		void **n = GC_malloc(4 * sizeof *n);
		CHECK(n != NULL, "allocation failed");
		n[0] = head;
		n[1] = (void *)(seed + (uintptr_t)i);
		head = n;
	}
	return head;
}

static void
check_chain(void **head, uintptr_t seed)
{
	for (int i = CHAIN - 1; i >= 0; i--, head = head[0]) {
		CHECK(head != NULL && GC_base(head) == head, "chain cut at node %d", i);
		CHECK(head[1] == (void *)(seed + (uintptr_t)i), "chain node %d overwritten", i);
	}
}

static void
garbage_and_collect(void)
{
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 20000; i++)
			CHECK(GC_malloc(32) != NULL, "allocation failed");
		GC_gcollect();
	}
}

static void
pause_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- a worker that counts ------------------------------------------------- */

static atomic_long count;
static atomic_bool stop, started;

static void *
work(void *arg)
{
	(void)arg;
	void **volatile chain = make_chain(100);
	atomic_store(&started, true);
	while (!atomic_load(&stop)) {
		atomic_fetch_add(&count, 1);
		CHECK(GC_malloc(64) != NULL, "allocation in the worker failed");
	}
	check_chain(chain, 100);
	return NULL;
}

static bool
counting(void)
{
	long c = atomic_load(&count);
	pause_ms(30);
	return atomic_load(&count) != c;
}

static void
check_suspend(pthread_t t)
{
	CHECK(!GC_is_thread_suspended(t), "a running thread reads as suspended");
	GC_suspend_thread(t);
	CHECK(GC_is_thread_suspended(t), "a suspended thread reads as running");
	CHECK(!counting(), "the suspended thread counts");
	garbage_and_collect();
	CHECK(!counting(), "the suspended thread counted during collections");
	GC_resume_thread(t);
	CHECK(!GC_is_thread_suspended(t), "a resumed thread reads as suspended");
	for (int i = 0; i < 100 && !counting(); i++)
		;
	CHECK(counting(), "the resumed thread does not count");
}

static atomic_bool locked_out;

static void *
take_alloc_lock(void *arg)
{
	(void)arg;
	GC_alloc_lock();
	atomic_store(&locked_out, true);
	GC_alloc_unlock();
	return NULL;
}

static void
check_stop_world(void)
{
	pthread_t t;
	atomic_store(&locked_out, false);
	GC_stop_world_external();
	CHECK(pthread_create(&t, NULL, take_alloc_lock, NULL) == 0, "pthread_create");
	long c = atomic_load(&count);
	struct timespec ts = {0, 30000000L};
	nanosleep(&ts, NULL);
	bool moved = atomic_load(&count) != c, lock_taken = atomic_load(&locked_out);
	GC_start_world_external();
	CHECK(!moved, "the worker counted with the world stopped");
	CHECK(!lock_taken, "GC_alloc_lock was free with the world stopped");
	CHECK(pthread_join(t, NULL) == 0 && atomic_load(&locked_out), "the lock was not released");
	for (int i = 0; i < 100 && !counting(); i++)
		;
	CHECK(counting(), "the worker does not count after GC_start_world_external");
}

static void
check_atfork(void)
{
	void **volatile chain = make_chain(200);
	GC_atfork_prepare();
	pid_t pid = fork(); /* its handlers do nothing: the steps ran already */
	if (pid == 0) {
		GC_atfork_child();
		garbage_and_collect();
		check_chain(chain, 200);
		_exit(0);
	}
	GC_atfork_parent();
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork failed");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x)",
	      status);
	garbage_and_collect();
	check_chain(chain, 200);
}

/* ---- stacks ------------------------------------------------------------------- */

static ucontext_t main_ctx, coro_ctx;

static void
coro(void)
{
	void **volatile chain = make_chain(300);
	garbage_and_collect();
	check_chain(chain, 300);
	swapcontext(&coro_ctx, &main_ctx);
}

static void
check_stackbottom(void)
{
	struct GC_stack_base sb, mine;
	void *h = GC_get_my_stackbottom(&mine);
	int local;
	CHECK(h != NULL && (char *)mine.mem_base > (char *)&local, "GC_get_my_stackbottom");
	enum { SIZE = 256 << 10 };
	char *stack = malloc(SIZE);
	CHECK(stack != NULL, "malloc failed");
	getcontext(&coro_ctx);
	coro_ctx.uc_stack.ss_sp = stack;
	coro_ctx.uc_stack.ss_size = SIZE;
	coro_ctx.uc_link = &main_ctx;
	makecontext(&coro_ctx, coro, 0);
	sb.mem_base = stack + SIZE;
	GC_set_stackbottom(h, &sb);
	GC_get_my_stackbottom(&sb);
	CHECK(sb.mem_base == stack + SIZE, "GC_set_stackbottom did not move the bottom");
	swapcontext(&main_ctx, &coro_ctx); /* collects on the coroutine's stack */
	GC_set_stackbottom(NULL, &mine);
	GC_get_my_stackbottom(&sb);
	CHECK(sb.mem_base == mine.mem_base, "the bottom was not restored");
	garbage_and_collect();
	free(stack);
}

static atomic_int phase;
static void **volatile from_handler;

static void
on_signal(int sig)
{
	(void)sig;
	void **volatile chain = make_chain(400);
	atomic_store(&phase, 1);
	while (atomic_load(&phase) != 2)
		sched_yield();
	check_chain(chain, 400);
	from_handler = chain;
}

static void *
alt_thread(void *arg)
{
	(void)arg;
	pthread_attr_t attr;
	void *stack;
	size_t size;
	CHECK(pthread_getattr_np(pthread_self(), &attr) == 0, "pthread_getattr_np");
	pthread_attr_getstack(&attr, &stack, &size);
	pthread_attr_destroy(&attr);
	stack_t ss = {.ss_sp = malloc(1 << 20), .ss_size = 1 << 20};
	CHECK(ss.ss_sp != NULL && sigaltstack(&ss, NULL) == 0, "sigaltstack failed");
	GC_register_altstack(stack, size, ss.ss_sp, ss.ss_size);
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction failed");
	void **volatile chain = make_chain(500);
	raise(SIGUSR2);
	check_chain(chain, 500);
	check_chain(from_handler, 400);
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL);
	free(ss.ss_sp);
	return NULL;
}

static void
check_altstack(void)
{
	pthread_t t;
	CHECK(GC_pthread_create(&t, NULL, alt_thread, NULL) == 0, "GC_pthread_create");
	while (atomic_load(&phase) != 1)
		sched_yield();
	garbage_and_collect(); /* the thread is stopped on its signal stack */
	atomic_store(&phase, 2);
	CHECK(GC_pthread_join(t, NULL) == 0, "GC_pthread_join");
}

static atomic_int implicit_registered = -1;

static void *
implicit(void *arg)
{
	(void)arg;
	int before = GC_thread_is_registered();
	CHECK(GC_malloc(10) != NULL, "allocation failed");
	atomic_store(&implicit_registered, before * 2 + GC_thread_is_registered());
	return NULL;
}

static void
check_registered(void)
{
	pthread_t t;
	CHECK(GC_thread_is_registered(), "the main thread is not registered");
	CHECK(pthread_create(&t, NULL, implicit, NULL) == 0 && pthread_join(t, NULL) == 0,
	      "pthread_create");
	CHECK(atomic_load(&implicit_registered) == 1,
	      "a plain thread: registered %d before its first allocation, %d after",
	      atomic_load(&implicit_registered) / 2, atomic_load(&implicit_registered) % 2);
}

static void *
return_at_once(void *arg)
{
	return arg;
}

static void
check_suspend_returned(void)
{
	for (int i = 0; i < 50; i++) {
		pthread_t t;
		CHECK(GC_pthread_create(&t, NULL, return_at_once, NULL) == 0, "GC_pthread_create");
		if (i % 2)
			sched_yield(); /* now and then let it return first */
		GC_suspend_thread(t);
		CHECK(GC_is_thread_suspended(t),
		      "a thread named by GC_suspend_thread is suspended");
		GC_resume_thread(t);
		CHECK(!GC_is_thread_suspended(t), "resumed");
		CHECK(GC_pthread_join(t, NULL) == 0, "GC_pthread_join");
	}
}

int
main(void)
{
	GC_INIT();
	check_suspend_returned();
	pthread_t t;
	CHECK(GC_pthread_create(&t, NULL, work, NULL) == 0, "GC_pthread_create");
	while (!atomic_load(&started))
		sched_yield();
	check_suspend(t);
	check_stop_world();
	check_atfork();
	atomic_store(&stop, true);
	CHECK(GC_pthread_join(t, NULL) == 0, "GC_pthread_join");
	check_stackbottom();
	check_altstack();
	check_registered();
	printf("test_compat_world: ok\n");
	return 0;
}
