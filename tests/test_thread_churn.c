/* test_thread_churn — many threads allocating and freeing at once.
 *
 * usage: test_thread_churn [THREADS [SCALE [ITER]]]
 *   THREADS  worker threads (default 4)
 *   SCALE    multiplies the blocks each worker keeps live (64 per unit)
 *   ITER     allocations per worker (default 20000, fewer under TSan)
 *
 * Each worker replaces random blocks of its table with new ones of random
 * size (8 bytes to 64 KiB, one in 64 up to 1 MiB), scan and noscan, each
 * filled with a pattern derived from its address and a seed and checked
 * before it is freed.  Half the blocks a worker retires are handed over,
 * through a mutex-protected queue, to another thread that checks and frees
 * them.  Meanwhile short-lived threads fill their caches (allocate and free
 * many small blocks), hand a few blocks over and exit.  At the end every
 * block was checked exactly once, and mallocs - frees and alloc are back
 * to where they were at the start.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#include <mgc.h>

#define USAGE "[THREADS [SCALE [ITER]]]"
#define DEFAULT_THREADS 4
#define DEFAULT_ITER (UNDER_TSAN ? 3000 : 20000)
#define SLOTS_PER_SCALE 64
#define MAX_THREADS 64
#define NEXITERS 8
#define EXITER_CLASSES 16
#define EXITER_PER_CLASS 64
#define EXITER_HANDOVER 32
#define QCAP 4096

struct blk {
	unsigned char *p;
	size_t size;
	uint64_t seed;
	int owner;
};

/* Blocks in transit between threads.  In bss, so a root. */
static struct {
	pthread_mutex_t mu;
	struct blk q[QCAP];	/* [mu] ring buffer */
	size_t head, count;	/* [mu] */
} queue = { .mu = PTHREAD_MUTEX_INITIALIZER };

static atomic_ullong blocks_made;
static atomic_ullong blocks_checked;
static atomic_ullong handed_over;
static atomic_int exiters_done;

struct worker {
	pthread_t tid;
	int id;
	int slots;
	long iter;
	uint64_t rng;
};

static uint64_t
pattern_word(uint64_t key, size_t i)
{
	uint64_t x = key + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15u;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 29;
	return x;
}

static uint64_t
block_key(const struct blk *b)
{
	return (uint64_t)(uintptr_t)b->p ^ b->seed;
}

static void
fill(const struct blk *b)
{
	uint64_t key = block_key(b), *w = (uint64_t *)(void *)b->p;
	size_t n = b->size / 8, tail = b->size % 8;
	uint64_t last = pattern_word(key, n);

	for (size_t i = 0; i < n; i++)
		w[i] = pattern_word(key, i);
	for (size_t j = 0; j < tail; j++)
		b->p[n * 8 + j] = (unsigned char)(last >> (8 * j));
}

static void
verify(const struct blk *b, int by)
{
	uint64_t key = block_key(b);
	const uint64_t *w = (const uint64_t *)(const void *)b->p;
	size_t n = b->size / 8, tail = b->size % 8;
	uint64_t last = pattern_word(key, n);

	for (size_t i = 0; i < n; i++)
		CHECK(w[i] == pattern_word(key, i), "block %p (%zu bytes, made by thread %d, "
		      "checked by %d): word %zu is %#jx, want %#jx", (void *)b->p, b->size,
		      b->owner, by, i, (uintmax_t)w[i], (uintmax_t)pattern_word(key, i));
	for (size_t j = 0; j < tail; j++)
		CHECK(b->p[n * 8 + j] == (unsigned char)(last >> (8 * j)), "block %p (%zu "
		      "bytes, thread %d): tail byte %zu wrong", (void *)b->p, b->size, b->owner, j);
	atomic_fetch_add(&blocks_checked, 1);
}

static size_t
random_size(uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);

	if (r % 64 == 0)
		return (size_t)(64 * 1024 + (r >> 8) % (1024 * 1024 - 64 * 1024 + 1));
	return (size_t)(8 + (r >> 8) % (8u << ((r >> 40) % 14)));
}

static void
make_block(struct blk *b, size_t size, int owner, uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);
	size_t u = 0;

	b->p = r & 1 ? mgc_alloc(size) : mgc_alloc_noscan(size);
	CHECK(b->p != NULL, "thread %d: allocation of %zu bytes failed (errno %d)", owner,
	      size, errno);
	CHECK(mgc_base(b->p, &u) == b->p && check_ok_amount(size, u),
	      "thread %d: new block %p of %zu bytes: usable %zu", owner, (void *)b->p, size, u);
	b->size = size;
	b->seed = r;
	b->owner = owner;
	fill(b);
	atomic_fetch_add(&blocks_made, 1);
}

static void
release(struct blk *b, int by)
{
	verify(b, by);
	mgc_free(b->p);
	b->p = NULL;
}

/* Queues b for another thread; frees it here if the queue is full. */
static void
hand_over(struct blk *b, int by)
{
	bool queued = false;

	pthread_mutex_lock(&queue.mu);
	if (queue.count < QCAP) {
		queue.q[(queue.head + queue.count) % QCAP] = *b;
		queue.count++;
		queued = true;
	}
	pthread_mutex_unlock(&queue.mu);
	if (queued) {
		atomic_fetch_add(&handed_over, 1);
		b->p = NULL;
	} else {
		release(b, by);
	}
}

