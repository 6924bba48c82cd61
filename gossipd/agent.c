/*
 * agent.c: gossipd under the supervisor.  The engine runs on proto's event
 * loop: the UDP and TCP sockets are two more fds, swim_tick() runs on a
 * 10 ms timer.  Calls are the gossip.* requests of proto/msg_gossip.h;
 * every membership change is published as gossip.member with the member's
 * absolute state, and all members are republished every 2 s because
 * pub/sub may drop.
 *
 * User events follow Consul: /v1/event/fire sends serf event
 * "consul:event:<name>" whose payload is Consul's msgpack UserEvent; on
 * receipt those are decoded (and filtered by NodeFilter), other serf
 * events are listed as they are.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "daemon.h"
#include "gossipd.h"
#include "log.h"
#include "version.h"

#define AGENT_MAX_JOIN 16
#define CEVENT_PREFIX  "consul:event:"

struct agent {
	struct daemon  *d;
	struct gd       g;
	struct net     *net;
	bool            started;
	uint64_t        index, ev_index;
	char            retry_s[AGENT_MAX_JOIN][256];
	int             nretry, retries;
	uint64_t        next_retry;
	bool            retry_done, retry_inflight;
	bool            leaving, left;
	struct bus_req *leave_req;
	char            node_id[40], dc[64];
	/* the list's view of each recent event, by g.recent slot */
	uint64_t        ev_accepted[GD_RECENT];
};

static struct agent A;

int
agent_tags(struct gd_buf *b, bool server, const char *dc, const char *node_id,
    int expect, bool bootstrap)
{
	const char *kv[40];
	char        ex[16];
	int         n = 0;

#define TAG(k, v)                  \
	do {                       \
		kv[2 * n] = k;     \
		kv[2 * n + 1] = v; \
		n++;               \
	} while (0)
	TAG("role", server ? "consul" : "node");
	TAG("dc", dc);
	TAG("segment", "");
	TAG("id", node_id);
	TAG("vsn", "2");
	TAG("vsn_min", "2");
	TAG("vsn_max", "3");
	TAG("build", TRIBUNE_CONSUL_VERSION ":" TRIBUNE_REVISION);
	if (server) {
		TAG("port", "8300");
		TAG("raft_vsn", "3");
		TAG("acls", "0");
		TAG("ft_fs", "1");
		TAG("ft_si", "1");
		if (bootstrap)
			TAG("bootstrap", "1");
		if (expect > 0) {
			snprintf(ex, sizeof(ex), "%d", expect);
			TAG("expect", ex);
		}
	}
#undef TAG
	return wire_enc_tags(b, kv, n);
}

static void
tag_to_json(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	json_object_setn_new_nocheck(ctx, k, kl, json_stringn_nocheck(v, vl));
}

static json_t *
agent_tags_json(const struct gd_member *m)
{
	json_t *t = json_object();

	wire_dec_tags(m->meta, m->meta_len, tag_to_json, t);
	return t;
}

static const char *
agent_ip(const struct gd_addr *a, char *buf, size_t len)
{
	char tmp[80], *c;

	net_addr_str(a, tmp, sizeof(tmp));
	if (a->len == 16) {
		c = strrchr(tmp, ']');
		if (c)
			*c = 0;
		snprintf(buf, len, "%s", tmp + 1);
	} else {
		if ((c = strrchr(tmp, ':')) != NULL)
			*c = 0;
		snprintf(buf, len, "%s", tmp);
	}
	return buf;
}

static const char *
agent_status_str(int status)
{
	return status == GD_NONE ? "reaped" : serf_status_str(status);
}

