/* settle.h — shared by the shim's tests that wait for finalizers.
 *
 * settle(rounds, invoke) collects `rounds` times from a cleared stack;
 * with invoke set it also runs, in the calling thread, whatever finalizers
 * those collections queued (GC_invoke_finalizers).  Tests loop on their own
 * counters around it: a finalizer that mgc's background thread is running
 * at that moment is counted on a later round, so no test sleeps. */
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

#endif