/* Takes the oldest queued block if another thread made it (any block when
 * self is negative); returns whether one was taken. */
static bool
take_over(int self, struct blk *out)
{
	bool taken = false;

	pthread_mutex_lock(&queue.mu);
	if (queue.count > 0 && queue.q[queue.head].owner != self) {
		*out = queue.q[queue.head];
		queue.q[queue.head].p = NULL;
		queue.head = (queue.head + 1) % QCAP;
		queue.count--;
		taken = true;
	}
	pthread_mutex_unlock(&queue.mu);
	return taken;
}

static void
take_over_one(int self)
{
	struct blk b;

	if (take_over(self, &b))
		release(&b, self);
}

/* Retires slot b (handing it over half the time) and fills it anew. */
static void
churn_slot(struct worker *w, struct blk *b)
{
	if (b->p != NULL) {
		if (check_rng_next(&w->rng) & 2)
			hand_over(b, w->id);
		else
			release(b, w->id);
	}
	make_block(b, random_size(&w->rng), w->id, &w->rng);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	/* The table is itself a scan block, reachable from this stack. */
	struct blk *live = mgc_alloc(sizeof *live * (size_t)w->slots);

	CHECK(live != NULL, "thread %d: no table", w->id);
	for (long i = 0; i < w->iter || !atomic_load(&exiters_done); i++) {
		churn_slot(w, &live[check_rng_next(&w->rng) % (uint64_t)w->slots]);
		take_over_one(w->id);
	}
	for (int i = 0; i < w->slots; i++)
		if (live[i].p != NULL)
			release(&live[i], w->id);
	mgc_free(live);
	return NULL;
}

/* A short-lived thread: fills its cache with free small blocks of many
 * classes, hands a few live blocks over, and exits. */
static void *
exiter_main(void *arg)
{
	int id = *(const int *)arg;
	uint64_t rng = 0x1234567u + (uint64_t)id * 0x9e3779b97f4a7c15u;
	struct blk b[EXITER_CLASSES * EXITER_PER_CLASS];
	int n = 0;

	for (int c = 0; c < EXITER_CLASSES; c++)
		for (int k = 0; k < EXITER_PER_CLASS; k++)
			make_block(&b[n++], (size_t)(c + 1) * 16 - (size_t)(k % 8), id, &rng);
	for (int i = 0; i < n; i++)
		release(&b[i], id);
	for (int i = 0; i < EXITER_HANDOVER; i++) {
		make_block(&b[i], random_size(&rng), id, &rng);
		hand_over(&b[i], id);
	}
	return NULL;
}

static void
run_exiters(int first_id)
{
	int ids[NEXITERS];

	for (int e = 0; e < NEXITERS; e++) {
		pthread_t t;

		ids[e] = first_id + e;
		CHECK(pthread_create(&t, NULL, exiter_main, &ids[e]) == 0, "pthread_create");
		CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	}
	atomic_store(&exiters_done, 1);
}

static void
check_stats(const mgc_stats *a, const mgc_stats *b)
{
	CHECK(b->mallocs - a->mallocs == b->frees - a->frees,
	      "mallocs +%llu but frees +%llu", (unsigned long long)(b->mallocs - a->mallocs),
	      (unsigned long long)(b->frees - a->frees));
	CHECK(b->alloc == a->alloc, "alloc %llu at the end, %llu at the start",
	      (unsigned long long)b->alloc, (unsigned long long)a->alloc);
	CHECK(b->mallocs - a->mallocs >= atomic_load(&blocks_made),
	      "mallocs +%llu for %llu blocks made", (unsigned long long)(b->mallocs - a->mallocs),
	      (unsigned long long)atomic_load(&blocks_made));
}

int
main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	int nthreads = (int)check_arg(argc, argv, USAGE, 1, DEFAULT_THREADS, 1, MAX_THREADS);
	int scale = (int)check_arg(argc, argv, USAGE, 2, 1, 1, 1000);
	long iter = check_arg(argc, argv, USAGE, 3, DEFAULT_ITER, 1, 1L << 40);
	mgc_stats start, end;
	struct blk b;

	mgc_read_stats(&start);
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].slots = SLOTS_PER_SCALE * scale;
		w[i].iter = iter;
		w[i].rng = 0x853c49e6748fea9bu ^ ((uint64_t)(i + 1) << 32);
		CHECK(pthread_create(&w[i].tid, NULL, worker_main, &w[i]) == 0, "pthread_create");
	}
	run_exiters(nthreads);
	for (int i = 0; i < nthreads; i++)
		CHECK(pthread_join(w[i].tid, NULL) == 0, "pthread_join");
	while (take_over(-1, &b))
		release(&b, -1);
	mgc_read_stats(&end);
	CHECK(atomic_load(&blocks_checked) == atomic_load(&blocks_made),
	      "%llu blocks made, %llu checked", (unsigned long long)atomic_load(&blocks_made),
	      (unsigned long long)atomic_load(&blocks_checked));
	CHECK(atomic_load(&handed_over) > 0, "no block was handed over");
	check_stats(&start, &end);
	return 0;
}
