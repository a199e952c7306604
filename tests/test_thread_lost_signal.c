/* test_thread_lost_signal — a stop signal that never reaches its handler is
 * sent again.
 *
 * A registered thread blocks the suspend signal (MGC_INFO_SIGNAL_SUSPEND)
 * and then takes it with sigtimedwait as soon as it is pending, so the
 * first stop signal of the collection the main thread starts is swallowed,
 * as a runtime that takes signals first (ThreadSanitizer's) may do.  Only
 * then does the thread unblock the signal, and it goes on allocating and
 * checking a block it holds in a local variable.  The collection must
 * complete all the same: the collector sends the signal again to a thread
 * that has not stopped, the thread stops, and its block survives with its
 * contents.  Each case runs in a child process watched for a hang (a
 * collector that waits for the swallowed signal forever); ROUNDS cases.
 */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <sched.h>

#include <mgc.h>

#define ROUNDS (UNDER_TSAN ? 3 : 10)
#define WORDS 32
#define HANG_SECS 60.0

static atomic_int stage;   /* 0 started, 1 signal blocked, 2 swallowed, 3 done */
static atomic_bool finish; /* main: the collection returned */

static void *
swallower(void *arg)
{
	int sig = (int)(intptr_t)arg;
	sigset_t set, old;
	struct timespec tick = {0, 1000000};
	uint64_t *w = mgc_alloc(WORDS * sizeof *w);

	CHECK(w != NULL, "mgc_alloc failed (errno %d)", errno);
	check_fill(w, WORDS, 7);
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK(pthread_sigmask(SIG_BLOCK, &set, &old) == 0, "pthread_sigmask failed");
	atomic_store(&stage, 1);
	while (sigtimedwait(&set, NULL, &tick) != sig)
		CHECK(errno == EAGAIN || errno == EINTR, "sigtimedwait: %s", strerror(errno));
	atomic_store(&stage, 2);
	CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0, "pthread_sigmask failed");
	/* Stoppable again: the collector's next signal stops this thread. */
	while (!atomic_load(&finish)) {
		void *volatile junk = mgc_alloc(64);

		(void)junk;
		CHECK_PATTERN(w, WORDS, 7, "the swallower's block");
		sched_yield();
	}
	CHECK_PATTERN(w, WORDS, 7, "the swallower's block");
	atomic_store(&stage, 3);
	return NULL;
}

static void
one_case(int f)
{
	pthread_t t;
	int sig = (int)mgc_info(MGC_INFO_SIGNAL_SUSPEND);
	mgc_stats before, after;

	(void)f;
	CHECK(sig > 0, "no suspend signal");
	check_thread_in_child(&t, swallower, (void *)(intptr_t)sig);
	while (atomic_load(&stage) < 1)
		sched_yield();
	mgc_read_stats(&before);
	mgc_collect();
	mgc_read_stats(&after);
	CHECK(atomic_load(&stage) >= 2, "the collection ended with the first signal never taken");
	CHECK(after.num_gc > before.num_gc, "mgc_collect did not collect");
	atomic_store(&finish, true);
	CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
	CHECK(atomic_load(&stage) == 3, "the thread did not finish");
	_exit(0);
}

int
main(void)
{
	struct check_tally tally = {0};

	for (int r = 0; r < ROUNDS; r++)
		check_fork_watched(r, one_case, HANG_SECS, &tally);
	CHECK(tally.hung == 0, "%d of %d cases hung (the first: case %d)", tally.hung, ROUNDS,
	      tally.first_hung);
	CHECK(tally.failed == 0, "%d of %d cases failed; %s", tally.failed, ROUNDS, tally.first_err);
	return 0;
}
