/* test_thread_gc_stress — collections running while threads build and
 * check pointer structures.
 *
 * usage: test_thread_gc_stress [THREADS [SCALE [ITER]]]
 *   THREADS  worker threads (default 4)
 *   SCALE    multiplies the size of each structure (default 1)
 *   ITER     rounds per worker (default 150, fewer under TSan)
 *
 * Each worker keeps, in arrays on its own stack, a few linked lists and
 * binary search trees of mgc blocks.  Every node holds a checksum of its
 * fields (pointers included) and a payload: a noscan block of pattern
 * bytes (sometimes resized with mgc_realloc), or a scan block holding the
 * only pointer to a pattern-filled leaf.  Each round a worker replaces one
 * list and one tree, frees the old list explicitly or drops it, drops the
 * old tree, and verifies every node and payload it can reach.  Meanwhile
 * one thread calls mgc_collect in a loop until the workers are done, and
 * another starts short-lived threads one after the other, which build and
 * check a small list (some register or unregister explicitly) and exit.
 * At the end: mallocs >= frees and there were collections.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#include <mgc.h>

#define USAGE "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS 4
#define DEFAULT_ITER (UNDER_TSAN ? 20 : 150)
#define MAX_THREADS 64
#define NKEEP 4
#define LIST_NODES 150
#define TREE_NODES 200
#define SHORT_NODES 50
#define MIN_SHORT_THREADS 8

enum { NOSCAN_PAYLOAD, SCAN_PAYLOAD };

struct node {
	struct node *left, *right;	/* tree children; a list uses left */
	void *payload;
	uint32_t plen, kind;
	uint64_t key;
	uint64_t check;
};

/* A scan payload: the only pointer to its leaf. */
struct holder {
	uint64_t *leaf;
	uint64_t leaf_words;
	uint64_t key;
};

struct shape {
	struct node *root;
	long count;
	uint64_t key_sum;
};

struct worker {
	pthread_t tid;
	int id;
	int scale;
	long iter;
	uint64_t rng;
};

static atomic_bool workers_done;
static atomic_ullong collections;
static atomic_ullong short_threads;
static atomic_ullong nodes_checked;

static uint64_t
node_sum(const struct node *n)
{
	uint64_t h = check_mix((uint64_t)(uintptr_t)n->left);

	h = check_mix(h ^ (uint64_t)(uintptr_t)n->right);
	h = check_mix(h ^ (uint64_t)(uintptr_t)n->payload);
	h = check_mix(h ^ ((uint64_t)n->plen << 32 | n->kind));
	return check_mix(h ^ n->key);
}

static void
check_words(const uint64_t *w, size_t nwords, uint64_t key, const char *what)
{
	CHECK(mgc_base(w, NULL) == w, "%s %p (key %#jx) is not a live block", what,
	      (const void *)w, (uintmax_t)key);
	CHECK_PATTERN(w, nwords, key, what);
}

static void *
must(void *p, size_t size)
{
	CHECK(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
	return p;
}

/* A noscan block of pattern words, sometimes grown by mgc_realloc. */
static void
make_noscan_payload(struct node *n, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);
	size_t words = 1 + r % 64;
	uint64_t *w;

	if (r % 97 == 0)
		words = 5000;
	w = must(mgc_alloc_noscan(words * 8), words * 8);
	if (r % 8 == 3) {
		check_fill(w, words, n->key);
		words *= 2;
		w = must(mgc_realloc(w, words * 8), words * 8);
	}
	check_fill(w, words, n->key);
	n->payload = w;
	n->plen = (uint32_t)words;
	n->kind = NOSCAN_PAYLOAD;
}

/* A scan block holding the only pointer to a leaf (scan or noscan). */
static void
make_scan_payload(struct node *n, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);
	struct holder *h = must(mgc_alloc(sizeof *h), sizeof *h);
	size_t words = 1 + r % 32;

	h->leaf = must(r & 64 ? mgc_alloc(words * 8) : mgc_alloc_noscan(words * 8), words * 8);
	check_fill(h->leaf, words, ~n->key);
	h->leaf_words = words;
	h->key = n->key;
	n->payload = h;
	n->plen = sizeof *h;
	n->kind = SCAN_PAYLOAD;
}

