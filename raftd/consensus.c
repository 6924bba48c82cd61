/*
 * consensus.c: raftd's consensus interface over libraft 0.15 (Debian's
 * libraft-dev) with its libuv I/O and TCP transport.
 *
 * Entry framing.  libraft 0.15 requires every entry payload to be a
 * multiple of 8 bytes but only asserts it in a build Debian compiles out: an
 * unpadded entry commits, and at the next start its segment is judged
 * corrupt and the log silently truncated.  So every entry is
 *
 *   u32 payload length (LE) | u32 CONSENSUS_MAGIC (LE) | payload | zero pad
 *
 * with the total rounded up to 8.  A frame that does not parse is handed to
 * the FSM whole, which applies it as a no-op on every server alike.
 *
 * Apply gets no index from libraft; inside apply, raft_last_applied()+1 is
 * the entry's index (measured), and the FSM uses it to skip what the store
 * already holds: libraft restores its snapshot and replays the log at every
 * start.  The FSM's result for an entry is a struct owned by the FSM and
 * overwritten by the next apply; libraft 0.15 calls the proposer's callback
 * right after the apply of that entry, before the next one, so the callback
 * reads it in time (test_raftd_fsm checks this with many proposals in
 * flight).
 *
 * Snapshots: libraft takes whole in-memory buffers; fsm_snapshot serializes
 * the LMDB tables into one (store.c has the format).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>

#include "raftd.h"

#define CONSENSUS_MAGIC 0x31425254u /* "TRB1" */
#define FRAME_HDR 8

struct consensus {
	struct raft               raft;
	struct raft_io            io;
	struct raft_uv_transport  transport;
	struct raft_fsm           rfsm;
	struct fsm               *fsm;
	char                      address[64];
	bool                      io_inited, transport_inited, raft_inited;
	void                    (*close_cb)(void *);
	void                     *close_arg;
};

struct propose_req {
	struct raft_apply  req;
	consensus_apply_cb cb;
	void              *arg;
};

struct barrier_req {
	struct raft_barrier req;
	consensus_done_cb   cb;
	void               *arg;
};

struct change_req {
	struct raft_change req;
	consensus_done_cb  cb;
	void              *arg;
};

struct transfer_req {
	struct raft_transfer req;
	consensus_done_cb    cb;
	void                *arg;
};

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static int
cons_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct consensus *c = rf->data;
	const uint8_t *p = buf->base;
	uint64_t index = raft_last_applied(&c->raft) + 1;
	int rc;

	if (buf->len >= FRAME_HDR && get32(p + 4) == CONSENSUS_MAGIC &&
	    get32(p) <= buf->len - FRAME_HDR)
		rc = fsm_apply(c->fsm, index, p + FRAME_HDR, get32(p));
	else
		rc = fsm_apply(c->fsm, index, p, buf->len);
	*result = &c->fsm->result;
	return rc == 0 ? 0 : RAFT_IOERR;
}

static int
cons_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n)
{
	struct consensus *c = rf->data;
	uint8_t *data;
	size_t len;
	int rc;

	if ((rc = fsm_snapshot(c->fsm, &data, &len)) != 0)
		return RAFT_IOERR;
	*bufs = raft_malloc(sizeof(struct raft_buffer));
	if (*bufs == NULL) {
		free(data);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = raft_malloc(len);
	if ((*bufs)[0].base == NULL) {
		raft_free(*bufs);
		free(data);
		return RAFT_NOMEM;
	}
	memcpy((*bufs)[0].base, data, len);
	(*bufs)[0].len = len;
	*n = 1;
	free(data);
	return 0;
}

static int
cons_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct consensus *c = rf->data;
	int rc = fsm_restore(c->fsm, buf->base, buf->len);

	if (rc != 0)
		return RAFT_IOERR;
	raft_free(buf->base); /* ours on success */
	return 0;
}

