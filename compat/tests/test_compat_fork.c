/* test_compat_fork — no child forked from a busy Boehm-API program hangs.
 *
 * usage: test_compat_fork [THREADS [SCALE [ITER]]]
 *   THREADS  worker threads (default 3)
 *   SCALE    multiplies the objects each worker and each child allocates
 *   ITER     forks (default 200)
 *
 * The main thread forks ITER times, one child after the other, while the
 * other threads keep taking the shim's locks and mgc's beneath them.
 * Workers build lists with GC_malloc (payloads with GC_malloc_atomic,
 * grown with GC_realloc), register finalizers and disappearing links and
 * unregister some, allocate and free uncollectable objects, add and remove
 * roots, set the free space divisor (which holds the shim's lock while it
 * calls into mgc), allocate under GC_call_with_alloc_lock, collect with
 * GC_gcollect and run finalizers with GC_invoke_finalizers.  A churn
 * thread starts threads with GC_pthread_create that return an object, and
 * joins or detaches them (the shim keeps the results in a table under its
 * lock).  A reader thread, never registered, loops over the shim's
 * lock-taking getters (GC_get_bytes_since_gc, GC_get_warn_proc) and
 * GC_alloc_lock/GC_alloc_unlock.
 *
 * Each child checks the list the main thread built before the threads
 * started, does all of the above once itself, starts a thread with
 * GC_pthread_create that allocates, collects and checks, joins it, sees
 * finalizers run and disappearing links cleared for garbage of its own,
 * checks everything again and leaves with _exit(0).  A child that has not
 * exited CHILD_SECS after the fork is killed and counted as hung; one that
 * fails a check or dies of a signal is counted as failed.  The parent
 * forks on after either and fails at the end with the counts.
 */
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include "settle.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#define USAGE           "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS 3
#define MAX_THREADS     32
#define DEFAULT_FORKS   200
#define LIST_NODES      64 /* per unit of SCALE */
#define LARGE_WORDS     5000
#define CHILD_OBJS      32
#define ROOT_WORDS      16
/* Time a child gets from the fork to its exit before it counts as hung:
 * it needs well under a second, even with the parent's threads and other
 * programs competing for the CPUs. */
#define CHILD_SECS 10

struct node {
	struct node *next;
	GC_word *payload; /* atomic, `words` words of pattern `key` */
	void *link;       /* a disappearing link to payload, or NULL */
	GC_word key, words;
	GC_word check;
};

static int scale;
static struct node *volatile before_fork;
static atomic_bool stop;
static atomic_long rounds[MAX_THREADS];
static atomic_long churned, reads, fins_ran;
static atomic_long child_fins_ran;
static void *roots[MAX_THREADS][ROOT_WORDS];

/* ---- lists ------------------------------------------------------------------ */

static GC_word
node_sum(const struct node *n)
{
	uint64_t h = check_mix((uint64_t)(uintptr_t)n->next ^ n->key);

	return check_mix(h ^ (uint64_t)(uintptr_t)n->payload ^ n->words);
}

static void *
must(void *p, size_t size)
{
	CHECK(p != NULL, "allocation of %zu bytes failed", size);
	return p;
}

static void GC_CALLBACK
count_fin(void *obj, void *cd)
{
	(void)obj;
	atomic_fetch_add((atomic_long *)cd, 1);
}

/* Node i: a payload (one in 16 large), by turns a finalizer, a
 * disappearing link to its payload (which lives as long as the node), or
 * a link registered and unregistered again.  GC_DUPLICATE is no failure
 * here: the shim keeps the record of a link whose holder an automatic
 * collection reclaimed until its next sweep of the links, so a node
 * allocated where such a holder was finds its link still taken (the stale
 * record is dropped, without writing, at that sweep). */
static struct node *
make_node(GC_word key, long i)
{
	struct node *n = must(GC_malloc(sizeof *n), sizeof *n);
	int rc;

	n->key = key;
	n->words = i % 16 == 15 ? LARGE_WORDS : 1 + check_mix(key) % 32;
	n->payload = must(GC_malloc_atomic(n->words * 8), n->words * 8);
	check_fill((uint64_t *)n->payload, n->words, key);
	if (i % 4 == 0) {
		GC_register_finalizer(n, count_fin, &fins_ran, NULL, NULL);
		return n;
	}
	if (i % 4 == 3)
		return n;
	n->link = n->payload;
	rc = GC_general_register_disappearing_link(&n->link, n->payload);
	CHECK(rc == GC_SUCCESS || rc == GC_DUPLICATE,
	      "GC_general_register_disappearing_link returned %d", rc);
	if (i % 4 == 2 && rc == GC_SUCCESS) {
		CHECK(GC_unregister_disappearing_link(&n->link),
		      "GC_unregister_disappearing_link found nothing");
		n->link = NULL;
	}
	return n;
}

