#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"

/*
 * Every flag and typed config key of `tribune agent`, with Consul's names
 * and defaults (reference §3.1).  Keys without a row and outside
 * config_free_keys[] are refused by `validate`.
 */
const struct config_option config_options[] = {
	{ "-dev", "dev", CT_BOOL, "false", "development mode: in-memory server" },
	{ "-server", "server", CT_BOOL, "false", "run as a server" },
	{ "-bootstrap", "bootstrap", CT_BOOL, "false", "bootstrap a one-server cluster" },
	{ "-bootstrap-expect", "bootstrap_expect", CT_INT, "0", "servers to wait for before bootstrapping" },
	{ "-node", "node_name", CT_STR, NULL, "node name (default: hostname)" },
	{ "-node-id", "node_id", CT_STR, NULL, "node UUID (default: random, persisted)" },
	{ "-node-meta", "node_meta", CT_KV, NULL, "node metadata key:value (repeatable)" },
	{ "-datacenter", "datacenter", CT_STR, "dc1", "datacenter name" },
	{ "-data-dir", "data_dir", CT_STR, NULL, "data directory" },
	{ "-config-file", NULL, CT_FILES, NULL, "a JSON config file (repeatable)" },
	{ "-config-dir", NULL, CT_FILES, NULL, "a directory of JSON config files (repeatable)" },
	{ "-bind", "bind_addr", CT_STR, "0.0.0.0", "address to bind cluster traffic to" },
	{ "-advertise", "advertise_addr", CT_STR, NULL, "address to advertise to the cluster" },
	{ "-client", "client_addr", CT_STR, "127.0.0.1", "address(es) for HTTP and DNS" },
	{ "-ui", "ui", CT_BOOL, "false", "serve the web UI" },
	{ "-join", "start_join", CT_LIST, NULL, "address to join at start (repeatable)" },
	{ "-retry-join", "retry_join", CT_LIST, NULL, "address to join, with retries (repeatable)" },
	{ "-retry-interval", "retry_interval", CT_DUR, "30s", "time between join attempts" },
	{ "-retry-max", "retry_max", CT_INT, "0", "join attempts (0 = unlimited)" },
	{ "-rejoin", "rejoin_after_leave", CT_BOOL, "false", "rejoin after a leave" },
	{ "-enable-script-checks", "enable_script_checks", CT_BOOL, "false", "allow script checks" },
	{ "-enable-local-script-checks", "enable_local_script_checks", CT_BOOL, "false", "allow script checks from config files" },
	{ "-domain", "domain", CT_STR, "consul.", "DNS domain" },
	{ "-alt-domain", "alt_domain", CT_STR, NULL, "alternate DNS domain" },
	{ "-recursor", "recursors", CT_LIST, NULL, "upstream DNS server (repeatable)" },
	{ "-encrypt", "encrypt", CT_STR, NULL, "gossip encryption key (base64, 32 bytes)" },
	{ "-log-level", "log_level", CT_STR, "info", "trace, debug, info, warn, error" },
	{ "-dns-port", "ports.dns", CT_INT, "8600", "DNS port" },
	{ "-http-port", "ports.http", CT_INT, "8500", "HTTP port" },
	{ "-serf-lan-port", "ports.serf_lan", CT_INT, "8301", "LAN gossip port" },
	{ "-serf-wan-port", "ports.serf_wan", CT_INT, "8302", "WAN gossip port" },
	{ "-server-port", "ports.server", CT_INT, "8300", "server RPC port" },
	{ "-pid-file", "pid_file", CT_STR, NULL, "write the agent's pid here" },
	{ "-default-query-time", "default_query_time", CT_DUR, "300s", "blocking query default wait" },
	{ "-max-query-time", "max_query_time", CT_DUR, "600s", "blocking query maximum wait" },
	{ NULL, "leave_on_terminate", CT_BOOL, NULL, "leave the cluster on SIGTERM (default: clients)" },
	{ NULL, "skip_leave_on_interrupt", CT_BOOL, NULL, "no leave on SIGINT (default: servers)" },
	{ NULL, "reconnect_timeout", CT_DUR, "72h", "reap failed members after" },
	{ NULL, "session_ttl_min", CT_DUR, "10s", "smallest session TTL" },
	{ NULL, "check_output_max_size", CT_INT, "4096", "check output cap" },
	{ NULL, "raft_snapshot_threshold", CT_INT, "16384", "entries between snapshots" },
	{ NULL, "raft_trailing_logs", CT_INT, "10000", "entries kept after a snapshot" },
	{ NULL, NULL, CT_STR, NULL, NULL }
};

