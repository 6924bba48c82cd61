/*
 * The bus: nng sockets between the processes of one agent, all under
 * <run-dir> (mode 0700):
 *
 *   ipc://<run>/<name>.rep   each process's raw rep socket: calls to it
 *   ipc://<run>/<name>.pub   each process's pub socket: its events
 *   ipc://<run>/tap.pull     the supervisor's pull socket for tap records
 *   ipc://<run>/tap.pub      the supervisor republishes them for taps
 *
 * A published message is "<name>\0<envelope>": nng's sub filters on the
 * leading bytes, so subscribing to "raft." takes raftd's group.
 *
 * Delivery (DESIGN.md, Traps): pub/sub is lossy, so events carry absolute
 * state and publishers repeat it on a tick.  req/rep is at least once: nng's
 * req resends a pending request to a restarted peer, so a handler of a
 * non-idempotent request calls bus_req_once() first.
 *
 * Threads: every callback (requests, events, async replies) runs inside
 * bus_process(), on the thread that calls it: the process's loop thread.
 * bus_call(), bus_call_async() and bus_publish() may be called from any
 * thread.  bus_call_async() with BUS_DIRECT runs its callback on an nng
 * thread instead (for httpd, which resumes MHD connections from there).
 *
 * Ownership: a struct bus_req belongs to the handler until it passes it to
 * bus_reply() or bus_req_drop(), which free it.  Envelopes handed to
 * callbacks point into buffers freed when the callback returns.
 *
 * The tap: when the supervisor announces a tap (ctl.tap), each process
 * pushes a ctl.tap_rec for every call it makes (and the reply, with its
 * latency) and every event it publishes, without blocking: what the push
 * queue cannot take is counted and reported in the next record.  With no
 * tap attached the cost is one test of a flag.
 */
#ifndef TRIBUNE_BUS_H
#define TRIBUNE_BUS_H

#include "loop.h"
#include "proto.h"

struct bus;
struct bus_req;

typedef void (*bus_req_cb)(struct bus *, struct bus_req *,
    const struct proto_env *req, void *arg);
typedef void (*bus_event_cb)(struct bus *, const struct proto_env *ev,
    void *arg);
/* err is 0 or an nng error (NNG_ETIMEDOUT...) / a proto error (< 0). */
typedef void (*bus_reply_cb)(struct bus *, int err,
    const struct proto_env *reply, void *arg);

#define BUS_DIRECT 0x1

/* Opens the bus of process `self` over rundir.  NULL on failure. */
struct bus *bus_open(const char *rundir, const char *self);
void        bus_close(struct bus *);
const char *bus_self(const struct bus *);
const char *bus_rundir(const struct bus *);

/* Binds self.rep and self.pub; requests go to cb. */
int bus_serve(struct bus *, bus_req_cb cb, void *arg);

/* Registers the bus's fds in loop so that bus_process() runs when needed. */
int bus_attach(struct bus *, struct loop *);
/* For other loops (libuv): the fds to poll for reading; then bus_process(). */
int  bus_pollfds(struct bus *, int *fds, int max);
void bus_process(struct bus *);

/* Replies to req and frees it. */
int      bus_reply(struct bus_req *, int type, const void *msg);
void     bus_req_drop(struct bus_req *);
uint64_t bus_req_id(const struct bus_req *);
/*
 * For non-idempotent handlers: returns 1 when req's id was seen before (the
 * cached reply, if any, was resent and req is freed: return at once), 0 when
 * it is new (its reply will be cached).
 */
int bus_req_once(struct bus_req *);

/* Publishes msg with its type's name as topic. */
int bus_publish(struct bus *, int type, const void *msg);
/* Subscribes to peer's events whose name starts with prefix. */
int bus_subscribe(struct bus *, const char *peer, const char *prefix,
    bus_event_cb cb, void *arg);
/* Raw: the tap's subscription to the supervisor's tap.pub. */
int bus_subscribe_raw(struct bus *, const char *sockname, const char *prefix,
    void (*cb)(struct bus *, const void *data, size_t len, void *arg),
    void *arg);

/*
 * Synchronous call: sends msg to peer, waits up to timeout_ms for the reply,
 * which is decoded into *env, pointing into *buf (the caller frees *buf with
 * proto_buf_free).  Returns 0, an nng error or a proto error.
 */
int bus_call(struct bus *, const char *peer, int type, const void *msg,
    int timeout_ms, struct proto_buf *buf, struct proto_env *env);
/* Asynchronous call; cb runs once, on the loop thread (or see BUS_DIRECT). */
int bus_call_async(struct bus *, const char *peer, int type, const void *msg,
    int timeout_ms, int flags, bus_reply_cb cb, void *arg);

/* Counters for status lines. */
struct bus_stats {
	uint64_t calls, call_errors, requests, published, events;
	uint64_t tap_sent, tap_dropped, dup_requests;
};
void bus_get_stats(struct bus *, struct bus_stats *);
int  bus_tap_active(struct bus *);
/* The supervisor turns the tap on and off for its own bus directly. */
void bus_tap_set(struct bus *, int on);

#endif
