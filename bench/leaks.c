/* leaks.c — a malloc/free program with known leaks, for bench/leaks.sh:
 * how long Valgrind, mgc and the Boehm collector take to find them.
 *
 * The program indexes generated documents.  A document is a few hundred
 * words of text and a few "calc:" lines, arithmetic over the document's
 * words.  The program tokenises the text into a list of words, counts
 * them in a hash table, compares the table with the previous document's,
 * adds the words to a dictionary that keeps each word's last postings,
 * evaluates the calc lines through a parse tree and answers queries about
 * the dictionary through an LRU cache.  Everything it allocates is freed,
 * at the latest at exit, except in five places, each marked LEAK below:
 *
 *   1. every 50th document a summary line is built, hashed into the
 *      checksum and never freed (sbuf's blocks);
 *   2. when a chapter ends (every 128th document) the previous document's
 *      table is dropped with its bucket array and all its entries;
 *   3. a calc line with a syntax error loses the operand parsed before
 *      the error, a whole subtree of nodes and names;
 *   4. a word longer than MAXWORD is cut into a new copy and the long
 *      copy is lost;
 *   5. a cached query result that has gone stale is replaced, and the
 *      old result is lost.
 *
 * The program counts the blocks it leaks by allocation site and prints
 * them at the end, one line per site, then the result line:
 *   expect leaks.c:LINE BLOCKS LEAK WHAT
 *   leaks BACKEND DOCS checksum HEX
 * The checksum covers everything the program computed; it is the same
 * for every build.
 *
 * One source, five builds (bench/leaks.sh):
 *   (no define)                  calloc, realloc and free from glibc: run
 *                                as it is, and under valgrind --leak-check=full
 *   -DLEAKS_MGC                  mgc_alloc, mgc_realloc, mgc_free
 *   -DLEAKS_MGC -DLEAKS_DEBUG    the same under MGC_DEBUG_ALLOC: every block
 *                                records its file and line; run with
 *                                MGC_FIND_LEAKS=1
 *   -DLEAKS_BOEHM                GC_MALLOC, GC_REALLOC, GC_FREE
 *   -DLEAKS_BOEHM -DLEAKS_DEBUG  <gc/leak_detector.h> (GC_DEBUG; calloc,
 *                                realloc and free become GC_MALLOC,
 *                                GC_REALLOC and GC_FREE) and GC_set_find_leak(1)
 * mgc_alloc and GC_MALLOC return zeroed memory, so the glibc build
 * allocates with calloc.  Every pointer the program keeps lies in its
 * globals, on its stack or in blocks of the allocator under test: the
 * collectors do not scan memory from malloc, and a block known only from
 * there would be reported as a leak that is not one.
 *
 * Usage: leaks [DOCS]   (default 6000 documents)
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(LEAKS_MGC)
#ifdef LEAKS_DEBUG
#define MGC_DEBUG_ALLOC
#define BACKEND "mgcdebug"
#else
#define BACKEND "mgc"
#endif
#include "mgc.h"
#define LK_ALLOC(n)      mgc_alloc(n)
#define LK_REALLOC(p, n) mgc_realloc((p), (n))
#define LK_FREE(p)       mgc_free(p)
#elif defined(LEAKS_BOEHM) && defined(LEAKS_DEBUG)
#define BACKEND "boehmdebug"
#include <gc/leak_detector.h>
#define LK_ALLOC(n)      calloc(1, (n))
#define LK_REALLOC(p, n) realloc((p), (n))
#define LK_FREE(p)       free(p)
#elif defined(LEAKS_BOEHM)
#define BACKEND "boehm"
#include <gc/gc.h>
#define LK_ALLOC(n)      GC_MALLOC(n)
#define LK_REALLOC(p, n) GC_REALLOC((p), (n))
#define LK_FREE(p)       GC_FREE(p)
#else
#define BACKEND          "glibc"
#define LK_ALLOC(n)      calloc(1, (n))
#define LK_REALLOC(p, n) realloc((p), (n))
#define LK_FREE(p)       free(p)
#endif

#define DEFAULT_DOCS  6000
#define MAXWORD       24   /* longer words are cut (LEAK 4) */
#define SUMMARY_EVERY 50   /* LEAK 1 */
#define CHAPTER       128  /* LEAK 2 */
#define MAXPOSTINGS   6    /* postings kept per dictionary word */
#define CACHE_MAX     512  /* query results cached */
#define CACHE_BUCKETS 1024 /* a power of two */
#define STALE_AFTER   64   /* documents after which a cached result is stale */
#define VOCABULARY    10000

