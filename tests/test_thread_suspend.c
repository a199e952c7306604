/* test_thread_suspend — stopping threads from the program: mgc_suspend_thread,
 * mgc_resume_thread, mgc_thread_is_suspended, mgc_stop_world,
 * mgc_start_world, mgc_each_stopped_thread, and the fork handlers run by
 * hand (mgc_fork_prepare, _parent, _child).
 *
 * A worker counts and keeps a chain of blocks on its stack, checking every
 * node's pattern as it goes.  Suspended, it counts no more while
 * collections run around it (its chain survives them: a suspended thread
 * is scanned as stopped), and goes on once resumed; a thread that suspends
 * itself waits until another resumes it.  Between mgc_stop_world and
 * mgc_start_world nothing counts, and mgc_each_stopped_thread names the
 * worker, as it does from a collection's MGC_EVENT_STOP callback.  A fork
 * between mgc_fork_prepare and mgc_fork_parent/_child (fork()'s own
 * handlers then idle) leaves a child that allocates and collects. */
#include "check.h"

#include <mgc.h>

enum { CHAIN = 2000, NODE_WORDS = 6 };

#if UNDER_TSAN
/* The child's collection starts mgc's helper markers after a
 * multi-threaded fork, which ThreadSanitizer refuses by default.  Visible
 * to its runtime despite -fvisibility=hidden. */
__attribute__((visibility("default"))) const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *
__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

struct worker {
	pthread_t id;
	atomic_long count;
	atomic_bool stop, started;
};

static void **
make_chain(uint64_t seed)
{
	void **head = NULL;
	for (int i = 0; i < CHAIN; i++) {
		uint64_t *n = mgc_alloc(NODE_WORDS * sizeof *n);
		CHECK(n != NULL, "allocation failed");
		check_fill(n + 1, NODE_WORDS - 1, seed + (uint64_t)i);
		n[0] = (uint64_t)(uintptr_t)head;
		head = (void **)n;
	}
	return head;
}

static void
check_chain(void **head, uint64_t seed)
{
	for (int i = CHAIN - 1; i >= 0; i--) {
		uint64_t *n = (uint64_t *)head;
		CHECK(n != NULL, "chain cut at node %d", i);
		CHECK_PATTERN(n + 1, NODE_WORDS - 1, seed + (uint64_t)i, "chain node");
		head = (void **)(uintptr_t)n[0];
	}
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	mgc_register_thread();
	void **volatile chain = make_chain(7);
	atomic_store(&w->started, true);
	while (!atomic_load(&w->stop)) {
		atomic_fetch_add(&w->count, 1);
		CHECK(mgc_alloc(100) != NULL, "allocation in the worker failed");
		if (atomic_load(&w->count) % 64 == 0)
			check_chain(chain, 7);
	}
	check_chain(chain, 7);
	return NULL;
}

static void
start(struct worker *w)
{
	atomic_store(&w->count, 0);
	atomic_store(&w->stop, false);
	atomic_store(&w->started, false);
	CHECK(pthread_create(&w->id, NULL, work, w) == 0, "pthread_create failed");
	while (!atomic_load(&w->started))
		sched_yield();
}

static void
finish(struct worker *w)
{
	atomic_store(&w->stop, true);
	CHECK(pthread_join(w->id, NULL) == 0, "pthread_join failed");
}

static void
pause_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The worker's count does not move for a while: it is stopped. */
static bool
still(struct worker *w)
{
	long c = atomic_load(&w->count);
	pause_ms(30);
	return atomic_load(&w->count) == c;
}

static void
garbage(void)
{
	for (int i = 0; i < 20000; i++)
		CHECK(mgc_alloc(200) != NULL, "allocation failed");
}

static void
check_suspend(void)
{
	struct worker w;
	start(&w);
	CHECK(mgc_thread_is_suspended(w.id) == 0, "a running thread reads as suspended");
	CHECK(mgc_suspend_thread(w.id) == 0, "mgc_suspend_thread failed");
	CHECK(mgc_suspend_thread(w.id) == 0, "suspending twice failed");
	CHECK(mgc_thread_is_suspended(w.id) == 1, "a suspended thread reads as running");
	CHECK(still(&w), "the suspended thread still counts");
	for (int i = 0; i < 5; i++) {
		garbage();
		mgc_collect();
	}
	CHECK(still(&w), "the suspended thread counted during collections");
	CHECK(mgc_resume_thread(w.id) == 0, "mgc_resume_thread failed");
	CHECK(mgc_thread_is_suspended(w.id) == 0, "a resumed thread reads as suspended");
	long c = atomic_load(&w.count);
	for (int i = 0; i < 2000 && atomic_load(&w.count) == c; i++)
		pause_ms(1);
	CHECK(atomic_load(&w.count) != c, "the resumed thread does not count");
	for (int i = 0; i < 20; i++) { /* suspended and resumed at random points */
		CHECK(mgc_suspend_thread(w.id) == 0 && mgc_resume_thread(w.id) == 0,
		      "suspend/resume round %d", i);
		mgc_collect();
	}
	finish(&w);
}

