/*
 * Service and check definitions, from config files and API bodies, into one
 * canonical JSON form with Consul's PascalCase keys and defaults.  Keys are
 * matched as Go's encoding/json does (any case) and also in snake_case
 * (config files); user maps (Meta, Header, TaggedAddresses) keep theirs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkd.h"
#include "log.h"

static const char *const defs_service_keys[] = {
	"ID", "Name", "Tags", "Address", "TaggedAddresses", "Meta", "Port",
	"SocketPath", "Kind", "Proxy", "Connect", "Check", "Checks",
	"EnableTagOverride", "Weights", "Token", "Namespace", "Partition",
	"Locality", NULL
};

static const char *const defs_check_keys[] = {
	"ID", "CheckID", "Name", "Notes", "ServiceID", "Status", "Interval",
	"Timeout", "TTL", "HTTP", "Method", "Header", "Body",
	"DisableRedirects", "TLSServerName", "TLSSkipVerify", "TCP",
	"TCPUseTLS", "UDP", "Args", "ScriptArgs", "Script", "GRPC",
	"GRPCUseTLS", "H2PING", "H2PingUseTLS", "DockerContainerID", "Shell",
	"AliasService", "AliasNode", "OSService",
	"DeregisterCriticalServiceAfter", "SuccessBeforePassing",
	"FailuresBeforeWarning", "FailuresBeforeCritical", "OutputMaxSize",
	"Token", "Namespace", "Partition", "Type", "ServiceName", NULL
};

static const char *const defs_weights_keys[] = { "Passing", "Warning", NULL };
static const char *const defs_addr_keys[] = { "Address", "Port", NULL };

/* Lowercase without '_' and '-': "tls_skip_verify" ~ "TLSSkipVerify". */
static void
defs_norm(const char *in, char *out, size_t outlen)
{
	size_t j = 0;

	for (; *in != '\0' && j + 1 < outlen; in++)
		if (*in != '_' && *in != '-')
			out[j++] = (char)tolower((unsigned char)*in);
	out[j] = '\0';
}

json_t *
defs_canon(const json_t *obj, const char *const *names)
{
	json_t     *out = json_object(), *v;
	const char *k;
	char        a[128], b[128];

	if (out == NULL || !json_is_object(obj))
		return out;
	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		const char *name = k;

		defs_norm(k, a, sizeof(a));
		for (size_t i = 0; names[i] != NULL; i++) {
			defs_norm(names[i], b, sizeof(b));
			if (strcmp(a, b) == 0) {
				name = names[i];
				break;
			}
		}
		/* First spelling wins, as Go keeps the last... close enough. */
		json_object_set(out, name, v);
	}
	return out;
}

int64_t
defs_duration_ms(const json_t *v)
{
	int64_t ns;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		return json_integer_value(v) / 1000000;
	if (!json_is_string(v))
		return -1;
	if (*json_string_value(v) == '\0')
		return 0;
	if (config_parse_duration(json_string_value(v), &ns) != 0 || ns < 0)
		return -1;
	return ns / 1000000;
}

/* Copies a string field (or sets def when absent); -1 when not a string. */
static int
defs_str(json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		if (def != NULL)
			json_object_set_new(o, key, json_string(def));
		else
			json_object_del(o, key);
		return 0;
	}
	return json_is_string(v) ? 0 : -1;
}

static int
defs_int(json_t *o, const char *key, json_int_t def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		json_object_set_new(o, key, json_integer(def));
		return 0;
	}
	if (json_is_real(v)) {
		json_object_set_new(o, key, json_integer(
		    (json_int_t)json_real_value(v)));
		return 0;
	}
	return json_is_integer(v) ? 0 : -1;
}

static int
defs_bool(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		json_object_set_new(o, key, json_false());
		return 0;
	}
	return json_is_boolean(v) ? 0 : -1;
}

/* A map of strings (Meta); NULL -> {}. */
static int
defs_strmap(json_t *o, const char *key)
{
	json_t     *v = json_object_get(o, key), *x;
	const char *k;

	if (v == NULL || json_is_null(v)) {
		json_object_set_new(o, key, json_object());
		return 0;
	}
	if (!json_is_object(v))
		return -1;
	json_object_foreach(v, k, x)
		if (!json_is_string(x))
			return -1;
	return 0;
}