/* ---- allocation sites --------------------------------------------------- */

/* Every allocation names its site, so that the program can say where the
 * blocks it leaks were allocated: ALLOC and REALLOC note the line they are
 * written on, which is the line every leak finder reports for them.  A
 * call must fit on one line. */
enum site {
	S_TEXT,
	S_TEXT_GROW,
	S_TOKEN,
	S_WORD,
	S_SHORT,
	S_TABLE,
	S_BUCKETS,
	S_BUCKETS_GROW,
	S_ENTRY,
	S_RECORD,
	S_POSTING,
	S_DICT_BUCKETS,
	S_NODE,
	S_NAME,
	S_RESULT,
	S_CENTRY,
	NSITES
};

/* What each site allocates, and the leak (numbered above) that loses
 * blocks of it, if any. */
static const struct {
	const char *what;
	int leak;
} sites[NSITES] = {
        [S_TEXT] = {"string buffer", 1},               /* sbuf_init() */
        [S_TEXT_GROW] = {"string buffer, grown", 1},   /* sbuf_reserve() */
        [S_TOKEN] = {"token", 0},                      /* token_new() */
        [S_WORD] = {"word", 4},                        /* token_new() */
        [S_SHORT] = {"cut word", 0},                   /* token_new() */
        [S_TABLE] = {"table", 2},                      /* table_new() */
        [S_BUCKETS] = {"bucket array", 2},             /* table_new() */
        [S_BUCKETS_GROW] = {"bucket array, grown", 2}, /* table_grow() */
        [S_ENTRY] = {"table entry", 2},                /* table_add() */
        [S_RECORD] = {"dictionary record", 0},         /* dict_add() */
        [S_POSTING] = {"posting", 0},                  /* dict_add() */
        [S_DICT_BUCKETS] = {"dictionary buckets", 0},  /* dict_grow() */
        [S_NODE] = {"parse node", 3},                  /* node_new() */
        [S_NAME] = {"name in a node", 3},              /* parse_operand() */
        [S_RESULT] = {"query result", 5},              /* result_new() */
        [S_CENTRY] = {"cache entry", 0},               /* query() */
};

static int site_line[NSITES];        /* the line of each site */
static unsigned long leaked[NSITES]; /* blocks leaked, by site */

static void *
need(void *p, size_t n)
{
	if (p == NULL) {
		fprintf(stderr, "leaks: " BACKEND ": allocation of %zu bytes failed\n", n);
		exit(1);
	}
	return p;
}

#define ALLOC(site, n)      need((site_line[site] = __LINE__, LK_ALLOC(n)), (n))
#define REALLOC(site, p, n) need((site_line[site] = __LINE__, LK_REALLOC((p), (n))), (n))
#define FREE(p)             LK_FREE(p)

static void
lk_init(void)
{
#if defined(LEAKS_BOEHM) && defined(LEAKS_DEBUG)
	GC_set_find_leak(1);
#endif
#ifdef LEAKS_BOEHM
	GC_INIT();
#endif
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t checksum = UINT64_C(14695981039346656037);

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t
hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
mix(uint64_t v)
{
	checksum = (checksum ^ v) * UINT64_C(1099511628211);
}

/* ---- string buffers ------------------------------------------------------ */

/* A growing string, always terminated. */
struct sbuf {
	char *p;
	size_t len, cap;
	enum site site; /* where p was allocated */
};

static void
sbuf_init(struct sbuf *b, size_t cap)
{
	b->p = ALLOC(S_TEXT, cap);
	b->len = 0;
	b->cap = cap;
	b->site = S_TEXT;
}

static void
sbuf_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more < b->cap)
		return;
	while (b->len + more >= b->cap)
		b->cap *= 2;
	b->p = REALLOC(S_TEXT_GROW, b->p, b->cap);
	b->site = S_TEXT_GROW;
}

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	sbuf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sbuf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- the generated documents -------------------------------------------- */

