/*
 * dnsd's sockets: UDP and TCP on every client address, port 8600.
 *
 * Single thread, non-blocking everywhere.  A UDP socket is drained up to
 * SERVER_UDP_BATCH datagrams per wake-up, so TCP and other sockets get
 * their turn under load.  A TCP connection carries length-prefixed
 * queries (RFC 1035 §4.2.2, pipelining allowed, RFC 7766); its responses
 * queue in an output buffer written as the socket allows, and a connection
 * idle for SERVER_TCP_IDLE_MS is closed.
 *
 * Names outside the domain go to the recursors (answer_query says
 * ANSWER_FORWARD): the query is sent over UDP with a fresh ID to the first
 * recursor; a timeout moves it to the next; when all have failed the
 * client gets SERVFAIL.  The reply's ID is put back before it is relayed.
 *
 * The fds are exposed (server_pollfds / server_readable / server_writable
 * / server_tick) so that any loop can drive them: server_run() is a plain
 * poll() loop for the standalone mode and for main().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dnsd.h"

#define SERVER_UDP_BATCH 64
#define SERVER_MMSG 32
#define SERVER_UDP_QMAX 4096
#define SERVER_TCP_IDLE_MS 10000
#define SERVER_TCP_OUT_MAX (1 << 20)
#define SERVER_BUF 65535

static uint8_t server_rbuf[SERVER_BUF + 2];

uint64_t
server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void server_pending_free(struct dnsd *d, struct server_pending *p);

static void
server_watch(struct dnsd *d, int fd, short events)
{
	if (d->watch != NULL && fd >= 0)
		d->watch(d, fd, events);
}

/* Watches POLLOUT only while output waits, so an idle loop sleeps. */
static void
server_tcp_rewatch(struct dnsd *d, struct server_tcp *c)
{
	bool want = c->outoff < c->outlen;

	if (want != c->want_out) {
		c->want_out = want;
		server_watch(d, c->fd, (short)(POLLIN | (want ? POLLOUT : 0)));
	}
}

static int
server_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