static struct node *
make_node(uint64_t key, uint64_t *rng)
{
	struct node *n = must(mgc_alloc(sizeof *n), sizeof *n);

	n->key = key;
	if (check_rng_next(rng) % 3 == 0)
		make_scan_payload(n, rng);
	else
		make_noscan_payload(n, rng);
	n->check = node_sum(n);
	return n;
}

static void
check_node(const struct node *n)
{
	CHECK(mgc_base(n, NULL) == n, "node %p is not a live block", (const void *)n);
	CHECK(n->check == node_sum(n), "node %p (key %#jx) is corrupt", (const void *)n,
	      (uintmax_t)n->key);
	if (n->kind == SCAN_PAYLOAD) {
		const struct holder *h = n->payload;

		CHECK(mgc_base(h, NULL) == h && h->key == n->key,
		      "node %p: its scan payload %p is corrupt", (const void *)n, (const void *)h);
		check_words(h->leaf, (size_t)h->leaf_words, ~n->key, "leaf");
	} else {
		CHECK(n->kind == NOSCAN_PAYLOAD, "node %p: bad kind %u", (const void *)n, n->kind);
		check_words(n->payload, n->plen, n->key, "noscan payload");
	}
	atomic_fetch_add_explicit(&nodes_checked, 1, memory_order_relaxed);
}

static void
free_node(struct node *n)
{
	if (n->kind == SCAN_PAYLOAD)
		mgc_free(((struct holder *)n->payload)->leaf);
	mgc_free(n->payload);
	mgc_free(n);
}

static void
build_list(struct shape *s, long count, uint64_t *rng)
{
	s->root = NULL;
	s->count = count;
	s->key_sum = 0;
	for (long i = 0; i < count; i++) {
		struct node *n = make_node(check_rng_next(rng), rng);

		n->left = s->root;
		n->check = node_sum(n);
		s->root = n;
		s->key_sum += n->key;
	}
}

static void
verify_list(const struct shape *s)
{
	uint64_t sum = 0;
	long k = 0;

	for (const struct node *n = s->root; n != NULL; n = n->left, k++) {
		CHECK(k < s->count, "a list has more than %ld nodes", s->count);
		check_node(n);
		sum += n->key;
	}
	CHECK(k == s->count && sum == s->key_sum, "a list has %ld nodes (want %ld), key sum "
	      "%#jx (want %#jx)", k, s->count, (uintmax_t)sum, (uintmax_t)s->key_sum);
}

static void
free_list(struct shape *s)
{
	struct node *n = s->root;

	while (n != NULL) {
		struct node *next = n->left;

		free_node(n);
		n = next;
	}
	s->root = NULL;
}

/* Inserts n into the search tree, re-checksumming its new parent. */
static void
tree_insert(struct shape *s, struct node *n)
{
	struct node **link = &s->root, *parent = NULL;

	while (*link != NULL) {
		parent = *link;
		link = n->key < parent->key ? &parent->left : &parent->right;
	}
	*link = n;
	if (parent != NULL)
		parent->check = node_sum(parent);
	s->count++;
	s->key_sum += n->key;
}

static void
build_tree(struct shape *s, long count, uint64_t *rng)
{
	s->root = NULL;
	s->count = 0;
	s->key_sum = 0;
	for (long i = 0; i < count; i++)
		tree_insert(s, make_node(check_rng_next(rng), rng));
}

/* Checks the subtree at n, whose keys lie in [lo, hi]; counts and sums it. */
static void
verify_subtree(const struct node *n, uint64_t lo, uint64_t hi, long *count, uint64_t *sum)
{
	for (; n != NULL; n = n->right) {
		check_node(n);
		CHECK(n->key >= lo && n->key <= hi, "tree node %p out of order",
		      (const void *)n);
		(*count)++;
		*sum += n->key;
		if (n->left != NULL)
			verify_subtree(n->left, lo, n->key, count, sum);
		lo = n->key;
	}
}

