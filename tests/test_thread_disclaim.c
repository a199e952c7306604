/* test_thread_disclaim — a hash-consing table of weak entries kept by a
 * disclaim callback, while threads build and walk pairs and collections
 * run (Boehm's disclaim_weakmap_test, on mgc's own calls).
 *
 * usage: test_thread_disclaim [THREADS [SCALE [ITER]]]
 *   THREADS  mutator threads (default 4, 3 under TSan)
 *   SCALE    pairs each thread holds, times 256
 *   ITER     operations per thread (default shorter in debug and TSan builds)
 *
 * Pairs (car, cdr, id, checksum) are of a kind whose trace function
 * reports car and cdr, with a disclaim callback and
 * MGC_DISCLAIM_TRACE_ALL.  Every pair is entered, by a hidden pointer, in
 * a table keyed by (car, cdr): pair_new returns the pair already entered
 * for its two arguments, if any, and brings it back with mgc_set_mark if
 * the last collection found it unreachable.  The disclaim callback takes
 * the pair's bucket with a trylock (keeping the pair if it is busy, or if
 * its mark was set since), checks the pair and its car and cdr intact
 * (MGC_DISCLAIM_TRACE_ALL keeps them), removes its entry and poisons it.
 * So a pair leaves the table exactly when it is reclaimed, and a pair
 * found in the table is never one the sweep frees.
 *
 * Each thread holds its population half in a local array (its stack) and
 * half in a malloc'd array that only the roots callback reports.  It
 * checks every pair it reaches: live to mgc_base, magic and checksum, and
 * hash-consing (pair_new of the same arguments gives the same pair).  A
 * collector thread alternates mgc_collect and mgc_heap_walk, which checks
 * that every pair it sees is whole or not yet filled in.
 *
 * Runs under each setting of check_run_variants (MGC_MARKERS 1 and 4,
 * MGC_CHECKMARK 0 and 1), or once with CHECK_ONE_VARIANT=1.
 */
#include "check.h"

#include <pthread.h>
#include <sched.h>

#include <mgc.h>

#define USAGE           "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS (UNDER_TSAN ? 3 : 4)
#if UNDER_TSAN
#define DEFAULT_ITER 3000
#elif defined(NDEBUG)
#define DEFAULT_ITER 200000
#else
#define DEFAULT_ITER 30000
#endif
#define MAX_THREADS 32
#define BUCKETS     1024
#define MAGIC       0x9a125eedu
#define POISON      0xdeadu
#define HIDE(p)     (~(uintptr_t)(p))

struct pair {
	uint64_t magic;
	struct pair *car, *cdr;
	uint64_t id, sum;
};

/* A table entry: an mgc block, so that the callback unlinks it without
 * freeing anything; the pair's address is hidden. */
struct entry {
	uintptr_t pair;
	struct entry *next;
};

struct config {
	long threads, pop, iter;
};

static int pair_kind;
static pthread_mutex_t bucket_lock[BUCKETS];
static struct entry **buckets; /* an mgc block, reached from here */
static _Atomic uint64_t next_id;
static _Atomic long added, found, removed, busy, revived, kept_marked, bad;
static _Atomic int mutators_left;
static struct pair **extra[MAX_THREADS]; /* malloc'd: reported by the roots callback */
static long extra_len;

static uint64_t
pair_sum(const struct pair *p)
{
	return check_mix(p->id ^ (uintptr_t)p->car * 3 ^ (uintptr_t)p->cdr * 5);
}

static unsigned
hash(const struct pair *car, const struct pair *cdr)
{
	return (unsigned)(check_mix((uintptr_t)car ^ (uintptr_t)cdr * 31) % BUCKETS);
}

static bool
whole(const struct pair *p)
{
	return p->magic == MAGIC && p->sum == pair_sum(p);
}

static void
trace_pair(void *block, size_t size, mgc_tracer *t, void *arg)
{
	(void)size;
	(void)arg;
	const struct pair *p = block;
	mgc_trace_ptr(t, p->car);
	mgc_trace_ptr(t, p->cdr);
}

/* The disclaim callback: no malloc, no blocking lock. */
static int
disclaim_pair(void *block, void *arg)
{
	(void)arg;
	struct pair *p = block;
	if (p->magic == 0)
		return 0; /* allocated, never filled in: never entered */
	if (!whole(p) || (p->car && !whole(p->car)) || (p->cdr && !whole(p->cdr)) ||
	    mgc_base(p, NULL) != p) {
		atomic_fetch_add(&bad, 1);
		return 1;
	}
	unsigned h = hash(p->car, p->cdr);
	if (pthread_mutex_trylock(&bucket_lock[h]) != 0) {
		atomic_fetch_add(&busy, 1);
		return 1;
	}
	if (mgc_is_marked(p)) { /* brought back since the collection */
		pthread_mutex_unlock(&bucket_lock[h]);
		atomic_fetch_add(&kept_marked, 1);
		return 1;
	}
	struct entry **e = &buckets[h];
	while (*e != NULL && (*e)->pair != HIDE(p))
		e = &(*e)->next;
	if (*e == NULL) {
		atomic_fetch_add(&bad, 1); /* an entered pair not in the table */
		pthread_mutex_unlock(&bucket_lock[h]);
		return 1;
	}
	*e = (*e)->next;
	p->magic = POISON;
	pthread_mutex_unlock(&bucket_lock[h]);
	atomic_fetch_add(&removed, 1);
	return 0;
}

