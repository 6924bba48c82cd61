/*
 * Query strings, decoded the way Consul's Go handlers see them
 * (url.Values): a key may repeat, a key without '=' is present with an empty
 * value, unknown keys are ignored.  Errors carry Consul's texts, including
 * the strconv ones it leaks for flags= and cas= (a 500, as Consul answers).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

static int
query_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
query_unescape(char *s, int plus_is_space)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r == '%' && query_hex(r[1]) >= 0 && query_hex(r[2]) >= 0) {
			*w++ = (char)(query_hex(r[1]) * 16 + query_hex(r[2]));
			r += 3;
		} else if (*r == '+' && plus_is_space) {
			*w++ = ' ';
			r++;
		} else
			*w++ = *r++;
	}
	*w = '\0';
	return s;
}

int
query_add(struct httpd_query *q, const char *key, const char *val)
{
	struct httpd_param *p;

	if (key == NULL)
		return 0;
	p = realloc(q->params, (q->nparams + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	q->params = p;
	p = &q->params[q->nparams];
	p->key = strdup(key);
	p->val = val != NULL ? strdup(val) : NULL;
	if (p->key == NULL || (val != NULL && p->val == NULL)) {
		free(p->key);
		free(p->val);
		return -1;
	}
	q->nparams++;
	return 0;
}

int
query_parse_string(struct httpd_query *q, const char *qs)
{
	char *copy, *tok, *save = NULL;
	int   rv = 0;

	if (qs == NULL)
		return 0;
	if ((copy = strdup(qs)) == NULL)
		return -1;
	for (tok = strtok_r(copy, "&", &save); tok != NULL;
	     tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq != NULL)
			*eq++ = '\0';
		query_unescape(tok, 1);
		if (eq != NULL)
			query_unescape(eq, 1);
		if (*tok == '\0')
			continue;
		if ((rv = query_add(q, tok, eq)) != 0)
			break;
	}
	free(copy);
	return rv;
}

const char *
query_get(const struct httpd_query *q, const char *key, bool *present)
{
	for (size_t i = 0; i < q->nparams; i++)
		if (strcmp(q->params[i].key, key) == 0) {
			if (present != NULL)
				*present = true;
			return q->params[i].val != NULL ? q->params[i].val : "";
		}
	if (present != NULL)
		*present = false;
	return NULL;
}

/* Go's %q, enough for the texts we quote. */
static void
query_goquote(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen < 3)
		return;
	out[n++] = '"';
	for (; *s != '\0' && n + 6 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n++] = '"';
	out[n] = '\0';
}

int
query_parse_uint(const char *s, uint64_t *out, char *err, size_t errlen)
{
	char     quoted[160];
	uint64_t v = 0;
	int      range = 0;

	if (*s == '\0')
		goto syntax;
	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			goto syntax;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			range = 1;
		else
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (range) {
		query_goquote(s, quoted, sizeof(quoted));
		snprintf(err, errlen,
		    "strconv.ParseUint: parsing %s: value out of range", quoted);
		return -1;
	}
	*out = v;
	return 0;
syntax:
	query_goquote(s, quoted, sizeof(quoted));
	snprintf(err, errlen, "strconv.ParseUint: parsing %s: invalid syntax",
	    quoted);
	return -1;
}

static int
query_fail(struct httpd_err *err, unsigned status, const char *text)
{
	err->status = status;
	snprintf(err->text, sizeof(err->text), "%s", text);
	return -1;
}

int
query_common(struct httpd_query *q, struct httpd_err *err)
{
	const char *v;
	bool        present;

	query_get(q, "stale", &q->stale);
	query_get(q, "consistent", &q->consistent);
	query_get(q, "pretty", &q->pretty);
	if (q->stale && q->consistent)
		return query_fail(err, 400,
		    "Cannot specify ?stale with ?consistent, conflicting semantics.");
	v = query_get(q, "wait", &present);
	if (v != NULL && *v != '\0') {
		int64_t ns;

		if (config_parse_duration(v, &ns) != 0)
			return query_fail(err, 400, "Invalid wait time");
		q->has_wait = true;
		q->wait_ms = ns / 1000000;
	}
	v = query_get(q, "index", &present);
	if (v != NULL && *v != '\0') {
		char e[256];

		if (query_parse_uint(v, &q->index, e, sizeof(e)) != 0)
			return query_fail(err, 400, "Invalid index");
		q->has_index = true;
	}
	return 0;
}

/* Consul's conflictingFlags(): at most one of the named keys. */
static int
query_conflict(struct httpd_query *q, const char *const *keys,
    struct httpd_err *err)
{
	int found = 0;

	for (; *keys != NULL; keys++) {
		bool present;

		query_get(q, *keys, &present);
		if (!present)
			continue;
		if (found) {
			char *enc = query_encode(q);

			err->status = 400;
			snprintf(err->text, sizeof(err->text),
			    "Conflicting flags: %s\n", enc != NULL ? enc : "");
			free(enc);
			return -1;
		}
		found = 1;
	}
	return 0;
}

