/*
 * Fuzz raftd's catalog parsers: the PUT /v1/catalog/(de)register bodies
 * httpd forwards unparsed, their application to a store (register, then
 * every read over what it wrote, then abort so the store stays small), the
 * ?filter= expression language, and the read query objects.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raftd/raftd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store fuzz_store;
static int fuzz_opened;

static void
fuzz_reads(struct store_txn *t, const char *arg, const char *query)
{
	static const char *whats[] = { "datacenters", "nodes", "services", "service", "node",
		"node_services", "health_node", "health_checks", "health_service", "health_state" };
	for (size_t i = 0; i < sizeof(whats) / sizeof(whats[0]); i++) {
		char *json = NULL, *err = NULL;
		uint64_t idx;
		(void)catalog_read(t, whats[i], arg, query, "dc1", &json, &idx, &err);
		free(json);
		free(err);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsm_cmd cmd;
	struct fsm_result res;
	struct store_txn t;
	struct bexpr *f;
	char *s, *err = NULL;

	if (!fuzz_opened) {
		char dir[] = "/tmp/fuzz-catalog-XXXXXX";
		if (mkdtemp(dir) == NULL || store_open(&fuzz_store, dir, 256 << 20) != 0)
			abort();
		fuzz_opened = 1;
	}
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	for (int type = FSM_CATALOG_REGISTER; type <= FSM_CATALOG_DEREGISTER; type++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.type = type;
		int rc = type == FSM_CATALOG_REGISTER ? catalog_parse_register(s, "dc1", &cmd.body, &err)
		    : catalog_parse_deregister(s, "dc1", &cmd.body, &err);
		free(err);
		err = NULL;
		if (rc != 0)
			continue;
		memset(&res, 0, sizeof(res));
		res.status = 200;
		if (store_begin(&fuzz_store, &t, true, 7) == 0) {
			(void)catalog_apply(&t, &cmd, &res);
			(void)catalog_register_current(&t, cmd.body);
			fuzz_reads(&t, "web", NULL);
			store_txn_free(&t);
		}
		free(res.error);
		free(res.json);
		fsm_cmd_free(&cmd);
	}

	/* The bytes as a filter and as a read query. */
	if ((f = bexpr_parse(s)) != NULL) {
		json_t *row = json_pack("{s:s,s:{s:s},s:[s,s],s:i}", "Node", "n1", "Meta", "env", "prod",
		    "Tags", "a", "b", "Port", 80);
		(void)bexpr_eval(f, row);
		json_decref(row);
		bexpr_free(f);
	}
	if (store_begin(&fuzz_store, &t, false, 0) == 0) {
		fuzz_reads(&t, s, s);
		store_txn_free(&t);
	}
	free(s);
	return 0;
}