static void
roots(mgc_tracer *t, void *arg)
{
	(void)arg;
	for (int i = 0; i < MAX_THREADS; i++)
		if (extra[i] != NULL)
			mgc_trace_range(t, extra[i], extra[i] + extra_len);
}

static struct pair *
lookup_locked(unsigned h, struct pair *car, struct pair *cdr)
{
	for (struct entry *e = buckets[h]; e != NULL; e = e->next) {
		struct pair *p = (struct pair *)HIDE(e->pair);
		if (p->car == car && p->cdr == cdr)
			return p;
	}
	return NULL;
}

/* ThreadSanitizer's runtime holds a signal back from a thread blocked in
 * pthread_mutex_lock, so a thread waiting for a bucket that a stopped
 * thread holds would never stop: under it, poll. */
static void
lock_bucket(unsigned h)
{
	if (!UNDER_TSAN) {
		CHECK(pthread_mutex_lock(&bucket_lock[h]) == 0, "lock");
		return;
	}
	while (pthread_mutex_trylock(&bucket_lock[h]) != 0)
		sched_yield();
}

static struct pair *
pair_new(struct pair *car, struct pair *cdr)
{
	unsigned h = hash(car, cdr);
	lock_bucket(h);
	struct pair *p = lookup_locked(h, car, cdr);
	if (p != NULL) {
		/* Entered, so not reclaimed; perhaps found dead by the last
		 * collection: bring it back before using it.  (Whether mgc_base
		 * calls it dead meanwhile is not asserted: a sweep on another
		 * thread may reach it now, find its bucket held here, and keep
		 * it.) */
		if (mgc_is_marked(p) == 0)
			atomic_fetch_add(&revived, 1);
		CHECK(mgc_set_mark(p, 1) == 0, "mgc_set_mark of an entered pair: errno %d", errno);
		CHECK(mgc_base(p, NULL) == p && whole(p), "entered pair %p not live or not whole",
		      (void *)p);
		atomic_fetch_add(&found, 1);
	} else {
		p = mgc_alloc_kind(sizeof *p, pair_kind);
		struct entry *e = mgc_alloc(sizeof *e);
		CHECK(p != NULL && e != NULL, "alloc");
		p->car = car;
		p->cdr = cdr;
		p->id = atomic_fetch_add(&next_id, 1);
		p->sum = pair_sum(p);
		p->magic = MAGIC;
		e->pair = HIDE(p);
		e->next = buckets[h];
		buckets[h] = e;
		atomic_fetch_add(&added, 1);
	}
	pthread_mutex_unlock(&bucket_lock[h]);
	return p;
}

/* A random path down from p, every pair checked. */
static void
check_path(const struct pair *p, uint64_t *rng)
{
	for (; p != NULL; p = check_rng_next(rng) & 1 ? p->car : p->cdr) {
		CHECK(mgc_base(p, NULL) == p, "pair %p not live", (const void *)p);
		CHECK(whole(p), "pair %p: magic %#llx, id %llu", (const void *)p,
		      (unsigned long long)p->magic, (unsigned long long)p->id);
	}
}

struct mutator {
	const struct config *cfg;
	long index;
};

static struct pair **
slot(struct pair **local, struct pair **far, long pop, long k)
{
	return k < pop / 2 ? &local[k] : &far[k - pop / 2];
}

