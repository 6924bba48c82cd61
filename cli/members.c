/*
 * Gossip commands: members, join, leave, force-leave, event, keygen, with
 * Consul's flags, columns and lines.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"

int cmd_members(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_leave(int argc, char **argv);
int cmd_force_leave(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

static const char *const member_status[] = { "none", "alive", "leaving", "left",
	"failed" };

static int
is_flag(const char *flag, const char *a)
{
	if (a[0] == '-' && a[1] == '-')
		a++;
	return strcmp(a, flag) == 0 || (strncmp(a, flag, strlen(flag)) == 0 &&
	    strcmp(a + strlen(flag), "=true") == 0);
}

static const char *
tag(json_t *m, const char *k)
{
	const char *v = json_string_value(json_object_get(json_object_get(m, "Tags"), k));

	return v ? v : "";
}

static int
member_cmp(const void *a, const void *b)
{
	json_t     *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int         sx = strcmp(tag(x, "role"), "consul") == 0;
	int         sy = strcmp(tag(y, "role"), "consul") == 0;

	if (sx != sy)
		return sy - sx;
	return strcmp(json_string_value(json_object_get(x, "Name")),
	    json_string_value(json_object_get(y, "Name")));
}

static int
tagkey_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
cmd_members(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	const char     *status = NULL, *v;
	int             detailed = 0, wan = 0, shown = 0;
	regex_t         re;
	json_t         *list;
	size_t          n;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int k = cli_http_flag(&h, argc, argv, &i);
		if (k < 0)
			return 1;
		if (k > 0)
			continue;
		if (is_flag("-detailed", argv[i]))
			detailed = 1;
		else if (is_flag("-wan", argv[i]))
			wan = 1;
		else if ((v = cli_flag_value("-status", argc, argv, &i)) != NULL)
			status = v;
		else if (cli_flag_value("-segment", argc, argv, &i) != NULL ||
		    cli_flag_value("-partition", argc, argv, &i) != NULL)
			continue;
		else {
			fprintf(stderr, "Usage: tribune members [options]\n\n"
			    "  -detailed  -status=<regexp>  -wan  -http-addr=<address>\n");
			return 1;
		}
	}
	if (status != NULL && regcomp(&re, status, REG_EXTENDED | REG_NOSUB) != 0) {
		fprintf(stderr, "Failed to compile status regexp %s\n", status);
		return 1;
	}
	if (cli_request(&h, "GET", wan ? "/v1/agent/members?wan=1" :
	        "/v1/agent/members", NULL, 0, &r) != 0 || r.status != 200) {
		cli_report_error("retrieving members", &r);
		cli_resp_free(&r);
		return 1;
	}
	list = json_loads(r.body, 0, NULL);
	cli_resp_free(&r);
	if (!json_is_array(list)) {
		fprintf(stderr, "Error retrieving members: unreadable answer\n");
		json_decref(list);
		return 1;
	}
	n = json_array_size(list);
	json_t **ms = calloc(n + 1, sizeof(json_t *));
	for (size_t i = 0; i < n; i++)
		ms[i] = json_array_get(list, i);
	qsort(ms, n, sizeof(json_t *), member_cmp);

	struct cli_table *t = cli_table_new();
	if (detailed)
		cli_table_row(t, "Node", "Address", "Status", "Tags", NULL);
	else
		cli_table_row(t, "Node", "Address", "Status", "Type", "Build",
		    "Protocol", "DC", "Partition", "Segment", NULL);
	for (size_t i = 0; i < n; i++) {
		json_t     *m = ms[i];
		json_int_t  st = json_integer_value(json_object_get(m, "Status"));
		const char *sts = st >= 0 && st <= 4 ? member_status[st] : "unknown";
		char        addr[128], build[64], tags[2048] = "";
		const char *role = tag(m, "role");

		if (status != NULL && regexec(&re, sts, 0, NULL, 0) != 0)
			continue;
		shown++;
		snprintf(addr, sizeof(addr), "%s:%lld",
		    json_string_value(json_object_get(m, "Addr")),
		    (long long)json_integer_value(json_object_get(m, "Port")));
		if (detailed) {
			json_t     *tg = json_object_get(m, "Tags");
			const char *keys[64], *k;
			json_t     *val;
			size_t      nk = 0, len = 0;
			json_object_foreach(tg, k, val) if (nk < 64) keys[nk++] = k;
			qsort(keys, nk, sizeof(char *), tagkey_cmp);
			for (size_t j = 0; j < nk; j++)
				len += (size_t)snprintf(tags + len,
				    len < sizeof(tags) ? sizeof(tags) - len : 0, "%s%s=%s",
				    j ? "," : "", keys[j],
				    json_string_value(json_object_get(tg, keys[j])));
			cli_table_row(t, json_string_value(json_object_get(m, "Name")),
			    addr, sts, tags, NULL);
			continue;
		}
		const char *type = strcmp(role, "consul") == 0 ? "server"
		    : strcmp(role, "node") == 0                ? "client"
		                                               : "unknown";
		if (strcmp(type, "unknown") == 0) {
			cli_table_row(t, json_string_value(json_object_get(m, "Name")),
			    addr, sts, type, "", "", "", "", "", NULL);
			continue;
		}
		snprintf(build, sizeof(build), "%s", tag(m, "build"));
		build[strcspn(build, ":")] = '\0';
		cli_table_row(t, json_string_value(json_object_get(m, "Name")), addr,
		    sts, type, build[0] ? build : "< 0.3", tag(m, "vsn"), tag(m, "dc"),
		    "default", strcmp(type, "server") == 0 ? "<all>" : "<default>",
		    NULL);
	}
	if (shown > 0)
		cli_table_print(t);
	cli_table_free(t);
	free(ms);
	json_decref(list);
	if (status != NULL)
		regfree(&re);
	/* Consul exits 2 when the filter matched no one. */
	return shown == 0 ? 2 : 0;
}

