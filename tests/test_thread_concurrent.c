/* test_thread_concurrent — threads moving pointers around while
 * mostly-concurrent cycles (MGC_CONCURRENT=1) mark.
 *
 * usage: test_thread_concurrent [THREADS [ROUNDS]]
 *
 * A concurrent marker goes wrong when the program hides a pointer from it:
 * takes it out of a block the marker has not scanned yet and stores it in
 * one the marker has scanned already, or on its stack, or in a root range,
 * or has the kernel store it (read(2)).  Each mutator owns holders (heap
 * blocks of SLOTS pointers, reached through a heap array) holding chains
 * of nodes, and a slice of a root range (mmap'ed, mgc_add_roots).  Its
 * rounds, chosen at random:
 *   move     a node from one slot to another, through a local variable,
 *            the source slot cleared first;
 *   swap     two slots' nodes;
 *   kernel   a node's address written to a pipe, its slot cleared, and
 *            read(2) straight into another slot (a stack slot keeps the
 *            node meanwhile: no collector sees into a pipe);
 *   park     a node moved into the thread's slice of the root range, and
 *            later back into a slot;
 *   replace  a new chain stored over a slot (the old one becomes garbage);
 * and garbage of random sizes (some in malloc'ed and mmap'ed scratch
 * memory too) so that cycles keep starting.  Nothing but those slots
 * points to a node, and the thread keeps, in malloc'ed memory the
 * collector does not scan, the id each slot should hold: every few hundred
 * rounds and at the end it checks every chain (ids, checksums, lengths).  A
 * node freed while reachable would be handed out again and overwritten.
 *
 * Every variant runs with MGC_CONCURRENT=1.  The event callback counts
 * collections and stops: a concurrent cycle stops the world twice.  The
 * test asserts that concurrent cycles ran (the kernel has userfaultfd
 * write-protection here), and with MGC_DIRTY=none (the fallback, run by a
 * last child of the test) that none did.  A thread
 * also forks now and then: fork waits for a running cycle, and the child
 * checks its copy of the forking thread's chains and collects.
 */
#define _GNU_SOURCE 1
#include "check.h"

#include <sys/mman.h>

#include <mgc.h>

#define USAGE "[THREADS [ROUNDS]]"
#if UNDER_TSAN
#define DEFAULT_ROUNDS 60000
#elif defined(NDEBUG)
#define DEFAULT_ROUNDS 400000
#else
#define DEFAULT_ROUNDS 100000
#endif

enum {
	MAX_THREADS = 16,
	HOLDERS = 256,
	SLOTS = 8,
	PARK = 16, /* root-range slots per thread */
	MAX_CHAIN = 4,
	CHECK_EVERY = 500,
	FORK_EVERY = 20000,
};

struct node {
	uint64_t id, sum;
	struct node *next;
	uint64_t len; /* nodes from here to the chain's end */
	uint64_t pad[2];
};

struct mutator {
	int index;
	long rounds;
	uint64_t rng, next_id;
	struct node ***holders;   /* heap array of HOLDERS heap blocks of SLOTS */
	uint64_t *want;           /* malloc: the id each slot holds (0: empty) */
	uint64_t park_want[PARK]; /* likewise for the parked nodes */
	struct node **park;       /* this thread's slice of the root range */
	int pipe[2];
};

static struct node **root_range; /* mmap'ed, mgc_add_roots */
static int nthreads;
static long nrounds;
static atomic_uint_fast64_t starts, stops;

static uint64_t
node_sum(uint64_t id, uint64_t len)
{
	return check_mix(id * 31 + len);
}

static struct node *
new_chain(struct mutator *m, uint64_t id)
{
	uint64_t len = 1 + check_rng_next(&m->rng) % MAX_CHAIN;
	struct node *next = NULL;
	for (uint64_t k = len; k > 0; k--) {
		struct node *n = mgc_alloc(sizeof *n);
		CHECK(n != NULL, "mgc_alloc failed");
		n->id = k == 1 ? id : id * 16 + k;
		n->len = len - k + 1;
		n->sum = node_sum(n->id, n->len);
		n->next = next;
		next = n;
	}
	return next;
}

