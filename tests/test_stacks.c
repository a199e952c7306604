/* test_stacks — stacks the program chooses: mgc_stack_bottom and
 * mgc_set_stack_bottom with a coroutine on a malloc'ed stack, and
 * mgc_register_altstack with a signal handler on a signal stack.
 *
 * Coroutine: a function run with swapcontext on a malloc'ed stack moves
 * its thread's stack bottom there, keeps a chain of blocks in its locals
 * only and collects (with garbage allocated in between, which would
 * reuse the chain had it been freed): the chain is intact.  Back on the
 * thread's stack the bottom is restored.
 *
 * Signal stack: a thread registers its signal stack and normal stack,
 * then a handler running on the signal stack keeps a chain in its locals
 * and waits while the main thread collects: both that chain and one held
 * by the interrupted frames on the normal stack are intact. */
#define _GNU_SOURCE 1
#include "check.h"

#include <mgc.h>
#include <ucontext.h>

enum { CHAIN = 1000, NODE_WORDS = 4, CORO_STACK = 256 << 10 };

static void **
make_chain(uint64_t seed)
{
	void **head = NULL;
	for (int i = 0; i < CHAIN; i++) {
		uint64_t *n = mgc_alloc(NODE_WORDS * sizeof *n);
		CHECK(n != NULL, "allocation failed");
		check_fill(n + 1, NODE_WORDS - 1, seed + (uint64_t)i);
		n[0] = (uint64_t)(uintptr_t)head;
		head = (void **)n;
	}
	return head;
}

static void
check_chain(void **head, uint64_t seed)
{
	for (int i = CHAIN - 1; i >= 0; i--) {
		uint64_t *n = (uint64_t *)head;
		CHECK(n != NULL && mgc_base(n, NULL) == n, "chain cut at node %d", i);
		CHECK_PATTERN(n + 1, NODE_WORDS - 1, seed + (uint64_t)i, "chain node");
		head = (void **)(uintptr_t)n[0];
	}
}

static __attribute__((noinline)) void
garbage_and_collect(void)
{
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 20000; i++)
			CHECK(mgc_alloc(NODE_WORDS * 8) != NULL, "allocation failed");
		mgc_collect();
	}
}

/* ---- coroutine ------------------------------------------------------------ */

static ucontext_t main_ctx, coro_ctx;
static char *coro_stack;

static void
coro(void)
{
	void **volatile chain = make_chain(11);
	garbage_and_collect();
	check_chain(chain, 11);
	swapcontext(&coro_ctx, &main_ctx);
}

static void
check_coroutine(void)
{
	void *bottom = mgc_stack_bottom(pthread_self());
	int local;
	CHECK(bottom != NULL && (char *)bottom > (char *)&local,
	      "mgc_stack_bottom of this thread: %p", bottom);
	coro_stack = malloc(CORO_STACK);
	CHECK(coro_stack != NULL, "malloc failed");
	getcontext(&coro_ctx);
	coro_ctx.uc_stack.ss_sp = coro_stack;
	coro_ctx.uc_stack.ss_size = CORO_STACK;
	coro_ctx.uc_link = &main_ctx;
	makecontext(&coro_ctx, coro, 0);
	CHECK(mgc_set_stack_bottom(pthread_self(), coro_stack + CORO_STACK) == 0,
	      "mgc_set_stack_bottom failed");
	CHECK(mgc_stack_bottom(pthread_self()) == coro_stack + CORO_STACK, "bottom not moved");
	swapcontext(&main_ctx, &coro_ctx);
	CHECK(mgc_set_stack_bottom(pthread_self(), bottom) == 0, "restoring the bottom failed");
	void **volatile chain = make_chain(12);
	garbage_and_collect();
	check_chain(chain, 12);
	errno = 0;
	CHECK(mgc_set_stack_bottom(pthread_self(), NULL) == -1 && errno == EINVAL,
	      "a NULL bottom: EINVAL");
	free(coro_stack);
}

/* ---- signal stack ----------------------------------------------------------- */

static atomic_int phase; /* 1: the handler holds its chain; 2: collections done */
static void **volatile held_by_handler;

static void
on_signal(int sig)
{
	(void)sig;
	void **volatile chain = make_chain(21);
	int here;
	CHECK(mgc_is_root(&here), "the signal stack is not a root here");
	atomic_store(&phase, 1);
	while (atomic_load(&phase) != 2)
		sched_yield();
	check_chain(chain, 21);
	held_by_handler = chain;
}

static void *
alt_thread(void *arg)
{
	(void)arg;
	pthread_attr_t attr;
	void *stack;
	size_t size;
	CHECK(pthread_getattr_np(pthread_self(), &attr) == 0, "pthread_getattr_np failed");
	pthread_attr_getstack(&attr, &stack, &size);
	pthread_attr_destroy(&attr);
	stack_t ss = {.ss_sp = malloc(1 << 20), .ss_size = 1 << 20};
	CHECK(ss.ss_sp != NULL && sigaltstack(&ss, NULL) == 0, "sigaltstack failed");
	CHECK(mgc_register_altstack(stack, size, ss.ss_sp, ss.ss_size) == 0,
	      "mgc_register_altstack failed");
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction failed");
	void **volatile chain = make_chain(22);
	raise(SIGUSR1);
	check_chain(chain, 22);
	check_chain(held_by_handler, 21);
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL);
	free(ss.ss_sp);
	return NULL;
}

static void
check_altstack(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, alt_thread, NULL) == 0, "pthread_create failed");
	while (atomic_load(&phase) != 1)
		sched_yield();
	garbage_and_collect();
	atomic_store(&phase, 2);
	CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
	errno = 0;
	CHECK(mgc_register_altstack(NULL, 10, &t, 10) == -1 && errno == EINVAL,
	      "a NULL stack: EINVAL");
}

int
main(void)
{
	mgc_register_thread();
	check_coroutine();
	check_altstack();
	printf("test_stacks: ok\n");
	return 0;
}
