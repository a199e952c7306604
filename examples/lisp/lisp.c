/* lisp — a small Lisp interpreter whose whole heap is mgc.
 *
 * Shows mgc carrying a real program's data: cons cells, closures and
 * environments are scan blocks (mgc_alloc); the characters of strings and
 * symbol names are noscan blocks (mgc_alloc_noscan); numbers are tagged
 * fixnums (odd words, never mistaken for block starts); symbols are interned
 * in a table reached from a static variable, so they and their global values
 * stay alive; a file port is a noscan block whose descriptor a finalizer
 * closes once the port is unreachable.  Nothing is ever freed by hand.
 *
 * usage: lisp FILE     evaluates every form of FILE, then prints a summary
 *                      of the collector's figures (after a "---" line).
 *
 * Special forms: quote if define lambda let begin set!.  Builtins: + - * <
 * > = remainder quotient not eq? cons car cdr null? list string-append
 * number->string string-length display newline open-output-file
 * write-string.  Proper tail calls in if, begin, let and closure bodies.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <mgc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum tag { T_CONS = 1, T_SYM, T_STR, T_PRIM, T_CLOSURE, T_PORT, T_BOOL };

typedef struct obj *val;
struct obj {
	int tag;
	union {
		struct { val car, cdr; } cons;
		struct { char *name; val value; bool bound; } sym;
		struct { size_t len; char *chars; } str;
		struct { val (*fn)(val args); const char *name; } prim;
		struct { val params, body, env; } clo;
		struct { int fd; } port;
	};
};

/* Fixnums are odd words; NULL is the empty list. */
#define FIX(n) ((val)(((uintptr_t)(intptr_t)(n) << 1) | 1))
#define IS_FIX(v) (((uintptr_t)(v)&1) != 0)
#define INT(v) ((intptr_t)(v) >> 1)

static struct obj true_obj = {.tag = T_BOOL}, false_obj = {.tag = T_BOOL};
#define TRUE (&true_obj)
#define FALSE (&false_obj)

#define NBUCKETS 512
static val *symtab; /* NBUCKETS lists of symbols: keeps every symbol alive */
static val s_quote, s_if, s_define, s_lambda, s_let, s_begin, s_set;

static atomic_long ports_opened, ports_closed;
static uint64_t heap_high, sys_high; /* sampled while evaluating */
static unsigned long steps;

static _Noreturn void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lisp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static val
new_obj(int tag)
{
	val o = mgc_alloc(sizeof *o);
	if (o == NULL)
		die("out of memory");
	o->tag = tag;
	return o;
}

static int
tag_of(val v)
{
	return v == NULL || IS_FIX(v) ? 0 : v->tag;
}

static val
check(val v, int tag, const char *who)
{
	if (tag_of(v) != tag)
		die("%s: wrong type of argument", who);
	return v;
}

static val
cons(val a, val d)
{
	val c = new_obj(T_CONS);
	c->cons.car = a;
	c->cons.cdr = d;
	return c;
}

static val car(val c) { return check(c, T_CONS, "car")->cons.car; }
static val cdr(val c) { return check(c, T_CONS, "cdr")->cons.cdr; }

static intptr_t
num(val v, const char *who)
{
	if (!IS_FIX(v))
		die("%s: not a number", who);
	return INT(v);
}

/* A string object of len characters (zeroed, NUL-terminated) in a noscan block. */
static val
alloc_str(size_t len)
{
	char *chars = mgc_alloc_noscan(len + 1);
	if (chars == NULL)
		die("out of memory");
	val o = new_obj(T_STR);
	o->str.len = len;
	o->str.chars = chars;
	return o;
}

static val
make_str(const char *s, size_t len)
{
	val o = alloc_str(len);
	memcpy(o->str.chars, s, len);
	return o;
}

static unsigned
hash(const char *s, size_t len)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h % NBUCKETS;
}

