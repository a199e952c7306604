/* gccpp.cc — a C++ program on Boehm's libgccpp, where every operator new
 * and delete goes to the collector: the Boehm collector against mgc's
 * Boehm-compatible library.
 *
 * Built once (g++ -O2 -std=c++17 -pthread, linked with -lgccpp -lgc) and
 * run twice: as it is, on the Boehm collector, and with build/libmgc-gc.so
 * preloaded (LD_PRELOAD, as build/mgc-run does), on mgc.  libgccpp's
 * global operator new calls GC_malloc_uncollectable and its operator
 * delete GC_free, so every std::map and std::list node, std::string
 * buffer, std::vector array and object made with new is an uncollectable
 * block, scanned for pointers and freed explicitly: millions of calls.
 * Objects of a class derived from gc (gc_cpp.h) are collectable
 * (GC_malloc), and so are the pointer-free arrays made with
 * new (PointerFreeGC) (GC_malloc_atomic); nearly all of them are left to
 * the collector.
 *
 * Each worker runs OPS operations picked by a xorshift generator with a
 * fixed seed, so every collector sees the same sequence:
 *   30%  small objects: four polymorphic objects of 16 to 256 bytes made
 *        with new, each deleted 256 allocations later (a ring), and one
 *        time in eight one of 16,384 long-lived objects replaced;
 *   20%  a dictionary, std::map<std::string, Record *> over 40,000 keys of
 *        20-odd characters (so the strings are on the heap): look up and
 *        update (a std::vector of tags grows), insert or replace, erase;
 *   13%  a queue, std::list of events with a std::string of 4 to 63
 *        characters, at most 4,096 long;
 *   12%  a temporary std::vector of 1 to 200 numbers, grown one by one,
 *        sorted;
 *   15%  string building (std::to_string, +=, substr) into a
 *        std::unordered_map of 8,192 slots;
 *   10%  a list of 1 to 32 gc objects, some with a pointer-free
 *        collectable array, summed and then dropped (left to the
 *        collector), hung on a dictionary record (reachable only through
 *        uncollectable memory), or deleted explicitly (GC_free).
 * At the end every structure is walked into the checksum, the gc lists
 * hanging from the records included (a collector that missed a pointer in
 * an uncollectable block would have reused them), and everything is
 * deleted.  The time is of the operations and the final walk and deletion.
 *
 * With -t N, N threads (created through GC_pthread_create, so that the
 * Boehm collector knows them) each run their own worker, with their own
 * seed, on OPS / N operations.
 *
 * Usage:
 *   gccpp [-t THREADS] [OPS]   (default 1 thread, OPS 1500000)
 *   gccpp --which              (the collector it runs on, then exit)
 * Output: "checksum HEX", the same on both collectors for the same
 * arguments, then one line:
 *   NAME backend seconds peak_rss_kib num_gc
 * where NAME is gccpp for one thread and gccpp-Nt for N threads.
 */
#define GC_THREADS /* pthread_create goes through the collector */
#include <gc_cpp.h>

