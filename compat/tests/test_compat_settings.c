/* test_compat_settings — the settings, hooks and reports of libmgc-gc.so's
 * Boehm API: the recorded tuning values (libgc 8.2.2's defaults, and
 * round trips), the stop function (a collection it stops does not run),
 * GC_set_disable_automatic_collection (no automatic collection, explicit
 * ones still run, with GC_disable nesting), the await-finalize hook, the
 * collection events in Boehm's order and the thread events for each
 * stopped thread, the marker count, the incremental mode's answers, the
 * performance measurement, the stop signals (in a fresh process), the
 * printing calls and their file descriptors, the dumps, the abort
 * function and GC_abort_on_oom (in child processes). */
#include "check.h"

#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>
#include <gc_inline.h>
#include "settle.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* libgc exports these without declaring them. */
GC_API void GC_printf(const char *, ...);
GC_API void GC_err_printf(const char *, ...);
GC_API void GC_log_printf(const char *, ...);

/* ---- recorded values --------------------------------------------------------- */

static void
check_recorded(void)
{
	CHECK(GC_get_rate() == 10 && GC_get_max_prior_attempts() == 1 &&
	              GC_get_min_bytes_allocd() == 1 &&
	              GC_get_allocd_bytes_per_finalizer() == 10000 && !GC_get_manual_vdb_allowed(),
	      "defaults differ from libgc's");
	struct GC_timeval_s tv = GC_get_time_limit_tv();
	CHECK(tv.tv_ms == GC_TIME_UNLIMITED && tv.tv_nsec == 0 &&
	              GC_get_time_limit() == GC_TIME_UNLIMITED,
	      "time limit %lu.%lu", tv.tv_ms, tv.tv_nsec);
	GC_set_rate(3);
	GC_set_max_prior_attempts(5);
	GC_set_min_bytes_allocd(4096);
	GC_set_allocd_bytes_per_finalizer(77);
	GC_set_manual_vdb_allowed(1);
	GC_set_time_limit_tv((struct GC_timeval_s){20, 500});
	tv = GC_get_time_limit_tv();
	CHECK(GC_get_rate() == 3 && GC_get_max_prior_attempts() == 5 &&
	              GC_get_min_bytes_allocd() == 4096 &&
	              GC_get_allocd_bytes_per_finalizer() == 77 && GC_get_manual_vdb_allowed() == 1,
	      "a setting did not round-trip");
	CHECK(tv.tv_ms == 20 && tv.tv_nsec == 500 && GC_get_time_limit() == 20,
	      "the time limit did not round-trip");
	GC_set_time_limit(GC_TIME_UNLIMITED);
	CHECK(GC_get_time_limit_tv().tv_nsec == 500, "GC_set_time_limit changed the nanoseconds");
	CHECK(GC_incremental_protection_needs() == GC_PROTECTS_NONE, "mgc write-protects nothing");
	GC_word n = GC_get_gc_no();
	GC_start_incremental_collection();
	CHECK(GC_get_gc_no() == n && !GC_is_incremental_mode(), "no incremental mode");
}

/* ---- the stop function ------------------------------------------------------ */

static atomic_int stop_asked;

static int GC_CALLBACK
stop_now(void)
{
	atomic_fetch_add(&stop_asked, 1);
	return 1;
}

static int GC_CALLBACK
go_on(void)
{
	atomic_fetch_add(&stop_asked, 1);
	return 0;
}

static void
check_stop_func(void)
{
	GC_stop_func def = GC_get_stop_func();
	CHECK(def != NULL && def() == 0, "the default stop function stops");
	GC_word n = GC_get_gc_no();
	CHECK(GC_try_to_collect(stop_now) == 0 && GC_get_gc_no() == n && stop_asked == 1,
	      "a collection the stop function stops ran");
	CHECK(GC_try_to_collect(go_on) == 1 && GC_get_gc_no() > n && stop_asked == 2,
	      "a collection the stop function lets run did not");
	GC_set_stop_func(stop_now);
	CHECK(GC_get_stop_func() == stop_now, "GC_get_stop_func");
	n = GC_get_gc_no();
	GC_gcollect();
	CHECK(GC_get_gc_no() == n && stop_asked == 3, "GC_gcollect ran despite the stop function");
	GC_gcollect_and_unmap(); /* Boehm's never asks */
	CHECK(GC_get_gc_no() > n, "GC_gcollect_and_unmap asked the stop function");
	GC_set_stop_func(def);
	n = GC_get_gc_no();
	GC_gcollect();
	CHECK(GC_get_gc_no() > n, "GC_gcollect with the default stop function");
}

/* ---- automatic collection off ------------------------------------------------ */

static GC_word
collections_while_allocating(void)
{
	GC_word n = GC_get_gc_no();
	for (int i = 0; i < 40000; i++)
		CHECK(GC_malloc(1000) != NULL, "allocation failed");
	return GC_get_gc_no() - n;
}

