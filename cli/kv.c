/*
 * tribune kv get|put|delete|export|import: Consul's `consul kv` with its
 * flags and its output lines, over the HTTP API.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "cli.h"

int cmd_kv(int argc, char **argv);

struct kv_opts {
	struct cli_http http;
	int      recurse, keys, detailed, base64, cas, has_modify, has_flags;
	int      acquire, release;
	uint64_t modify_index, flags;
	char     separator[64];
	char     session[128];
	char     prefix[512];
	char   **args;
	int      nargs;
};


/* Go's flag package: -f, -f=v, -f v (not for bools); stops at a non-flag. */
static int
kv_flags(int argc, char **argv, struct kv_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	cli_http_init(&o->http);
	snprintf(o->separator, sizeof(o->separator), "/");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *val;
		char        buf[64];
		size_t      n;
		int         r;

		if (a[0] != '-' || strcmp(a, "-") == 0)
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if ((r = cli_http_flag(&o->http, argc, argv, &i)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		name = a + (a[1] == '-' ? 2 : 1);
		n = strcspn(name, "=");
		snprintf(buf, sizeof(buf), "%.*s", (int)n, name);
		val = name[n] == '=' ? name + n + 1 : NULL;
#define KV_BOOL(flag, field)                                                 \
	if (strcmp(buf, flag) == 0) {                                        \
		o->field = val == NULL || strcmp(val, "true") == 0 ||        \
		    strcmp(val, "1") == 0;                                   \
		continue;                                                    \
	}
		KV_BOOL("recurse", recurse)
		KV_BOOL("keys", keys)
		KV_BOOL("detailed", detailed)
		KV_BOOL("base64", base64)
		KV_BOOL("cas", cas)
		KV_BOOL("acquire", acquire)
		KV_BOOL("release", release)
#undef KV_BOOL
		if (val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "flag needs an argument: -%s\n",
				    buf);
				return -1;
			}
			val = argv[++i];
		}
		if (strcmp(buf, "separator") == 0)
			snprintf(o->separator, sizeof(o->separator), "%s", val);
		else if (strcmp(buf, "session") == 0)
			snprintf(o->session, sizeof(o->session), "%s", val);
		else if (strcmp(buf, "prefix") == 0)
			snprintf(o->prefix, sizeof(o->prefix), "%s", val);
		else if (strcmp(buf, "modify-index") == 0 ||
		    strcmp(buf, "flags") == 0) {
			char *end;
			unsigned long long v = strtoull(val, &end, 10);

			if (*val == '\0' || *end != '\0') {
				fprintf(stderr, "invalid value \"%s\" for flag "
				    "-%s: parse error\n", val, buf);
				return -1;
			}
			if (buf[0] == 'm') {
				o->modify_index = v;
				o->has_modify = 1;
			} else {
				o->flags = v;
				o->has_flags = 1;
			}
		} else {
			fprintf(stderr, "flag provided but not defined: -%s\n",
			    buf);
			return -1;
		}
	}
	o->args = argv + i;
	o->nargs = argc - i;
	return 0;
}

static char *
kv_path(const char *key, const char *query)
{
	char  *esc = cli_escape(key), *p;
	size_t n;

	if (esc == NULL)
		return NULL;
	n = strlen(esc) + strlen(query) + 16;
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "/v1/kv/%s%s", esc, query);
	free(esc);
	return p;
}

/* Reads @file, - (stdin) or the literal. */
static char *
kv_read_data(const char *arg, size_t *len)
{
	FILE  *f = NULL;
	char  *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (arg[0] == '@') {
		if ((f = fopen(arg + 1, "rb")) == NULL) {
			fprintf(stderr, "Failed to read file: open %s: %m\n",
			    arg + 1);
			return NULL;
		}
	} else if (strcmp(arg, "-") == 0)
		f = stdin;
	else {
		*len = strlen(arg);
		return strdup(arg);
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = (cap + 4096) * 2);

			if (p == NULL)
				break;
			buf = p;
		}
		if ((r = fread(buf + n, 1, 4096, f)) == 0)
			break;
		n += r;
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL)
		buf = calloc(1, 1);
	else
		buf[n] = '\0';
	*len = n;
	return buf;
}