/* Keys accepted as they are and handed to the daemon that owns them. */
static const char *const config_free_keys[] = {
	"service", "services", "check", "checks", "dns_config", "addresses",
	"acl", "performance", "telemetry", "limits", "ui_config", "watches",
	"autopilot", "gossip_lan", "gossip_wan", "tls", "primary_datacenter",
	"translate_wan_addrs", "disable_remote_exec", "disable_update_check",
	"connect", "node_meta", "ports", "http_config", "enable_syslog",
	"leave_drain_time", "check_update_interval", "raft_protocol", "segment",
	"advertise_addr_wan", "bind_addr_wan", "serf_lan", "serf_wan",
	"encrypt_verify_incoming", "encrypt_verify_outgoing", "retry_join_wan",
	"start_join_wan", "log_json", "log_file", "protocol", "ae_interval",
	NULL
};

int
config_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		double      mult;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
		{ "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	const char *p = s;
	double      total = 0;
	int         neg = 0;

	if (s == NULL || *s == '\0')
		return -1;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*p) {
		char  *end;
		double v;
		size_t best = 0, bi = 0;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno)
			return -1;
		p = end;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, n) == 0 && n > best) {
				best = n;
				bi = i;
			}
		}
		if (best == 0)
			return -1;
		total += v * units[bi].mult;
		p += best;
	}
	if (total > 9.2e18)
		return -1;
	*ns = (int64_t)(neg ? -total : total);
	return 0;
}

int
config_key_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
		a++;
		b++;
	}
}

json_t *
config_jget(const json_t *obj, const char *name)
{
	const char *k;
	json_t     *v;

	if (!json_is_object(obj))
		return NULL;
	if ((v = json_object_get(obj, name)) != NULL)
		return v;
	json_object_foreach((json_t *)(uintptr_t)obj, k, v)
		if (config_key_eq(k, name))
			return v;
	return NULL;
}

const struct config_option *
config_find_flag(const char *flag)
{
	size_t n;

	if (flag[0] == '-' && flag[1] == '-')
		flag++;
	n = strcspn(flag, "=");
	for (const struct config_option *o = config_options; o->key || o->flag;
	     o++)
		if (o->flag != NULL && strlen(o->flag) == n &&
		    strncmp(o->flag, flag, n) == 0)
			return o;
	return NULL;
}