static void
agent_publish_member(const struct gd_member *m)
{
	struct proto_gossip_member pm;
	char                       ip[96], name[GD_NAME_MAX], st[16];
	json_t                    *t = agent_tags_json(m);
	char                      *tags = json_dumps(t, JSON_COMPACT);

	if (A.d == NULL || A.d->bus == NULL)
		goto out;
	memset(&pm, 0, sizeof(pm));
	snprintf(name, sizeof(name), "%s", m->name);
	snprintf(st, sizeof(st), "%s", agent_status_str(m->status));
	pm.name = name;
	agent_ip(&m->addr, ip, sizeof(ip));
	pm.addr = ip;
	pm.port = m->addr.port;
	pm.status = st;
	pm.incarnation = m->inc;
	pm.tags = tags;
	pm.index = A.index;
	pm.self = strcmp(m->name, A.g.m[0].name) == 0;
	bus_publish(A.d->bus, PROTO_GOSSIP_MEMBER, &pm);
out:
	free(tags);
	json_decref(t);
}

static void
agent_on_member(void *up, const struct gd_member *m)
{
	char a[80];

	(void)up;
	A.index++;
	log_info("member %s %s: %s (incarnation %u)", m->name,
	    net_addr_str(&m->addr, a, sizeof(a)), agent_status_str(m->status),
	    m->inc);
	agent_publish_member(m);
}

static void
b64(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	if (outlen < 4 * ((n + 2) / 3) + 1) {
		out[0] = 0;
		return;
	}
	b64_encode(out, p, n);
}

/* Consul's view of a received serf event; false = filtered out */
static bool
agent_event_view(const struct gd_event_rec *r, struct wire_cevent *ce)
{
	size_t pl = strlen(CEVENT_PREFIX);

	memset(ce, 0, sizeof(*ce));
	if (strncmp(r->name, CEVENT_PREFIX, pl) == 0 &&
	    wire_dec_cevent(r->payload, r->payload_len, ce) == 0) {
		if (ce->nf[0] && A.g.m) {
			regex_t re;
			bool    ok = false;
			if (regcomp(&re, ce->nf, REG_EXTENDED | REG_NOSUB) == 0) {
				ok = regexec(&re, A.g.m[0].name, 0, NULL, 0) == 0;
				regfree(&re);
			}
			if (!ok)
				return false;
		}
		return true;
	}
	snprintf(ce->id, sizeof(ce->id), "%s", r->id);
	snprintf(ce->name, sizeof(ce->name), "%s", r->name);
	memcpy(ce->payload, r->payload, r->payload_len);
	ce->payload_len = r->payload_len;
	ce->version = 1;
	return true;
}

static json_t *
agent_event_json(const struct wire_cevent *ce, uint64_t ltime)
{
	char    p64[GD_PAYLOAD_MAX * 2];
	json_t *o = json_object();

	json_object_set_new(o, "ID", json_string(ce->id));
	json_object_set_new(o, "Name", json_string(ce->name));
	if (ce->payload_len) {
		b64(ce->payload, ce->payload_len, p64, sizeof(p64));
		json_object_set_new(o, "Payload", json_string(p64));
	} else {
		json_object_set_new(o, "Payload", json_null());
	}
	json_object_set_new(o, "NodeFilter", json_string(ce->nf));
	json_object_set_new(o, "ServiceFilter", json_string(ce->sf));
	json_object_set_new(o, "TagFilter", json_string(ce->tf));
	json_object_set_new(o, "Version", json_integer(ce->version));
	json_object_set_new(o, "LTime", json_integer((json_int_t)ltime));
	return o;
}

static void
agent_on_event(void *up, const struct wire_event *e)
{
	const struct gd_event_rec *r;
	struct wire_cevent        *ce;
	struct proto_gossip_event  pe;

	(void)up;
	if (A.g.nrecent == 0)
		return;
	r = &A.g.recent[(A.g.nrecent - 1) % GD_RECENT];
	if ((ce = malloc(sizeof(*ce))) == NULL)
		return;
	if (!agent_event_view(r, ce)) {
		A.ev_accepted[(A.g.nrecent - 1) % GD_RECENT] = 0;
		free(ce);
		return;
	}
	A.ev_accepted[(A.g.nrecent - 1) % GD_RECENT] = r->seq;
	A.ev_index++;
	log_info("user event %s (ltime %llu)", ce->name,
	    (unsigned long long)e->ltime);
	if (A.d && A.d->bus) {
		memset(&pe, 0, sizeof(pe));
		pe.id = ce->id;
		pe.name = ce->name;
		pe.payload.ptr = ce->payload;
		pe.payload.len = ce->payload_len;
		pe.ltime = e->ltime;
		pe.index = A.ev_index;
		bus_publish(A.d->bus, PROTO_GOSSIP_EVENT, &pe);
	}
	free(ce);
}