static int
defs_strlist(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key), *x;
	size_t  i;

	if (v == NULL || json_is_null(v)) {
		json_object_set_new(o, key, json_array());
		return 0;
	}
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, x)
		if (!json_is_string(x))
			return -1;
	return 0;
}

/* Header: {"X": ["a","b"]}; a single string is taken as a list of one. */
static int
defs_header(json_t *o)
{
	json_t     *v = json_object_get(o, "Header"), *x, *n;
	const char *k;

	if (v == NULL || json_is_null(v)) {
		json_object_del(o, "Header");
		return 0;
	}
	if (!json_is_object(v))
		return -1;
	n = json_object();
	json_object_foreach(v, k, x) {
		if (json_is_string(x)) {
			json_t *a = json_array();

			json_array_append(a, x);
			json_object_set_new(n, k, a);
		} else if (json_is_array(x)) {
			json_object_set(n, k, x);
		} else {
			json_decref(n);
			return -1;
		}
	}
	json_object_set_new(o, "Header", n);
	return 0;
}

/* Which kind a definition is, from the one selector field it has. */
static const char *
defs_type(const json_t *c)
{
	if (json_object_get(c, "Args") != NULL ||
	    json_object_get(c, "Script") != NULL)
		return json_object_get(c, "DockerContainerID") != NULL ?
		    "docker" : "script";
	if (json_object_get(c, "HTTP") != NULL)
		return "http";
	if (json_object_get(c, "TCP") != NULL)
		return "tcp";
	if (json_object_get(c, "UDP") != NULL)
		return "udp";
	if (json_object_get(c, "GRPC") != NULL)
		return "grpc";
	if (json_object_get(c, "H2PING") != NULL)
		return "h2ping";
	if (json_object_get(c, "TTL") != NULL)
		return "ttl";
	if (json_object_get(c, "AliasService") != NULL ||
	    json_object_get(c, "AliasNode") != NULL)
		return "alias";
	if (json_object_get(c, "OSService") != NULL)
		return "os_service";
	return NULL;
}

static bool
defs_valid_status(const char *s)
{
	return strcmp(s, "passing") == 0 || strcmp(s, "warning") == 0 ||
	    strcmp(s, "critical") == 0;
}

