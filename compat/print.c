/* print.c — what the Boehm API prints and how it dies: GC_printf (standard
 * output), GC_err_printf (standard error) and GC_log_printf (the log file
 * descriptor, standard error unless GC_set_log_fd moved it), the dumps,
 * the abort function that fatal errors call (GC_on_abort) and
 * GC_abort_on_oom.
 *
 * Like Boehm's, the printing calls format into a buffer of their own and
 * write it with write(2), bypassing stdio: they may be called where stdio
 * is not safe.  A message longer than the buffer is cut.  The log
 * descriptor and the abort function are [atomic].
 */
#include "compat.h"

#include <gc_inline.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { BUF = 1024 };

static _Atomic int log_fd = STDERR_FILENO;

static void
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void
vprint(int fd, const char *fmt, va_list ap)
{
	char buf[BUF];
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n > 0)
		write_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void
GC_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(STDOUT_FILENO, fmt, ap);
	va_end(ap);
}

void
GC_err_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(STDERR_FILENO, fmt, ap);
	va_end(ap);
}

void
GC_log_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(atomic_load(&log_fd), fmt, ap);
	va_end(ap);
}

void GC_CALL
GC_set_log_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

/* ---- fatal errors ---------------------------------------------------------- */

/* Boehm's default: the message and a newline on standard error; NULL (on
 * the way to exit(1)) prints nothing. */
static void GC_CALLBACK
default_on_abort(const char *msg)
{
	if (msg != NULL)
		GC_err_printf("%s\n", msg);
}

/* libgc exports the variable itself, without declaring it. */
__attribute__((visibility("default"))) _Atomic(GC_abort_func) GC_on_abort = default_on_abort;

void GC_CALL
GC_set_abort_func(GC_abort_func fn)
{
	atomic_store(&GC_on_abort, fn);
}

GC_abort_func GC_CALL
GC_get_abort_func(void)
{
	return atomic_load(&GC_on_abort);
}

void
compat_abort(const char *fmt, ...)
{
	char msg[BUF];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	atomic_load (&GC_on_abort)(msg);
	abort();
}

/* As Boehm's: the message, the abort function told that the program is
 * exiting (NULL), and exit(1). */
void GC_CALL
GC_abort_on_oom(void)
{
	GC_err_printf("Insufficient memory for the allocation\n");
	atomic_load (&GC_on_abort)(NULL);
	exit(1);
}

/* ---- dumps (standard output, as Boehm's) ------------------------------------ */

void GC_CALL
GC_dump_named(const char *name)
{
	if (name != NULL)
		GC_printf("***GC Dump %s\n", name);
	else
		GC_printf("***GC Dump collection #%lu\n", (unsigned long)GC_get_gc_no());
	fflush(stdout); /* GC_dump prints with stdio */
	GC_dump();
	fflush(stdout);
}

/* mgc's heap is one range of arenas, not Boehm's sections: its bounds, and
 * how much of it is in use, free and returned to the OS. */
void GC_CALL
GC_dump_regions(void)
{
	void *lo, *hi;
	mgc_heap_bounds(&lo, &hi);
	GC_printf("***Heap (mgc): addresses %p to %p\n"
	          "%lu bytes of heap pages, %lu in use by blocks, %lu free, %lu unmapped\n",
	          lo, hi, (unsigned long)(GC_get_heap_size() + GC_get_unmapped_bytes()),
	          (unsigned long)GC_get_memory_use(), (unsigned long)GC_get_free_bytes(),
	          (unsigned long)GC_get_unmapped_bytes());
}

void GC_CALL
GC_dump_finalization(void)
{
	compat_fin_dump();
}

/* mgc's free blocks are in per-thread caches and central lists that it
 * does not show: this says so, for the kind and size asked about. */
void GC_CALL
GC_print_free_list(int kind, size_t granules)
{
	GC_printf("Free list of kind %d, %lu granules: mgc keeps free blocks in per-thread "
	          "caches and central lists, not listed\n",
	          kind, (unsigned long)granules);
}