static int
server_socket(const struct sockaddr_storage *ss, socklen_t len, int type)
{
	int fd, one = 1;

	if ((fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "::" binds IPv6 only, so that "0.0.0.0 ::" can both be listed. */
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) != 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
server_open(struct dnsd *d)
{
	for (size_t i = 0; i < d->conf.nclient_addr; i++) {
		struct sockaddr_storage ss;
		socklen_t               len;
		int                     u, t;

		if (server_sockaddr(d->conf.client_addr[i], d->conf.port, &ss,
		    &len) != 0) {
			fprintf(stderr, "dnsd: client_addr %s: not an IP "
			    "address\n", d->conf.client_addr[i]);
			return -1;
		}
		if ((u = server_socket(&ss, len, SOCK_DGRAM)) < 0 ||
		    (t = server_socket(&ss, len, SOCK_STREAM)) < 0) {
			fprintf(stderr, "dnsd: bind %s port %u: %s\n",
			    d->conf.client_addr[i], d->conf.port,
			    strerror(errno));
			if (u >= 0)
				close(u);
			return -1;
		}
		d->udp[d->nudp++] = u;
		d->tcp_listen[d->ntcp_listen++] = t;
		server_watch(d, u, POLLIN);
		server_watch(d, t, POLLIN);
	}
	if (d->conf.nrecursors > 0) {
		d->fwd_fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		d->fwd_fd[1] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		server_watch(d, d->fwd_fd[0], POLLIN);
		server_watch(d, d->fwd_fd[1], POLLIN);
	}
	return 0;
}

static void
server_tcp_drop(struct dnsd *d, size_t i)
{
	struct server_tcp *c = &d->tcp[i];

	server_watch(d, c->fd, 0);
	close(c->fd);
	free(c->in);
	free(c->out);
	d->tcp[i] = d->tcp[--d->ntcp];
}

void
server_close(struct dnsd *d)
{
	for (size_t i = 0; i < d->nudp; i++) {
		server_watch(d, d->udp[i], 0);
		close(d->udp[i]);
	}
	for (size_t i = 0; i < d->ntcp_listen; i++) {
		server_watch(d, d->tcp_listen[i], 0);
		close(d->tcp_listen[i]);
	}
	while (d->ntcp > 0)
		server_tcp_drop(d, d->ntcp - 1);
	for (size_t i = 0; i < 2; i++)
		if (d->fwd_fd[i] >= 0) {
			server_watch(d, d->fwd_fd[i], 0);
			close(d->fwd_fd[i]);
		}
	for (size_t i = 0; i < SERVER_MAX_PENDING; i++)
		if (d->pending[i].used)
			server_pending_free(d, &d->pending[i]);
	d->nudp = d->ntcp_listen = 0;
	d->fwd_fd[0] = d->fwd_fd[1] = -1;
}

/* --- forwarding ---------------------------------------------------------- */

static void
server_reply(struct dnsd *d, int fd, bool tcp, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *resp, size_t len);

static void
server_up_close(struct dnsd *d, struct server_pending *p)
{
	if (p->up_fd >= 0) {
		server_watch(d, p->up_fd, 0);
		close(p->up_fd);
	}
	p->up_fd = -1;
	p->up_sent = false;
	p->up_off = 0;
	p->resplen = 0;
}

static void
server_pending_free(struct dnsd *d, struct server_pending *p)
{
	server_up_close(d, p);
	free(p->qbuf);
	free(p->resp);
	memset(p, 0, sizeof(*p));
	p->up_fd = -1;
}

/* Sends p to its current recursor: a datagram, or a TCP connect whose
 * completion server_writable() sees.  0 or -1. */
static int
server_fwd_send(struct dnsd *d, struct server_pending *p)
{
	const struct sockaddr_storage *r = &d->conf.recursor[p->recursor];
	socklen_t rl = d->conf.recursor_len[p->recursor];
	int       fd;

	p->query[0] = (uint8_t)(p->our_id >> 8);
	p->query[1] = (uint8_t)p->our_id;
	p->deadline_ms = server_now_ms() + d->conf.recursor_timeout_ms;
	server_up_close(d, p);
	if (!p->tcp) {
		fd = d->fwd_fd[r->ss_family == AF_INET ? 0 : 1];
		if (fd < 0)
			return -1;
		return sendto(fd, p->query, p->qlen, 0,
		    (const struct sockaddr *)r, rl) < 0 ? -1 : 0;
	}
	fd = socket(r->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)r, rl) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	p->up_fd = fd;
	server_watch(d, fd, POLLOUT);
	return 0;
}

static void
server_fwd_fail(struct dnsd *d, struct server_pending *p)
{
	int n = answer_servfail(d, p->query, p->qlen, server_rbuf + 2,
	    SERVER_BUF);

	if (n > 0) {
		server_rbuf[2] = (uint8_t)(p->client_id >> 8);
		server_rbuf[3] = (uint8_t)p->client_id;
		server_reply(d, p->client_fd, p->tcp,
		    (const struct sockaddr *)&p->from, p->fromlen,
		    server_rbuf + 2, (size_t)n);
	}
	server_pending_free(d, p);
}

/* The next recursor that takes the query, in order from where this query
 * started (the first one, or a random one under recursor_strategy
 * "random"), each at most once; then SERVFAIL. */
static void
server_fwd_next(struct dnsd *d, struct server_pending *p)
{
	for (;;) {
		if (++p->tries >= d->conf.nrecursors) {
			server_fwd_fail(d, p);
			return;
		}
		p->recursor = (p->recursor + 1) % d->conf.nrecursors;
		if (server_fwd_send(d, p) == 0)
			return;
	}
}

static void
server_fwd_relay(struct dnsd *d, struct server_pending *p, uint8_t *resp,
    size_t len)
{
	resp[0] = (uint8_t)(p->client_id >> 8);
	resp[1] = (uint8_t)p->client_id;
	server_reply(d, p->client_fd, p->tcp,
	    (const struct sockaddr *)&p->from, p->fromlen, resp, len);
	server_pending_free(d, p);
}

static void
server_forward(struct dnsd *d, int fd, bool tcp, const struct sockaddr *from,
    socklen_t fromlen, const uint8_t *q, size_t len)
{
	struct server_pending *p = NULL;

	for (size_t i = 0; i < SERVER_MAX_PENDING; i++)
		if (!d->pending[i].used) {
			p = &d->pending[i];
			break;
		}
	if (p == NULL || (p->qbuf = malloc(len + 2)) == NULL) {
		d->stats_dropped++;
		return;
	}
	p->up_fd = -1;
	p->qbuf[0] = (uint8_t)(len >> 8);
	p->qbuf[1] = (uint8_t)len;
	p->query = p->qbuf + 2;
	memcpy(p->query, q, len);
	p->used = true;
	p->qlen = len;
	p->client_id = (uint16_t)(q[0] << 8 | q[1]);
	/* A fresh, hard-to-guess ID per upstream query (RFC 5452). */
	p->our_id = (uint16_t)(d->next_fwd_id++ ^ (uint16_t)(answer_rand(d) >> 48));
	p->client_fd = fd;
	p->tcp = tcp;
	if (from != NULL && fromlen <= sizeof(p->from)) {
		memcpy(&p->from, from, fromlen);
		p->fromlen = fromlen;
	}
	p->tries = 0;
	p->recursor = d->conf.recursor_random ?
	    (size_t)(answer_rand(d) >> 33) % d->conf.nrecursors : 0;
	d->stats_forwarded++;
	if (server_fwd_send(d, p) != 0)
		server_fwd_next(d, p);
}

static void
server_fwd_reply(struct dnsd *d, int fd)
{
	for (int n = 0; n < SERVER_UDP_BATCH; n++) {
		struct sockaddr_storage from;
		socklen_t               fl = sizeof(from);
		ssize_t                 r;
		uint16_t                id;

		r = recvfrom(fd, server_rbuf + 2, SERVER_BUF, 0,
		    (struct sockaddr *)&from, &fl);
		if (r < 0)
			return;
		if (r < 12)
			continue;
		id = (uint16_t)(server_rbuf[2] << 8 | server_rbuf[3]);
		for (size_t i = 0; i < SERVER_MAX_PENDING; i++) {
			struct server_pending *p = &d->pending[i];
			const struct sockaddr_storage *rs;

			if (!p->used || p->tcp || p->our_id != id)
				continue;
			/* Only the recursor we asked may answer. */
			rs = &d->conf.recursor[p->recursor];
			if (fl != d->conf.recursor_len[p->recursor] ||
			    memcmp(&from, rs, fl) != 0)
				break;
			server_fwd_relay(d, p, server_rbuf + 2, (size_t)r);
			break;
		}
	}
}

static struct server_pending *
server_up_find(struct dnsd *d, int fd)
{
	for (size_t i = 0; i < SERVER_MAX_PENDING; i++)
		if (d->pending[i].used && d->pending[i].up_fd == fd)
			return &d->pending[i];
	return NULL;
}

/* The upstream TCP connection is writable: send the query, then read. */
static void
server_up_write(struct dnsd *d, struct server_pending *p)
{
	while (p->up_off < p->qlen + 2) {
		ssize_t w = send(p->up_fd, p->qbuf + p->up_off,
		    p->qlen + 2 - p->up_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			server_fwd_next(d, p);
			return;
		}
		p->up_off += (size_t)w;
	}
	p->up_sent = true;
	server_watch(d, p->up_fd, POLLIN);
}

static void
server_up_read(struct dnsd *d, struct server_pending *p)
{
	if (p->resp == NULL && (p->resp = malloc(SERVER_BUF + 2)) == NULL) {
		server_fwd_fail(d, p);
		return;
	}
	for (;;) {
		ssize_t r = recv(p->up_fd, p->resp + p->resplen,
		    SERVER_BUF + 2 - p->resplen, 0);
		size_t  want;

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			server_fwd_next(d, p);
			return;
		}
		p->resplen += (size_t)r;
		if (p->resplen < 2)
			continue;
		want = (size_t)(p->resp[0] << 8 | p->resp[1]);
		if (p->resplen < want + 2)
			continue;
		if (want < 12 || (p->resp[2] << 8 | p->resp[3]) != p->our_id) {
			server_fwd_next(d, p);
			return;
		}
		server_fwd_relay(d, p, p->resp + 2, want);
		return;
	}
}

