/*
 * The supervisor: `tribune agent`.  It resolves the configuration, prepares
 * the data directory, fork+execs the five daemons (nng is not fork-safe, so
 * every child is a fresh exec), streams them the config, waits for each
 * one's ctl.ready before it says READY=1, restarts a child that dies (with
 * backoff, touching no other), answers the control socket (debug status,
 * debug restart, reload, the tap lease) and relays the debug tap.
 */
#ifndef TRIBUNE_SUPERVISOR_H
#define TRIBUNE_SUPERVISOR_H

#include <sys/types.h>
#include <jansson.h>

#include "bus.h"
#include "config.h"
#include "loop.h"
#include "version.h"


enum child_state { CHILD_STOPPED, CHILD_STARTING, CHILD_RUNNING, CHILD_BACKOFF };

struct child {
	const char      *name;
	char             path[512];
	pid_t            pid;
	enum child_state state;
	uint64_t         started_ms;    /* monotonic */
	uint64_t         ready_ms;
	uint64_t         exited_ms;     /* when the last one was reaped */
	unsigned         restarts;
	unsigned         fast_crashes;  /* consecutive deaths soon after start */
	char             last_exit[96];
	int              restart_now;   /* debug restart: skip the backoff */
	int              timer;         /* pending restart timer id, or 0 */
};

#define SUP_NCHILDREN 5

struct supervisor {
	struct loop  *loop;
	struct bus   *bus;
	int           argc;
	char        **argv;
	json_t       *doc;           /* resolved config */
	struct config cfg;
	uint64_t      generation;
	char          data_dir[1024];
	char          run_dir[1100];
	char          registry[1200]; /* file naming run_dir for the CLI */
	int           dev_tmp;       /* data_dir is ours to remove */
	int           stopping;
	uint64_t      stop_deadline;
	int           ready_sent;
	int           exit_code;     /* of tribune agent, once stopped */
	uint64_t      start_ms;
	struct child  children[SUP_NCHILDREN];
	/* tap hub */
	uint64_t      tap_lease_until;  /* monotonic ms */
	int           tap_on;
	/* systemd */
	uint64_t      watchdog_ms;
};

/* agent.c */
int  agent_main(int argc, char **argv);
int  agent_resolve_config(int argc, char **argv, json_t **docp, char *err,
         size_t errlen);
void agent_reload(struct supervisor *s, const char *why);
/* Stops every child, then the agent (SIGTERM does the same). */
void agent_stop(struct supervisor *s);
int  cmd_validate(int argc, char **argv);
int  cmd_version(int argc, char **argv);

/* children.c */
void children_init(struct supervisor *s);
int  children_start_all(struct supervisor *s);
void children_reap(struct supervisor *s);
void children_stop_all(struct supervisor *s, int sig);
int  children_alive(struct supervisor *s);
struct child *children_find(struct supervisor *s, const char *name);
struct child *children_by_pid(struct supervisor *s, pid_t pid);
int  children_restart(struct supervisor *s, struct child *c);
int  children_all_ready(struct supervisor *s);

/* control.c */
void control_on_request(struct bus *b, struct bus_req *req,
         const struct proto_env *env, void *arg);
void control_tick(struct supervisor *s);

/* tap.c */
int  tap_open(struct supervisor *s);
void tap_close(void);
void tap_set(struct supervisor *s, int on);

/* notify.c */
int  notify_send(const char *state);
void notify_init(struct supervisor *s);

#endif
