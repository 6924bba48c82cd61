/*
 * tribune operator raft list-peers: Consul's table of the Raft servers,
 * from GET /v1/operator/raft/configuration (raftd's configuration).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_operator(int argc, char **argv);

static int
operator_usage(void)
{
	fprintf(stderr,
	    "Usage: tribune operator <subcommand> [options]\n\n"
	    "  Provides cluster-level tools for tribune operators.\n\n"
	    "Subcommands:\n"
	    "    raft    Provides commands to operate on the Raft subsystem\n");
	return 1;
}

static int
raft_usage(void)
{
	fprintf(stderr,
	    "Usage: tribune operator raft <subcommand> [options]\n\n"
	    "  The Raft operator command is used to interact with tribune's Raft\n"
	    "  subsystem.\n\n"
	    "Subcommands:\n"
	    "    list-peers    Display the current Raft peer configuration\n");
	return 1;
}

/* Consul's "Trails Leader By": "-" for the leader, else "N commits". */
static void
trails(char *out, size_t len, bool leader, uint64_t lead, uint64_t mine)
{
	uint64_t d = lead > mine ? lead - mine : 0;

	if (leader)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%" PRIu64 " commit%s", d, d == 1 ? "" : "s");
}

static int
list_peers(int argc, char **argv)
{
	struct cli_http   h;
	struct cli_resp   resp;
	struct cli_table *t;
	json_t           *doc, *servers, *s;
	uint64_t          lead = 0;
	size_t            i;
	char              path[64];

	cli_http_init(&h);
	for (int k = 1; k < argc; k++) {
		int rc = cli_http_flag(&h, argc, argv, &k);
		if (rc == 1)
			continue;
		fprintf(stderr, rc < 0 ? "Missing value for %s\n" :
		    "flag provided but not defined: %s\n", argv[k]);
		return 1;
	}
	snprintf(path, sizeof(path), "/v1/operator/raft/configuration%s",
	    h.stale ? "?stale" : "");
	if (cli_request(&h, "GET", path, NULL, 0, &resp) != 0 ||
	    resp.status != 200) {
		cli_report_error("getting peers: Failed to retrieve raft configuration",
		    &resp);
		cli_resp_free(&resp);
		return 1;
	}
	doc = json_loads(resp.body, 0, NULL);
	cli_resp_free(&resp);
	servers = json_object_get(doc, "Servers");
	if (!json_is_array(servers)) {
		fprintf(stderr, "Error getting peers: bad JSON from the agent\n");
		json_decref(doc);
		return 1;
	}
	json_array_foreach(servers, i, s)
		if (json_is_true(json_object_get(s, "Leader")))
			lead = (uint64_t)json_integer_value(json_object_get(s, "LastIndex"));
	t = cli_table_new();
	cli_table_row(t, "Node", "ID", "Address", "State", "Voter", "RaftProtocol",
	    "Commit Index", "Trails Leader By", NULL);
	json_array_foreach(servers, i, s) {
		const char *node = json_string_value(json_object_get(s, "Node"));
		const char *id = json_string_value(json_object_get(s, "ID"));
		const char *addr = json_string_value(json_object_get(s, "Address"));
		const char *proto = json_string_value(json_object_get(s, "ProtocolVersion"));
		bool        leader = json_is_true(json_object_get(s, "Leader"));
		uint64_t    last = (uint64_t)json_integer_value(json_object_get(s, "LastIndex"));
		char        idx[24], tr[32];

		snprintf(idx, sizeof(idx), "%" PRIu64, last);
		trails(tr, sizeof(tr), leader, lead, last);
		cli_table_row(t, node ? node : "", id ? id : "", addr ? addr : "",
		    leader ? "leader" : "follower",
		    json_is_true(json_object_get(s, "Voter")) ? "true" : "false",
		    proto != NULL && *proto ? proto : "<=1", idx, tr, NULL);
	}
	cli_table_print(t);
	cli_table_free(t);
	json_decref(doc);
	return 0;
}

int
cmd_operator(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "raft") != 0)
		return operator_usage();
	if (argc < 3 || strcmp(argv[2], "list-peers") != 0)
		return raft_usage();
	return list_peers(argc - 2, argv + 2);
}
