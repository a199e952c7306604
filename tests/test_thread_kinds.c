/* test_thread_kinds — threads building and replacing chains of blocks of
 * every kind while collections run.
 *
 * usage: test_thread_kinds [THREADS [SCALE [ITER]]]
 *   THREADS  mutator threads (default 4, 3 under TSan)
 *   SCALE    chains per thread, times 8
 *   ITER     rounds per thread (default shorter in debug and TSan builds)
 *
 * Each thread keeps chains of nodes in a typed array (its only root
 * besides its stack).  A node is typed (layout: next, payload pointer; an
 * id and a checksum in words the collector never reads), or of a custom
 * kind whose trace function reports the same two words, or uncollectable
 * (conservative), or from a batch (mgc_alloc_many); its payload is a
 * noscan block of pattern words.  Each round a thread replaces a random
 * chain by a new one and walks another, checking every node: mgc_base
 * gives it back, its id and checksum match, its payload holds its pattern.
 * Replaced uncollectable nodes are freed explicitly (mgc_free), the others
 * dropped.  A collector thread collects in a loop until the mutators are
 * done; at the end the uncollectable nodes still held are freed and a
 * collection must leave alloc near what the chains reach.
 *
 * Runs under each setting of check_run_variants (MGC_MARKERS 1 and 4,
 * MGC_CHECKMARK 0 and 1), or once with CHECK_ONE_VARIANT=1.
 */
#include "check.h"

#include <pthread.h>

#include <mgc.h>

#define USAGE           "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS (UNDER_TSAN ? 3 : 4)
#if UNDER_TSAN
#define DEFAULT_ITER 150
#elif defined(NDEBUG)
#define DEFAULT_ITER 6000
#else
#define DEFAULT_ITER 1500
#endif
#define CHAIN_LEN     24
#define PAYLOAD_WORDS 6

enum flavour { TYPED, CUSTOM, UNCOLLECTABLE, BATCH, NFLAVOURS };

struct node {
	struct node *next; /* word 0: a pointer */
	uint64_t *payload; /* word 1: a pointer */
	uint64_t id;       /* word 2: never scanned (typed, custom) */
	uint64_t sum;      /* word 3: never scanned (typed, custom) */
};

struct config {
	long threads, chains, iter;
};

static const mgc_layout *node_layout;
static int custom_kind;
static _Atomic int mutators_left;

static void
trace_node(void *block, size_t size, mgc_tracer *t, void *arg)
{
	(void)size;
	(void)arg;
	const struct node *n = block;
	mgc_trace_ptr(t, n->next);
	mgc_trace_range(t, &n->payload, &n->payload + 1);
}

static uint64_t
node_sum(const struct node *n)
{
	return check_mix(n->id ^ 0x5bd1e995u);
}

static struct node *
new_node(enum flavour f, uint64_t id, struct node *next)
{
	struct node *n;
	if (f == TYPED)
		n = mgc_alloc_typed(sizeof *n, node_layout);
	else if (f == CUSTOM)
		n = mgc_alloc_kind(sizeof *n, custom_kind);
	else if (f == UNCOLLECTABLE)
		n = mgc_alloc_kind(sizeof *n, MGC_KIND_UNCOLLECTABLE);
	else
		n = mgc_alloc_many(sizeof *n, MGC_KIND_NORMAL, 1 + id % 3);
	CHECK(n != NULL, "node of flavour %d", (int)f);
	if (f == BATCH)
		n->next = NULL; /* the rest of the batch is dropped */
	uint64_t *p = mgc_alloc_noscan(PAYLOAD_WORDS * sizeof *p);
	CHECK(p != NULL, "payload");
	check_fill(p, PAYLOAD_WORDS, id);
	n->id = id;
	n->sum = node_sum(n);
	n->payload = p;
	n->next = next;
	return n;
}

static struct node *
new_chain(enum flavour f, uint64_t base)
{
	struct node *head = NULL;
	for (int i = 0; i < CHAIN_LEN; i++)
		head = new_node(f, base + (uint64_t)i, head);
	return head;
}