int
cmd_join(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	int             wan = 0, joined = 0, addrs = 0;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int k = cli_http_flag(&h, argc, argv, &i);
		if (k < 0)
			return 1;
		if (k > 0)
			continue;
		if (is_flag("-wan", argv[i]))
			wan = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "Usage: tribune join [options] address ...\n");
			return 1;
		}
	}
	for (int i = 1; i < argc; i++) {
		char  path[512], *esc;
		if (argv[i][0] == '-') {
			if (strcmp(argv[i], "-http-addr") == 0 || strcmp(argv[i], "-token") == 0 ||
			    strcmp(argv[i], "-datacenter") == 0)
				i++;
			continue;
		}
		addrs++;
		esc = cli_escape(argv[i]);
		snprintf(path, sizeof(path), "/v1/agent/join/%s%s", esc,
		    wan ? "?wan=1" : "");
		free(esc);
		if (cli_request(&h, "PUT", path, NULL, 0, &r) != 0 || r.status != 200) {
			fprintf(stderr, "Error joining address '%s': %s\n", argv[i],
			    r.status ? r.body : r.error);
			cli_resp_free(&r);
			continue;
		}
		cli_resp_free(&r);
		joined++;
	}
	if (addrs == 0) {
		fprintf(stderr, "At least one address to join must be specified.\n");
		return 1;
	}
	if (joined == 0) {
		fprintf(stderr, "Failed to join any nodes.\n");
		return 1;
	}
	printf("Successfully joined cluster by contacting %d nodes.\n", joined);
	return 0;
}

int
cmd_leave(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++)
		if (cli_http_flag(&h, argc, argv, &i) <= 0) {
			fprintf(stderr, "Usage: tribune leave [options]\n");
			return 1;
		}
	if (cli_request(&h, "PUT", "/v1/agent/leave", NULL, 0, &r) != 0 ||
	    r.status != 200) {
		fprintf(stderr, "Error leaving: %s\n", r.status ? r.body : r.error);
		cli_resp_free(&r);
		return 1;
	}
	cli_resp_free(&r);
	printf("Graceful leave complete\n");
	return 0;
}

