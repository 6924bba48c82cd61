/*
 * The DNS part of the agent config, read from the agent config JSON (the
 * supervisor's ctl.config body, or a fixture file in standalone mode).
 * Keys are Consul's: domain, alt_domain, datacenter, node_name,
 * client_addr (space-separated), addresses.dns, ports.dns, recursors,
 * dns_config{node_ttl, service_ttl{name|prefix*|*: dur}, only_passing,
 * udp_answer_limit, a_record_limit, enable_truncate,
 * enable_additional_node_meta_txt, disable_compression, recursor_timeout,
 * recursor_strategy,
 * soa{refresh, retry,
 * expire, min_ttl}}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsd.h"

static char *
dnsconf_lower_dotless(const char *s)
{
	char  *l = strdup(s);
	size_t n;

	if (l == NULL)
		return NULL;
	for (char *p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* "consul." and "consul" are the same domain; so is ".consul". */
	n = strlen(l);
	while (n > 0 && l[n - 1] == '.')
		l[--n] = '\0';
	if (l[0] == '.')
		memmove(l, l + 1, n);
	return l;
}

void
dnsconf_defaults(struct dnsconf *c)
{
	memset(c, 0, sizeof(*c));
	c->domain = strdup("consul");
	c->datacenter = strdup("dc1");
	c->client_addr[0] = strdup("127.0.0.1");
	c->nclient_addr = 1;
	c->port = 8600;
	c->udp_answer_limit = 3;
	c->node_meta_txt = true;
	c->soa_refresh = 3600;
	c->soa_retry = 600;
	c->soa_expire = 86400;
	c->soa_minttl = 0;
	c->recursor_timeout_ms = 2000;
}

void
dnsconf_free(struct dnsconf *c)
{
	free(c->domain);
	free(c->alt_domain);
	free(c->datacenter);
	free(c->node_name);
	for (size_t i = 0; i < c->nclient_addr; i++)
		free(c->client_addr[i]);
	for (size_t i = 0; i < c->nservice_ttl; i++)
		free(c->service_ttl[i].name);
	free(c->service_ttl);
	memset(c, 0, sizeof(*c));
}

int64_t
dnsconf_duration_s(const char *s)
{
	double total = 0;
	bool   any = false;

	if (s == NULL || *s == '\0')
		return -1;
	while (*s) {
		char  *end;
		double v = strtod(s, &end);
		double mul;

		if (end == s || v < 0)
			return -1;
		s = end;
		if (*s == '\0' && !any) /* a bare number: seconds */
			return (int64_t)v;
		if (strncmp(s, "ns", 2) == 0) {
			mul = 1e-9;
			s += 2;
		} else if (strncmp(s, "us", 2) == 0 ||
		    strncmp(s, "\xc2\xb5s", 3) == 0) {
			mul = 1e-6;
			s += (*s == 'u') ? 2 : 3;
		} else if (strncmp(s, "ms", 2) == 0) {
			mul = 1e-3;
			s += 2;
		} else if (*s == 's') {
			mul = 1;
			s++;
		} else if (*s == 'm') {
			mul = 60;
			s++;
		} else if (*s == 'h') {
			mul = 3600;
			s++;
		} else {
			return -1;
		}
		total += v * mul;
		any = true;
	}
	return total > 4294967295.0 ? -1 : (int64_t)total;
}

/* A duration that may be a JSON string or a number of seconds. */
static int
dnsconf_json_dur(const json_t *j, uint32_t *out)
{
	int64_t v;

	if (json_is_integer(j))
		v = json_integer_value(j);
	else if (json_is_string(j))
		v = dnsconf_duration_s(json_string_value(j));
	else
		return -1;
	if (v < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
dnsconf_json_uint(const json_t *j, uint32_t *out)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > UINT32_MAX)
		return -1;
	*out = (uint32_t)json_integer_value(j);
	return 0;
}

static int
dnsconf_set_str(char **dst, const json_t *j, bool domain)
{
	char *v;

	if (!json_is_string(j))
		return -1;
	v = domain ? dnsconf_lower_dotless(json_string_value(j)) :
	    strdup(json_string_value(j));
	if (v == NULL)
		return -1;
	if (domain && v[0] == '\0') {
		free(v);
		v = NULL;
	}
	free(*dst);
	*dst = v;
	return 0;
}

static int
dnsconf_addrs(struct dnsconf *c, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;

	if (copy == NULL)
		return -1;
	for (size_t i = 0; i < c->nclient_addr; i++)
		free(c->client_addr[i]);
	c->nclient_addr = 0;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL &&
	    c->nclient_addr < DNSCONF_MAX_ADDRS;
	    tok = strtok_r(NULL, " \t,", &save))
		c->client_addr[c->nclient_addr++] = strdup(tok);
	free(copy);
	return c->nclient_addr > 0 ? 0 : -1;
}

