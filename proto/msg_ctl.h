/*
 * Control messages: supervisor <-> daemons, and the debug tap.
 * See proto.h for the list format.
 *
 *   ctl.hello     child -> supervisor, the first call of a started child;
 *                 the reply (ctl.config) carries the whole agent config.
 *   ctl.ready     child -> supervisor once its sockets are bound and the
 *                 config applied; the supervisor sends READY=1 after all.
 *   ctl.config    the agent config as JSON; also published on reload.
 *   ctl.ping      supervisor -> child; ctl.pong answers with its status.
 *   ctl.shutdown  supervisor -> child: finish and exit 0.
 *   ctl.tap       published by the supervisor: whether a tap is attached.
 *   ctl.tap_rec   one message seen crossing the bus, pushed by the process
 *                 that sent it to the supervisor, which republishes it.
 *   ctl.status / ctl.restart  CLI -> supervisor (debug status / restart).
 *   ctl.result    generic reply: ok, error text, optional JSON.
 */
#ifndef TRIBUNE_MSG_CTL_H
#define TRIBUNE_MSG_CTL_H

#define PROTO_MSGS_CTL(X, F)                                                   \
	X(CTL_HELLO, ctl_hello, "ctl.hello",                                   \
	    F(STR, name) F(U64, pid))                                          \
	X(CTL_READY, ctl_ready, "ctl.ready",                                   \
	    F(STR, name) F(U64, pid))                                          \
	X(CTL_CONFIG, ctl_config, "ctl.config",                                \
	    F(STR, json) F(U64, generation))                                   \
	X(CTL_PING, ctl_ping, "ctl.ping",                                      \
	    F(U64, nonce))                                                     \
	X(CTL_PONG, ctl_pong, "ctl.pong",                                      \
	    F(U64, nonce) F(STR, name) F(U64, pid) F(U64, uptime_ms)           \
	    F(U64, config_generation) F(STR, status))                          \
	X(CTL_SHUTDOWN, ctl_shutdown, "ctl.shutdown",                          \
	    F(STR, reason))                                                    \
	X(CTL_TAP, ctl_tap, "ctl.tap",                                         \
	    F(BOOL, on))                                                       \
	X(CTL_TAP_REC, ctl_tap_rec, "ctl.tap_rec",                             \
	    F(U64, time_us) F(STR, proc) F(STR, kind) F(STR, peer)             \
	    F(U64, latency_us) F(U64, dropped) F(BIN, msg))                    \
	X(CTL_TAP_ATTACH, ctl_tap_attach, "ctl.tap_attach",                    \
	    F(U64, lease_ms))                                                  \
	X(CTL_STATUS, ctl_status, "ctl.status",                                \
	    F(BOOL, ping))                                                     \
	X(CTL_RESTART, ctl_restart, "ctl.restart",                             \
	    F(STR, name))                                                      \
	X(CTL_RELOAD, ctl_reload, "ctl.reload",                                \
	    F(STR, reason))                                                    \
	X(CTL_RESULT, ctl_result, "ctl.result",                                \
	    F(BOOL, ok) F(STR, error) F(STR, json))

#endif
