/* pace.c — the heap goal: how far the heap may grow before the next
 * collection, and how much memory is worth keeping between collections.
 *
 * After each collection the driver (gc.c) reports what it measured: the
 * bytes marked (live), the collection's stopped time, and the bytes
 * allocated since the previous one and the time they took.  From these and
 * the user's settings this file sets the goal, the level of heap_live at
 * which the next collection starts (gc_trigger), in block bytes:
 *
 *   base goal   the adaptive rule (the default) or the percent rule.
 *               Percent: live * (1 + percent/100), as Go's GOGC; selected by
 *               MGC_GCPERCENT or mgc_set_gc_percent.  Adaptive (MemBalancer,
 *               Kirisame et al., PLDI 2022): the extra heap E over live that
 *               minimises memory plus time weighted by a constant C is
 *               sqrt(C * g * t), where g is the allocation rate and t the
 *               time one collection takes (proportional to live, so E grows
 *               as the square root of live).  With that E the collector's
 *               share of the time is E / C.  g and t are smoothed over
 *               collections.  E is at least 2 * g * t, so that collecting
 *               never takes more than half as long as the program runs.  E is kept between
 * MIN_EXTRA% and MAX_EXTRA% of live, so one odd measurement can neither starve nor bloat the heap.
 *   floor       the minimum heap (mgc_set_min_heap, Boehm's GC_expand_hp):
 *               no collection before alloc reaches it.
 *   limits      the soft memory limit (mgc_set_memory_limit, MGC_MEMLIMIT)
 *               and the hard maximum (mgc_set_max_heap) cap the goal at
 *               what fits in them at the ratio of memory held to block
 *               bytes measured when the last collection started (which
 *               counts metadata, partly used spans and free pages not yet
 *               released); but never below
 *               live + g * t, so that the program runs at least as long as
 *               the last collection took between two collections: a heap
 *               that does not fit its limit makes the program slower (the
 *               collector takes at most about half the time, Go's cap), not
 *               stuck in a collection loop.  Past the hard maximum the page
 *               heap refuses to grow (heap.c) and allocation fails after a
 *               full collection (alloc.c).
 *
 * The retain goal (heap.c, scavenge.c) is the heap memory worth keeping
 * mapped: the pages the goal will fill, plus an eighth for fragmentation,
 * and never more than the limits allow.
 *
 * Locking: everything here is [gc lock] (roots.c), taken by the callers in
 * gc.c and by the public setters below.
 */
#include "internal.h"

#include <errno.h>

enum {
	DEFAULT_MIN_HEAP = 4 << 20,
	MIN_EXTRA = 25,  /* percent of live: the adaptive rule's lower bound */
	MAX_EXTRA = 200, /* and upper bound */
};

/* MemBalancer's constant, in bytes: the collector's share of the time is
 * about E / C.  Chosen from the real programs and GCBench (docs/DESIGN.md,
 * "Pacing"): 32 MiB cost w3m time, 64 MiB gave neko 1.14x Boehm's peak
 * memory, 1 GiB doubled it. */
static const double PACE_C = 40.0 * 1024 * 1024;
/* The most time the collector may take, as a share of the program's own:
 * a heap of E extra bytes is collected every E/g seconds for t, so E is at
 * least g * t / MAX_GC_SHARE.  The square-root rule alone let a large heap
 * that allocates fast (binary-trees: 64 MiB live, E = 40 MiB) collect for
 * as long as the program ran. */
static const double MAX_GC_SHARE = 0.5;
/* Weight of the newest measurement in the smoothed figures. */
static const double SMOOTH = 0.5;

static struct {
	bool adaptive;        /* the default; false once a percent is chosen */
	int percent;          /* -1: off; meaningful when !adaptive */
	uint64_t min_heap;    /* floor of the goal */
	uint64_t soft;        /* memory limit, 0: none */
	uint64_t hard;        /* heap maximum, 0: none */
	uint64_t live;        /* marked bytes of the last collection */
	double rate;          /* smoothed allocation rate, bytes per second */
	double gc_per_live;   /* smoothed collection seconds per live byte */
	bool measured;        /* rate and gc_per_live hold a measurement */
	double held_per_byte; /* memory held per block byte at the last trigger */
	uint64_t goal;        /* the current goal; UINT64_MAX: off */
	double early;         /* concurrent cycles: the share of the room they start at */
} pace = {.adaptive = true, .min_heap = DEFAULT_MIN_HEAP, .held_per_byte = 1.25, .early = 0.7};

