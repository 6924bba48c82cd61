/*
 * gossipd's messages: membership, joins and leaves, user events.
 * See proto.h for the list format: X(ENUM, lower, "gossip.name", fields)
 * with fields F(KIND, name), KIND one of U64 I64 BOOL STR BIN STRS.
 * Bump PROTO_VERSION in proto.h when this list changes.
 */
#ifndef TRIBUNE_MSG_GOSSIP_H
#define TRIBUNE_MSG_GOSSIP_H

#define PROTO_MSGS_GOSSIP(X, F)

#endif