static void
check_chain(const struct node *n, uint64_t base)
{
	for (int i = CHAIN_LEN - 1; i >= 0; i--, n = n->next) {
		CHECK(n != NULL, "chain %llu ends early at %d", (unsigned long long)base, i);
		CHECK(mgc_base(n, NULL) == n, "node %llu not live", (unsigned long long)(base + i));
		CHECK(n->id == base + (uint64_t)i && n->sum == node_sum(n),
		      "node %llu: id %llu sum %llx", (unsigned long long)(base + i),
		      (unsigned long long)n->id, (unsigned long long)n->sum);
		CHECK(mgc_base(n->payload, NULL) == n->payload, "payload of %llu not live",
		      (unsigned long long)n->id);
		CHECK_PATTERN(n->payload, PAYLOAD_WORDS, n->id, "payload");
	}
	CHECK(n == NULL, "chain %llu too long", (unsigned long long)base);
}

static void
free_chain(struct node *n)
{
	while (n != NULL) {
		struct node *next = n->next;
		mgc_free(n);
		n = next;
	}
}

struct mutator {
	const struct config *cfg;
	long index;
};

/* The chains, in a typed array: slot 2k holds chain k, slot 2k+1 its
 * base id in a word the collector never reads. */
static void *
mutator_main(void *arg)
{
	const struct mutator *me = arg;
	long nch = me->cfg->chains;
	uint64_t bits[1] = {1};
	const mgc_layout *pair = mgc_layout_new(bits, 2);
	void **chains = mgc_alloc_typed_array((size_t)nch, pair);
	CHECK(chains != NULL, "chain table");
	uint64_t rng = 0x9e3779b97f4a7c15u * (uint64_t)(me->index + 1);
	uint64_t next_id = (uint64_t)me->index << 40;
	for (long k = 0; k < nch; k++) {
		chains[2 * k + 1] = (void *)next_id;
		chains[2 * k] = new_chain((enum flavour)(k % NFLAVOURS), next_id);
		next_id += CHAIN_LEN;
	}
	for (long r = 0; r < me->cfg->iter; r++) {
		long k = (long)(check_rng_next(&rng) % (uint64_t)nch);
		struct node *old = chains[2 * k];
		chains[2 * k + 1] = (void *)next_id;
		chains[2 * k] = new_chain((enum flavour)(k % NFLAVOURS), next_id);
		next_id += CHAIN_LEN;
		if (k % NFLAVOURS == UNCOLLECTABLE)
			free_chain(old);
		long w = (long)(check_rng_next(&rng) % (uint64_t)nch);
		check_chain(chains[2 * w], (uint64_t)chains[2 * w + 1]);
	}
	for (long k = 0; k < nch; k++)
		check_chain(chains[2 * k], (uint64_t)chains[2 * k + 1]);
	for (long k = UNCOLLECTABLE; k < nch; k += NFLAVOURS)
		free_chain(chains[2 * k]);
	atomic_fetch_sub(&mutators_left, 1);
	return NULL;
}

static void *
collector_main(void *arg)
{
	(void)arg;
	while (atomic_load(&mutators_left) > 0)
		mgc_collect();
	return NULL;
}

static void
run(void *arg)
{
	const struct config *cfg = arg;
	uint64_t bits[1] = {1u << 0 | 1u << 1};
	node_layout = mgc_layout_new(bits, 4);
	custom_kind = mgc_kind_new(trace_node, NULL, 0);
	CHECK(node_layout != NULL && custom_kind >= 4, "layout and kind");
	mgc_set_min_heap(1 << 20);
	atomic_store(&mutators_left, (int)cfg->threads);
	pthread_t ids[64], col;
	struct mutator ms[64];
	CHECK(pthread_create(&col, NULL, collector_main, NULL) == 0, "collector thread");
	for (long i = 0; i < cfg->threads; i++) {
		ms[i] = (struct mutator){cfg, i};
		CHECK(pthread_create(&ids[i], NULL, mutator_main, &ms[i]) == 0, "thread");
	}
	for (long i = 0; i < cfg->threads; i++)
		pthread_join(ids[i], NULL);
	pthread_join(col, NULL);
	mgc_stats s;
	check_clear_stack();
	mgc_collect();
	mgc_read_stats(&s);
	CHECK(s.num_gc > 0, "no collection ran");
	CHECK(s.alloc < (8u << 20), "alloc %llu after every chain was dropped or freed",
	      (unsigned long long)s.alloc);
}

int
main(int argc, char **argv)
{
	struct config cfg = {
	        check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, 64),
	        8 * check_arg(argc, argv, USAGE, 2, 1, 1, 1000),
	        check_arg(argc, argv, USAGE, 3, DEFAULT_ITER, 1, 100000000),
	};
	check_run_variants(run, &cfg);
	printf("test_thread_kinds: ok\n");
	return 0;
}
