/*
 * gossipd: tribune's LAN gossip daemon.  SWIM with Lifeguard, wire-compatible
 * with HashiCorp memberlist 0.2.2 and serf (protocol 2..5), so that a stock
 * `serf agent` and tribune join each other's cluster.
 *
 * Layers, bottom up, one file each:
 *   wire.c   byte formats: memberlist messages, packet layering (encryption,
 *            CRC, LZW compression, compound), serf messages.  Pure functions.
 *   bcast.c  transmit-limited broadcast queues (memberlist's and serf's).
 *   swim.c   the memberlist engine: probes, suspicion, gossip, push/pull.
 *   serf.c   the serf layer: Lamport clocks, intents, member status, user
 *            events, reaping, snapshot.
 *   net.c    the real UDP/TCP transport (the ops below) and the poll loop.
 *   agent.c  under the supervisor: the bus, Consul's tags and events.
 *   standalone.c  the entry (gossipd_main) and the standalone mode with a
 *            control socket; main.c only calls gossipd_main().
 *
 * The engine never touches a socket or a clock: everything goes through
 * struct gd_ops, so tests run several engines in one process with an
 * in-memory transport and a fake clock.
 */
#ifndef TRIBUNE_GOSSIPD_H
#define TRIBUNE_GOSSIPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "b64.h"

#define GD_NAME_MAX    128  /* node names and event names, with the NUL */
#define GD_META_MAX    512  /* memberlist MetaMaxSize */
#define GD_PAYLOAD_MAX 1024 /* user event payload we accept */
#define GD_UDP_MAX     1400 /* memberlist UDPBufferSize */
#define GD_KEYS_MAX    8
#define GD_STREAM_MAX  (20u << 20) /* memberlist's cap on an encrypted stream */

/* An IP (4 or 16 bytes; len 0 = none) and a port. */
struct gd_addr {
	uint8_t  ip[16];
	uint8_t  len;
	uint16_t port;
};

/* A growable byte buffer.  err sticks once an allocation failed. */
struct gd_buf {
	uint8_t *p;
	size_t   len;
	size_t   cap;
	int      err;
};

/* Encryption keys; keys[0] is the primary (used to send), all are tried. */
struct gd_keyring {
	uint8_t key[GD_KEYS_MAX][32];
	uint8_t klen[GD_KEYS_MAX];
	int     n;
};

/* ===================================================================== */
/* wire.c                                                                 */
/* ===================================================================== */

#define WIRE_ERRORS(E)                                  \
	E(WIRE_OK, 0, "ok")                             \
	E(WIRE_ETRUNC, -1, "truncated")                 \
	E(WIRE_EMALFORMED, -2, "malformed")             \
	E(WIRE_ETYPE, -3, "unknown message type")       \
	E(WIRE_ECRYPT, -4, "decryption failed")         \
	E(WIRE_ECRC, -5, "checksum mismatch")           \
	E(WIRE_ETOOBIG, -6, "too big")                  \
	E(WIRE_ENOMEM, -7, "out of memory")             \
	E(WIRE_EVERSION, -8, "unsupported version")    \
	E(WIRE_ENOCRYPTO, -9, "libcrypto cannot be loaded")

enum wire_err {
#define WIRE_E_ENUM(n, v, s) n = v,
	WIRE_ERRORS(WIRE_E_ENUM)
#undef WIRE_E_ENUM
};

/* memberlist message type byte */
enum wire_type {
	WIRE_PING = 0,
	WIRE_INDIRECT = 1,
	WIRE_ACK = 2,
	WIRE_SUSPECT = 3,
	WIRE_ALIVE = 4,
	WIRE_DEAD = 5,
	WIRE_PUSHPULL = 6,
	WIRE_COMPOUND = 7,
	WIRE_USER = 8,
	WIRE_COMPRESS = 9,
	WIRE_ENCRYPT = 10,
	WIRE_NACK = 11,
	WIRE_CRC = 12,
	WIRE_ERR = 13,
};

/* memberlist node state in push/pull */
enum wire_state { WS_ALIVE = 0, WS_SUSPECT = 1, WS_DEAD = 2, WS_LEFT = 3 };

/* serf message type byte (first byte of a memberlist user payload) */
enum wire_serf_type {
	WSERF_LEAVE = 0,
	WSERF_JOIN = 1,
	WSERF_PUSHPULL = 2,
	WSERF_EVENT = 3,
	WSERF_QUERY = 4,
	WSERF_RESPONSE = 5,
};

