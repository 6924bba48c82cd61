/*
 * local.c: KV GETs served from raftd's store, without a call to raftd.
 *
 * raftd keeps its state in one LMDB environment, <data-dir>/state/, and
 * answers a KV GET by reading it.  LMDB lets readers in other processes
 * share the environment through its lock file, so httpd opens it read-only
 * and runs the very same read (proto/kvstore.c: kvstore_read) itself: no
 * msgpack, no nng hop to raftd's loop and back, no suspended connection.
 * A call to raftd costs over a hundred microseconds of thread hand-offs;
 * this read costs a few.
 *
 * When.  A default read is legal only on the leader, and a stale read's
 * headers (X-Consul-KnownLeader, X-Consul-LastContact) are exact only
 * there, so both are served here only while raftd says it leads: every
 * raft.changed event carries raftd's `leader` flag, a change of role is
 * published in the loop turn raftd sees it, and the one-second ticks repeat
 * it.  The flag counts for LOCAL_LEADER_MS after the event that set it, so
 * lost events (pub/sub is lossy) or a dead raftd end local reads within a
 * few ticks.  Everything else -- ?consistent (it needs raftd's barrier), a
 * follower, no store yet -- takes the call to raftd as before.
 *
 * Read-your-writes.  raftd answers a write after the LMDB txn that applied
 * it has committed, and a read txn begun after that sees it: a GET sent
 * after a PUT's reply sees the PUT.
 *
 * Opening.  On a leader event while the env is not open (raftd not started
 * yet, a client agent has none), at most once every LOCAL_RETRY_MS: from the
 * loop thread, which alone opens; `ready` publishes the result to the
 * others.  The env stays open until httpd stops.
 *
 * Threads.  Reads come from MHD's thread (a new request), the loop thread
 * (a parked blocking query woken by an event) and nng's (one re-issued after
 * raftd's reply), so there is one read txn, MDB_NOTLS (not tied to a
 * thread), one reader slot, under a mutex: renewed for a read, reset after
 * it, so it never pins old pages that raftd wants to reuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "kvstore.h"
#include "log.h"
#include "loop.h"
#include "msg_raft.h"

/* How long a leader event vouches for raftd's role (ticks are 1 s). */
#define LOCAL_LEADER_MS 2500
/* How often to retry opening the store while raftd leads and it fails. */
#define LOCAL_RETRY_MS  1000

void
local_init(struct httpd_local *l, const char *data_dir)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	if (data_dir != NULL && *data_dir != '\0' &&
	    strlen(data_dir) + sizeof("/state") <= sizeof(l->dir))
		snprintf(l->dir, sizeof(l->dir), "%s/state", data_dir);
}

void
local_fini(struct httpd_local *l)
{
	atomic_store(&l->ready, false);
	if (l->txn != NULL)
		mdb_txn_abort(l->txn);
	if (l->env != NULL)
		mdb_env_close(l->env);
	l->txn = NULL;
	l->env = NULL;
	pthread_mutex_destroy(&l->mu);
}

/* Loop thread: open the store and the read txn; 0 or an LMDB error. */
static int
local_open(struct httpd_local *l)
{
	MDB_env *env;
	MDB_txn *txn;
	int      rc;

	if ((rc = kvstore_open_reader(l->dir, &env, &l->db)) != 0)
		return rc;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		mdb_env_close(env);
		return rc;
	}
	mdb_txn_reset(txn);
	l->env = env;
	l->txn = txn;
	atomic_store(&l->ready, true);
	log_info("serving KV reads from raftd's store: %s", l->dir);
	return 0;
}

void
local_leader(struct httpd_local *l, bool leader)
{
	uint64_t now = loop_now_ms();
	int      rc;

	if (!leader) {
		atomic_store(&l->leader_until_ms, 0);
		return;
	}
	if (!atomic_load(&l->ready) && l->dir[0] != '\0' &&
	    now >= l->next_open_ms) {
		if ((rc = local_open(l)) != 0) {
			l->next_open_ms = now + LOCAL_RETRY_MS;
			log_debug("raftd's store %s: %s; KV reads go to raftd",
			    l->dir, rc == ENOENT ? "not there yet" :
			    mdb_strerror(rc));
		}
	}
	atomic_store(&l->leader_until_ms, now + LOCAL_LEADER_MS);
}

bool
local_usable(struct httpd_local *l)
{
	return atomic_load_explicit(&l->ready, memory_order_acquire) &&
	    loop_now_ms() < atomic_load_explicit(&l->leader_until_ms,
	        memory_order_relaxed);
}

/* Locks the one read txn and renews it: 0, or -1 (not usable, or LMDB
 * failed) with the lock released. */
static int
local_begin(struct httpd_local *l)
{
	int rc;

	if (!local_usable(l))
		return -1;
	pthread_mutex_lock(&l->mu);
	rc = mdb_txn_renew(l->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* raftd grew the map: adopt its size (no txn is live here). */
		if (mdb_env_set_mapsize(l->env, 0) == 0)
			rc = mdb_txn_renew(l->txn);
	}
	if (rc != 0) {
		pthread_mutex_unlock(&l->mu);
		atomic_fetch_add(&l->errors, 1);
		return -1;
	}
	return 0;
}

static void
local_end(struct httpd_local *l)
{
	mdb_txn_reset(l->txn);
	pthread_mutex_unlock(&l->mu);
}

int
local_table_indexes(struct httpd_local *l, const char *const *tables,
    size_t n, uint64_t *out)
{
	if (local_begin(l) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = kvstore_table_index(l->txn, l->db.meta, tables[i]);
	local_end(l);
	return 0;
}

int
local_kv_get(struct httpd_local *l, const struct proto_raft_kv_get *m,
    struct proto_raft_result *res)
{
	struct kvstore_result kr;
	struct kvstore_get    q;

	if (m->consistency == RAFT_CONS_CONSISTENT || local_begin(l) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.key = m->key != NULL ? m->key : "";
	q.klen = strlen(q.key);
	q.recurse = m->recurse;
	q.keys = m->keys;
	q.separator = m->separator;
	q.raw = m->raw;
	q.min_index = m->min_index;
	kvstore_read(l->txn, &l->db, &q, &kr);

	/* What raftd's read_kv and server_reply would have sent. */
	memset(res, 0, sizeof(*res));
	res->status = kr.status;
	res->index = kr.index ? kr.index : 1;
	res->known_leader = true;     /* the leader knows itself */
	res->last_contact_ms = 0;     /* and has no one to hear from */
	res->consistency = (char *)(uintptr_t)(m->consistency ==
	    RAFT_CONS_STALE ? "stale" : "leader");
	res->unchanged = kr.unchanged;
	res->json = kr.json;
	if (m->raw && !kr.unchanged && kr.status == 200) {
		res->value.ptr = (uint8_t *)(uintptr_t)kr.value;
		res->value.len = kr.value_len;
	}
	atomic_fetch_add(&l->served, 1);
	return 0;
}

void
local_kv_done(struct httpd_local *l, struct proto_raft_result *res)
{
	free(res->json);
	res->json = NULL;
	res->value.ptr = NULL;
	local_end(l);
}
