/* stats.c — mgc_read_stats, and mgc_info for the figures it leaves out.
 *
 * Nothing on an allocation fast path touches shared counters: each thread
 * counts into its cache (thread.c sums them, with those of exited threads),
 * the sweeper counts the blocks it frees, the page heap keeps its figures
 * under its lock, the collector its own under gc_lock, and the OS layer
 * counts sys atomically.  The snapshot is therefore exact whenever no other thread
 * is allocating or freeing, and merely a little stale otherwise.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

void
mgc_read_stats(mgc_stats *out)
{
	mgc_init();
	struct counters k;
	struct heap_figures h;
	struct gc_figures g;
	uint64_t swept_blocks, swept_bytes;
	gc_read_figures(&g);
	thread_sum_counters(&k);
	sweep_read_counts(&swept_blocks, &swept_bytes);
	heap_read_figures(&h);
	memset(out, 0, sizeof *out);
	out->alloc = k.bytes_alloc - k.bytes_freed - swept_bytes;
	out->total_alloc = k.bytes_alloc;
	out->mallocs = k.nmalloc;
	out->frees = k.nfree + swept_blocks;
	out->lookups = k.nlookup;
	out->sys = os_sys_bytes();
	out->heap_inuse = h.inuse_bytes;
	out->heap_released = h.released_bytes;
	out->inuse_pages = h.inuse_bytes / PAGE_SIZE;
	out->next_gc = g.next_gc;
	out->enable_gc = g.enabled;
	out->num_gc = g.num_gc;
	out->pause_total_ns = g.pause_total_ns;
	out->pause_last_ns = g.pause_last_ns;
	out->pause_max_ns = g.pause_max_ns;
	special_read_counts(&out->finalizers_queued, &out->finalizers_run);
}

/* mgc_info's figures of the collections. */
static uint64_t
gc_info(int what)
{
	struct gc_figures g;
	gc_read_figures(&g);
	switch (what) {
	case MGC_INFO_STOP_MAX_NS:
		return g.stop_max_ns;
	case MGC_INFO_CONCURRENT_CYCLES:
		return g.concurrent_cycles;
	case MGC_INFO_MARK_CONCURRENT_NS:
		return g.mark_concurrent_ns;
	default:
		return g.rescanned_bytes;
	}
}

uint64_t
mgc_info(int what)
{
	mgc_init();
	struct counters k;
	struct heap_figures h;
	uint64_t blocks, bytes;
	switch (what) {
	case MGC_INFO_FREED_BYTES:
		thread_sum_counters(&k);
		return k.bytes_freed;
	case MGC_INFO_SWEPT_BYTES:
		sweep_read_counts(&blocks, &bytes);
		return bytes;
	case MGC_INFO_MARKERS:
		return knobs.markers;
	case MGC_INFO_SIGNAL_SUSPEND:
		return (uint64_t)knobs.sig_suspend;
	case MGC_INFO_SIGNAL_RESTART:
		return (uint64_t)knobs.sig_restart;
	case MGC_INFO_HEAP_BYTES:
		heap_read_figures(&h);
		return h.committed_bytes;
	case MGC_INFO_STOP_MAX_NS:
	case MGC_INFO_CONCURRENT_CYCLES:
	case MGC_INFO_MARK_CONCURRENT_NS:
	case MGC_INFO_RESCANNED_BYTES:
		return gc_info(what);
	default:
		errno = EINVAL;
		return UINT64_MAX;
	}
}