struct wire_ping {
	uint32_t       seq;
	char           node[GD_NAME_MAX];
	char           src_node[GD_NAME_MAX];
	struct gd_addr src; /* src.len == 0: absent */
};

struct wire_indirect {
	uint32_t       seq;
	char           node[GD_NAME_MAX];
	struct gd_addr target;
	bool           nack;
	char           src_node[GD_NAME_MAX];
	struct gd_addr src;
};

struct wire_ack {
	uint32_t seq;
	size_t   payload_len; /* decoded but not kept; we send nil */
};

/* suspect and dead share a shape */
struct wire_suspect {
	uint32_t inc;
	char     node[GD_NAME_MAX];
	char     from[GD_NAME_MAX];
};

struct wire_alive {
	uint32_t       inc;
	char           node[GD_NAME_MAX];
	struct gd_addr addr;
	uint8_t        meta[GD_META_MAX];
	size_t         meta_len;
	uint8_t        vsn[6];
	int            state; /* enum wire_state; push/pull only */
};

struct wire_pp_hdr {
	bool     join;
	uint32_t nodes;
	uint32_t user_len;
};

/* serf join (1) and leave (0) intents */
struct wire_intent {
	uint64_t ltime;
	char     node[GD_NAME_MAX];
	bool     prune;
};

struct wire_event {
	uint64_t ltime;
	char     name[GD_NAME_MAX];
	uint8_t  payload[GD_PAYLOAD_MAX];
	size_t   payload_len;
	bool     cc;
};

struct wire_status {
	char     name[GD_NAME_MAX];
	uint64_t ltime;
};

/* serf push/pull user state; arrays are malloc'd, see wire_serf_pp_free */
struct wire_serf_pp {
	uint64_t            ltime, event_ltime, query_ltime;
	struct wire_status *status;
	size_t              nstatus;
	char              (*left)[GD_NAME_MAX];
	size_t              nleft;
	struct wire_event  *events;
	size_t              nevents;
};

/* serf query: only what we need to ack it and to dedup/rebroadcast */
struct wire_query {
	uint64_t       ltime;
	uint32_t       id;
	uint32_t       flags;
	char           name[GD_NAME_MAX];
	char           src_node[GD_NAME_MAX];
	struct gd_addr addr;
	uint8_t        payload[GD_PAYLOAD_MAX];
	size_t         payload_len;
};

const char *wire_strerror(int err);

/* buffers */
int  wire_buf_put(struct gd_buf *b, const void *p, size_t n);
void wire_buf_free(struct gd_buf *b);

/*
 * Encoders append [type byte][msgpack body] to b and return 0, or a
 * wire_err.  Decoders read one body (no type byte) that must fill exactly
 * [p, p+n); they never read past n, and return 0 or a wire_err.
 */
int wire_enc_ping(struct gd_buf *b, const struct wire_ping *m);
int wire_dec_ping(const uint8_t *p, size_t n, struct wire_ping *m);
int wire_enc_indirect(struct gd_buf *b, const struct wire_indirect *m);
int wire_dec_indirect(const uint8_t *p, size_t n, struct wire_indirect *m);
int wire_enc_ack(struct gd_buf *b, const struct wire_ack *m);
int wire_dec_ack(const uint8_t *p, size_t n, struct wire_ack *m);
int wire_enc_nack(struct gd_buf *b, uint32_t seq);
int wire_dec_nack(const uint8_t *p, size_t n, uint32_t *seq);
/* type = WIRE_SUSPECT or WIRE_DEAD */
int wire_enc_suspect(struct gd_buf *b, int type, const struct wire_suspect *m);
int wire_dec_suspect(const uint8_t *p, size_t n, struct wire_suspect *m);
int wire_enc_alive(struct gd_buf *b, const struct wire_alive *m);
int wire_dec_alive(const uint8_t *p, size_t n, struct wire_alive *m);
int wire_enc_err(struct gd_buf *b, const char *msg);
/* user message: 08 + raw payload (UDP form) */
int wire_enc_user(struct gd_buf *b, const uint8_t *p, size_t n);
/* TCP user message body (after 08): {UserMsgLen} + payload */
int wire_dec_user_stream(const uint8_t *p, size_t n, const uint8_t **payload,
    size_t *len);

/* push/pull: encoder writes 06 + header; then wire_enc_node per node; then
 * the user state bytes raw.  The decoder walks the same, from after 06. */