const struct config_option *
config_find_key(const char *key)
{
	for (const struct config_option *o = config_options; o->key || o->flag;
	     o++)
		if (o->key != NULL && strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

json_t *
config_path(const json_t *doc, const char *key)
{
	char        part[64];
	const char *dot;
	json_t     *cur = (json_t *)(uintptr_t)doc;

	while ((dot = strchr(key, '.')) != NULL) {
		size_t n = (size_t)(dot - key);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, key, n);
		part[n] = '\0';
		if ((cur = config_jget(cur, part)) == NULL)
			return NULL;
		key = dot + 1;
	}
	return config_jget(cur, key);
}

int
config_path_set(json_t *doc, const char *key, json_t *value)
{
	char        part[64];
	const char *dot;
	json_t     *cur = doc;

	while ((dot = strchr(key, '.')) != NULL) {
		size_t  n = (size_t)(dot - key);
		json_t *next;
		if (n >= sizeof(part)) {
			json_decref(value);
			return -1;
		}
		memcpy(part, key, n);
		part[n] = '\0';
		if ((next = json_object_get(cur, part)) == NULL &&
		    json_object_set_new(cur, part, next = json_object()) != 0)
			next = NULL;
		if (!json_is_object(next)) {
			/* "ports": 5, then ports.dns: nowhere to put it. */
			json_decref(value);
			return -1;
		}
		cur = next;
		key = dot + 1;
	}
	return json_object_set_new(cur, key, value);
}

/* A flag's text as a JSON string, or NULL with a message (JSON strings are
 * UTF-8; a command line need not be). */
static json_t *
config_string(const struct config_option *o, const char *value, char *err,
    size_t errlen)
{
	json_t *v = json_string(value);

	if (v == NULL)
		snprintf(err, errlen, "invalid UTF-8 in the value of %s",
		    o->flag ? o->flag : o->key);
	return v;
}

static json_t *
config_value(const struct config_option *o, const char *value, char *err,
    size_t errlen)
{
	char   *end;
	long long n;
	int64_t d;

	switch (o->type) {
	case CT_STR:
		return config_string(o, value, err, errlen);
	case CT_BOOL:
		if (value == NULL || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0)
			return json_true();
		if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
			return json_false();
		snprintf(err, errlen, "invalid boolean value \"%s\" for %s",
		    value, o->flag ? o->flag : o->key);
		return NULL;
	case CT_INT:
		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end) {
			snprintf(err, errlen, "invalid number \"%s\" for %s",
			    value, o->flag ? o->flag : o->key);
			return NULL;
		}
		return json_integer(n);
	case CT_DUR:
		if (config_parse_duration(value, &d) != 0) {
			snprintf(err, errlen, "invalid duration \"%s\" for %s",
			    value, o->flag ? o->flag : o->key);
			return NULL;
		}
		return config_string(o, value, err, errlen);
	default:
		return config_string(o, value, err, errlen);
	}
}

/*
 * The array (or object) at key in doc, made there if key holds something
 * else or nothing; NULL when it cannot be (a parent is not an object).
 */
static json_t *
config_slot(json_t *doc, const char *key, bool array)
{
	json_t *cur = config_path(doc, key);

	if (cur != NULL && (array ? json_is_array(cur) : json_is_object(cur)))
		return cur;
	cur = array ? json_array() : json_object();
	/* config_path_set takes cur's reference; doc keeps it alive. */
	return config_path_set(doc, key, cur) == 0 ? cur : NULL;
}

int
config_set_flag(json_t *doc, const struct config_option *o, const char *value,
    char *err, size_t errlen)
{
	json_t *v, *cur;

	if (o->key == NULL) {
		/* -config-file and -config-dir name files, not a key. */
		snprintf(err, errlen, "%s is not a setting", o->flag);
		return -1;
	}
	switch (o->type) {
	case CT_LIST:
		if ((v = config_string(o, value, err, errlen)) == NULL)
			return -1;
		if ((cur = config_slot(doc, o->key, true)) == NULL) {
			json_decref(v);
			snprintf(err, errlen, "cannot set %s", o->key);
			return -1;
		}
		json_array_append_new(cur, v);
		return 0;
	case CT_KV: {
		const char *colon = strchr(value, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "%s wants key:value, got \"%s\"",
			    o->flag, value);
			return -1;
		}
		if ((cur = config_slot(doc, o->key, false)) == NULL) {
			snprintf(err, errlen, "cannot set %s", o->key);
			return -1;
		}
		if ((v = config_string(o, colon + 1, err, errlen)) == NULL)
			return -1;
		char *k = strndup(value, (size_t)(colon - value));
		int rv = -1;
		if (k != NULL)
			rv = json_object_set_new(cur, k, v); /* takes v, even failing */
		else
			json_decref(v);
		free(k);
		if (rv != 0)
			snprintf(err, errlen, "invalid key in the value of %s",
			    o->flag);
		return rv;
	}
	default:
		if ((v = config_value(o, value, err, errlen)) == NULL)
			return -1;
		if (config_path_set(doc, o->key, v) != 0) {
			snprintf(err, errlen, "cannot set %s", o->key);
			return -1;
		}
		return 0;
	}
}

void
config_merge(json_t *dst, const json_t *src)
{
	const char *k;
	json_t     *v;

	json_object_foreach((json_t *)(uintptr_t)src, k, v) {
		json_t *d = json_object_get(dst, k);
		if (d != NULL && json_is_object(d) && json_is_object(v))
			config_merge(d, v);
		else if (d != NULL && json_is_array(d) && json_is_array(v))
			json_array_extend(d, v);
		else
			json_object_set(dst, k, v);
	}
}