static void
check_no_automatic(void)
{
	CHECK(!GC_get_disable_automatic_collection(), "automatic collection off by default");
	GC_set_disable_automatic_collection(1);
	CHECK(GC_get_disable_automatic_collection() == 1, "setting not recorded");
	CHECK(collections_while_allocating() == 0, "an automatic collection ran while disabled");
	GC_word n = GC_get_gc_no();
	GC_gcollect();
	CHECK(GC_get_gc_no() > n, "GC_gcollect did not collect with automatic collection off");
	GC_disable();
	GC_enable();
	CHECK(collections_while_allocating() == 0, "GC_enable turned automatic collection on");
	GC_set_disable_automatic_collection(0);
	CHECK(collections_while_allocating() > 0, "no automatic collection once enabled again");
	GC_disable();
	GC_set_disable_automatic_collection(1);
	GC_set_disable_automatic_collection(0);
	CHECK(collections_while_allocating() == 0, "automatic collection ran under GC_disable");
	GC_enable();
	CHECK(collections_while_allocating() > 0, "no automatic collection after GC_enable");
}

/* ---- finalization hook and events ---------------------------------------------- */

static void *awaited[8];
static atomic_int nawaited, nfinalized, await_before_fin;

static void GC_CALLBACK
on_await(void *obj)
{
	int i = atomic_fetch_add(&nawaited, 1);
	if (i < 8)
		awaited[i] = obj;
}

static void GC_CALLBACK
on_fin(void *obj, void *cd)
{
	(void)cd;
	for (int i = 0; i < 8 && i < atomic_load(&nawaited); i++)
		if (awaited[i] == obj)
			atomic_fetch_add(&await_before_fin, 1);
	atomic_fetch_add(&nfinalized, 1);
}

static __attribute__((noinline)) void
finalizable(int n)
{
	for (int i = 0; i < n; i++)
		GC_register_finalizer(GC_malloc(32), on_fin, NULL, NULL, NULL);
}

static void
check_await(void)
{
	CHECK(GC_get_await_finalize_proc() == NULL, "an await hook by default");
	GC_set_await_finalize_proc(on_await);
	CHECK(GC_get_await_finalize_proc() == on_await, "GC_get_await_finalize_proc");
	finalizable(4);
	for (int i = 0; i < 200 && atomic_load(&nfinalized) < 4; i++)
		settle(1, true);
	CHECK(atomic_load(&nfinalized) == 4 && atomic_load(&nawaited) == 4 &&
	              atomic_load(&await_before_fin) == 4,
	      "%d finalized, %d awaited, %d before their finalizer", atomic_load(&nfinalized),
	      atomic_load(&nawaited), atomic_load(&await_before_fin));
	GC_set_await_finalize_proc(NULL);
}

static GC_EventType events[64];
static int nevents;
static pthread_t thread_ids[64];
static GC_EventType thread_events[64];
static int nthread_events;

static void GC_CALLBACK
on_event(GC_EventType e)
{
	if (nevents < 64)
		events[nevents++] = e;
}

static void GC_CALLBACK
on_thread(GC_EventType e, void *id)
{
	if (nthread_events < 64) {
		thread_events[nthread_events] = e;
		thread_ids[nthread_events++] = (pthread_t)(uintptr_t)id;
	}
}

static atomic_bool stop_other;

/* A registered thread that runs without allocating, so that the only
 * collections are the test's. */
static void *
other_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_other))
		sched_yield();
	return NULL;
}

static void
check_events(void)
{
	static const GC_EventType want[] = {GC_EVENT_START,
	                                    GC_EVENT_PRE_STOP_WORLD,
	                                    GC_EVENT_POST_STOP_WORLD,
	                                    GC_EVENT_MARK_START,
	                                    GC_EVENT_MARK_END,
	                                    GC_EVENT_PRE_START_WORLD,
	                                    GC_EVENT_POST_START_WORLD,
	                                    GC_EVENT_RECLAIM_START,
	                                    GC_EVENT_RECLAIM_END,
	                                    GC_EVENT_END};
	pthread_t t;
	CHECK(GC_pthread_create(&t, NULL, other_thread, NULL) == 0, "GC_pthread_create");
	GC_set_on_collection_event(on_event);
	GC_set_on_thread_event(on_thread);
	CHECK(GC_get_on_collection_event() == on_event && GC_get_on_thread_event() == on_thread,
	      "the event procedures do not round-trip");
	GC_gcollect();
	GC_set_on_collection_event(NULL);
	GC_set_on_thread_event(NULL);
	/* A collection under way when the procedure was set shows its end
	 * only; every other, all ten events in order. */
	int first = 0;
	while (first < nevents && events[first] != GC_EVENT_START)
		first++;
	CHECK(nevents - first >= 10 && (nevents - first) % 10 == 0,
	      "%d collection events from the first start", nevents - first);
	for (int i = first; i < nevents; i++)
		CHECK(events[i] == want[(i - first) % 10], "event %d is %d, want %d", i, events[i],
		      want[(i - first) % 10]);
	int suspended = 0, resumed = 0;
	for (int i = 0; i < nthread_events; i++) {
		if (!pthread_equal(thread_ids[i], t))
			continue;
		if (thread_events[i] == GC_EVENT_THREAD_SUSPENDED)
			suspended++;
		else
			resumed++;
	}
	CHECK(suspended == 1 && resumed == 1 && thread_events[0] == GC_EVENT_THREAD_SUSPENDED,
	      "the other thread: suspended %d times, resumed %d", suspended, resumed);
	atomic_store(&stop_other, true);
	CHECK(GC_pthread_join(t, NULL) == 0, "GC_pthread_join");
}