int wire_enc_pp_hdr(struct gd_buf *b, const struct wire_pp_hdr *h);
int wire_enc_node(struct gd_buf *b, const struct wire_alive *m);
int wire_dec_pp(const uint8_t *p, size_t n, struct wire_pp_hdr *h,
    struct wire_alive **nodes, const uint8_t **user, size_t *user_len);

/* compound: parts of up to 127 messages; split returns the count */
int wire_enc_compound(struct gd_buf *b, const uint8_t *const *parts,
    const size_t *lens, int n);
int wire_dec_compound(const uint8_t *p, size_t n, const uint8_t **parts,
    size_t *lens, int max);

/* compress (09): we decode LZW (Go compress/lzw, LSB, 8) and never send it */
int wire_lzw_decode(const uint8_t *p, size_t n, struct gd_buf *out, size_t max);
/* max bounds the inflated size (LZW expands up to ~2700x) */
int wire_dec_compress(const uint8_t *p, size_t n, struct gd_buf *out,
    size_t max);

uint32_t wire_crc32(const uint8_t *p, size_t n);
int      wire_enc_crc(struct gd_buf *b, const uint8_t *p, size_t n);

/* UDP encryption: version 1 (no padding) sealed with the primary key */
int wire_seal(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out);
int wire_open(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out);
/* TCP encryption: 0a + len(u32) header as AAD */
int wire_stream_seal(const struct gd_keyring *kr, const uint8_t *p, size_t n,
    struct gd_buf *out);
/*
 * How many bytes of buf form one complete stream frame: >0 the length,
 * WIRE_ETRUNC when more must be read, another error when it cannot be one.
 */
int wire_stream_need(const uint8_t *p, size_t n, size_t *need);
/* Unwrap a complete frame (decrypt, decompress) into out: [type][body] */
int wire_stream_open(const struct gd_keyring *kr, bool require_crypt,
    const uint8_t *p, size_t n, struct gd_buf *out);

/*
 * Base64 key from -encrypt / serf keygen into the ring: 0, WIRE_EMALFORMED,
 * or WIRE_ENOCRYPTO (the first key opens libcrypto).
 */
int wire_keyring_add(struct gd_keyring *kr, const char *b64);
/* dlopen()s libcrypto once; 0 or WIRE_ENOCRYPTO */
int wire_crypto_open(void);
/* n bytes from getrandom(2) */
void wire_random(void *p, size_t n);

/* serf messages: encoders write the serf type byte + body (no 08) */
int  wire_enc_intent(struct gd_buf *b, int type, const struct wire_intent *m);
int  wire_dec_intent(const uint8_t *p, size_t n, struct wire_intent *m);
int  wire_enc_event(struct gd_buf *b, const struct wire_event *m);
int  wire_dec_event(const uint8_t *p, size_t n, struct wire_event *m);
int  wire_enc_serf_pp(struct gd_buf *b, const struct wire_serf_pp *m);
int  wire_dec_serf_pp(const uint8_t *p, size_t n, struct wire_serf_pp *m);
void wire_serf_pp_free(struct wire_serf_pp *m);
int  wire_dec_query(const uint8_t *p, size_t n, struct wire_query *m);
/* query response {Flags, From, ID, LTime, Payload} with 05 type byte */
int  wire_enc_response(struct gd_buf *b, const struct wire_query *q,
     uint32_t flags, const char *from, const uint8_t *payload, size_t n);
/* serf keyring queries: request 07 {Key}, response 08 {Keys, Message,
 * PrimaryKey, Result}; keys travel base64 in responses */
int  wire_dec_key_request(const uint8_t *p, size_t n, uint8_t *key,
     size_t *klen);
int  wire_enc_key_response(struct gd_buf *b, const struct gd_keyring *kr,
     bool list, const char *msg, bool result);

/*
 * Consul's user event, the payload of serf event "consul:event:<name>":
 * {ID, n: name, p: payload, nf, sf, tf: filters, v: version}.
 */
struct wire_cevent {
	char    id[64];
	char    name[GD_NAME_MAX];
	uint8_t payload[GD_PAYLOAD_MAX];
	size_t  payload_len;
	char    nf[256], sf[256], tf[256];
	int     version;
};
int wire_enc_cevent(struct gd_buf *b, const struct wire_cevent *m);
int wire_dec_cevent(const uint8_t *p, size_t n, struct wire_cevent *m);

/* tags: ff + map[str]str.  kv is a NUL-separated "k\0v\0k\0v\0" list. */
int wire_enc_tags(struct gd_buf *b, const char *const *kv, int npairs);
/* Calls fn(ctx, k, klen, v, vlen) for each tag; role=<raw> for old form. */
int wire_dec_tags(const uint8_t *p, size_t n,
    void (*fn)(void *ctx, const char *k, size_t kl, const char *v, size_t vl),
    void *ctx);

