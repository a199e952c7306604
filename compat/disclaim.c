/* disclaim.c — Boehm's finalized allocation (gc_disclaim.h) on a kind
 * with a disclaim procedure.
 *
 * GC_finalized_malloc(size, fc) allocates size + one word of a kind of its
 * own, stores fc with bit 0 set in the first word, and returns the address
 * just past it (so GC_base answers a word below, and GC_size a little
 * more, as Boehm's note says).  The kind's trace reports the closure
 * (without the flag) and scans the rest conservatively; its disclaim
 * procedure, registered with mark_unconditionally as Boehm does, calls
 * fc->proc(obj, fc->cd) and lets the block go.  So what the object and the
 * closure reach is alive while the procedure runs, and the object is
 * reclaimed by the sweep that calls it.
 *
 * The procedure runs where mgc runs disclaim callbacks (mgc.h,
 * mgc_kind_set_disclaim): in the lazy sweep, on the sweeping thread,
 * holding one of mgc's locks; as in Boehm, where it runs holding the
 * allocation lock, it must not allocate from the collector, and here not
 * with malloc nor wait for a lock either.
 *
 * GC_init_finalized_malloc makes the kind once (pthread_once) and registers
 * the one-word displacement, so that with interior pointers off a pointer
 * to the object retains its block.
 */
#include "compat.h"

#include <stdatomic.h>
#include <stdint.h>

enum { CLOSURE_FLAG = 1 };

static int finalized_kind; /* the Boehm kind; set once (pthread_once) */
static pthread_once_t finalized_once = PTHREAD_ONCE_INIT;

static void
trace_finalized(void *block, size_t size, mgc_tracer *t, void *arg)
{
	(void)arg;
	GC_word *w = block;
	mgc_trace_ptr(t, (void *)(w[0] & ~(GC_word)CLOSURE_FLAG));
	mgc_trace_range(t, w + 1, (char *)block + size);
}

/* A block whose first word lacks the flag was never handed out whole: no
 * closure to call. */
static int GC_CALLBACK
finalized_disclaim(void *block)
{
	GC_word fc = atomic_load_explicit((_Atomic GC_word *)block, memory_order_relaxed);
	if (fc & CLOSURE_FLAG) {
		const struct GC_finalizer_closure *c =
		        (const struct GC_finalizer_closure *)(fc & ~(GC_word)CLOSURE_FLAG);
		c->proc((GC_word *)block + 1, c->cd);
	}
	return 0;
}

static void
make_finalized_kind(void)
{
	GC_init();
	GC_register_displacement(sizeof(GC_word));
	finalized_kind = (int)compat_new_kind(GC_DS_LENGTH, true, trace_finalized);
	GC_register_disclaim_proc(finalized_kind, finalized_disclaim, 1);
}

void GC_CALL
GC_init_finalized_malloc(void)
{
	pthread_once(&finalized_once, make_finalized_kind);
}

void *GC_CALL
GC_finalized_malloc(size_t size, const struct GC_finalizer_closure *fc)
{
	GC_init_finalized_malloc(); /* Boehm requires the call; be lenient */
	if (size > SIZE_MAX - sizeof(GC_word))
		return compat_checked(NULL, SIZE_MAX);
	GC_word *p = GC_generic_malloc(size + sizeof(GC_word), finalized_kind);
	if (p == NULL)
		return NULL;
	atomic_store_explicit((_Atomic GC_word *)p, (GC_word)fc | CLOSURE_FLAG,
	                      memory_order_relaxed);
	return p + 1;
}
