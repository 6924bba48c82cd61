/*
 * UDP checks, as Consul runs them: send one datagram to host:port on a
 * connected socket and wait for an answer.  An answer passes, and so does
 * silence until the timeout (UDP services often do not reply); only an
 * error on the socket (ICMP port unreachable comes back as ECONNREFUSED)
 * is critical.  Numeric addresses only resolve without a lookup; a name
 * is looked up with getaddrinfo() (UDP targets are nearly always
 * addresses).
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkd.h"
#include "loop.h"

struct udp_run {
	struct checkd *cd;
	struct chk    *c;
	int            fd;
};

static void
udp_close(struct udp_run *u)
{
	if (u->fd >= 0) {
		if (u->cd->loop != NULL)
			loop_del_fd(u->cd->loop, u->fd);
		close(u->fd);
	}
	u->c->kpriv = NULL;
	free(u);
}

static void
udp_ready(int fd, short revents, void *arg)
{
	struct udp_run *u = arg;
	struct checkd  *cd = u->cd;
	struct chk     *c = u->c;
	const char     *addr = json_string_value(json_object_get(c->def, "UDP"));
	char            buf[512], out[600], reason[128];
	ssize_t         n;

	(void)revents;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n >= 0) {
		snprintf(out, sizeof(out), "UDP connect %s: Success", addr);
		udp_close(u);
		sched_result(cd, c, "passing", out);
		return;
	}
	snprintf(reason, sizeof(reason), "%s", strerror(errno));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	snprintf(out, sizeof(out), "read udp %s: read: %s", addr, reason);
	udp_close(u);
	sched_result(cd, c, "critical", out);
}

static int
udp_start(struct checkd *cd, struct chk *c)
{
	const char      *addr = json_string_value(json_object_get(c->def, "UDP"));
	const char      *colon;
	struct addrinfo  hints = { 0 }, *res = NULL;
	struct udp_run  *u;
	char             host[256], port[32], out[600];
	int              rv;

	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL) {
		snprintf(out, sizeof(out), "dial udp %s: missing port in "
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
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rv = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(out, sizeof(out), "dial udp: lookup %s: no such host",
		    host);
		sched_result(cd, c, "critical", out);
		return 0;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		freeaddrinfo(res);
		return -1;
	}
	u->cd = cd;
	u->c = c;
	u->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (u->fd < 0 || connect(u->fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    send(u->fd, "", 0, 0) < 0) {
		snprintf(out, sizeof(out), "dial udp %s: %s", addr,
		    strerror(errno));
		freeaddrinfo(res);
		c->kpriv = u;
		udp_close(u);
		sched_result(cd, c, "critical", out);
		return 0;
	}
	freeaddrinfo(res);
	c->kpriv = u;
	if (cd->loop != NULL)
		loop_add_fd(cd->loop, u->fd, POLLIN, udp_ready, u);
	return 0;
}

static void
udp_cancel(struct checkd *cd, struct chk *c)
{
	(void)cd;
	if (c->kpriv != NULL)
		udp_close(c->kpriv);
}

const struct chk_kind kind_udp = {
	.type = "udp",
	.polled = true,
	.start = udp_start,
	.cancel = udp_cancel,
	.timeout_text = NULL,       /* silence passes: see sched_tick */
};