/* ---- markers, measurement ------------------------------------------------------ */

static void **
make_list(int n)
{
	void **head = NULL;
	for (int i = 0; i < n; i++) {
		void **node = GC_malloc(2 * sizeof *node);
		CHECK(node != NULL, "allocation failed");
		node[0] = head;
		head = node;
	}
	return head;
}

static void
check_markers(void)
{
	int def = GC_get_parallel();
	CHECK(def >= 0 && def < 8, "GC_get_parallel is %d", def);
	GC_set_markers_count(1);
	CHECK(GC_get_parallel() == 0 && GC_parallel == 0, "one marker: GC_get_parallel %d",
	      GC_get_parallel());
	GC_set_markers_count(3);
	CHECK(GC_get_parallel() == 2, "three markers: GC_get_parallel %d", GC_get_parallel());
	GC_start_mark_threads();
	GC_set_markers_count(0);
	CHECK(GC_get_parallel() == def, "GC_set_markers_count(0) did not restore the default");
}

static void
check_measurement(void)
{
	CHECK(GC_get_full_gc_total_time() == 0, "time measured before the measurement started");
	GC_start_performance_measurement();
	void **volatile list = make_list(1 << 20);
	unsigned long t = GC_get_full_gc_total_time();
	for (int i = 0; i < 10; i++)
		GC_gcollect();
	CHECK(GC_get_full_gc_total_time() > t,
	      "10 collections of a 32 MiB list took no time: %lu ms", GC_get_full_gc_total_time());
	CHECK(list != NULL, "the list");
}

/* ---- signals, in a fresh process ---------------------------------------------- */

static int
fresh_signals(void)
{
	GC_set_markers_count(2); /* before GC_init: kept for it */
	CHECK(GC_get_parallel() == 0, "GC_get_parallel before GC_init");
	GC_set_suspend_signal(SIGUSR1);
	GC_set_thr_restart_signal(SIGUSR2);
	GC_INIT();
	CHECK(GC_get_parallel() == 1 && GC_parallel == 1, "two markers asked before GC_init: %d",
	      GC_get_parallel());
	GC_set_suspend_signal(SIGTERM); /* too late: ignored */
	CHECK(GC_get_suspend_signal() == SIGUSR1 && GC_get_thr_restart_signal() == SIGUSR2,
	      "signals %d and %d, want SIGUSR1 and SIGUSR2", GC_get_suspend_signal(),
	      GC_get_thr_restart_signal());
	pthread_t t;
	CHECK(GC_pthread_create(&t, NULL, other_thread, NULL) == 0, "GC_pthread_create");
	for (int i = 0; i < 10; i++)
		GC_gcollect(); /* the other thread is stopped with the chosen signals */
	atomic_store(&stop_other, true);
	CHECK(GC_pthread_join(t, NULL) == 0, "GC_pthread_join");
	return 0;
}

