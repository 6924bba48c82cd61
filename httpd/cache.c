/*
 * cache.c: catalog and health answers, kept and served again while the
 * tables they were read from have not moved.
 *
 * Why.  raftd renders a catalog read from its rows (JSON text per row,
 * parsed and re-emitted) and the answer crosses the bus twice: 3.3 ms of
 * CPU for GET /v1/health/service/web?passing over 100 instances, while a
 * load balancer or Prometheus asks the same question many times a second
 * and the catalog changes a few times a minute.
 *
 * What an answer depends on.  A raft.catalog_read is a pure function of
 * (what, arg, query) -- the key here, built by catalog.c from the path and
 * the normalized filters raftd gets -- and of the rows of the catalog's
 * tables it reads.  raftd moves meta "index.<table>" in the very LMDB txn
 * that changes a row of <table> (never for a rewrite with the same bytes),
 * so "the tables it reads have the same indexes" means "the same answer".
 * cache_deps() says which tables each read reads (not only those its
 * X-Consul-Index is taken from: a check row's ServiceName comes from the
 * services table, a node-meta filter reads nodes).
 *
 * Validity.  An entry carries the indexes of its tables as they were
 * BEFORE the call that filled it was sent; raftd's read txn begins later
 * and sees at least that state.  A write that lands in between makes the
 * entry look stale at the next lookup (its tag is older than the store),
 * never wrong.  Each lookup reads the current indexes from raftd's store
 * in one short read txn (local.c), so a read sent after a write's reply
 * sees the write, exactly as the KV reads local.c serves.  Indexes only
 * grow, so an entry found stale is dropped at once.
 *
 * When.  Only where local.c may serve (raftd leads, the env is open) and
 * not for ?consistent: the headers are then the leader's (known leader,
 * last contact 0), and raftd, which reads the same store, would answer
 * the same bytes.  Elsewhere the read goes to raftd and nothing is kept.
 * Blocking queries go through here as through raftd: a hit whose index is
 * <= min_index is `unchanged` and parks.
 *
 * Bounds.  HTTPD_CACHE_ENTRIES entries and HTTPD_CACHE_BYTES bytes,
 * least recently used out first; an answer larger than a quarter of the
 * bytes is not kept.  One mutex: lookups come from MHD's thread and the
 * loop thread, fills from nng's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "kvstore.h"
#include "msg_raft.h"

struct cache_entry {
	struct cache_entry *hnext;          /* bucket chain */
	struct cache_entry *prev, *next;    /* recency list */
	uint64_t            hash;
	char               *key;
	size_t              klen;
	unsigned            deps;
	uint64_t            tag[CACHE_NTABLES];
	uint64_t            index;
	char               *body;           /* NUL terminated */
	size_t              len;
};

/* meta names of the CACHE_T_* tables, in that order. */
static const char *const cache_tables[CACHE_NTABLES] = {
	[CACHE_T_NODES] = KVSTORE_T_NODES,
	[CACHE_T_SERVICES] = KVSTORE_T_SERVICES,
	[CACHE_T_CHECKS] = KVSTORE_T_CHECKS,
};

#define N CACHE_DEP(CACHE_T_NODES)
#define S CACHE_DEP(CACHE_T_SERVICES)
#define C CACHE_DEP(CACHE_T_CHECKS)
/* What raftd/catalog.c's catalog_read reads for each `what`. */
static const struct {
	const char *what;
	unsigned    deps;
} cache_reads[] = {
	{ "datacenters",    N },
	{ "nodes",          N },
	{ "services",       S | N },          /* node meta */
	{ "service",        S | N },
	{ "node",           N | S },
	{ "node_services",  N | S },
	{ "health_node",    C | S | N },      /* ServiceName, node meta */
	{ "health_checks",  C | S | N },
	{ "health_state",   C | S | N },
	{ "health_service", N | S | C },
};
#undef N
#undef S
#undef C

unsigned
cache_deps(const char *what)
{
	for (size_t i = 0; i < sizeof(cache_reads) / sizeof(cache_reads[0]);
	     i++)
		if (strcmp(cache_reads[i].what, what) == 0)
			return cache_reads[i].deps;
	return 0;
}

void
cache_init(struct httpd_cache *c, size_t max_n, size_t max_bytes)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->max_n = max_n;
	c->max_bytes = max_bytes;
}

static void
cache_entry_free(struct cache_entry *e)
{
	free(e->key);
	free(e->body);
	free(e);
}

void
cache_fini(struct httpd_cache *c)
{
	struct cache_entry *e, *next;

	for (e = c->mru; e != NULL; e = next) {
		next = e->next;
		cache_entry_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof(*c));
}

