/*
 * Feeds httpd's request decoding with arbitrary bytes: the first line is a
 * query string (parsed, then run through Consul's common and KV checks and
 * re-encoded), the rest a JSON body (decoded with both key tables and
 * pretty-printed).  Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpd_query q = { 0 };
	struct httpd_err   err = { 0 };
	const uint8_t     *nl = memchr(data, '\n', size);
	size_t             qlen = nl != NULL ? (size_t)(nl - data) : size;
	char              *qs = malloc(qlen + 1), *enc;
	json_t            *doc;

	if (qs == NULL)
		return 0;
	memcpy(qs, data, qlen);
	qs[qlen] = '\0';
	if (query_parse_string(&q, qs) == 0) {
		query_common(&q, &err);
		query_kv(&q, data[0] & 1, data[0] & 2, &err);
		enc = query_encode(&q);
		free(enc);
	}
	query_free(&q);
	free(qs);

	if (nl != NULL) {
		const char *body = (const char *)nl + 1;
		size_t      blen = size - qlen - 1;
		size_t      plen;
		char       *p;

		doc = json_decode_body(body, blen, json_session_names, &err);
		json_decref(doc);
		doc = json_decode_body(body, blen, json_txn_names, &err);
		json_decref(doc);
		if ((p = json_pretty(body, blen, &plen)) != NULL)
			free(p);
	}
	return 0;
}