static val
intern(const char *s, size_t len)
{
	unsigned h = hash(s, len);
	for (val l = symtab[h]; l != NULL; l = l->cons.cdr) {
		val sym = l->cons.car;
		if (strlen(sym->sym.name) == len && memcmp(sym->sym.name, s, len) == 0)
			return sym;
	}
	val sym = new_obj(T_SYM);
	sym->sym.name = make_str(s, len)->str.chars;
	symtab[h] = cons(sym, symtab[h]);
	return sym;
}

static val sym(const char *s) { return intern(s, strlen(s)); }

/* ---- Reader ---- */

struct reader {
	const char *p;
	int line;
};

static void
skip_space(struct reader *r)
{
	for (;;) {
		if (*r->p == '\n')
			r->line++;
		if (*r->p == ';')
			while (*r->p != '\0' && *r->p != '\n')
				r->p++;
		else if (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
			r->p++;
		else
			return;
	}
}

static val read_expr(struct reader *r);

static val
read_list(struct reader *r)
{
	val head = NULL, tail = NULL;
	for (;;) {
		skip_space(r);
		if (*r->p == '\0')
			die("line %d: unexpected end of file in a list", r->line);
		if (*r->p == ')') {
			r->p++;
			return head;
		}
		val c = cons(read_expr(r), NULL);
		if (tail == NULL)
			head = c;
		else
			tail->cons.cdr = c;
		tail = c;
	}
}

static val
read_string(struct reader *r)
{
	size_t cap = 64, len = 0;
	char *buf = malloc(cap);
	for (r->p++; *r->p != '"'; r->p++) {
		char c = *r->p;
		if (c == '\0')
			die("line %d: unterminated string", r->line);
		if (c == '\\' && r->p[1] != '\0')
			c = *++r->p == 'n' ? '\n' : *r->p;
		if (len + 1 >= cap)
			buf = realloc(buf, cap *= 2);
		buf[len++] = c;
	}
	r->p++;
	val s = make_str(buf, len);
	free(buf);
	return s;
}

static val
read_atom(struct reader *r)
{
	const char *start = r->p;
	while (*r->p != '\0' && strchr(" \t\r\n();\"'", *r->p) == NULL)
		r->p++;
	size_t len = (size_t)(r->p - start);
	char *end;
	long n = strtol(start, &end, 10);
	if (end == r->p && len > 0 && !(len == 1 && (*start == '-' || *start == '+')))
		return FIX(n);
	if (len == 2 && start[0] == '#')
		return start[1] == 't' ? TRUE : FALSE;
	return intern(start, len);
}

static val
read_expr(struct reader *r)
{
	skip_space(r);
	switch (*r->p) {
	case '\0':
		die("line %d: unexpected end of file", r->line);
	case '(':
		r->p++;
		return read_list(r);
	case ')':
		die("line %d: unexpected ')'", r->line);
	case '\'':
		r->p++;
		return cons(s_quote, cons(read_expr(r), NULL));
	case '"':
		return read_string(r);
	default:
		return read_atom(r);
	}
}

/* ---- Printer ---- */

static void
print(FILE *out, val v)
{
	switch (tag_of(v)) {
	case 0:
		if (v == NULL)
			fputs("()", out);
		else
			fprintf(out, "%ld", (long)INT(v));
		break;
	case T_CONS:
		fputc('(', out);
		for (; tag_of(v) == T_CONS; v = v->cons.cdr) {
			print(out, v->cons.car);
			if (v->cons.cdr != NULL)
				fputc(' ', out);
		}
		if (v != NULL) {
			fputs(". ", out);
			print(out, v);
		}
		fputc(')', out);
		break;
	case T_SYM: fputs(v->sym.name, out); break;
	case T_STR: fwrite(v->str.chars, 1, v->str.len, out); break;
	case T_PRIM: fprintf(out, "#<builtin %s>", v->prim.name); break;
	case T_CLOSURE: fputs("#<procedure>", out); break;
	case T_PORT: fprintf(out, "#<port %d>", v->port.fd); break;
	default: fputs(v == TRUE ? "#t" : "#f", out); break;
	}
}

/* ---- Environments: a list of frames, each a list of (symbol . value);
 * globals live in the symbols themselves. ---- */

static val *
find_binding(val s, val env)
{
	for (; env != NULL; env = env->cons.cdr)
		for (val f = env->cons.car; f != NULL; f = f->cons.cdr)
			if (f->cons.car->cons.car == s)
				return &f->cons.car->cons.cdr;
	return &s->sym.value;
}

static val
lookup(val s, val env)
{
	val *b = find_binding(s, env);
	if (b == &s->sym.value && !s->sym.bound)
		die("unbound variable %s", s->sym.name);
	return *b;
}

static void
define(val s, val v, val env)
{
	check(s, T_SYM, "define");
	if (env == NULL) {
		s->sym.value = v;
		s->sym.bound = true;
	}
	else
		env->cons.car = cons(cons(s, v), env->cons.car);
}

/* A new frame binding params to args, in front of env. */
static val
bind(val params, val args, val env)
{
	val frame = NULL;
	for (; params != NULL; params = cdr(params), args = cdr(args)) {
		if (args == NULL)
			die("too few arguments");
		frame = cons(cons(car(params), car(args)), frame);
	}
	if (args != NULL)
		die("too many arguments");
	return cons(frame, env);
}

/* ---- Evaluator ---- */

static val eval(val x, val env);

static val
make_closure(val params, val body, val env)
{
	val c = new_obj(T_CLOSURE);
	c->clo.params = params;
	c->clo.body = body;
	c->clo.env = env;
	return c;
}

/* Evaluates every form of body but the last, which it returns unevaluated
 * (for the caller's tail call). */
static val
body_but_last(val body, val env)
{
	if (body == NULL)
		return NULL;
	for (; cdr(body) != NULL; body = cdr(body))
		eval(car(body), env);
	return car(body);
}

static val
eval_list(val l, val env)
{
	val head = NULL, tail = NULL;
	for (; l != NULL; l = cdr(l)) {
		val c = cons(eval(car(l), env), NULL);
		if (tail == NULL)
			head = c;
		else
			tail->cons.cdr = c;
		tail = c;
	}
	return head;
}

static val
do_define(val args, val env)
{
	val target = car(args);
	if (tag_of(target) == T_CONS) /* (define (f params...) body...) */
		define(car(target), make_closure(cdr(target), cdr(args), env), env);
	else
		define(target, eval(car(cdr(args)), env), env);
	return NULL;
}

static val
let_env(val bindings, val env)
{
	val frame = NULL;
	for (; bindings != NULL; bindings = cdr(bindings)) {
		val b = car(bindings);
		frame = cons(cons(check(car(b), T_SYM, "let"), eval(car(cdr(b)), env)), frame);
	}
	return cons(frame, env);
}

static void
sample_heap(void)
{
	mgc_stats st;
	mgc_read_stats(&st);
	if (st.heap_inuse > heap_high)
		heap_high = st.heap_inuse;
	if (st.sys > sys_high)
		sys_high = st.sys;
}

static val
eval(val x, val env)
{
	for (;;) {
		if ((++steps & 8191) == 0)
			sample_heap();
		switch (tag_of(x)) {
		case T_SYM: return lookup(x, env);
		case T_CONS: break;
		default: return x;
		}
		val op = x->cons.car, args = x->cons.cdr;
		if (op == s_quote)
			return car(args);
		if (op == s_if) {
			val rest = cdr(args);
			bool yes = eval(car(args), env) != FALSE;
			x = yes ? car(rest) : cdr(rest) != NULL ? car(cdr(rest)) : NULL;
			continue;
		}
		if (op == s_define)
			return do_define(args, env);
		if (op == s_lambda)
			return make_closure(car(args), cdr(args), env);
		if (op == s_set) {
			*find_binding(check(car(args), T_SYM, "set!"), env) = eval(car(cdr(args)), env);
			return NULL;
		}
		if (op == s_begin) {
			x = body_but_last(args, env);
			continue;
		}
		if (op == s_let) {
			env = let_env(car(args), env);
			x = body_but_last(cdr(args), env);
			continue;
		}
		val f = eval(op, env);
		val a = eval_list(args, env);
		if (tag_of(f) == T_PRIM)
			return f->prim.fn(a);
		check(f, T_CLOSURE, "apply");
		env = bind(f->clo.params, a, f->clo.env);
		x = body_but_last(f->clo.body, env);
	}
}

/* ---- Builtins ---- */

static val
p_add(val a)
{
	intptr_t n = 0;
	for (; a != NULL; a = cdr(a))
		n += num(car(a), "+");
	return FIX(n);
}

static val
p_mul(val a)
{
	intptr_t n = 1;
	for (; a != NULL; a = cdr(a))
		n *= num(car(a), "*");
	return FIX(n);
}

static val
p_sub(val a)
{
	intptr_t n = num(car(a), "-");
	if (cdr(a) == NULL)
		return FIX(-n);
	for (a = cdr(a); a != NULL; a = cdr(a))
		n -= num(car(a), "-");
	return FIX(n);
}

static val
arg2(val a, intptr_t *y, const char *who)
{
	*y = num(car(cdr(a)), who);
	return a;
}

static val p_lt(val a) { intptr_t y; return num(car(arg2(a, &y, "<")), "<") < y ? TRUE : FALSE; }
static val p_gt(val a) { intptr_t y; return num(car(arg2(a, &y, ">")), ">") > y ? TRUE : FALSE; }
static val p_eqn(val a) { intptr_t y; return num(car(arg2(a, &y, "=")), "=") == y ? TRUE : FALSE; }

static val
p_rem(val a)
{
	intptr_t y;
	intptr_t x = num(car(arg2(a, &y, "remainder")), "remainder");
	if (y == 0)
		die("remainder: division by zero");
	return FIX(x % y);
}

static val
p_quo(val a)
{
	intptr_t y;
	intptr_t x = num(car(arg2(a, &y, "quotient")), "quotient");
	if (y == 0)
		die("quotient: division by zero");
	return FIX(x / y);
}

static val p_not(val a) { return car(a) == FALSE ? TRUE : FALSE; }
static val p_eq(val a) { return car(a) == car(cdr(a)) ? TRUE : FALSE; }
static val p_cons(val a) { return cons(car(a), car(cdr(a))); }
static val p_car(val a) { return car(car(a)); }
static val p_cdr(val a) { return cdr(car(a)); }
static val p_null(val a) { return car(a) == NULL ? TRUE : FALSE; }
static val p_list(val a) { return a; }

static val
p_string_append(val a)
{
	size_t len = 0;
	for (val l = a; l != NULL; l = cdr(l))
		len += check(car(l), T_STR, "string-append")->str.len;
	val s = alloc_str(len);
	len = 0;
	for (; a != NULL; a = cdr(a)) {
		memcpy(s->str.chars + len, car(a)->str.chars, car(a)->str.len);
		len += car(a)->str.len;
	}
	return s;
}

static val
p_number_to_string(val a)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld", (long)num(car(a), "number->string"));
	return make_str(buf, (size_t)n);
}