struct consensus *
consensus_start(const struct consensus_config *cfg, char *err, size_t errlen)
{
	struct consensus *c;
	struct raft_configuration conf;
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fsm = cfg->fsm;
	snprintf(c->address, sizeof(c->address), "%s", cfg->address);
	if (mkdir(cfg->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", cfg->dir, strerror(errno));
		goto fail;
	}
	c->rfsm.version = 1;
	c->rfsm.data = c;
	c->rfsm.apply = cons_apply;
	c->rfsm.snapshot = cons_snapshot;
	c->rfsm.restore = cons_restore;

	if ((rc = raft_uv_tcp_init(&c->transport, cfg->loop)) != 0) {
		snprintf(err, errlen, "raft_uv_tcp_init: %s", raft_strerror(rc));
		goto fail;
	}
	c->transport_inited = true;
	if ((rc = raft_uv_init(&c->io, cfg->loop, cfg->dir, &c->transport)) != 0) {
		snprintf(err, errlen, "raft_uv_init: %s", raft_strerror(rc));
		goto fail;
	}
	c->io_inited = true;
	if ((rc = raft_init(&c->raft, &c->io, &c->rfsm, cfg->id, c->address)) != 0) {
		snprintf(err, errlen, "raft_init: %s", raft_errmsg(&c->raft));
		goto fail;
	}
	c->raft_inited = true;
	c->raft.data = c;
	raft_set_election_timeout(&c->raft, cfg->election_ms ? cfg->election_ms : 1000);
	raft_set_heartbeat_timeout(&c->raft, cfg->heartbeat_ms ? cfg->heartbeat_ms : 100);
	raft_set_pre_vote(&c->raft, true);
	raft_set_snapshot_threshold(&c->raft, cfg->snapshot_threshold ? cfg->snapshot_threshold : 16384);
	raft_set_snapshot_trailing(&c->raft, cfg->snapshot_trailing ? cfg->snapshot_trailing : 10000);

	if (cfg->bootstrap) {
		raft_configuration_init(&conf);
		rc = raft_configuration_add(&conf, cfg->id, c->address, RAFT_VOTER);
		if (rc == 0)
			rc = raft_bootstrap(&c->raft, &conf);
		raft_configuration_close(&conf);
		if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
			snprintf(err, errlen, "raft_bootstrap: %s", raft_strerror(rc));
			goto fail;
		}
	}
	if ((rc = raft_start(&c->raft)) != 0) {
		snprintf(err, errlen, "raft_start: %s", raft_errmsg(&c->raft));
		goto fail;
	}
	return c;
fail:
	/* raft_init/raft_uv_init allocate handles that need the loop to close;
	 * a failed start is fatal for raftd, so we only free what is plain. */
	if (!c->raft_inited) {
		if (c->io_inited)
			raft_uv_close(&c->io);
		if (c->transport_inited)
			raft_uv_tcp_close(&c->transport);
		if (!c->io_inited)
			free(c);
	}
	return NULL;
}

static void
cons_closed(struct raft *r)
{
	struct consensus *c = r->data;

	raft_uv_close(&c->io);
	raft_uv_tcp_close(&c->transport);
	if (c->close_cb != NULL)
		c->close_cb(c->close_arg);
}

void
consensus_close(struct consensus *c, void (*cb)(void *arg), void *arg)
{
	c->close_cb = cb;
	c->close_arg = arg;
	raft_close(&c->raft, cons_closed);
}

void
consensus_free(struct consensus *c)
{
	free(c);
}

static void
propose_done(struct raft_apply *req, int status, void *result)
{
	struct propose_req *p = req->data;
	p->cb(p->arg, status, status == 0 ? result : NULL);
	free(p);
}

int
consensus_propose(struct consensus *c, const void *payload, size_t len,
    consensus_apply_cb cb, void *arg)
{
	struct propose_req *p;
	struct raft_buffer buf;
	size_t total = (FRAME_HDR + len + 7) & ~(size_t)7;
	int rc;

	if (len > UINT32_MAX - 16)
		return RAFT_TOOBIG;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return RAFT_NOTLEADER;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return RAFT_NOMEM;
	buf.base = raft_malloc(total);
	if (buf.base == NULL) {
		free(p);
		return RAFT_NOMEM;
	}
	buf.len = total;
	memset(buf.base, 0, total);
	put32(buf.base, (uint32_t)len);
	put32((uint8_t *)buf.base + 4, CONSENSUS_MAGIC);
	memcpy((uint8_t *)buf.base + FRAME_HDR, payload, len);
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	rc = raft_apply(&c->raft, &p->req, &buf, 1, propose_done);
	if (rc != 0) {
		raft_free(buf.base);
		free(p);
	}
	return rc;
}

static void
barrier_done(struct raft_barrier *req, int status)
{
	struct barrier_req *b = req->data;
	b->cb(b->arg, status);
	free(b);
}

int
consensus_barrier(struct consensus *c, consensus_done_cb cb, void *arg)
{
	struct barrier_req *b = calloc(1, sizeof(*b));
	int rc;

	if (b == NULL)
		return RAFT_NOMEM;
	b->cb = cb;
	b->arg = arg;
	b->req.data = b;
	if ((rc = raft_barrier(&c->raft, &b->req, barrier_done)) != 0)
		free(b);
	return rc;
}

static void
change_done(struct raft_change *req, int status)
{
	struct change_req *ch = req->data;
	if (ch->cb)
		ch->cb(ch->arg, status);
	free(ch);
}

