/*
 * json.c: Consul's Session JSON, written with the append-only writer of
 * proto/jbuf.h straight from the decoded row, in Consul's field order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raftd.h"

/* Consul's Session JSON (api.SessionEntry order). */
int
jb_session(struct jbuf *b, const struct store_session *ss)
{
	bool only_serf = ss->n_node_checks == 1 && strcmp(ss->node_checks[0], "serfHealth") == 0;

	jb_lit(b, "{\"ID\":");
	jb_str(b, ss->id);
	jb_lit(b, ",\"Name\":");
	jb_str(b, ss->name ? ss->name : "");
	jb_lit(b, ",\"Node\":");
	jb_str(b, ss->node ? ss->node : "");
	jb_lit(b, ",\"LockDelay\":");
	jb_u64(b, ss->lock_delay_ns);
	jb_lit(b, ",\"Behavior\":");
	jb_str(b, ss->behavior == STORE_BEHAVIOR_DELETE ? "delete" : "release");
	jb_lit(b, ",\"TTL\":");
	jb_str(b, ss->ttl ? ss->ttl : "");
	jb_lit(b, ",\"NodeChecks\":");
	if (ss->n_node_checks == 0) {
		jb_lit(b, "null");
	} else {
		jb_lit(b, "[");
		for (size_t i = 0; i < ss->n_node_checks; i++) {
			if (i)
				jb_lit(b, ",");
			jb_str(b, ss->node_checks[i]);
		}
		jb_lit(b, "]");
	}
	jb_lit(b, ",\"ServiceChecks\":");
	if (ss->n_service_checks == 0) {
		jb_lit(b, "null");
	} else {
		jb_lit(b, "[");
		for (size_t i = 0; i < ss->n_service_checks; i++) {
			if (i)
				jb_lit(b, ",");
			jb_lit(b, "{\"ID\":");
			jb_str(b, ss->service_checks[i]);
			jb_lit(b, ",\"Namespace\":\"\"}");
		}
		jb_lit(b, "]");
	}
	if (!only_serf && ss->n_node_checks > 0) {
		/* Deprecated Checks: omitted when it is only serfHealth. */
		jb_lit(b, ",\"Checks\":[");
		for (size_t i = 0; i < ss->n_node_checks; i++) {
			if (i)
				jb_lit(b, ",");
			jb_str(b, ss->node_checks[i]);
		}
		jb_lit(b, "]");
	}
	jb_lit(b, ",\"CreateIndex\":");
	jb_u64(b, ss->create_index);
	jb_lit(b, ",\"ModifyIndex\":");
	jb_u64(b, ss->modify_index);
	return jb_lit(b, "}");
}