static int
agent_reply(struct bus_req *req, uint64_t status, const char *err,
    uint64_t index, char *json)
{
	struct proto_gossip_result r;
	char                       e[512];

	memset(&r, 0, sizeof(r));
	r.status = status;
	if (err) {
		snprintf(e, sizeof(e), "%s", err);
		r.error = e;
	}
	r.index = index;
	r.json = json;
	return bus_reply(req, PROTO_GOSSIP_RESULT, &r);
}

static int
agent_reply_json(struct bus_req *req, uint64_t index, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	int   rc = agent_reply(req, s ? 200 : 500, s ? NULL : "encoding",
	      index, s);

	free(s);
	json_decref(j);
	return rc;
}

static json_t *
agent_member_json(const struct gd_member *m, const char *name, int port)
{
	json_t *o = json_object();
	char    ip[96];

	json_object_set_new(o, "Name", json_string(name));
	json_object_set_new(o, "Addr",
	    json_string(agent_ip(&m->addr, ip, sizeof(ip))));
	json_object_set_new(o, "Port", json_integer(port));
	json_object_set_new(o, "Tags", agent_tags_json(m));
	json_object_set_new(o, "Status", json_integer(m->status));
	json_object_set_new(o, "ProtocolMin", json_integer(m->vsn[0]));
	json_object_set_new(o, "ProtocolMax", json_integer(m->vsn[1]));
	json_object_set_new(o, "ProtocolCur", json_integer(m->vsn[2]));
	json_object_set_new(o, "DelegateMin", json_integer(m->vsn[3]));
	json_object_set_new(o, "DelegateMax", json_integer(m->vsn[4]));
	json_object_set_new(o, "DelegateCur", json_integer(m->vsn[5]));
	return o;
}

static json_t *
agent_members_json(void)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < A.g.nm; i++)
		json_array_append_new(arr, agent_member_json(&A.g.m[i],
		    A.g.m[i].name, A.g.m[i].addr.port));
	return arr;
}

/*
 * /v1/agent/members as Consul CE answers on a single-datacenter agent.
 * ?wan: a server's WAN pool, which there holds only itself as
 * "<node>.<dc>" on the serf WAN port (we list it so, with its LAN tags,
 * though no WAN gossip runs); a client has no WAN pool: null.  ?segment:
 * all our members are in the default segment "", and "_all" means every
 * segment; any other name is Consul CE's error, "not found" on a client
 * and "not supported" on a server.
 */
static int
agent_members(struct bus_req *req, const struct proto_gossip_members *m)
{
	const char *seg = m->segment ? m->segment : "";
	bool        other = seg[0] && strcmp(seg, "_all") != 0;
	char        err[GD_NAME_MAX + 32], wname[2 * GD_NAME_MAX];

	if (m->wan && other)
		return agent_reply(req, 400, "Cannot provide a segment with wan=true",
		    0, NULL);
	if (m->wan && !A.d->cfg.server)
		return agent_reply_json(req, A.index, json_null());
	if (m->wan) {
		json_t *arr = json_array();

		snprintf(wname, sizeof(wname), "%s.%s", A.g.m[0].name, A.dc);
		json_array_append_new(arr, agent_member_json(&A.g.m[0], wname,
		    (int)A.d->cfg.port_serf_wan));
		return agent_reply_json(req, A.index, arr);
	}
	if (other && A.d->cfg.server)
		return agent_reply(req, 500, "Network segments are not supported "
		    "in this version of Consul", 0, NULL);
	if (other) {
		snprintf(err, sizeof(err), "segment \"%.*s\" not found",
		    GD_NAME_MAX, seg);
		return agent_reply(req, 500, err, 0, NULL);
	}
	return agent_reply_json(req, A.index, agent_members_json());
}