static const char syllables[16][3] = {"ka", "lo", "mi", "nu", "pe", "ra", "si", "to",
                                      "va", "ze", "an", "el", "in", "or", "ub", "ys"};

/* Spells word w of the vocabulary: its base-16 digits as syllables, at
 * least two of them. */
static void
spell(struct sbuf *b, unsigned w)
{
	int i = 0;

	do {
		sbuf_add(b, syllables[w % 16], 2);
		w /= 16;
	} while (w != 0 || ++i < 2);
}

/* A word, the common ones far more often than the rare. */
static unsigned
pick_word(void)
{
	unsigned r = (unsigned)(rnd() % VOCABULARY);

	return (unsigned)(rnd() % (r + 1));
}

/* A calc line's expression, over the words in recent[]; bad != 0 puts a
 * syntax error somewhere in it. */
static void
make_expr(struct sbuf *b, const unsigned *recent, int depth, int *bad)
{
	static const char ops[] = "+-*/";
	int terms = 1 + (int)(rnd() % 4), i;

	for (i = 0; i < terms; i++) {
		if (i > 0)
			sbuf_printf(b, " %c ", ops[rnd() % 4]);
		if (*bad && rnd() % 3 == 0) {
			sbuf_add(b, i > 0 ? "*" : ")", 1);
			*bad = 0;
		} else if (depth < 3 && rnd() % 4 == 0) {
			sbuf_add(b, "(", 1);
			make_expr(b, recent, depth + 1, bad);
			if (*bad && rnd() % 2 == 0)
				*bad = 0; /* the parenthesis is not closed */
			else
				sbuf_add(b, ")", 1);
		} else if (rnd() % 3 == 0) {
			sbuf_printf(b, "%u", (unsigned)(rnd() % 100));
		} else {
			spell(b, recent[rnd() % 16]);
		}
	}
}

/* Writes document n into b: sentences, then calc lines. */
static void
make_document(struct sbuf *b, unsigned n)
{
	unsigned recent[16] = {0}, w;
	int s, i, words, bad;
	size_t start;

	sbuf_printf(b, "document %u\n", n);
	for (s = 8 + (int)(rnd() % 24); s > 0; s--) {
		words = 4 + (int)(rnd() % 12);
		for (i = 0; i < words; i++) {
			w = pick_word();
			recent[rnd() % 16] = w;
			start = b->len;
			spell(b, w);
			if (rnd() % 2048 == 0) /* a compound, longer than MAXWORD */
				while (b->len - start <= MAXWORD)
					spell(b, w += 7);
			sbuf_add(b, i + 1 < words ? " " : ".\n", i + 1 < words ? 1 : 2);
		}
	}
	for (s = 1 + (int)(rnd() % 4); s > 0; s--) {
		bad = rnd() % 12 == 0;
		sbuf_add(b, "calc: ", 6);
		make_expr(b, recent, 0, &bad);
		sbuf_add(b, "\n", 1);
	}
}

/* ---- tokens ------------------------------------------------------------- */

struct token {
	struct token *next;
	char *text;
	size_t len;
};

static struct token *
token_new(const char *w, size_t len)
{
	struct token *t = ALLOC(S_TOKEN, sizeof *t);
	char *text = ALLOC(S_WORD, len + 1);
	char *cut;

	memcpy(text, w, len);
	if (len > MAXWORD) {
		/* LEAK 4: the long copy is not freed. */
		cut = ALLOC(S_SHORT, MAXWORD + 1);
		memcpy(cut, text, MAXWORD);
		leaked[S_WORD]++;
		text = cut;
		len = MAXWORD;
	}
	t->text = text;
	t->len = len;
	return t;
}

/* Appends the words of [s, end) to the list whose last link is tail;
 * returns the new last link. */
static struct token **
tokenize(const char *s, const char *end, struct token **tail)
{
	const char *w;

	while (s < end) {
		if (!isalpha((unsigned char)*s)) {
			s++;
			continue;
		}
		for (w = s; s < end && isalpha((unsigned char)*s); s++)
			;
		*tail = token_new(w, (size_t)(s - w));
		tail = &(*tail)->next;
	}
	return tail;
}