#include <dlfcn.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace
{

constexpr unsigned long long DEFAULT_OPS = 1500000;
constexpr int MAX_THREADS = 64;
constexpr size_t RING = 256;         /* a short-lived object lives RING allocations */
constexpr size_t LONG_LIVED = 16384; /* long-lived objects, replaced now and then */
constexpr uint32_t KEYS = 40000;     /* the dictionary's keys */
constexpr size_t QUEUE_MAX = 4096;   /* events in the queue */
constexpr uint32_t INDEX_SLOTS = 8192;

struct Rng {
	uint64_t s;

	uint64_t next()
	{
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		return s;
	}

	/* A number below n. */
	uint32_t below(uint32_t n)
	{
		return (uint32_t)(((next() >> 32) * n) >> 32);
	}
};

uint64_t
mix(uint64_t h, uint64_t v)
{
	h = (h << 5 | h >> 59) ^ v;
	return h * 0x9e3779b97f4a7c15u;
}

/* ---- small objects, 16 to 256 bytes ---------------------------------- */

struct Obj {
	uint32_t tag;

	explicit Obj(uint32_t t) : tag(t)
	{
	}
	virtual ~Obj() = default;
	virtual uint64_t sum() const = 0;
};

struct Tiny final : Obj { /* 16 bytes */
	explicit Tiny(uint32_t t) : Obj(t)
	{
	}
	uint64_t sum() const override
	{
		return tag;
	}
};

template <size_t N> struct Blob final : Obj { /* 16 + N bytes */
	unsigned char data[N];

	explicit Blob(uint32_t t) : Obj(t)
	{
		for (size_t i = 0; i < N; i++)
			data[i] = (unsigned char)(t + i);
	}
	uint64_t sum() const override
	{
		uint64_t s = tag;

		for (size_t i = 0; i < N; i += 8)
			s += data[i];
		return s * N;
	}
};

/* Mostly small: 16, 24 and 32 bytes are more than half. */
Obj *
make_obj(uint32_t k, uint32_t tag)
{
	switch (k) {
	case 0:
	case 1:
	case 2:
		return new Tiny(tag);
	case 3:
	case 4:
	case 5:
		return new Blob<8>(tag);
	case 6:
	case 7:
		return new Blob<16>(tag);
	case 8:
	case 9:
		return new Blob<32>(tag);
	case 10:
		return new Blob<48>(tag);
	case 11:
		return new Blob<64>(tag);
	case 12:
		return new Blob<96>(tag);
	case 13:
		return new Blob<128>(tag);
	case 14:
		return new Blob<176>(tag);
	default:
		return new Blob<240>(tag);
	}
}

/* ---- collectable objects --------------------------------------------- */

struct GNode : public gc {
	GNode *next;
	uint32_t *data; /* collectable and pointer-free, or null */
	uint32_t len;
	uint32_t val;
};

uint64_t
chain_sum(const GNode *g)
{
	uint64_t s = 0;

	for (; g != nullptr; g = g->next) {
		s = s * 31 + g->val;
		for (uint32_t i = 0; i < g->len; i++)
			s += g->data[i];
	}
	return s;
}

/* ---- the worker ------------------------------------------------------ */

struct Record {
	std::string name;
	std::vector<uint32_t> tags;
	GNode *chain = nullptr; /* reachable only through this record */
	uint64_t hits = 0;
};

struct Event {
	uint64_t id;
	std::string text;
};

struct Worker {
	Rng rng;
	unsigned long long ops;
	uint64_t h = 0;
	uint64_t events = 0;
	size_t pos = 0;
	Obj *ring[RING] = {};
	Obj *long_lived[LONG_LIVED] = {};
	std::map<std::string, Record *> dict;
	std::list<Event> queue;
	std::unordered_map<uint32_t, std::string> index;

	Worker(uint64_t seed, unsigned long long n) : rng{seed}, ops(n)
	{
	}
	void run();
	void small_objects();
	void dict_op();
	void queue_op();
	void vector_op();
	void string_op();
	void gc_op();
	void finish();
};

/* A key of 20 to 24 characters: longer than std::string keeps inline. */
std::string
key_of(uint32_t k)
{
	char buf[48];

	snprintf(buf, sizeof buf, "module%02u::symbol_%u", k % 97, k);
	return std::string(buf);
}

void
Worker::small_objects()
{
	for (int i = 0; i < 4; i++) {
		Obj *&slot = ring[pos];

		if (slot != nullptr) {
			h = mix(h, slot->sum());
			delete slot;
		}
		slot = make_obj(rng.below(16), (uint32_t)rng.next());
		pos = (pos + 1) % RING;
	}
	if (rng.below(8) == 0) {
		Obj *&slot = long_lived[rng.below(LONG_LIVED)];

		if (slot != nullptr) {
			h = mix(h, slot->sum());
			delete slot;
		}
		slot = make_obj(rng.below(16), (uint32_t)rng.next());
	}
}

void
Worker::dict_op()
{
	uint32_t k = rng.below(KEYS), what = rng.below(10);
	std::string key = key_of(k);
	auto it = dict.find(key);

	if (what < 5) { /* look up and update */
		if (it == dict.end()) {
			h = mix(h, k);
			return;
		}
		Record *rec = it->second;
		rec->hits++;
		rec->tags.push_back(k ^ (uint32_t)rec->hits);
		if (rec->tags.size() > 24) {
			rec->tags.clear();
			rec->tags.shrink_to_fit();
		}
		h = mix(h, rec->hits + rec->tags.size());
	} else if (what < 8) { /* insert or replace */
		Record *rec = new Record;
		rec->name = key + "@" + std::to_string(rng.below(100000));
		rec->tags.assign(1 + rng.below(8), k);
		if (it == dict.end()) {
			dict.emplace(std::move(key), rec);
		} else {
			delete it->second;
			it->second = rec;
		}
	} else if (it != dict.end()) { /* erase */
		h = mix(h, it->second->name.size() + it->second->hits);
		delete it->second;
		dict.erase(it);
	}
}

void
Worker::queue_op()
{
	uint32_t len = 4 + rng.below(60);
	std::string text(len, (char)('a' + events % 26));

	text[len / 2] = (char)('A' + rng.below(26));
	queue.push_back(Event{events++, std::move(text)});
	if (queue.size() > QUEUE_MAX) {
		const Event &e = queue.front();
		h = mix(h, e.id ^ ((uint64_t)e.text.size() << 32) ^
		                   (uint64_t)e.text[e.text.size() / 2]);
		queue.pop_front();
	}
}

void
Worker::vector_op()
{
	uint32_t n = 1 + rng.below(200);
	std::vector<uint32_t> v;

	for (uint32_t i = 0; i < n; i++)
		v.push_back((uint32_t)(rng.next() >> 40));
	std::sort(v.begin(), v.end());
	h = mix(h, v[n / 2] + v.size());
}

void
Worker::string_op()
{
	uint32_t k = rng.below(KEYS);
	std::string s = key_of(k);

	s += '/';
	s += std::to_string(rng.next());
	s += ".cache";
	std::string t = s.substr(3, s.size() - 9);
	h = mix(h, t.size() + (uint8_t)t.back());
	index[k % INDEX_SLOTS] = std::move(t);
}

void
Worker::gc_op()
{
	uint32_t n = 1 + rng.below(32);
	GNode *head = nullptr;

	for (uint32_t i = 0; i < n; i++) {
		GNode *g = new GNode;

		g->next = head;
		g->val = (uint32_t)rng.next();
		g->len = rng.below(4) == 0 ? 1 + rng.below(24) : 0;
		if (g->len != 0) {
			g->data = new (PointerFreeGC) uint32_t[g->len];
			for (uint32_t j = 0; j < g->len; j++)
				g->data[j] = g->val + j;
		}
		head = g;
	}
	h = mix(h, chain_sum(head));
	switch (rng.below(8)) {
	case 0: { /* hung on a record, replacing its chain */
		auto it = dict.find(key_of(rng.below(KEYS)));

		if (it != dict.end())
			it->second->chain = head;
		break;
	}
	case 1: /* deleted explicitly; their arrays are left to the collector */
		while (head != nullptr) {
			GNode *next = head->next;

			delete head;
			head = next;
		}
		break;
	default: /* dropped */
		break;
	}
}

/* Walks everything into the checksum and deletes it. */
void
Worker::finish()
{
	uint64_t s = 0;

	for (auto &kv : dict) {
		Record *rec = kv.second;

		h = mix(h, kv.first.size() + rec->name.size() + rec->hits);
		for (uint32_t t : rec->tags)
			h = mix(h, t);
		h = mix(h, chain_sum(rec->chain));
		delete rec;
	}
	dict.clear();
	for (Obj *&o : ring) {
		if (o != nullptr)
			h = mix(h, o->sum());
		delete o;
		o = nullptr;
	}
	for (Obj *&o : long_lived) {
		if (o != nullptr)
			h = mix(h, o->sum());
		delete o;
		o = nullptr;
	}
	for (const Event &e : queue)
		h = mix(h, e.id + e.text.size());
	queue.clear();
	for (auto &kv : index) /* in an order of the hash table's: summed */
		s += kv.first * 0x9e3779b97f4a7c15u + kv.second.size() + (uint8_t)kv.second[0];
	h = mix(h, s + index.size());
	index.clear();
}

void
Worker::run()
{
	for (unsigned long long i = 0; i < ops; i++) {
		uint32_t op = rng.below(100);

		if (op < 30)
			small_objects();
		else if (op < 50)
			dict_op();
		else if (op < 63)
			queue_op();
		else if (op < 75)
			vector_op();
		else if (op < 90)
			string_op();
		else
			gc_op();
	}
	finish();
}

void *
thread_main(void *arg)
{
	static_cast<Worker *>(arg)->run();
	return nullptr;
}

/* ---- the program ----------------------------------------------------- */

double
now_sec()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

long
peak_rss_kib()
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* The shared object that defines sym as the program resolves it. */
const char *
lib_of(const char *sym)
{
	void *p = dlsym(RTLD_DEFAULT, sym);
	Dl_info di;

	if (p == nullptr || dladdr(p, &di) == 0 || di.dli_fname == nullptr)
		return "?";
	return di.dli_fname;
}

const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != nullptr ? s + 1 : path;
}

