/*
 * TCP checks: a non-blocking connect to each address of host:port in turn
 * (v4 and v6, as Go's dialer); the first that connects passes the check.
 * Numeric addresses need no resolver; a host name is handed to curl
 * (kind_http_connect: threaded resolver, connect-only transfer), so no
 * lookup ever blocks the loop.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkd.h"
#include "loop.h"

struct tcp_run {
	struct checkd   *cd;
	struct chk      *c;
	struct addrinfo *res, *cur;
	int              fd;
	int              last_errno;
};

static void tcp_next(struct tcp_run *t);

static void
tcp_close(struct tcp_run *t)
{
	if (t->fd >= 0) {
		if (t->cd->loop != NULL)
			loop_del_fd(t->cd->loop, t->fd);
		close(t->fd);
		t->fd = -1;
	}
}

static void
tcp_done(struct tcp_run *t, const char *status, const char *output)
{
	struct checkd *cd = t->cd;
	struct chk    *c = t->c;

	tcp_close(t);
	if (t->res != NULL)
		freeaddrinfo(t->res);
	free(t);
	sched_result(cd, c, status, output);
}

static void
tcp_fail(struct tcp_run *t)
{
	char        out[600];
	const char *addr = json_string_value(json_object_get(t->c->def, "TCP"));

	char        reason[128];

	/* Go says "connection refused", in lower case. */
	snprintf(reason, sizeof(reason), "%s", strerror(t->last_errno != 0 ?
	    t->last_errno : ECONNREFUSED));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	snprintf(out, sizeof(out), "dial tcp %s: connect: %s", addr, reason);
	tcp_done(t, "critical", out);
}

static void
tcp_ready(int fd, short revents, void *arg)
{
	struct tcp_run *t = arg;
	int             err = 0;
	socklen_t       len = sizeof(err);
	char            out[600];

	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		snprintf(out, sizeof(out), "TCP connect %s: Success",
		    json_string_value(json_object_get(t->c->def, "TCP")));
		tcp_done(t, "passing", out);
		return;
	}
	t->last_errno = err;
	tcp_close(t);
	t->cur = t->cur->ai_next;
	tcp_next(t);
}

static void
tcp_next(struct tcp_run *t)
{
	for (; t->cur != NULL; t->cur = t->cur->ai_next) {
		int fd = socket(t->cur->ai_family, t->cur->ai_socktype |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, t->cur->ai_protocol);

		if (fd < 0) {
			t->last_errno = errno;
			continue;
		}
		if (connect(fd, t->cur->ai_addr, t->cur->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			t->fd = fd;
			loop_add_fd(t->cd->loop, fd, POLLOUT, tcp_ready, t);
			return;
		}
		t->last_errno = errno;
		close(fd);
	}
	tcp_fail(t);
}

static int
tcp_start(struct checkd *cd, struct chk *c)
{
	struct tcp_run *t;
	struct addrinfo hints = { 0 };
	const char     *addr = json_string_value(json_object_get(c->def, "TCP"));
	char            host[256], port[32], out[600];
	const char     *colon;
	int             rv;

	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL) {
		snprintf(out, sizeof(out), "dial tcp %s: missing port in "
		    "address", addr != NULL ? addr : "");
		sched_result(cd, c, "critical", out);
		return 0;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->cd = cd;
	t->c = c;
	t->fd = -1;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rv = getaddrinfo(host, port, &hints, &t->res);
	if (rv == EAI_NONAME) {
		free(t);
		if (kind_http_connect(cd, c, host, port) == 0)
			return 0;
		snprintf(out, sizeof(out), "dial tcp %s: cannot start", addr);
		sched_result(cd, c, "critical", out);
		return 0;
	}
	if (rv != 0) {
		free(t);
		snprintf(out, sizeof(out), "dial tcp: lookup %s: %s", host,
		    gai_strerror(rv));
		sched_result(cd, c, "critical", out);
		return 0;
	}
	c->kpriv = t;
	t->cur = t->res;
	tcp_next(t);
	return 0;
}

static void
tcp_cancel(struct checkd *cd, struct chk *c)
{
	struct tcp_run *t = c->kpriv;

	if (c->kpriv_curl) {
		kind_http_cancel(cd, c);
		return;
	}
	if (t == NULL)
		return;
	tcp_close(t);
	if (t->res != NULL)
		freeaddrinfo(t->res);
	free(t);
	c->kpriv = NULL;
}

const struct chk_kind kind_tcp = {
	.type = "tcp",
	.polled = true,
	.start = tcp_start,
	.cancel = tcp_cancel,
	.timeout_text = "dial tcp: i/o timeout",
};