int
query_kv(struct httpd_query *q, int method_put, int method_delete,
    struct httpd_err *err)
{
	static const char *const put_conflicts[] = { "cas", "acquire",
		"release", NULL };
	static const char *const del_conflicts[] = { "recurse", "cas", NULL };
	const char *v;
	bool        present;

	query_get(q, "recurse", &q->recurse);
	query_get(q, "keys", &q->keys);
	query_get(q, "raw", &q->raw);
	if (method_put && query_conflict(q, put_conflicts, err) != 0)
		return -1;
	if (method_delete && query_conflict(q, del_conflicts, err) != 0)
		return -1;
	if (method_put && (v = query_get(q, "flags", &present)) != NULL) {
		if (query_parse_uint(v, &q->flags, err->text,
		        sizeof(err->text)) != 0) {
			err->status = 500;
			return -1;
		}
		q->has_flags = true;
	}
	if ((method_put || method_delete) &&
	    (v = query_get(q, "cas", &present)) != NULL) {
		if (query_parse_uint(v, &q->cas, err->text,
		        sizeof(err->text)) != 0) {
			err->status = 500;
			return -1;
		}
		q->has_cas = true;
	}
	if (method_put) {
		if ((v = query_get(q, "acquire", &q->has_acquire)) != NULL)
			q->acquire = strdup(v);
		if ((v = query_get(q, "release", &q->has_release)) != NULL)
			q->release = strdup(v);
	}
	/* Consul still honours its historic misspelling. */
	if ((v = query_get(q, "seperator", &present)) != NULL) {
		free(q->separator);
		q->separator = strdup(v);
		q->has_separator = true;
	}
	if ((v = query_get(q, "separator", &present)) != NULL) {
		free(q->separator);
		q->separator = strdup(v);
		q->has_separator = true;
	}
	if ((q->has_acquire && q->acquire == NULL) ||
	    (q->has_release && q->release == NULL) ||
	    (q->has_separator && q->separator == NULL))
		return query_fail(err, 500, "out of memory");
	return 0;
}

static int
query_cmp_param(const void *a, const void *b)
{
	const struct httpd_param *const *pa = a, *const *pb = b;

	return strcmp((*pa)->key, (*pb)->key);
}

static void
query_escape_into(const char *s, char **out, size_t *len, size_t *cap)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char          tmp[4];
		size_t        n;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			tmp[0] = (char)c;
			n = 1;
		} else if (c == ' ') {
			tmp[0] = '+';
			n = 1;
		} else {
			snprintf(tmp, sizeof(tmp), "%%%02X", c);
			n = 3;
		}
		if (*len + n + 1 > *cap) {
			size_t ncap = (*cap + n + 1) * 2;
			char  *p = realloc(*out, ncap);

			if (p == NULL)
				return;
			*out = p;
			*cap = ncap;
		}
		memcpy(*out + *len, tmp, n);
		*len += n;
		(*out)[*len] = '\0';
	}
}

static void
query_raw_into(char c, char **out, size_t *len, size_t *cap)
{
	if (*len + 2 > *cap) {
		char *p = realloc(*out, *cap * 2);

		if (p == NULL)
			return;
		*out = p;
		*cap *= 2;
	}
	(*out)[(*len)++] = c;
	(*out)[*len] = '\0';
}

char *
query_encode(const struct httpd_query *q)
{
	const struct httpd_param **sorted;
	char  *out;
	size_t len = 0, cap = 64;

	if ((out = calloc(1, cap)) == NULL)
		return NULL;
	if (q->nparams == 0)
		return out;
	if ((sorted = calloc(q->nparams, sizeof(*sorted))) == NULL) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < q->nparams; i++)
		sorted[i] = &q->params[i];
	/* Go sorts the keys; values of one key keep their order (stable). */
	for (size_t i = 1; i < q->nparams; i++)
		for (size_t j = i; j > 0 &&
		     query_cmp_param(&sorted[j - 1], &sorted[j]) > 0; j--) {
			const struct httpd_param *t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (size_t i = 0; i < q->nparams; i++) {
		if (i > 0)
			query_raw_into('&', &out, &len, &cap);
		query_escape_into(sorted[i]->key, &out, &len, &cap);
		query_raw_into('=', &out, &len, &cap);
		if (sorted[i]->val != NULL)
			query_escape_into(sorted[i]->val, &out, &len, &cap);
	}
	free(sorted);
	return out;
}

void
query_free(struct httpd_query *q)
{
	for (size_t i = 0; i < q->nparams; i++) {
		free(q->params[i].key);
		free(q->params[i].val);
	}
	free(q->params);
	free(q->separator);
	free(q->acquire);
	free(q->release);
	memset(q, 0, sizeof(*q));
}