/* "mgc" when build/libmgc-gc.so is preloaded, "boehm" on libgc; null (and
 * a message in why) when the collector or operator new is something else. */
const char *
backend(std::string &why)
{
	const char *gc_lib = lib_of("GC_malloc_uncollectable");
	const char *new_lib = lib_of("_Znwm");
	const char *name = nullptr;

	if (strstr(lib_of("_ZdlPv"), "libgccpp") == nullptr ||
	    strstr(new_lib, "libgccpp") == nullptr)
		why = std::string("operator new comes from ") + new_lib + ", not libgccpp";
	else if (strstr(gc_lib, "libmgc-gc") != nullptr && strcmp(lib_of("GC_free"), gc_lib) == 0 &&
	         strcmp(lib_of("GC_malloc"), gc_lib) == 0)
		name = "mgc";
	else if (strstr(gc_lib, "/libgc.so") != nullptr && strcmp(lib_of("GC_free"), gc_lib) == 0)
		name = "boehm";
	else
		why = std::string("GC_malloc_uncollectable comes from ") + gc_lib;
	return name;
}

void
which(const char *name)
{
	unsigned v = GC_get_version();

	if (strcmp(name, "mgc") == 0)
		printf("mgc: %s preloaded, default settings",
		       base_name(lib_of("GC_malloc_uncollectable")));
	else
		printf("boehm: bdwgc %u.%u.%u, default settings", v >> 16, (v >> 8) & 0xff,
		       v & 0xff);
	printf("; operator new and delete from %s\n", base_name(lib_of("_Znwm")));
}

