/* dirty.c — dirty-page tracking: which heap pages were written since a
 * moment, for marking while the program runs.
 *
 * The heap tells this layer each range it commits (dirty_track).  The
 * collector opens a cycle (dirty_begin: every earlier write is forgotten),
 * asks as often as it likes for the pages written since (dirty_collect,
 * which forgets them again) and closes the cycle (dirty_end).  Backends,
 * chosen once (dirty_init) in this order, each after a probe that proves
 * it works on a scratch page:
 *   uffd-wp     userfaultfd write-protection in asynchronous mode
 *               (UFFD_FEATURE_WP_ASYNC, Linux 6.7+): the kernel resolves a
 *               write to a protected page itself (no signal, no thread) and
 *               the PAGEMAP_SCAN ioctl on /proc/self/pagemap lists the
 *               written pages and protects them again in the same pass,
 *               under the page-table lock, so a collect loses no write that
 *               races with it.  The syscall first, /dev/userfaultfd's
 *               USERFAULTFD_IOC_NEW if seccomp or the sysctl refuses it.
 *   soft-dirty  /proc/self/clear_refs ("4") and bit 55 of the pagemap
 *               entries, where the kernel is built with soft-dirty
 *               support (this machine's 6.18 kernel is not: the probe
 *               finds bit 55 never set).  Reading the bits and clearing them are two
 *               steps, and clear_refs works on the whole process, so a
 *               write that lands between them is lost: under soft-dirty
 *               every dirty_collect must run while no other thread writes
 *               the heap (the world stopped).
 *   none        tracking unavailable; dirty_begin says false and the
 *               collector stays stop-the-world.
 * MGC_CONCURRENT=0 forces none; MGC_DIRTY=uffd|soft|none forces one (none
 * when it is unavailable).  Nothing here ever fails the program: a refused
 * syscall or ioctl only moves the choice down the list.
 *
 * What is reported (uffd-wp).  Only pages that hold memory (present or
 * swapped) and are not write-protected, less the shared zero page, count
 * as written.  So a page never touched, released (MADV_DONTNEED) and not
 * touched since, or only read, is not reported, and a page first written
 * after begin is, as is one written by the kernel for the program (read(2)
 * into the heap: the kernel takes the same write fault and resolves it).
 * Protection of unpopulated pages (a feature of 6.7's uapi) is not asked
 * for, and holes are never protected: markers
 * in empty page tables made a 256 MiB first touch take 300 ms instead of
 * 20-60 ms and stopped the faults from getting huge pages (AnonHugePages 0
 * instead of 256 MiB); an unprotected hole that is written becomes a
 * present, unprotected page, which is reported anyway.
 *
 * Huge pages, measured here on 256 MiB (Linux 6.18, THP madvise):
 * protecting 128 populated huge pages takes 0.1 ms and keeps them huge, but
 * the first write to each splits it into 4 KiB pages (50-90 us a split;
 * AnonHugePages fell from 256 MiB to 0 after one write per 2 MiB), and
 * khugepaged does not collapse protected ptes again.  After the split a
 * first write costs a minor fault, about 2 us (65536 pages: 130 ms).  A
 * PAGEMAP_SCAN that protects again costs 0.1-0.5 ms for a clean 256 MiB,
 * 3-7 ms when all 65536 pages were written; unprotecting 256 MiB of 4 KiB
 * pages (dirty_end) 6 ms.  Decision: keep 4 KiB precision and accept the
 * splits.  Asynchronous write-protection cannot resolve a huge write fault
 * without splitting, so protecting at huge-page granularity would not keep
 * the huge page either, and it would report 512 times more to rescan;
 * pages the program does not write during a cycle stay huge.
 *
 * Ranges.  A sorted array of disjoint, non-touching ranges in metadata
 * memory, kept as page numbers so that no copy looks like a heap pointer
 * to the scanner (struct tracked): adjacent commits (GROW_MIN at a time inside an arena) merge into
 * one.  Under uffd-wp a range is registered with the userfaultfd from the
 * first dirty_begin on (before that, no program pays for it); later
 * commits are registered by dirty_track as they come.  A registration that
 * fails loses tracking for good: dirty_begin says false from then on.
 *
 * Fork.  The child inherits the userfaultfd and the pagemap and clear_refs
 * files, which still act on the parent's memory, but none of the parent's
 * registrations: dirty_after_fork_child closes them and makes the child's
 * backend none.
 *
 * Locking.  dirty_lock, a leaf, guards the range array and the arming; it
 * is taken by dirty_track (under the heap lock) and briefly by the
 * collector's calls, never around a callback or a scan.  dirty_begin,
 * dirty_collect and dirty_end are called by one thread at a time (the
 * collector, under the gc lock), which owns the cycle state and the scan
 * buffer; they may run while other threads run and commit.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- what Debian 12's headers lack (values of Linux 6.7's uapi) */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN          _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN       (1 << 1)