static void *
mutator_main(void *arg)
{
	const struct mutator *me = arg;
	long pop = me->cfg->pop;
	struct pair *local[pop / 2 + 1];
	memset(local, 0, sizeof local);
	struct pair **far = extra[me->index];
	uint64_t rng = 0x9e3779b97f4a7c15u * (uint64_t)(me->index + 1);
	for (long i = 0; i < me->cfg->iter; i++) {
		struct pair **t =
		        slot(local, far, pop, (long)(check_rng_next(&rng) % (uint64_t)pop));
		uint64_t op = check_rng_next(&rng) % (i > me->cfg->iter / 10 ? 5 : 3);
		if (op == 0 || op == 3) {
			if (*t != NULL)
				*t = (*t)->car;
		} else if (op == 1 || op == 4) {
			if (*t != NULL)
				*t = (*t)->cdr;
		} else {
			struct pair *a = *slot(local, far, pop,
			                       (long)(check_rng_next(&rng) % (uint64_t)pop));
			struct pair *b = *slot(local, far, pop,
			                       (long)(check_rng_next(&rng) % (uint64_t)pop));
			struct pair *p = pair_new(a, b);
			CHECK(p->car == a && p->cdr == b && pair_new(a, b) == p, "hash-consing");
			*t = p;
		}
		check_path(*slot(local, far, pop, (long)(check_rng_next(&rng) % (uint64_t)pop)),
		           &rng);
	}
	for (long k = 0; k < pop; k++)
		check_path(*slot(local, far, pop, k), &rng);
	atomic_fetch_sub(&mutators_left, 1);
	return NULL;
}

static _Atomic long walked;

static void
walk_pair(void *block, size_t size, void *arg)
{
	(void)arg;
	const struct pair *p = block;
	if (mgc_is_marked(block) != 1)
		atomic_fetch_add(&bad, 1); /* allocated after the sweep: marked */
	if (p->magic != MAGIC)
		return;
	if (size < sizeof *p || !whole(p))
		atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&walked, 1);
}

static void *
collector_main(void *arg)
{
	(void)arg;
	for (int n = 0; atomic_load(&mutators_left) > 0; n++) {
		if (n % 4 == 3)
			mgc_heap_walk(walk_pair, NULL);
		else
			mgc_collect();
	}
	return NULL;
}

static void
run(void *arg)
{
	const struct config *cfg = arg;
	pair_kind = mgc_kind_new(trace_pair, NULL, 0);
	CHECK(pair_kind >= 4, "kind");
	CHECK(mgc_kind_set_disclaim(pair_kind, disclaim_pair, NULL, MGC_DISCLAIM_TRACE_ALL) == 0,
	      "disclaim");
	for (int i = 0; i < BUCKETS; i++)
		pthread_mutex_init(&bucket_lock[i], NULL);
	buckets = mgc_alloc(BUCKETS * sizeof *buckets);
	extra_len = cfg->pop - cfg->pop / 2;
	for (long i = 0; i < cfg->threads; i++) {
		extra[i] = calloc((size_t)extra_len, sizeof **extra);
		CHECK(extra[i] != NULL, "calloc");
	}
	mgc_set_roots_callback(roots, NULL);
	mgc_set_min_heap(1 << 20);
	atomic_store(&mutators_left, (int)cfg->threads);
	pthread_t ids[MAX_THREADS], col;
	struct mutator ms[MAX_THREADS];
	CHECK(pthread_create(&col, NULL, collector_main, NULL) == 0, "collector thread");
	for (long i = 0; i < cfg->threads; i++) {
		ms[i] = (struct mutator){cfg, i};
		CHECK(pthread_create(&ids[i], NULL, mutator_main, &ms[i]) == 0, "thread");
	}
	for (long i = 0; i < cfg->threads; i++)
		pthread_join(ids[i], NULL);
	pthread_join(col, NULL);
	mgc_collect();
	mgc_collect();
	/* The pairs the threads left in extra[] are there for this walk, if
	 * the collector thread had none in its time (a short run). */
	mgc_heap_walk(walk_pair, NULL);
	CHECK(atomic_load(&bad) == 0, "%ld pairs seen broken", atomic_load(&bad));
	CHECK(atomic_load(&removed) > 0 && atomic_load(&found) > 0 && atomic_load(&walked) > 0,
	      "added %ld, found %ld, removed %ld, walked %ld", atomic_load(&added),
	      atomic_load(&found), atomic_load(&removed), atomic_load(&walked));
	/* Every pair the threads held is still reachable from extra[]. */
	for (long i = 0; i < cfg->threads; i++)
		for (long k = 0; k < extra_len; k++) {
			uint64_t rng = (uint64_t)k + 1;
			check_path(extra[i][k], &rng);
		}
	printf("added %ld, found %ld (%ld brought back), removed %ld, kept busy %ld\n",
	       atomic_load(&added), atomic_load(&found), atomic_load(&revived),
	       atomic_load(&removed), atomic_load(&busy));
	CHECK(atomic_load(&kept_marked) == 0, "%ld pairs asked about though brought back",
	      atomic_load(&kept_marked));
}

int
main(int argc, char **argv)
{
	struct config cfg = {
	        check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, MAX_THREADS),
	        256 * check_arg(argc, argv, USAGE, 2, 1, 1, 1000),
	        check_arg(argc, argv, USAGE, 3, DEFAULT_ITER, 1, 100000000),
	};
	check_run_variants(run, &cfg);
	printf("test_thread_disclaim: ok\n");
	return 0;
}
