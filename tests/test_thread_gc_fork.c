/* test_thread_gc_fork — fork() from a multi-threaded program.
 *
 * Three threads allocate, check and drop linked lists in a loop while the
 * main thread forks several times.  Each child (where only the forking
 * thread exists) checks a list the main thread built before forking,
 * builds its own, collects, starts a thread that allocates, collects and
 * checks a list of its own, joins it, checks everything again and exits 0.
 * The parent requires each child to exit with status 0, then stops its
 * threads and checks its own list.
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <mgc.h>

#define NTHREADS 3
#define NFORKS (UNDER_TSAN ? 2 : 8)
#define LIST_NODES 200
#define CHILD_NODES 2000
/* A child that deadlocks (say on a lock held by a thread of the parent at
 * the fork) is ended by this alarm instead of outliving the test. */
#define CHILD_WATCHDOG_SECS 240

#if UNDER_TSAN
/* The child starts a thread after a multi-threaded fork, which ThreadSanitizer
 * refuses by default.  Visible to its runtime despite -fvisibility=hidden. */
__attribute__((visibility("default"))) const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *
__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

struct node {
	struct node *next;
	uint64_t key;
	uint64_t *payload;	/* noscan, 4 words */
	uint64_t check;
};

static atomic_bool stop;
static atomic_long rounds[NTHREADS];
static struct node *volatile before_fork;	/* the main thread's list */

static uint64_t
node_sum(const struct node *n)
{
	return check_mix(check_mix((uint64_t)(uintptr_t)n->next ^ n->key) ^ (uint64_t)(uintptr_t)n->payload);
}

static struct node *
build_list(int count, uint64_t seed)
{
	struct node *head = NULL;

	for (int i = 0; i < count; i++) {
		struct node *n = mgc_alloc(sizeof *n);

		CHECK(n != NULL, "mgc_alloc of a node failed (errno %d)", errno);
		n->payload = mgc_alloc_noscan(4 * sizeof *n->payload);
		CHECK(n->payload != NULL, "mgc_alloc_noscan failed (errno %d)", errno);
		n->key = seed + (uint64_t)i;
		for (int k = 0; k < 4; k++)
			n->payload[k] = check_mix(n->key + (uint64_t)k);
		n->next = head;
		n->check = node_sum(n);
		head = n;
	}
	return head;
}

static void
verify_list(const struct node *head, int count, uint64_t seed, const char *what)
{
	int i = count;

	for (const struct node *n = head; n != NULL; n = n->next) {
		i--;
		CHECK(i >= 0, "%s: too many nodes", what);
		CHECK(mgc_base(n, NULL) == n && n->check == node_sum(n) &&
		      n->key == seed + (uint64_t)i, "%s: node %d (%p) is corrupt", what, i,
		      (const void *)n);
		CHECK(mgc_base(n->payload, NULL) == n->payload, "%s: payload of node %d freed",
		      what, i);
		for (int k = 0; k < 4; k++)
			CHECK(n->payload[k] == check_mix(n->key + (uint64_t)k), "%s: payload of node %d "
			      "is corrupt", what, i);
	}
	CHECK(i == 0, "%s: %d nodes missing", what, i);
}

static void *
allocator_main(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (long r = 0; !atomic_load(&stop); r++) {
		uint64_t seed = (uint64_t)id << 48 | (uint64_t)r << 16;
		struct node *l = build_list(LIST_NODES, seed);

		verify_list(l, LIST_NODES, seed, "allocating thread");
		atomic_store(&rounds[id], r + 1);
	}
	return NULL;
}

static void *
child_thread_main(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg;
	struct node *l = build_list(LIST_NODES, seed);

	mgc_collect();
	verify_list(l, LIST_NODES, seed, "thread started in the child");
	return NULL;
}

static void
child(int f)
{
	uint64_t seed = (uint64_t)(f + 1) << 32;
	struct node *volatile mine;
	pthread_t t;

	alarm(CHILD_WATCHDOG_SECS);
	verify_list(before_fork, LIST_NODES, 7, "child: the list made before the fork");
	mine = build_list(CHILD_NODES, seed);
	mgc_collect();
	verify_list(mine, CHILD_NODES, seed, "child: its own list");
	check_thread_in_child(&t, child_thread_main, (void *)(uintptr_t)(seed + 1000000));
	CHECK(pthread_join(t, NULL) == 0, "child: pthread_join");
	mgc_collect();
	verify_list(mine, CHILD_NODES, seed, "child: its own list at the end");
	verify_list(before_fork, LIST_NODES, 7, "child: the list made before the fork, at the end");
	fflush(NULL);
	_exit(0);
}

static void
fork_once(int f)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child(f);
	while (waitpid(pid, &status, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %d: the child %s %d", f,
	      WIFEXITED(status) ? "exited with status" : "was killed by signal",
	      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Waits until every allocating thread has completed `n` rounds. */
static void
await_rounds(long n)
{
	for (int i = 0; i < NTHREADS; i++)
		while (atomic_load(&rounds[i]) < n)
			sched_yield();
}

int
main(void)
{
	pthread_t t[NTHREADS];

	before_fork = build_list(LIST_NODES, 7);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, allocator_main, (void *)(intptr_t)i) == 0,
		      "pthread_create");
	for (int f = 0; f < NFORKS; f++) {
		await_rounds(f + 1);
		fork_once(f);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
	mgc_collect();
	verify_list(before_fork, LIST_NODES, 7, "parent: the list made before the forks");
	return 0;
}
