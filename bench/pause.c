/* pause.c — the time of one full collection of a large live heap: mgc
 * against the Boehm collector.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC    mgc_alloc, mgc_collect (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM  GC_MALLOC, GC_gcollect (-lgc)
 * Nothing is freed explicitly.
 *
 * Builds LIVE_MIB MiB of 64-byte nodes (16M nodes for 1 GiB), all of them
 * live: 1024 linked lists whose heads are in bss, each node pointing to the
 * next in its list and to two earlier nodes chosen at random anywhere in the
 * heap, so that marking follows pointers all over it, as in a real object
 * graph.  The other five words of a node are small integers, which no
 * conservative scan can take for pointers.  Then it times one explicit full
 * collection (mgc_collect or GC_gcollect), measured around the call, and
 * checks afterwards that every node is still there and intact.
 *
 * The mark rate is the live bytes (nodes times 64) divided by the time of
 * that collection, in GB/s (10^9 bytes); it includes whatever else the call
 * does (roots, sweep).
 *
 * Usage:
 *   pause [LIVE_MIB]   (default 1024)
 *   pause --which      (backend identity, then exit)
 * Output, one line:
 *   pause backend collect_seconds peak_rss_kib max_pause_ms num_gc live_mib gb_per_s build_seconds
 * max_pause_ms and num_gc cover the whole run, the building included.
 */
#define _GNU_SOURCE
#include <errno.h>

#define BENCH_NAME "pause"
#include "backend.h"

#define DEFAULT_MIB 1024
#define LIMIT_MIB (64 * 1024)
#define NLISTS 1024
#define NDATA 5
#define SEED UINT64_C(0x9E3779B97F4A7C15)

typedef struct node {
	struct node *next;
	struct node *link[2];
	uint64_t data[NDATA];
} node;

_Static_assert(sizeof(node) == 64, "a node is 64 bytes");

/* The list heads live in bss, a root for both collectors. */
static node *heads[NLISTS];

/* ---- the benchmark ---------------------------------------------------- */

/* The data words of node number k: small, never mistaken for pointers. */
static uint64_t data_word(size_t k, int w)
{
	return (uint64_t)k * NDATA + (uint64_t)w;
}

/* Node number k, linked to two random earlier nodes (itself for k 0). */
static node *new_node(node **all, size_t k, uint64_t *rng)
{
	node *n = bk_alloc(sizeof *n);
	int w;

	n->link[0] = k == 0 ? n : all[xorshift64(rng) % k];
	n->link[1] = k == 0 ? n : all[xorshift64(rng) % k];
	for (w = 0; w < NDATA; w++)
		n->data[w] = data_word(k, w);
	n->next = heads[k % NLISTS];
	heads[k % NLISTS] = n;
	return n;
}

/* The index of every node, used only to pick random link targets, is in
 * malloc'ed memory, which neither collector scans, and is freed before
 * the timed collection. */
static void build(size_t nodes)
{
	node **all = malloc(nodes * sizeof *all);
	uint64_t rng = SEED;
	size_t k;

	if (all == NULL) {
		fprintf(stderr, "pause: malloc of the node index failed\n");
		exit(1);
	}
	for (k = 0; k < nodes; k++)
		all[k] = new_node(all, k, &rng);
	free(all);
}

static int node_ok(const node *n, size_t k)
{
	int w;

	for (w = 0; w < NDATA; w++)
		if (n->data[w] != data_word(k, w))
			return 0;
	return n->link[0] != NULL && n->link[1] != NULL;
}

/* Every list must still hold its nodes, newest first, with their data:
 * list l holds the nodes k with k % NLISTS == l. */
static int verify(size_t nodes)
{
	size_t seen = 0, l, k;
	const node *n;

	for (l = 0; l < NLISTS && l < nodes; l++) {
		k = l + (nodes - 1 - l) / NLISTS * NLISTS;
		for (n = heads[l]; n != NULL; n = n->next) {
			if (!node_ok(n, k))
				return 0;
			seen++;
			if (k < NLISTS)
				break;
			k -= NLISTS;
		}
	}
	return seen == nodes;
}

static size_t parse_mib(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < 1 || v > LIMIT_MIB) {
		fprintf(stderr, "pause: bad live size '%s' (1 to %d MiB)\n", arg,
			LIMIT_MIB);
		exit(2);
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t mib = DEFAULT_MIB, nodes;
	double t0, build_s, collect_s;

	bk_start(argc, argv);
	if (argc > 2) {
		fprintf(stderr, "usage: pause [LIVE_MIB]\n       pause --which\n");
		return 2;
	}
	if (argc == 2)
		mib = parse_mib(argv[1]);
	nodes = mib * 1024 * 1024 / sizeof(node);
	t0 = now_sec();
	build(nodes);
	build_s = now_sec() - t0;
	clear_stack();
	t0 = now_sec();
	bk_collect();
	collect_s = now_sec() - t0;
	if (!verify(nodes)) {
		fprintf(stderr, "pause: %s: live nodes were lost or damaged by the collection\n",
			BACKEND_NAME);
		return 1;
	}
	bk_print_result("pause", 4, collect_s);
	printf(" %zu %.3f %.3f\n", mib, nodes * sizeof(node) / collect_s / 1e9, build_s);
	return 0;
}
