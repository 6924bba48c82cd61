/*
 * libFuzzer: `tribune kv import`'s reading of a file: any bytes go through
 * the JSON decoder and kv_import_check(); a refusal must come with a
 * message, and an accepted document's values must be strings or absent
 * (they are base64-decoded next, which fuzz_proto_b64 covers).
 */
#include <stdint.h>
#include <stdlib.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL), *e;
	char    msg[256] = "";
	size_t  i;

	if (!json_is_array(doc)) {
		json_decref(doc);
		return 0;
	}
	if (kv_import_check(doc, msg, sizeof(msg)) != 0) {
		if (msg[0] == '\0')
			abort();
	} else {
		json_array_foreach(doc, i, e) {
			json_t *v = json_object_get(e, "value");
			if (v != NULL && !json_is_null(v) && !json_is_string(v))
				abort();
		}
	}
	json_decref(doc);
	return 0;
}