static void
verify_tree(const struct shape *s)
{
	long count = 0;
	uint64_t sum = 0;

	verify_subtree(s->root, 0, UINT64_MAX, &count, &sum);
	CHECK(count == s->count && sum == s->key_sum, "a tree has %ld nodes (want %ld), key "
	      "sum %#jx (want %#jx)", count, s->count, (uintmax_t)sum, (uintmax_t)s->key_sum);
}

static void
worker_round(struct worker *w, struct shape *lists, struct shape *trees, long round)
{
	int slot = (int)(round % NKEEP);

	if (lists[slot].root != NULL) {
		verify_list(&lists[slot]);
		if (check_rng_next(&w->rng) & 1)
			free_list(&lists[slot]);
	}
	build_list(&lists[slot], LIST_NODES * w->scale, &w->rng);
	build_tree(&trees[slot], TREE_NODES * w->scale, &w->rng);
	for (int i = 0; i < NKEEP; i++) {
		verify_list(&lists[i]);
		verify_tree(&trees[i]);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct shape lists[NKEEP], trees[NKEEP];

	memset(lists, 0, sizeof lists);
	memset(trees, 0, sizeof trees);
	for (long r = 0; r < w->iter; r++)
		worker_round(w, lists, trees, r);
	return NULL;
}

static void *
collector_main(void *arg)
{
	(void)arg;
	do {
		mgc_collect();
		atomic_fetch_add(&collections, 1);
	} while (!atomic_load(&workers_done));
	return NULL;
}

/* A short-lived thread: builds and checks a small list, then exits;
 * some register and unregister explicitly. */
static void *
short_main(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, rng = check_mix(id) | 1;
	struct shape s;

	if (id % 3 == 1)
		CHECK(mgc_register_thread() == 0, "mgc_register_thread failed");
	build_list(&s, SHORT_NODES, &rng);
	if (id % 5 == 0)
		mgc_collect();
	verify_list(&s);
	if (id % 2 == 0)
		free_list(&s);
	if (id % 3 == 1)
		CHECK(mgc_unregister_thread() == 0, "mgc_unregister_thread failed");
	return NULL;
}

static void *
spawner_main(void *arg)
{
	(void)arg;
	for (uintptr_t i = 0; i < MIN_SHORT_THREADS || !atomic_load(&workers_done); i++) {
		pthread_t t;

		CHECK(pthread_create(&t, NULL, short_main, (void *)i) == 0, "pthread_create");
		CHECK(pthread_join(t, NULL) == 0, "pthread_join");
		atomic_fetch_add(&short_threads, 1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	int nthreads = (int)check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, MAX_THREADS);
	int scale = (int)check_arg(argc, argv, USAGE, 2, 1, 1, 1000);
	long iter = check_arg(argc, argv, USAGE, 3, DEFAULT_ITER, 1, 1L << 40);
	pthread_t collector, spawner;
	mgc_stats s;

	mgc_init();
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].scale = scale;
		w[i].iter = iter;
		w[i].rng = 0x853c49e6748fea9bu ^ ((uint64_t)(i + 1) << 32);
		CHECK(pthread_create(&w[i].tid, NULL, worker_main, &w[i]) == 0, "pthread_create");
	}
	CHECK(pthread_create(&collector, NULL, collector_main, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&spawner, NULL, spawner_main, NULL) == 0, "pthread_create");
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(w[i].tid, NULL) == 0, "pthread_join");
	atomic_store(&workers_done, true);
	CHECK(pthread_join(collector, NULL) == 0, "pthread_join");
	CHECK(pthread_join(spawner, NULL) == 0, "pthread_join");
	mgc_read_stats(&s);
	CHECK(s.mallocs >= s.frees, "mallocs %llu < frees %llu", (unsigned long long)s.mallocs,
	      (unsigned long long)s.frees);
	CHECK(s.num_gc >= atomic_load(&collections) && s.num_gc > 0, "num_gc %llu after %llu "
	      "explicit collections", (unsigned long long)s.num_gc,
	      (unsigned long long)atomic_load(&collections));
	CHECK(atomic_load(&short_threads) >= MIN_SHORT_THREADS, "only %llu short-lived threads",
	      (unsigned long long)atomic_load(&short_threads));
	return 0;
}
