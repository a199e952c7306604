/* test_thread_fork_stress — no child forked from a busy program may hang.
 *
 * usage: test_thread_fork_stress [THREADS [SCALE [ITER]]]
 *   THREADS  worker threads (default 3)
 *   SCALE    multiplies the blocks each worker and each child allocates
 *   ITER     forks (default 200, fewer under TSan)
 *
 * The main thread forks ITER times, one child after the other, while the
 * other threads use every lock mgc has.  Workers build lists of nodes with
 * small and large noscan payloads, finalizers, cleanups and weak handles,
 * reallocate and explicitly free payloads, allocate and free scratch
 * blocks, check everything they can reach, read the statistics and
 * collect.  A churn thread keeps starting threads that register, allocate
 * and exit, every other one unregistering explicitly (registering and
 * leaving allocate and free the thread's record while it is not
 * registered).  A reader thread reads the statistics in a loop without
 * ever registering, so it takes the heap lock as a thread that no
 * collection stops.
 *
 * Each child checks the list the main thread built before the threads
 * started, builds its own, collects, starts a thread that allocates,
 * collects and checks, joins it, runs finalizers of its own garbage, checks
 * everything again and leaves with _exit(0).  A child that has not exited
 * CHILD_SECS after the fork is killed and counted as hung; one that fails
 * a check or dies of a signal is counted as failed.  The parent forks on
 * after either and fails at the end with the counts if any child hung or
 * failed, then checks that every thread made progress and that its own list
 * is intact.
 */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <mgc.h>

#define USAGE           "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS 3
#define MAX_THREADS     32
#define DEFAULT_FORKS   (UNDER_TSAN ? 12 : 200)
#define LIST_NODES      64   /* per unit of SCALE */
#define LARGE_WORDS     5000 /* 40000 bytes: a large block of its own span */
#define SCRATCH         24
#define CHILD_FINS      32
/* Time a child gets from the fork to its exit before it counts as hung:
 * it needs well under a second, even with the parent's threads and other
 * programs competing for the CPUs. */
#define CHILD_SECS (UNDER_TSAN ? 60 : 10)

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
	uint64_t *payload; /* noscan, `words` words of pattern `key`; NULL once freed */
	mgc_weak *weak;    /* a handle on this node, or NULL */
	uint64_t key, words;
	uint64_t check;
};

static int scale;
static struct node *volatile before_fork; /* the main thread's list */
static atomic_bool stop;
static atomic_long rounds[MAX_THREADS];
static atomic_long churned, stats_reads;
static atomic_long fins_ran, cleanups_ran;
static atomic_int child_fins_ran; /* in a child: its own finalizers */

/* ---- lists ------------------------------------------------------------------ */

static uint64_t
node_sum(const struct node *n)
{
	uint64_t h = check_mix((uint64_t)(uintptr_t)n->next ^ n->key);

	h = check_mix(h ^ (uint64_t)(uintptr_t)n->payload ^ n->words);
	return check_mix(h ^ (uint64_t)(uintptr_t)n->weak);
}

static void *
must(void *p, size_t size)
{
	CHECK(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
	return p;
}

static void
count_fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	atomic_fetch_add(&fins_ran, 1);
}

static void
count_cleanup(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cleanups_ran, 1);
}

/* Node i of a list: a payload (one in 16 large), and by turns a weak
 * handle, a finalizer or a cleanup. */
static struct node *
make_node(uint64_t key, long i)
{
	struct node *n = must(mgc_alloc(sizeof *n), sizeof *n);

	n->key = key;
	n->words = i % 16 == 15 ? LARGE_WORDS : 1 + check_mix(key) % 32;
	n->payload = must(mgc_alloc_noscan(n->words * 8), n->words * 8);
	check_fill(n->payload, n->words, key);
	if (i % 8 == 0)
		CHECK((n->weak = mgc_weak_new(n)) != NULL, "mgc_weak_new failed");
	else if (i % 8 == 1)
		CHECK(mgc_set_finalizer(n, count_fin, NULL) == 0, "mgc_set_finalizer failed");
	else if (i % 8 == 2)
		CHECK(mgc_add_cleanup(n, count_cleanup, NULL) == 0, "mgc_add_cleanup failed");
	return n;
}

static struct node *
build_list(long count, uint64_t seed)
{
	struct node *head = NULL;

	for (long i = 0; i < count; i++) {
		struct node *n = make_node(seed + (uint64_t)i, i);

		n->next = head;
		n->check = node_sum(n);
		head = n;
	}
	return head;
}