static struct node *
build_list(long count, GC_word seed)
{
	struct node *head = NULL;

	for (long i = 0; i < count; i++) {
		struct node *n = make_node(seed + (GC_word)i, i);

		n->next = head;
		n->check = node_sum(n);
		head = n;
	}
	return head;
}

static void
verify_list(const struct node *head, long count, GC_word seed, const char *what)
{
	long i = count;

	for (const struct node *n = head; n != NULL; n = n->next) {
		i--;
		CHECK(i >= 0, "%s: too many nodes", what);
		CHECK(GC_base((void *)n) == n && n->check == node_sum(n) &&
		              n->key == seed + (GC_word)i,
		      "%s: node %ld (%p) is corrupt", what, i, (const void *)n);
		CHECK(n->link == NULL || n->link == n->payload,
		      "%s: the link of node %ld changed while its object lives", what, i);
		CHECK(GC_base(n->payload) == n->payload, "%s: payload of node %ld freed", what, i);
		CHECK_PATTERN((const uint64_t *)n->payload, n->words, n->key, what);
	}
	CHECK(i == 0, "%s: %ld nodes missing", what, i);
}

/* Grow every 8th payload that has no link with GC_realloc. */
static void
rework_list(struct node *head)
{
	long i = 0;

	for (struct node *n = head; n != NULL; n = n->next, i++) {
		if (i % 8 != 3 || n->link != NULL)
			continue;
		n->payload = must(GC_realloc(n->payload, n->words * 16), n->words * 16);
		CHECK_PATTERN((const uint64_t *)n->payload, n->words, n->key,
		              "reallocated payload");
		n->words *= 2;
		check_fill((uint64_t *)n->payload, n->words, n->key);
		n->check = node_sum(n);
	}
}

/* Called with Boehm's allocator lock held. */
static void *GC_CALLBACK
alloc_locked(void *cd)
{
	GC_word *p = must(GC_malloc(64), 64);

	GC_register_finalizer(p, count_fin, cd, NULL, NULL);
	p[0] = 42;
	return p;
}

/* One use of each lock-taking call besides those of the lists. */
static void
use_the_rest(int id)
{
	GC_word *u = must(GC_malloc_uncollectable(48), 48);
	GC_word *locked = GC_call_with_alloc_lock(alloc_locked, &fins_ran);

	CHECK(locked != NULL && locked[0] == 42, "GC_call_with_alloc_lock lost its result");
	u[0] = (GC_word)id;
	GC_add_roots(roots[id], roots[id] + ROOT_WORDS);
	roots[id][0] = u;
	GC_remove_roots(roots[id], roots[id] + ROOT_WORDS);
	roots[id][0] = NULL;
	GC_set_free_space_divisor(3);
	(void)GC_get_bytes_since_gc();
	CHECK(GC_get_warn_proc() != NULL, "no warn proc");
	CHECK(u[0] == (GC_word)id, "uncollectable object changed");
	GC_free(u);
}

/* ---- the parent's threads ------------------------------------------------- */

static void *
worker_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	long count = LIST_NODES * scale;
	struct node *volatile kept = NULL;
	GC_word kept_seed = 0;

	for (long r = 0; !atomic_load(&stop); r++) {
		GC_word seed = (GC_word)(id + 1) << 48 | (GC_word)r << 20;
		struct node *l = build_list(count, seed);

		verify_list(l, count, seed, "worker: new list");
		rework_list(l);
		use_the_rest(id);
		if (kept != NULL)
			verify_list(kept, count, kept_seed, "worker: list of the last round");
		if (r % 4 == id % 4) {
			GC_gcollect();
			GC_invoke_finalizers();
		}
		verify_list(l, count, seed, "worker: reworked list");
		kept = l;
		kept_seed = seed;
		atomic_store(&rounds[id], r + 1);
	}
	return NULL;
}

static void *
short_main(void *arg)
{
	GC_word *p = must(GC_malloc(32), 32);

	p[0] = (GC_word)(uintptr_t)arg;
	return p;
}

static void *
churn_main(void *arg)
{
	(void)arg;
	for (uintptr_t i = 0; !atomic_load(&stop); i++) {
		pthread_t t;
		void *ret;

		CHECK(GC_pthread_create(&t, NULL, short_main, (void *)i) == 0, "GC_pthread_create");
		if (i % 2 == 0) {
			CHECK(GC_pthread_detach(t) == 0, "GC_pthread_detach");
		} else {
			CHECK(GC_pthread_join(t, &ret) == 0, "GC_pthread_join");
			CHECK(((GC_word *)ret)[0] == i, "a thread's result changed");
		}
		atomic_fetch_add(&churned, 1);
	}
	return NULL;
}

