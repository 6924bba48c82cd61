/*
 * bexpr.c: the go-bexpr subset behind Consul's ?filter= query parameter,
 * shared by raftd (catalog and health reads) and checkd/httpd (the agent's
 * own services, checks and members).
 *
 * expr   := or ;  or := and ("or" and)* ;  and := unary ("and" unary)*
 * unary  := "not" unary | "(" expr ")" | match
 * match  := sel ("=="|"!="|"contains"|"not contains"|"matches"|"not matches") value
 *         | value ("in"|"not in") sel | sel "is" ["not"] "empty"
 * sel    := ident ("." ident | "[" string "]")*
 * value  := "string" | `string` | number | true | false | bareword
 * The expression is parsed into a small tree once, then run per row: a
 * row is any JSON object, and a selector walks it by key (exact, else
 * case-insensitive, as Go's field names match).  A missing selector is
 * not an error as in go-bexpr (which knows the Go type); it just matches
 * nothing but `!=`, `not ...` and `is empty`.
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bexpr.h"

enum { F_OR, F_AND, F_NOT, F_EQ, F_NE, F_CONTAINS, F_IN, F_MATCHES, F_EMPTY };

struct bexpr {
	int           op;
	bool          neg;
	struct bexpr *a, *b;
	char        **path;
	size_t        npath;
	char         *value;
	regex_t       re;
	bool          has_re;
};

struct bexpr_lex {
	const char *p;
	char        tok[512];
	int         kind;   /* 0 end, 1 word, 2 string, 3 punct */
	bool        err;
};

static void
bexpr_lex_next(struct bexpr_lex *l)
{
	size_t n = 0;
	while (*l->p == ' ' || *l->p == '\t' || *l->p == '\n')
		l->p++;
	l->tok[0] = '\0';
	if (*l->p == '\0') {
		l->kind = 0;
		return;
	}
	if (*l->p == '"' || *l->p == '`') {
		char q = *l->p++;
		while (*l->p && *l->p != q) {
			if (q == '"' && *l->p == '\\' && l->p[1])
				l->p++;
			if (n < sizeof(l->tok) - 1)
				l->tok[n++] = *l->p;
			l->p++;
		}
		if (*l->p != q)
			l->err = true;
		else
			l->p++;
		l->tok[n] = '\0';
		l->kind = 2;
		return;
	}
	if (strchr("()[].", *l->p) != NULL) {
		l->tok[0] = *l->p++;
		l->tok[1] = '\0';
		l->kind = 3;
		return;
	}
	if ((l->p[0] == '=' || l->p[0] == '!') && l->p[1] == '=') {
		l->tok[0] = l->p[0];
		l->tok[1] = '=';
		l->tok[2] = '\0';
		l->p += 2;
		l->kind = 3;
		return;
	}
	while (*l->p && strchr(" \t\n()[].\"`=!", *l->p) == NULL) {
		if (n < sizeof(l->tok) - 1)
			l->tok[n++] = *l->p;
		l->p++;
	}
	l->tok[n] = '\0';
	if (n == 0) {
		l->err = true;
		l->p++;
	}
	l->kind = 1;
}

static bool
bexpr_lex_is(const struct bexpr_lex *l, const char *s)
{
	return l->kind != 2 && l->kind != 0 && strcmp(l->tok, s) == 0;
}

void
bexpr_free(struct bexpr *f)
{
	if (f == NULL)
		return;
	bexpr_free(f->a);
	bexpr_free(f->b);
	for (size_t i = 0; i < f->npath; i++)
		free(f->path[i]);
	free(f->path);
	free(f->value);
	if (f->has_re)
		regfree(&f->re);
	free(f);
}

static struct bexpr *bexpr_or(struct bexpr_lex *l, int depth);

/* Appends one element to f's selector path. */
static int
bexpr_push(struct bexpr *f, const char *elem)
{
	char **np = realloc(f->path, (f->npath + 1) * sizeof(*np));

	if (np == NULL)
		return -1;
	f->path = np;
	if ((f->path[f->npath] = strdup(elem)) == NULL)
		return -1;
	f->npath++;
	return 0;
}

/*
 * Would glibc's regcomp expand re without bound?  It copies the tree under
 * each repetition, so "a++++..." doubles per '+' and nested counts
 * multiply; a filter from a URL could take gigabytes.  Go's regexp (which
 * Consul uses) refuses the same patterns: a repetition of a repetition and
 * counts over 1000.  Beyond those, the pattern's size with every count
 * applied (groups nested, a counted item taken at its upper bound) must
 * stay under BEXPR_RE_MAX atoms.  True: refuse it.
 */
