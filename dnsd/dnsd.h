/*
 * tribune-dnsd: the DNS interface (Consul's, on port 8600, UDP and TCP).
 *
 * One process, one thread, one loop.  Queries are answered from dnsd's own
 * in-memory view of the catalog (view.h), kept current from raftd's catalog
 * events through the seam in catalog.c, so a query never waits on IPC.
 *
 *   view.c     the catalog view (view.h)
 *   catalog.c  the seam: catalog rows / whole snapshots into the view;
 *              a JSON loader (Consul's object shapes) used by the
 *              standalone fixture and, later, by snapshots from raftd
 *   dnsconf.c  the DNS part of the agent config, from its JSON
 *   wire.c     DNS wire format: query parsing, response writing with
 *              name compression and size limits
 *   answer.c   the answer engine: query bytes + view -> response bytes
 *   server.c   UDP and TCP sockets, non-blocking; forwarding to recursors
 *   fetch.c    the whole catalog from raftd into a new view
 *   dnsd.c     the state, and the daemon frame: config from the
 *              supervisor, sockets in the loop, the view fed from raftd
 *   main.c     main() only: the daemon, or --standalone with a fixture
 */
#ifndef TRIBUNE_DNSD_H
#define TRIBUNE_DNSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "view.h"

struct json_t;

/* --- dnsconf.c ----------------------------------------------------------- */

#define DNSCONF_MAX_ADDRS 8
#define DNSCONF_MAX_RECURSORS 8

struct dnsconf_ttl {
	char    *name;   /* lowercased; without the '*' of a prefix rule */
	bool     prefix; /* "db*" */
	uint32_t ttl;
};

struct dnsconf {
	char    *domain;     /* lowercased, no trailing dot: "consul" */
	char    *alt_domain; /* NULL when unset */
	char    *datacenter; /* lowercased */
	char    *node_name;
	char    *client_addr[DNSCONF_MAX_ADDRS];
	size_t   nclient_addr;
	uint16_t port;       /* 0 = DNS disabled (ports.dns = -1) */

	uint32_t node_ttl;
	struct dnsconf_ttl *service_ttl;
	size_t   nservice_ttl;
	bool     only_passing;
	uint32_t udp_answer_limit;  /* default 3 */
	uint32_t a_record_limit;    /* 0 = unlimited */
	bool     enable_truncate;   /* read but ignored: TC is always set */
	bool     node_meta_txt;     /* enable_additional_node_meta_txt */
	bool     no_compression;    /* disable_compression */
	uint32_t soa_refresh, soa_retry, soa_expire, soa_minttl;

	struct sockaddr_storage recursor[DNSCONF_MAX_RECURSORS];
	socklen_t recursor_len[DNSCONF_MAX_RECURSORS];
	size_t   nrecursors;
	uint32_t recursor_timeout_ms;
	bool     recursor_random;  /* recursor_strategy "random" */
};

/* Consul's defaults (domain "consul", dc1, 127.0.0.1:8600). */
void dnsconf_defaults(struct dnsconf *c);
/*
 * Reads the agent config JSON (Consul's snake_case keys: domain,
 * alt_domain, datacenter, node_name, client_addr, ports.dns, recursors,
 * dns_config{...}) over the defaults.  0, or -1 with a message in err.
 */
int  dnsconf_from_json(struct dnsconf *c, const struct json_t *root,
         char *err, size_t errlen);
void dnsconf_free(struct dnsconf *c);
/* TTL of a service by Consul's rules: exact > longest prefix > "*" > 0. */
uint32_t dnsconf_service_ttl(const struct dnsconf *c, const char *lname,
             size_t len);
/* "10s", "1m30s", "5" (seconds); -1 when not a duration. */
int64_t  dnsconf_duration_s(const char *s);

/* --- wire.c -------------------------------------------------------------- */

#define WIRE_MAX_LABELS 128
#define WIRE_COMP_MAX 128

enum {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6,
	DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28,
	DNS_T_SRV = 33, DNS_T_OPT = 41, DNS_T_ANY = 255,
	DNS_C_IN = 1, DNS_C_ANY = 255,
	DNS_R_NOERROR = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3, DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16,
};

/* A domain name as labels; the label bytes are not owned. */
struct wire_name {
	size_t      n;
	const char *lab[WIRE_MAX_LABELS];
	uint8_t     len[WIRE_MAX_LABELS];
};

/* A parsed query.  Labels point into raw (as sent) and low (lowercased). */
struct wire_query {
	uint16_t id, flags;
	bool     has_q;      /* the question parsed */
	struct wire_name qname, lname;
	char     raw[256], low[256];
	uint16_t qtype, qclass;
	bool     edns;
	uint16_t udp_size;   /* the requester's, as sent */
	uint8_t  edns_version;
	bool     edns_do;
	/* EDNS Client Subnet (RFC 7871): family, source prefix, address,
	 * echoed with scope 0 as Consul does. */
	bool     has_ecs;
	uint16_t ecs_family;
	uint8_t  ecs_source;
	uint8_t  ecs_addr[16];
	uint8_t  ecs_addrlen;
};

