/*
 * tribune catalog datacenters | nodes | services: Consul's
 * command/catalog/list commands over /v1/catalog, same flags, same columns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_catalog(int argc, char **argv);

struct catalog_flags {
	struct cli_http h;
	const char     *service, *node, *filter;
	const char     *meta[64];
	int             nmeta;
	int             detailed, tags;
};

/* "-f", "-f=v" or "-f v": 1 and *val when argv[*i] is flag f. */
static int
catalog_flag(int argc, char **argv, int *i, const char *f, const char **val)
{
	const char *a = argv[*i];
	size_t n;

	if (a[0] != '-')
		return 0;
	a += a[1] == '-' ? 2 : 1;
	n = strlen(f);
	if (strncmp(a, f, n) != 0 || (a[n] != '\0' && a[n] != '='))
		return 0;
	if (val == NULL)
		return a[n] == '\0' || strcmp(a + n + 1, "true") == 0 ? 1 : 2;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "flag needs an argument: -%s\n", f);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

static int
catalog_parse(struct catalog_flags *c, int argc, char **argv, int nodes)
{
	cli_http_init(&c->h);
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		int r;

		if ((r = cli_http_flag(&c->h, argc, argv, &i)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		if (nodes && (r = catalog_flag(argc, argv, &i, "detailed", NULL)) > 0) {
			c->detailed = r == 1;
		} else if (!nodes && (r = catalog_flag(argc, argv, &i, "tags", NULL)) > 0) {
			c->tags = r == 1;
		} else if (nodes && (r = catalog_flag(argc, argv, &i, "service", &v)) != 0) {
			if (r < 0)
				return -1;
			c->service = v;
		} else if (!nodes && (r = catalog_flag(argc, argv, &i, "node", &v)) != 0) {
			if (r < 0)
				return -1;
			c->node = v;
		} else if ((r = catalog_flag(argc, argv, &i, "filter", &v)) != 0) {
			if (r < 0)
				return -1;
			c->filter = v;
		} else if ((r = catalog_flag(argc, argv, &i, "node-meta", &v)) != 0) {
			if (r < 0)
				return -1;
			if (strchr(v, '=') == NULL) {
				fprintf(stderr, "invalid value \"%s\" for flag -node-meta: "
				    "Missing = in argument\n", v);
				return -1;
			}
			if (c->nmeta < 64)
				c->meta[c->nmeta++] = v;
		} else if ((r = catalog_flag(argc, argv, &i, "near", &v)) != 0) {
			if (r < 0)
				return -1; /* accepted, not sorted by RTT yet */
		} else {
			fprintf(stderr, "flag provided but not defined: %s\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* The query string of node-meta (k=v on the command line, k:v on the wire) and filter. */
static void
catalog_qs(const struct catalog_flags *c, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < c->nmeta; i++) {
		char *m = strdup(c->meta[i]), *e;
		if (m == NULL)
			continue;
		*strchr(m, '=') = ':';
		e = cli_escape(m);
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%cnode-meta=%s",
		    o ? '&' : '?', e ? e : "");
		free(e);
		free(m);
	}
	if (c->filter != NULL) {
		char *e = cli_escape(c->filter);
		snprintf(out + o, o < len ? len - o : 0, "%cfilter=%s", o ? '&' : '?', e ? e : "");
		free(e);
	}
}

static json_t *
catalog_get(const struct catalog_flags *c, const char *path, const char *what)
{
	struct cli_resp resp;
	json_t *doc = NULL;

	if (cli_request(&c->h, "GET", path, NULL, 0, &resp) != 0) {
		cli_report_error(what, &resp);
		return NULL;
	}
	if (resp.status != 200)
		cli_report_error(what, &resp);
	else if ((doc = json_loads(resp.body, JSON_DECODE_ANY, NULL)) == NULL)
		fprintf(stderr, "Error %s: bad JSON from the agent\n", what);
	cli_resp_free(&resp);
	return doc;
}

static int
catalog_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Consul's mapToKV: "k=v" pairs sorted by key, joined by sep (malloc'd). */
static char *
catalog_kv(const json_t *m, const char *sep)
{
	const char *k, **keys;
	json_t *v;
	size_t n = 0, len = 1;
	char *out;

	if (!json_is_object(m) || json_object_size(m) == 0)
		return strdup("");
	keys = calloc(json_object_size(m), sizeof(*keys));
	if (keys == NULL)
		return strdup("");
	json_object_foreach((json_t *)(uintptr_t)m, k, v) {
		keys[n++] = k;
		len += strlen(k) + 1 + strlen(json_string_value(v) ? json_string_value(v) : "") +
		    strlen(sep);
	}
	qsort(keys, n, sizeof(*keys), catalog_cmp);
	if ((out = calloc(1, len)) != NULL) {
		for (size_t i = 0; i < n; i++) {
			const char *s = json_string_value(json_object_get(m, keys[i]));
			if (i)
				strcat(out, sep);
			strcat(out, keys[i]);
			strcat(out, "=");
			strcat(out, s ? s : "");
		}
	}
	free(keys);
	return out;
}

static int
catalog_datacenters(int argc, char **argv)
{
	struct catalog_flags c;
	json_t *doc;

	memset(&c, 0, sizeof(c));
	if (catalog_parse(&c, argc, argv, 1) != 0)
		return 1;
	if ((doc = catalog_get(&c, "/v1/catalog/datacenters", "listing datacenters")) == NULL)
		return 1;
	if (json_array_size(doc) == 0)
		fprintf(stderr, "No datacenters found\n");
	for (size_t i = 0; i < json_array_size(doc); i++)
		printf("%s\n", json_string_value(json_array_get(doc, i)));
	json_decref(doc);
	return 0;
}

static int
catalog_nodes(int argc, char **argv)
{
	struct catalog_flags c;
	struct cli_table *t;
	char qs[2048], path[2300];
	json_t *doc;
	size_t n;

	memset(&c, 0, sizeof(c));
	if (catalog_parse(&c, argc, argv, 1) != 0)
		return 1;
	catalog_qs(&c, qs, sizeof(qs));
	if (c.service != NULL) {
		char *e = cli_escape(c.service);
		snprintf(path, sizeof(path), "/v1/catalog/service/%s%s", e ? e : "", qs);
		free(e);
	} else {
		snprintf(path, sizeof(path), "/v1/catalog/nodes%s", qs);
	}
	if ((doc = catalog_get(&c, path, "listing nodes")) == NULL)
		return 1;
	if ((n = json_array_size(doc)) == 0) {
		fprintf(stderr, "No nodes match the given query - try expanding your search.\n");
		json_decref(doc);
		return 0;
	}
	t = cli_table_new();
	if (c.detailed)
		cli_table_row(t, "Node", "ID", "Address", "DC", "TaggedAddresses", "Meta", NULL);
	else
		cli_table_row(t, "Node", "ID", "Address", "DC", NULL);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(doc, i);
		const char *node = json_string_value(json_object_get(o, "Node"));
		const char *id = json_string_value(json_object_get(o, "ID"));
		const char *addr = json_string_value(json_object_get(o, "Address"));
		const char *dc = json_string_value(json_object_get(o, "Datacenter"));
		/* -service answers CatalogService rows: NodeMeta, not Meta. */
		json_t *meta = json_object_get(o, c.service ? "NodeMeta" : "Meta");
		char sid[64];

		if (c.detailed) {
			char *ta = catalog_kv(json_object_get(o, "TaggedAddresses"), ", ");
			char *mt = catalog_kv(meta, ", ");
			cli_table_row(t, node ? node : "", id ? id : "", addr ? addr : "",
			    dc ? dc : "", ta ? ta : "", mt ? mt : "", NULL);
			free(ta);
			free(mt);
		} else {
			/* Shortened to the first octet of the UUID, as Consul does. */
			const char *dash = id ? strchr(id, '-') : NULL;
			snprintf(sid, sizeof(sid), "%.*s", dash && dash > id ? (int)(dash - id) : 63,
			    id ? id : "");
			cli_table_row(t, node ? node : "", sid, addr ? addr : "", dc ? dc : "", NULL);
		}
	}
	cli_table_print(t);
	cli_table_free(t);
	json_decref(doc);
	return 0;
}

static int
catalog_services(int argc, char **argv)
{
	struct catalog_flags c;
	char qs[2048], path[2300];
	const char **names = NULL, *k;
	json_t *doc, *svcs, *v;
	size_t n = 0, width = 0;

	memset(&c, 0, sizeof(c));
	if (catalog_parse(&c, argc, argv, 0) != 0)
		return 1;
	catalog_qs(&c, qs, sizeof(qs));
	if (c.node != NULL) {
		char *e = cli_escape(c.node);
		snprintf(path, sizeof(path), "/v1/catalog/node/%s%s", e ? e : "", qs);
		free(e);
	} else {
		snprintf(path, sizeof(path), "/v1/catalog/services%s", qs);
	}
	if ((doc = catalog_get(&c, path, c.node ? "listing services for node" :
	    "listing services")) == NULL)
		return 1;
	if (c.node != NULL) {
		/* name -> tags from the node's AgentServices. */
		json_t *m = json_object(), *s;
		json_object_foreach(json_object_get(doc, "Services"), k, s)
			json_object_set(m, json_string_value(json_object_get(s, "Service")),
			    json_object_get(s, "Tags"));
		svcs = m;
	} else {
		svcs = json_incref(doc);
	}
	if (json_object_size(svcs) == 0) {
		fprintf(stderr, "No services match the given query - try expanding your search.\n");
		goto out;
	}
	names = calloc(json_object_size(svcs), sizeof(*names));
	json_object_foreach(svcs, k, v) {
		names[n++] = k;
		if (strlen(k) > width)
			width = strlen(k);
	}
	qsort(names, n, sizeof(*names), catalog_cmp);
	for (size_t i = 0; i < n; i++) {
		json_t *tags = json_object_get(svcs, names[i]);
		size_t nt = json_array_size(tags);
		const char **tv;

		if (!c.tags) {
			printf("%s\n", names[i]);
			continue;
		}
		/* Go's tabwriter(minwidth 0, tabwidth 2, padding 6), then TrimSpace. */
		tv = calloc(nt + 1, sizeof(*tv));
		for (size_t j = 0; tv && j < nt; j++)
			tv[j] = json_string_value(json_array_get(tags, j));
		if (tv)
			qsort(tv, nt, sizeof(*tv), catalog_cmp);
		if (i + 1 == n && nt == 0) {
			printf("%s\n", names[i]);
		} else {
			printf("%-*s", (int)(width + 6), names[i]);
			for (size_t j = 0; tv && j < nt; j++)
				printf("%s%s", j ? "," : "", tv[j] ? tv[j] : "");
			printf("\n");
		}
		free(tv);
	}
out:
	free(names);
	json_decref(svcs);
	json_decref(doc);
	return 0;
}

int
cmd_catalog(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "Usage: tribune catalog <subcommand> [options] [args]\n\n"
		    "Subcommands:\n"
		    "    datacenters    Lists all known datacenters\n"
		    "    nodes          Lists all nodes in the given datacenter\n"
		    "    services       Lists all registered services in a datacenter\n");
		return argc < 2 ? 1 : 0;
	}
	if (strcmp(argv[1], "datacenters") == 0)
		return catalog_datacenters(argc - 1, argv + 1);
	if (strcmp(argv[1], "nodes") == 0)
		return catalog_nodes(argc - 1, argv + 1);
	if (strcmp(argv[1], "services") == 0)
		return catalog_services(argc - 1, argv + 1);
	fprintf(stderr, "Unknown subcommand: %s\n", argv[1]);
	return 1;
}