/* ===================================================================== */
/* bcast.c: broadcast queue with transmit limits                          */
/* ===================================================================== */

struct bcast {
	char     key[GD_NAME_MAX]; /* "" = never invalidated */
	uint8_t *msg;
	size_t   len;
	int      transmits;
	uint64_t id;
	int      tag; /* caller's marker, e.g. our own leave */
};

struct bcast_q {
	struct bcast *v;
	size_t        n, cap;
	uint64_t      next_id;
};

/* Queue a copy of msg; a non-empty key replaces any queued one with it. */
int    bcast_push(struct bcast_q *q, const char *key, const uint8_t *msg,
       size_t len, int tag);
/*
 * Take up to maxn messages fitting budget bytes (each costs len+overhead),
 * fewest transmits first then newest; each taken one's count goes up and
 * those reaching limit are dropped after copying into out[] (malloc'd,
 * caller frees).  Returns the count.
 */
int    bcast_take(struct bcast_q *q, int limit, size_t budget, size_t overhead,
       uint8_t **out, size_t *outlen, int maxn);
bool   bcast_has_tag(const struct bcast_q *q, int tag);
void   bcast_free(struct bcast_q *q);
int    bcast_limit(int mult, size_t n);

/* ===================================================================== */
/* swim.c + serf.c: the engine                                            */
/* ===================================================================== */

struct gd; /* the engine */
struct gd_member;

/* Transport and clock.  Ownership: buffers are the caller's; the ops copy. */
struct gd_ops {
	uint64_t (*now_ms)(void *ctx);
	/* one datagram */
	void (*send_udp)(void *ctx, const struct gd_addr *to, const uint8_t *p,
	    size_t n);
	/*
	 * One TCP request/reply exchange.  reply == NULL: no reply awaited.
	 * Returns 0 and a malloc'd *reply, or -1.
	 */
	int (*stream)(void *ctx, const struct gd_addr *to, const uint8_t *p,
	    size_t n, uint8_t **reply, size_t *reply_len);
	/* serf events upward (daemon or test) */
	void (*member)(void *ctx, const struct gd_member *m);
	void (*user_event)(void *ctx, const struct wire_event *e);
	void *ctx; /* for now_ms, send_udp, stream, stream_async */
	void *up;  /* for member, user_event */
	/*
	 * Optional: the same exchange without blocking the loop.  done runs
	 * later (or at once) with the reply, or with NULL on failure; the
	 * reply is the transport's, valid during the call only.
	 */
	int (*stream_async)(void *ctx, const struct gd_addr *to,
	    const uint8_t *p, size_t n,
	    void (*done)(void *arg, const uint8_t *reply, size_t len),
	    void *arg);
};

enum gd_status { GD_NONE = 0, GD_ALIVE = 1, GD_LEAVING = 2, GD_LEFT = 3, GD_FAILED = 4 };

/* one member: memberlist node + serf member in one row */
struct gd_member {
	char           name[GD_NAME_MAX];
	struct gd_addr addr;
	uint32_t       inc;
	int            state;   /* enum wire_state (memberlist view) */
	int            status;  /* enum gd_status (serf view) */
	uint8_t        meta[GD_META_MAX];
	size_t         meta_len;
	uint8_t        vsn[6];
	uint64_t       state_ms;       /* last memberlist state change */
	uint64_t       status_ltime;   /* serf: newest intent applied */
	uint64_t       leave_ms;       /* serf: when it became left/failed */
	/* Lifeguard suspicion (state == WS_SUSPECT) */
	uint64_t       susp_start, susp_min, susp_max, susp_fire;
	int            susp_k, susp_n;
	char         (*susp_from)[GD_NAME_MAX];
};

struct gd_config {
	char           name[GD_NAME_MAX];
	struct gd_addr advertise;   /* what we put in alive */
	uint8_t        meta[GD_META_MAX];
	size_t         meta_len;
	uint8_t        delegate_cur; /* serf protocol: 4 like Consul, 5 like serf agent */
	/* timings, ms */
	uint32_t       probe_interval, probe_timeout, gossip_interval;
	uint32_t       gossip_to_dead, pushpull_interval, suspicion_mult;
	uint32_t       suspicion_max_mult, retransmit_mult, indirect_checks;
	uint32_t       gossip_nodes, awareness_max;
	uint64_t       reconnect_timeout, tombstone_timeout, reap_interval;
	uint64_t       reconnect_interval;
	struct gd_keyring keyring;
	bool           crypt_verify_incoming;
	char           snapshot_path[512]; /* "" = none */
	char           keyring_path[512];  /* "" = none: keys not persisted */
	uint32_t       seed;
};