/* pace.goal as publish_locked last set it, for readers without the gc
 * lock (gc_read_figures).  [atomic] */
static _Atomic uint64_t goal_pub = UINT64_MAX;

/* The square root of x, rounded down (Newton's method from above).  Not
 * libm's sqrt: linking libm costs every process that preloads the Boehm
 * library a third of a megabyte of resident memory, for one call per
 * collection. */
static uint64_t
isqrt(uint64_t x)
{
	if (x < 2)
		return x;
	uint64_t r = (uint64_t)1 << ((64 - __builtin_clzll(x)) / 2 + 1); /* > sqrt(x) */
	for (;;) {
		uint64_t next = (r + x / r) / 2;
		if (next >= r)
			return r;
		r = next;
	}
}

static double
smooth(double old, double now, bool first)
{
	return first ? now : old + SMOOTH * (now - old);
}

static uint64_t
base_goal(void)
{
	uint64_t live = pace.live;
	if (!pace.adaptive) {
		if (pace.percent < 0)
			return UINT64_MAX;
		return live + live / 100 * (uint64_t)pace.percent +
		       live % 100 * (uint64_t)pace.percent / 100;
	}
	double extra = (double)live; /* before any measurement: the percent rule at 100 */
	if (pace.measured) {
		/* bytes allocated while one collection runs: g * t */
		double during = pace.rate * pace.gc_per_live * (double)live;
		extra = (double)isqrt((uint64_t)(PACE_C * during));
		if (extra < during / MAX_GC_SHARE)
			extra = during / MAX_GC_SHARE;
	}
	double lo = (double)live * MIN_EXTRA / 100, hi = (double)live * MAX_EXTRA / 100;
	extra = extra < lo ? lo : extra > hi ? hi : extra;
	return live + (uint64_t)extra;
}

/* The least the goal may be under a limit: the program allocates for as
 * long as the last collection took before the next one starts. */
static uint64_t
cpu_floor(void)
{
	double t = pace.gc_per_live * (double)pace.live;
	return pace.live + (pace.measured ? (uint64_t)(pace.rate * t) : pace.live / 4);
}

/* Block bytes that fit in `limit` bytes of memory, at the ratio of memory
 * held to block bytes seen when the last collection started (it counts
 * metadata, partly used spans and free pages not yet released), less a
 * sixteenth: the ratio grows while the sweep lags behind allocation. */
static uint64_t
fits_in(uint64_t limit)
{
	double fit = (double)limit / pace.held_per_byte;
	return (uint64_t)(fit - fit / 16);
}

static uint64_t
limited(uint64_t goal)
{
	uint64_t cap = UINT64_MAX;
	if (pace.soft != 0)
		cap = fits_in(pace.soft);
	if (pace.hard != 0 && fits_in(pace.hard) < cap)
		cap = fits_in(pace.hard);
	if (goal <= cap)
		return goal;
	uint64_t floor = cpu_floor();
	return cap > floor ? cap : floor;
}

/* The trigger for goal g.  A concurrent cycle runs while the program
 * allocates, so it starts early: at a share (pace.early) of the room
 * between live and the goal.  Past gc_ceiling, the goal (or the heap as
 * it is, if larger) plus that room again, allocating threads are slowed
 * down while the cycle runs (gc.c, bg_request). */
static void
set_triggers(uint64_t g)
{
	int64_t goal = g > INT64_MAX ? INT64_MAX : (int64_t)g;
	if (!gc_concurrent_on() || g == UINT64_MAX || g <= pace.live) {
		atomic_store(&gc_trigger, goal);
		atomic_store(&gc_ceiling, INT64_MAX);
		return;
	}
	uint64_t room = g - pace.live;
	atomic_store(&gc_trigger, (int64_t)(pace.live + (uint64_t)((double)room * pace.early)));
	/* The heap holds what the last cycle allocated marked until the next
	 * sweeps it, and may be past the goal already: the ceiling leaves
	 * room above that too. */
	int64_t now = atomic_load(&heap_live);
	int64_t top = now > goal ? now : goal;
	atomic_store(&gc_ceiling,
	             top > INT64_MAX - (int64_t)room ? INT64_MAX : top + (int64_t)room);
}

/* A concurrent cycle saw `alloc` bytes allocated while it marked: the next
 * one starts that much before the goal, and a quarter more, so that it
 * ends near the goal (Go's pacer sets its trigger the same way). */
