/* test_info — mgc_info, mgc_set_markers and mgc_set_signals through the
 * public header.
 *
 * mgc_set_signals is the first call (before mgc is initialised): the
 * collections below stop a second thread with the chosen signals, and a
 * later call fails with EBUSY.  MGC_INFO_FREED_BYTES grows by exactly the
 * usable size of each block freed explicitly or moved by mgc_realloc;
 * MGC_INFO_SWEPT_BYTES by most of the garbage a collection finds;
 * MGC_INFO_HEAP_BYTES holds the live heap and lies within sys;
 * MGC_INFO_STOP_MAX_NS is the longest pause when every collection stops
 * the world once, and the concurrent figures stay 0.
 * mgc_set_markers changes MGC_INFO_MARKERS, and collections with fewer and
 * then more markers than before keep every reachable block. */
#include "check.h"

#include <mgc.h>

static atomic_bool stop;

static void *
churn(void *arg)
{
	(void)arg;
	mgc_register_thread();
	while (!atomic_load(&stop))
		CHECK(mgc_alloc(64) != NULL, "allocation in the second thread failed");
	return NULL;
}

static void
check_signals(void)
{
	pthread_t t;
	CHECK(mgc_info(MGC_INFO_SIGNAL_SUSPEND) == SIGUSR1 &&
	              mgc_info(MGC_INFO_SIGNAL_RESTART) == SIGUSR2,
	      "signals %llu, %llu, want SIGUSR1 and SIGUSR2",
	      (unsigned long long)mgc_info(MGC_INFO_SIGNAL_SUSPEND),
	      (unsigned long long)mgc_info(MGC_INFO_SIGNAL_RESTART));
	CHECK(pthread_create(&t, NULL, churn, NULL) == 0, "pthread_create failed");
	for (int i = 0; i < 20; i++)
		mgc_collect();
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	errno = 0;
	CHECK(mgc_set_signals(SIGTERM, 0) == -1 && errno == EBUSY,
	      "mgc_set_signals after initialisation did not fail with EBUSY");
}

static void
check_freed(void)
{
	uint64_t before = mgc_info(MGC_INFO_FREED_BYTES), expect = 0;
	size_t usable;
	for (size_t size = 1; size < 100000; size = size * 3 + 1) {
		void *p = mgc_alloc(size);
		CHECK(mgc_base(p, &usable) == p, "allocation of %zu bytes failed", size);
		expect += usable;
		mgc_free(p);
	}
	void *p = mgc_alloc(40);
	mgc_base(p, &usable);
	p = mgc_realloc(p, 4000); /* moves: counts a free of the old block */
	expect += usable;
	CHECK(mgc_info(MGC_INFO_FREED_BYTES) - before == expect,
	      "MGC_INFO_FREED_BYTES grew by %llu, want %llu",
	      (unsigned long long)(mgc_info(MGC_INFO_FREED_BYTES) - before),
	      (unsigned long long)expect);
	CHECK(p != NULL, "realloc failed");
}

static __attribute__((noinline)) void
make_garbage(size_t bytes)
{
	for (size_t n = 0; n < bytes; n += 1000)
		CHECK(mgc_alloc(1000) != NULL, "allocation failed");
}

static void
check_swept(void)
{
	mgc_collect();
	uint64_t before = mgc_info(MGC_INFO_SWEPT_BYTES);
	make_garbage(4 << 20);
	check_clear_stack();
	mgc_collect();
	uint64_t swept = mgc_info(MGC_INFO_SWEPT_BYTES) - before;
	CHECK(swept >= (4u << 20) / 10 * 9, "MGC_INFO_SWEPT_BYTES grew by %llu after 4 MiB garbage",
	      (unsigned long long)swept);
}

/* The heap's pages hold every live block and lie within what mgc holds. */
static void
check_heap_bytes(void)
{
	mgc_stats s;
	void *big = mgc_alloc(8 << 20);
	mgc_read_stats(&s);
	uint64_t heap = mgc_info(MGC_INFO_HEAP_BYTES);
	CHECK(heap >= s.heap_inuse && heap - s.heap_released >= s.alloc && heap <= s.sys,
	      "MGC_INFO_HEAP_BYTES %llu: in use %llu, released %llu, live %llu, sys %llu",
	      (unsigned long long)heap, (unsigned long long)s.heap_inuse,
	      (unsigned long long)s.heap_released, (unsigned long long)s.alloc,
	      (unsigned long long)s.sys);
	CHECK(heap >= (8u << 20), "an 8 MiB block in a heap of %llu bytes",
	      (unsigned long long)heap);
	mgc_free(big);
}