#define PAGE_IS_PRESENT       (1 << 3)
#define PAGE_IS_SWAPPED       (1 << 4)
#define PAGE_IS_PFNZERO       (1 << 5)
#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

enum {
	SCAN_BUF = 64 << 10, /* scan output, in metadata memory */
	SOFT_DIRTY_BIT = 55, /* of a pagemap entry */
	NOT_CHOSEN = -1,     /* backend before dirty_init */
	ANY_BACKEND = 7,     /* bit 1 << kind: backends allowed */
	RANGE_SHIFT = 12,    /* ranges are kept in 4 KiB page numbers */
};

static _Atomic int backend = NOT_CHOSEN; /* enum dirty_kind once chosen */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic bool forked;                                /* this process is a fork child */
static _Atomic bool lost;                                  /* tracking failed: no cycle may begin */
static int uffd = -1, pagemap_fd = -1, clear_refs_fd = -1; /* [init only] */
static size_t os_page;                                     /* [init only] */
static void *scan_buf; /* [init only] pointer; contents [gc lock] */
static bool active;    /* [gc lock] between begin and end */

/* In page numbers (address >> RANGE_SHIFT), not addresses: a range's start
 * is a block's address, and with addresses stored here the scavenger
 * test's dropped list stayed alive (a stale copy somewhere the scanner reads; most
 * likely a vector register the copies used, saved by the stop handler). */
struct tracked {
	uintptr_t lo, hi;
};
static pthread_mutex_t dirty_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked *ranges; /* [dirty_lock] sorted, disjoint, never touching */
static size_t nranges, rcap;   /* [dirty_lock] */
static bool armed;             /* [dirty_lock] uffd-wp: every range registered */

/* ---- file descriptors */

/* fd moved above stdin/out/err (a program that closed them must not find
 * the userfaultfd there), close-on-exec; -1 on failure. */
static int
fd_high(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return high;
}

