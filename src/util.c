/* util.c — locks with a checked order, the fatal-error path, and the knobs
 * read from the environment (once, at initialisation: the only getenv calls,
 * but for mgc_set_markers going back to the default), with the calls that
 * let a program set some of them (mgc_set_markers, mgc_set_signals).
 *
 * Locks are plain mutexes tagged with their level in the lock order written
 * in internal.h.  Debug builds keep, per thread, a bitmask of the levels held
 * and abort when a thread takes a lock whose level is not above every level
 * it already holds (two central locks at once included); lock_held reads
 * the same record.
 *
 * fatal() formats into a stack buffer and writes it with write(2): it never
 * allocates, so it is safe when the heap itself is broken.
 */
#include "internal.h"

#include <errno.h>

#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct knobs knobs = {
        .gc_percent = MGC_GCPERCENT_ADAPTIVE, .sig_suspend = SIGPWR, .sig_restart = SIGXCPU};
static atomic_bool knobs_read; /* knobs_init has run: the signals are fixed */

static __thread unsigned held_levels; /* [owner] debug: bit n = a level-n lock is held */

static void
write_all(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(2, buf, n);
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

void
fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	write_all(buf, (size_t)n);
	abort();
}

void
assert_fail(const char *what, const char *file, int line)
{
	fatal("mgc: internal error: %s:%d: assertion failed: %s", file, line, what);
}

/* ThreadSanitizer holds back a signal sent to a thread blocked in
 * pthread_mutex_lock until the call returns, so a thread waiting for the
 * gc or thread lock (held by a collector that is waiting for this thread to
 * stop) would never stop.  Under TSan those locks are taken by polling with
 * trylock, and the poll stops the thread itself when a stop is under way. */
static void
lock_spin(struct lock *l)
{
	while (pthread_mutex_trylock(&l->mutex) != 0) {
		world_poll(); /* TSan may not have delivered the stop signal yet */
		sched_yield();
	}
}

void
lock_plain(pthread_mutex_t *m)
{
	if (!MGC_TSAN) {
		pthread_mutex_lock(m);
		return;
	}
	while (pthread_mutex_trylock(m) != 0) {
		world_poll();
		sched_yield();
	}
}

/* Allocator locks make their holder busy: see internal.h. */
static bool
is_allocator_lock(const struct lock *l)
{
	return l->level >= LOCK_CENTRAL;
}

void
lock_acquire(struct lock *l)
{
	if (MGC_DEBUG && (held_levels >> l->level) != 0)
		fatal("mgc: internal error: lock order violated (taking level %d, held mask %#x)",
		      (int)l->level, held_levels);
	struct cache *c = tls_cache;
	if (c != NULL && is_allocator_lock(l))
		busy_enter(c);
	if (MGC_TSAN && !is_allocator_lock(l))
		lock_spin(l);
	else
		pthread_mutex_lock(&l->mutex);
	if (MGC_DEBUG)
		held_levels |= 1u << l->level;
}

void
lock_release(struct lock *l)
{
	if (MGC_DEBUG)
		held_levels &= ~(1u << l->level);
	pthread_mutex_unlock(&l->mutex);
	struct cache *c = tls_cache;
	if (c != NULL && is_allocator_lock(l))
		busy_leave(c);
}

bool
lock_held(const struct lock *l)
{
	return !MGC_DEBUG || (held_levels & (1u << l->level)) != 0;
}

/* ---- knobs ---------------------------------------------------------------- */

/* A decimal integer (optional sign) and nothing else, into *out. */
static bool
parse_int(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == ' ' || s[0] == '\t')
		return false;
	*out = v;
	return true;
}

static void
read_gc_percent(void)
{
	const char *v = getenv("MGC_GCPERCENT");
	long n;
	if (v == NULL)
		return;
	if (strcmp(v, "off") == 0)
		knobs.gc_percent = -1;
	else if (strcmp(v, "adaptive") == 0)
		knobs.gc_percent = MGC_GCPERCENT_ADAPTIVE;
	else if (parse_int(v, &n) && n <= 1000000 && n >= -1000000)
		knobs.gc_percent = n < 0 ? -1 : (int)n;
	else
		fprintf(stderr,
		        "mgc: MGC_GCPERCENT=\"%s\" is not \"off\", \"adaptive\" or a decimal "
		        "integer; ignored\n",
		        v);
}

/* A byte count as Go's GOMEMLIMIT takes it: a decimal integer and an
 * optional unit B, KiB, MiB, GiB or TiB (powers of 1024); "off" is 0. */
static bool
parse_bytes(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		int shift;
	} units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
	if (strcmp(s, "off") == 0) {
		*out = 0;
		return true;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] < '0' || s[0] > '9')
		return false;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(end, units[i].unit) == 0 && v <= UINT64_MAX >> units[i].shift) {
			*out = (uint64_t)v << units[i].shift;
			return true;
		}
	return false;
}

static void
read_bytes(const char *name, uint64_t *out)
{
	const char *v = getenv(name);
	if (v != NULL && !parse_bytes(v, out))
		fprintf(stderr,
		        "mgc: %s=\"%s\" is not a size (a number with B, KiB, MiB, GiB or TiB, "
		        "or \"off\"); ignored\n",
		        name, v);
}

