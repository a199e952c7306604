/* stats.c — mgc_read_stats.
 *
 * Nothing on an allocation fast path touches shared counters: each thread
 * counts into its cache (thread.c sums them, with those of exited threads),
 * the page heap keeps its figures under its lock, and the OS layer counts
 * sys atomically.  The snapshot is therefore exact whenever no other thread
 * is allocating or freeing, and merely a little stale otherwise.
 */
#include "internal.h"

#include <string.h>

void
mgc_read_stats(mgc_stats *out)
{
	mgc_init();
	struct counters k;
	struct heap_figures h;
	thread_sum_counters(&k);
	heap_read_figures(&h);
	memset(out, 0, sizeof *out);
	out->alloc = k.bytes_alloc - k.bytes_freed;
	out->total_alloc = k.bytes_alloc;
	out->mallocs = k.nmalloc;
	out->frees = k.nfree;
	out->lookups = k.nlookup;
	out->sys = os_sys_bytes();
	out->heap_inuse = h.inuse_bytes;
	out->heap_released = h.released_bytes;
	out->inuse_pages = h.inuse_bytes / PAGE_SIZE;
	out->next_gc = UINT64_MAX;
	out->enable_gc = false;
}
