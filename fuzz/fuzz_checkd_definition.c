/*
 * Feeds checkd's definition decoder with arbitrary bytes, as a service
 * body, a check body, a config document and through the agent operations
 * that take bodies (register, update), then renders what was registered.
 * The first byte picks extra query flags.  Nothing may crash, leak or read
 * out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkd/checkd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_op(struct checkd *cd, const char *op, const char *arg, json_t *q,
    const char *body)
{
	unsigned    status;
	char       *out = NULL;
	const char *ctype;

	api_call(cd, op, arg, q, body, &status, &out, &ctype);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct checkd cd;
	static struct config cfg;
	char                *text;
	json_t              *doc, *s, *c, *q;
	json_t              *svcs, *chks;
	char                 err[512];

	if (cfg.root == NULL) {
		log_setlevel(LOG_ERROR);
		cfg.node_name = (char *)(uintptr_t)"fuzz";
		cfg.root = json_object();
	}
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	checkd_setup(&cd, &cfg);

	if ((doc = json_loads(text, JSON_DECODE_ANY, NULL)) != NULL) {
		if (defs_service(doc, &s, &c, err, sizeof(err)) == 0) {
			json_decref(s);
			json_decref(c);
		}
		if (defs_check(doc, &c, err, sizeof(err)) == 0)
			json_decref(c);
		svcs = json_array();
		chks = json_array();
		defs_from_config(doc, svcs, chks);
		json_decref(svcs);
		json_decref(chks);
		state_load_config(&cd, doc);
		json_decref(doc);
	}
	q = size > 0 && (data[0] & 1) ? json_pack("{s:n}",
	    "replace-existing-checks") : json_object();
	fuzz_op(&cd, "service_register", "", q, text);
	fuzz_op(&cd, "check_register", "", q, text);
	fuzz_op(&cd, "check_update", "service:web", q, text);
	fuzz_op(&cd, "services", "", q, NULL);
	fuzz_op(&cd, "checks", "", q, NULL);
	fuzz_op(&cd, "health_name", "web", q, NULL);
	json_decref(q);
	state_free(&cd);
	free(text);
	return 0;
}