static void
check_chain(const struct node *n, uint64_t id, const char *where)
{
	if (id == 0) {
		CHECK(n == NULL, "%s: slot should be empty, holds %p", where, (void *)n);
		return;
	}
	CHECK(n != NULL && n->id == id, "%s: chain %llu lost (found %p, id %llu)", where,
	      (unsigned long long)id, (void *)n, n ? (unsigned long long)n->id : 0ull);
	uint64_t len = n->len;
	for (uint64_t k = 1; k <= len; k++, n = n->next) {
		CHECK(n != NULL, "%s: chain %llu cut at node %llu", where, (unsigned long long)id,
		      (unsigned long long)k);
		uint64_t want = k == 1 ? id : id * 16 + k;
		CHECK(n->id == want && n->len == len - k + 1 && n->sum == node_sum(want, n->len),
		      "%s: chain %llu node %llu overwritten (id %llu len %llu sum %llx)", where,
		      (unsigned long long)id, (unsigned long long)k, (unsigned long long)n->id,
		      (unsigned long long)n->len, (unsigned long long)n->sum);
	}
	CHECK(n == NULL, "%s: chain %llu runs on", where, (unsigned long long)id);
}

static void
check_all(const struct mutator *m, const char *where)
{
	for (int h = 0; h < HOLDERS; h++)
		for (int s = 0; s < SLOTS; s++)
			check_chain(m->holders[h][s], m->want[h * SLOTS + s], where);
	for (int p = 0; p < PARK; p++)
		check_chain(m->park[p], m->park_want[p], where);
}

/* A random slot: its address and its entry in want. */
static struct node **
pick(struct mutator *m, uint64_t **want)
{
	uint64_t r = check_rng_next(&m->rng) % (HOLDERS * SLOTS);
	*want = &m->want[r];
	return &m->holders[r / SLOTS][r % SLOTS];
}

static void
op_move(struct mutator *m)
{
	uint64_t *wa, *wb;
	struct node **a = pick(m, &wa), **b = pick(m, &wb);
	if (a == b)
		return;
	struct node *n = *a, *old = *b;
	uint64_t id = *wa;
	*a = NULL; /* now only in n */
	*b = n;
	*a = old;
	*wa = *wb;
	*wb = id;
}

static void
op_kernel(struct mutator *m)
{
	uint64_t *wa, *wb;
	struct node **a = pick(m, &wa), **b = pick(m, &wb);
	if (a == b || *b != NULL)
		return;
	/* While its address is in the pipe, where no collector looks, the
	 * chain is kept by this stack slot; the kernel's write of it into *b
	 * is what a concurrent cycle must see. */
	struct node *volatile keep = *a;
	CHECK(write(m->pipe[1], a, sizeof *a) == sizeof *a, "write: %s", strerror(errno));
	*a = NULL;
	CHECK(read(m->pipe[0], b, sizeof *b) == sizeof *b, "read: %s", strerror(errno));
	(void)keep; /* alive until here */
	*wb = *wa;
	*wa = 0;
}

static void
op_park(struct mutator *m)
{
	uint64_t *wa;
	struct node **a = pick(m, &wa);
	int p = (int)(check_rng_next(&m->rng) % PARK);
	struct node *n = *a;
	uint64_t id = *wa;
	*a = m->park[p];
	*wa = m->park_want[p];
	m->park[p] = n;
	m->park_want[p] = id;
}

static void
op_replace(struct mutator *m)
{
	uint64_t *wa;
	struct node **a = pick(m, &wa);
	uint64_t id = m->next_id++;
	*a = new_chain(m, id);
	*wa = id;
}

/* Garbage, and scratch memory the collector does not scan, written while
 * cycles mark. */
static void
op_garbage(struct mutator *m, char *scratch, size_t scratch_size)
{
	size_t size = 16 + check_rng_next(&m->rng) % 2000;
	char *g = mgc_alloc(size);
	CHECK(g != NULL, "mgc_alloc failed");
	memset(g, 0x5a, size);
	char *x = malloc(size);
	CHECK(x != NULL, "malloc failed");
	memcpy(x, g, size);
	free(x);
	memset(scratch + check_rng_next(&m->rng) % (scratch_size - size), 1, size);
}

static void
child_checks(void *arg)
{
	const struct mutator *m = arg;
	check_all(m, "forked child");
	mgc_collect();
	check_all(m, "forked child, after a collection");
}

static void
op_fork(struct mutator *m)
{
	static char err[1024];
	int status = -1, sig = check_child(child_checks, m, err, sizeof err, &status);
	CHECK(sig == 0 && status == 0, "forked child failed (signal %d, status %d): %s", sig,
	      status, err);
}