/*
 * `consul info`'s serf_lan section, as serf's Stats() reports it: every
 * value a string.  Queued broadcasts are told apart by their serf message
 * type (3 user event, 4 query; the rest are intents).  Coordinates are not
 * kept, so coordinate_resets stays 0.
 */
static void
agent_stat(json_t *o, const char *key, unsigned long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", v);
	json_object_set_new(o, key, json_string(num));
}

static json_t *
agent_serf_stats(void)
{
	size_t failed = 0, left = 0, q[3] = { 0, 0, 0 };
	json_t *o = json_object();

	for (size_t i = 0; i < A.g.nm; i++) {
		failed += A.g.m[i].status == GD_FAILED;
		left += A.g.m[i].status == GD_LEFT;
	}
	for (size_t i = 0; i < A.g.serf_q.n; i++) {
		const struct bcast *b = &A.g.serf_q.v[i];
		/* memberlist's user-message byte, then serf's type */
		int t = b->len > 1 ? b->msg[1] : -1;
		q[t == 3 ? 1 : t == 4 ? 2 : 0]++;
	}
	agent_stat(o, "coordinate_resets", 0);
	json_object_set_new(o, "encrypted",
	    json_string(A.g.cfg.keyring.n > 0 ? "true" : "false"));
	agent_stat(o, "event_queue", q[1]);
	agent_stat(o, "event_time", A.g.event_clock);
	agent_stat(o, "failed", failed);
	agent_stat(o, "health_score", (unsigned long long)A.g.awareness);
	agent_stat(o, "intent_queue", q[0]);
	agent_stat(o, "left", left);
	agent_stat(o, "member_time", A.g.clock);
	agent_stat(o, "members", A.g.nm);
	agent_stat(o, "query_queue", q[2]);
	agent_stat(o, "query_time", A.g.query_clock);
	return o;
}

static json_t *
agent_events_json(const char *name)
{
	json_t *arr = json_array();
	size_t  n = A.g.nrecent < GD_RECENT ? A.g.nrecent : GD_RECENT;
	struct wire_cevent *ce = malloc(sizeof(*ce));

	if (ce == NULL)
		return arr;
	for (size_t i = A.g.nrecent - n; i < A.g.nrecent; i++) {
		const struct gd_event_rec *r = &A.g.recent[i % GD_RECENT];
		if (A.ev_accepted[i % GD_RECENT] != r->seq ||
		    !agent_event_view(r, ce))
			continue;
		if (name && name[0] && strcmp(name, ce->name) != 0)
			continue;
		json_array_append_new(arr, agent_event_json(ce, r->ltime));
	}
	free(ce);
	return arr;
}

