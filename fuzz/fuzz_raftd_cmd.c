/*
 * Fuzz raftd's parsers of bytes from outside the process: log commands
 * (fsm_decode; a peer's AppendEntries carries them), snapshots (a leader's
 * InstallSnapshot), session rows, and the JSON bodies of /v1/txn and
 * /v1/session/create that httpd forwards unparsed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raftd/raftd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsm_cmd cmd;
	struct store_session ss;
	uint64_t applied;
	char *s, *err = NULL;

	if (fsm_decode(data, size, &cmd) == 0) {
		uint8_t *buf;
		size_t len;
		if (fsm_encode(&cmd, &buf, &len) == 0)
			free(buf);
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