/* FNV-1a. */
static uint64_t
cache_hash(const char *key, size_t klen)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < klen; i++) {
		h ^= (uint8_t)key[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t
cache_cost(const struct cache_entry *e)
{
	return sizeof(*e) + e->klen + e->len + 1;
}

static struct cache_entry **
cache_slot(struct httpd_cache *c, uint64_t hash, const char *key,
    size_t klen)
{
	struct cache_entry **p = &c->bucket[hash % HTTPD_CACHE_BUCKETS];

	for (; *p != NULL; p = &(*p)->hnext)
		if ((*p)->hash == hash && (*p)->klen == klen &&
		    memcmp((*p)->key, key, klen) == 0)
			break;
	return p;
}

static void
cache_list_unlink(struct httpd_cache *c, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->mru = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->lru = e->prev;
	e->prev = e->next = NULL;
}

static void
cache_list_front(struct httpd_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->mru;
	if (c->mru != NULL)
		c->mru->prev = e;
	else
		c->lru = e;
	c->mru = e;
}

/* Unlinks and frees the entry at *slot. */
static void
cache_drop(struct httpd_cache *c, struct cache_entry **slot)
{
	struct cache_entry *e = *slot;

	*slot = e->hnext;
	cache_list_unlink(c, e);
	c->n--;
	c->bytes -= cache_cost(e);
	cache_entry_free(e);
}

static bool
cache_current(const struct cache_entry *e, const uint64_t *now)
{
	for (int t = 0; t < CACHE_NTABLES; t++)
		if ((e->deps & CACHE_DEP(t)) && e->tag[t] != now[t])
			return false;
	return true;
}

int
cache_get(struct httpd_cache *c, const char *key, size_t klen,
    const uint64_t *now, const char **body, size_t *len, uint64_t *index)
{
	struct cache_entry **slot, *e;

	pthread_mutex_lock(&c->mu);
	slot = cache_slot(c, cache_hash(key, klen), key, klen);
	if ((e = *slot) == NULL) {
		c->misses++;
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	if (!cache_current(e, now)) {
		c->stale++;
		cache_drop(c, slot);
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	c->hits++;
	if (c->mru != e) {
		cache_list_unlink(c, e);
		cache_list_front(c, e);
	}
	*body = e->body;
	*len = e->len;
	*index = e->index;
	return 0;
}

void
cache_unlock(struct httpd_cache *c)
{
	pthread_mutex_unlock(&c->mu);
}

/* Does a's tag show a later state than b's, on any table either reads? */
static bool
cache_newer(const struct cache_entry *a, const uint64_t *b)
{
	for (int t = 0; t < CACHE_NTABLES; t++)
		if ((a->deps & CACHE_DEP(t)) && a->tag[t] > b[t])
			return true;
	return false;
}

void
cache_put(struct httpd_cache *c, const char *key, size_t klen,
    unsigned deps, const uint64_t *tag, uint64_t index, const char *body,
    size_t len)
{
	struct cache_entry **slot, *e;
	uint64_t             hash = cache_hash(key, klen);

	if (deps == 0 || len > c->max_bytes / 4)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	e->key = malloc(klen);
	e->body = malloc(len + 1);
	if (e->key == NULL || e->body == NULL) {
		cache_entry_free(e);
		return;
	}
	memcpy(e->key, key, klen);
	e->klen = klen;
	memcpy(e->body, body, len);
	e->body[len] = '\0';
	e->len = len;
	e->hash = hash;
	e->deps = deps;
	e->index = index;
	memcpy(e->tag, tag, sizeof(e->tag));

	pthread_mutex_lock(&c->mu);
	slot = cache_slot(c, hash, key, klen);
	if (*slot != NULL) {
		/* A slower call read an older state: keep the newer answer. */
		if (cache_newer(*slot, tag)) {
			pthread_mutex_unlock(&c->mu);
			cache_entry_free(e);
			return;
		}
		cache_drop(c, slot);
	}
	e->hnext = c->bucket[hash % HTTPD_CACHE_BUCKETS];
	c->bucket[hash % HTTPD_CACHE_BUCKETS] = e;
	cache_list_front(c, e);
	c->n++;
	c->bytes += cache_cost(e);
	c->fills++;
	while (c->lru != NULL && c->lru != e &&
	    (c->n > c->max_n || c->bytes > c->max_bytes)) {
		struct cache_entry *old = c->lru;

		cache_drop(c, cache_slot(c, old->hash, old->key, old->klen));
		c->evictions++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* --- requests ---------------------------------------------------------- */

int
cache_read(struct httpd_req *r, struct proto_raft_result *res)
{
	const struct proto_raft_catalog_read *m = r->call_msg;
	struct httpd                         *h = r->h;
	uint64_t                              now[CACHE_NTABLES], index;
	const char                           *body;
	size_t                                len;

	r->ctagged = false;
	if (local_table_indexes(&h->local, cache_tables, CACHE_NTABLES,
	        now) != 0)
		return -1;
	if (cache_get(&h->cache, r->ckey, r->ckey_len, now, &body, &len,
	        &index) != 0) {
		memcpy(r->ctag, now, sizeof(r->ctag));
		r->ctagged = true;
		return -1;
	}
	/* What raftd's read_catalog and server_reply would have sent. */
	memset(res, 0, sizeof(*res));
	res->status = 200;
	res->index = index;
	res->known_leader = true;
	res->last_contact_ms = 0;
	res->consistency = (char *)(uintptr_t)(m->consistency ==
	    RAFT_CONS_STALE ? "stale" : "leader");
	if (m->min_index > 0 && index <= m->min_index)
		res->unchanged = true;
	else
		res->json = (char *)(uintptr_t)body;
	(void)len;
	return 0;
}

void
cache_read_done(struct httpd_req *r, struct proto_raft_result *res)
{
	res->json = NULL;
	cache_unlock(&r->h->cache);
}

void
cache_fill(struct httpd_req *r, const struct proto_raft_result *res)
{
	if (!r->ctagged)
		return;
	r->ctagged = false;
	if (res->status != 200 || res->unchanged || res->json == NULL)
		return;
	cache_put(&r->h->cache, r->ckey, r->ckey_len, r->cdeps, r->ctag,
	    res->index, res->json, strlen(res->json));
}