int
defs_check(const json_t *in, json_t **out, char *err, size_t errlen)
{
	json_t     *c, *v;
	const char *type, *st;
	int64_t     ms;
	static const char *const durs[] = { "Interval", "Timeout", "TTL",
		"DeregisterCriticalServiceAfter", NULL };
	static const char *const strs[] = { "Notes", "ServiceID", "HTTP",
		"Method", "Body", "TLSServerName", "TCP", "UDP", "GRPC",
		"H2PING", "Script", "DockerContainerID", "Shell",
		"AliasService", "AliasNode", "OSService", "ServiceName", NULL };

	*out = NULL;
	if (!json_is_object(in)) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal non-object into Go value of type "
		    "structs.CheckDefinition");
		return -1;
	}
	c = defs_canon(in, defs_check_keys);
	/* ID is the config files' spelling of CheckID. */
	if ((v = json_object_get(c, "ID")) != NULL) {
		if (json_object_get(c, "CheckID") == NULL)
			json_object_set(c, "CheckID", v);
		json_object_del(c, "ID");
	}
	if ((v = json_object_get(c, "ScriptArgs")) != NULL) {
		if (json_object_get(c, "Args") == NULL)
			json_object_set(c, "Args", v);
		json_object_del(c, "ScriptArgs");
	}
	for (size_t i = 0; strs[i] != NULL; i++)
		if (defs_str(c, strs[i], NULL) != 0) {
			snprintf(err, errlen, "Request decode failed: "
			    "json: cannot unmarshal into field %s of type "
			    "string", strs[i]);
			goto fail;
		}
	if (defs_str(c, "Name", NULL) != 0 || defs_str(c, "CheckID", NULL)) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Name of type string");
		goto fail;
	}
	if (json_object_get(c, "Name") == NULL ||
	    *json_string_value(json_object_get(c, "Name")) == '\0') {
		snprintf(err, errlen, "Missing check name");
		goto fail;
	}
	if (json_object_get(c, "CheckID") == NULL ||
	    *json_string_value(json_object_get(c, "CheckID")) == '\0')
		json_object_set(c, "CheckID", json_object_get(c, "Name"));
	if (defs_str(c, "Status", "critical") != 0 ||
	    !defs_valid_status(st = json_string_value(json_object_get(c,
	        "Status"))) ) {
		if (json_is_string(json_object_get(c, "Status")) &&
		    *json_string_value(json_object_get(c, "Status")) == '\0') {
			json_object_set_new(c, "Status", json_string("critical"));
		} else {
			snprintf(err, errlen, "Invalid check status: \"%s\"",
			    json_is_string(json_object_get(c, "Status")) ?
			    json_string_value(json_object_get(c, "Status")) : "");
			goto fail;
		}
	}
	if ((v = json_object_get(c, "Args")) != NULL && !json_is_null(v)) {
		if (defs_strlist(c, "Args") != 0) {
			snprintf(err, errlen, "Request decode failed: json: "
			    "cannot unmarshal into field Args of type []string");
			goto fail;
		}
	} else
		json_object_del(c, "Args");
	if (defs_header(c) != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Header of type map[string][]string");
		goto fail;
	}
	for (size_t i = 0; durs[i] != NULL; i++) {
		v = json_object_get(c, durs[i]);
		if (v == NULL)
			continue;
		if ((ms = defs_duration_ms(v)) < 0) {
			snprintf(err, errlen, "Request decode failed: time: "
			    "invalid duration \"%s\"", json_is_string(v) ?
			    json_string_value(v) : "?");
			goto fail;
		}
		if (json_is_integer(v)) {
			char buf[32];

			snprintf(buf, sizeof(buf), "%lldms", (long long)ms);
			json_object_set_new(c, durs[i], json_string(buf));
		}
	}
	if (defs_bool(c, "TLSSkipVerify") != 0 ||
	    defs_bool(c, "DisableRedirects") != 0 ||
	    defs_bool(c, "TCPUseTLS") != 0 || defs_bool(c, "GRPCUseTLS") != 0 ||
	    defs_int(c, "SuccessBeforePassing", 0) != 0 ||
	    defs_int(c, "FailuresBeforeWarning", 0) != 0 ||
	    defs_int(c, "FailuresBeforeCritical", 0) != 0 ||
	    defs_int(c, "OutputMaxSize", 0) != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal a check field of the wrong type");
		goto fail;
	}
	if ((type = defs_type(c)) == NULL) {
		snprintf(err, errlen, "Must provide TTL or Script/"
		    "DockerContainerID/HTTP/TCP/UDP/GRPC/H2PING/AliasService/"
		    "OSService and Interval");
		goto fail;
	}
	json_object_set_new(c, "Type", json_string(type));
	if (strcmp(type, "ttl") == 0) {
		if (defs_duration_ms(json_object_get(c, "TTL")) <= 0) {
			snprintf(err, errlen, "TTL must be > 0 for TTL checks");
			goto fail;
		}
	} else if (strcmp(type, "alias") != 0 &&
	    defs_duration_ms(json_object_get(c, "Interval")) <= 0) {
		snprintf(err, errlen, "Interval must be > 0 for Script, HTTP, "
		    "H2PING, TCP or UDP checks");
		goto fail;
	}
	if (strcmp(type, "http") == 0 && defs_str(c, "Method", "GET") == 0 &&
	    *json_string_value(json_object_get(c, "Method")) == '\0')
		json_object_set_new(c, "Method", json_string("GET"));
	*out = c;
	return 0;
fail:
	json_decref(c);
	return -1;
}

static int
defs_weights(json_t *s, char *err, size_t errlen)
{
	json_t *w = json_object_get(s, "Weights"), *n;

	if (w == NULL || json_is_null(w)) {
		n = json_pack("{s:i,s:i}", "Passing", 1, "Warning", 1);
		json_object_set_new(s, "Weights", n);
		return 0;
	}
	if (!json_is_object(w)) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Weights of type api.AgentWeights");
		return -1;
	}
	n = defs_canon(w, defs_weights_keys);
	if (defs_int(n, "Passing", 1) != 0 || defs_int(n, "Warning", 1) != 0) {
		json_decref(n);
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Weights of type int");
		return -1;
	}
	if (json_integer_value(json_object_get(n, "Passing")) < 1) {
		json_decref(n);
		snprintf(err, errlen, "Passing must be greater than 0");
		return -1;
	}
	if (json_integer_value(json_object_get(n, "Warning")) < 0) {
		json_decref(n);
		snprintf(err, errlen, "Warning must be greater or equal than 0");
		return -1;
	}
	json_object_set_new(s, "Weights", n);
	return 0;
}