static int
agent_fire(struct bus_req *req, const struct proto_gossip_event_fire *f)
{
	struct wire_cevent *ce = calloc(1, sizeof(*ce));
	struct gd_buf       b = { 0 };
	char                sname[GD_NAME_MAX];
	int                 rc;

	if (ce == NULL)
		return agent_reply(req, 500, "out of memory", 0, NULL);
	if (f->name == NULL || f->name[0] == 0) {
		rc = agent_reply(req, 400, "User event missing name", 0, NULL);
		goto out;
	}
	if (f->payload.len > 512 ||
	    strlen(f->name) + strlen(CEVENT_PREFIX) >= sizeof(sname)) {
		rc = agent_reply(req, 400, "User event exceeds size limit", 0,
		    NULL);
		goto out;
	}
	gossipd_uuid(ce->id, sizeof(ce->id));
	snprintf(ce->name, sizeof(ce->name), "%s", f->name);
	if (f->payload.len)
		memcpy(ce->payload, f->payload.ptr, f->payload.len);
	ce->payload_len = f->payload.len;
	snprintf(ce->nf, sizeof(ce->nf), "%s", f->node_filter ? f->node_filter : "");
	snprintf(ce->sf, sizeof(ce->sf), "%s", f->service_filter ? f->service_filter : "");
	snprintf(ce->tf, sizeof(ce->tf), "%s", f->tag_filter ? f->tag_filter : "");
	ce->version = 1;
	snprintf(sname, sizeof(sname), CEVENT_PREFIX "%s", f->name);
	if (wire_enc_cevent(&b, ce) != 0 || b.len > GD_PAYLOAD_MAX ||
	    serf_user_event(&A.g, sname, b.p, b.len, false) != 0) {
		rc = agent_reply(req, 500, "UserEvent encoding failed", 0, NULL);
		goto out;
	}
	rc = agent_reply_json(req, A.ev_index, agent_event_json(ce, 0));
out:
	wire_buf_free(&b);
	free(ce);
	return rc;
}

static void
agent_join_done(void *arg, int ok)
{
	struct bus_req *req = arg;
	char            buf[64];

	if (ok == 0) {
		agent_reply(req, 500,
		    "1 error occurred:\n\t* Failed to join: no address answered\n\n",
		    0, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "{\"joined\":%d}", ok);
	agent_reply(req, 200, NULL, 0, buf);
}

/* The reply goes out when every address has answered (or timed out). */
static int
agent_join(struct bus_req *req, const struct proto_gossip_join *j)
{
	struct gd_addr a[AGENT_MAX_JOIN];
	int            n = 0;

	if (j->wan)
		return agent_reply(req, 500, "WAN gossip is not supported", 0,
		    NULL);
	for (size_t i = 0; i < j->addrs.n && n < AGENT_MAX_JOIN; i++) {
		if (net_resolve(j->addrs.v[i],
			(uint16_t)A.d->cfg.port_serf_lan, &a[n]) != 0) {
			log_warnx("join: bad address %s", j->addrs.v[i]);
			continue;
		}
		if (a[n].port == 0)
			a[n].port = (uint16_t)A.d->cfg.port_serf_lan;
		n++;
	}
	if (n == 0 || serf_join_async(&A.g, a, n, agent_join_done, req) != 0)
		agent_join_done(req, 0);
	return 0;
}

static int
agent_dispatch(struct daemon *d, struct bus_req *req,
    const struct proto_env *env)
{
	int rc = 0;

	(void)d;
	switch (env->type) {
	case PROTO_GOSSIP_MEMBERS: {
		struct proto_gossip_members m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		rc = agent_members(req, &m);
		proto_free(env->type, &m);
		return rc;
	}
	case PROTO_GOSSIP_JOIN: {
		struct proto_gossip_join m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		rc = agent_join(req, &m);
		proto_free(env->type, &m);
		return rc;
	}
	case PROTO_GOSSIP_LEAVE:
		if (A.left)
			return agent_reply(req, 200, NULL, 0, NULL);
		if (A.leave_req) /* a resent request: answer the latest */
			bus_req_drop(A.leave_req);
		A.leave_req = req;
		if (!A.leaving) {
			log_info("graceful leave requested");
			A.leaving = true;
		}
		return 0;
	case PROTO_GOSSIP_FORCE_LEAVE: {
		struct proto_gossip_force_leave m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		if (m.node == NULL || serf_force_leave(&A.g, m.node, m.prune) != 0)
			rc = agent_reply(req, 404, "agent: No node found with name",
			    0, NULL);
		else
			rc = agent_reply(req, 200, NULL, 0, NULL);
		proto_free(env->type, &m);
		return rc;
	}
	case PROTO_GOSSIP_EVENT_FIRE: {
		struct proto_gossip_event_fire m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		rc = agent_fire(req, &m);
		proto_free(env->type, &m);
		return rc;
	}
	case PROTO_GOSSIP_STATS: {
		struct proto_gossip_stats m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		rc = m.wan ? agent_reply(req, 404, "no WAN pool", 0, NULL) :
		    agent_reply_json(req, A.index, agent_serf_stats());
		proto_free(env->type, &m);
		return rc;
	}
	case PROTO_GOSSIP_EVENT_LIST: {
		struct proto_gossip_event_list m;
		if (proto_unpack_body(env, &m) != 0)
			return agent_reply(req, 400, "bad request", 0, NULL);
		rc = agent_reply_json(req, A.ev_index ? A.ev_index : 1,
		    agent_events_json(m.name));
		proto_free(env->type, &m);
		return rc;
	}
	}
	return -1;
}

static void
agent_retry_done(void *arg, int ok)
{
	(void)arg;
	A.retry_inflight = false;
	A.next_retry = swim_now(&A.g) + (uint64_t)A.d->cfg.retry_interval_ms;
	if (ok > 0) {
		log_info("retry-join: joined %d", ok);
		A.retry_done = true;
	} else if (A.d->cfg.retry_max > 0 && ++A.retries >= A.d->cfg.retry_max) {
		log_warnx("retry-join: giving up after %d attempts", A.retries);
		A.retry_done = true;
	} else {
		log_info("retry-join: no answer, again in %lld ms",
		    (long long)A.d->cfg.retry_interval_ms);
	}
}

static void
agent_tick(void *arg)
{
	uint64_t now;

	(void)arg;
	if (!A.started)
		return;
	swim_tick(&A.g);
	net_tick(A.net);
	now = swim_now(&A.g);
	if (A.nretry && !A.retry_done && !A.retry_inflight && !A.leaving &&
	    now >= A.next_retry) {
		struct gd_addr a[AGENT_MAX_JOIN];
		int            n = 0;
		for (int i = 0; i < A.nretry; i++) {
			if (net_resolve(A.retry_s[i],
				(uint16_t)A.d->cfg.port_serf_lan, &a[n]) == 0)
				n++;
			else
				log_warnx("retry-join: cannot resolve %s",
				    A.retry_s[i]);
		}
		A.retry_inflight = true;
		if (n == 0 ||
		    serf_join_async(&A.g, a, n, agent_retry_done, NULL) != 0)
			agent_retry_done(NULL, 0);
	}
	if (A.leaving && !A.left && serf_leave_step(&A.g)) {
		A.left = true;
		log_info("left the cluster");
		if (A.leave_req) {
			agent_reply(A.leave_req, 200, NULL, 0, NULL);
			A.leave_req = NULL;
		}
	}
}

static void
agent_republish(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < A.g.nm; i++)
		agent_publish_member(&A.g.m[i]);
}

