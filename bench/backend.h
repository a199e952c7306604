/* backend.h — what the benchmark programs share: the backend a program is
 * compiled for, and the helpers around it (timing, peak RSS, the longest
 * collection pause, the result line).
 *
 * A program defines _GNU_SOURCE and BENCH_NAME (its name, for messages)
 * and then includes this header.  Exactly one define picks the backend:
 *   -DBACKEND_MGC       mgc (build/libmgc.a -lpthread -ldl)
 *   -DBACKEND_BOEHM     the Boehm collector (-lgc)
 * and, in a program that also defines BENCH_MALLOC_BACKENDS (churn.c):
 *   -DBACKEND_GLIBC     calloc / free from glibc
 *   -DBACKEND_MIMALLOC  calloc / free, linked with -lmimalloc
 *   -DBACKEND_JEMALLOC  calloc / free, linked with -ljemalloc
 *   -DBACKEND_TCMALLOC  calloc / free, linked with -ltcmalloc_minimal
 * BACKEND_SO is then a part of the path of the malloc library's shared
 * object.
 *
 * With a collector, -DBK_TYPED makes the typed variant (mgctyped,
 * boehmtyped): bk_alloc_typed allocates a node through the layout of its
 * type (bk_layout_new: which of its words hold pointers), and the
 * collector reads no other word of it.  Without BK_TYPED, bk_alloc_typed
 * is bk_alloc, a block scanned conservatively.
 *
 * bk_alloc (and, for the collectors, bk_alloc_noscan and bk_alloc_typed)
 * ends the program on failure; bk_free and bk_thread_start are for mgc and
 * the malloc libraries, bk_collect, bk_gc_stats, bk_which, bk_start and
 * bk_print_result for the collectors.
 */
#ifndef MGC_BENCH_BACKEND_H
#define MGC_BENCH_BACKEND_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including backend.h"
#endif

#if defined(BACKEND_MGC)
#include "mgc.h"
#if defined(BK_ONE_MARKER)
#define BACKEND_NAME "mgc1"
#elif defined(BK_PERCENT)
#define BACKEND_NAME "mgcpct"
#elif defined(BK_TYPED)
#define BACKEND_NAME "mgctyped"
#else
#define BACKEND_NAME "mgc"
#endif
#define BK_ALLOC(n) mgc_alloc(n)
#define BK_ALLOC_NOSCAN(n) mgc_alloc_noscan(n)
#define BK_FREE(p) mgc_free(p)
#define BK_COLLECT() mgc_collect()
#elif defined(BACKEND_BOEHM) && !defined(BENCH_MALLOC_BACKENDS)
#include <gc.h>
#ifdef BK_TYPED
#include <gc/gc_typed.h>
#endif
#if defined(BK_PARALLEL_MARK)
#define BACKEND_NAME "boehmpar"
#elif defined(BK_TYPED)
#define BACKEND_NAME "boehmtyped"
#else
#define BACKEND_NAME "boehm"
#endif
#define BK_ALLOC(n) GC_MALLOC(n)
#define BK_ALLOC_NOSCAN(n) GC_MALLOC_ATOMIC(n)
#define BK_COLLECT() GC_gcollect()
#elif defined(BENCH_MALLOC_BACKENDS)
#if defined(BACKEND_GLIBC)
#define BACKEND_NAME "glibc"
#define BACKEND_SO "/libc.so"
#elif defined(BACKEND_MIMALLOC)
#define BACKEND_NAME "mimalloc"
#define BACKEND_SO "/libmimalloc"
#elif defined(BACKEND_JEMALLOC)
#define BACKEND_NAME "jemalloc"
#define BACKEND_SO "/libjemalloc"
#elif defined(BACKEND_TCMALLOC)
#define BACKEND_NAME "tcmalloc"
#define BACKEND_SO "/libtcmalloc"
#else
#error "define one of BACKEND_MGC, BACKEND_GLIBC, BACKEND_MIMALLOC, BACKEND_JEMALLOC, BACKEND_TCMALLOC"
#endif
#define BK_ALLOC(n) calloc(1, (n))
#define BK_FREE(p) free(p)
#else
#error "define one of BACKEND_MGC, BACKEND_BOEHM"
#endif

