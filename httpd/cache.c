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
 * Flights.  After a change, every client polling a key misses at once
 * and each would make raftd render the same answer (64 connections, 10
 * changes a second: 61 us of CPU per request instead of 21), and so does
 * every blocking query the change wakes.  So a miss leads a flight: the
 * misses for the same key that see the same table indexes while its call
 * is out wait for it (suspended, on the flight's list) and look again when
 * it lands -- a hit, normally.  A blocking leader asks raftd with
 * min_index 0 (raftd renders the whole answer either way) so that the
 * answer can be kept; server.c then decides `unchanged` as raftd would.  A
 * request that looks again after a flight does not wait for another one:
 * if the answer was not kept (an error, raftd gone, too big) they ask
 * raftd side by side as before, never one after the other.
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

/*
 * A call to raftd whose answer will be current (its tag is the store's
 * now) and that other misses for the same key wait for instead of asking
 * raftd the same question: its leader is the request that made it.
 */
struct cache_flight {
	struct cache_flight *next;
	uint64_t             hash;
	const char          *key;           /* the leader's ckey */
	size_t               klen;
	unsigned             deps;
	uint64_t             tag[CACHE_NTABLES];
	struct httpd_req    *waiters;       /* linked by wnext */
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
	while (c->flights != NULL) {
		struct cache_flight *f = c->flights;

		c->flights = f->next;
		free(f);
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
cache_same(unsigned deps, const uint64_t *tag, const uint64_t *now)
{
	for (int t = 0; t < CACHE_NTABLES; t++)
		if ((deps & CACHE_DEP(t)) && tag[t] != now[t])
			return false;
	return true;
}

/* Under the lock: the current entry for key, or NULL (a stale one is
 * dropped). */
static struct cache_entry *
cache_find(struct httpd_cache *c, uint64_t hash, const char *key,
    size_t klen, const uint64_t *now)
{
	struct cache_entry **slot, *e;

	slot = cache_slot(c, hash, key, klen);
	if ((e = *slot) == NULL) {
		c->misses++;
		return NULL;
	}
	if (!cache_same(e->deps, e->tag, now)) {
		c->stale++;
		cache_drop(c, slot);
		return NULL;
	}
	c->hits++;
	if (c->mru != e) {
		cache_list_unlink(c, e);
		cache_list_front(c, e);
	}
	return e;
}

int
cache_get(struct httpd_cache *c, const char *key, size_t klen,
    const uint64_t *now, const char **body, size_t *len, uint64_t *index)
{
	struct cache_entry *e;

	pthread_mutex_lock(&c->mu);
	if ((e = cache_find(c, cache_hash(key, klen), key, klen, now)) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -1;
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

/* --- flights ----------------------------------------------------------- */

/* Under the lock: the flight for key whose answer will be current at now. */
static struct cache_flight **
cache_flight_slot(struct httpd_cache *c, uint64_t hash, const char *key,
    size_t klen, const uint64_t *now)
{
	struct cache_flight **p;

	for (p = &c->flights; *p != NULL; p = &(*p)->next)
		if ((*p)->hash == hash && (*p)->klen == klen &&
		    memcmp((*p)->key, key, klen) == 0 &&
		    cache_same((*p)->deps, (*p)->tag, now))
			break;
	return p;
}

/* --- requests ---------------------------------------------------------- */

int
cache_read(struct httpd_req *r, struct proto_raft_result *res)
{
	const struct proto_raft_catalog_read *m = r->call_msg;
	struct httpd                         *h = r->h;
	struct httpd_cache                   *c = &h->cache;
	struct cache_entry                   *e;
	struct cache_flight                  *f;
	uint64_t                              now[CACHE_NTABLES], hash;
	bool                                  alone = r->calone;

	r->ctagged = false;
	r->calone = false;
	if (local_table_indexes(&h->local, cache_tables, CACHE_NTABLES,
	        now) != 0)
		return CACHE_ASK;
	hash = cache_hash(r->ckey, r->ckey_len);
	pthread_mutex_lock(&c->mu);
	if ((e = cache_find(c, hash, r->ckey, r->ckey_len, now)) == NULL) {
		memcpy(r->ctag, now, sizeof(r->ctag));
		r->ctagged = true;
		if (!alone && *cache_flight_slot(c, hash, r->ckey, r->ckey_len,
		        now) != NULL) {
			pthread_mutex_unlock(&c->mu);
			return CACHE_WAIT;
		}
		/* Its answer will fill the entry: the misses that come
		 * meanwhile can wait for it. */
		if (r->cflight == NULL && (f = calloc(1, sizeof(*f))) != NULL) {
			f->hash = hash;
			f->key = r->ckey;
			f->klen = r->ckey_len;
			f->deps = r->cdeps;
			memcpy(f->tag, now, sizeof(f->tag));
			f->next = c->flights;
			c->flights = f;
			r->cflight = f;
			/* A blocking read asks for the whole answer, to keep it
			 * (server.c still parks it when it has not moved). */
			if (r->call_min_index != NULL)
				*r->call_min_index = 0;
		}
		pthread_mutex_unlock(&c->mu);
		return CACHE_ASK;
	}
	/* What raftd's read_catalog and server_reply would have sent. */
	memset(res, 0, sizeof(*res));
	res->status = 200;
	res->index = e->index;
	res->known_leader = true;
	res->last_contact_ms = 0;
	res->consistency = (char *)(uintptr_t)(m->consistency ==
	    RAFT_CONS_STALE ? "stale" : "leader");
	if (m->min_index > 0 && e->index <= m->min_index)
		res->unchanged = true;
	else
		res->json = e->body;
	return CACHE_HIT;
}

void
cache_read_done(struct httpd_req *r, struct proto_raft_result *res)
{
	res->json = NULL;
	pthread_mutex_unlock(&r->h->cache.mu);
}

int
cache_wait(struct httpd_req *r)
{
	struct httpd_cache  *c = &r->h->cache;
	struct cache_flight *f;

	pthread_mutex_lock(&c->mu);
	f = *cache_flight_slot(c, cache_hash(r->ckey, r->ckey_len), r->ckey,
	    r->ckey_len, r->ctag);
	if (f != NULL) {
		r->wnext = f->waiters;
		f->waiters = r;
		c->coalesced++;
	}
	pthread_mutex_unlock(&c->mu);
	return f != NULL ? 0 : -1;
}

struct httpd_req *
cache_land(struct httpd_req *r, const struct proto_raft_result *res)
{
	struct httpd_cache   *c = &r->h->cache;
	struct cache_flight **p;
	struct httpd_req     *waiters = NULL, *w;

	if (r->ctagged && res != NULL && res->status == 200 &&
	    !res->unchanged && res->json != NULL)
		cache_put(c, r->ckey, r->ckey_len, r->cdeps, r->ctag,
		    res->index, res->json, strlen(res->json));
	r->ctagged = false;
	if (r->cflight == NULL)
		return NULL;
	pthread_mutex_lock(&c->mu);
	for (p = &c->flights; *p != NULL; p = &(*p)->next) {
		if (*p == r->cflight) {
			*p = r->cflight->next;
			break;
		}
	}
	waiters = r->cflight->waiters;
	free(r->cflight);
	r->cflight = NULL;
	pthread_mutex_unlock(&c->mu);
	/* Each looks once more and, missing, asks raftd itself: a failed or
	 * unkept answer must not make them wait one after the other. */
	for (w = waiters; w != NULL; w = w->wnext)
		w->calone = true;
	return waiters;
}