static val
p_string_length(val a)
{
	return FIX(check(car(a), T_STR, "string-length")->str.len);
}

static val
p_display(val a)
{
	print(stdout, car(a));
	return NULL;
}

static val
p_newline(val a)
{
	(void)a;
	putchar('\n');
	fflush(stdout); /* results line by line, between the trace lines */
	return NULL;
}

/* Runs on the finalizer thread (or in mgc_run_finalizers) once the port is
 * unreachable: the program never closes ports. */
static void
close_port(void *obj, void *arg)
{
	(void)arg;
	val port = obj;
	if (port->port.fd >= 0 && close(port->port.fd) == 0)
		atomic_fetch_add(&ports_closed, 1);
	port->port.fd = -1;
}

static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		/* Out of descriptors: unreachable ports hold them. */
		mgc_collect();
		mgc_run_finalizers();
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	return fd;
}

static val
p_open_output_file(val a)
{
	val path = check(car(a), T_STR, "open-output-file");
	char *cpath = make_str(path->str.chars, path->str.len)->str.chars;
	int fd = open_file(cpath);
	if (fd < 0)
		die("open-output-file %s: %s", cpath, strerror(errno));
	val port = mgc_alloc_noscan(sizeof *port); /* holds no pointers */
	if (port == NULL)
		die("out of memory");
	port->tag = T_PORT;
	port->port.fd = fd;
	if (mgc_set_finalizer(port, close_port, NULL) != 0)
		die("mgc_set_finalizer: %s", strerror(errno));
	atomic_fetch_add(&ports_opened, 1);
	return port;
}

