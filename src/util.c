/* util.c — locks with a checked order, and the fatal-error path.
 *
 * Locks are plain mutexes tagged with their level in the lock order written
 * in internal.h.  Debug builds keep, per thread, a bitmask of the levels held
 * and abort when a thread takes a lock at or above a level it already holds
 * (two central locks at once included).
 *
 * fatal() formats into a stack buffer and writes it with write(2): it never
 * allocates, so it is safe when the heap itself is broken.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static __thread unsigned held_levels; /* [owner] debug: bit n = a level-n lock is held */

static void
write_all(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(2, buf, n);
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

void
fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	write_all(buf, (size_t)n);
	abort();
}

void
assert_fail(const char *what, const char *file, int line)
{
	fatal("mgc: internal error: %s:%d: assertion failed: %s", file, line, what);
}

void
lock_acquire(struct lock *l)
{
	if (MGC_DEBUG && (held_levels >> l->level) != 0)
		fatal("mgc: internal error: lock order violated (taking level %d, held mask %#x)",
		      (int)l->level, held_levels);
	pthread_mutex_lock(&l->mutex);
	if (MGC_DEBUG)
		held_levels |= 1u << l->level;
}

void
lock_release(struct lock *l)
{
	if (MGC_DEBUG)
		held_levels &= ~(1u << l->level);
	pthread_mutex_unlock(&l->mutex);
}

bool
lock_held(const struct lock *l)
{
	return !MGC_DEBUG || (held_levels & (1u << l->level)) != 0;
}