static struct change_req *
change_new(consensus_done_cb cb, void *arg)
{
	struct change_req *ch = calloc(1, sizeof(*ch));
	if (ch != NULL) {
		ch->cb = cb;
		ch->arg = arg;
		ch->req.data = ch;
	}
	return ch;
}

int
consensus_add(struct consensus *c, uint64_t id, const char *address, consensus_done_cb cb, void *arg)
{
	struct change_req *ch = change_new(cb, arg);
	int rc;
	if (ch == NULL)
		return RAFT_NOMEM;
	if ((rc = raft_add(&c->raft, &ch->req, id, address, change_done)) != 0)
		free(ch);
	return rc;
}

int
consensus_promote(struct consensus *c, uint64_t id, bool voter, consensus_done_cb cb, void *arg)
{
	struct change_req *ch = change_new(cb, arg);
	int rc;
	if (ch == NULL)
		return RAFT_NOMEM;
	if ((rc = raft_assign(&c->raft, &ch->req, id, voter ? RAFT_VOTER : RAFT_STANDBY, change_done)) != 0)
		free(ch);
	return rc;
}

int
consensus_remove(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg)
{
	struct change_req *ch = change_new(cb, arg);
	int rc;
	if (ch == NULL)
		return RAFT_NOMEM;
	if ((rc = raft_remove(&c->raft, &ch->req, id, change_done)) != 0)
		free(ch);
	return rc;
}

static void
transfer_done(struct raft_transfer *req)
{
	struct transfer_req *t = req->data;
	if (t->cb)
		t->cb(t->arg, 0);
	free(t);
}

int
consensus_transfer(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg)
{
	struct transfer_req *t = calloc(1, sizeof(*t));
	int rc;
	if (t == NULL)
		return RAFT_NOMEM;
	t->cb = cb;
	t->arg = arg;
	t->req.data = t;
	if ((rc = raft_transfer(&c->raft, &t->req, id, transfer_done)) != 0)
		free(t);
	return rc;
}

int
consensus_role(struct consensus *c)
{
	switch (raft_state(&c->raft)) {
	case RAFT_FOLLOWER:
		return CONSENSUS_FOLLOWER;
	case RAFT_CANDIDATE:
		return CONSENSUS_CANDIDATE;
	case RAFT_LEADER:
		return CONSENSUS_LEADER;
	default:
		return CONSENSUS_UNAVAILABLE;
	}
}

const char *
consensus_role_name(struct consensus *c)
{
	/* Consul's `consul info` spelling. */
	switch (consensus_role(c)) {
	case CONSENSUS_FOLLOWER:
		return "Follower";
	case CONSENSUS_CANDIDATE:
		return "Candidate";
	case CONSENSUS_LEADER:
		return "Leader";
	default:
		return "Shutdown";
	}
}

uint64_t
consensus_leader(struct consensus *c, const char **address)
{
	raft_id id = 0;
	const char *addr = NULL;
	raft_leader(&c->raft, &id, &addr);
	if (address != NULL)
		*address = addr ? addr : "";
	return id;
}

uint64_t
consensus_last_index(struct consensus *c)
{
	return raft_last_index(&c->raft);
}

uint64_t
consensus_last_applied(struct consensus *c)
{
	return raft_last_applied(&c->raft);
}

uint64_t
consensus_commit_index(struct consensus *c)
{
	return c->raft.commit_index;
}

uint64_t
consensus_term(struct consensus *c)
{
	return c->raft.current_term;
}

uint64_t
consensus_last_contact_ms(struct consensus *c)
{
	raft_time now;
	if (raft_state(&c->raft) == RAFT_LEADER)
		return 0;
	now = c->io.time(&c->io);
	/* A follower restarts its election timer on each leader contact. */
	return now > c->raft.election_timer_start ? now - c->raft.election_timer_start : 0;
}

size_t
consensus_servers(struct consensus *c, struct consensus_server *out, size_t max)
{
	size_t n = c->raft.configuration.n;
	for (size_t i = 0; i < n && i < max; i++) {
		const struct raft_server *s = &c->raft.configuration.servers[i];
		out[i].id = s->id;
		snprintf(out[i].address, sizeof(out[i].address), "%s", s->address ? s->address : "");
		out[i].voter = s->role == RAFT_VOTER;
	}
	return n;
}

uint64_t
consensus_configuration_index(struct consensus *c)
{
	return c->raft.configuration_index;
}

uint64_t
consensus_snapshot_index(struct consensus *c)
{
	return c->raft.log.snapshot.last_index;
}

const char *
consensus_strerror(int status)
{
	return raft_strerror(status);
}

bool
consensus_is_not_leader(int status)
{
	return status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST;
}