static void
agent_on_udp(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	(void)arg;
	net_rx_udp(A.net);
}

static void
agent_on_tcp(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	(void)arg;
	net_rx_tcp(A.net);
}

static void
agent_on_conn(int fd, short revents, void *arg)
{
	(void)arg;
	net_conn_event(A.net, fd, revents);
}

/* net's stream connections become loop fds while they live */
static void
agent_watch(void *ctx, int fd, short events)
{
	struct daemon *d = ctx;

	if (events)
		loop_add_fd(d->loop, fd, events, agent_on_conn, &A);
	else
		loop_del_fd(d->loop, fd);
}

static int
agent_addr(const char *s, uint16_t port, struct gd_addr *a)
{
	if (s == NULL || net_parse_addr(s, port, a) != 0)
		return -1;
	a->port = port;
	return 0;
}

static bool
addr_unspecified(const struct gd_addr *a)
{
	static const uint8_t zero[16];
	return a->len == 0 || memcmp(a->ip, zero, a->len) == 0;
}

static int
agent_init(struct daemon *d)
{
	const struct config *c = &d->cfg;
	struct gd_config     gc;
	struct gd_ops        ops;
	struct gd_addr       bind, adv, snap[64];
	struct gd_buf        tags = { 0 };
	uint16_t             port = (uint16_t)c->port_serf_lan;
	char                 err[256], a[80];
	int                  nsnap, kerr, rc = -1;

	A.d = d;
	d->priv = &A;
	memset(&gc, 0, sizeof(gc));
	if (c->dev)
		gd_config_fast(&gc);
	else
		gd_config_lan(&gc);
	if (c->reconnect_timeout_ms > 0)
		gc.reconnect_timeout = (uint64_t)c->reconnect_timeout_ms;
	if (c->node_name && c->node_name[0])
		snprintf(gc.name, sizeof(gc.name), "%s", c->node_name);
	else
		gethostname(gc.name, sizeof(gc.name) - 1);
	snprintf(A.dc, sizeof(A.dc), "%s", c->datacenter ? c->datacenter : "dc1");
	snprintf(A.node_id, sizeof(A.node_id), "%s", c->node_id ? c->node_id : "");
	if (agent_addr(c->bind_addr ? c->bind_addr : "0.0.0.0", port, &bind)) {
		log_warnx("bad bind address %s", c->bind_addr);
		goto out;
	}
	if (c->advertise_addr && c->advertise_addr[0]) {
		if (agent_addr(c->advertise_addr, port, &adv)) {
			log_warnx("bad advertise address %s", c->advertise_addr);
			goto out;
		}
	} else if (!addr_unspecified(&bind)) {
		adv = bind;
	} else if (net_default_addr(&adv) != 0) {
		log_warnx("no address to advertise: set -advertise");
		goto out;
	}
	adv.port = port;
	gc.advertise = adv;
	if (c->encrypt && c->encrypt[0] &&
	    (kerr = wire_keyring_add(&gc.keyring, c->encrypt)) != 0) {
		log_warnx("-encrypt: %s", kerr == WIRE_ENOCRYPTO ? wire_strerror(kerr) :
		    "not a base64 key of 16, 24 or 32 bytes");
		goto out;
	}
	if (c->data_dir && c->data_dir[0]) {
		snprintf(gc.keyring_path, sizeof(gc.keyring_path),
		    "%.380s/serf/local.keyring", c->data_dir);
		switch (serf_keyring_load(gc.keyring_path, &gc.keyring)) {
		case 0:
			if (c->encrypt && c->encrypt[0])
				log_info("using the keyring in %s; -encrypt "
				    "is ignored", gc.keyring_path);
			break;
		case -1:
			log_warnx("%s: unreadable keyring", gc.keyring_path);
			goto out;
		default:
			break;
		}
	}
	gc.crypt_verify_incoming = true;
	gc.delegate_cur = 4; /* Consul's serf protocol */
	if (agent_tags(&tags, c->server, A.dc, A.node_id, (int)c->bootstrap_expect,
		c->bootstrap) != 0 || tags.len > GD_META_MAX) {
		log_warnx("member tags too large");
		goto out;
	}
	memcpy(gc.meta, tags.p, tags.len);
	gc.meta_len = tags.len;
	if (c->data_dir && c->data_dir[0]) {
		char p[400];
		snprintf(p, sizeof(p), "%.380s/serf", c->data_dir);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			log_warn("mkdir %s", p);
		snprintf(gc.snapshot_path, sizeof(gc.snapshot_path),
		    "%s/local.snapshot", p);
	}
	wire_random(&gc.seed, sizeof(gc.seed));

	if ((A.net = net_open(&bind, err, sizeof(err))) == NULL) {
		log_warnx("bind %s: %s", net_addr_str(&bind, a, sizeof(a)), err);
		goto out;
	}
	net_ops(A.net, &ops);
	ops.member = agent_on_member;
	ops.user_event = agent_on_event;
	ops.up = &A;
	if (swim_init(&A.g, &gc, &ops) != 0)
		goto out;
	net_attach(A.net, &A.g);
	net_set_watch(A.net, agent_watch, d);
	loop_add_fd(d->loop, net_fd(A.net, false), POLLIN, agent_on_udp, &A);
	loop_add_fd(d->loop, net_fd(A.net, true), POLLIN, agent_on_tcp, &A);
	loop_add_timer(d->loop, 10, 1, agent_tick, &A);
	loop_add_timer(d->loop, 2000, 1, agent_republish, &A);
	log_info("serf LAN on %s as %s (%s profile%s)",
	    net_addr_str(&adv, a, sizeof(a)), gc.name, c->dev ? "fast" : "lan",
	    gc.keyring.n ? ", encrypted" : "");

	/* -join is the supervisor's: it sends gossip.join once every child
	 * is up, and stops the agent if nobody answers (control.c). */
	nsnap = serf_snapshot_load(&A.g, snap, 64);
	for (int i = 0; i < nsnap; i++)
		if (serf_join(&A.g, &snap[i], 1) > 0) {
			log_info("rejoined from snapshot via %s",
			    net_addr_str(&snap[i], a, sizeof(a)));
			break;
		}
	/* names are looked up at each attempt: DNS may come up after us */
	for (size_t i = 0; i < c->retry_join.n && A.nretry < AGENT_MAX_JOIN; i++)
		snprintf(A.retry_s[A.nretry++], sizeof(A.retry_s[0]), "%s",
		    c->retry_join.v[i]);
	A.next_retry = swim_now(&A.g);
	A.started = true;
	rc = 0;
out:
	wire_buf_free(&tags);
	return rc;
}