static void
kv_print_value(const char *b64, int as_b64)
{
	unsigned char *v;
	size_t         n;

	if (b64 == NULL)
		return;
	if (as_b64) {
		fputs(b64, stdout);
		return;
	}
	if (b64_decode_alloc(b64, &v, &n) == 0) {
		fwrite(v, 1, n, stdout);
		free(v);
	}
}

static void
kv_print_detailed(json_t *p, int as_b64)
{
	const char *sess = json_string_value(json_object_get(p, "Session"));

	printf("%-17s%lld\n", "CreateIndex",
	    (long long)json_integer_value(json_object_get(p, "CreateIndex")));
	printf("%-17s%llu\n", "Flags", (unsigned long long)
	    json_integer_value(json_object_get(p, "Flags")));
	printf("%-17s%s\n", "Key",
	    json_string_value(json_object_get(p, "Key")));
	printf("%-17s%lld\n", "LockIndex",
	    (long long)json_integer_value(json_object_get(p, "LockIndex")));
	printf("%-17s%lld\n", "ModifyIndex",
	    (long long)json_integer_value(json_object_get(p, "ModifyIndex")));
	printf("%-17s%s\n", "Session", sess != NULL && *sess ? sess : "-");
	printf("%-17s", "Value");
	kv_print_value(json_string_value(json_object_get(p, "Value")), as_b64);
	printf("\n");
}