/*
 * Parses pkt.  Returns DNS_R_NOERROR, or the rcode to answer with
 * (FORMERR, NOTIMP, REFUSED, BADVERS), or -1: drop silently (shorter than a
 * header, or a response).  q->has_q says whether the question can be
 * echoed.
 */
int wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q);

/* Response writer over a caller's buffer with a moving size limit. */
struct wire_buf {
	uint8_t *p;
	size_t   len, limit;
	bool     overflow;
	uint16_t comp[WIRE_COMP_MAX]; /* offsets of names written so far */
	size_t   ncomp;
	bool     nocomp;              /* write every name in full */
};

struct wire_mark {
	size_t len, ncomp;
};

void wire_init(struct wire_buf *w, uint8_t *buf, size_t limit);
struct wire_mark wire_mark(const struct wire_buf *w);
void wire_reset(struct wire_buf *w, struct wire_mark m);
void wire_u8(struct wire_buf *w, uint8_t v);
void wire_u16(struct wire_buf *w, uint16_t v);
void wire_u32(struct wire_buf *w, uint32_t v);
void wire_bytes(struct wire_buf *w, const void *p, size_t n);
void wire_put16(struct wire_buf *w, size_t off, uint16_t v);
/* Writes a name; compress = false for SRV targets (RFC 2782). */
void wire_name(struct wire_buf *w, const struct wire_name *nm, bool compress);
/* Starts an RR (owner, type, class IN, ttl) and returns where its
 * RDLENGTH goes; wire_rr_end fills it in. */
size_t wire_rr_begin(struct wire_buf *w, const struct wire_name *owner,
           uint16_t type, uint32_t ttl);
void wire_rr_end(struct wire_buf *w, size_t rdlen_off);

/* Name building.  push fails (-1) past 63 bytes a label / 255 a name. */
void wire_name_init(struct wire_name *nm);
int  wire_name_push(struct wire_name *nm, const char *lab, size_t len);
/* Splits s at dots and pushes each label. */
int  wire_name_push_str(struct wire_name *nm, const char *s);
int  wire_name_append(struct wire_name *nm, const struct wire_name *tail);
size_t wire_name_wirelen(const struct wire_name *nm);

/* --- answer.c ------------------------------------------------------------ */

#define ANSWER_DROP 0
#define ANSWER_FORWARD (-2)   /* outside the domain, recursors set */

struct dnsd;
/*
 * Answers one query.  pkt/len is the query as received; out/outcap takes
 * the response (outcap >= 512; a TCP caller passes 65535).  Returns the
 * response length, ANSWER_DROP (send nothing) or ANSWER_FORWARD (hand the
 * query to a recursor).  Never reads outside pkt.
 */
int  answer_query(struct dnsd *d, const uint8_t *pkt, size_t len, bool tcp,
         uint8_t *out, size_t outcap);
/* A response to send when forwarding fails: SERVFAIL with the question. */
int  answer_servfail(struct dnsd *d, const uint8_t *pkt, size_t len,
         uint8_t *out, size_t outcap);
/* Seeds the shuffle; the golden tests make answers deterministic. */
void answer_seed(struct dnsd *d, uint64_t seed);
/* The next number of that generator (xorshift64*: never zero state). */
uint64_t answer_rand(struct dnsd *d);

/* --- catalog.c ----------------------------------------------------------- */

/*
 * The seam raftd's catalog events come through.  A change names a table
 * ("nodes", "services", "checks"), whether the row was deleted, and the
 * row.  The whole-view path builds a new view aside and swaps it in, so a
 * query never sees half of a snapshot.
 */
enum catalog_op { CATALOG_PUT, CATALOG_DEL };

int  catalog_node(struct dnsd *d, enum catalog_op op,
         const struct view_node_row *r, uint64_t index);
int  catalog_service(struct dnsd *d, enum catalog_op op,
         const struct view_service_row *r, uint64_t index);
int  catalog_check(struct dnsd *d, enum catalog_op op,
         const struct view_check_row *r, uint64_t index);
/* Takes ownership of v; frees the old view. */
void catalog_replace(struct dnsd *d, struct view *v);
/*
 * Loads Consul-shaped JSON into v: {"Nodes":[Node], "Services":
 * [CatalogService or {Node, ID, Service, Tags, Address, Port, Weights}],
 * "Checks":[HealthCheck]}.  Keys are matched case-insensitively, as Consul
 * does.  0, or -1 with a message in err.
 */
int  catalog_load_json(struct view *v, const struct json_t *root, char *err,
         size_t errlen);