static void
tokens_free(struct token *t)
{
	struct token *next;

	for (; t != NULL; t = next) {
		next = t->next;
		FREE(t->text);
		FREE(t);
	}
}

/* ---- a document's word counts --------------------------------------------- */

struct entry {
	struct entry *next;
	unsigned count;
	uint32_t hash;
	size_t len;
	char key[];
};

struct table {
	struct entry **buckets;
	size_t nbuckets, n;
	enum site bsite; /* where buckets was allocated */
};

static struct table *
table_new(void)
{
	struct table *t = ALLOC(S_TABLE, sizeof *t);

	t->nbuckets = 64;
	t->buckets = ALLOC(S_BUCKETS, t->nbuckets * sizeof *t->buckets);
	t->bsite = S_BUCKETS;
	return t;
}

static struct entry *
table_find(const struct table *t, const char *key, size_t len, uint32_t h)
{
	struct entry *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

static void
table_grow(struct table *t)
{
	size_t n = t->nbuckets * 2, i;
	struct entry **b = ALLOC(S_BUCKETS_GROW, n * sizeof *b);
	struct entry *e, *next;

	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	FREE(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	t->bsite = S_BUCKETS_GROW;
}

static void
table_add(struct table *t, const char *key, size_t len)
{
	uint32_t h = hash(key, len);
	struct entry *e = table_find(t, key, len, h), **b;

	if (e == NULL) {
		if (t->n >= t->nbuckets)
			table_grow(t);
		e = ALLOC(S_ENTRY, sizeof *e + len + 1);
		memcpy(e->key, key, len);
		e->len = len;
		e->hash = h;
		b = &t->buckets[h & (t->nbuckets - 1)];
		e->next = *b;
		*b = e;
		t->n++;
	}
	e->count++;
}

static unsigned
table_count(const struct table *t, const char *key, size_t len)
{
	const struct entry *e = table_find(t, key, len, hash(key, len));

	return e != NULL ? e->count : 0;
}

static void
table_free(struct table *t)
{
	struct entry *e, *next;
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			FREE(e);
		}
	}
	FREE(t->buckets);
	FREE(t);
}

/* Counts the blocks of a table about to be lost. */
static void
table_lost(const struct table *t)
{
	leaked[S_TABLE]++;
	leaked[t->bsite]++;
	leaked[S_ENTRY] += t->n;
}

/* ---- the dictionary: every word seen, with its last postings ------------- */

struct posting {
	struct posting *next;
	unsigned doc, count;
};

struct record {
	struct record *next;
	struct posting *first, *last; /* oldest first, at most MAXPOSTINGS */
	unsigned npostings, df;
	uint32_t hash;
	size_t len;
	char key[];
};

static struct record **dict;
static size_t dict_nbuckets, dict_n;

static struct record *
dict_find(const char *key, size_t len, uint32_t h)
{
	struct record *r;

	if (dict == NULL)
		return NULL;
	for (r = dict[h & (dict_nbuckets - 1)]; r != NULL; r = r->next)
		if (r->hash == h && r->len == len && memcmp(r->key, key, len) == 0)
			return r;
	return NULL;
}

static void
dict_grow(void)
{
	size_t n = dict_nbuckets != 0 ? dict_nbuckets * 2 : 1024, i;
	struct record **b = ALLOC(S_DICT_BUCKETS, n * sizeof *b);
	struct record *r, *next;

	for (i = 0; i < dict_nbuckets; i++) {
		for (r = dict[i]; r != NULL; r = next) {
			next = r->next;
			r->next = b[r->hash & (n - 1)];
			b[r->hash & (n - 1)] = r;
		}
	}
	if (dict != NULL)
		FREE(dict);
	dict = b;
	dict_nbuckets = n;
}

static void
postings_free(struct posting *p)
{
	struct posting *next;

	for (; p != NULL; p = next) {
		next = p->next;
		FREE(p);
	}
}