#define BEXPR_RE_MAX   10000
#define BEXPR_RE_DEPTH 32
static bool
bexpr_re_too_big(const char *re)
{
	unsigned long size[BEXPR_RE_DEPTH + 1] = { 0 }, last = 0;
	int           depth = 0;
	bool          rep = false;

	for (const char *p = re; *p != '\0'; p++) {
		unsigned long k = 0, n;
		char         *end;

		switch (*p) {
		case '*':
		case '+':
		case '?':
		case '{':
			if (*p == '{' && (p[1] < '0' || p[1] > '9'))
				goto atom;  /* a literal '{' */
			if (rep)
				return true;
			if (*p == '{') {
				k = strtoul(p + 1, &end, 10);
				if (*end == ',') {
					n = strtoul(end + 1, &end, 10);
					k = n > k ? n : k + 1;
				}
				if (*end != '}' || k > 1000)
					return true;
				p = end;
			} else
				k = 2;
			/* last is already in size[depth] once */
			size[depth] += last * (k > 0 ? k - 1 : 0);
			rep = true;
			break;
		case '(':
			if (++depth > BEXPR_RE_DEPTH)
				return true;
			size[depth] = 0;
			rep = false;
			break;
		case ')':
			if (depth == 0)
				goto atom;
			last = size[depth--] + 1;
			size[depth] += last;
			rep = false;
			break;
		case '[':
			/* a bracket expression is one atom: skip to its ']' */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p != '\0' && *p != ']')
				p++;
			if (*p == '\0')
				return false; /* regcomp refuses it */
			goto atom;
		case '\\':
			if (p[1] != '\0')
				p++;
			/* FALLTHROUGH */
		default:
		atom:
			last = 1;
			size[depth] += 1;
			rep = false;
			break;
		}
		if (size[depth] > BEXPR_RE_MAX)
			return true;
	}
	return false;
}

static int
bexpr_sel(struct bexpr_lex *l, struct bexpr *f)
{
	if (l->kind != 1)
		return -1;
	for (;;) {
		if (bexpr_push(f, l->tok) != 0)
			return -1;
		bexpr_lex_next(l);
		if (bexpr_lex_is(l, "[")) {
			bexpr_lex_next(l);
			if (l->kind != 2 && l->kind != 1)
				return -1;
			/* The key becomes the next path element. */
			if (bexpr_push(f, l->tok) != 0)
				return -1;
			bexpr_lex_next(l);
			if (!bexpr_lex_is(l, "]"))
				return -1;
			bexpr_lex_next(l);
		}
		if (!bexpr_lex_is(l, "."))
			return 0;
		bexpr_lex_next(l);
		if (l->kind != 1)
			return -1;
	}
}

/* An optional `not` before an operator: it negates the match. */
static void
bexpr_opt_not(struct bexpr_lex *l, struct bexpr *f)
{
	if (bexpr_lex_is(l, "not")) {
		f->neg = true;
		bexpr_lex_next(l);
	}
}

static struct bexpr *
bexpr_match(struct bexpr_lex *l)
{
	struct bexpr *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	if (l->kind == 2 || (l->kind == 1 && l->tok[0] >= '0' && l->tok[0] <= '9')) {
		/* value in sel */
		f->value = strdup(l->tok);
		bexpr_lex_next(l);
		bexpr_opt_not(l, f);
		if (!bexpr_lex_is(l, "in"))
			goto fail;
		f->op = F_IN;
		bexpr_lex_next(l);
		if (bexpr_sel(l, f) != 0)
			goto fail;
		return f;
	}
	if (bexpr_sel(l, f) != 0)
		goto fail;
	if (bexpr_lex_is(l, "is")) {
		bexpr_lex_next(l);
		bexpr_opt_not(l, f);
		if (!bexpr_lex_is(l, "empty"))
			goto fail;
		f->op = F_EMPTY;
		bexpr_lex_next(l);
		return f;
	}
	bexpr_opt_not(l, f);
	if (bexpr_lex_is(l, "in") && f->npath == 1) {
		/* A bare word before `in` was the value, not a selector. */
		f->value = f->path[0];
		free(f->path);
		f->path = NULL;
		f->npath = 0;
		f->op = F_IN;
		bexpr_lex_next(l);
		if (bexpr_sel(l, f) != 0)
			goto fail;
		return f;
	}
	if (bexpr_lex_is(l, "==") && !f->neg)
		f->op = F_EQ;
	else if (bexpr_lex_is(l, "!=") && !f->neg)
		f->op = F_NE;
	else if (bexpr_lex_is(l, "contains"))
		f->op = F_CONTAINS;
	else if (bexpr_lex_is(l, "matches"))
		f->op = F_MATCHES;
	else
		goto fail;
	bexpr_lex_next(l);
	if (l->kind != 1 && l->kind != 2)
		goto fail;
	f->value = strdup(l->tok);
	bexpr_lex_next(l);
	if (f->value == NULL)
		goto fail;
	if (f->op == F_MATCHES) {
		if (bexpr_re_too_big(f->value) ||
		    regcomp(&f->re, f->value, REG_EXTENDED | REG_NOSUB) != 0)
			goto fail;
		f->has_re = true;
	}
	return f;
fail:
	bexpr_free(f);
	return NULL;
}

