/*
 * The shape every tribune child shares: an entry, a state struct, one
 * dispatcher.  daemon_main() does what is common:
 *
 *   1. flags: -run-dir DIR (the bus sockets) and -name NAME;
 *   2. ignores SIGPIPE (libuv and sockets: a dead peer must not kill us);
 *   3. calls the supervisor (ctl.hello) until it answers with ctl.config;
 *   4. ops->init() with the config, then binds NAME.rep / NAME.pub;
 *   5. tells the supervisor ctl.ready, and runs the loop;
 *   6. answers ctl.ping (with ops->status()), applies ctl.config reloads
 *      (published by the supervisor) through ops->reload(), stops on
 *      ctl.shutdown, SIGTERM or SIGINT, calling ops->stop() first.
 *
 * Every other request goes to ops->dispatch(), which returns 0 when it took
 * the request (and will reply or drop it) and -1 for a type it does not
 * know: the caller then logs the type by name and drops it.
 *
 * raftd runs libuv's loop rather than ours: it calls daemon_setup() and
 * drives bus_pollfds()/bus_process() and daemon_tick() itself.
 */
#ifndef TRIBUNE_DAEMON_H
#define TRIBUNE_DAEMON_H

#include <jansson.h>

#include "bus.h"
#include "config.h"
#include "loop.h"

struct daemon;

struct daemon_ops {
	const char *name;
	/* Called once with d->cfg set; nonzero aborts the start. */
	int  (*init)(struct daemon *d);
	int  (*dispatch)(struct daemon *d, struct bus_req *req,
	         const struct proto_env *env);
	/* d->cfg now holds the new config; old is the previous one. */
	void (*reload)(struct daemon *d, const struct config *old);
	/* Adds status fields to the ctl.pong status object. */
	void (*status)(struct daemon *d, json_t *out);
	/* Every second. */
	void (*tick)(struct daemon *d);
	/* Before exit: flush, close. */
	void (*stop)(struct daemon *d);
};

struct daemon {
	const struct daemon_ops *ops;
	char                     name[32];
	char                     rundir[256];
	struct bus              *bus;
	struct loop             *loop;
	struct config            cfg;
	uint64_t                 generation;
	uint64_t                 start_ms;
	int                      stopping;
	void                    *priv;     /* the daemon's own state */
};

/* Runs the daemon; returns the process exit code. */
int  daemon_main(const struct daemon_ops *ops, int argc, char **argv);
/* Steps 1-4 only; 0 or -1.  loop may be NULL for daemons with their own. */
int  daemon_setup(struct daemon *d, const struct daemon_ops *ops,
         struct loop *loop, int argc, char **argv);
/* Step 5: tells the supervisor we are ready. */
void daemon_ready(struct daemon *d);
/* Asks the daemon to stop (from a handler or a signal). */
void daemon_stop(struct daemon *d);

/* Replies with a ctl.result. */
int  daemon_reply_result(struct bus_req *req, bool ok, const char *error,
         const char *json);

#endif