/* Never registered with the collector. */
static void *
reader_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		(void)GC_get_bytes_since_gc();
		CHECK(GC_get_warn_proc() != NULL, "reader: no warn proc");
		GC_alloc_lock();
		GC_alloc_unlock();
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

/* ---- the child ------------------------------------------------------------- */

static void *child_links[CHILD_OBJS];

/* Garbage with finalizers, and disappearing links (hidden, so they keep
 * nothing alive) to other garbage, made in a frame of its own. */
static __attribute__((noinline)) void
make_garbage(void)
{
	for (int i = 0; i < CHILD_OBJS; i++) {
		void *p = must(GC_malloc(48), 48), *q = must(GC_malloc_atomic(16), 16);

		GC_register_finalizer(p, count_fin, &child_fins_ran, NULL, NULL);
		child_links[i] = (void *)GC_HIDE_POINTER(q);
		CHECK(GC_general_register_disappearing_link(&child_links[i], q) == GC_SUCCESS,
		      "child: GC_general_register_disappearing_link failed");
	}
}

static int
links_cleared(void)
{
	int n = 0;

	for (int i = 0; i < CHILD_OBJS; i++)
		n += child_links[i] == NULL;
	return n;
}

static void
child_garbage_goes(void)
{
	make_garbage();
	for (int i = 0; i < 20 && (atomic_load(&child_fins_ran) == 0 || links_cleared() == 0); i++)
		settle(1, true);
	CHECK(atomic_load(&child_fins_ran) > 0, "child: none of %d finalizers ran", CHILD_OBJS);
	CHECK(links_cleared() > 0, "child: none of %d links to garbage was cleared", CHILD_OBJS);
}

static void *
child_thread_main(void *arg)
{
	GC_word seed = (GC_word)(uintptr_t)arg;
	struct node *l = build_list(LIST_NODES, seed);

	GC_gcollect();
	verify_list(l, LIST_NODES, seed, "thread started in the child");
	return NULL;
}

static _Noreturn void
child(int f)
{
	GC_word seed = (GC_word)(f + 1) << 32;
	long count = LIST_NODES * scale;
	struct node *volatile mine;
	pthread_t t;

	verify_list(before_fork, LIST_NODES, 7, "child: the list made before the fork");
	mine = build_list(count, seed);
	GC_gcollect();
	verify_list(mine, count, seed, "child: its own list");
	rework_list(mine);
	use_the_rest(0);
	GC_alloc_lock();
	GC_alloc_unlock();
	CHECK(GC_pthread_create(&t, NULL, child_thread_main, (void *)(uintptr_t)(seed + 1000000)) ==
	              0,
	      "child: GC_pthread_create");
	CHECK(GC_pthread_join(t, NULL) == 0, "child: GC_pthread_join");
	child_garbage_goes();
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
	GC_INIT();
	before_fork = build_list(LIST_NODES, 7);
	for (int i = 0; i < nthreads; i++)
		CHECK(GC_pthread_create(&workers[i], NULL, worker_main, (void *)(intptr_t)i) == 0,
		      "GC_pthread_create (worker)");
	CHECK(GC_pthread_create(&churn, NULL, churn_main, NULL) == 0, "GC_pthread_create (churn)");
	CHECK(pthread_create(&reader, NULL, reader_main, NULL) == 0, "pthread_create (reader)");
	for (int f = 0; f < nforks; f++)
		check_fork_watched(f, child, CHILD_SECS, &t);
	atomic_store(&stop, true);
	for (int i = 0; i < nthreads; i++)
		CHECK(GC_pthread_join(workers[i], NULL) == 0, "GC_pthread_join (worker)");
	CHECK(GC_pthread_join(churn, NULL) == 0 && pthread_join(reader, NULL) == 0,
	      "pthread_join (churn, reader)");
	printf("%d forks: %d hung, %d failed\n", t.forks, t.hung, t.failed);
	CHECK(t.hung == 0 && t.failed == 0,
	      "%d of %d children hung (the first at fork %d), %d failed%s%s", t.hung, t.forks,
	      t.first_hung, t.failed, t.failed ? "; the first: " : "", t.first_err);
	for (int i = 0; i < nthreads; i++)
		CHECK(atomic_load(&rounds[i]) > 0, "worker %d never finished a round", i);
	CHECK(atomic_load(&churned) > 0 && atomic_load(&reads) > 0,
	      "the churn or the reader thread never finished a round");
	GC_gcollect();
	verify_list(before_fork, LIST_NODES, 7, "parent: the list made before the forks");
	printf("worker rounds:");
	for (int i = 0; i < nthreads; i++)
		printf(" %ld", atomic_load(&rounds[i]));
	printf("; threads started %ld; reader rounds %ld; finalizers %ld\n", atomic_load(&churned),
	       atomic_load(&reads), atomic_load(&fins_ran));
	return 0;
}
