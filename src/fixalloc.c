/* fixalloc.c — the off-heap allocator for metadata (the seed's FixAlloc).
 *
 * Each struct fixalloc hands out objects of one size: span records, page-map
 * chunks, thread caches, side maps.  Memory comes from the OS layer in
 * chunks, is carved with a bump pointer and recycled through a free list;
 * it is never returned to the OS and never lies in the collected heap, so
 * the collector neither scans it nor mistakes it for a block.
 *
 * Every object handed out is zeroed.  All allocators share fixalloc_lock,
 * a leaf in the lock order: nothing else is taken while it is held.
 */
#include "internal.h"

#include <string.h>

enum { FIX_CHUNK = 256 << 10 };

struct lock fixalloc_lock = LOCK_INIT(LOCK_FIXALLOC);

void *
fixalloc_alloc(struct fixalloc *f)
{
	void *p = NULL;
	lock_acquire(&fixalloc_lock);
	if (f->free != NULL) {
		p = f->free;
		f->free = *(void **)p;
		memset(p, 0, f->size);
	} else {
		if (f->nchunk < f->size) {
			size_t n = f->size > FIX_CHUNK ? round_up(f->size, 4096) : FIX_CHUNK;
			f->chunk = os_alloc_meta(n);
			f->nchunk = f->chunk ? n : 0;
		}
		if (f->chunk != NULL) {
			p = f->chunk; /* fresh from mmap: already zero */
			f->chunk += f->size;
			f->nchunk -= f->size;
		}
	}
	if (p != NULL)
		f->inuse++;
	lock_release(&fixalloc_lock);
	return p;
}

void
fixalloc_free(struct fixalloc *f, void *p)
{
	lock_acquire(&fixalloc_lock);
	*(void **)p = f->free;
	f->free = p;
	f->inuse--;
	lock_release(&fixalloc_lock);
}