static int
open_proc(const char *path, int flags)
{
	return fd_high(open(path, flags | O_CLOEXEC));
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the range list */

/* Index of the first range ending above page number a. */
static size_t
range_after(uintptr_t a)
{
	size_t lo = 0, hi = nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ranges[mid].hi > a)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The range array, dirty_lock held (as for the two below): twice as big. */
static bool
ranges_grow(void)
{
	size_t cap = rcap == 0 ? 4096 / sizeof *ranges : 2 * rcap;
	struct tracked *r = os_alloc_meta(cap * sizeof *r);
	if (r == NULL)
		return false;
	if (nranges > 0)
		memcpy(r, ranges, nranges * sizeof *r);
	if (rcap > 0)
		os_free_meta(ranges, rcap * sizeof *r);
	ranges = r;
	rcap = cap;
	return true;
}

/* Merge range i with those after it that it reaches; dirty_lock held. */
static void
merge_following(size_t i)
{
	while (i + 1 < nranges && ranges[i].hi >= ranges[i + 1].lo) {
		if (ranges[i + 1].hi > ranges[i].hi)
			ranges[i].hi = ranges[i + 1].hi;
		memmove(&ranges[i + 1], &ranges[i + 2], (nranges - i - 2) * sizeof *ranges);
		nranges--;
	}
}

static bool
range_add(uintptr_t lo, uintptr_t hi)
{
	if (nranges == rcap && !ranges_grow())
		return false;
	size_t i = range_after(lo);
	memmove(&ranges[i + 1], &ranges[i], (nranges - i) * sizeof *ranges);
	ranges[i] = (struct tracked){lo, hi};
	nranges++;
	merge_following(i);
	if (i > 0)
		merge_following(i - 1);
	return true;
}

/* The part at or above address cursor of the first range ending above it,
 * in *out as addresses;
 * false past the last.  Ranges change meanwhile only by growing, so a walk
 * by address misses nothing that was tracked when it started. */
static bool
range_next(uintptr_t cursor, struct tracked *out)
{
	pthread_mutex_lock(&dirty_lock);
	size_t i = range_after(cursor >> RANGE_SHIFT);
	bool found = i < nranges;
	if (found) {
		out->lo = ranges[i].lo << RANGE_SHIFT;
		out->hi = ranges[i].hi << RANGE_SHIFT;
		if (out->lo < cursor)
			out->lo = cursor;
	}
	pthread_mutex_unlock(&dirty_lock);
	return found;
}

/* ---- reporting: runs joined across scans and ranges */

struct sink {
	void (*fn)(uintptr_t lo, uintptr_t hi, void *arg);
	void *arg;
	uintptr_t lo, hi; /* the run being built; empty when lo == hi */
	int64_t bytes;
};

static void
sink_flush(struct sink *s)
{
	if (s->lo != s->hi && s->fn != NULL)
		s->fn(s->lo, s->hi, s->arg);
	s->lo = s->hi = 0;
}

static void
sink_add(struct sink *s, uintptr_t lo, uintptr_t hi)
{
	s->bytes += (int64_t)(hi - lo);
	if (s->lo != s->hi && lo == s->hi) {
		s->hi = hi;
		return;
	}
	sink_flush(s);
	s->lo = lo;
	s->hi = hi;
}

/* ---- uffd-wp */

static int
uffd_open(void)
{
	int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	int fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd < 0 && (errno == EPERM || errno == ENOSYS || errno == EINVAL)) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	fd = fd_high(fd);
	if (fd < 0)
		return -1;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
	if (ioctl(fd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
uffd_register(uintptr_t lo, uintptr_t hi)
{
	struct uffdio_register r = {.range = {lo, hi - lo}, .mode = UFFDIO_REGISTER_MODE_WP};
	return ioctl(uffd, UFFDIO_REGISTER, &r) == 0;
}

static void
uffd_unprotect(uintptr_t lo, uintptr_t hi)
{
	struct uffdio_writeprotect w = {.range = {lo, hi - lo}, .mode = 0};
	ioctl(uffd, UFFDIO_WRITEPROTECT, &w); /* only spares faults: failure is harmless */
}

/* Protect again the written pages of [lo, hi), and report them to s unless
 * s is NULL.  The scan stops early when the output vector is full
 * (walk_end): go on from there.  False if the kernel refused. */
static bool
uffd_scan(uintptr_t lo, uintptr_t hi, struct sink *s)
{
	struct page_region *vec = scan_buf;
	struct pm_scan_arg a = {
	        .size = sizeof a,
	        .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
	        .start = lo,
	        .end = hi,
	        .vec = s != NULL ? (uint64_t)(uintptr_t)vec : 0,
	        .vec_len = s != NULL ? SCAN_BUF / sizeof *vec : 0,
	        .category_inverted = PAGE_IS_PFNZERO,
	        .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
	        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	        .return_mask = PAGE_IS_WRITTEN,
	};
	while (a.start < a.end) {
		long n = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || a.walk_end <= a.start)
			return false;
		for (long i = 0; i < n; i++)
			sink_add(s, vec[i].start, vec[i].end);
		a.start = a.walk_end;
	}
	return true;
}

/* The whole cycle on two scratch pages: begin, write the second, collect
 * exactly it. */
static bool
uffd_probe(void)
{
	size_t size = 2 * os_page;
	char *p = os_alloc_meta(size);
	if (p == NULL)
		return false;
	uintptr_t lo = (uintptr_t)p, hi = lo + size;
	struct sink s = {0};
	p[0] = p[os_page] = 1;
	bool ok = uffd_register(lo, hi) && uffd_scan(lo, hi, NULL);
	if (ok) {
		p[os_page] = 2;
		ok = uffd_scan(lo, hi, &s) && s.lo == lo + os_page && s.hi == hi &&
		     s.bytes == (int64_t)os_page;
	}
	struct uffdio_range r = {lo, size};
	ioctl(uffd, UFFDIO_UNREGISTER, &r);
	os_free_meta(p, size);
	return ok;
}

static bool
uffd_start(void)
{
	uffd = uffd_open();
	pagemap_fd = open_proc("/proc/self/pagemap", O_RDONLY);
	if (uffd >= 0 && pagemap_fd >= 0 && uffd_probe())
		return true;
	close_fd(&uffd);
	close_fd(&pagemap_fd);
	return false;
}

/* ---- soft-dirty */

static bool
soft_clear(void)
{
	return write(clear_refs_fd, "4", 1) == 1;
}

/* Report the soft-dirty pages of [lo, hi) to s (NULL: test only whether
 * the first is, in *first). */
static bool
soft_scan(uintptr_t lo, uintptr_t hi, struct sink *s, bool *first)
{
	uint64_t *e = scan_buf;
	size_t per = SCAN_BUF / sizeof *e;
	for (uintptr_t a = lo; a < hi;) {
		size_t n = (hi - a) / os_page < per ? (hi - a) / os_page : per;
		off_t at = (off_t)(a / os_page * sizeof *e);
		if (pread(pagemap_fd, e, n * sizeof *e, at) != (ssize_t)(n * sizeof *e))
			return false;
		for (size_t i = 0; i < n; i++, a += os_page) {
			if (!(e[i] >> SOFT_DIRTY_BIT & 1))
				continue;
			if (s == NULL) {
				*first = true;
				return true;
			}
			sink_add(s, a, a + os_page);
		}
	}
	return true;
}

/* Bit 55 clear after clear_refs and set by a write: some kernels accept
 * clear_refs "4" and never set the bit. */
static bool
soft_probe(void)
{
	char *p = os_alloc_meta(os_page);
	if (p == NULL)
		return false;
	uintptr_t lo = (uintptr_t)p;
	bool before = false, after = false;
	p[0] = 1;
	bool ok = soft_clear() && soft_scan(lo, lo + os_page, NULL, &before);
	p[0] = 2;
	ok = ok && soft_scan(lo, lo + os_page, NULL, &after) && !before && after;
	os_free_meta(p, os_page);
	return ok;
}

static bool
soft_start(void)
{
	pagemap_fd = open_proc("/proc/self/pagemap", O_RDONLY);
	clear_refs_fd = open_proc("/proc/self/clear_refs", O_WRONLY);
	if (pagemap_fd >= 0 && clear_refs_fd >= 0 && soft_probe())
		return true;
	close_fd(&pagemap_fd);
	close_fd(&clear_refs_fd);
	return false;
}

/* ---- choosing */

/* The backends the environment allows, as bits 1 << kind. */
static unsigned
allowed(void)
{
	const char *c = getenv("MGC_CONCURRENT"), *d = getenv("MGC_DIRTY");
	if (c != NULL && strcmp(c, "0") == 0)
		return 1u << DIRTY_NONE;
	if (d == NULL)
		return ANY_BACKEND;
	if (strcmp(d, "uffd") == 0)
		return 1u << DIRTY_UFFD | 1u << DIRTY_NONE;
	if (strcmp(d, "soft") == 0)
		return 1u << DIRTY_SOFT | 1u << DIRTY_NONE;
	if (strcmp(d, "none") == 0)
		return 1u << DIRTY_NONE;
	fprintf(stderr, "mgc: MGC_DIRTY=\"%s\" is not uffd, soft or none; ignored\n", d);
	return ANY_BACKEND;
}

static void
choose(void)
{
	enum dirty_kind k = DIRTY_NONE;
	unsigned ok = allowed();
	os_page = (size_t)sysconf(_SC_PAGESIZE);
	if (!atomic_load(&forked) && ok != 1u << DIRTY_NONE)
		scan_buf = os_alloc_meta(SCAN_BUF);
	if (scan_buf != NULL && (ok & 1u << DIRTY_UFFD) && uffd_start())
		k = DIRTY_UFFD;
	else if (scan_buf != NULL && (ok & 1u << DIRTY_SOFT) && soft_start())
		k = DIRTY_SOFT;
	atomic_store(&backend, k);
}

void
dirty_init(void)
{
	pthread_once(&init_once, choose);
}

enum dirty_kind
dirty_backend(void)
{
	dirty_init();
	return (enum dirty_kind)atomic_load(&backend);
}

const char *
dirty_backend_name(void)
{
	static const char *const names[] = {"none", "uffd-wp", "soft-dirty"};
	return names[dirty_backend()];
}

/* ---- the interface */

void
dirty_track(uintptr_t lo, uintptr_t hi)
{
	/* Before dirty_init the choice is open: remember the range. */
	if (atomic_load_explicit(&backend, memory_order_acquire) == DIRTY_NONE)
		return;
	pthread_mutex_lock(&dirty_lock);
	bool ok = range_add(lo >> RANGE_SHIFT, hi >> RANGE_SHIFT);
	if (ok && armed)
		ok = uffd_register(lo, hi);
	pthread_mutex_unlock(&dirty_lock);
	if (!ok)
		atomic_store(&lost, true);
}

/* uffd-wp: register every range, once; later ones register as they come. */
static bool
arm(void)
{
	bool ok = true;
	pthread_mutex_lock(&dirty_lock);
	for (size_t i = 0; i < nranges && !armed; i++)
		ok = ok && uffd_register(ranges[i].lo << RANGE_SHIFT, ranges[i].hi << RANGE_SHIFT);
	armed = true;
	pthread_mutex_unlock(&dirty_lock);
	return ok;
}

/* Protect (uffd-wp) or clear (soft-dirty) every tracked page. */
static bool
forget_all(enum dirty_kind k)
{
	if (k == DIRTY_SOFT)
		return soft_clear();
	struct tracked r;
	for (uintptr_t at = 0; range_next(at, &r); at = r.hi) {
		if (!uffd_scan(r.lo, r.hi, NULL))
			return false;
	}
	return true;
}

bool
dirty_begin(void)
{
	enum dirty_kind k = dirty_backend();
	if (k == DIRTY_NONE || atomic_load(&lost))
		return false;
	active = (k != DIRTY_UFFD || arm()) && forget_all(k);
	if (!active)
		atomic_store(&lost, true);
	return active;
}

int64_t
dirty_collect(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	enum dirty_kind k = dirty_backend();
	if (k == DIRTY_NONE || !active || atomic_load(&lost))
		return -1;
	struct sink s = {.fn = fn, .arg = arg};
	struct tracked r;
	bool ok = true;
	for (uintptr_t at = 0; ok && range_next(at, &r); at = r.hi)
		ok = k == DIRTY_UFFD ? uffd_scan(r.lo, r.hi, &s) : soft_scan(r.lo, r.hi, &s, NULL);
	if (ok && k == DIRTY_SOFT)
		ok = soft_clear();
	if (!ok) {
		atomic_store(&lost, true);
		return -1;
	}
	sink_flush(&s);
	return s.bytes;
}

void
dirty_end(void)
{
	if (!active)
		return;
	active = false;
	if (dirty_backend() != DIRTY_UFFD)
		return; /* soft-dirty: clearing the bits would cost a whole-process walk */
	struct tracked r;
	for (uintptr_t at = 0; range_next(at, &r); at = r.hi)
		uffd_unprotect(r.lo, r.hi);
}

void
dirty_after_fork_child(void)
{
	atomic_store(&forked, true);
	atomic_store(&lost, true);
	atomic_store(&backend, DIRTY_NONE);
	active = false;
	pthread_mutex_init(&dirty_lock, NULL);
	close_fd(&uffd);
	close_fd(&pagemap_fd);
	close_fd(&clear_refs_fd);
}