static void
dict_add(const char *key, size_t len, unsigned count, unsigned doc)
{
	uint32_t h = hash(key, len);
	struct record *r = dict_find(key, len, h), **b;
	struct posting *p;

	if (r == NULL) {
		if (dict_n >= dict_nbuckets)
			dict_grow();
		r = ALLOC(S_RECORD, sizeof *r + len + 1);
		memcpy(r->key, key, len);
		r->len = len;
		r->hash = h;
		b = &dict[h & (dict_nbuckets - 1)];
		r->next = *b;
		*b = r;
		dict_n++;
	}
	p = ALLOC(S_POSTING, sizeof *p);
	p->doc = doc;
	p->count = count;
	if (r->last != NULL)
		r->last->next = p;
	else
		r->first = p;
	r->last = p;
	r->df++;
	if (++r->npostings > MAXPOSTINGS) {
		p = r->first;
		r->first = p->next;
		FREE(p);
		r->npostings--;
	}
}

static void
dict_free(void)
{
	struct record *r, *next;
	size_t i;

	for (i = 0; i < dict_nbuckets; i++) {
		for (r = dict[i]; r != NULL; r = next) {
			next = r->next;
			postings_free(r->first);
			FREE(r);
		}
	}
	FREE(dict);
	dict = NULL;
}

/* ---- calc lines ------------------------------------------------------------ */

enum { N_NUM, N_VAR, N_BIN };

struct node {
	int kind;
	char op;
	uint64_t value;
	char *name; /* N_VAR */
	size_t len;
	struct node *l, *r; /* N_BIN */
};

struct parser {
	const char *s; /* the line, ending at '\n' */
};

static struct node *
node_new(int kind)
{
	struct node *n = ALLOC(S_NODE, sizeof *n);

	n->kind = kind;
	return n;
}

static void
tree_free(struct node *n)
{
	if (n == NULL)
		return;
	tree_free(n->l);
	tree_free(n->r);
	if (n->name != NULL)
		FREE(n->name);
	FREE(n);
}

/* Counts the blocks of a tree about to be lost. */
static void
tree_lost(const struct node *n)
{
	if (n == NULL)
		return;
	tree_lost(n->l);
	tree_lost(n->r);
	leaked[S_NODE]++;
	if (n->name != NULL)
		leaked[S_NAME]++;
}

static void
skip_spaces(struct parser *p)
{
	while (*p->s == ' ')
		p->s++;
}

static struct node *parse_sum(struct parser *p);

/* A number, a word or a parenthesised sum; NULL on a syntax error. */
static struct node *
parse_operand(struct parser *p)
{
	struct node *n;
	const char *w;

	skip_spaces(p);
	if (isdigit((unsigned char)*p->s)) {
		n = node_new(N_NUM);
		for (; isdigit((unsigned char)*p->s); p->s++)
			n->value = n->value * 10 + (uint64_t)(*p->s - '0');
		return n;
	}
	if (isalpha((unsigned char)*p->s)) {
		for (w = p->s; isalpha((unsigned char)*p->s); p->s++)
			;
		n = node_new(N_VAR);
		n->len = (size_t)(p->s - w);
		n->name = ALLOC(S_NAME, n->len + 1);
		memcpy(n->name, w, n->len);
		return n;
	}
	if (*p->s != '(')
		return NULL;
	p->s++;
	n = parse_sum(p);
	if (n == NULL)
		return NULL;
	skip_spaces(p);
	if (*p->s != ')') {
		tree_free(n);
		return NULL;
	}
	p->s++;
	return n;
}

/* Operands joined by the operators in ops, left to right. */
static struct node *
parse_chain(struct parser *p, const char *ops, struct node *(*operand)(struct parser *))
{
	struct node *l = operand(p), *r, *b;
	char op;

	if (l == NULL)
		return NULL;
	for (;;) {
		skip_spaces(p);
		if (*p->s == '\n' || strchr(ops, *p->s) == NULL)
			return l;
		op = *p->s++;
		r = operand(p);
		if (r == NULL) {
			/* LEAK 3: the left operand is not freed. */
			tree_lost(l);
			return NULL;
		}
		b = node_new(N_BIN);
		b->op = op;
		b->l = l;
		b->r = r;
		l = b;
	}
}

static struct node *
parse_product(struct parser *p)
{
	return parse_chain(p, "*/", parse_operand);
}

static struct node *
parse_sum(struct parser *p)
{
	return parse_chain(p, "+-", parse_product);
}