/* "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53". */
static int
dnsconf_recursor(struct dnsconf *c, const char *s)
{
	char                     host[64];
	const char              *port = NULL;
	struct sockaddr_storage *ss;
	size_t                   n = c->nrecursors;
	long                     p = 53;

	if (n >= DNSCONF_MAX_RECURSORS)
		return 0;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (e == NULL || (size_t)(e - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (e[1] == ':')
			port = e + 2;
	} else {
		const char *colon = strchr(s, ':');
		size_t      l = strlen(s);
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			l = (size_t)(colon - s);
			port = colon + 1;
		}
		if (l >= sizeof(host))
			return -1;
		memcpy(host, s, l);
		host[l] = '\0';
	}
	if (port != NULL) {
		char *end;
		p = strtol(port, &end, 10);
		if (*end != '\0' || p <= 0 || p > 65535)
			return -1;
	}
	ss = &c->recursor[n];
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		c->recursor_len[n] = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		c->recursor_len[n] = sizeof(*sin6);
	} else {
		return -1;
	}
	c->nrecursors++;
	return 0;
}

static int
dnsconf_service_ttls(struct dnsconf *c, const json_t *obj)
{
	const char *key;
	json_t     *val;
	size_t      n = json_object_size(obj), i = 0;

	for (size_t k = 0; k < c->nservice_ttl; k++)
		free(c->service_ttl[k].name);
	free(c->service_ttl);
	c->service_ttl = NULL;
	c->nservice_ttl = 0;
	if (n == 0)
		return 0;
	if ((c->service_ttl = calloc(n, sizeof(*c->service_ttl))) == NULL)
		return -1;
	json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
		struct dnsconf_ttl *t = &c->service_ttl[i];
		size_t              l = strlen(key);

		if (dnsconf_json_dur(val, &t->ttl) != 0)
			return -1;
		if (l > 0 && key[l - 1] == '*') {
			t->prefix = true;
			l--;
		}
		if ((t->name = strndup(key, l)) == NULL)
			return -1;
		for (char *p = t->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		c->nservice_ttl = ++i;
	}
	return 0;
}

uint32_t
dnsconf_service_ttl(const struct dnsconf *c, const char *lname, size_t len)
{
	const struct dnsconf_ttl *best = NULL;
	size_t                    bestlen = 0;

	for (size_t i = 0; i < c->nservice_ttl; i++) {
		const struct dnsconf_ttl *t = &c->service_ttl[i];
		size_t                    l = strlen(t->name);

		if (!t->prefix) {
			if (l == len && strncasecmp(t->name, lname, len) == 0)
				return t->ttl;
			continue;
		}
		/* "*" is the prefix "" and so loses to any longer one. */
		if (l <= len && strncasecmp(t->name, lname, l) == 0 &&
		    (best == NULL || l > bestlen)) {
			best = t;
			bestlen = l;
		}
	}
	return best != NULL ? best->ttl : 0;
}

#define DNSCONF_FAIL(...) do {                                          \
	snprintf(err, errlen, __VA_ARGS__);                             \
	return -1;                                                      \
} while (0)

static int
dnsconf_dns_config(struct dnsconf *c, const json_t *dc, char *err,
    size_t errlen)
{
	const json_t *j;

	if ((j = json_object_get(dc, "node_ttl")) != NULL &&
	    dnsconf_json_dur(j, &c->node_ttl) != 0)
		DNSCONF_FAIL("dns_config.node_ttl: not a duration");
	if ((j = json_object_get(dc, "service_ttl")) != NULL &&
	    (!json_is_object(j) || dnsconf_service_ttls(c, j) != 0))
		DNSCONF_FAIL("dns_config.service_ttl: want {name: duration}");
	if ((j = json_object_get(dc, "only_passing")) != NULL) {
		if (!json_is_boolean(j))
			DNSCONF_FAIL("dns_config.only_passing: not a bool");
		c->only_passing = json_is_true(j);
	}
	if ((j = json_object_get(dc, "enable_truncate")) != NULL) {
		if (!json_is_boolean(j))
			DNSCONF_FAIL("dns_config.enable_truncate: not a bool");
		c->enable_truncate = json_is_true(j);
	}
	if ((j = json_object_get(dc, "enable_additional_node_meta_txt")) !=
	    NULL) {
		if (!json_is_boolean(j))
			DNSCONF_FAIL("dns_config.enable_additional_node_meta_txt:"
			    " not a bool");
		c->node_meta_txt = json_is_true(j);
	}
	if ((j = json_object_get(dc, "disable_compression")) != NULL) {
		if (!json_is_boolean(j))
			DNSCONF_FAIL("dns_config.disable_compression: not a bool");
		c->no_compression = json_is_true(j);
	}
	if ((j = json_object_get(dc, "udp_answer_limit")) != NULL &&
	    dnsconf_json_uint(j, &c->udp_answer_limit) != 0)
		DNSCONF_FAIL("dns_config.udp_answer_limit: not a count");
	if ((j = json_object_get(dc, "a_record_limit")) != NULL &&
	    dnsconf_json_uint(j, &c->a_record_limit) != 0)
		DNSCONF_FAIL("dns_config.a_record_limit: not a count");
	if ((j = json_object_get(dc, "recursor_timeout")) != NULL) {
		uint32_t s;
		int64_t  ms = -1;
		if (json_is_string(j)) {
			/* Milliseconds matter here: parse them apart. */
			const char *v = json_string_value(j);
			char       *end;
			double      x = strtod(v, &end);
			if (strcmp(end, "ms") == 0 && x > 0)
				ms = (int64_t)x;
		}
		if (ms < 0 && dnsconf_json_dur(j, &s) == 0)
			ms = (int64_t)s * 1000;
		if (ms <= 0)
			DNSCONF_FAIL("dns_config.recursor_timeout: not a duration");
		c->recursor_timeout_ms = (uint32_t)ms;
	}
	if ((j = json_object_get(dc, "recursor_strategy")) != NULL) {
		const char *v = json_is_string(j) ? json_string_value(j) : "";
		if (strcmp(v, "sequential") != 0 && strcmp(v, "random") != 0)
			DNSCONF_FAIL("dns_config.recursor_strategy: want "
			    "sequential or random");
		c->recursor_random = strcmp(v, "random") == 0;
	}
	if ((j = json_object_get(dc, "soa")) != NULL && json_is_object(j)) {
		const json_t *v;
		if ((v = json_object_get(j, "refresh")) != NULL)
			dnsconf_json_uint(v, &c->soa_refresh);
		if ((v = json_object_get(j, "retry")) != NULL)
			dnsconf_json_uint(v, &c->soa_retry);
		if ((v = json_object_get(j, "expire")) != NULL)
			dnsconf_json_uint(v, &c->soa_expire);
		if ((v = json_object_get(j, "min_ttl")) != NULL)
			dnsconf_json_uint(v, &c->soa_minttl);
	}
	return 0;
}

