/*
 * jbuf.c: the append-only JSON writer (jbuf.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jbuf.h"

int
jb_raw(struct jbuf *b, const char *s, size_t n)
{
	if (b->err)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (np == NULL) {
			b->err = 1;
			return -1;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
jb_lit(struct jbuf *b, const char *s)
{
	return jb_raw(b, s, strlen(s));
}

int
jb_u64(struct jbuf *b, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	return jb_raw(b, tmp, (size_t)n);
}

int
jb_strn(struct jbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	if (s == NULL)
		return jb_lit(b, "null");
	jb_raw(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[6];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			/* Go's encoding/json escapes <, > and & too. */
			u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
			u[4] = hex[c >> 4]; u[5] = hex[c & 15];
			jb_raw(b, s + run, i - run);
			jb_raw(b, u, 6);
			run = i + 1;
			continue;
		}
		if (esc != NULL) {
			jb_raw(b, s + run, i - run);
			jb_lit(b, esc);
			run = i + 1;
		}
	}
	jb_raw(b, s + run, n - run);
	return jb_raw(b, "\"", 1);
}

int
jb_str(struct jbuf *b, const char *s)
{
	return jb_strn(b, s, s ? strlen(s) : 0);
}

int
jb_b64(struct jbuf *b, const uint8_t *p, size_t n)
{
	char out[B64_ENC_LEN(48) + 1];

	jb_raw(b, "\"", 1);
	for (size_t i = 0; i < n; i += 48) {
		size_t k = n - i < 48 ? n - i : 48;

		jb_raw(b, out, b64_encode(out, p + i, k));
	}
	return jb_raw(b, "\"", 1);
}

char *
jb_take(struct jbuf *b)
{
	char *p;
	if (b->err) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	if (b->p == NULL)
		return strdup("");
	p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
jb_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
