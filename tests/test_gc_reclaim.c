/* test_gc_reclaim — garbage is reclaimed, and MGC_GCPERCENT /
 * mgc_set_gc_percent control automatic collection.
 *
 * With the default setting (the adaptive rule, MGC_GCPERCENT_ADAPTIVE) and
 * with 100, a live set of about 1 MiB survives the allocation of 50 times as
 * much garbage of mixed sizes, large blocks included: collections start by
 * themselves, sys stays bounded and the live set is intact.  With automatic collection off (-1), 64 MiB of garbage
 * start no collection, enable_gc is false and next_gc is UINT64_MAX, while
 * mgc_collect still collects; mgc_set_gc_percent returns the previous value
 * (-1 for off).  Finally the program runs itself again with MGC_GCPERCENT
 * set to valid and invalid values: the valid ones take effect silently, an
 * invalid one is reported on stderr (naming MGC_GCPERCENT) and ignored
 * ("adaptive" selects the adaptive rule).
 */
#include "check.h"

#include <mgc.h>

#define MiB (1024u * 1024u)
#define LIVE_BYTES MiB
#define NLIVE_MAX 4096
#define GARBAGE_FACTOR 50
#define OFF_GARBAGE (64 * MiB)
#define SYS_SLACK (64 * MiB)
#define CHILD_GARBAGE (32 * MiB)
#define CHILD_ARG "gcpercent-child"

struct env_case {
	const char *value;
	int want;		/* the setting that must result */
	bool complains;		/* an error on stderr naming MGC_GCPERCENT */
};

static const struct env_case env_cases[] = {
	{ "off", -1, false },
	{ "50", 50, false },
	{ "0", 0, false },
	{ "-1", -1, false },
	{ "-5", -1, false },
	{ "250", 250, false },
	{ "adaptive", MGC_GCPERCENT_ADAPTIVE, false },
	{ "abc", MGC_GCPERCENT_ADAPTIVE, true },
	{ "12x", MGC_GCPERCENT_ADAPTIVE, true },
	{ "of", MGC_GCPERCENT_ADAPTIVE, true },
};

/* The live set, in bss: a root. */
static void *live[NLIVE_MAX];
static size_t live_size[NLIVE_MAX];
static int nlive;
static const char *self_name;

/* Mostly small sizes, some medium, one in 64 large (64 KiB to 1 MiB). */
static size_t
random_size(uint64_t *rng)
{
	uint64_t r = check_rng_next(rng);

	if (r % 64 == 0)
		return (size_t)(64 * 1024 + (r >> 8) % (MiB - 64 * 1024));
	if (r % 16 == 1)
		return (size_t)(4096 + (r >> 8) % (60 * 1024));
	return (size_t)(16 + (r >> 8) % 4080);
}