unsigned long long
parse_count(const char *arg, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v == 0 || v > max || arg[0] == '-') {
		fprintf(stderr, "gccpp: bad count '%s'\n", arg);
		exit(2);
	}
	return v;
}

int
usage()
{
	fprintf(stderr, "usage: gccpp [-t THREADS] [OPS]\n       gccpp --which\n");
	return 2;
}

} // namespace

int
main(int argc, char **argv)
{
	unsigned long long ops = DEFAULT_OPS;
	int threads = 1, i = 1;
	Worker *w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	std::string why;
	char name[32];
	uint64_t h = 0;
	double t0, secs;

	GC_INIT();
	const char *bk = backend(why);
	if (bk == nullptr) {
		fprintf(stderr, "gccpp: not on libgccpp and a collector: %s\n", why.c_str());
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "--which") == 0) {
		which(bk);
		return 0;
	}
	if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
		threads = (int)parse_count(argv[i + 1], MAX_THREADS);
		i += 2;
	}
	if (i < argc)
		ops = parse_count(argv[i++], 1ULL << 40);
	if (i < argc)
		return usage();
	if (threads == 1)
		snprintf(name, sizeof name, "gccpp");
	else
		snprintf(name, sizeof name, "gccpp-%dt", threads);

	t0 = now_sec();
	for (int t = 0; t < threads; t++)
		w[t] = new Worker(0x2545f4914f6cdd1dULL * (t + 1),
		                  ops / threads + (t < (int)(ops % threads)));
	if (threads == 1) {
		w[0]->run();
	} else {
		for (int t = 0; t < threads; t++) {
			int e = pthread_create(&tid[t], nullptr, thread_main, w[t]);

			if (e != 0) {
				fprintf(stderr, "gccpp: pthread_create: %s\n", strerror(e));
				return 1;
			}
		}
		for (int t = 0; t < threads; t++)
			pthread_join(tid[t], nullptr);
	}
	for (int t = 0; t < threads; t++) {
		h = mix(h, w[t]->h);
		delete w[t];
	}
	secs = now_sec() - t0;
	printf("checksum %016" PRIx64 "\n", h);
	printf("%s %s %.3f %ld %lu\n", name, bk, secs, peak_rss_kib(),
	       (unsigned long)GC_get_gc_no());
	return 0;
}