int
cmd_force_leave(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	const char     *node = NULL;
	int             prune = 0;
	char            path[512], *esc;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int k = cli_http_flag(&h, argc, argv, &i);
		if (k < 0)
			return 1;
		if (k > 0)
			continue;
		if (is_flag("-prune", argv[i]))
			prune = 1;
		else if (argv[i][0] != '-' && node == NULL)
			node = argv[i];
		else {
			node = NULL;
			break;
		}
	}
	if (node == NULL) {
		fprintf(stderr, "A single node name must be specified to force leave.\n");
		return 1;
	}
	esc = cli_escape(node);
	snprintf(path, sizeof(path), "/v1/agent/force-leave/%s%s", esc,
	    prune ? "?prune=1" : "");
	free(esc);
	if (cli_request(&h, "PUT", path, NULL, 0, &r) != 0 || r.status != 200) {
		fprintf(stderr, "Error force leaving: %s\n", r.status ? r.body : r.error);
		cli_resp_free(&r);
		return 1;
	}
	cli_resp_free(&r);
	return 0;
}

int
cmd_event(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	const char     *name = NULL, *node = NULL, *service = NULL, *tagf = NULL;
	const char     *payload = NULL, *v;
	char            path[1024];
	size_t          len = 0;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int k = cli_http_flag(&h, argc, argv, &i);
		if (k < 0)
			return 1;
		if (k > 0)
			continue;
		if ((v = cli_flag_value("-name", argc, argv, &i)) != NULL)
			name = v;
		else if ((v = cli_flag_value("-node", argc, argv, &i)) != NULL)
			node = v;
		else if ((v = cli_flag_value("-service", argc, argv, &i)) != NULL)
			service = v;
		else if ((v = cli_flag_value("-tag", argc, argv, &i)) != NULL)
			tagf = v;
		else if (argv[i][0] != '-' && payload == NULL)
			payload = argv[i];
		else {
			fprintf(stderr, "Usage: tribune event [options] [payload]\n");
			return 1;
		}
	}
	if (name == NULL || *name == '\0') {
		fprintf(stderr, "Event name must be specified\n");
		return 1;
	}
	if (name[0] == '_') {
		fprintf(stderr, "Event names starting with '_' are reserved\n");
		return 1;
	}
	if (tagf != NULL && service == NULL) {
		fprintf(stderr, "Cannot provide tag filter without service filter.\n");
		return 1;
	}
	char *en = cli_escape(name);
	len = (size_t)snprintf(path, sizeof(path), "/v1/event/fire/%s", en);
	free(en);
	const char *qs[3][2] = { { "node", node }, { "service", service }, { "tag", tagf } };
	char        sep = '?';
	for (int i = 0; i < 3; i++) {
		if (qs[i][1] == NULL)
			continue;
		char *e = cli_escape(qs[i][1]);
		len += (size_t)snprintf(path + len, len < sizeof(path) ? sizeof(path) - len : 0,
		    "%c%s=%s", sep, qs[i][0], e);
		free(e);
		sep = '&';
	}
	if (cli_request(&h, "PUT", path, payload, payload ? strlen(payload) : 0, &r) != 0 ||
	    r.status != 200) {
		fprintf(stderr, "Error firing event: %s\n", r.status ? r.body : r.error);
		cli_resp_free(&r);
		return 1;
	}
	json_t *ev = json_loads(r.body, 0, NULL);
	printf("Event ID: %s\n", json_string_value(json_object_get(ev, "ID")) ?
	    json_string_value(json_object_get(ev, "ID")) : "");
	json_decref(ev);
	cli_resp_free(&r);
	return 0;
}

int
cmd_keygen(int argc, char **argv)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char key[33] = { 0 };
	char          out[48];
	size_t        o = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "Usage: tribune keygen\n");
		return 1;
	}
	if (getrandom(key, 32, 0) != 32) {
		fprintf(stderr, "Error reading random data\n");
		return 1;
	}
	for (size_t i = 0; i < 32; i += 3) {
		unsigned v = (unsigned)key[i] << 16 | (unsigned)key[i + 1] << 8 |
		    (i + 2 < 32 ? key[i + 2] : 0);
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = i + 2 < 32 ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	printf("%s\n", out);
	return 0;
}
