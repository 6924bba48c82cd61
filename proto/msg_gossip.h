/*
 * gossipd's messages: membership, joins and leaves, user events.
 * See proto.h for the list format: X(ENUM, lower, "gossip.name", fields)
 * with fields F(KIND, name), KIND one of U64 I64 BOOL STR BIN STRS.
 * Bump PROTO_VERSION in proto.h when this list changes.
 *
 * Calls (any daemon -> gossipd's rep socket), each answered by ONE
 * gossip.result:
 *
 *   gossip.members      wan, segment            json = Consul's
 *                       /v1/agent/members body: [{"Name","Addr","Port",
 *                       "Tags":{..},"Status":1,"ProtocolMin":1,
 *                       "ProtocolMax":5,"ProtocolCur":2,"DelegateMin":2,
 *                       "DelegateMax":5,"DelegateCur":4}], Status being
 *                       serf's 0 none 1 alive 2 leaving 3 left 4 failed.
 *                       wan = true: status 200, json = [] (no WAN pool yet).
 *   gossip.join         addrs ("ip" or "ip:port"), wan
 *                       json = {"joined":N}; status 500 with error when
 *                       none answered (Consul's text).
 *   gossip.leave        graceful leave (serf intent, then memberlist dead,
 *                       then 1 s); the reply comes when it is done, so
 *                       call with a timeout >= 10 s.  The process then
 *                       stays up, out of the cluster, until shut down.
 *   gossip.force_leave  node, prune             status 404 unknown member
 *   gossip.event_fire   name, payload, node_filter, service_filter,
 *                       tag_filter              json = the event as
 *                       Consul's /v1/event/fire answers it
 *                       ({"ID","Name","Payload"(base64 or null),
 *                       "NodeFilter","ServiceFilter","TagFilter",
 *                       "Version":1,"LTime":0}).  It travels as serf event
 *                       "consul:event:<name>" with Consul's msgpack
 *                       payload, as Consul sends it.
 *   gossip.event_list   name ("" = all)         json = Consul's
 *                       /v1/event/list body (oldest first, last 256);
 *                       index = the X-Consul-Index for blocking queries
 *                       (bumps with every event received).  Events fired
 *                       by a plain `serf event NAME PAYLOAD` are listed
 *                       with that name and payload as they are.
 *
 *   gossip.stats        wan                     json = `consul info`'s
 *                       serf_lan section, every value a string:
 *                       {"coordinate_resets","encrypted","event_queue",
 *                       "event_time","failed","health_score",
 *                       "intent_queue","left","member_time","members",
 *                       "query_queue","query_time"}; wan = true: status
 *                       404 (no WAN pool yet).
 *
 * gossip.result: status (HTTP status Consul would give), error (NULL or
 * the body for status >= 400), index, json (minified).
 *
 * Events (published by gossipd):
 *
 *   gossip.member       absolute state of one member, on every change and
 *                       again for every member every 2 s (pub/sub is
 *                       lossy).  status is "alive" "leaving" "left"
 *                       "failed" or "reaped" (gone from the list); tags
 *                       is a JSON object text; index bumps on any change
 *                       of any member (subscribers can tell they missed
 *                       one); self = this agent's own member.
 *   gossip.event        one received user event (deduplicated), same
 *                       fields as an entry of gossip.event_list, index =
 *                       the event list's new index.
 */
#ifndef TRIBUNE_MSG_GOSSIP_H
#define TRIBUNE_MSG_GOSSIP_H

#define PROTO_MSGS_GOSSIP(X, F)                                                \
	X(GOSSIP_MEMBERS, gossip_members, "gossip.members",                    \
	    F(BOOL, wan) F(STR, segment))                                      \
	X(GOSSIP_JOIN, gossip_join, "gossip.join",                             \
	    F(STRS, addrs) F(BOOL, wan))                                       \
	X(GOSSIP_LEAVE, gossip_leave, "gossip.leave",                          \
	    F(STR, reason))                                                    \
	X(GOSSIP_FORCE_LEAVE, gossip_force_leave, "gossip.force_leave",        \
	    F(STR, node) F(BOOL, prune))                                       \
	X(GOSSIP_EVENT_FIRE, gossip_event_fire, "gossip.event_fire",           \
	    F(STR, name) F(BIN, payload) F(STR, node_filter)                   \
	    F(STR, service_filter) F(STR, tag_filter))                         \
	X(GOSSIP_EVENT_LIST, gossip_event_list, "gossip.event_list",           \
	    F(STR, name))                                                      \
	X(GOSSIP_STATS, gossip_stats, "gossip.stats",                          \
	    F(BOOL, wan))                                                      \
	X(GOSSIP_RESULT, gossip_result, "gossip.result",                       \
	    F(U64, status) F(STR, error) F(U64, index) F(STR, json))           \
	X(GOSSIP_MEMBER, gossip_member, "gossip.member",                       \
	    F(STR, name) F(STR, addr) F(U64, port) F(STR, status)              \
	    F(U64, incarnation) F(STR, tags) F(U64, index) F(BOOL, self))      \
	X(GOSSIP_EVENT, gossip_event, "gossip.event",                          \
	    F(STR, id) F(STR, name) F(BIN, payload) F(U64, ltime)              \
	    F(U64, index))

#endif
