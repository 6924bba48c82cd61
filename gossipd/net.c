/*
 * net.c: the real transport behind struct gd_ops.  One UDP socket and one
 * TCP listener on the same address and port (memberlist's convention).
 *
 * TCP follows memberlist: one request frame and at most one reply per
 * connection.  Frames carry no outer length (except encrypted ones), so we
 * read until wire_stream_need() says the frame is complete, under a
 * deadline.  Incoming streams are served inline: each is one short
 * exchange on a LAN, and the deadline bounds a stalled peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gossipd.h"

#define NET_STREAM_TIMEOUT_MS 3000
#define NET_MAXCONN 64 /* memberlist serves at most 128 push/pulls */

struct net {
	int            udp, tcp;
	struct gd_addr bind;
	struct gd     *g;
	uint64_t       rx_streams;
	uint32_t       drop_pct, drop_rng; /* tests: simulated packet loss */
	struct nconn {
		int            fd, state;
		struct gd_buf  in;
		uint8_t       *out;
		size_t         outlen, outoff;
		uint64_t       deadline;
		struct gd_addr peer;
		void (*done)(void *arg, const uint8_t *reply, size_t len);
		void          *arg;
	} conn[NET_MAXCONN];
	void (*watch)(void *ctx, int fd, short events);
	void          *wctx;
};

enum { NC_FREE, NC_IN_READ, NC_IN_WRITE, NC_OUT_CONNECT, NC_OUT_WRITE,
	NC_OUT_READ };

void
net_set_drop(struct net *n, uint32_t pct, uint32_t seed)
{
	n->drop_pct = pct;
	n->drop_rng = seed | 1;
}

static uint64_t
net_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static socklen_t
to_sa(const struct gd_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->len == 16) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->ip, 16);
		s6->sin6_port = htons(a->port);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		if (a->len == 4)
			memcpy(&s4->sin_addr, a->ip, 4);
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	}
}

static void
from_sa(const struct sockaddr_storage *ss, struct gd_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		/* v4-mapped: memberlist normalises to 4 bytes */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
			a->len = 4;
		} else {
			memcpy(a->ip, &s6->sin6_addr, 16);
			a->len = 16;
		}
		a->port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		memcpy(a->ip, &s4->sin_addr, 4);
		a->len = 4;
		a->port = ntohs(s4->sin_port);
	}
}

int
net_parse_addr(const char *s, uint16_t defport, struct gd_addr *a)
{
	char        host[128];
	const char *port = NULL;
	size_t      hl;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (e == NULL || (size_t)(e - s - 1) >= sizeof(host))
			return -1;
		hl = (size_t)(e - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return -1;
	} else {
		const char *c = strrchr(s, ':');
		if (c && strchr(s, ':') != c)
			c = NULL; /* bare IPv6 literal: no port */
		hl = c ? (size_t)(c - s) : strlen(s);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		host[hl] = 0;
		if (c)
			port = c + 1;
	}
	if (inet_pton(AF_INET, host, a->ip) == 1)
		a->len = 4;
	else if (inet_pton(AF_INET6, host, a->ip) == 1)
		a->len = 16;
	else
		return -1;
	if (port) {
		char *end;
		long  v = strtol(port, &end, 10);
		if (*port == 0 || *end || v < 0 || v > 65535)
			return -1;
		a->port = (uint16_t)v;
	} else {
		a->port = defport;
	}
	return 0;
}

int
net_default_addr(struct gd_addr *a)
{
	struct ifaddrs *ifa, *i;
	int             rc = -1;

	if (getifaddrs(&ifa) != 0)
		return -1;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		memcpy(a->ip, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		a->len = 4;
		rc = 0;
		break;
	}
	freeifaddrs(ifa);
	return rc;
}

int
net_resolve(const char *s, uint16_t defport, struct gd_addr *a)
{
	char             host[256];
	const char      *c;
	size_t           hl;
	long             port = defport;
	struct addrinfo  hints, *res = NULL, *i;
	int              rc = -1;

	if (net_parse_addr(s, defport, a) == 0)
		return 0;
	/* a name, with an optional :port (no brackets: names have no colons) */
	c = strrchr(s, ':');
	hl = c ? (size_t)(c - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (c) {
		char *end;
		port = strtol(c + 1, &end, 10);
		if (c[1] == 0 || *end || port < 0 || port > 65535)
			return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	/* IPv4 first, like Consul's resolver for LAN joins */
	for (int pass = 0; pass < 2 && rc != 0; pass++) {
		for (i = res; i; i = i->ai_next) {
			if ((pass == 0) != (i->ai_family == AF_INET))
				continue;
			from_sa((const struct sockaddr_storage *)(void *)i->ai_addr, a);
			a->port = (uint16_t)port;
			rc = 0;
			break;
		}
	}
	freeaddrinfo(res);
	return rc;
}

const char *
net_addr_str(const struct gd_addr *a, char *buf, size_t len)
{
	char ip[64] = "?";

	if (a->len == 4)
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
	else if (a->len == 16)
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
	snprintf(buf, len, a->len == 16 ? "[%s]:%u" : "%s:%u", ip, a->port);
	return buf;
}

static void
net_send_udp(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n)
{
	struct net             *nt = ctx;
	struct sockaddr_storage ss;
	socklen_t               sl = to_sa(to, &ss);

	(void)sendto(nt->udp, p, n, 0, (struct sockaddr *)&ss, sl);
}

/* wait for fd until the deadline; 1 ready, 0 timeout, -1 error */
static int
net_wait(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, ev, 0 };
		uint64_t      now = net_now(NULL);
		int           r;
		if (now >= deadline)
			return 0;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r > 0;
	}
}

