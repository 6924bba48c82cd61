/*
 * jbuf: a small append-only JSON writer.  Replies on the hot paths (KV GET
 * in raftd and in httpd's local reads) are rendered straight from LMDB rows
 * into one buffer, no jansson tree, in Consul's field order.
 *
 * Errors are sticky: after a failed allocation every call returns -1 and
 * jb_take() returns NULL.
 */
#ifndef TRIBUNE_JBUF_H
#define TRIBUNE_JBUF_H

#include <stddef.h>
#include <stdint.h>

struct jbuf {
	char  *p;
	size_t len, cap;
	int    err;
};

int   jb_raw(struct jbuf *b, const char *s, size_t n);
int   jb_lit(struct jbuf *b, const char *s);
int   jb_u64(struct jbuf *b, uint64_t v);
/* A JSON string with Go's escaping (<, > and & too); s == NULL is null. */
int   jb_str(struct jbuf *b, const char *s);
int   jb_strn(struct jbuf *b, const char *s, size_t n);
/* Base64 (standard alphabet, padded) as a JSON string. */
int   jb_b64(struct jbuf *b, const uint8_t *p, size_t n);
/* The text (malloc'd, NUL-terminated; "" when empty), or NULL after an error. */
char *jb_take(struct jbuf *b);
void  jb_free(struct jbuf *b);

#endif
