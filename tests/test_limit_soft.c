/* test_limit_soft — a soft memory limit holds a heap that fits in it.
 *
 * Under mgc_set_memory_limit(1.5 × L), the program keeps L bytes live
 * (1 GiB; 128 MiB under a 2 × L limit in debug builds) in 1 KiB blocks, then replaces an
 * eighth of them four times over and allocates twice L of short-lived
 * garbage meanwhile.  Without the limit the heap's goal would be well past
 * it.  The memory mgc holds (sys less released) never exceeds the limit at
 * any of the checks along the way, the process's peak RSS stays within the
 * limit plus 64 MiB for the program itself, and every live block keeps its
 * contents.  A limit set with MGC_MEMLIMIT's syntax is parsed as documented
 * (checked in a child, where the environment is read at start-up).
 *
 * usage: test_limit_soft [LIVE_MIB]
 */
#include "memory.h"

enum { NODE = 1024 };

static uint64_t **table; /* an mgc block: a root through this global */
static size_t nnodes;

static uint64_t *
node_new(size_t i, uint64_t gen)
{
	uint64_t *n = mgc_alloc_noscan(NODE);

	CHECK(n != NULL, "allocation of node %zu failed", i);
	check_fill(n, NODE / 8, i * 1315423911u + gen);
	n[0] = gen;
	return n;
}

static void
check_node(size_t i)
{
	uint64_t *n = table[i];
	uint64_t gen = n[0];
	uint64_t *copy = malloc(NODE);
	CHECK(copy != NULL, "malloc");
	check_fill(copy, NODE / 8, i * 1315423911u + gen);
	copy[0] = gen;
	CHECK(memcmp(copy, n, NODE) == 0, "node %zu (generation %llu) changed", i,
	      (unsigned long long)gen);
	free(copy);
}

static void
check_held(uint64_t limit, const char *when)
{
	uint64_t held = memory_held();

	/* In debug builds a collection can take as long as the mutator's run
	 * between two, and the CPU cap then lets the heap past the limit by
	 * what the program allocates meanwhile: a 16th of slack there. */
	if (MGC_DEBUG_BUILD)
		limit += limit / 16;
	CHECK(held <= limit, "%s: mgc holds %llu MiB, over the %llu MiB limit", when,
	      (unsigned long long)(held >> 20), (unsigned long long)(limit >> 20));
}

static void
churn(uint64_t live, uint64_t limit)
{
	uint64_t garbage_per_step = live * 2 / 32;

	for (int round = 1; round <= 4; round++)
		for (int step = 0; step < 8; step++) {
			for (size_t i = (size_t)step; i < nnodes; i += 64)
				table[i] = node_new(i, (uint64_t)round);
			for (uint64_t g = 0; g < garbage_per_step / 4; g += 256) {
				void *volatile junk = mgc_alloc(256);
				CHECK(junk != NULL, "garbage allocation failed");
			}
			check_held(limit, "churning");
		}
}

static void
env_limit(void *arg)
{
	(void)arg;
	mgc_stats s;

	mgc_read_stats(&s);
	/* The limit holds the goal at (limit - overhead) less an eighth. */
	CHECK(s.next_gc <= MIB(48) - MIB(48) / 8, "MGC_MEMLIMIT=48MiB: next_gc %llu",
	      (unsigned long long)s.next_gc);
	CHECK(mgc_set_memory_limit(0) == MIB(48), "MGC_MEMLIMIT=48MiB not read as 48 MiB");
}

int
main(int argc, char **argv)
{
	uint64_t live = MIB(check_arg(argc, argv, "[LIVE_MIB]", 1, MGC_DEBUG_BUILD ? 128 : 1024,
	                              16, 1 << 16));
	/* Debug builds mark several times slower, so the collector's CPU cap
	 * (a collection no sooner than the last one's duration after it) lets
	 * the heap past a tight limit there: give them room. */
	uint64_t limit = live + (MGC_DEBUG_BUILD ? live : live / 2);

	memory_child_with_env("MGC_MEMLIMIT", "48MiB", env_limit);

	CHECK(mgc_set_memory_limit(limit) == 0, "a limit was set before any");
	nnodes = live / NODE;
	table = mgc_alloc(nnodes * sizeof *table);
	CHECK(table != NULL, "table allocation failed");
	for (size_t i = 0; i < nnodes; i++) {
		table[i] = node_new(i, 0);
		if (i % (nnodes / 16) == 0)
			check_held(limit, "building");
	}
	churn(live, limit);
	for (size_t i = 0; i < nnodes; i++)
		check_node(i);
	uint64_t hwm = memory_status("VmHWM");
	CHECK(hwm <= limit + MIB(64), "peak RSS %llu MiB over the %llu MiB limit + 64 MiB",
	      (unsigned long long)(hwm >> 20), (unsigned long long)(limit >> 20));
	printf("test_limit_soft: %llu MiB live under a %llu MiB limit, peak RSS %llu MiB\n",
	       (unsigned long long)(live >> 20), (unsigned long long)(limit >> 20),
	       (unsigned long long)(hwm >> 20));
	return 0;
}
