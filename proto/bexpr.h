/*
 * Consul's ?filter= expressions (a go-bexpr subset), over JSON rows.
 * The grammar and its limits are described atop bexpr.c.
 */
#ifndef TRIBUNE_BEXPR_H
#define TRIBUNE_BEXPR_H

#include <jansson.h>
#include <stdbool.h>

struct bexpr;

/* Parses expr into a tree the caller frees; NULL on a syntax error. */
struct bexpr *bexpr_parse(const char *expr);
void bexpr_free(struct bexpr *f);
/* Does row (a JSON object) match?  A NULL filter matches everything. */
bool bexpr_eval(const struct bexpr *f, const json_t *row);
/* Consul's 400 text for an expression that does not parse (malloc'd). */
char *bexpr_error(const char *expr);

#endif