static void
verify_list(const struct node *head, long count, uint64_t seed, const char *what)
{
	long i = count;

	for (const struct node *n = head; n != NULL; n = n->next) {
		i--;
		CHECK(i >= 0, "%s: too many nodes", what);
		CHECK(mgc_base(n, NULL) == n && n->check == node_sum(n) &&
		              n->key == seed + (uint64_t)i,
		      "%s: node %ld (%p) is corrupt", what, i, (const void *)n);
		CHECK(n->weak == NULL || mgc_weak_get(n->weak) == n,
		      "%s: the weak handle of live node %ld lost it", what, i);
		if (n->payload == NULL)
			continue;
		CHECK(mgc_base(n->payload, NULL) == n->payload, "%s: payload of node %ld freed",
		      what, i);
		CHECK_PATTERN(n->payload, n->words, n->key, what);
	}
	CHECK(i == 0, "%s: %ld nodes missing", what, i);
}

/* Grow every 4th payload with mgc_realloc (its pattern must move with it)
 * and free every 5th explicitly. */
static void
rework_list(struct node *head)
{
	long i = 0;

	for (struct node *n = head; n != NULL; n = n->next, i++) {
		if (n->payload == NULL)
			continue;
		if (i % 5 == 4) {
			mgc_free(n->payload);
			n->payload = NULL;
			n->words = 0;
		} else if (i % 4 == 3) {
			n->payload = must(mgc_realloc(n->payload, n->words * 16), n->words * 16);
			CHECK_PATTERN(n->payload, n->words, n->key, "reallocated payload");
			n->words *= 2;
			check_fill(n->payload, n->words, n->key);
		}
		n->check = node_sum(n);
	}
}

/* Blocks allocated and freed at once: small ones and one large. */
static void
scratch(uint64_t seed)
{
	uint64_t *b[SCRATCH];

	for (int i = 0; i < SCRATCH; i++) {
		size_t words = i == 0 ? LARGE_WORDS : 1 + (size_t)i;

		b[i] = must(i & 1 ? mgc_alloc(words * 8) : mgc_alloc_noscan(words * 8), words * 8);
		check_fill(b[i], words, seed + (uint64_t)i);
	}
	for (int i = SCRATCH - 1; i >= 0; i--) {
		CHECK_PATTERN(b[i], i == 0 ? LARGE_WORDS : 1 + (size_t)i, seed + (uint64_t)i,
		              "scratch block");
		mgc_free(b[i]);
	}
}

/* ---- the parent's threads ------------------------------------------------- */

static void *
worker_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	long count = LIST_NODES * scale;
	struct node *volatile kept = NULL;
	uint64_t kept_seed = 0;
	mgc_stats st;

	for (long r = 0; !atomic_load(&stop); r++) {
		uint64_t seed = (uint64_t)(id + 1) << 48 | (uint64_t)r << 20;
		struct node *l = build_list(count, seed);

		verify_list(l, count, seed, "worker: new list");
		rework_list(l);
		scratch(seed);
		verify_list(l, count, seed, "worker: reworked list");
		if (kept != NULL)
			verify_list(kept, count, kept_seed, "worker: list of the last round");
		if (r % 4 == id % 4) {
			mgc_collect();
			mgc_read_stats(&st);
			CHECK(st.mallocs >= st.frees, "worker: more frees than mallocs");
		}
		kept = l;
		kept_seed = seed;
		atomic_store(&rounds[id], r + 1);
	}
	return NULL;
}

/* A short-lived registered thread; every other one unregisters itself. */
static void *
short_main(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg;
	struct node *l = build_list(LIST_NODES / 4, seed);

	verify_list(l, LIST_NODES / 4, seed, "short-lived thread");
	if (seed & 1)
		CHECK(mgc_unregister_thread() == 0, "mgc_unregister_thread failed");
	return NULL;
}

/* A thread that never registers: mgc_read_stats takes the gc, thread and
 * heap locks without registering the caller, so a collection (or a fork)
 * never waits for it to stop. */
static void *
reader_main(void *arg)
{
	mgc_stats st;

	(void)arg;
	while (!atomic_load(&stop)) {
		mgc_read_stats(&st);
		/* Not mallocs >= frees: the counters are per thread, summed one
		 * after another, so they agree only when no thread allocates
		 * (the header's promise), and here threads always do. */
		CHECK(st.sys > 0, "unregistered thread: odd statistics");
		atomic_fetch_add(&stats_reads, 1);
	}
	return NULL;
}