static int
net_write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && net_wait(fd, POLLOUT, deadline) == 1)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read one complete frame */
static int
net_read_frame(int fd, uint64_t deadline, uint8_t **out, size_t *outl)
{
	struct gd_buf b = { 0 };
	uint8_t       tmp[16384];
	size_t        need;

	for (;;) {
		ssize_t r;
		int     rc = b.len ? wire_stream_need(b.p, b.len, &need) :
				     WIRE_ETRUNC;
		if (rc == 0)
			break;
		if (rc != WIRE_ETRUNC || b.len > GD_STREAM_MAX)
			goto fail;
		r = recv(fd, tmp, sizeof(tmp), 0);
		if (r == 0)
			goto fail;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && net_wait(fd, POLLIN, deadline) == 1)
				continue;
			goto fail;
		}
		if (wire_buf_put(&b, tmp, (size_t)r))
			goto fail;
	}
	*out = b.p;
	*outl = need;
	return 0;
fail:
	wire_buf_free(&b);
	return -1;
}

/*
 * Outgoing streams leave from the bound address (not the port), so that
 * peers and firewalls see the same source as for our datagrams.
 */
static void
net_bind_source(const struct net *n, int fd)
{
	struct gd_addr          a = n->bind;
	struct sockaddr_storage ss;
	socklen_t               sl;
	static const uint8_t    zero[16];

	if (a.len == 0 || memcmp(a.ip, zero, a.len) == 0)
		return;
	a.port = 0;
	sl = to_sa(&a, &ss);
	(void)bind(fd, (struct sockaddr *)&ss, sl);
}

static int
net_stream(void *ctx, const struct gd_addr *to, const uint8_t *p, size_t n,
    uint8_t **reply, size_t *reply_len)
{
	struct net             *nt = ctx;
	struct sockaddr_storage ss;
	socklen_t               sl = to_sa(to, &ss);
	uint64_t                deadline = net_now(NULL) + NET_STREAM_TIMEOUT_MS;
	int                     fd, rc = -1, err = 0;
	socklen_t               el = sizeof(err);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	net_bind_source(nt, fd);
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		if (errno != EINPROGRESS || net_wait(fd, POLLOUT, deadline) != 1)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
			goto out;
	}
	if (net_write_all(fd, p, n, deadline) != 0)
		goto out;
	if (reply == NULL) {
		rc = 0;
		goto out;
	}
	rc = net_read_frame(fd, deadline, reply, reply_len);
out:
	close(fd);
	return rc;
}

static int net_stream_async(void *ctx, const struct gd_addr *to,
    const uint8_t *p, size_t len,
    void (*done)(void *arg, const uint8_t *reply, size_t rl), void *arg);

void
net_ops(struct net *n, struct gd_ops *ops)
{
	ops->now_ms = net_now;
	ops->send_udp = net_send_udp;
	ops->stream = net_stream;
	ops->stream_async = net_stream_async;
	ops->ctx = n;
}

void
net_attach(struct net *n, struct gd *g)
{
	n->g = g;
}

struct net *
net_open(const struct gd_addr *ba, char *err, size_t errlen)
{
	struct net             *n = calloc(1, sizeof(*n));
	struct sockaddr_storage ss;
	socklen_t               sl = to_sa(ba, &ss);
	int                     one = 1, sz = 4 << 20;

	if (n == NULL)
		return NULL;
	n->bind = *ba;
	n->udp = n->tcp = -1;
	for (int i = 0; i < NET_MAXCONN; i++)
		n->conn[i].fd = -1;
	n->udp = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	n->tcp = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->udp < 0 || n->tcp < 0)
		goto fail;
	setsockopt(n->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(n->udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(n->udp, (struct sockaddr *)&ss, sl) != 0 ||
	    bind(n->tcp, (struct sockaddr *)&ss, sl) != 0 ||
	    listen(n->tcp, 128) != 0)
		goto fail;
	return n;
fail:
	snprintf(err, errlen, "%s", strerror(errno));
	net_close(n);
	return NULL;
}