/* ---- helpers ---------------------------------------------------------- */

static inline double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline long
peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static inline void
die_oom(size_t n)
{
	fprintf(stderr, BENCH_NAME ": %s: allocation of %zu bytes failed\n", BACKEND_NAME, n);
	exit(1);
}

static inline uint64_t
xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* A positive count given on the command line; a bad one ends the program
 * (exit 2). */
static inline unsigned long long
parse_count(const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v == 0 || arg[0] == '-') {
		fprintf(stderr, BENCH_NAME ": bad count '%s'\n", arg);
		exit(2);
	}
	return v;
}

/* Overwrites the dead part of the stack below the caller, so that no stale
 * copy of a pointer left there by the functions it called keeps a block
 * reachable.  Not inlined, so that its buffer is below the caller's frame. */
static __attribute__((noinline, unused)) void
clear_stack(void)
{
	volatile char buf[16384];
	size_t i;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = 0;
}

/* ---- backend ---------------------------------------------------------- */

static inline void *
bk_alloc(size_t n)
{
	void *p = BK_ALLOC(n);

	if (p == NULL)
		die_oom(n);
	return p;
}

#ifdef BK_ALLOC_NOSCAN
/* A block the collector does not scan for pointers. */
static inline void *
bk_alloc_noscan(size_t n)
{
	void *p = BK_ALLOC_NOSCAN(n);

	if (p == NULL)
		die_oom(n);
	return p;
}
#endif

#ifdef BK_COLLECT
/* ---- typed allocation ------------------------------------------------- */

/* The bit of a pointer field in a layout's bitmap: its word in the type. */
#define BK_PTR_BIT(type, field) ((uint64_t)1 << (offsetof(type, field) / sizeof(void *)))
/* The words of a type, a whole number of them. */
#define BK_WORDS(type) (sizeof(type) / sizeof(void *))

#if defined(BK_TYPED) && defined(BACKEND_MGC)
typedef const mgc_layout *bk_layout;

/* The layout of a type of nwords words (at most 64): word i may hold a
 * pointer when bit i of bits is set. */
static inline bk_layout
bk_layout_new(uint64_t bits, size_t nwords)
{
	bk_layout l = mgc_layout_new(&bits, nwords);

	if (l == NULL) {
		fprintf(stderr, BENCH_NAME ": %s: mgc_layout_new failed\n", BACKEND_NAME);
		exit(1);
	}
	return l;
}

/* A block of n bytes scanned through layout l. */
static inline void *
bk_alloc_typed(size_t n, bk_layout l)
{
	void *p = mgc_alloc_typed(n, l);

	if (p == NULL)
		die_oom(n);
	return p;
}
#elif defined(BK_TYPED) && defined(BACKEND_BOEHM)
typedef GC_descr bk_layout;

static inline bk_layout
bk_layout_new(uint64_t bits, size_t nwords)
{
	GC_word bm[1] = {0};
	size_t i;

	for (i = 0; i < nwords; i++)
		if (bits >> i & 1)
			GC_set_bit(bm, i);
	return GC_make_descriptor(bm, nwords);
}

static inline void *
bk_alloc_typed(size_t n, bk_layout l)
{
	void *p = GC_malloc_explicitly_typed(n, l);

	if (p == NULL)
		die_oom(n);
	return p;
}
#else
/* Conservative: the layout is not used. */
typedef int bk_layout;

static inline bk_layout
bk_layout_new(uint64_t bits, size_t nwords)
{
	(void)bits;
	(void)nwords;
	return 0;
}

static inline void *
bk_alloc_typed(size_t n, bk_layout l)
{
	(void)l;
	return bk_alloc(n);
}
#endif
#endif

#ifdef BK_FREE
static inline void
bk_free(void *p)
{
	BK_FREE(p);
}

/* Called first thing by every worker thread. */
static inline void
bk_thread_start(void)
{
#ifdef BACKEND_MGC
	mgc_register_thread();
#endif
}
#endif

