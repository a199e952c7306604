/* memory.h — what the kernel says of this process's memory, for the tests
 * of limits and of returning memory: VmRSS and VmHWM from /proc/self/status,
 * and mgc's own count of the memory it holds. */
#ifndef MGC_TESTS_MEMORY_H
#define MGC_TESTS_MEMORY_H

#include "check.h"

#include <mgc.h>
#include <stdio.h>

/* The value of "<field>:" in /proc/self/status, in bytes (kB there). */
static inline uint64_t
memory_status(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t len = strlen(field);
	uint64_t kib = 0;

	CHECK(f != NULL, "cannot open /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			kib = strtoull(line + len + 1, NULL, 10);
	fclose(f);
	CHECK(kib > 0, "no %s in /proc/self/status", field);
	return kib * 1024;
}

/* The memory mgc holds: obtained from the OS and not given back. */
static inline uint64_t
memory_held(void)
{
	mgc_stats s;

	mgc_read_stats(&s);
	return s.sys - s.heap_released;
}

#define MIB(n) ((uint64_t)(n) << 20)

/* Runs fn in a child with the environment variable name set to value (mgc
 * reads its environment once, when it starts: the child's mgc starts with
 * it) and checks that the child exited 0. */
static inline void
memory_child_with_env(const char *name, const char *value, void (*fn)(void *))
{
	char err[512];
	int status = -1;

	setenv(name, value, 1);
	CHECK(check_child(fn, NULL, err, sizeof err, &status) == 0 && status == 0,
	      "the child with %s=%s failed: %s", name, value, err);
	unsetenv(name);
}

/* Debug builds (-DMGC_DEBUG=1) check every mark twice at -O0: the tests
 * of big heaps run smaller there. */
#if defined(MGC_DEBUG) && MGC_DEBUG
#define MGC_DEBUG_BUILD 1
#else
#define MGC_DEBUG_BUILD 0
#endif

#endif