/* memberlist LAN profile and a faster one for -dev and tests */
void gd_config_lan(struct gd_config *c);
void gd_config_fast(struct gd_config *c);

struct gd_event_rec {
	uint64_t ltime;
	char     name[GD_NAME_MAX];
	uint8_t  payload[GD_PAYLOAD_MAX];
	size_t   payload_len;
	uint64_t seq; /* local, for /v1/event/list indexes */
	char     id[40];
};

#define GD_EVENT_SLOTS 512
#define GD_RECENT      256 /* Consul keeps the last 256 events */

struct gd_stats {
	uint64_t rx_packets, rx_bad, rx_crypt_fail, tx_packets;
	uint64_t probes, probe_fail, suspects_raised, refutes, tcp_rescues;
	uint64_t conflicts; /* alive for a known name from another address */
};

struct gd {
	struct gd_config cfg;
	struct gd_ops    ops;
	uint64_t         rng;

	struct gd_member *m;      /* m[0] is self */
	size_t            nm, capm;

	/* swim */
	uint32_t       seq;
	int            awareness;
	uint64_t       next_probe, next_gossip, next_pp;
	size_t         probe_idx; /* next row of m[] to probe; m[1..] is
				   * reshuffled at each wrap */
	struct {
		bool     active;
		char     target[GD_NAME_MAX];
		uint32_t seq;
		uint64_t sent, timeout_at;
		bool     acked, indirect_sent, tcp_acked;
		int      nack_expect, nack_got;
	} probe;
	struct gd_relay {
		uint32_t       our_seq, their_seq;
		struct gd_addr to;
		bool           nack;
		uint64_t       deadline;
	} relay[32];
	struct bcast_q ml_q;     /* memberlist broadcasts */
	struct bcast_q serf_q;   /* serf intents and events */
	bool           leaving, left; /* memberlist: dead about self sent */
	bool           serf_leaving;  /* serf: our leave intent is out */
	int            leave_phase;
	uint64_t       leave_deadline;

	/* serf */
	uint64_t clock, event_clock, query_clock;
	uint64_t event_min;
	struct {
		uint64_t ltime;
		int      n;
		uint64_t h[8];
	} evbuf[GD_EVENT_SLOTS];
	struct {
		uint64_t ltime;
		uint32_t id;
	} qbuf[64];
	struct gd_intent {
		char     node[GD_NAME_MAX];
		uint64_t ltime, at;
		int      type;
	} intents[64];
	struct gd_event_rec *recent; /* GD_RECENT slots; calloc'd, so pages
				      * are only touched as events arrive */
	size_t   nrecent;     /* total ever recorded */
	uint64_t next_reap, next_reconnect;
	bool     snap_dirty;
	uint64_t snap_clocks[3], next_snap;

	struct gd_stats st;
};

/* swim.c */
int  swim_init(struct gd *g, const struct gd_config *cfg,
     const struct gd_ops *ops);
void swim_free(struct gd *g);
/* a datagram from the network */
void swim_recv_udp(struct gd *g, const struct gd_addr *from, const uint8_t *p,
     size_t n);
/* a complete TCP request frame; *reply (malloc'd) may be set */
int  swim_recv_stream(struct gd *g, const struct gd_addr *from,
     const uint8_t *p, size_t n, uint8_t **reply, size_t *reply_len);
/* run due timers; returns ms until the next one */
int  swim_tick(struct gd *g);
/* push/pull join with one address; 0 on success */
int  swim_join(struct gd *g, const struct gd_addr *a);
/* the same in the background when the transport can (reconnects) */
int  swim_join_async(struct gd *g, const struct gd_addr *a);
/* in the background, then cb(arg, ok); 0 if cb will be called */
int  swim_join_cb(struct gd *g, const struct gd_addr *a,
     void (*cb)(void *arg, bool ok), void *arg);
/* begin graceful leave (memberlist part): dead about self */
void swim_leave(struct gd *g);
/* local meta changed (tags): new incarnation, broadcast */
void swim_update_meta(struct gd *g, const uint8_t *meta, size_t n);
struct gd_member *swim_find(struct gd *g, const char *name);
size_t swim_alive_count(const struct gd *g);
/* used by serf.c */
int  swim_queue_user(struct gd *g, const uint8_t *p, size_t n, int tag);
void swim_send_user(struct gd *g, const struct gd_addr *to, const uint8_t *p,
     size_t n);