static int
kv_get(struct kv_opts *o)
{
	const char     *key = o->nargs > 0 ? o->args[0] : "";
	struct cli_resp resp;
	char            query[128], *path;
	json_t         *doc;
	int             rc = 1;

	if (o->nargs > 1) {
		fprintf(stderr, "Too many arguments (expected 1, got %d)\n",
		    o->nargs);
		return 1;
	}
	if (!o->keys && !o->recurse && *key == '\0') {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (*key == '/') {
		fprintf(stderr, "Error! Key must not begin with a '/'\n");
		return 1;
	}
	if (o->keys) {
		char *sep = cli_escape(o->separator);

		snprintf(query, sizeof(query), "?keys&separator=%s",
		    sep != NULL ? sep : "");
		free(sep);
	} else
		snprintf(query, sizeof(query), "%s", o->recurse ? "?recurse" : "");
	if ((path = kv_path(key, query)) == NULL)
		return 1;
	if (cli_request(&o->http, "GET", path, NULL, 0, &resp) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", resp.error);
		free(path);
		return 1;
	}
	free(path);
	if (resp.status == 404) {
		if (o->keys || o->recurse)
			rc = 0;
		else
			fprintf(stderr, "Error! No key exists at: %s\n", key);
		goto out;
	}
	if (resp.status != 200) {
		fprintf(stderr, "Error querying Consul agent: Unexpected response "
		    "code: %ld (%s)\n", resp.status, resp.body);
		goto out;
	}
	if ((doc = json_loads(resp.body, 0, NULL)) == NULL ||
	    !json_is_array(doc)) {
		fprintf(stderr, "Error querying Consul agent: bad JSON\n");
		json_decref(doc);
		goto out;
	}
	size_t  i;
	json_t *e;

	json_array_foreach(doc, i, e) {
		if (o->keys) {
			printf("%s\n", json_string_value(e));
		} else if (o->detailed) {
			if (i > 0)
				printf("\n");
			kv_print_detailed(e, o->base64);
		} else if (o->recurse) {
			printf("%s:", json_string_value(json_object_get(e, "Key")));
			kv_print_value(json_string_value(json_object_get(e,
			    "Value")), o->base64);
			printf("\n");
		} else {
			kv_print_value(json_string_value(json_object_get(e,
			    "Value")), o->base64);
			printf("\n");
		}
		if (!o->recurse && !o->keys)
			break;
	}
	json_decref(doc);
	rc = 0;
out:
	cli_resp_free(&resp);
	return rc;
}

static int
kv_put(struct kv_opts *o)
{
	const char     *key;
	struct cli_resp resp;
	char            query[256], *path, *data;
	size_t          len = 0;
	int             rc = 1;

	if (o->nargs < 1) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (o->nargs > 2) {
		fprintf(stderr, "Too many arguments (expected 1 or 2, got %d)\n",
		    o->nargs);
		return 1;
	}
	key = o->args[0];
	if (*key == '/') {
		fprintf(stderr, "Error! Key must not begin with a '/'\n");
		return 1;
	}
	if (o->cas && !o->has_modify) {
		fprintf(stderr, "Must specify -modify-index with -cas!\n");
		return 1;
	}
	if ((o->acquire || o->release) && o->session[0] == '\0') {
		fprintf(stderr, "Error! Missing -session (required with "
		    "-acquire and -release)\n");
		return 1;
	}
	data = kv_read_data(o->nargs > 1 ? o->args[1] : "", &len);
	if (data == NULL)
		return 1;
	if (o->base64) {
		unsigned char *dec;

		if (b64_decode_alloc(data, &dec, &len) != 0) {
			fprintf(stderr, "Error! Cannot base 64 decode data: "
			    "illegal base64 data\n");
			free(data);
			return 1;
		}
		free(data);
		data = (char *)dec;
	}
	snprintf(query, sizeof(query), "?flags=%llu",
	    (unsigned long long)o->flags);
	if (o->cas)
		snprintf(query + strlen(query), sizeof(query) - strlen(query),
		    "&cas=%llu", (unsigned long long)o->modify_index);
	if (o->acquire || o->release) {
		char *s = cli_escape(o->session);

		snprintf(query + strlen(query), sizeof(query) - strlen(query),
		    "&%s=%s", o->acquire ? "acquire" : "release",
		    s != NULL ? s : "");
		free(s);
	}
	if ((path = kv_path(key, query)) == NULL) {
		free(data);
		return 1;
	}
	if (cli_request(&o->http, "PUT", path, data, len, &resp) != 0) {
		fprintf(stderr, "Error! Failed writing data: %s\n", resp.error);
		goto out_free;
	}
	if (resp.status != 200) {
		fprintf(stderr, "Error! Failed writing data: Unexpected response "
		    "code: %ld (%s)\n", resp.status, resp.body);
		goto out;
	}
	int ok = strncmp(resp.body, "true", 4) == 0;

	if (o->cas && !ok)
		fprintf(stderr, "Error! Did not write to %s: CAS failed\n", key);
	else if (o->acquire && !ok)
		fprintf(stderr, "Error! Did not acquire lock\n");
	else if (o->release && !ok)
		fprintf(stderr, "Error! Did not release lock\n");
	else if (o->acquire)
		printf("Success! Lock acquired on: %s\n", key), rc = 0;
	else if (o->release)
		printf("Success! Lock released on: %s\n", key), rc = 0;
	else
		printf("Success! Data written to: %s\n", key), rc = 0;
out:
	cli_resp_free(&resp);
out_free:
	free(path);
	free(data);
	return rc;
}

static int
kv_delete(struct kv_opts *o)
{
	const char     *key = o->nargs > 0 ? o->args[0] : "";
	struct cli_resp resp;
	char            query[64] = "", *path;
	int             rc = 1;

	if (o->nargs > 1) {
		fprintf(stderr, "Too many arguments (expected 1, got %d)\n",
		    o->nargs);
		return 1;
	}
	if (*key == '\0' && !o->recurse) {
		fprintf(stderr, "Error! Missing KEY argument\n");
		return 1;
	}
	if (*key == '/') {
		fprintf(stderr, "Error! Key must not begin with a '/'\n");
		return 1;
	}
	if (o->cas && !o->has_modify) {
		fprintf(stderr, "Must specify -modify-index with -cas!\n");
		return 1;
	}
	if (o->cas && o->recurse) {
		fprintf(stderr, "Cannot specify both -cas and -recurse!\n");
		return 1;
	}
	if (o->recurse)
		snprintf(query, sizeof(query), "?recurse");
	else if (o->cas)
		snprintf(query, sizeof(query), "?cas=%llu",
		    (unsigned long long)o->modify_index);
	if ((path = kv_path(key, query)) == NULL)
		return 1;
	if (cli_request(&o->http, "DELETE", path, NULL, 0, &resp) != 0) {
		fprintf(stderr, "Error! Failed to delete key: %s\n", resp.error);
		free(path);
		return 1;
	}
	free(path);
	if (resp.status != 200)
		fprintf(stderr, "Error! Failed to delete key: Unexpected response "
		    "code: %ld (%s)\n", resp.status, resp.body);
	else if (o->cas && strncmp(resp.body, "true", 4) != 0)
		fprintf(stderr, "Error! Did not delete key %s: CAS failed\n", key);
	else if (o->recurse)
		printf("Success! Deleted keys with prefix: %s\n", key), rc = 0;
	else
		printf("Success! Deleted key: %s\n", key), rc = 0;
	cli_resp_free(&resp);
	return rc;
}

static int
kv_export(struct kv_opts *o)
{
	const char     *key = o->nargs > 0 ? o->args[0] : "";
	struct cli_resp resp;
	char           *path, *out;
	json_t         *doc = NULL, *list;
	int             rc = 1;

	if ((path = kv_path(key, "?recurse")) == NULL)
		return 1;
	if (cli_request(&o->http, "GET", path, NULL, 0, &resp) != 0) {
		fprintf(stderr, "Error querying Consul agent: %s\n", resp.error);
		free(path);
		return 1;
	}
	free(path);
	if (resp.status != 200 && resp.status != 404) {
		fprintf(stderr, "Error querying Consul agent: Unexpected response "
		    "code: %ld (%s)\n", resp.status, resp.body);
		goto out;
	}
	list = json_array();
	if (resp.status == 200)
		doc = json_loads(resp.body, 0, NULL);
	size_t  i;
	json_t *e;

	json_array_foreach(doc, i, e) {
		json_t     *x = json_object();
		const char *v = json_string_value(json_object_get(e, "Value"));

		json_object_set(x, "key", json_object_get(e, "Key"));
		json_object_set(x, "flags", json_object_get(e, "Flags"));
		json_object_set_new(x, "value", json_string(v != NULL ? v : ""));
		json_array_append_new(list, x);
	}
	/* Go's MarshalIndent(.., "", "\t"): indent with tabs. */
	out = json_dumps(list, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	for (char *line = out; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		char *p = line;

		while (*p == ' ')
			putchar('\t'), p++;
		if (nl == NULL) {
			printf("%s\n", p);
			break;
		}
		printf("%.*s\n", (int)(nl - p), p);
		line = nl + 1;
	}
	free(out);
	json_decref(list);
	json_decref(doc);
	rc = 0;
out:
	cli_resp_free(&resp);
	return rc;
}

/* The JSON type's name as Go's decoder says it ("number", "array"...). */
static const char *
kv_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

/*
 * Consul decodes the whole document into []KVExportEntry before writing
 * anything, so a wrongly typed field refuses the import with nothing
 * written.  The message is Go's.  0, or -1 with it in msg.
 */
int
kv_import_check(const json_t *doc, char *msg, size_t len)
{
	static const char *const strs[] = { "key", "value" };
	const json_t *e, *v;
	size_t        i;

	json_array_foreach(doc, i, e) {
		if (json_is_null(e))
			continue;
		if (!json_is_object(e)) {
			snprintf(msg, len, "json: cannot unmarshal %s into Go value "
			    "of type api.KVExportEntry", kv_json_kind(e));
			return -1;
		}
		for (size_t f = 0; f < 2; f++) {
			v = json_object_get(e, strs[f]);
			if (v == NULL || json_is_null(v) || json_is_string(v))
				continue;
			snprintf(msg, len, "json: cannot unmarshal %s into Go struct "
			    "field KVExportEntry.%s of type string", kv_json_kind(v),
			    strs[f]);
			return -1;
		}
		v = json_object_get(e, "flags");
		if (v == NULL || json_is_null(v) ||
		    (json_is_integer(v) && json_integer_value(v) >= 0))
			continue;
		if (json_is_integer(v))
			snprintf(msg, len, "json: cannot unmarshal number %lld into "
			    "Go struct field KVExportEntry.flags of type uint64",
			    (long long)json_integer_value(v));
		else
			snprintf(msg, len, "json: cannot unmarshal %s into Go struct "
			    "field KVExportEntry.flags of type uint64",
			    kv_json_kind(v));
		return -1;
	}
	return 0;
}

static int
kv_import(struct kv_opts *o)
{
	json_error_t jerr;
	json_t      *doc, *e;
	char        *data;
	size_t       len, i;
	int          rc = 0;

	if (o->nargs < 1) {
		fprintf(stderr, "Error! Missing DATA argument\n");
		return 1;
	}
	if ((data = kv_read_data(o->args[0], &len)) == NULL)
		return 1;
	doc = json_loadb(data, len, 0, &jerr);
	free(data);
	if (doc == NULL || !json_is_array(doc)) {
		fprintf(stderr, "Cannot unmarshal data: %s\n",
		    doc == NULL ? jerr.text : "not a JSON array");
		json_decref(doc);
		return 1;
	}
	if (kv_import_check(doc, jerr.text, sizeof(jerr.text)) != 0) {
		fprintf(stderr, "Cannot unmarshal data: %s\n", jerr.text);
		json_decref(doc);
		return 1;
	}
	json_array_foreach(doc, i, e) {
		const char    *k = json_string_value(json_object_get(e, "key"));
		const char    *v = json_string_value(json_object_get(e, "value"));
		json_int_t     fl = json_integer_value(json_object_get(e, "flags"));
		unsigned char *val = NULL;
		size_t         vlen = 0;
		char           full[1024], query[64], *path;
		struct cli_resp resp;

		if (k == NULL)
			continue;
		if (b64_decode_alloc(v != NULL ? v : "", &val, &vlen) != 0) {
			fprintf(stderr, "Error! Failed to decode base64 value "
			    "for %s: illegal base64 data\n", k);
			rc = 1;
			break;
		}
		snprintf(full, sizeof(full), "%s%s", o->prefix, k);
		snprintf(query, sizeof(query), "?flags=%llu",
		    (unsigned long long)fl);
		path = kv_path(full, query);
		if (path == NULL ||
		    cli_request(&o->http, "PUT", path, val, vlen, &resp) != 0) {
			fprintf(stderr, "Error! Failed writing data for key %s: "
			    "%s\n", full, path != NULL ? resp.error : "no memory");
			free(path);
			free(val);
			rc = 1;
			break;
		}
		free(path);
		free(val);
		if (resp.status != 200) {
			fprintf(stderr, "Error! Failed writing data for key %s: "
			    "Unexpected response code: %ld (%s)\n", full,
			    resp.status, resp.body);
			cli_resp_free(&resp);
			rc = 1;
			break;
		}
		cli_resp_free(&resp);
		printf("Imported: %s\n", full);
	}
	json_decref(doc);
	return rc;
}

static void
kv_usage(void)
{
	fprintf(stderr, "Usage: tribune kv <subcommand> [options] [args]\n\n"
	    "Subcommands:\n"
	    "    delete    Removes data from the KV store\n"
	    "    export    Exports a tree from the KV store as JSON\n"
	    "    get       Retrieves or lists data from the KV store\n"
	    "    import    Imports a tree stored as JSON to the KV store\n"
	    "    put       Sets or updates data in the KV store\n");
}

int
cmd_kv(int argc, char **argv)
{
	struct kv_opts o;
	const char    *sub;

	if (argc < 2) {
		kv_usage();
		return 1;
	}
	sub = argv[1];
	if (kv_flags(argc - 1, argv + 1, &o) != 0)
		return 1;
	if (strcmp(sub, "get") == 0)
		return kv_get(&o);
	if (strcmp(sub, "put") == 0)
		return kv_put(&o);
	if (strcmp(sub, "delete") == 0)
		return kv_delete(&o);
	if (strcmp(sub, "export") == 0)
		return kv_export(&o);
	if (strcmp(sub, "import") == 0)
		return kv_import(&o);
	kv_usage();
	return 1;
}