static void
adjust_early(uint64_t alloc)
{
	if (pace.goal == UINT64_MAX || pace.goal <= pace.live)
		return;
	double room = (double)(pace.goal - pace.live);
	double want = 1.0 - 1.25 * (double)alloc / room;
	want = want < 0.1 ? 0.1 : want > 0.9 ? 0.9 : want;
	pace.early = smooth(pace.early, want, false);
}

static void
publish_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	uint64_t g = base_goal();
	if (g != UINT64_MAX && g < pace.min_heap)
		g = pace.min_heap;
	/* Off with a limit still collects at the limit, as Go's GOGC=off with
	 * GOMEMLIMIT. */
	if (g != UINT64_MAX || (pace.soft | pace.hard) != 0)
		g = limited(g);
	pace.goal = g;
	atomic_store_explicit(&goal_pub, g, memory_order_relaxed);
	uint64_t retain = g == UINT64_MAX ? 0 : g + g / 8;
	uint64_t mem_cap = pace.soft != 0 ? pace.soft : pace.hard;
	if (mem_cap != 0 && retain > mem_cap)
		retain = mem_cap;
	heap_set_retain_goal(retain);
	set_triggers(g);
}

uint64_t
pace_live_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	return pace.live;
}

uint64_t
pace_goal(void)
{
	return atomic_load_explicit(&goal_pub, memory_order_relaxed);
}

uint64_t
pace_goal_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	return pace.goal;
}

void
pace_after_cycle_locked(const struct pace_sample *s)
{
	MGC_ASSERT(lock_held(&gc_lock));
	if (s->concurrent)
		adjust_early(s->cycle_alloc); /* against the room this cycle had */
	pace.live = s->live;
	if (s->mutator_ns > 0 && s->live > 0) {
		double rate = (double)s->allocated * 1e9 / (double)s->mutator_ns;
		double per = (double)s->gc_ns / 1e9 / (double)s->live;
		pace.rate = smooth(pace.rate, rate, !pace.measured);
		pace.gc_per_live = smooth(pace.gc_per_live, per, !pace.measured);
		pace.measured = true;
	}
	/* Small heaps are mostly overhead; their ratio says nothing of big ones. */
	if (s->heap_before >= 16 << 20) {
		double r = (double)s->held_before / (double)s->heap_before;
		pace.held_per_byte = r < 1.0 ? 1.0 : r;
	}
	publish_locked();
}

void
pace_init(void)
{
	pace.adaptive = knobs.gc_percent == MGC_GCPERCENT_ADAPTIVE;
	pace.percent = knobs.gc_percent < 0 ? -1 : knobs.gc_percent;
	pace.soft = knobs.memlimit;
	pace.hard = knobs.max_heap;
	heap_set_limits(pace.soft, pace.hard);
	publish_locked();
}

/* ---- the public settings ------------------------------------------------ */

static int
percent_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	return pace.adaptive ? MGC_GCPERCENT_ADAPTIVE : pace.percent;
}

int
mgc_set_gc_percent(int p)
{
	mgc_init();
	lock_acquire(&gc_lock);
	int old = percent_locked();
	pace.adaptive = p == MGC_GCPERCENT_ADAPTIVE;
	pace.percent = p < 0 ? -1 : p;
	publish_locked();
	lock_release(&gc_lock);
	return old;
}

/* Set one of the sizes to value, apply it, return the old one. */
static size_t
swap_size(uint64_t *size, uint64_t value)
{
	mgc_init();
	lock_acquire(&gc_lock);
	size_t old = (size_t)*size;
	*size = value;
	heap_set_limits(pace.soft, pace.hard);
	publish_locked();
	lock_release(&gc_lock);
	return old;
}

size_t
mgc_set_min_heap(size_t bytes)
{
	return swap_size(&pace.min_heap, bytes == 0 ? DEFAULT_MIN_HEAP : bytes);
}

size_t
mgc_set_memory_limit(size_t bytes)
{
	return swap_size(&pace.soft, bytes == SIZE_MAX ? 0 : bytes);
}

size_t
mgc_set_max_heap(size_t bytes)
{
	return swap_size(&pace.hard, bytes == SIZE_MAX ? 0 : bytes);
}

bool
pace_enabled_locked(void)
{
	MGC_ASSERT(lock_held(&gc_lock));
	return pace.goal != UINT64_MAX;
}
