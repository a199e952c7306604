/* roots.c — where the roots are: data and bss segments, and added ranges.
 *
 * Segments.  Every collection lists the writable PT_LOAD segments of the
 * executable and of every loaded shared object with dl_iterate_phdr, so
 * libraries loaded or unloaded since the last collection are seen.  The
 * world is stopped and marked from inside the iteration's last callback:
 * dl_iterate_phdr holds the loader's lock throughout, so no listed library
 * can be unmapped before it has been scanned, and because the lock is taken
 * before any thread is stopped, no stopped thread can be holding it.  A
 * first pass counts the objects; the second knows its last one by count and
 * by the loader's add/remove counters (a change in between means a retry).
 *
 * mgc's own static state that could look like heap pointers (arena bounds,
 * the root list) lives in the section "mgc_state", which is cut out of
 * whatever segment holds it.  The program may cut out more: the ranges
 * given to mgc_exclude_roots (a list of metadata records sorted by start)
 * are subtracted from every segment, and a segment filter
 * (mgc_set_segment_filter), asked about each segment as the walk finds
 * it, may drop a whole segment.
 *
 * Added ranges (mgc_add_roots) are a list of metadata records.  The
 * program's roots callback (mgc_set_roots_callback) reports further roots
 * at each collection, after the stacks.  Locking: gc_lock guards both
 * lists, the filter and the callback; the collector holds it throughout a
 * collection.
 *
 * mgc_is_root answers from the same sources: the loaded objects' writable
 * segments less what is excluded or filtered out, the added ranges, and
 * the calling thread's stack and static TLS, as a collection would scan
 * them.
 */
#include "internal.h"

#include <link.h>

extern char __start_mgc_state[] __attribute__((visibility("hidden")));
extern char __stop_mgc_state[] __attribute__((visibility("hidden")));

struct lock gc_lock = LOCK_INIT(LOCK_GC);

struct root_range {
	uintptr_t lo, hi;
	struct root_range *next;
};
static struct fixalloc root_fix = FIXALLOC_INIT(32);
static struct root_range *added MGC_STATE;    /* [gc lock] */
static struct root_range *excluded MGC_STATE; /* [gc lock] sorted by lo */
static mgc_segment_fn filter;                 /* [gc lock] */
static void *filter_arg;                      /* [gc lock] */

/* ---- segments ------------------------------------------------------------ */

struct segment_walk {
	void (*then)(void *);
	void *arg;
	size_t objects, seen;
	unsigned long long adds, subs;
	bool stale;
};

static uintptr_t (*segs)[2]; /* [gc lock] the segments of this collection */
static size_t nsegs, segs_cap;

static int
count_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segment_walk *w = arg;
	(void)size;
	w->objects++;
	w->adds = info->dlpi_adds;
	w->subs = info->dlpi_subs;
	return 0;
}

static void
add_segment(uintptr_t lo, uintptr_t hi)
{
	if (nsegs == segs_cap) {
		size_t ncap = segs_cap ? segs_cap * 2 : 256;
		uintptr_t(*n)[2] = os_alloc_meta(ncap * sizeof *n);
		if (n == NULL)
			fatal("mgc: out of memory listing root segments");
		for (size_t i = 0; i < nsegs; i++) {
			n[i][0] = segs[i][0];
			n[i][1] = segs[i][1];
		}
		if (segs != NULL)
			os_free_meta(segs, segs_cap * sizeof *segs);
		segs = n;
		segs_cap = ncap;
	}
	segs[nsegs][0] = lo;
	segs[nsegs][1] = hi;
	nsegs++;
}

/* fn on the pieces of [lo, hi) that no excluded range covers.  gc lock
 * held. */
static void
each_unexcluded(uintptr_t lo, uintptr_t hi, roots_fn fn, void *arg)
{
	for (const struct root_range *x = excluded; x != NULL && lo < hi; x = x->next) {
		if (x->hi <= lo)
			continue;
		if (x->lo >= hi)
			break;
		if (x->lo > lo)
			fn(lo, x->lo, arg);
		lo = x->hi;
	}
	if (lo < hi)
		fn(lo, hi, arg);
}

static void
add_segment_piece(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	add_segment(lo, hi);
}

/* Add [lo, hi) minus mgc's own state section and the excluded ranges. */
static void
add_segment_clipped(uintptr_t lo, uintptr_t hi)
{
	uintptr_t xlo = (uintptr_t)__start_mgc_state, xhi = (uintptr_t)__stop_mgc_state;
	if (xhi <= lo || xlo >= hi) {
		each_unexcluded(lo, hi, add_segment_piece, NULL);
		return;
	}
	if (lo < xlo)
		each_unexcluded(lo, xlo, add_segment_piece, NULL);
	if (xhi < hi)
		each_unexcluded(xhi, hi, add_segment_piece, NULL);
}

/* Is segment [lo, lo+size) of object `name` to be scanned?  Asks the
 * program's filter, if there is one. */
static bool
segment_wanted(const char *name, uintptr_t lo, size_t size)
{
	return filter == NULL || filter(name != NULL ? name : "", (void *)lo, size, filter_arg);
}

static int
walk_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segment_walk *w = arg;
	(void)size;
	if (info->dlpi_adds != w->adds || info->dlpi_subs != w->subs) {
		w->stale = true;
		return 1;
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && ph->p_memsz > 0) {
			uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
			if (segment_wanted(info->dlpi_name, lo, ph->p_memsz))
				add_segment_clipped(lo, lo + ph->p_memsz);
		}
	}
	if (++w->seen == w->objects) {
		w->then(w->arg);
		return 1;
	}
	return 0;
}