static void
run_fresh(const char *what)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed");
	if (pid == 0) {
		execl("/proc/self/exe", "test_compat_settings", what, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the fresh process for %s failed (status %#x)", what, status);
}

static void
check_signals(void)
{
	CHECK(GC_get_suspend_signal() == SIGPWR && GC_get_thr_restart_signal() == SIGXCPU,
	      "default signals %d and %d", GC_get_suspend_signal(), GC_get_thr_restart_signal());
	if (getenv("MGC_SIGNAL_SUSPEND") == NULL && getenv("MGC_SIGNAL_RESTART") == NULL)
		run_fresh("signals");
}

/* ---- printing ------------------------------------------------------------------ */

/* Runs fn in a child with standard output and standard error sent to
 * files (and fd 3 to a third, for the log); what each got, in out, err and
 * log (cut to size). */
static void
capture(void (*fn)(void), char *out, char *err, char *log, size_t size)
{
	FILE *files[] = {tmpfile(), tmpfile(), tmpfile()};
	char *bufs[] = {out, err, log};
	CHECK(files[0] != NULL && files[1] != NULL && files[2] != NULL, "tmpfile failed");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		dup2(fileno(files[0]), STDOUT_FILENO);
		dup2(fileno(files[1]), STDERR_FILENO);
		dup2(fileno(files[2]), 3);
		fn();
		fflush(NULL);
		_exit(0);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the printing child failed");
	for (int i = 0; i < 3; i++) {
		rewind(files[i]);
		size_t n = fread(bufs[i], 1, size - 1, files[i]);
		bufs[i][n] = '\0';
		fclose(files[i]);
	}
}

static void
print_all(void)
{
	GC_printf("to stdout %d\n", 1);
	GC_err_printf("to stderr %d\n", 2);
	GC_log_printf("log at first %d\n", 3);
	GC_set_log_fd(3);
	GC_log_printf("log moved %d\n", 4);
}

static void
dump_all(void)
{
	void *obj = GC_malloc(24);
	GC_register_finalizer(obj, on_fin, NULL, NULL, NULL);
	GC_printf("object %p\n", obj);
	GC_dump_named("named");
	GC_dump_named(NULL);
	GC_dump_regions();
	GC_dump_finalization();
	GC_print_free_list(GC_I_NORMAL, 2);
}

static void
check_printing(void)
{
	static char out[1 << 16], err[1 << 16], log[1 << 16];
	capture(print_all, out, err, log, sizeof out);
	CHECK(strcmp(out, "to stdout 1\n") == 0, "GC_printf wrote \"%.300s\"", out);
	CHECK(strcmp(err, "to stderr 2\nlog at first 3\n") == 0, "standard error got \"%.300s\"",
	      err);
	CHECK(strcmp(log, "log moved 4\n") == 0, "the log descriptor got \"%.300s\"", log);
	capture(dump_all, out, err, log, sizeof out);
	char obj[64];
	CHECK(sscanf(out, "object %63s", obj) == 1, "no object line in \"%.300s\"", out);
	CHECK(strstr(out, "***GC Dump named\n") != NULL &&
	              strstr(out, "***GC Dump collection #") != NULL,
	      "GC_dump_named printed \"%.300s\"", out);
	CHECK(strstr(out, "***Heap (mgc)") != NULL, "GC_dump_regions printed nothing");
	CHECK(strstr(out, "Finalizers: 1\n") != NULL && strstr(out, obj) != NULL,
	      "GC_dump_finalization does not list %s: \"%.300s\"", obj, out);
	CHECK(strstr(out, "Free list of kind 1, 2 granules") != NULL,
	      "GC_print_free_list printed nothing");
}

/* ---- fatal errors ------------------------------------------------------------------ */

static void GC_CALLBACK
my_abort(const char *msg)
{
	fprintf(stderr, "my_abort(%s)\n", msg != NULL ? msg : "NULL");
	fflush(stderr);
}

static void
same_obj_fails(void *arg)
{
	(void)arg;
	GC_set_abort_func(my_abort);
	char *a = GC_malloc(16), *b = GC_malloc(16);
	GC_same_obj(a, b);
}

static void
oom(void *arg)
{
	(void)arg;
	GC_set_abort_func(my_abort);
	GC_abort_on_oom();
}

static void
check_fatal(void)
{
	char err[4096];
	int status = -1;
	GC_abort_func def = GC_get_abort_func();
	CHECK(def != NULL, "no default abort function");
	GC_set_abort_func(my_abort);
	CHECK(GC_get_abort_func() == my_abort, "GC_get_abort_func");
	GC_set_abort_func(def);
	int sig = check_child(same_obj_fails, NULL, err, sizeof err, &status);
	CHECK(sig == SIGABRT, "a failed GC_same_obj ended with signal %d", sig);
	CHECK(strstr(err, "GC_same_obj test failed:") != NULL &&
	              strstr(err, "my_abort(GC_same_obj test failed)") != NULL,
	      "a failed GC_same_obj printed \"%.300s\"", err);
	sig = check_child(oom, NULL, err, sizeof err, &status);
	CHECK(sig == 0 && status == 1, "GC_abort_on_oom: signal %d, status %d", sig, status);
	CHECK(strcmp(err, "Insufficient memory for the allocation\nmy_abort(NULL)\n") == 0,
	      "GC_abort_on_oom printed \"%.300s\"", err);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "signals") == 0)
		return fresh_signals();
	GC_INIT();
	check_recorded();
	check_stop_func();
	check_no_automatic();
	check_await();
	check_events();
	check_markers();
	check_measurement();
	check_signals();
	check_printing();
	check_fatal();
	printf("test_compat_settings: ok\n");
	return 0;
}
