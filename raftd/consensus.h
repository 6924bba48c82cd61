/*
 * raftd's consensus interface.  libraft 0.15 lives behind it and nowhere
 * else, so that the engine can be replaced (upstream is unmaintained).
 *
 * The engine owns framing of log entries (consensus.c explains the 8-byte
 * padding trap) and hands the FSM each committed payload with its index.
 * Every call and callback runs on the libuv loop thread.
 */
#ifndef TRIBUNE_RAFTD_CONSENSUS_H
#define TRIBUNE_RAFTD_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct fsm;
struct fsm_result;
struct consensus;

/* status 0: committed and applied, res is the FSM's result (valid only
 * during the callback).  Otherwise an error: not leader, leadership lost,
 * shutting down; res is NULL. */
typedef void (*consensus_apply_cb)(void *arg, int status, const struct fsm_result *res);
typedef void (*consensus_done_cb)(void *arg, int status);

struct consensus_config {
	uv_loop_t  *loop;
	const char *dir;          /* <data-dir>/raft, created if missing */
	uint64_t    id;           /* > 0 */
	const char *address;      /* "ip:port" this server listens on */
	bool        bootstrap;    /* first start: a one-voter configuration */
	unsigned    election_ms;  /* 0: 1000 */
	unsigned    heartbeat_ms; /* 0: 100 */
	unsigned    snapshot_threshold, snapshot_trailing; /* 0: defaults */
	struct fsm *fsm;
};

enum consensus_role { CONSENSUS_UNAVAILABLE, CONSENSUS_FOLLOWER, CONSENSUS_CANDIDATE, CONSENSUS_LEADER };

struct consensus_server {
	uint64_t id;
	char     address[64];
	bool     voter;
};

/* Starts the engine; NULL on failure (error text in err). */
struct consensus *consensus_start(const struct consensus_config *cfg, char *err, size_t errlen);
/* Stops; cb runs once the engine has stopped.  Then let the loop run until
 * it has no more handles (uv_run) and only then consensus_free(). */
void consensus_close(struct consensus *c, void (*cb)(void *arg), void *arg);
void consensus_free(struct consensus *c);

/* Proposes one command (payload copied).  0, or an error with no callback. */
int  consensus_propose(struct consensus *c, const void *payload, size_t len,
         consensus_apply_cb cb, void *arg);
/* Read index: cb runs once everything committed before is applied and
 * this server is confirmed leader. */
int  consensus_barrier(struct consensus *c, consensus_done_cb cb, void *arg);
int  consensus_add(struct consensus *c, uint64_t id, const char *address, consensus_done_cb cb, void *arg);
int  consensus_promote(struct consensus *c, uint64_t id, bool voter, consensus_done_cb cb, void *arg);
int  consensus_remove(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg);
/* id 0: let the engine pick. */
int  consensus_transfer(struct consensus *c, uint64_t id, consensus_done_cb cb, void *arg);

int         consensus_role(struct consensus *c);
const char *consensus_role_name(struct consensus *c);
/* Leader's id and address ("" when none known). */
uint64_t    consensus_leader(struct consensus *c, const char **address);
uint64_t    consensus_last_index(struct consensus *c);
uint64_t    consensus_last_applied(struct consensus *c);
uint64_t    consensus_commit_index(struct consensus *c);
uint64_t    consensus_term(struct consensus *c);
/* ms since we last heard from a leader (0 when we are it). */
uint64_t    consensus_last_contact_ms(struct consensus *c);
/* The current configuration; returns the count, fills up to max. */
size_t      consensus_servers(struct consensus *c, struct consensus_server *out, size_t max);
uint64_t    consensus_snapshot_index(struct consensus *c);
/* The log index of the committed configuration (0: bootstrap's, unlogged). */
uint64_t    consensus_configuration_index(struct consensus *c);
const char *consensus_strerror(int status);
bool        consensus_is_not_leader(int status);

#endif
