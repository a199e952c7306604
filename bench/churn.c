/* churn.c — allocator churn benchmark: mgc against malloc libraries.
 *
 * Compiled once per backend, selected with exactly one define:
 *   -DBACKEND_MGC       mgc_alloc / mgc_free (link build/libmgc.a -lpthread)
 *   -DBACKEND_GLIBC     calloc / free from glibc
 *   -DBACKEND_MIMALLOC  calloc / free, linked with -lmimalloc
 *   -DBACKEND_JEMALLOC  calloc / free, linked with -ljemalloc
 *   -DBACKEND_TCMALLOC  calloc / free, linked with -ltcmalloc_minimal
 * The malloc backends use calloc because mgc_alloc always returns zeroed
 * memory; both sides then pay for zeroing.  The malloc libraries replace
 * glibc's malloc by being linked in; a start-up check makes sure the
 * calloc/free the program calls really come from the library named, and
 * the program refuses to run (exit 2) otherwise.
 *
 * Usage:
 *   churn [-v] churn1   [ITERATIONS]   (default 10000000)
 *   churn [-v] prodcons [BLOCKS]       (default 5000000)
 *   churn --which                      (backend identity, then exit)
 * Output, one line per run:
 *   workload backend seconds ns_per_op peak_rss_kib
 * -v adds a line on stderr with the collector's statistics (mgc only).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>

#define BENCH_NAME "churn"
#define BENCH_MALLOC_BACKENDS
#include "backend.h"

#define NSLOTS 10000
#define MIN_SIZE 8
#define MAX_SIZE 4096
#define RING_CAP 4096 /* power of two */
#define SEED UINT64_C(0x9E3779B97F4A7C15)
#define CHURN1_DEFAULT 10000000
#define PRODCONS_DEFAULT 5000000

/* The slot table and the ring live in bss, so that for mgc they are roots
 * (memory from malloc would not be scanned) and every backend sees the
 * same layout. */
static void *slots[NSLOTS];
static void *ring[RING_CAP];
static alignas(64) atomic_size_t ring_head; /* written by the producer */
static alignas(64) atomic_size_t ring_tail; /* written by the consumer */
static volatile unsigned sink;              /* keeps the reads alive */

/* ---- backend ---------------------------------------------------------- */

#ifdef BACKEND_MGC
/* mgc is linked statically and called directly; check that it answers. */
static int bk_check(char *desc, size_t len)
{
	size_t usable = 0;
	void *p;

	mgc_init();
	p = mgc_alloc(100);
	if (p == NULL || mgc_base(p, &usable) != p || usable < 100) {
		snprintf(desc, len, "mgc_alloc/mgc_base sanity check failed");
		return -1;
	}
	mgc_free(p);
	snprintf(desc, len, "mgc (mgc_alloc/mgc_free, statically linked)");
	return 0;
}

static void bk_report(void)
{
	mgc_stats st;

	mgc_read_stats(&st);
	fprintf(stderr, "# mgc: num_gc %llu pause_total_ms %.1f pause_max_ms %.2f "
		"sys_mib %.1f mallocs %llu frees %llu\n",
		(unsigned long long)st.num_gc, st.pause_total_ns / 1e6,
		st.pause_max_ns / 1e6, st.sys / 1048576.0,
		(unsigned long long)st.mallocs, (unsigned long long)st.frees);
}
#else
/* Object file that provides the symbol the program resolves for `name`. */
static const char *provider(const char *name)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, name);

	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
		return "(unknown)";
	return info.dli_fname;
}