void
net_close(struct net *n)
{
	if (n == NULL)
		return;
	for (int i = 0; i < NET_MAXCONN; i++) {
		struct nconn *c = &n->conn[i];
		if (c->state == NC_FREE)
			continue;
		close(c->fd);
		wire_buf_free(&c->in);
		free(c->out);
	}
	if (n->udp >= 0)
		close(n->udp);
	if (n->tcp >= 0)
		close(n->tcp);
	free(n);
}

/* ---- non-blocking stream connections -------------------------------- */

static struct nconn *
conn_alloc(struct net *n)
{
	for (int i = 0; i < NET_MAXCONN; i++) {
		if (n->conn[i].state == NC_FREE) {
			struct nconn *c = &n->conn[i];
			memset(c, 0, sizeof(*c));
			c->fd = -1;
			return c;
		}
	}
	return NULL;
}

static void
conn_watch(struct net *n, struct nconn *c, short ev)
{
	if (n->watch)
		n->watch(n->wctx, c->fd, ev);
}

/* Free the slot first: done() may start another exchange. */
static void
conn_close(struct net *n, struct nconn *c, bool failed)
{
	void (*done)(void *, const uint8_t *, size_t) = c->done;
	void *arg = c->arg;

	conn_watch(n, c, 0);
	close(c->fd);
	wire_buf_free(&c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = NC_FREE;
	if (failed && done)
		done(arg, NULL, 0);
}

static short
conn_events(const struct nconn *c)
{
	switch (c->state) {
	case NC_OUT_CONNECT:
	case NC_OUT_WRITE:
	case NC_IN_WRITE:
		return POLLOUT;
	case NC_IN_READ:
	case NC_OUT_READ:
		return POLLIN;
	}
	return 0;
}

static void
conn_step(struct net *n, struct nconn *c)
{
	for (;;) {
		switch (c->state) {
		case NC_OUT_CONNECT: {
			int       err = 0;
			socklen_t el = sizeof(err);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
			    err) {
				conn_close(n, c, true);
				return;
			}
			c->state = NC_OUT_WRITE;
			continue;
		}
		case NC_OUT_WRITE:
		case NC_IN_WRITE:
			while (c->outoff < c->outlen) {
				ssize_t w = send(c->fd, c->out + c->outoff,
				    c->outlen - c->outoff, MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0 && errno == EAGAIN) {
					conn_watch(n, c, POLLOUT);
					return;
				}
				if (w < 0) {
					conn_close(n, c, true);
					return;
				}
				c->outoff += (size_t)w;
			}
			if (c->state == NC_IN_WRITE) {
				conn_close(n, c, false);
				return;
			}
			free(c->out);
			c->out = NULL;
			if (c->done == NULL) { /* no reply awaited */
				conn_close(n, c, false);
				return;
			}
			c->state = NC_OUT_READ;
			conn_watch(n, c, POLLIN);
			continue;
		case NC_IN_READ:
		case NC_OUT_READ: {
			uint8_t tmp[16384];
			size_t  need = 0;
			int     rc;
			for (;;) {
				ssize_t r = recv(c->fd, tmp, sizeof(tmp), 0);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0 || wire_buf_put(&c->in, tmp, (size_t)r) ||
				    c->in.len > GD_STREAM_MAX) {
					conn_close(n, c, true);
					return;
				}
				if (wire_stream_need(c->in.p, c->in.len, &need) !=
				    WIRE_ETRUNC)
					break;
			}
			rc = c->in.len ? wire_stream_need(c->in.p, c->in.len,
					     &need) : WIRE_ETRUNC;
			if (rc == WIRE_ETRUNC) {
				conn_watch(n, c, POLLIN);
				return;
			}
			if (rc != 0) {
				conn_close(n, c, true);
				return;
			}
			if (c->state == NC_OUT_READ) {
				void (*done)(void *, const uint8_t *, size_t) =
				    c->done;
				c->done = NULL;
				done(c->arg, c->in.p, need);
				conn_close(n, c, false);
				return;
			}
			/* a request: answer it on the same connection */
			{
				uint8_t *rep = NULL;
				size_t   rl = 0;
				n->rx_streams++;
				swim_recv_stream(n->g, &c->peer, c->in.p, need,
				    &rep, &rl);
				if (rep == NULL) {
					conn_close(n, c, false);
					return;
				}
				c->out = rep;
				c->outlen = rl;
				c->outoff = 0;
				c->state = NC_IN_WRITE;
			}
			continue;
		}
		default:
			return;
		}
	}
}

void
net_conn_event(struct net *n, int fd, short revents)
{
	(void)revents;
	for (int i = 0; i < NET_MAXCONN; i++)
		if (n->conn[i].state != NC_FREE && n->conn[i].fd == fd) {
			conn_step(n, &n->conn[i]);
			return;
		}
}