/* Without MGC_CONCURRENT, every collection stops the world once: the
 * longest stop is the longest pause, and no cycle marked concurrently. */
static void
check_stops(void)
{
	mgc_collect();
	mgc_stats s;
	mgc_read_stats(&s);
	uint64_t longest = mgc_info(MGC_INFO_STOP_MAX_NS);
	CHECK(s.num_gc > 0 && longest > 0 && longest <= s.pause_max_ns,
	      "MGC_INFO_STOP_MAX_NS %llu, pause_max_ns %llu after %llu collections",
	      (unsigned long long)longest, (unsigned long long)s.pause_max_ns,
	      (unsigned long long)s.num_gc);
	if (getenv("MGC_CONCURRENT") != NULL)
		return;
	CHECK(longest == s.pause_max_ns, "one stop per collection: %llu != %llu",
	      (unsigned long long)longest, (unsigned long long)s.pause_max_ns);
	CHECK(mgc_info(MGC_INFO_CONCURRENT_CYCLES) == 0 &&
	              mgc_info(MGC_INFO_MARK_CONCURRENT_NS) == 0 &&
	              mgc_info(MGC_INFO_RESCANNED_BYTES) == 0,
	      "concurrent figures without MGC_CONCURRENT");
}

static void **
make_list(int n)
{
	void **head = NULL;
	for (int i = 0; i < n; i++) {
		void **node = mgc_alloc(32);
		CHECK(node != NULL, "allocation failed");
		node[0] = head;
		node[1] = (void *)(uintptr_t)i;
		head = node;
	}
	return head;
}

static void
check_list(void **head, int n)
{
	for (int i = n - 1; i >= 0; i--, head = head[0])
		CHECK(head != NULL && head[1] == (void *)(uintptr_t)i, "list node %d lost", i);
}

static void
check_markers(void)
{
	void **list = make_list(200000);
	int def = (int)mgc_info(MGC_INFO_MARKERS);
	CHECK(def >= 1 && def <= 8, "MGC_INFO_MARKERS is %d", def);
	CHECK(mgc_set_markers(4) == def, "mgc_set_markers did not return the previous number");
	CHECK(mgc_info(MGC_INFO_MARKERS) == 4, "MGC_INFO_MARKERS after mgc_set_markers(4)");
	mgc_collect();
	CHECK(mgc_set_markers(1) == 4, "previous number 4");
	mgc_collect();
	check_list(list, 200000);
	CHECK(mgc_set_markers(8) == 1, "previous number 1");
	mgc_collect();
	check_list(list, 200000);
	CHECK(mgc_set_markers(0) == 8 && (int)mgc_info(MGC_INFO_MARKERS) == def,
	      "mgc_set_markers(0) did not restore the default");
	errno = 0;
	CHECK(mgc_set_markers(9) == -1 && errno == EINVAL, "mgc_set_markers(9): EINVAL");
	CHECK(mgc_set_markers(-1) == -1 && errno == EINVAL, "mgc_set_markers(-1): EINVAL");
	errno = 0;
	CHECK(mgc_info(99) == UINT64_MAX && errno == EINVAL, "mgc_info(99): EINVAL");
}

int
main(void)
{
	CHECK(mgc_set_signals(SIGKILL, 0) == -1 && errno == EINVAL, "SIGKILL accepted");
	CHECK(mgc_set_signals(SIGUSR1, SIGUSR1) == -1 && errno == EINVAL, "one signal twice");
	if (getenv("MGC_SIGNAL_SUSPEND") != NULL || getenv("MGC_SIGNAL_RESTART") != NULL) {
		printf("SKIP test_info: MGC_SIGNAL_SUSPEND or MGC_SIGNAL_RESTART is set\n");
		return 77;
	}
	CHECK(mgc_set_signals(SIGUSR1, SIGUSR2) == 0, "mgc_set_signals before initialisation");
	check_signals();
	check_freed();
	check_swept();
	check_heap_bytes();
	check_stops();
	check_markers();
	printf("test_info: ok\n");
	return 0;
}