static void *
churn_main(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; !atomic_load(&stop); i++) {
		pthread_t t;

		CHECK(pthread_create(&t, NULL, short_main, (void *)(uintptr_t)(i << 24 | i)) == 0,
		      "pthread_create (short-lived thread)");
		CHECK(pthread_join(t, NULL) == 0, "pthread_join (short-lived thread)");
		atomic_fetch_add(&churned, 1);
	}
	return NULL;
}

/* ---- the child ------------------------------------------------------------- */

static void
child_fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	atomic_fetch_add(&child_fins_ran, 1);
}

/* Garbage with finalizers, made in a frame of its own that is gone (and
 * cleared) before the collections that should find it. */
static __attribute__((noinline)) void
make_finalizable(void)
{
	for (int i = 0; i < CHILD_FINS; i++) {
		void *p = must(mgc_alloc(48), 48);

		CHECK(mgc_set_finalizer(p, child_fin, NULL) == 0, "child: mgc_set_finalizer");
	}
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
child_finalizers_run(void)
{
	make_finalizable();
	for (int i = 0; i < 20 && atomic_load(&child_fins_ran) == 0; i++) {
		check_clear_stack();
		mgc_collect();
		mgc_run_finalizers();
	}
	CHECK(atomic_load(&child_fins_ran) > 0, "child: none of %d finalizers ran", CHILD_FINS);
}

static _Noreturn void
child(int f)
{
	uint64_t seed = (uint64_t)(f + 1) << 32;
	long count = LIST_NODES * scale;
	struct node *volatile mine;
	mgc_stats st;
	pthread_t t;

	verify_list(before_fork, LIST_NODES, 7, "child: the list made before the fork");
	mine = build_list(count, seed);
	scratch(seed);
	mgc_collect();
	verify_list(mine, count, seed, "child: its own list");
	rework_list(mine);
	check_thread_in_child(&t, child_thread_main, (void *)(uintptr_t)(seed + 1000000));
	CHECK(pthread_join(t, NULL) == 0, "child: pthread_join");
	child_finalizers_run();
	mgc_read_stats(&st);
	CHECK(st.mallocs >= st.frees, "child: more frees than mallocs");
	verify_list(mine, count, seed, "child: its own list at the end");
	verify_list(before_fork, LIST_NODES, 7, "child: the list made before the fork, at the end");
	fflush(NULL);
	_exit(0);
}

int
main(int argc, char **argv)
{
	int nthreads = (int)check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, MAX_THREADS);
	int nforks;
	pthread_t workers[MAX_THREADS], churn, reader;
	struct check_tally t = {0, 0, 0, -1, ""};

	scale = (int)check_arg(argc, argv, USAGE, 2, 1, 1, 64);
	nforks = (int)check_arg(argc, argv, USAGE, 3, DEFAULT_FORKS, 1, 1000000);
	before_fork = build_list(LIST_NODES, 7);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_create(&workers[i], NULL, worker_main, (void *)(intptr_t)i) == 0,
		      "pthread_create (worker)");
	CHECK(pthread_create(&churn, NULL, churn_main, NULL) == 0, "pthread_create (churn)");
	CHECK(pthread_create(&reader, NULL, reader_main, NULL) == 0, "pthread_create (reader)");
	for (int f = 0; f < nforks; f++)
		check_fork_watched(f, child, CHILD_SECS, &t);
	atomic_store(&stop, true);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(workers[i], NULL) == 0, "pthread_join (worker)");
	CHECK(pthread_join(churn, NULL) == 0 && pthread_join(reader, NULL) == 0,
	      "pthread_join (churn, reader)");
	printf("%d forks: %d hung, %d failed\n", t.forks, t.hung, t.failed);
	CHECK(t.hung == 0 && t.failed == 0,
	      "%d of %d children hung (the first at fork %d), %d failed%s%s", t.hung, t.forks,
	      t.first_hung, t.failed, t.failed ? "; the first: " : "", t.first_err);
	for (int i = 0; i < nthreads; i++)
		CHECK(atomic_load(&rounds[i]) > 0, "worker %d never finished a round", i);
	CHECK(atomic_load(&churned) > 0 && atomic_load(&stats_reads) > 0,
	      "the churn or the reader thread never finished a round");
	mgc_collect();
	verify_list(before_fork, LIST_NODES, 7, "parent: the list made before the forks");
	printf("worker rounds:");
	for (int i = 0; i < nthreads; i++)
		printf(" %ld", atomic_load(&rounds[i]));
	printf("; short-lived threads %ld; statistics reads %ld; finalizers %ld, cleanups %ld\n",
	       atomic_load(&churned), atomic_load(&stats_reads), atomic_load(&fins_ran),
	       atomic_load(&cleanups_ran));
	return 0;
}