#ifdef BK_COLLECT
/* One full collection. */
static inline void
bk_collect(void)
{
	BK_COLLECT();
}
#endif

#if defined(BACKEND_MGC)
static inline void
bk_init(void)
{
#ifdef BK_ONE_MARKER
	setenv("MGC_MARKERS", "1", 1); /* read once, when mgc starts */
#endif
#ifdef BK_PERCENT
	setenv("MGC_GCPERCENT", "100", 0); /* the fixed rule, unless told otherwise */
#endif
	mgc_init();
}

/* Longest pause in milliseconds and number of collections. */
static inline void
bk_gc_stats(double *max_pause_ms, unsigned long *num_gc)
{
	mgc_stats st;

	mgc_read_stats(&st);
	*max_pause_ms = st.pause_max_ns / 1e6;
	*num_gc = (unsigned long)st.num_gc;
}

static inline void
bk_which(void)
{
#if defined(BK_ONE_MARKER)
	printf("mgc1: statically linked, MGC_MARKERS=1 (marking on one thread)\n");
#elif defined(BK_PERCENT)
	printf("mgcpct: statically linked, MGC_GCPERCENT=100 (the fixed percent rule)\n");
#elif defined(BK_TYPED)
	printf("mgctyped: statically linked, nodes allocated with mgc_alloc_typed\n");
#else
	printf("mgc: statically linked\n");
#endif
}
#elif defined(BACKEND_BOEHM)
static double bk_gc_started, bk_gc_max_pause;

/* Called by the collector, with its lock held, around every collection. */
static inline void GC_CALLBACK
bk_on_gc_event(GC_EventType e)
{
	double d;

	if (e == GC_EVENT_START) {
		bk_gc_started = now_sec();
	} else if (e == GC_EVENT_END) {
		d = now_sec() - bk_gc_started;
		if (d > bk_gc_max_pause)
			bk_gc_max_pause = d;
	}
}

static inline void
bk_init(void)
{
	GC_INIT();
#ifdef BK_PARALLEL_MARK
	/* A single-threaded program does not start Boehm's parallel markers
	 * by itself; this variant asks for them, as mgc's default does. */
	GC_start_mark_threads();
#endif
	GC_set_on_collection_event(bk_on_gc_event);
}

static inline void
bk_gc_stats(double *max_pause_ms, unsigned long *num_gc)
{
	*max_pause_ms = bk_gc_max_pause * 1e3;
	*num_gc = (unsigned long)GC_get_gc_no();
}

static inline void
bk_which(void)
{
	unsigned v = GC_get_version();

#if defined(BK_PARALLEL_MARK)
	printf("boehmpar: bdwgc %u.%u.%u, default settings, GC_start_mark_threads()\n",
	       v >> 16, (v >> 8) & 0xff, v & 0xff);
#elif defined(BK_TYPED)
	printf("boehmtyped: bdwgc %u.%u.%u, default settings, nodes allocated with "
	       "GC_malloc_explicitly_typed\n",
	       v >> 16, (v >> 8) & 0xff, v & 0xff);
#else
	printf("boehm: bdwgc %u.%u.%u, default settings\n", v >> 16, (v >> 8) & 0xff,
	       v & 0xff);
#endif
}
#endif

#ifdef BK_COLLECT
/* Starts the collector; `PROGRAM --which` prints its identity and exits. */
static inline void
bk_start(int argc, char **argv)
{
	bk_init();
	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		bk_which();
		exit(0);
	}
}

/* The start of a result line, "name backend seconds peak_rss_kib
 * max_pause_ms num_gc", with seconds to prec decimals; the caller adds
 * its own columns and the newline. */
static inline void
bk_print_result(const char *name, int prec, double secs)
{
	double max_pause;
	unsigned long num_gc;

	bk_gc_stats(&max_pause, &num_gc);
	printf("%s %s %.*f %ld %.2f %lu", name, BACKEND_NAME, prec, secs, peak_rss_kib(),
	       max_pause, num_gc);
}
#endif

#endif