static void *lookup(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* Version string of the library under test, or NULL if its own entry
 * point is missing (then it is not really loaded). */
static const char *bk_version(char *buf, size_t len)
{
#if defined(BACKEND_GLIBC)
	const char *(*fn)(void);
	void *sym = lookup("gnu_get_libc_version");

	if (sym == NULL)
		return NULL;
	memcpy(&fn, &sym, sizeof fn);
	snprintf(buf, len, "glibc %s", fn());
#elif defined(BACKEND_MIMALLOC)
	int (*fn)(void);
	void *sym = lookup("mi_version");

	if (sym == NULL)
		return NULL;
	memcpy(&fn, &sym, sizeof fn);
	snprintf(buf, len, "mimalloc mi_version %d", fn());
#elif defined(BACKEND_JEMALLOC)
	int (*fn)(const char *, void *, size_t *, void *, size_t);
	void *sym = lookup("mallctl");
	const char *v = NULL;
	size_t vlen = sizeof v;

	if (sym == NULL)
		return NULL;
	memcpy(&fn, &sym, sizeof fn);
	if (fn("version", &v, &vlen, NULL, 0) != 0 || v == NULL)
		return NULL;
	snprintf(buf, len, "jemalloc %s", v);
#elif defined(BACKEND_TCMALLOC)
	const char *(*fn)(int *, int *, const char **);
	void *sym = lookup("tc_version");
	int major = 0, minor = 0;
	const char *patch = "";

	if (sym == NULL || lookup("MallocExtension_GetNumericProperty") == NULL)
		return NULL;
	memcpy(&fn, &sym, sizeof fn);
	snprintf(buf, len, "%s", fn(&major, &minor, &patch));
#endif
	return buf;
}

/* The backend is active if its own entry point exists and calloc and free
 * as the program resolves them come from its shared object. */
static int bk_check(char *desc, size_t len)
{
	char ver[128];
	const char *c = provider("calloc"), *f = provider("free");

	if (bk_version(ver, sizeof ver) == NULL) {
		snprintf(desc, len, "%s is not loaded (its entry point is missing)",
			BACKEND_NAME);
		return -1;
	}
	if (strstr(c, BACKEND_SO) == NULL || strstr(f, BACKEND_SO) == NULL) {
		snprintf(desc, len, "%s loaded but calloc is from %s, free from %s",
			ver, c, f);
		return -1;
	}
	snprintf(desc, len, "%s (calloc/free from %s)", ver, c);
	return 0;
}

static void bk_report(void)
{
}
#endif

/* ---- helpers ---------------------------------------------------------- */

static size_t rand_size(uint64_t *s)
{
	return MIN_SIZE + (size_t)((xorshift64(s) >> 32) % (MAX_SIZE - MIN_SIZE + 1));
}

/* New block of a random size with its first and last byte written. */
static unsigned char *new_block(uint64_t *s, unsigned char tag)
{
	size_t n = rand_size(s);
	unsigned char *p = bk_alloc(n);

	p[0] = tag;
	p[n - 1] = tag;
	return p;
}

/* ---- churn1: one thread, random replacement in a table ----------------- */

static void churn1(uint64_t iters)
{
	uint64_t s = SEED;
	unsigned sum = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		size_t k = (size_t)(xorshift64(&s) % NSLOTS);
		unsigned char *old = slots[k];

		if (old != NULL) {
			sum += old[0];
			bk_free(old);
		}
		slots[k] = new_block(&s, (unsigned char)i);
	}
	for (i = 0; i < NSLOTS; i++) {
		bk_free(slots[i]);
		slots[i] = NULL;
	}
	sink = sum;
}

/* ---- prodcons: blocks handed from one thread to another ---------------- */

static void *producer(void *arg)
{
	uint64_t n = *(const uint64_t *)arg;
	uint64_t s = SEED;
	size_t head = 0, tail = 0;
	uint64_t i;

	bk_thread_start();
	for (i = 0; i < n; i++) {
		unsigned char *p = new_block(&s, (unsigned char)i);

		while (head - tail == RING_CAP) {
			tail = atomic_load_explicit(&ring_tail, memory_order_acquire);
			if (head - tail == RING_CAP)
				sched_yield();
		}
		ring[head % RING_CAP] = p;
		head++;
		atomic_store_explicit(&ring_head, head, memory_order_release);
	}
	return NULL;
}

/* The consumer frees a block before releasing its ring slot, so the block
 * stays reachable from the ring until it is freed. */
static void *consumer(void *arg)
{
	uint64_t n = *(const uint64_t *)arg;
	size_t head = 0, tail = 0;
	unsigned sum = 0;
	uint64_t i;

	bk_thread_start();
	for (i = 0; i < n; i++) {
		unsigned char *p;

		while (tail == head) {
			head = atomic_load_explicit(&ring_head, memory_order_acquire);
			if (tail == head)
				sched_yield();
		}
		p = ring[tail % RING_CAP];
		sum += p[0];
		bk_free(p);
		ring[tail % RING_CAP] = NULL;
		tail++;
		atomic_store_explicit(&ring_tail, tail, memory_order_release);
	}
	sink = sum;
	return NULL;
}

static void prodcons(uint64_t blocks)
{
	pthread_t prod, cons;
	int err;

	atomic_store(&ring_head, 0);
	atomic_store(&ring_tail, 0);
	err = pthread_create(&cons, NULL, consumer, &blocks);
	if (err == 0)
		err = pthread_create(&prod, NULL, producer, &blocks);
	if (err != 0) {
		fprintf(stderr, "churn: pthread_create: %s\n", strerror(err));
		exit(1);
	}
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
}

/* ---- driver ----------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: churn [-v] churn1|prodcons [N]\n"
		"       churn --which\n");
	exit(2);
}

static void run(const char *workload, uint64_t n)
{
	double t0, secs;

	t0 = now_sec();
	if (strcmp(workload, "churn1") == 0)
		churn1(n);
	else
		prodcons(n);
	secs = now_sec() - t0;
	printf("%s %s %.3f %.1f %ld\n", workload, BACKEND_NAME, secs,
		secs * 1e9 / (double)n, peak_rss_kib());
}

int main(int argc, char **argv)
{
	char desc[512];
	int verbose = 0, i = 1;
	uint64_t n;

	if (bk_check(desc, sizeof desc) != 0) {
		fprintf(stderr, "churn: backend %s is not active: %s\n",
			BACKEND_NAME, desc);
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		printf("%s: %s\n", BACKEND_NAME, desc);
		return 0;
	}
	if (i < argc && strcmp(argv[i], "-v") == 0) {
		verbose = 1;
		i++;
	}
	if (i >= argc || argc - i > 2)
		usage();
	if (strcmp(argv[i], "churn1") == 0)
		n = CHURN1_DEFAULT;
	else if (strcmp(argv[i], "prodcons") == 0)
		n = PRODCONS_DEFAULT;
	else
		usage();
	if (i + 1 < argc)
		n = parse_count(argv[i + 1]);
	run(argv[i], n);
	if (verbose)
		bk_report();
	return 0;
}
