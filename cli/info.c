/*
 * tribune info: /v1/agent/self's Stats, printed as `consul info` does:
 * sections sorted, "name:", then "\tkey = value" with keys sorted.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv);

static int
info_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted; free the array (not the strings). */
static const char **
info_keys(json_t *obj, size_t *n)
{
	const char **keys = calloc(json_object_size(obj) + 1, sizeof(*keys));
	const char  *k;
	json_t      *v;

	*n = 0;
	if (keys == NULL)
		return NULL;
	json_object_foreach(obj, k, v)
		keys[(*n)++] = k;
	qsort(keys, *n, sizeof(*keys), info_cmp);
	return keys;
}

int
cmd_info(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp resp;
	json_t         *doc, *stats;
	const char    **secs;
	size_t          nsec;
	int             rc = 1;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int r = cli_http_flag(&h, argc, argv, &i);

		if (r < 0)
			return 1;
		if (r == 0) {
			fprintf(stderr, "flag provided but not defined: %s\n",
			    argv[i]);
			return 1;
		}
	}
	if (cli_request(&h, "GET", "/v1/agent/self", NULL, 0, &resp) != 0) {
		fprintf(stderr, "Error querying agent: %s\n", resp.error);
		return 1;
	}
	if (resp.status != 200) {
		fprintf(stderr, "Error querying agent: Unexpected response code: "
		    "%ld (%s)\n", resp.status, resp.body);
		goto out;
	}
	if ((doc = json_loads(resp.body, 0, NULL)) == NULL) {
		fprintf(stderr, "Error querying agent: bad JSON\n");
		goto out;
	}
	stats = json_object_get(doc, "Stats");
	if ((secs = info_keys(stats, &nsec)) != NULL) {
		for (size_t i = 0; i < nsec; i++) {
			json_t      *sec = json_object_get(stats, secs[i]);
			size_t       nk;
			const char **keys = info_keys(sec, &nk);

			printf("%s:\n", secs[i]);
			for (size_t k = 0; keys != NULL && k < nk; k++) {
				json_t *v = json_object_get(sec, keys[k]);
				char   *s = json_is_string(v) ? NULL :
				    json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

				printf("\t%s = %s\n", keys[k],
				    s != NULL ? s : json_string_value(v));
				free(s);
			}
			free(keys);
		}
		free(secs);
	}
	json_decref(doc);
	rc = 0;
out:
	cli_resp_free(&resp);
	return rc;
}
