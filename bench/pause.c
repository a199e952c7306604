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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(BACKEND_MGC)
#include "mgc.h"
#define BACKEND_NAME "mgc"
#elif defined(BACKEND_BOEHM)
#include <gc.h>
#define BACKEND_NAME "boehm"
#else
#error "define one of BACKEND_MGC, BACKEND_BOEHM"
#endif

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

/* ---- helpers ---------------------------------------------------------- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void die_oom(size_t n)
{
	fprintf(stderr, "pause: %s: allocation of %zu bytes failed\n",
		BACKEND_NAME, n);
	exit(1);
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- backend ---------------------------------------------------------- */

#ifdef BACKEND_MGC
static void bk_init(void)
{
	mgc_init();
}

static void *bk_alloc(size_t n)
{
	void *p = mgc_alloc(n);

	if (p == NULL)
		die_oom(n);
	return p;
}

static void bk_collect(void)
{
	mgc_collect();
}

/* Longest pause in milliseconds and number of collections. */
static void bk_gc_stats(double *max_pause_ms, unsigned long *num_gc)
{
	mgc_stats st;

	mgc_read_stats(&st);
	*max_pause_ms = st.pause_max_ns / 1e6;
	*num_gc = (unsigned long)st.num_gc;
}

static void bk_which(void)
{
	printf("mgc: statically linked\n");
}
#else
static double gc_started, gc_max_pause;

/* Called by the collector, with its lock held, around every collection. */
static void GC_CALLBACK on_gc_event(GC_EventType e)
{
	double d;

	if (e == GC_EVENT_START) {
		gc_started = now_sec();
	} else if (e == GC_EVENT_END) {
		d = now_sec() - gc_started;
		if (d > gc_max_pause)
			gc_max_pause = d;
	}
}

static void bk_init(void)
{
	GC_INIT();
	GC_set_on_collection_event(on_gc_event);
}

static void *bk_alloc(size_t n)
{
	void *p = GC_MALLOC(n);

	if (p == NULL)
		die_oom(n);
	return p;
}

static void bk_collect(void)
{
	GC_gcollect();
}

static void bk_gc_stats(double *max_pause_ms, unsigned long *num_gc)
{
	*max_pause_ms = gc_max_pause * 1e3;
	*num_gc = (unsigned long)GC_get_gc_no();
}

static void bk_which(void)
{
	unsigned v = GC_get_version();

	printf("boehm: bdwgc %u.%u.%u, default settings\n",
		v >> 16, (v >> 8) & 0xff, v & 0xff);
}
#endif

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

/* Overwrites the dead part of the stack below us, so that no stale copy of
 * a pointer from build() is left there; harmless here, since everything is
 * live anyway, but it keeps the roots the same for both collectors. */
static void clear_stack(void)
{
	volatile char buf[16384];
	size_t i;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = 0;
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
	double t0, build_s, collect_s, max_pause;
	unsigned long num_gc;

	bk_init();
	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		bk_which();
		return 0;
	}
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
	bk_gc_stats(&max_pause, &num_gc);
	printf("pause %s %.4f %ld %.2f %lu %zu %.3f %.3f\n", BACKEND_NAME,
		collect_s, peak_rss_kib(), max_pause, num_gc, mib,
		nodes * sizeof(node) / collect_s / 1e9, build_s);
	return 0;
}