void
roots_collect_then(void (*then)(void *), void *arg)
{
	for (;;) {
		struct segment_walk w = {.then = then, .arg = arg};
		dl_iterate_phdr(count_object, &w);
		nsegs = 0;
		dl_iterate_phdr(walk_object, &w);
		if (!w.stale && w.seen == w.objects)
			return;
	}
}

void
roots_each_segment(roots_fn fn, void *arg)
{
	for (size_t i = 0; i < nsegs; i++)
		fn(segs[i][0], segs[i][1], arg);
}

/* ---- the roots callback ------------------------------------------------------ */

static mgc_roots_fn callback; /* [gc lock] */
static void *callback_arg;    /* [gc lock] */

void
mgc_set_roots_callback(mgc_roots_fn fn, void *arg)
{
	mgc_init();
	lock_acquire(&gc_lock);
	callback = fn;
	callback_arg = arg;
	lock_release(&gc_lock);
}

void
roots_call_stopped(struct mgc_tracer *t)
{
	MGC_ASSERT(world_stopped_here());
	if (callback != NULL)
		callback(t, callback_arg);
}

/* ---- added ranges ----------------------------------------------------------- */

void
roots_each_added(roots_fn fn, void *arg)
{
	for (struct root_range *r = added; r != NULL; r = r->next)
		fn(r->lo, r->hi, arg);
}

void
mgc_add_roots(void *start, void *end)
{
	uintptr_t lo = round_up((uintptr_t)start, WORD);
	uintptr_t hi = (uintptr_t)end & ~(uintptr_t)(WORD - 1);
	if (hi <= lo)
		return;
	mgc_init();
	lock_acquire(&gc_lock);
	struct root_range *r = added;
	while (r != NULL && !(r->lo == lo && r->hi == hi))
		r = r->next;
	if (r == NULL && (r = fixalloc_alloc(&root_fix)) != NULL) {
		r->lo = lo;
		r->hi = hi;
		r->next = added;
		added = r;
	}
	lock_release(&gc_lock);
	if (r == NULL)
		fatal("mgc: out of memory adding a root range");
}

void
mgc_remove_roots(void *start, void *end)
{
	mgc_init();
	lock_acquire(&gc_lock);
	struct root_range **p = &added;
	while (*p != NULL) {
		struct root_range *r = *p;
		if (r->lo >= (uintptr_t)start && r->hi <= (uintptr_t)end) {
			*p = r->next;
			fixalloc_free(&root_fix, r);
		} else {
			p = &r->next;
		}
	}
	lock_release(&gc_lock);
}

/* ---- exclusions and the segment filter --------------------------------------- */

void
mgc_exclude_roots(void *start, void *end)
{
	uintptr_t lo = (uintptr_t)start & ~(uintptr_t)(WORD - 1);
	uintptr_t hi = round_up((uintptr_t)end, WORD);
	if (hi <= lo)
		return;
	mgc_init();
	lock_acquire(&gc_lock);
	struct root_range *r = fixalloc_alloc(&root_fix), **p = &excluded;
	if (r != NULL) {
		while (*p != NULL && (*p)->lo < lo)
			p = &(*p)->next;
		*r = (struct root_range){lo, hi, *p};
		*p = r;
	}
	lock_release(&gc_lock);
	if (r == NULL)
		fatal("mgc: out of memory excluding a root range");
}

void
mgc_clear_excluded_roots(void)
{
	mgc_init();
	lock_acquire(&gc_lock);
	while (excluded != NULL) {
		struct root_range *r = excluded;
		excluded = r->next;
		fixalloc_free(&root_fix, r);
	}
	lock_release(&gc_lock);
}

void
mgc_set_segment_filter(mgc_segment_fn fn, void *arg)
{
	mgc_init();
	lock_acquire(&gc_lock);
	filter = fn;
	filter_arg = arg;
	lock_release(&gc_lock);
}

/* ---- mgc_is_root ------------------------------------------------------------ */

struct find {
	uintptr_t p;
	bool found;
};

static void
found_in_piece(uintptr_t lo, uintptr_t hi, void *arg)
{
	struct find *f = arg;
	if (f->p >= lo && f->p < hi)
		f->found = true;
}

/* gc lock held: the walk asks the filter and reads the exclusions. */
static int
find_in_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && f->p >= lo &&
		    f->p < lo + ph->p_memsz && segment_wanted(info->dlpi_name, lo, ph->p_memsz))
			each_unexcluded(lo, lo + ph->p_memsz, found_in_piece, f);
	}
	return f->found;
}

static bool
in_added(uintptr_t p)
{
	lock_acquire(&gc_lock);
	struct root_range *r = added;
	while (r != NULL && !(p >= r->lo && p < r->hi))
		r = r->next;
	lock_release(&gc_lock);
	return r != NULL;
}

int
mgc_is_root(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	if (thread_attach() == NULL)
		return 0;
	const struct thread *t = tls_thread;
	volatile char here;
	uintptr_t sp = (uintptr_t)&here;
	if (sp >= t->alt_lo && sp < t->alt_hi) {
		/* On the signal stack (mgc_register_altstack): what is in use of
		 * it, and all of the normal stack, are scanned. */
		if ((p >= sp && p < t->alt_hi) || (p >= t->norm_lo && p < t->norm_hi))
			return 1;
	} else if (p >= sp && p < atomic_load(&t->stack_hi)) {
		return 1;
	}
	for (int i = 0; i < t->ntls; i++)
		if (p >= t->tls[i][0] && p < t->tls[i][1])
			return 1;
	struct find f = {p, false};
	lock_acquire(&gc_lock);
	dl_iterate_phdr(find_in_object, &f);
	lock_release(&gc_lock);
	return f.found || in_added(p);
}
