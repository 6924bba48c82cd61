/*
 * checkd's messages: the agent's own services and checks.  See proto.h for
 * the list format.
 *
 * Calls (httpd -> checkd's rep socket), answered by one check.reply:
 *
 *   check.call   op    what to do, one per agent endpoint:
 *                      "services" "service" "checks" "service_register"
 *                      "service_deregister" "check_register"
 *                      "check_deregister" "check_update" (arg = id,
 *                      body {Status,Output}; pass/warn/fail send it too)
 *                      "maint" "service_maint" "health_id" "health_name"
 *                      "stats" (consul info's agent section: check_monitors,
 *                      check_ttls, checks, services, as strings)
 *                arg   the path parameter (service or check id, name), or ""
 *                query the query parameters as a JSON object,
 *                      {"enable":"true","reason":null,...} (null: no '=')
 *                body  the request body as sent, or NULL
 *
 *   check.reply  status  the HTTP status Consul gives (200, 400, 404, 429,
 *                        500, 503)
 *                body    the response body, already Consul's text/JSON
 *                ctype   "application/json", "text/plain; charset=utf-8" or
 *                        NULL (empty body)
 *
 * Events (published by checkd):
 *
 *   check.changed  a check's status changed (also on register/deregister:
 *                  status "" when it is gone).  seq counts checkd's changes.
 *   check.tick     every second, the current seq and counts, so that a
 *                  subscriber that lost a check.changed notices (pub/sub is
 *                  lossy) and re-reads /v1/agent/checks.
 */
#ifndef TRIBUNE_MSG_CHECK_H
#define TRIBUNE_MSG_CHECK_H

#define PROTO_MSGS_CHECK(X, F)                                                 \
	X(CHECK_CALL, check_call, "check.call",                                \
	    F(STR, op) F(STR, arg) F(STR, query) F(STR, body))                 \
	X(CHECK_REPLY, check_reply, "check.reply",                             \
	    F(U64, status) F(STR, body) F(STR, ctype))                         \
	X(CHECK_CHANGED, check_changed, "check.changed",                       \
	    F(STR, check_id) F(STR, service_id) F(STR, status)                 \
	    F(STR, output) F(U64, seq))                                        \
	X(CHECK_TICK, check_tick, "check.tick",                                \
	    F(U64, seq) F(U64, services) F(U64, checks) F(U64, critical))

#endif