/* A word's value is its count in the document. */
static uint64_t
eval(const struct node *n, const struct table *t)
{
	uint64_t l, r;

	if (n->kind == N_NUM)
		return n->value;
	if (n->kind == N_VAR)
		return table_count(t, n->name, n->len);
	l = eval(n->l, t);
	r = eval(n->r, t);
	switch (n->op) {
	case '+':
		return l + r;
	case '-':
		return l - r;
	case '*':
		return l * r;
	default:
		return r != 0 ? l / r : 0;
	}
}

/* Evaluates the calc line s (after "calc:") into the checksum. */
static void
calc(const char *s, const struct table *t)
{
	struct parser p = {s};
	struct node *n = parse_sum(&p);

	if (n != NULL) {
		skip_spaces(&p);
		if (*p.s == '\n')
			mix(eval(n, t));
		else
			mix(UINT64_C(0xBAD));
		tree_free(n);
	} else {
		mix(UINT64_C(0xBAD));
	}
}

/* ---- query results, in an LRU cache ------------------------------------- */

struct result {
	unsigned doc; /* the document it was made at */
	size_t len;
	char text[];
};

struct centry {
	struct centry *chain;         /* next in the bucket */
	struct centry *newer, *older; /* the LRU list */
	struct result *value;
	uint32_t hash;
	size_t len;
	char key[];
};

static struct centry *cache[CACHE_BUCKETS];
static struct centry *newest, *oldest;
static size_t cache_n;

/* What the dictionary knows of a word, now. */
static struct result *
result_new(const char *key, size_t len, unsigned doc)
{
	const struct record *r = dict_find(key, len, hash(key, len));
	const struct posting *p;
	char buf[256];
	int n;
	struct result *res;

	n = snprintf(buf, sizeof buf, "%.*s: in %u documents, last", (int)len, key,
	             r != NULL ? r->df : 0);
	for (p = r != NULL ? r->first : NULL; p != NULL; p = p->next)
		n += snprintf(buf + n, sizeof buf - (size_t)n, " %u (%u)", p->doc, p->count);
	res = ALLOC(S_RESULT, sizeof *res + (size_t)n + 1);
	memcpy(res->text, buf, (size_t)n);
	res->len = (size_t)n;
	res->doc = doc;
	return res;
}

static void
lru_unlink(struct centry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
lru_push(struct centry *e)
{
	e->older = newest;
	if (newest != NULL)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
}

static struct centry **
cache_slot(const char *key, size_t len, uint32_t h)
{
	struct centry **s;

	for (s = &cache[h & (CACHE_BUCKETS - 1)]; *s != NULL; s = &(*s)->chain)
		if ((*s)->hash == h && (*s)->len == len && memcmp((*s)->key, key, len) == 0)
			break;
	return s;
}

static void
cache_evict(void)
{
	struct centry *e = oldest;

	lru_unlink(e);
	*cache_slot(e->key, e->len, e->hash) = e->chain;
	FREE(e->value);
	FREE(e);
	cache_n--;
}

/* The answer to a query about a word, from the cache if it is fresh. */
static const struct result *
query(const char *key, size_t len, unsigned doc)
{
	uint32_t h = hash(key, len);
	struct centry **s = cache_slot(key, len, h), *e = *s;

	if (e != NULL) {
		lru_unlink(e);
		lru_push(e);
		if (doc - e->value->doc >= STALE_AFTER) {
			/* LEAK 5: the stale result is not freed. */
			leaked[S_RESULT]++;
			e->value = result_new(key, len, doc);
		}
		return e->value;
	}
	e = ALLOC(S_CENTRY, sizeof *e + len + 1);
	memcpy(e->key, key, len);
	e->len = len;
	e->hash = h;
	e->value = result_new(key, len, doc);
	*s = e;
	lru_push(e);
	if (++cache_n > CACHE_MAX)
		cache_evict();
	return e->value;
}

static void
cache_free(void)
{
	while (oldest != NULL)
		cache_evict();
}

/* ---- indexing --------------------------------------------------------- */

static struct table *previous; /* the last document's table */

/* The document's summary line. */
static struct sbuf
summary(const struct table *t, unsigned doc, size_t words)
{
	struct sbuf b;
	const struct entry *e, *top[3] = {NULL, NULL, NULL};
	size_t i;
	int k;

	sbuf_init(&b, 32);
	sbuf_printf(&b, "document %u: %zu words, %zu different; most frequent:", doc, words, t->n);
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = e->next) {
			for (k = 2; k >= 0 && (top[k] == NULL || top[k]->count < e->count); k--)
				if (k < 2)
					top[k + 1] = top[k];
			if (k < 2)
				top[k + 1] = e;
		}
	}
	for (k = 0; k < 3 && top[k] != NULL; k++)
		sbuf_printf(&b, " %s (%u)", top[k]->key, top[k]->count);
	return b;
}

