/* os.c — the operating-system layer: the only file that maps, protects or
 * releases memory.
 *
 * The heap reserves address space in large arenas (os_reserve, PROT_NONE,
 * nothing committed) and commits pages as it hands them out (os_commit).
 * Pages of free spans go back to the kernel with MADV_DONTNEED
 * (os_release): the range stays reserved and committed, reads back as zero,
 * and costs no memory until touched again.  Metadata (span records, page-map
 * chunks, caches) comes from os_alloc_meta, never from the collected heap.
 *
 * Every byte committed or mapped for metadata is counted in sys.  Heap pages
 * are never unmapped, only released, and released bytes stay in sys (the
 * contract counts them there).  Metadata that is replaced or no longer
 * needed (a table that grew, the checkmark's bitmap, a finalizer queue
 * segment) goes back with os_free_meta, which unmaps it and takes it out
 * of sys; os_reserve unmaps only the parts of a reservation it trims away
 * for alignment, which were never counted.
 *
 * Fault injection: os_fail_after(n) makes the nth commit or metadata mapping
 * from now fail as if the kernel had said ENOMEM; tests use it to prove that
 * every caller turns the failure into NULL/ENOMEM and a consistent heap.
 *
 * No locks: the counters are atomics, and callers serialise what they map.
 */
#include "internal.h"

enum { META_HUGE_MIN = 4 << 20 };

#include <errno.h>
#include <sys/mman.h>

static _Atomic uint64_t sys_bytes;  /* [atomic] */
static _Atomic long fail_countdown; /* [atomic] 0 = no injected failure */

void
os_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}

/* True when the caller must pretend the kernel refused this mapping. */
static bool
injected_failure(void)
{
	long n = atomic_load(&fail_countdown);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
			return n == 1;
	}
	return false;
}

uint64_t
os_sys_bytes(void)
{
	return atomic_load_explicit(&sys_bytes, memory_order_relaxed);
}

void *
os_reserve(size_t size, size_t align)
{
	if (size > MAX_REQUEST * 2 || size + align < size)
		return NULL;
	size_t span = size + align;
	char *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t start = round_up((uintptr_t)p, align);
	size_t head = start - (uintptr_t)p;
	if (head > 0)
		munmap(p, head);
	size_t tail = span - head - size;
	if (tail > 0)
		munmap((char *)start + size, tail);
	return (void *)start;
}

bool
os_commit(void *p, size_t size)
{
	/* A fresh fixed mapping rather than mprotect: the kernel then accounts
	 * the commit, so a request beyond what the machine can back fails here
	 * with ENOMEM instead of succeeding on paper. */
	if (injected_failure() ||
	    mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	            MAP_FAILED) {
		errno = ENOMEM;
		return false;
	}
	atomic_fetch_add_explicit(&sys_bytes, size, memory_order_relaxed);
	return true;
}

void *
os_alloc_meta(size_t size)
{
	if (injected_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	/* Large tables (the mark stack, the finalizer table, side maps of big
	 * heaps) are filled soon after they are made: huge pages spare them a
	 * fault per 4 KiB.  Small ones stay on small pages, to cost little. */
	if (size >= META_HUGE_MIN)
		os_hint_huge(p, size);
	atomic_fetch_add_explicit(&sys_bytes, size, memory_order_relaxed);
	return p;
}

void
os_free_meta(void *p, size_t size)
{
	munmap(p, size);
	atomic_fetch_sub_explicit(&sys_bytes, size, memory_order_relaxed);
}

void *
os_map_sparse(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void
os_account(size_t size)
{
	atomic_fetch_add_explicit(&sys_bytes, size, memory_order_relaxed);
}

void
os_release(void *p, size_t size)
{
	madvise(p, size, MADV_DONTNEED);
}

void
os_hint_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
	madvise(p, size, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#else
	(void)p;
	(void)size;
#endif
}
