/*
 * bcast.c: transmit-limited broadcast queues.  memberlist keeps one for its
 * own alive/suspect/dead messages (a newer message about a node replaces the
 * queued one), serf keeps its intents and events (never replaced).  Each
 * message is piggy-backed until it has gone out `limit` times, with
 * limit = RetransmitMult * ceil(log10(n + 1)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossipd.h"

int
bcast_limit(int mult, size_t n)
{
	int s = 0;	/* ceil(log10(n + 1)): n's decimal digits */

	for (; n > 0; n /= 10)
		s++;
	return mult * (s < 1 ? 1 : s);
}

static void
bcast_drop(struct bcast_q *q, size_t i)
{
	free(q->v[i].msg);
	q->v[i] = q->v[--q->n];
}

int
bcast_push(struct bcast_q *q, const char *key, const uint8_t *msg, size_t len,
    int tag)
{
	struct bcast *b;

	if (key && key[0]) {
		for (size_t i = 0; i < q->n; i++) {
			if (strcmp(q->v[i].key, key) == 0) {
				bcast_drop(q, i);
				break;
			}
		}
	}
	if (q->n == q->cap) {
		size_t        cap = q->cap ? q->cap * 2 : 16;
		struct bcast *nv;
		if (cap > 4096 * 2)
			return -1; /* serf's MaxQueueDepth, roughly */
		if ((nv = realloc(q->v, cap * sizeof(*nv))) == NULL)
			return -1;
		q->v = nv;
		q->cap = cap;
	}
	b = &q->v[q->n];
	memset(b, 0, sizeof(*b));
	if ((b->msg = malloc(len ? len : 1)) == NULL)
		return -1;
	memcpy(b->msg, msg, len);
	b->len = len;
	if (key)
		snprintf(b->key, sizeof(b->key), "%s", key);
	b->id = ++q->next_id;
	b->tag = tag;
	q->n++;
	return 0;
}

static int
bcast_cmp(const void *a, const void *b)
{
	const struct bcast *x = a, *y = b;

	if (x->transmits != y->transmits)
		return x->transmits < y->transmits ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

int
bcast_take(struct bcast_q *q, int limit, size_t budget, size_t overhead,
    uint8_t **out, size_t *outlen, int maxn)
{
	int got = 0;

	if (q->n == 0 || maxn <= 0)
		return 0;
	qsort(q->v, q->n, sizeof(*q->v), bcast_cmp);
	for (size_t i = 0; i < q->n && got < maxn;) {
		struct bcast *b = &q->v[i];
		if (b->len + overhead > budget) {
			i++;
			continue;
		}
		if ((out[got] = malloc(b->len ? b->len : 1)) == NULL)
			break;
		memcpy(out[got], b->msg, b->len);
		outlen[got++] = b->len;
		budget -= b->len + overhead;
		if (++b->transmits >= limit)
			bcast_drop(q, i); /* the swapped-in one is checked next */
		else
			i++;
	}
	return got;
}

bool
bcast_has_tag(const struct bcast_q *q, int tag)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].tag == tag)
			return true;
	return false;
}

void
bcast_free(struct bcast_q *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->v[i].msg);
	free(q->v);
	memset(q, 0, sizeof(*q));
}