static val
p_write_string(val a)
{
	val s = check(car(a), T_STR, "write-string");
	val port = check(car(cdr(a)), T_PORT, "write-string");
	if (write(port->port.fd, s->str.chars, s->str.len) != (ssize_t)s->str.len)
		die("write-string: %s", strerror(errno));
	return NULL;
}

static void
def_prim(const char *name, val (*fn)(val))
{
	val p = new_obj(T_PRIM);
	p->prim.fn = fn;
	p->prim.name = name;
	define(sym(name), p, NULL);
}

static void
init(void)
{
	symtab = mgc_alloc(NBUCKETS * sizeof *symtab);
	if (symtab == NULL)
		die("out of memory");
	s_quote = sym("quote"), s_if = sym("if"), s_define = sym("define");
	s_lambda = sym("lambda"), s_let = sym("let"), s_begin = sym("begin");
	s_set = sym("set!");
	static const struct { const char *name; val (*fn)(val); } prims[] = {
		{"+", p_add}, {"-", p_sub}, {"*", p_mul}, {"<", p_lt}, {">", p_gt},
		{"=", p_eqn}, {"remainder", p_rem}, {"quotient", p_quo},
		{"not", p_not}, {"eq?", p_eq}, {"cons", p_cons}, {"car", p_car},
		{"cdr", p_cdr}, {"null?", p_null}, {"list", p_list},
		{"string-append", p_string_append},
		{"number->string", p_number_to_string},
		{"string-length", p_string_length}, {"display", p_display},
		{"newline", p_newline}, {"open-output-file", p_open_output_file},
		{"write-string", p_write_string},
	};
	for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
		def_prim(prims[i].name, prims[i].fn);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0)
		if ((len += n) + 1 >= cap)
			buf = realloc(buf, cap *= 2);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void