static int
defs_tagged(json_t *s, char *err, size_t errlen)
{
	json_t     *t = json_object_get(s, "TaggedAddresses"), *n, *x;
	const char *k;

	if (t == NULL || json_is_null(t)) {
		json_object_del(s, "TaggedAddresses");
		return 0;
	}
	if (!json_is_object(t))
		goto bad;
	n = json_object();
	json_object_foreach(t, k, x) {
		json_t *a;

		if (!json_is_object(x)) {
			json_decref(n);
			goto bad;
		}
		a = defs_canon(x, defs_addr_keys);
		if (defs_str(a, "Address", "") != 0 ||
		    defs_int(a, "Port", 0) != 0) {
			json_decref(a);
			json_decref(n);
			goto bad;
		}
		json_object_set_new(n, k, a);
	}
	json_object_set_new(s, "TaggedAddresses", n);
	return 0;
bad:
	snprintf(err, errlen, "Request decode failed: json: cannot unmarshal "
	    "into field TaggedAddresses of type map[string]api.ServiceAddress");
	return -1;
}

int
defs_service(const json_t *in, json_t **svcout, json_t **checksout,
    char *err, size_t errlen)
{
	json_t     *s, *v, *checks = NULL, *list, *c;
	const char *id, *name;
	size_t      i, n;

	*svcout = *checksout = NULL;
	if (!json_is_object(in)) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal non-object into Go value of type "
		    "structs.ServiceDefinition");
		return -1;
	}
	s = defs_canon(in, defs_service_keys);
	/* Some clients (and Consul's own CLI output) say Service for Name. */
	if (json_object_get(s, "Name") == NULL &&
	    json_is_string(json_object_get(s, "Service")))
		json_object_set(s, "Name", json_object_get(s, "Service"));
	json_object_del(s, "Service");
	if (defs_str(s, "Name", NULL) != 0 || defs_str(s, "ID", NULL) != 0 ||
	    defs_str(s, "Address", "") != 0 || defs_str(s, "Kind", NULL) ||
	    defs_str(s, "SocketPath", NULL) != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into a string field of structs.ServiceDefinition");
		goto fail;
	}
	if ((v = json_object_get(s, "Name")) == NULL ||
	    *json_string_value(v) == '\0') {
		snprintf(err, errlen, "Missing service name");
		goto fail;
	}
	name = json_string_value(v);
	if ((v = json_object_get(s, "ID")) == NULL || *json_string_value(v) ==
	    '\0')
		json_object_set_new(s, "ID", json_string(name));
	id = json_string_value(json_object_get(s, "ID"));
	if (defs_strlist(s, "Tags") != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Tags of type []string");
		goto fail;
	}
	if (defs_strmap(s, "Meta") != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Meta of type map[string]string");
		goto fail;
	}
	if (defs_int(s, "Port", 0) != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field Port of type int");
		goto fail;
	}
	if (defs_bool(s, "EnableTagOverride") != 0) {
		snprintf(err, errlen, "Request decode failed: json: cannot "
		    "unmarshal into field EnableTagOverride of type bool");
		goto fail;
	}
	if (defs_weights(s, err, errlen) != 0 || defs_tagged(s, err, errlen))
		goto fail;

	/* Inline checks: Check and Checks, ids service:<id>[:N]. */
	list = json_array();
	if ((v = json_object_get(s, "Check")) != NULL && !json_is_null(v))
		json_array_append(list, v);
	if ((v = json_object_get(s, "Checks")) != NULL && !json_is_null(v)) {
		if (!json_is_array(v)) {
			json_decref(list);
			snprintf(err, errlen, "Request decode failed: json: "
			    "cannot unmarshal into field Checks of type "
			    "structs.CheckTypes");
			goto fail;
		}
		json_array_foreach(v, i, c)
			json_array_append(list, c);
	}
	json_object_del(s, "Check");
	json_object_del(s, "Checks");
	checks = json_array();
	n = json_array_size(list);
	json_array_foreach(list, i, c) {
		json_t *in2, *out;
		char    buf[512];

		if (!json_is_object(c)) {
			json_decref(list);
			snprintf(err, errlen, "Request decode failed: json: "
			    "cannot unmarshal into Go value of type "
			    "structs.CheckType");
			goto fail;
		}
		in2 = defs_canon(c, defs_check_keys);
		if (json_object_get(in2, "CheckID") == NULL &&
		    json_object_get(in2, "ID") == NULL) {
			if (n > 1)
				snprintf(buf, sizeof(buf), "service:%s:%zu", id,
				    i + 1);
			else
				snprintf(buf, sizeof(buf), "service:%s", id);
			json_object_set_new(in2, "CheckID", json_string(buf));
		}
		if (!json_is_string(json_object_get(in2, "Name")) ||
		    *json_string_value(json_object_get(in2, "Name")) == '\0') {
			snprintf(buf, sizeof(buf), "Service '%s' check", name);
			json_object_set_new(in2, "Name", json_string(buf));
		}
		json_object_set_new(in2, "ServiceID", json_string(id));
		if (defs_check(in2, &out, err, errlen) != 0) {
			char tmp[512];

			snprintf(tmp, sizeof(tmp), "Invalid check: %s", err);
			snprintf(err, errlen, "%s", tmp);
			json_decref(in2);
			json_decref(list);
			goto fail;
		}
		json_decref(in2);
		json_array_append_new(checks, out);
	}
	json_decref(list);
	*svcout = s;
	*checksout = checks;
	return 0;
