/* settings.c — the Boehm GC's settings: the warn and oom procs, and the
 * setters and getters of its tuning variables that are recorded and
 * otherwise ignored (docs/COMPAT.md says which).  Those that change what
 * mgc does live beside the calls they change: GC_set_free_space_divisor,
 * GC_expand_hp and GC_set_max_heap_size in gc.c, GC_set_finalize_on_demand
 * in fin.c.  The warn and oom procs are [compat_lock].
 */
#include "compat.h"

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

void GC_CALL
GC_enable_incremental(void)
{
}

int GC_CALL
GC_is_incremental_mode(void)
{
	return 0;
}