/* How much two documents' words overlap. */
static uint64_t
similarity(const struct table *a, const struct table *b)
{
	const struct entry *e;
	uint64_t dot = 0;
	size_t i;

	for (i = 0; i < a->nbuckets; i++)
		for (e = a->buckets[i]; e != NULL; e = e->next)
			dot += (uint64_t)e->count * table_count(b, e->key, e->len);
	return dot;
}

static void
index_words(const struct table *t, unsigned doc)
{
	const struct entry *e;
	size_t i;

	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e != NULL; e = e->next)
			dict_add(e->key, e->len, e->count, doc);
}

/* Three queries about words of the document. */
static void
ask(const struct token *tokens, size_t words, unsigned doc)
{
	const struct token *t;
	const struct result *r;
	size_t i;
	int q;

	for (q = 0; q < 3; q++) {
		for (t = tokens, i = (size_t)(rnd() % words); i > 0; i--)
			t = t->next;
		r = query(t->text, t->len, doc);
		mix(hash(r->text, r->len));
	}
}

static void
index_document(unsigned doc)
{
	struct sbuf text, sum;
	struct token *tokens = NULL, **tail = &tokens, *t;
	struct table *tab = table_new();
	const char *line, *end;
	size_t words = 0;

	sbuf_init(&text, 256);
	make_document(&text, doc);
	for (line = text.p; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (strncmp(line, "calc:", 5) != 0)
			tail = tokenize(line, end, tail);
	}
	for (t = tokens; t != NULL; t = t->next, words++)
		table_add(tab, t->text, t->len);
	for (line = text.p; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (strncmp(line, "calc:", 5) == 0)
			calc(line + 5, tab);
	}
	index_words(tab, doc);
	ask(tokens, words, doc);
	if (doc % SUMMARY_EVERY == 0) {
		sum = summary(tab, doc, words);
		mix(hash(sum.p, sum.len));
		/* LEAK 1: the summary is not freed. */
		leaked[sum.site]++;
	}
	if (previous != NULL) {
		mix(similarity(tab, previous));
		if (doc % CHAPTER == 0) {
			/* LEAK 2: a new chapter drops the table unfreed. */
			table_lost(previous);
		} else {
			table_free(previous);
		}
	}
	previous = tab;
	tokens_free(tokens);
	FREE(text.p);
}

/* ---- main ------------------------------------------------------------- */

static unsigned
parse_docs(const char *arg)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v == 0 || v > 100000000 || arg[0] == '-') {
		fprintf(stderr, "leaks: bad number of documents '%s'\n", arg);
		exit(2);
	}
	return (unsigned)v;
}

/* The expected leaks, by allocation site, then the result line. */
static void
print_expected(unsigned docs)
{
	const char *file = strrchr(__FILE__, '/') != NULL ? strrchr(__FILE__, '/') + 1 : __FILE__;
	int s;

	for (s = 0; s < NSITES; s++)
		if (leaked[s] != 0)
			printf("expect %s:%d %lu %d %s\n", file, site_line[s], leaked[s],
			       sites[s].leak, sites[s].what);
	printf("leaks " BACKEND " %u checksum %016llx\n", docs, (unsigned long long)checksum);
}

int
main(int argc, char **argv)
{
	unsigned docs = DEFAULT_DOCS, d;

	if (argc > 2) {
		fprintf(stderr, "usage: leaks [DOCS]\n");
		return 2;
	}
	if (argc == 2)
		docs = parse_docs(argv[1]);
	lk_init();
	for (d = 1; d <= docs; d++)
		index_document(d);
	if (previous != NULL)
		table_free(previous);
	previous = NULL;
	dict_free();
	cache_free();
	print_expected(docs);
	return 0;
}