static void *
mutate(void *arg)
{
	struct mutator *m = arg;
	size_t scratch_size = 1 << 20;
	char *scratch = mmap(NULL, scratch_size, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(scratch != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(pipe(m->pipe) == 0, "pipe: %s", strerror(errno));
	m->holders = mgc_alloc(HOLDERS * sizeof *m->holders);
	m->want = calloc(HOLDERS * SLOTS, sizeof *m->want);
	CHECK(m->holders != NULL && m->want != NULL, "out of memory");
	m->next_id = 1 + ((uint64_t)m->index << 40);
	for (int h = 0; h < HOLDERS; h++) {
		m->holders[h] = mgc_alloc(SLOTS * sizeof *m->holders[h]);
		CHECK(m->holders[h] != NULL, "mgc_alloc failed");
	}
	for (int i = 0; i < HOLDERS * SLOTS; i += 2)
		op_replace(m);
	for (long r = 1; r <= m->rounds; r++) {
		uint64_t op = check_rng_next(&m->rng) % 16;
		if (op < 4)
			op_move(m);
		else if (op < 5)
			op_kernel(m);
		else if (op < 6)
			op_park(m);
		else if (op < 8)
			op_replace(m);
		else
			op_garbage(m, scratch, scratch_size);
		if (r % CHECK_EVERY == 0)
			check_all(m, "during the run");
		if (m->index == 0 && r % FORK_EVERY == 0 && !UNDER_TSAN)
			op_fork(m);
	}
	check_all(m, "at the end");
	close(m->pipe[0]);
	close(m->pipe[1]);
	munmap(scratch, scratch_size);
	return NULL;
}

static void
on_event(int e, void *arg)
{
	(void)arg;
	if (e == MGC_EVENT_START)
		atomic_fetch_add(&starts, 1);
	else if (e == MGC_EVENT_STOP)
		atomic_fetch_add(&stops, 1);
}

/* Whether this run should mark concurrently: the tracker was not turned
 * off (the kernel has userfaultfd write-protection here; the fallback run
 * turns it off). */
static bool
expect_concurrent(void)
{
	const char *d = getenv("MGC_DIRTY");
	return d == NULL || strcmp(d, "none") != 0;
}

static void
run(void *arg)
{
	(void)arg;
	static struct mutator ms[MAX_THREADS];
	setenv("MGC_CONCURRENT", "1", 1); /* in every variant: this test is about it */
	pthread_t ts[MAX_THREADS];
	size_t range = (size_t)MAX_THREADS * PARK * sizeof *root_range;
	root_range = mmap(NULL, range, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(root_range != MAP_FAILED, "mmap: %s", strerror(errno));
	mgc_add_roots(root_range, (char *)root_range + range);
	mgc_set_event_callback(on_event, NULL);
	mgc_set_gc_percent(50);
	for (int i = 0; i < nthreads; i++) {
		ms[i] = (struct mutator){
		        .index = i, .rounds = nrounds, .rng = 0x9e3779b97f4a7c15u * (i + 1)};
		ms[i].park = root_range + i * PARK;
		CHECK(pthread_create(&ts[i], NULL, mutate, &ms[i]) == 0, "pthread_create failed");
	}
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(ts[i], NULL) == 0, "pthread_join failed");
	mgc_set_event_callback(NULL, NULL);
	uint64_t st = atomic_load(&starts), sp = atomic_load(&stops);
	CHECK(st > 0, "no collection ran");
	if (expect_concurrent())
		CHECK(sp > st, "%llu collections stopped the world %llu times: none was concurrent",
		      (unsigned long long)st, (unsigned long long)sp);
	else
		CHECK(sp == st, "%llu collections stopped the world %llu times with tracking off",
		      (unsigned long long)st, (unsigned long long)sp);
	uint64_t conc = mgc_info(MGC_INFO_CONCURRENT_CYCLES);
	CHECK(conc == sp - st, "MGC_INFO_CONCURRENT_CYCLES %llu, but %llu cycles stopped twice",
	      (unsigned long long)conc, (unsigned long long)(sp - st));
	CHECK((conc == 0) == (mgc_info(MGC_INFO_MARK_CONCURRENT_NS) == 0),
	      "concurrent marking time with %llu concurrent cycles", (unsigned long long)conc);
	printf("%llu collections, %llu stops\n", (unsigned long long)st, (unsigned long long)sp);
}

static void
fallback(void *arg)
{
	(void)arg;
	setenv("MGC_DIRTY", "none", 1);
	run(NULL);
}

int
main(int argc, char **argv)
{
	nthreads = (int)check_arg(argc, argv, USAGE, 1, UNDER_TSAN ? 2 : 3, 1, MAX_THREADS);
	nrounds = check_arg(argc, argv, USAGE, 2, DEFAULT_ROUNDS, 1, 100000000);
	check_run_variants(run, NULL);
	if (getenv("CHECK_ONE_VARIANT") == NULL) {
		static char err[8192];
		int status = -1, sig = check_child(fallback, NULL, err, sizeof err, &status);
		CHECK(sig == 0 && status == 0,
		      "with tracking off (MGC_DIRTY=none): signal %d, status %d\n%s", sig, status,
		      err);
		printf("ok with tracking off (stop-the-world fallback)\n");
	}
	return 0;
}