/* --- UDP ------------------------------------------------------------------ */

/*
 * Datagrams in batches: one recvmmsg takes up to SERVER_MMSG queries, the
 * answers leave in one sendmmsg.  Answering costs well under a
 * microsecond (answer.c), so the system calls are the cost; batching them
 * is what keeps up under load.  A query that did not fit its buffer
 * (MSG_TRUNC) is dropped: no DNS query is that big.
 */
static void
server_udp(struct dnsd *d, int fd)
{
	static uint8_t          q[SERVER_MMSG][SERVER_UDP_QMAX];
	static uint8_t          r[SERVER_MMSG][SERVER_BUF];
	struct mmsghdr          in[SERVER_MMSG], out[SERVER_MMSG];
	struct iovec            qiov[SERVER_MMSG], riov[SERVER_MMSG];
	struct sockaddr_storage from[SERVER_MMSG];

	for (int round = 0; round < SERVER_UDP_BATCH / SERVER_MMSG; round++) {
		int n, nout = 0, sent = 0;

		memset(in, 0, sizeof(in));
		for (int i = 0; i < SERVER_MMSG; i++) {
			qiov[i].iov_base = q[i];
			qiov[i].iov_len = sizeof(q[i]);
			in[i].msg_hdr.msg_iov = &qiov[i];
			in[i].msg_hdr.msg_iovlen = 1;
			in[i].msg_hdr.msg_name = &from[i];
			in[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, in, SERVER_MMSG, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &in[i].msg_hdr;
			int            a;

			d->stats_queries++;
			if (h->msg_flags & MSG_TRUNC) {
				d->stats_dropped++;
				continue;
			}
			a = answer_query(d, q[i], in[i].msg_len, false, r[i],
			    SERVER_BUF);
			if (a > 0) {
				riov[nout].iov_base = r[i];
				riov[nout].iov_len = (size_t)a;
				memset(&out[nout], 0, sizeof(out[nout]));
				out[nout].msg_hdr.msg_iov = &riov[nout];
				out[nout].msg_hdr.msg_iovlen = 1;
				out[nout].msg_hdr.msg_name = &from[i];
				out[nout].msg_hdr.msg_namelen = h->msg_namelen;
				nout++;
			} else if (a == ANSWER_FORWARD) {
				server_forward(d, fd, false,
				    (struct sockaddr *)&from[i], h->msg_namelen,
				    q[i], in[i].msg_len);
			} else {
				d->stats_dropped++;
			}
		}
		while (sent < nout) {
			int k = sendmmsg(fd, out + sent, (unsigned)(nout - sent),
			    MSG_DONTWAIT);
			if (k <= 0) {
				/* A full socket buffer or an unreachable
				 * peer: skip that one, as sendto would. */
				sent++;
				d->stats_dropped++;
				continue;
			}
			sent += k;
		}
		if (n < SERVER_MMSG)
			return;
	}
}

/* --- TCP ------------------------------------------------------------------ */

static struct server_tcp *
server_tcp_find(struct dnsd *d, int fd, size_t *idx)
{
	for (size_t i = 0; i < d->ntcp; i++)
		if (d->tcp[i].fd == fd) {
			if (idx != NULL)
				*idx = i;
			return &d->tcp[i];
		}
	return NULL;
}

static int
server_tcp_queue(struct server_tcp *c, const uint8_t *resp, size_t len)
{
	uint8_t *no;

	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + len + 2 > SERVER_TCP_OUT_MAX)
		return -1; /* a client that reads nothing */
	if ((no = realloc(c->out, c->outlen + len + 2)) == NULL)
		return -1;
	c->out = no;
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, resp, len);
	c->outlen += len + 2;
	return 0;
}

