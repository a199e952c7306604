/* settle.h — shared by the shim's tests that wait for finalizers or
 * watch objects die.
 *
 * settle(rounds, invoke) collects `rounds` times from a cleared stack;
 * with invoke set it also runs, in the calling thread, whatever finalizers
 * those collections queued (GC_invoke_finalizers).  Tests loop on their own
 * counters around it: a finalizer that mgc's background thread is running
 * at that moment is counted on a later round, so no test sleeps.
 *
 * A struct watch holds up to WATCH_MAX disappearing links: target(w, i)
 * allocates a small pointer-free object watched by slot i, and alive(w)
 * counts the slots whose object has not been reclaimed. */
#ifndef SETTLE_H
#define SETTLE_H

#include <stdbool.h>

static void
settle(int rounds, bool invoke)
{
	for (int i = 0; i < rounds; i++) {
		check_clear_stack();
		GC_gcollect();
		if (invoke)
			GC_invoke_finalizers();
	}
}

enum { WATCH_MAX = 256 };

struct watch {
	void *link[WATCH_MAX];
};

static inline void *
target(struct watch *w, int i)
{
	GC_word *p = GC_malloc_atomic(32);
	CHECK(p != NULL, "target");
	p[0] = (GC_word)i + 1;
	w->link[i] = (void *)GC_HIDE_POINTER(p);
	CHECK(GC_general_register_disappearing_link(&w->link[i], p) == GC_SUCCESS,
	      "disappearing link");
	return p;
}

static inline int
alive(const struct watch *w)
{
	int n = 0;
	for (int i = 0; i < WATCH_MAX; i++)
		n += w->link[i] != NULL;
	return n;
}

#endif