/* --- fetch.c ------------------------------------------------------------- */

struct bus;

/*
 * One fetch of the whole catalog from raftd into a new view: "dump", or
 * when raftd answers 501 to it, nodes + health_state/any + services + one
 * service read per name.  done() runs once, on the loop thread, with the
 * new view (the callee owns it) or NULL and the HTTP-like status of the
 * failure (501: raftd serves no catalog yet; 0: no answer).
 */
struct fetch {
	void       (*done)(void *arg, struct view *v, int status);
	void        *arg;
	struct bus  *bus;
	bool         busy, failed, no_dump;
	size_t       pending;
	uint64_t     index;
	int          status;
	struct json_t *doc;
};

/* 0 when started; -1 when busy, or when nothing could be sent (done() has
 * then already run with NULL). */
int fetch_start(struct fetch *f, struct bus *b);

/* --- server.c ------------------------------------------------------------ */

#define SERVER_MAX_SOCKS (2 * DNSCONF_MAX_ADDRS)
#define SERVER_MAX_TCP 256
#define SERVER_MAX_PENDING 256

struct server_tcp {
	int      fd;
	uint64_t deadline_ms;  /* idle timeout */
	uint8_t *in;           /* length-prefixed queries being read */
	size_t   inlen;
	uint8_t *out;          /* responses waiting to be written */
	size_t   outlen, outoff;
	bool     want_out;     /* POLLOUT is being watched */
};

struct server_pending {        /* a query forwarded to a recursor */
	bool     used;
	uint16_t our_id, client_id;
	int      client_fd;        /* UDP socket or TCP connection */
	bool     tcp;
	struct sockaddr_storage from;
	socklen_t fromlen;
	uint64_t deadline_ms;
	size_t   recursor;         /* index of the one asked now */
	size_t   tries;            /* recursors asked so far */
	uint8_t *qbuf;             /* 2-byte length, then the query */
	uint8_t *query;            /* qbuf + 2; kept for SERVFAIL */
	size_t   qlen;
	/* A TCP client's query goes upstream over TCP too, so an answer
	 * too big for UDP still gets through. */
	int      up_fd;
	bool     up_sent;
	size_t   up_off;           /* bytes of qbuf sent */
	uint8_t *resp;             /* the upstream reply, length-prefixed */
	size_t   resplen;
};

/*
 * Opens the UDP and TCP sockets of every client address.  0 or -1.  When
 * d->watch is set, server.c calls it whenever an fd appears (events =
 * POLLIN, or POLLIN|POLLOUT while output is queued) or goes (events = 0),
 * so an external loop (proto/loop.h) can follow; server_pollfds() serves a
 * plain poll() loop instead.
 */
int  server_open(struct dnsd *d);
void server_close(struct dnsd *d);
/* Work for one readable fd; the loop calls this for each ready fd. */
void server_readable(struct dnsd *d, int fd);
void server_writable(struct dnsd *d, int fd);
/* Expires idle TCP connections and forwarded queries. */
void server_tick(struct dnsd *d, uint64_t now_ms);
/* The fds to poll and for what: fills at most max, returns the count. */
size_t server_pollfds(struct dnsd *d, struct pollfd *pfd, size_t max);
/* A self-contained poll() loop, for the standalone mode; runs until
 * *stop becomes non-zero. */
int  server_run(struct dnsd *d, volatile sig_atomic_t *stop);
uint64_t server_now_ms(void);

/* --- the state ----------------------------------------------------------- */

struct dnsd {
	struct dnsconf conf;
	struct view   *view;
	uint64_t       rng;      /* xorshift64* state for the shuffle */
	uint32_t       fixed_now; /* SOA serial; 0 = the clock (tests fix it) */

	/* answer.c scratch: candidate instances, reused across queries */
	struct view_service **cand;
	size_t         ncand_cap;

	/* server.c */
	int            udp[SERVER_MAX_SOCKS];
	size_t         nudp;
	int            tcp_listen[SERVER_MAX_SOCKS];
	size_t         ntcp_listen;
	struct server_tcp tcp[SERVER_MAX_TCP];
	size_t         ntcp;
	int            fwd_fd[2];   /* IPv4 and IPv6 sockets to the recursors */
	struct server_pending pending[SERVER_MAX_PENDING];
	uint16_t       next_fwd_id;
	uint64_t       stats_queries, stats_dropped, stats_forwarded;
	void         (*watch)(struct dnsd *d, int fd, short events);
	void          *watch_arg;
};

/* --- dnsd.c --------------------------------------------------------------- */

void dnsd_init(struct dnsd *d);
void dnsd_free(struct dnsd *d);
/* The daemon frame's ops (proto/daemon.h); main() runs them. */
struct daemon_ops;
extern const struct daemon_ops dnsd_ops;

#endif