static void
agent_status(struct daemon *d, json_t *out)
{
	size_t alive = 0, failed = 0;

	(void)d;
	for (size_t i = 0; i < A.g.nm; i++) {
		alive += A.g.m[i].status == GD_ALIVE;
		failed += A.g.m[i].status == GD_FAILED;
	}
	json_object_set_new(out, "members", json_integer((json_int_t)A.g.nm));
	json_object_set_new(out, "alive", json_integer((json_int_t)alive));
	json_object_set_new(out, "failed", json_integer((json_int_t)failed));
	json_object_set_new(out, "health_score", json_integer(A.g.awareness));
	json_object_set_new(out, "rx_bad", json_integer((json_int_t)A.g.st.rx_bad));
	json_object_set_new(out, "rx_decrypt_failed",
	    json_integer((json_int_t)A.g.st.rx_crypt_fail));
	json_object_set_new(out, "name_conflicts",
	    json_integer((json_int_t)A.g.st.conflicts));
	json_object_set_new(out, "probes", json_integer((json_int_t)A.g.st.probes));
	json_object_set_new(out, "probes_failed",
	    json_integer((json_int_t)A.g.st.probe_fail));
	json_object_set_new(out, "refutes", json_integer((json_int_t)A.g.st.refutes));
	json_object_set_new(out, "encrypted", json_boolean(A.g.cfg.keyring.n > 0));
}

static void
agent_stop(struct daemon *d)
{
	if (A.started && d->cfg.leave_on_terminate && !A.left) {
		/* leave before exit, inside the supervisor's 4 s grace */
		uint64_t deadline = swim_now(&A.g) + 3000;
		log_info("leaving the cluster before exit");
		while (!serf_leave_step(&A.g) && swim_now(&A.g) < deadline) {
			swim_tick(&A.g);
			net_poll(A.net, 10, NULL, 0, NULL);
		}
	}
	if (A.leave_req) {
		bus_req_drop(A.leave_req);
		A.leave_req = NULL;
	}
	if (A.started)
		swim_free(&A.g);
	net_close(A.net);
	A.net = NULL;
	A.started = false;
}

static const struct daemon_ops agent_ops = {
	.name = "gossipd",
	.init = agent_init,
	.dispatch = agent_dispatch,
	.status = agent_status,
	.stop = agent_stop,
};

int
agent_main(int argc, char **argv)
{
	return daemon_main(&agent_ops, argc, argv);
}
