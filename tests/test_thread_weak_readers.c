/* test_thread_weak_readers — a pointer read from a weak handle keeps its
 * block alive for as long as the reader holds it.
 *
 * A table of 48-byte targets, each with a weak handle (odd slots made from
 * an interior pointer 16 bytes in).  Reader threads read handles over and
 * over; a non-NULL answer is held in a local, and its block must be live
 * (mgc_base gives its start) and intact (slot, key and checksum) both at
 * once and after the reader has allocated and run for a while.  One thread
 * collects in a loop; the main thread keeps replacing targets (the old ones
 * become garbage that only a reader may still hold) and allocating garbage
 * of the same size, so a block freed by mistake is soon reused and
 * overwritten.
 *
 * The run is repeated in child processes with MGC_MARKERS=1 and 4 (more
 * markers than CPUs widens any window between them) and under
 * MGC_CHECKMARK=1.
 *
 * usage: test_thread_weak_readers [READERS [SCALE [ITER]]]
 */
#include "check.h"

#include <pthread.h>
#include <time.h>

#define USAGE "[READERS [SCALE [ITER]]]"

enum { NTARGETS = 4096, TARGET_WORDS = 6, MAX_READERS = 16 };

static mgc_weak *handles[NTARGETS];
static uint64_t *targets[NTARGETS];
static _Atomic uint64_t keys;
static _Atomic bool stop;
static long iterations;

static uint64_t *
new_target(size_t slot)
{
	uint64_t *t = mgc_alloc(TARGET_WORDS * sizeof *t);
	CHECK(t != NULL, "mgc_alloc(target)");
	t[0] = slot;
	t[1] = atomic_fetch_add(&keys, 1) + 1;
	t[2] = check_mix(t[1] ^ slot);
	t[3] = ~t[2];
	return t;
}

/* Replace target `slot` and its handle. */
static void
replace(size_t slot)
{
	uint64_t *t = new_target(slot);
	void *ref = slot & 1 ? (void *)((char *)t + 16) : (void *)t;
	mgc_weak *w = mgc_weak_new(ref);
	CHECK(w != NULL, "mgc_weak_new: %s", strerror(errno));
	__atomic_store_n(&targets[slot], t, __ATOMIC_RELEASE);
	__atomic_store_n(&handles[slot], w, __ATOMIC_RELEASE);
}

static void
check_target(const void *p, size_t slot, const char *when)
{
	size_t off = slot & 1 ? 16 : 0;
	const uint64_t *base = (const uint64_t *)((const char *)p - off);
	CHECK(mgc_base(p, NULL) == base, "slot %zu: block %p from a weak handle is dead %s", slot,
	      (const void *)base, when);
	CHECK(base[0] == slot && base[2] == check_mix(base[1] ^ slot) && base[3] == ~base[2],
	      "slot %zu: block %p from a weak handle was overwritten %s (%#llx %#llx %#llx)", slot,
	      (const void *)base, when, (unsigned long long)base[0], (unsigned long long)base[1],
	      (unsigned long long)base[2]);
}

static void *
reader(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
	void *held = NULL;
	size_t held_slot = 0;
	uint64_t reads = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		size_t slot = (size_t)(check_rng_next(&rng) % NTARGETS);
		mgc_weak *w = __atomic_load_n(&handles[slot], __ATOMIC_ACQUIRE);
		void *p = mgc_weak_get(w);
		if (p != NULL) {
			check_target(p, slot, "when read");
			if (held != NULL)
				check_target(held, held_slot, "while held");
			held = p;
			held_slot = slot;
		}
		if (++reads % 256 == 0) {
			uint64_t *g = mgc_alloc(TARGET_WORDS * sizeof *g);
			CHECK(g != NULL, "mgc_alloc(reader garbage)");
			memset(g, 0xee, TARGET_WORDS * sizeof *g);
		}
	}
	if (held != NULL)
		check_target(held, held_slot, "at the end");
	return NULL;
}

static void *
collector(void *arg)
{
	(void)arg;
	struct timespec ms = {0, 1000000};
	while (!atomic_load(&stop)) {
		mgc_collect();
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static void
run(int nreaders, long scale)
{
	for (size_t i = 0; i < NTARGETS; i++)
		replace(i);
	pthread_t r[MAX_READERS], c;
	for (int i = 0; i < nreaders; i++)
		CHECK(pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1)) == 0,
		      "pthread_create");
	CHECK(pthread_create(&c, NULL, collector, NULL) == 0, "pthread_create");
	uint64_t rng = 42;
	struct timespec two_ms = {0, 2000000};
	for (long it = 0; it < iterations * scale; it++) {
		for (int k = 0; k < 8; k++)
			replace((size_t)(check_rng_next(&rng) % NTARGETS));
		for (int k = 0; k < 200; k++) {
			uint64_t *g = mgc_alloc(TARGET_WORDS * sizeof *g);
			CHECK(g != NULL, "mgc_alloc(garbage)");
			memset(g, 0x5a, TARGET_WORDS * sizeof *g);
		}
		nanosleep(&two_ms, NULL);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < nreaders; i++)
		pthread_join(r[i], NULL);
	pthread_join(c, NULL);
	mgc_stats st;
	mgc_read_stats(&st);
	CHECK(st.num_gc > 0, "no collection ran");
}

struct params {
	int readers;
	long scale;
};

static void
run_variant(void *arg)
{
	const struct params *p = arg;
	run(p->readers, p->scale);
}

int
main(int argc, char **argv)
{
	int readers = (int)check_arg(argc, argv, USAGE, 1, 4, 1, MAX_READERS);
	long scale = check_arg(argc, argv, USAGE, 2, 1, 1, 1000);
	iterations = check_arg(argc, argv, USAGE, 3, UNDER_TSAN ? 100 : 500, 1, 1L << 30);
	struct params p = {readers, scale};
	check_run_variants(run_variant, &p);
	return 0;
}