void
net_tick(struct net *n)
{
	uint64_t now = net_now(NULL);

	for (int i = 0; i < NET_MAXCONN; i++)
		if (n->conn[i].state != NC_FREE && now >= n->conn[i].deadline)
			conn_close(n, &n->conn[i], true);
}

void
net_set_watch(struct net *n, void (*watch)(void *ctx, int fd, short events),
    void *ctx)
{
	n->watch = watch;
	n->wctx = ctx;
}

static int
net_stream_async(void *ctx, const struct gd_addr *to, const uint8_t *p,
    size_t len, void (*done)(void *arg, const uint8_t *reply, size_t rl),
    void *arg)
{
	struct net             *n = ctx;
	struct nconn           *c = conn_alloc(n);
	struct sockaddr_storage ss;
	socklen_t               sl = to_sa(to, &ss);

	if (c == NULL || (c->out = malloc(len ? len : 1)) == NULL)
		return -1;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c->out);
		c->out = NULL;
		return -1;
	}
	net_bind_source(n, c->fd);
	memcpy(c->out, p, len);
	c->outlen = len;
	c->peer = *to;
	c->done = done;
	c->arg = arg;
	c->deadline = net_now(NULL) + NET_STREAM_TIMEOUT_MS;
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0) {
		c->state = NC_OUT_WRITE;
	} else if (errno == EINPROGRESS) {
		c->state = NC_OUT_CONNECT;
		conn_watch(n, c, POLLOUT);
		return 0;
	} else {
		/* refused at once: fail later, from the loop, like the rest */
		c->state = NC_OUT_CONNECT;
		c->deadline = 0;
		return 0;
	}
	conn_step(n, c);
	return 0;
}

int
net_fd(const struct net *n, bool tcp)
{
	return tcp ? n->tcp : n->udp;
}

void
net_rx_udp(struct net *n)
{
	static uint8_t buf[65536];

	for (int k = 0; k < 256; k++) {
		struct sockaddr_storage ss;
		socklen_t               sl = sizeof(ss);
		struct gd_addr          from;
		ssize_t got = recvfrom(n->udp, buf, sizeof(buf), 0,
		    (struct sockaddr *)&ss, &sl);
		if (got < 0)
			break;
		if (n->drop_pct) {
			n->drop_rng = n->drop_rng * 1103515245u + 12345u;
			if ((n->drop_rng >> 8) % 100 < n->drop_pct)
				continue;
		}
		from_sa(&ss, &from);
		swim_recv_udp(n->g, &from, buf, (size_t)got);
	}
}

void
net_rx_tcp(struct net *n)
{
	for (int k = 0; k < 16; k++) {
		struct sockaddr_storage ss;
		socklen_t               sl = sizeof(ss);
		struct nconn           *c;
		int fd = accept4(n->tcp, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if ((c = conn_alloc(n)) == NULL) {
			close(fd); /* busy: the peer retries later */
			continue;
		}
		c->fd = fd;
		from_sa(&ss, &c->peer);
		c->state = NC_IN_READ;
		c->deadline = net_now(NULL) + NET_STREAM_TIMEOUT_MS;
		conn_watch(n, c, POLLIN);
		conn_step(n, c);
	}
}

int
net_poll(struct net *n, int ms, const int *extra_fds, int nextra,
    short *extra_revents)
{
	struct pollfd pfd[2 + 8 + NET_MAXCONN];
	int           cfd[NET_MAXCONN];
	int           np = 2, ne, nc = 0, r;

	pfd[0] = (struct pollfd){ n->udp, POLLIN, 0 };
	pfd[1] = (struct pollfd){ n->tcp, POLLIN, 0 };
	for (int i = 0; i < nextra && i < 8; i++)
		pfd[np++] = (struct pollfd){ extra_fds[i], POLLIN, 0 };
	ne = np;
	for (int i = 0; i < NET_MAXCONN; i++) {
		if (n->conn[i].state == NC_FREE)
			continue;
		if (n->conn[i].deadline == 0) {
			ms = 0; /* a failed connect to report */
			continue;
		}
		cfd[nc++] = n->conn[i].fd;
		pfd[np++] = (struct pollfd){ n->conn[i].fd,
			conn_events(&n->conn[i]), 0 };
	}
	r = poll(pfd, (nfds_t)np, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < nextra && i < 8; i++)
		extra_revents[i] = pfd[i + 2].revents;
	if (pfd[0].revents & POLLIN)
		net_rx_udp(n);
	if (pfd[1].revents & POLLIN)
		net_rx_tcp(n);
	for (int i = 0; i < nc; i++)
		if (pfd[ne + i].revents)
			net_conn_event(n, cfd[i], pfd[ne + i].revents);
	net_tick(n);
	return r;
}