size_t swim_remove(struct gd *g, size_t i);
uint32_t swim_rand(struct gd *g, uint32_t n);
uint64_t swim_now(struct gd *g);

/* serf.c: called by swim */
void serf_on_join(struct gd *g, struct gd_member *m);
void serf_on_leave(struct gd *g, struct gd_member *m);
void serf_on_update(struct gd *g, struct gd_member *m);
void serf_on_user(struct gd *g, const uint8_t *p, size_t n);
int  serf_local_state(struct gd *g, struct gd_buf *b);
void serf_merge_state(struct gd *g, const uint8_t *p, size_t n, bool join);
void serf_tick(struct gd *g, uint64_t now);
/* serf.c: API */
int  serf_join(struct gd *g, const struct gd_addr *addrs, int n);
/* join without blocking: cb(arg, number joined) once all have answered */
int  serf_join_async(struct gd *g, const struct gd_addr *addrs, int n,
     void (*cb)(void *arg, int ok), void *arg);
int  serf_leave_begin(struct gd *g);
bool serf_leave_sent(struct gd *g);
/*
 * The whole graceful leave, one step per call (call every few ms until it
 * returns true): serf leave intent until sent (or 5 s), memberlist dead
 * about self until gossiped (or 3 s), then a short propagation delay.
 */
bool serf_leave_step(struct gd *g);
int  serf_force_leave(struct gd *g, const char *node, bool prune);
int  serf_user_event(struct gd *g, const char *name, const uint8_t *payload,
     size_t n, bool cc);
int  serf_snapshot_load(struct gd *g, struct gd_addr *addrs, int max);
/*
 * <data-dir>/serf/local.keyring, Consul's file: a JSON array of base64
 * keys, primary first.  Written when `serf keys`/keyring queries change
 * the ring; at start it wins over -encrypt, as in Consul.  0 loaded,
 * 1 no file, -1 unreadable.
 */
int  serf_keyring_load(const char *path, struct gd_keyring *kr);
int  serf_keyring_save(const struct gd *g);
void serf_snapshot_write(struct gd *g);
const char *serf_status_str(int status);

/* net.c: the real transport */
struct net;
struct net *net_open(const struct gd_addr *bind, char *err, size_t errlen);
void        net_close(struct net *n);
void        net_ops(struct net *n, struct gd_ops *ops);
void        net_attach(struct net *n, struct gd *g);
/*
 * For an outside event loop: net calls watch(ctx, fd, events) when a
 * stream connection's fd must be polled (events 0 = forget it); the loop
 * then calls net_conn_event().  Without a watcher, net_poll() polls them.
 */
void        net_set_watch(struct net *n,
            void (*watch)(void *ctx, int fd, short events), void *ctx);
void        net_conn_event(struct net *n, int fd, short revents);
/* expire stalled stream connections */
void        net_tick(struct net *n);
/* poll the sockets (and extra fds) for up to ms; handles gossip I/O */
int         net_poll(struct net *n, int ms, const int *extra_fds, int nextra,
            short *extra_revents);
int         net_fd(const struct net *n, bool tcp);
/* tests: drop pct% of received datagrams */
void        net_set_drop(struct net *n, uint32_t pct, uint32_t seed);
void        net_rx_udp(struct net *n);
void        net_rx_tcp(struct net *n);
/* first non-loopback IPv4 of this host, for -bind 0.0.0.0 */
int         net_default_addr(struct gd_addr *a);
/* a literal, or a host name looked up now (blocking, as joins are) */
int         net_resolve(const char *s, uint16_t defport, struct gd_addr *a);
int         net_parse_addr(const char *s, uint16_t defport, struct gd_addr *a);
const char *net_addr_str(const struct gd_addr *a, char *buf, size_t len);

/* standalone.c: the entry; standalone mode (no -run-dir) or agent.c */
int  gossipd_main(int argc, char **argv);
/* a random (version 4) UUID, 37 bytes with the NUL */
void gossipd_uuid(char *out, size_t len);

/* agent.c: under the supervisor, on the bus */
int agent_main(int argc, char **argv);
/* Consul's member tags into b (ff + map) */
int agent_tags(struct gd_buf *b, bool server, const char *dc,
    const char *node_id, int expect, bool bootstrap);

#endif
