/*
 * Request and response bodies.  Consul decodes bodies with Go's
 * encoding/json, which matches keys case-insensitively, and clients rely on
 * it (python-consul sends {"name","lockdelay","ttl"}); some endpoints take
 * snake_case too.  We rename keys to Consul's PascalCase before anything
 * else reads them, so that raftd and every later reader see one spelling.
 * Keys inside user maps (Meta, NodeMeta...) are data and stay as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

const char *const json_session_names[] = { "ID", "Name", "Node", "Checks",
	"NodeChecks", "ServiceChecks", "LockDelay", "Behavior", "TTL",
	"Namespace", "Partition", NULL };

const char *const json_txn_names[] = { "KV", "Node", "Service", "Check",
	"Session", "Verb", "Key", "Value", "Flags", "Index", "ID", "Address",
	"Datacenter", "TaggedAddresses", "Meta", "CheckID", "Name", "Status",
	"Notes", "Output", "ServiceID", "ServiceName", "ServiceTags",
	"Service", "Tags", "Port", "Namespace", "Partition", "Definition",
	NULL };

/* Keys whose values are user maps: never renamed inside. */
static const char *const json_opaque[] = { "Meta", "NodeMeta",
	"ServiceMeta", "TaggedAddresses", "Definition", NULL };

static const char *
json_known(const char *key, const char *const *names)
{
	for (; *names != NULL; names++)
		if (config_key_eq(key, *names))
			return *names;
	return NULL;
}

void
json_canon(json_t *v, const char *const *names)
{
	if (json_is_array(v)) {
		size_t  i;
		json_t *e;

		json_array_foreach(v, i, e)
			json_canon(e, names);
		return;
	}
	if (!json_is_object(v))
		return;

	/*
	 * Rebuild the object in order so that renamed keys keep their place;
	 * on a clash (both "ttl" and "TTL") the later one wins, as in Go.
	 */
	json_t     *out = json_object();
	const char *key;
	json_t     *val;

	if (out == NULL)
		return;
	json_object_foreach(v, key, val) {
		const char *canon = json_known(key, names);

		if (canon == NULL || json_known(canon, json_opaque) == NULL)
			json_canon(val, names);
		json_object_set(out, canon != NULL ? canon : key, val);
	}
	json_object_clear(v);
	json_object_update(v, out);
	json_decref(out);
}

json_t *
json_decode_body(const char *body, size_t len, const char *const *names,
    struct httpd_err *err)
{
	json_error_t jerr;
	json_t      *doc;

	doc = json_loadb(body != NULL ? body : "", len,
	    JSON_DECODE_ANY, &jerr);
	if (doc == NULL) {
		err->status = 400;
		snprintf(err->text, sizeof(err->text),
		    "Request decode failed: %s", jerr.text);
		return NULL;
	}
	if (names != NULL)
		json_canon(doc, names);
	return doc;
}

char *
json_dump_any(const json_t *v, int pretty, size_t *outlen)
{
	size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_COMPACT;
	char  *s, *withnl;
	size_t n;

	if (pretty)
		flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_INDENT(4);
	if ((s = json_dumps(v, flags)) == NULL)
		return NULL;
	n = strlen(s);
	if (!pretty) {
		*outlen = n;
		return s;
	}
	/* Go's MarshalIndent output, as Consul writes it, ends in a newline. */
	if ((withnl = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	withnl[n] = '\n';
	withnl[n + 1] = '\0';
	*outlen = n + 1;
	return withnl;
}

char *
json_pretty(const char *text, size_t len, size_t *outlen)
{
	json_error_t jerr;
	json_t      *doc;
	char        *out;

	doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	if (doc == NULL) {
		/* Not ours to judge (a uint64 beyond jansson): send as is. */
		if ((out = malloc(len + 2)) == NULL)
			return NULL;
		memcpy(out, text, len);
		out[len] = '\n';
		out[len + 1] = '\0';
		*outlen = len + 1;
		return out;
	}
	out = json_dump_any(doc, 1, outlen);
	json_decref(doc);
	return out;
}
