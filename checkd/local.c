/*
 * <data-dir>/local/state.json: what must outlive checkd and the agent.
 *
 *   {"services": [<canonical service definition>...],   API-registered
 *    "checks":   [<canonical check definition>...],     API-registered,
 *                                                      maintenance too
 *    "ttl":      {"<check id>": {"Status", "Output",   every TTL check's
 *                 "Expires": <wall ms>}}}               state until expiry
 *
 * Written whole to state.json.tmp, fsync'd, renamed: a crash leaves the
 * old file or the new one.  Config-file definitions are not stored; they
 * come back from the config.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"

json_t *
local_doc(struct checkd *cd)
{
	json_t  *doc = json_object(), *svcs = json_array(), *chks = json_array();
	json_t  *ttl = json_object();
	uint64_t now = loop_now_ms(), wall = wall_now_us() / 1000;

	/* Reverse list order = registration order, kept on reload. */
	for (struct svc *s = cd->svcs; s != NULL; s = s->next)
		if (s->origin == ORIGIN_API)
			json_array_insert(svcs, 0, s->def);
	for (struct chk *c = cd->chks; c != NULL; c = c->next) {
		if (c->origin == ORIGIN_API)
			json_array_insert(chks, 0, c->def);
		if (c->ttl_ms > 0) {
			int64_t left = (int64_t)(c->ttl_deadline_ms - now);

			json_object_set_new(ttl, c->id, json_pack(
			    "{s:s,s:s,s:I}", "Status", c->status, "Output",
			    c->output, "Expires", (json_int_t)(wall +
			    (uint64_t)(left > 0 ? left : 0))));
		}
	}
	json_object_set_new(doc, "services", svcs);
	json_object_set_new(doc, "checks", chks);
	json_object_set_new(doc, "ttl", ttl);
	return doc;
}

int
local_save(struct checkd *cd)
{
	char    path[1024], tmp[1100];
	json_t *doc;
	char   *text;
	int     fd, rv = -1;
	size_t  len;

	cd->persist_dirty = false;
	if (cd->local_dir == NULL)
		return 0;
	mkdir(cd->local_dir, 0700);
	snprintf(path, sizeof(path), "%s/state.json", cd->local_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	doc = local_doc(cd);
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL)
		return -1;
	len = strlen(text);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		log_warn("%s", tmp);
		goto free_text;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		log_warn("%s", tmp);
		close(fd);
		goto free_text;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		log_warn("rename %s", tmp);
		goto free_text;
	}
	rv = 0;
free_text:
	free(text);
	return rv;
}

int
local_apply(struct checkd *cd, const json_t *doc, uint64_t wall)
{
	json_t     *x, *st;
	const char *id;
	size_t      i;
	char        err[512];
	uint64_t    now = loop_now_ms();

	json_array_foreach(json_object_get(doc, "services"), i, x) {
		if (json_is_object(x) && json_is_string(json_object_get(x,
		        "ID")))
			state_add_svc(cd, json_deep_copy(x), ORIGIN_API);
	}
	json_array_foreach(json_object_get(doc, "checks"), i, x) {
		if (!json_is_object(x) || !json_is_string(json_object_get(x,
		        "CheckID")))
			continue;
		if (state_add_chk(cd, json_deep_copy(x), ORIGIN_API, err,
		        sizeof(err)) == NULL)
			log_warnx("stored check: %s", err);
	}
	json_object_foreach(json_object_get(doc, "ttl"), id, st) {
		struct chk *c = state_chk(cd, id);
		json_int_t  exp = json_integer_value(json_object_get(st,
		    "Expires"));
		const char *status = json_string_value(json_object_get(st,
		    "Status"));
		const char *output = json_string_value(json_object_get(st,
		    "Output"));

		if (c == NULL || c->ttl_ms <= 0 || status == NULL)
			continue;
		if ((uint64_t)exp > wall) {
			c->ttl_deadline_ms = now + ((uint64_t)exp - wall);
			state_set(cd, c, status, output);
		} else {
			c->ttl_deadline_ms = now;
		}
	}
	return 0;
}

int
local_load(struct checkd *cd)
{
	char         path[1024];
	json_t      *doc;
	json_error_t jerr;

	if (cd->local_dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/state.json", cd->local_dir);
	if ((doc = json_load_file(path, 0, &jerr)) == NULL) {
		if (access(path, F_OK) == 0)
			log_warnx("%s: %s", path, jerr.text);
		return access(path, F_OK) == 0 ? -1 : 0;
	}
	local_apply(cd, doc, wall_now_us() / 1000);
	json_decref(doc);
	return 0;
}