static atomic_bool self_back;

static void *
suspend_self(void *arg)
{
	(void)arg;
	void **volatile chain = make_chain(99);
	CHECK(mgc_suspend_thread(pthread_self()) == 0, "mgc_suspend_thread(self) failed");
	check_chain(chain, 99);
	atomic_store(&self_back, true);
	return NULL;
}

static void
check_self(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, suspend_self, NULL) == 0, "pthread_create failed");
	while (mgc_thread_is_suspended(t) != 1)
		pause_ms(1);
	for (int i = 0; i < 3; i++) {
		garbage();
		mgc_collect();
	}
	CHECK(!atomic_load(&self_back), "a thread that suspended itself went on");
	CHECK(mgc_resume_thread(t) == 0, "mgc_resume_thread failed");
	CHECK(pthread_join(t, NULL) == 0 && atomic_load(&self_back), "the thread did not go on");
}

static void *
no_mgc(void *arg)
{
	*(pthread_t *)arg = pthread_self();
	return NULL;
}

static void
check_unregistered(void)
{
	pthread_t t, id;
	CHECK(pthread_create(&t, NULL, no_mgc, &id) == 0 && pthread_join(t, NULL) == 0,
	      "pthread_create failed");
	errno = 0;
	CHECK(mgc_suspend_thread(id) == -1 && errno == ESRCH, "an unregistered thread: ESRCH");
	errno = 0;
	CHECK(mgc_resume_thread(id) == -1 && errno == ESRCH, "resume: ESRCH");
	errno = 0;
	CHECK(mgc_thread_is_suspended(id) == -1 && errno == ESRCH, "is_suspended: ESRCH");
}

struct seen {
	pthread_t want;
	int calls, found;
};

static void
note(pthread_t t, void *arg)
{
	struct seen *s = arg;
	s->calls++;
	s->found += pthread_equal(t, s->want) != 0;
}

static struct seen at_stop;

static void
on_event(int event, void *arg)
{
	(void)arg;
	if (event == MGC_EVENT_STOP)
		mgc_each_stopped_thread(note, &at_stop);
}

static void
check_stop_world(void)
{
	struct worker w;
	struct seen s = {0, 0, 0};
	start(&w);
	s.want = w.id;
	errno = 0;
	CHECK(mgc_each_stopped_thread(note, &s) == -1 && errno == EPERM,
	      "mgc_each_stopped_thread with the world running: EPERM");
	mgc_stop_world();
	long c = atomic_load(&w.count);
	struct timespec ts = {0, 30000000L};
	nanosleep(&ts, NULL);
	long after = atomic_load(&w.count);
	int n = mgc_each_stopped_thread(note, &s);
	mgc_start_world();
	CHECK(after == c, "the worker counted with the world stopped");
	CHECK(n >= 1 && n == s.calls && s.found == 1,
	      "mgc_each_stopped_thread: %d threads, worker found %d times", n, s.found);
	at_stop.want = w.id;
	mgc_set_event_callback(on_event, NULL);
	mgc_collect();
	mgc_set_event_callback(NULL, NULL);
	CHECK(at_stop.found == 1, "the STOP event did not see the worker (%d calls)",
	      at_stop.calls);
	finish(&w);
}

static void
check_fork_by_hand(void)
{
	struct worker w;
	start(&w); /* a thread the child does not have */
	void **volatile chain = make_chain(5);
	mgc_fork_prepare();
	pid_t pid = fork();
	if (pid == 0) {
		mgc_fork_child();
		garbage();
		mgc_collect();
		check_chain(chain, 5);
		_exit(0);
	}
	mgc_fork_parent();
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork failed");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x)",
	      status);
	mgc_collect();
	check_chain(chain, 5);
	finish(&w);
}

int
main(void)
{
	mgc_register_thread();
	check_suspend();
	check_self();
	check_unregistered();
	check_stop_world();
	check_fork_by_hand();
	printf("test_thread_suspend: ok\n");
	return 0;
}