int
dnsconf_from_json(struct dnsconf *c, const struct json_t *root, char *err,
    size_t errlen)
{
	const json_t *j, *k;

	if (!json_is_object(root))
		DNSCONF_FAIL("config: not a JSON object");
	if ((j = json_object_get(root, "domain")) != NULL &&
	    (dnsconf_set_str(&c->domain, j, true) != 0 || c->domain == NULL))
		DNSCONF_FAIL("domain: not a domain name");
	if ((j = json_object_get(root, "alt_domain")) != NULL &&
	    dnsconf_set_str(&c->alt_domain, j, true) != 0)
		DNSCONF_FAIL("alt_domain: not a domain name");
	if ((j = json_object_get(root, "datacenter")) != NULL &&
	    (dnsconf_set_str(&c->datacenter, j, true) != 0 ||
	    c->datacenter == NULL))
		DNSCONF_FAIL("datacenter: not a name");
	if ((j = json_object_get(root, "node_name")) != NULL &&
	    dnsconf_set_str(&c->node_name, j, false) != 0)
		DNSCONF_FAIL("node_name: not a string");
	if ((j = json_object_get(root, "client_addr")) != NULL &&
	    (!json_is_string(j) || dnsconf_addrs(c, json_string_value(j)) != 0))
		DNSCONF_FAIL("client_addr: want a space-separated list");
	if ((j = json_object_get(root, "addresses")) != NULL &&
	    (k = json_object_get(j, "dns")) != NULL &&
	    (!json_is_string(k) || dnsconf_addrs(c, json_string_value(k)) != 0))
		DNSCONF_FAIL("addresses.dns: want a space-separated list");
	if ((j = json_object_get(root, "ports")) != NULL &&
	    (k = json_object_get(j, "dns")) != NULL) {
		json_int_t p = json_is_integer(k) ? json_integer_value(k) : -2;
		if (p < -1 || p > 65535)
			DNSCONF_FAIL("ports.dns: want -1 or a port");
		c->port = p < 0 ? 0 : (uint16_t)p;
	}
	if ((j = json_object_get(root, "recursors")) != NULL) {
		size_t  i;
		json_t *r;
		if (!json_is_array(j))
			DNSCONF_FAIL("recursors: want an array");
		c->nrecursors = 0;
		json_array_foreach(j, i, r)
			if (!json_is_string(r) ||
			    dnsconf_recursor(c, json_string_value(r)) != 0)
				DNSCONF_FAIL("recursors[%zu]: want ip[:port]", i);
	}
	if ((j = json_object_get(root, "recursor")) != NULL) {
		if (!json_is_string(j) ||
		    dnsconf_recursor(c, json_string_value(j)) != 0)
			DNSCONF_FAIL("recursor: want ip[:port]");
	}
	if ((j = json_object_get(root, "dns_config")) != NULL) {
		if (!json_is_object(j))
			DNSCONF_FAIL("dns_config: not an object");
		if (dnsconf_dns_config(c, j, err, errlen) != 0)
			return -1;
	}
	return 0;
}