static struct bexpr *
bexpr_unary(struct bexpr_lex *l, int depth)
{
	struct bexpr *f, *in;

	if (depth > 64)
		return NULL;
	if (bexpr_lex_is(l, "not")) {
		bexpr_lex_next(l);
		if ((in = bexpr_unary(l, depth + 1)) == NULL)
			return NULL;
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			bexpr_free(in);
			return NULL;
		}
		f->op = F_NOT;
		f->a = in;
		return f;
	}
	if (bexpr_lex_is(l, "(")) {
		bexpr_lex_next(l);
		if ((f = bexpr_or(l, depth + 1)) == NULL)
			return NULL;
		if (!bexpr_lex_is(l, ")")) {
			bexpr_free(f);
			return NULL;
		}
		bexpr_lex_next(l);
		return f;
	}
	return bexpr_match(l);
}

static struct bexpr *
bexpr_bin(struct bexpr_lex *l, int depth, int op)
{
	struct bexpr *a, *b, *f;

	a = op == F_OR ? bexpr_bin(l, depth, F_AND) : bexpr_unary(l, depth);
	while (a != NULL && bexpr_lex_is(l, op == F_OR ? "or" : "and")) {
		bexpr_lex_next(l);
		b = op == F_OR ? bexpr_bin(l, depth, F_AND) : bexpr_unary(l, depth);
		if (b == NULL || (f = calloc(1, sizeof(*f))) == NULL) {
			bexpr_free(a);
			bexpr_free(b);
			return NULL;
		}
		f->op = op;
		f->a = a;
		f->b = b;
		a = f;
	}
	return a;
}

static struct bexpr *
bexpr_or(struct bexpr_lex *l, int depth)
{
	return bexpr_bin(l, depth, F_OR);
}

struct bexpr *
bexpr_parse(const char *expr)
{
	struct bexpr_lex l = { .p = expr };
	struct bexpr *f;

	bexpr_lex_next(&l);
	f = bexpr_or(&l, 0);
	if (f != NULL && (l.kind != 0 || l.err)) {
		bexpr_free(f);
		f = NULL;
	}
	return f;
}

static const json_t *
bexpr_resolve(const json_t *v, char *const *path, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++) {
		const json_t *x;
		const char *k;
		json_t *y;
		if (!json_is_object(v))
			return NULL;
		x = json_object_get(v, path[i]);
		if (x == NULL) {
			json_object_foreach((json_t *)(uintptr_t)v, k, y)
				if (strcasecmp(k, path[i]) == 0)
					x = y;
		}
		v = x;
	}
	return v;
}

static bool
bexpr_eq(const json_t *v, const char *want)
{
	char tmp[64];
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strcmp(json_string_value(v), want) == 0;
	case JSON_INTEGER:
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strcmp(tmp, want) == 0;
	case JSON_TRUE:
		return strcmp(want, "true") == 0;
	case JSON_FALSE:
		return strcmp(want, "false") == 0;
	default:
		return false;
	}
}

static bool
bexpr_contains(const json_t *v, const char *want)
{
	if (json_is_string(v))
		return strstr(json_string_value(v), want) != NULL;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (bexpr_eq(json_array_get(v, i), want))
				return true;
		return false;
	}
	if (json_is_object(v))
		return json_object_get(v, want) != NULL;
	return false;
}

bool
bexpr_eval(const struct bexpr *f, const json_t *row)
{
	const json_t *v;
	bool r = false;

	if (f == NULL)
		return true;
	switch (f->op) {
	case F_OR:
		return bexpr_eval(f->a, row) || bexpr_eval(f->b, row);
	case F_AND:
		return bexpr_eval(f->a, row) && bexpr_eval(f->b, row);
	case F_NOT:
		return !bexpr_eval(f->a, row);
	}
	v = bexpr_resolve(row, f->path, f->npath);
	switch (f->op) {
	case F_EQ:
		return v != NULL && bexpr_eq(v, f->value);
	case F_NE:
		return v == NULL || !bexpr_eq(v, f->value);
	case F_CONTAINS:
	case F_IN:
		r = v != NULL && bexpr_contains(v, f->value);
		break;
	case F_MATCHES:
		r = json_is_string(v) && regexec(&f->re, json_string_value(v), 0, NULL, 0) == 0;
		break;
	case F_EMPTY:
		r = v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
		    (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0);
		break;
	}
	return f->neg ? !r : r;
}

char *
bexpr_error(const char *expr)
{
	char *t;

	if (asprintf(&t, "Failed to create boolean expression evaluator: "
	    "invalid filter %.500s", expr) < 0)
		return NULL;
	return t;
}