/* A signal mgc can stop and restart threads with. */
static bool
signal_usable(long n)
{
	return n > 0 && n <= SIGRTMAX && n != SIGKILL && n != SIGSTOP && n != SIGSEGV &&
	       n != SIGBUS;
}

static void
read_signal(const char *name, int *sig)
{
	const char *v = getenv(name);
	long n;
	if (v == NULL)
		return;
	if (parse_int(v, &n) && signal_usable(n))
		*sig = (int)n;
	else
		fprintf(stderr, "mgc: %s=\"%s\" is not a usable signal number; ignored\n", name, v);
}

/* Marking threads: MGC_MARKERS, else the CPUs this process may run on,
 * at most 8.  Complains about an unusable MGC_MARKERS if `complain`. */
static unsigned
default_markers(bool complain)
{
	const char *v = getenv("MGC_MARKERS");
	long n;
	cpu_set_t set;
	unsigned cpus = 1;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 1)
		cpus = CPU_COUNT(&set) > 8 ? 8 : (unsigned)CPU_COUNT(&set);
	if (v == NULL)
		return cpus;
	if (parse_int(v, &n) && n >= 1 && n <= 8)
		return (unsigned)n;
	if (complain)
		fprintf(stderr, "mgc: MGC_MARKERS=\"%s\" is not a number from 1 to 8; ignored\n",
		        v);
	return cpus;
}

static bool
read_flag(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

void
knobs_init(void)
{
	read_gc_percent();
	read_bytes("MGC_MEMLIMIT", &knobs.memlimit);
	read_bytes("MGC_MAXHEAP", &knobs.max_heap);
	knobs.trace = read_flag("MGC_TRACE");
	knobs.collect_every = read_flag("MGC_COLLECT_EVERY");
	knobs.markers = default_markers(true);
	/* Debug builds check every mark unless told not to. */
	knobs.checkmark = getenv("MGC_CHECKMARK") ? read_flag("MGC_CHECKMARK") : MGC_DEBUG;
	knobs.concurrent = read_flag("MGC_CONCURRENT");
	read_signal("MGC_SIGNAL_SUSPEND", &knobs.sig_suspend);
	read_signal("MGC_SIGNAL_RESTART", &knobs.sig_restart);
	if (knobs.sig_suspend == knobs.sig_restart)
		fatal("mgc: MGC_SIGNAL_SUSPEND and MGC_SIGNAL_RESTART must differ (both %d)",
		      knobs.sig_suspend);
	atomic_store(&knobs_read, true);
}

/* ---- settings of the knobs from the program ----------------------------------- */

int
mgc_set_markers(int n)
{
	if (n < 0 || n > MAX_MARKERS) {
		errno = EINVAL;
		return -1;
	}
	mgc_init();
	lock_acquire(&gc_lock);
	int old = (int)knobs.markers;
	knobs.markers = n == 0 ? default_markers(false) : (unsigned)n;
	lock_release(&gc_lock);
	return old;
}

/* Before knobs_init only, so that the signal handlers are installed once,
 * on the signals chosen; the environment still has the last word. */
int
mgc_set_signals(int suspend, int restart)
{
	int s = suspend != 0 ? suspend : knobs.sig_suspend;
	int r = restart != 0 ? restart : knobs.sig_restart;
	if ((suspend != 0 && !signal_usable(suspend)) ||
	    (restart != 0 && !signal_usable(restart)) || s == r) {
		errno = EINVAL;
		return -1;
	}
	if (atomic_load(&knobs_read)) {
		errno = EBUSY;
		return -1;
	}
	knobs.sig_suspend = s;
	knobs.sig_restart = r;
	return 0;
}

uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- stack hygiene ---------------------------------------------------------- */

#if defined(__x86_64__)
/* The vector registers beyond xmm0-7: libc's memcpy and memset carry data
 * through them (ymm halves, xmm8-15, and with AVX-512 ymm16-31), and a
 * stopped thread's signal frame saves them all, so they are roots too.
 * The instructions exist only on CPUs that have the extension, hence the
 * checks; code built without those extensions keeps nothing of its own in
 * these registers, so no clobbers are needed. */
static void
wipe_vector_registers(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroall" ::
		                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		                           "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
		                           "xmm13", "xmm14", "xmm15");
	else
		__asm__ volatile("pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
		                 "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
		                 "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
		                 "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15" ::
		                         : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
		                           "xmm14", "xmm15");
	if (__builtin_cpu_supports("avx512f"))
		__asm__ volatile(".irp r,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n\t"
		                 "vpxord %%zmm\\r, %%zmm\\r, %%zmm\\r\n\t"
		                 ".endr" ::);
}
#endif

/* Overwrite the stack below the caller, and on x86-64 the scratch
 * registers: a conservative collector would otherwise keep blocks alive
 * through words that finished calls left there (a finalizer's object, for
 * one), since the collector's own frames later reuse that stack and a
 * stopped thread's registers are roots. */
NOINLINE void
wipe_traces(void)
{
	volatile char scratch[16384];
	memset((char *)scratch, 0, sizeof scratch);
#if defined(__x86_64__)
	__asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
	                 "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
	                 "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
	                 "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
	                 "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
	                 "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7"
	                 :
	                 :
	                 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0",
	                   "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "memory");
	wipe_vector_registers();
#endif
}
