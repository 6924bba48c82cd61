/*
 * Fuzz raftd's parsers of bytes from outside the process: log commands
 * (fsm_decode, and its round trip through fsm_encode; a peer's
 * AppendEntries carries them; seeds in fuzz/seeds/fuzz_raftd_cmd hold one
 * of each command type, FSM_KV_BATCH included), snapshots (a leader's
 * InstallSnapshot), session rows, and the JSON bodies of /v1/txn and
 * /v1/session/create that httpd forwards unparsed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raftd/raftd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
fsm_same(const struct fsm_cmd *a, const struct fsm_cmd *b)
{
	if (a->type != b->type || a->now_ms != b->now_ms || a->req != b->req || a->single != b->single ||
	    a->nops != b->nops || !str_eq(a->body, b->body))
		abort();
	for (size_t i = 0; i < a->nops; i++) {
		const struct fsm_kvop *x = &a->ops[i], *y = &b->ops[i];
		if (x->verb != y->verb || !str_eq(x->key, y->key) || x->flags != y->flags ||
		    x->index != y->index || !str_eq(x->session, y->session) ||
		    (x->value == NULL) != (y->value == NULL) || x->value_len != y->value_len ||
		    (x->value_len > 0 && memcmp(x->value, y->value, x->value_len) != 0))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsm_cmd cmd;
	struct store_session ss;
	uint64_t applied;
	char *s, *err = NULL;

	if (fsm_decode(data, size, &cmd) == 0) {
		struct fsm_cmd again;
		uint8_t *buf;
		size_t len;
		/* What decodes re-encodes to a command that decodes the same
		 * (FSM_KVS, FSM_KV_BATCH: every op, field by field). */
		if (fsm_encode(&cmd, &buf, &len) == 0) {
			if (fsm_decode(buf, len, &again) != 0)
				abort();
			fsm_same(&cmd, &again);
			fsm_cmd_free(&again);
			free(buf);
		}
		fsm_cmd_free(&cmd);
	}
	(void)store_snapshot_applied(data, size, &applied);
	memset(&ss, 0, sizeof(ss));
	if (session_decode(data, size, &ss) == 0)
		session_row_free(&ss);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (txn_parse(s, &cmd, &err) == 0)
		fsm_cmd_free(&cmd);
	free(err);
	err = NULL;
	if (sessreq_parse(s, "node", &cmd, &err) == 0)
		fsm_cmd_free(&cmd);
	free(err);
	free(s);
	return 0;
}
