/*
 * sessreq.c: the body of PUT /v1/session/create into a FSM_SESSION_CREATE
 * command, with Consul's defaults and checks (agent/session_endpoint.go and
 * agent/consul/session_endpoint.go).  Runs on the leader before proposing,
 * which is also where the session's random ID is drawn.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "config.h"
#include "raftd.h"

#define SESSION_TTL_MIN_NS  (10LL * 1000000000LL)
#define SESSION_TTL_MAX_NS  (86400LL * 1000000000LL)
#define LOCK_DELAY_MAX_NS   (60LL * 1000000000LL)
#define LOCK_DELAY_DEF_NS   (15LL * 1000000000LL)

void
sessreq_uuid(char out[STORE_SESSION_LEN + 1])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n <= 0)
			continue;
		got += (size_t)n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, STORE_SESSION_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
	    b[12], b[13], b[14], b[15]);
}

static int
sessreq_strs(json_t *arr, char ***out, size_t *n, bool ids)
{
	size_t i, cnt = json_array_size(arr);
	*out = calloc(cnt + 1, sizeof(char *));
	*n = 0;
	if (*out == NULL)
		return -1;
	for (i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		if (ids && json_is_object(e))
			e = config_jget(e, "ID");
		if (!json_is_string(e))
			return -1;
		if (((*out)[*n] = strdup(json_string_value(e))) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

static int
fail(char **err, int status, const char *fmt, const char *arg)
{
	if (asprintf(err, fmt, arg) < 0)
		*err = NULL;
	return status;
}

int
sessreq_parse(const char *body, const char *default_node, struct fsm_cmd *cmd, char **err)
{
	struct store_session *ss = &cmd->sess;
	json_error_t je;
	json_t *root = NULL, *v;
	int rc = 0;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type = FSM_SESSION_CREATE;
	*err = NULL;
	ss->lock_delay_ns = LOCK_DELAY_DEF_NS;
	ss->behavior = STORE_BEHAVIOR_RELEASE;
	if (body != NULL && body[strspn(body, " \t\r\n")] != '\0') {
		root = json_loads(body, 0, &je);
		if (root == NULL || !json_is_object(root)) {
			rc = fail(err, 400, "Request decode failed: %s", root ? "not an object" : je.text);
			goto out;
		}
	} else {
		root = json_object();
	}

	v = config_jget(root, "Name");
	ss->name = strdup(json_is_string(v) ? json_string_value(v) : "");
	v = config_jget(root, "Node");
	ss->node = strdup(json_is_string(v) && *json_string_value(v) ? json_string_value(v)
	    : (default_node ? default_node : ""));

	v = config_jget(root, "LockDelay");
	if (json_is_string(v)) {
		int64_t ns;
		if (config_parse_duration(json_string_value(v), &ns) != 0 || ns < 0) {
			rc = fail(err, 400, "Request decode failed: invalid LockDelay '%s'", json_string_value(v));
			goto out;
		}
		ss->lock_delay_ns = (uint64_t)ns;
	} else if (json_is_number(v)) {
		/* Consul's FixupLockDelay: small numbers are seconds, big ones ns. */
		double d = json_number_value(v);
		if (d < 0) {
			rc = fail(err, 400, "Request decode failed: invalid LockDelay%s", "");
			goto out;
		}
		ss->lock_delay_ns = d < 1000 ? (uint64_t)(d * 1e9) : (uint64_t)d;
	} else if (v != NULL && !json_is_null(v)) {
		rc = fail(err, 400, "Request decode failed: invalid LockDelay%s", "");
		goto out;
	}
	if (ss->lock_delay_ns > (uint64_t)LOCK_DELAY_MAX_NS) {
		rc = fail(err, 500, "Lock delay must be between 0 and %s", "1m0s");
		goto out;
	}

	v = config_jget(root, "Behavior");
	if (json_is_string(v) && *json_string_value(v) != '\0') {
		if (strcmp(json_string_value(v), "release") == 0)
			ss->behavior = STORE_BEHAVIOR_RELEASE;
		else if (strcmp(json_string_value(v), "delete") == 0)
			ss->behavior = STORE_BEHAVIOR_DELETE;
		else {
			rc = fail(err, 500, "Invalid Behavior setting '%s'", json_string_value(v));
			goto out;
		}
	}

	v = config_jget(root, "TTL");
	if (json_is_string(v) && *json_string_value(v) != '\0') {
		int64_t ns;
		if (config_parse_duration(json_string_value(v), &ns) != 0) {
			rc = fail(err, 500, "Session TTL '%s' invalid", json_string_value(v));
			goto out;
		}
		if (ns != 0 && (ns < SESSION_TTL_MIN_NS || ns > SESSION_TTL_MAX_NS)) {
			char num[32];
			snprintf(num, sizeof(num), "%" PRId64, ns);
			rc = fail(err, 500, "Invalid Session TTL '%s', must be between [10s=24h0m0s]", num);
			goto out;
		}
		ss->ttl = strdup(json_string_value(v));
	} else {
		ss->ttl = strdup("");
	}

	{
		json_t *checks = config_jget(root, "Checks");
		json_t *nchecks = config_jget(root, "NodeChecks");
		json_t *schecks = config_jget(root, "ServiceChecks");
		json_t *use = json_is_array(nchecks) ? nchecks : checks;
		if (use == NULL && nchecks == NULL) {
			ss->node_checks = calloc(2, sizeof(char *));
			if (ss->node_checks && (ss->node_checks[0] = strdup("serfHealth")))
				ss->n_node_checks = 1;
		} else if (use != NULL && !json_is_null(use) &&
		    (!json_is_array(use) || sessreq_strs(use, &ss->node_checks, &ss->n_node_checks, false))) {
			rc = fail(err, 400, "Request decode failed: invalid %s", "Checks");
			goto out;
		}
		if (schecks != NULL && !json_is_null(schecks) &&
		    (!json_is_array(schecks) ||
		     sessreq_strs(schecks, &ss->service_checks, &ss->n_service_checks, true))) {
			rc = fail(err, 400, "Request decode failed: invalid %s", "ServiceChecks");
			goto out;
		}
	}
	if (ss->name == NULL || ss->node == NULL || ss->ttl == NULL) {
		rc = fail(err, 500, "%s", "out of memory");
		goto out;
	}
	sessreq_uuid(ss->id);
out:
	json_decref(root);
	if (rc != 0)
		fsm_cmd_free(cmd);
	return rc;
}
