/*
 * The tap hub.  Processes push ctl.tap_rec records to <run>/tap.pull while a
 * tap is on; the supervisor republishes each one, unchanged, on
 * <run>/tap.pub, where `tribune debug tap` subscribes.  A tap keeps the tap
 * on by renewing a lease (ctl.tap_attach); when the lease ends the
 * supervisor publishes ctl.tap {on: false} and the processes stop pushing.
 */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pubsub0/pub.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "supervisor.h"

static nng_socket tap_pull, tap_pub;
static int        tap_fd = -1;

static void
tap_forward(int fd, short revents, void *arg)
{
	nng_msg *m;

	(void)fd;
	(void)revents;
	(void)arg;
	while (nng_recvmsg(tap_pull, &m, NNG_FLAG_NONBLOCK) == 0) {
		/* A slow tap loses records here, never the agent's time. */
		if (nng_sendmsg(tap_pub, m, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(m);
	}
}

int
tap_open(struct supervisor *s)
{
	char url[1200];
	int  rv;

	if ((rv = nng_pull0_open(&tap_pull)) != 0 ||
	    (rv = nng_pub0_open(&tap_pub)) != 0)
		return rv;
	nng_socket_set_int(tap_pull, NNG_OPT_RECVBUF, 8192);
	snprintf(url, sizeof(url), "ipc://%s/tap.pull", s->run_dir);
	if ((rv = nng_listen(tap_pull, url, NULL, 0)) != 0)
		return rv;
	snprintf(url, sizeof(url), "ipc://%s/tap.pub", s->run_dir);
	if ((rv = nng_listen(tap_pub, url, NULL, 0)) != 0)
		return rv;
	if ((rv = nng_socket_get_int(tap_pull, NNG_OPT_RECVFD, &tap_fd)) != 0)
		return rv;
	loop_add_fd(s->loop, tap_fd, POLLIN, tap_forward, s);
	return 0;
}

void
tap_close(void)
{
	if (tap_fd >= 0) {
		nng_close(tap_pull);
		nng_close(tap_pub);
		tap_fd = -1;
	}
}

void
tap_set(struct supervisor *s, int on)
{
	struct proto_ctl_tap t = { .on = on };

	if (on != s->tap_on)
		log_info("debug tap %s", on ? "attached" : "detached");
	s->tap_on = on;
	bus_tap_set(s->bus, on);
	bus_publish(s->bus, PROTO_CTL_TAP, &t);
}