fail:
	json_decref(checks);
	json_decref(s);
	return -1;
}

/* Appends v (object or array of objects) to arr via fn. */
static int
defs_each(const json_t *v, json_t *svcs, json_t *chks, bool service)
{
	json_t *x, *s, *c, *one;
	size_t  i, j;
	char    err[512];
	int     bad = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_object(v)) {
		one = json_array();
		json_array_append(one, (json_t *)(uintptr_t)v);
	} else if (json_is_array(v)) {
		one = json_incref((json_t *)(uintptr_t)v);
	} else
		return -1;
	json_array_foreach(one, i, x) {
		if (service) {
			if (defs_service(x, &s, &c, err, sizeof(err)) != 0) {
				log_warnx("service definition: %s",
				    err);
				bad = -1;
				continue;
			}
			json_object_set_new(s, "Checks", c);
			json_array_append_new(svcs, s);
			(void)j;
		} else {
			if (defs_check(x, &c, err, sizeof(err)) != 0) {
				log_warnx("check definition: %s",
				    err);
				bad = -1;
				continue;
			}
			json_array_append_new(chks, c);
		}
	}
	json_decref(one);
	return bad;
}

int
defs_from_config(const json_t *root, json_t *svcs, json_t *chks)
{
	int rv = 0;

	if (defs_each(config_jget(root, "service"), svcs, chks, true) != 0)
		rv = -1;
	if (defs_each(config_jget(root, "services"), svcs, chks, true) != 0)
		rv = -1;
	if (defs_each(config_jget(root, "check"), svcs, chks, false) != 0)
		rv = -1;
	if (defs_each(config_jget(root, "checks"), svcs, chks, false) != 0)
		rv = -1;
	return rv;
}

/*
 * Go's time.Duration.String() of ms: "0s", "250ms", "10s", "1m30s",
 * "1h0m0s", "1.5s".
 */
void
defs_go_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t h, m, sec, frac;
	size_t  n = 0;

	if (ms <= 0) {
		snprintf(out, outlen, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(out, outlen, "%lldms", (long long)ms);
		return;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	sec = ms / 1000 % 60;
	frac = ms % 1000;
	if (h > 0)
		n += (size_t)snprintf(out + n, outlen - n, "%lldh", (long long)h);
	if (h > 0 || m > 0)
		n += (size_t)snprintf(out + n, outlen - n, "%lldm", (long long)m);
	if (n >= outlen)
		return;
	if (frac == 0)
		snprintf(out + n, outlen - n, "%llds", (long long)sec);
	else {
		char f[8];
		int  k;

		snprintf(f, sizeof(f), "%03lld", (long long)frac);
		for (k = 2; k > 0 && f[k] == '0'; k--)
			f[k] = '\0';
		snprintf(out + n, outlen - n, "%lld.%ss", (long long)sec, f);
	}
}