/* Writes what the socket takes; -1 when the connection is dead. */
static int
server_tcp_flush(struct server_tcp *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff,
		    c->outlen - c->outoff, MSG_NOSIGNAL);
		if (w < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		c->outoff += (size_t)w;
	}
	return 0;
}

static void
server_reply(struct dnsd *d, int fd, bool tcp, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *resp, size_t len)
{
	struct server_tcp *c;
	size_t             idx;

	if (!tcp) {
		(void)sendto(fd, resp, len, 0, to, tolen);
		return;
	}
	/* The connection may be gone by the time a recursor answers.  A
	 * failure only shuts it down: a caller may be holding its slot, so
	 * the read path notices and drops it. */
	if ((c = server_tcp_find(d, fd, &idx)) == NULL)
		return;
	if (server_tcp_queue(c, resp, len) != 0 || server_tcp_flush(c) != 0)
		shutdown(c->fd, SHUT_RDWR);
	else
		server_tcp_rewatch(d, c);
}

static void
server_accept(struct dnsd *d, int lfd)
{
	for (;;) {
		int                fd = accept4(lfd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct server_tcp *c;

		if (fd < 0)
			return;
		if (d->ntcp >= SERVER_MAX_TCP) {
			close(fd);
			d->stats_dropped++;
			continue;
		}
		c = &d->tcp[d->ntcp++];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->deadline_ms = server_now_ms() + SERVER_TCP_IDLE_MS;
		server_watch(d, fd, POLLIN);
	}
}

/* Answers every complete query in c->in; -1 to drop the connection. */
static int
server_tcp_answer(struct dnsd *d, struct server_tcp *c)
{
	size_t off = 0;

	while (c->inlen - off >= 2) {
		size_t ql = (size_t)(c->in[off] << 8 | c->in[off + 1]);
		int    a;

		if (c->inlen - off - 2 < ql)
			break;
		d->stats_queries++;
		a = answer_query(d, c->in + off + 2, ql, true, server_rbuf,
		    SERVER_BUF);
		if (a > 0 && server_tcp_queue(c, server_rbuf, (size_t)a) != 0)
			return -1;
		if (a == ANSWER_FORWARD)
			server_forward(d, c->fd, true, NULL, 0,
			    c->in + off + 2, ql);
		else if (a == ANSWER_DROP)
			return -1; /* nothing sensible to say: hang up */
		off += 2 + ql;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 0;
}

static void
server_tcp_read(struct dnsd *d, size_t idx)
{
	struct server_tcp *c = &d->tcp[idx];

	if (c->in == NULL && (c->in = malloc(SERVER_BUF + 2)) == NULL) {
		server_tcp_drop(d, idx);
		return;
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->in + c->inlen,
		    SERVER_BUF + 2 - c->inlen, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			server_tcp_drop(d, idx);
			return;
		}
		if (r < 0)
			break;
		c->inlen += (size_t)r;
		c->deadline_ms = server_now_ms() + SERVER_TCP_IDLE_MS;
		if (server_tcp_answer(d, c) != 0) {
			server_tcp_drop(d, idx);
			return;
		}
	}
	if (server_tcp_flush(c) != 0)
		server_tcp_drop(d, idx);
	else
		server_tcp_rewatch(d, c);
}

/* --- the loop's interface ------------------------------------------------- */

void
server_readable(struct dnsd *d, int fd)
{
	size_t                 idx;
	struct server_pending *p;

	for (size_t i = 0; i < d->nudp; i++)
		if (d->udp[i] == fd) {
			server_udp(d, fd);
			return;
		}
	for (size_t i = 0; i < d->ntcp_listen; i++)
		if (d->tcp_listen[i] == fd) {
			server_accept(d, fd);
			return;
		}
	if (fd == d->fwd_fd[0] || fd == d->fwd_fd[1]) {
		server_fwd_reply(d, fd);
		return;
	}
	if (server_tcp_find(d, fd, &idx) != NULL) {
		server_tcp_read(d, idx);
		return;
	}
	if ((p = server_up_find(d, fd)) != NULL) {
		if (p->up_sent)
			server_up_read(d, p);
		else
			server_up_write(d, p);
	}
}

void
server_writable(struct dnsd *d, int fd)
{
	size_t                 idx;
	struct server_tcp     *c = server_tcp_find(d, fd, &idx);
	struct server_pending *p;

	if (c == NULL) {
		if ((p = server_up_find(d, fd)) != NULL && !p->up_sent)
			server_up_write(d, p);
		return;
	}
	if (server_tcp_flush(c) != 0)
		server_tcp_drop(d, idx);
	else
		server_tcp_rewatch(d, c);
}

void
server_tick(struct dnsd *d, uint64_t now_ms)
{
	for (size_t i = d->ntcp; i > 0; i--)
		if (d->tcp[i - 1].deadline_ms <= now_ms)
			server_tcp_drop(d, i - 1);
	for (size_t i = 0; i < SERVER_MAX_PENDING; i++) {
		struct server_pending *p = &d->pending[i];

		if (p->used && p->deadline_ms <= now_ms)
			server_fwd_next(d, p);
	}
}

size_t
server_pollfds(struct dnsd *d, struct pollfd *pfd, size_t max)
{
	size_t n = 0;

#define SERVER_ADD(f, ev) do {                                          \
	if (n < max && (f) >= 0) {                                      \
		pfd[n].fd = (f);                                        \
		pfd[n].events = (short)(ev);                            \
		pfd[n++].revents = 0;                                   \
	}                                                               \
} while (0)
	for (size_t i = 0; i < d->nudp; i++)
		SERVER_ADD(d->udp[i], POLLIN);
	for (size_t i = 0; i < d->ntcp_listen; i++)
		SERVER_ADD(d->tcp_listen[i], POLLIN);
	SERVER_ADD(d->fwd_fd[0], POLLIN);
	SERVER_ADD(d->fwd_fd[1], POLLIN);
	for (size_t i = 0; i < d->ntcp; i++)
		SERVER_ADD(d->tcp[i].fd, POLLIN |
		    (d->tcp[i].outoff < d->tcp[i].outlen ? POLLOUT : 0));
	for (size_t i = 0; i < SERVER_MAX_PENDING; i++)
		if (d->pending[i].used && d->pending[i].up_fd >= 0)
			SERVER_ADD(d->pending[i].up_fd,
			    d->pending[i].up_sent ? POLLIN : POLLOUT);
#undef SERVER_ADD
	return n;
}

int
server_run(struct dnsd *d, volatile sig_atomic_t *stop)
{
	struct pollfd pfd[2 * SERVER_MAX_SOCKS + 2 + SERVER_MAX_TCP +
	    SERVER_MAX_PENDING];

	while (!*stop) {
		size_t n = server_pollfds(d, pfd, sizeof(pfd) / sizeof(pfd[0]));
		int    r = poll(pfd, n, 100);

		if (r < 0 && errno != EINTR)
			return -1;
		for (size_t i = 0; r > 0 && i < n; i++) {
			/* Handlers may drop connections and reorder
			 * d->tcp; each looks its fd up again. */
			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				server_readable(d, pfd[i].fd);
			if (pfd[i].revents & POLLOUT)
				server_writable(d, pfd[i].fd);
		}
		server_tick(d, server_now_ms());
	}
	return 0;
}