summary(void)
{
	/* Let the last unreachable ports be found and finalized. */
	for (int i = 0; i < 3; i++) {
		mgc_collect();
		mgc_run_finalizers();
	}
	sample_heap();
	mgc_stats st;
	mgc_read_stats(&st);
	printf("---\n");
	printf("collections:      %llu\n", (unsigned long long)st.num_gc);
	printf("pause:            total %.1f ms, max %.2f ms\n", st.pause_total_ns / 1e6,
	       st.pause_max_ns / 1e6);
	printf("heap high-water:  %.1f MiB in use (%.1f MiB from the OS)\n",
	       heap_high / 1048576.0, sys_high / 1048576.0);
	printf("blocks:           %llu allocated, %llu freed\n", (unsigned long long)st.mallocs,
	       (unsigned long long)st.frees);
	printf("finalizers run:   %llu (ports closed by them: %ld of %ld)\n",
	       (unsigned long long)st.finalizers_run, atomic_load(&ports_closed),
	       atomic_load(&ports_opened));
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: lisp FILE\n");
		return 2;
	}
	init();
	char *text = slurp(argv[1]);
	struct reader r = {text, 1};
	for (skip_space(&r); *r.p != '\0'; skip_space(&r))
		eval(read_expr(&r), NULL);
	free(text);
	fflush(stdout);
	summary();
	return 0;
}
