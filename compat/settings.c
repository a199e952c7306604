/* settings.c — the Boehm GC's settings: the warn and oom procs, the
 * await-finalize hook, the setters and getters of its tuning variables
 * that are recorded and otherwise ignored (docs/COMPAT.md says which), and
 * the answers of its incremental mode, which mgc does not have.  Those
 * that change what mgc does live beside the calls they change:
 * GC_set_free_space_divisor, GC_expand_hp, GC_set_max_heap_size,
 * GC_set_stop_func and GC_set_disable_automatic_collection in gc.c,
 * GC_set_finalize_on_demand in fin.c, the markers and signals in
 * threads.c.  The warn and oom procs are [compat_lock]; the await hook and
 * the measurement's start are [atomic]; the recorded settings are
 * unsynchronized, as Boehm's.
 */
#include "compat.h"

#include <stdatomic.h>
#include <stdio.h>

/* ---- warn and oom procs ---- */

static void GC_CALLBACK
default_warn(char *msg, GC_word arg)
{
	fprintf(stderr, msg, (void *)arg);
}

static GC_warn_proc warn_proc = default_warn;

void GC_CALLBACK
GC_ignore_warn_proc(char *msg, GC_word arg)
{
	(void)msg;
	(void)arg;
}

void GC_CALL
GC_set_warn_proc(GC_warn_proc p)
{
	compat_lock_acquire();
	warn_proc = p;
	compat_lock_release();
}

GC_warn_proc GC_CALL
GC_get_warn_proc(void)
{
	GC_warn_proc p;

	compat_lock_acquire();
	p = warn_proc;
	compat_lock_release();
	return p;
}

void GC_CALL
GC_set_oom_fn(GC_oom_func fn)
{
	compat_lock_acquire();
	GC_oom_fn = fn;
	compat_lock_release();
}

GC_oom_func GC_CALL
GC_get_oom_fn(void)
{
	GC_oom_func fn;

	compat_lock_acquire();
	fn = GC_oom_fn;
	compat_lock_release();
	return fn;
}

/* ---- recorded settings ---- */

#define SETTING(name, type, var)                                                                   \
	void GC_CALL GC_set_##name(type v)                                                         \
	{                                                                                          \
		var = v;                                                                           \
	}                                                                                          \
	type GC_CALL GC_get_##name(void)                                                           \
	{                                                                                          \
		return var;                                                                        \
	}

SETTING(java_finalization, int, GC_java_finalization)
SETTING(dont_expand, int, GC_dont_expand)
SETTING(full_freq, int, GC_full_freq)
SETTING(non_gc_bytes, GC_word, GC_non_gc_bytes)
SETTING(no_dls, int, GC_no_dls)
SETTING(max_retries, GC_word, GC_max_retries)
SETTING(dont_precollect, int, GC_dont_precollect)
SETTING(time_limit, unsigned long, GC_time_limit)
SETTING(finalizer_notifier, GC_finalizer_notifier_proc, GC_finalizer_notifier)
SETTING(on_heap_resize, GC_on_heap_resize_proc, GC_on_heap_resize)

/* Boehm's defaults, as libgc 8.2.2 reports them. */
static int rate = 10, max_prior_attempts = 1, manual_vdb_allowed;
static size_t min_bytes_allocd = 1;
static GC_word allocd_bytes_per_finalizer = 10000;

SETTING(rate, int, rate)
SETTING(max_prior_attempts, int, max_prior_attempts)
SETTING(min_bytes_allocd, size_t, min_bytes_allocd)
SETTING(allocd_bytes_per_finalizer, GC_word, allocd_bytes_per_finalizer)
SETTING(manual_vdb_allowed, int, manual_vdb_allowed)

/* The milliseconds are GC_time_limit's. */
static unsigned long time_limit_nsec;

void GC_CALL
GC_set_time_limit_tv(struct GC_timeval_s tv)
{
	GC_time_limit = tv.tv_ms;
	time_limit_nsec = tv.tv_nsec;
}

struct GC_timeval_s GC_CALL
GC_get_time_limit_tv(void)
{
	return (struct GC_timeval_s){GC_time_limit, time_limit_nsec};
}

/* ---- the await-finalize hook (called by fin.c) -------------------------- */

static _Atomic(GC_await_finalize_proc) await_finalize;

void GC_CALL
GC_set_await_finalize_proc(GC_await_finalize_proc fn)
{
	atomic_store(&await_finalize, fn);
}

GC_await_finalize_proc GC_CALL
GC_get_await_finalize_proc(void)
{
	return atomic_load(&await_finalize);
}

/* ---- performance measurement ------------------------------------------- */

/* Boehm's full collections stop the world throughout; mgc's pause is that
 * part of its collections, measured from the start of the measurement. */
static _Atomic uint64_t measured_from = UINT64_MAX;

void GC_CALL
GC_start_performance_measurement(void)
{
	mgc_stats s;
	mgc_read_stats(&s);
	uint64_t none = UINT64_MAX;
	atomic_compare_exchange_strong(&measured_from, &none, s.pause_total_ns);
}

unsigned long GC_CALL
GC_get_full_gc_total_time(void)
{
	uint64_t from = atomic_load(&measured_from);
	if (from == UINT64_MAX)
		return 0;
	mgc_stats s;
	mgc_read_stats(&s);
	return (unsigned long)((s.pause_total_ns - from) / 1000000);
}

/* Honoured by mgc's marker: with 0, only a block's start and the
 * registered displacements retain it from the heap. */
void GC_CALL
GC_set_all_interior_pointers(int v)
{
	GC_all_interior_pointers = v != 0;
	mgc_set_interior_pointers(v != 0);
}

int GC_CALL
GC_get_all_interior_pointers(void)
{
	return GC_all_interior_pointers;
}

static int handle_fork = 1;

void GC_CALL
GC_set_handle_fork(int v)
{
	handle_fork = v;
}

void GC_CALL
GC_set_pages_executable(int v)
{
	(void)v;
}

int GC_CALL
GC_get_pages_executable(void)
{
	return 0;
}

/* ---- incremental mode: absent ------------------------------------------- */

void GC_CALL
GC_enable_incremental(void)
{
}

int GC_CALL
GC_is_incremental_mode(void)
{
	return 0;
}

int GC_CALL
GC_incremental_protection_needs(void)
{
	return GC_PROTECTS_NONE;
}

void GC_CALL
GC_start_incremental_collection(void)
{
}