static int
config_load_file(json_t *doc, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t      *f;
	int          rv;

	if ((f = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "%s: line %d, column %d: %s", path,
		    je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(f)) {
		snprintf(err, errlen, "%s: top level must be a JSON object",
		    path);
		json_decref(f);
		return -1;
	}
	rv = config_validate(f, path, err, errlen);
	if (rv == 0)
		config_merge(doc, f);
	json_decref(f);
	return rv;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
config_load_path(json_t *doc, const char *path, char *err, size_t errlen)
{
	struct stat    st;
	DIR           *d;
	struct dirent *de;
	char         **names = NULL;
	size_t         n = 0;
	int            rv = 0;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return config_load_file(doc, path, err, errlen);
	if ((d = opendir(path)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(char *));
		if (nn == NULL)
			break;
		names = nn;
		if (asprintf(&names[n], "%s/%s", path, de->d_name) == -1)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (rv == 0)
			rv = config_load_file(doc, names[i], err, errlen);
		free(names[i]);
	}
	free(names);
	return rv;
}

static int
config_is_free_key(const char *k)
{
	for (size_t i = 0; config_free_keys[i]; i++)
		if (config_key_eq(config_free_keys[i], k))
			return 1;
	return 0;
}

static int
config_check_type(const struct config_option *o, json_t *v, const char *where,
    char *err, size_t errlen)
{
	int64_t d;
	int     ok = 1;

	switch (o->type) {
	case CT_STR:
		ok = json_is_string(v);
		break;
	case CT_BOOL:
		ok = json_is_boolean(v);
		break;
	case CT_INT:
		ok = json_is_integer(v);
		break;
	case CT_DUR:
		ok = (json_is_string(v) &&
		         config_parse_duration(json_string_value(v), &d) == 0) ||
		    json_is_integer(v);
		break;
	case CT_LIST:
		ok = json_is_array(v);
		for (size_t i = 0; ok && i < json_array_size(v); i++)
			ok = json_is_string(json_array_get(v, i));
		break;
	case CT_KV:
		ok = json_is_object(v);
		break;
	case CT_FILES:
		break;
	}
	if (!ok) {
		static const char *const names[] = { "a string", "a boolean",
			"an integer", "a duration such as \"10s\"",
			"a list of strings", "an object", "a path" };
		snprintf(err, errlen, "%s: %s: must be %s", where, o->key,
		    names[o->type]);
		return -1;
	}
	return 0;
}

int
config_validate(json_t *doc, const char *where, char *err, size_t errlen)
{
	const char *k;
	json_t     *v;

	json_object_foreach(doc, k, v) {
		const struct config_option *o = NULL;
		for (const struct config_option *p = config_options;
		     p->key || p->flag; p++)
			if (p->key != NULL && strchr(p->key, '.') == NULL &&
			    config_key_eq(p->key, k))
				o = p;
		if (o != NULL) {
			if (config_check_type(o, v, where, err, errlen) != 0)
				return -1;
			continue;
		}
		if (!config_is_free_key(k)) {
			snprintf(err, errlen, "%s: invalid config key %s", where,
			    k);
			return -1;
		}
		if (config_key_eq(k, "ports")) {
			const char *pk;
			json_t     *pv;
			if (!json_is_object(v)) {
				snprintf(err, errlen, "%s: ports: must be an object", where);
				return -1;
			}
			json_object_foreach(v, pk, pv) if (!json_is_integer(pv)) {
				snprintf(err, errlen, "%s: ports.%s: must be an integer",
				    where, pk);
				return -1;
			}
		}
	}
	return 0;
}

void
config_fill_defaults(json_t *doc)
{
	char err[256];

	for (const struct config_option *o = config_options; o->key || o->flag;
	     o++) {
		if (o->key == NULL || o->def == NULL)
			continue;
		if (config_path(doc, o->key) != NULL)
			continue;
		config_set_flag(doc, o, o->def, err, sizeof(err));
	}
}

static char *
jstr(const json_t *doc, const char *key)
{
	json_t *v = config_path(doc, key);

	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static bool
jbool(const json_t *doc, const char *key, bool def)
{
	json_t *v = config_path(doc, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static int64_t
jint(const json_t *doc, const char *key, int64_t def)
{
	json_t *v = config_path(doc, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static int64_t
jdur_ms(const json_t *doc, const char *key, int64_t def_ms)
{
	json_t *v = config_path(doc, key);
	int64_t ns;

	if (json_is_integer(v))
		return json_integer_value(v) / 1000000;
	if (json_is_string(v) &&
	    config_parse_duration(json_string_value(v), &ns) == 0)
		return ns / 1000000;
	return def_ms;
}

static void
jlist(const json_t *doc, const char *key, struct proto_strs *out)
{
	json_t *v = config_path(doc, key);

	for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
		if (json_is_string(json_array_get(v, i)))
			proto_strs_push(out,
			    json_string_value(json_array_get(v, i)));
}

int
config_from_json(json_t *doc, struct config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "config is not a JSON object");
		return -1;
	}
	c->root = json_incref(doc);
	c->node_name = jstr(doc, "node_name");
	c->node_id = jstr(doc, "node_id");
	c->datacenter = jstr(doc, "datacenter");
	c->data_dir = jstr(doc, "data_dir");
	c->domain = jstr(doc, "domain");
	c->alt_domain = jstr(doc, "alt_domain");
	c->bind_addr = jstr(doc, "bind_addr");
	c->advertise_addr = jstr(doc, "advertise_addr");
	c->client_addr = jstr(doc, "client_addr");
	c->log_level = jstr(doc, "log_level");
	c->encrypt = jstr(doc, "encrypt");
	c->server = jbool(doc, "server", false);
	c->dev = jbool(doc, "dev", false);
	c->ui = jbool(doc, "ui", false) || jbool(doc, "ui_config.enabled", false);
	c->bootstrap = jbool(doc, "bootstrap", false);
	c->enable_script_checks = jbool(doc, "enable_script_checks", false);
	c->enable_local_script_checks =
	    jbool(doc, "enable_local_script_checks", false);
	c->leave_on_terminate = jbool(doc, "leave_on_terminate", !c->server);
	c->skip_leave_on_interrupt =
	    jbool(doc, "skip_leave_on_interrupt", c->server);
	c->rejoin_after_leave = jbool(doc, "rejoin_after_leave", false);
	c->bootstrap_expect = jint(doc, "bootstrap_expect", 0);
	c->retry_max = jint(doc, "retry_max", 0);
	c->retry_interval_ms = jdur_ms(doc, "retry_interval", 30000);
	c->reconnect_timeout_ms = jdur_ms(doc, "reconnect_timeout", 72 * 3600000LL);
	c->port_dns = jint(doc, "ports.dns", 8600);
	c->port_http = jint(doc, "ports.http", 8500);
	c->port_serf_lan = jint(doc, "ports.serf_lan", 8301);
	c->port_serf_wan = jint(doc, "ports.serf_wan", 8302);
	c->port_server = jint(doc, "ports.server", 8300);
	jlist(doc, "retry_join", &c->retry_join);
	jlist(doc, "start_join", &c->start_join);
	jlist(doc, "recursors", &c->recursors);
	return 0;
}

int
config_from_string(const char *json, struct config *c, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t      *doc;
	int          rv;

	if ((doc = json_loads(json, 0, &je)) == NULL) {
		snprintf(err, errlen, "config: %s", je.text);
		return -1;
	}
	rv = config_from_json(doc, c, err, errlen);
	json_decref(doc);
	return rv;
}

void
config_free(struct config *c)
{
	free(c->node_name);
	free(c->node_id);
	free(c->datacenter);
	free(c->data_dir);
	free(c->domain);
	free(c->alt_domain);
	free(c->bind_addr);
	free(c->advertise_addr);
	free(c->client_addr);
	free(c->log_level);
	free(c->encrypt);
	proto_strs_free(&c->retry_join);
	proto_strs_free(&c->start_join);
	proto_strs_free(&c->recursors);
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}