static void
make_live_set(void)
{
	uint64_t rng = 42, total = 0;

	while (total < LIVE_BYTES && nlive < NLIVE_MAX) {
		size_t size = random_size(&rng) / 4 + 8;
		uint64_t *w = nlive % 3 ? mgc_alloc(size) : mgc_alloc_noscan(size);

		CHECK(w != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
		check_fill(w, size / 8, (uint64_t)nlive << 32);
		live[nlive] = w;
		live_size[nlive++] = size;
		total += size;
	}
}

static void
check_live_set(const char *when)
{
	for (int k = 0; k < nlive; k++) {
		const uint64_t *w = live[k];

		CHECK(mgc_base(w, NULL) == w, "%s: live block %d (%p) was freed", when, k,
		      (const void *)w);
		CHECK_PATTERN(w, live_size[k] / 8, (uint64_t)k << 32, when);
	}
}

/* Allocates `bytes` of dropped blocks; returns how many were allocated. */
static __attribute__((noinline)) uint64_t
make_garbage(uint64_t bytes, uint64_t seed)
{
	uint64_t rng = seed, total = 0;

	while (total < bytes) {
		size_t size = random_size(&rng);
		char *p = check_rng_next(&rng) & 1 ? mgc_alloc(size) : mgc_alloc_noscan(size);

		CHECK(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
		p[0] = 1;
		p[size - 1] = 2;
		total += size;
	}
	return total;
}

static mgc_stats
collected_stats(void)
{
	mgc_stats s;

	check_clear_stack();
	mgc_collect();
	mgc_read_stats(&s);
	return s;
}

#define ULL(x) ((unsigned long long)(x))

/* Automatic collection keeps the heap bounded, at the default setting (the
 * adaptive rule) and at 100. */
static void
test_automatic(int setting)
{
	int prev = mgc_set_gc_percent(setting);
	mgc_stats a, b;

	if (getenv("MGC_GCPERCENT") == NULL && setting == MGC_GCPERCENT_ADAPTIVE)
		CHECK(prev == MGC_GCPERCENT_ADAPTIVE,
		      "the default setting is %d, not MGC_GCPERCENT_ADAPTIVE", prev);
	if (setting == 100)
		CHECK(prev == MGC_GCPERCENT_ADAPTIVE, "setting 100 returned %d, not the "
		      "adaptive rule set before", prev);
	make_live_set();
	mgc_read_stats(&a);
	CHECK(a.enable_gc, "enable_gc is false at setting 100");
	CHECK(a.next_gc != UINT64_MAX, "next_gc is UINT64_MAX at setting 100");
	make_garbage((uint64_t)GARBAGE_FACTOR * LIVE_BYTES, 1);
	mgc_read_stats(&b);
	CHECK(b.num_gc > a.num_gc, "no collection started while allocating %u MiB with a "
	      "live heap of 1 MiB", GARBAGE_FACTOR);
	CHECK(b.total_alloc - a.total_alloc >= (uint64_t)GARBAGE_FACTOR * LIVE_BYTES,
	      "total_alloc grew by %llu", ULL(b.total_alloc - a.total_alloc));
	CHECK(b.sys <= SYS_SLACK + 8 * (uint64_t)LIVE_BYTES, "sys is %llu bytes for a live "
	      "heap of 1 MiB (%llu collections)", ULL(b.sys), ULL(b.num_gc - a.num_gc));
	check_live_set("after automatic collections");
	b = collected_stats();
	CHECK(b.alloc <= a.alloc + 4 * MiB, "alloc is %llu after a collection, %llu with "
	      "only the live set", ULL(b.alloc), ULL(a.alloc));
}

/* Automatic collection off: no collection starts by itself; mgc_collect
 * still collects. */
static void
test_off(void)
{
	mgc_stats a, b, c;
	uint64_t bytes;

	a = collected_stats();
	CHECK(mgc_set_gc_percent(-1) == 100, "mgc_set_gc_percent(-1) did not return 100");
	mgc_read_stats(&b);
	CHECK(!b.enable_gc, "enable_gc is true while off");
	CHECK(b.next_gc == UINT64_MAX, "next_gc is %llu while off", ULL(b.next_gc));
	bytes = make_garbage(OFF_GARBAGE, 2);
	mgc_read_stats(&b);
	CHECK(b.num_gc == a.num_gc, "%llu collections started while off",
	      ULL(b.num_gc - a.num_gc));
	CHECK(b.alloc >= a.alloc + bytes, "alloc grew by %llu for %llu bytes allocated "
	      "without collection", ULL(b.alloc - a.alloc), ULL(bytes));
	c = collected_stats();
	CHECK(c.num_gc == a.num_gc + 1, "mgc_collect while off: num_gc grew by %llu, not 1",
	      ULL(c.num_gc - a.num_gc));
	CHECK(c.alloc <= a.alloc + bytes / 10, "mgc_collect while off: alloc is %llu, was "
	      "%llu before %llu bytes of garbage", ULL(c.alloc), ULL(a.alloc), ULL(bytes));
	CHECK(!c.enable_gc && c.next_gc == UINT64_MAX, "a collection turned automatic "
	      "collection back on");
	check_live_set("after allocating with collection off");
	CHECK(mgc_set_gc_percent(100) == -1, "mgc_set_gc_percent(100) did not return -1");
	mgc_read_stats(&c);
	CHECK(c.enable_gc && c.next_gc != UINT64_MAX, "setting 100 did not turn automatic "
	      "collection on");
	CHECK(mgc_set_gc_percent(-5) == 100, "mgc_set_gc_percent(-5) did not return 100");
	CHECK(mgc_set_gc_percent(-1) == -1, "mgc_set_gc_percent(-1) after -5 did not "
	      "return -1");
	CHECK(mgc_set_gc_percent(100) == -1, "mgc_set_gc_percent(100) did not return -1");
}

/* In the program run again: the setting MGC_GCPERCENT gave is `want`. */
static void
env_child(int want)
{
	mgc_stats a, b;
	bool off = want == -1;

	mgc_read_stats(&a);
	CHECK(a.enable_gc == !off, "enable_gc is %d at setting %d", a.enable_gc, want);
	CHECK((a.next_gc == UINT64_MAX) == off, "next_gc is %llu at setting %d",
	      ULL(a.next_gc), want);
	make_garbage(CHILD_GARBAGE, 3);
	mgc_read_stats(&b);
	if (off)
		CHECK(b.num_gc == a.num_gc, "%llu collections while off",
		      ULL(b.num_gc - a.num_gc));
	else
		CHECK(b.num_gc > a.num_gc, "no collection at setting %d", want);
	CHECK(mgc_set_gc_percent(100) == want, "the setting is not %d", want);
}

static void
exec_env_child(void *arg)
{
	const struct env_case *c = arg;
	char want[16];
	char *args[] = { (char *)self_name, CHILD_ARG, want, NULL };

	snprintf(want, sizeof want, "%d", c->want);
	CHECK(setenv("MGC_GCPERCENT", c->value, 1) == 0, "setenv failed");
	execv("/proc/self/exe", args);
	CHECK(false, "execv /proc/self/exe: %s", strerror(errno));
}

static void
test_env(void)
{
	for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
		const struct env_case *c = &env_cases[i];
		char err[4096];
		int status = -1, sig;

		sig = check_child(exec_env_child, (void *)c, err, sizeof err, &status);
		CHECK(sig == 0 && status == 0, "MGC_GCPERCENT=%s: the child %s %d; its stderr:\n%s",
		      c->value, sig ? "was killed by signal" : "exited with status",
		      sig ? sig : status, err);
		if (c->complains)
			CHECK(strstr(err, "MGC_GCPERCENT") != NULL, "MGC_GCPERCENT=%s: no error "
			      "naming MGC_GCPERCENT on stderr (got \"%s\")", c->value, err);
		else
			CHECK(strstr(err, "MGC_GCPERCENT") == NULL, "MGC_GCPERCENT=%s is valid but "
			      "stderr says \"%s\"", c->value, err);
	}
}

int
main(int argc, char **argv)
{
	self_name = argv[0];
	if (argc == 3 && strcmp(argv[1], CHILD_ARG) == 0) {
		env_child(atoi(argv[2]));
		return 0;
	}
	test_automatic(MGC_GCPERCENT_ADAPTIVE);
	test_automatic(100);
	test_off();
	test_env();
	return 0;
}
