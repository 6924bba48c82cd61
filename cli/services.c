/*
 * tribune services register|deregister: Consul's `consul services`, over
 * PUT /v1/agent/service/register and /deregister/:id.  Services come from
 * files ({"service": {...}} or {"services": [...]}, any key case: the agent
 * canonicalizes) or from flags (-name -id -address -port -socket -tag
 * -meta k=v).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

int cmd_services(int argc, char **argv);

static void
services_usage(void)
{
	fprintf(stderr,
	    "Usage: tribune services <subcommand> [options] [FILE...]\n\n"
	    "  register    Register services with the local agent\n"
	    "  deregister  Deregister services with the local agent\n\n"
	    "  -id ID  -name NAME  -address ADDR  -port N  -socket PATH\n"
	    "  -tag TAG (repeatable)  -meta key=value (repeatable)\n");
}

/* Appends the services of one file to out; -1 with a message printed. */
static int
services_file(const char *path, json_t *out)
{
	json_error_t e;
	json_t      *doc, *v, *x;
	size_t       i;
	const char  *k;
	int          found = 0;

	if ((doc = json_load_file(path, 0, &e)) == NULL) {
		fprintf(stderr, "Error: %s: %s\n", path, e.text);
		return -1;
	}
	json_object_foreach(doc, k, v) {
		if (strcasecmp(k, "service") == 0 && json_is_object(v)) {
			json_array_append(out, v);
			found = 1;
		} else if (strcasecmp(k, "services") == 0 && json_is_array(v)) {
			json_array_foreach(v, i, x)
				json_array_append(out, x);
			found = 1;
		}
	}
	json_decref(doc);
	if (!found) {
		fprintf(stderr, "Error: %s: no service definition\n", path);
		return -1;
	}
	return 0;
}

static const char *
services_field(const json_t *s, const char *a, const char *b)
{
	const char *k;
	json_t     *v;

	json_object_foreach((json_t *)(uintptr_t)s, k, v)
		if ((strcasecmp(k, a) == 0 || strcasecmp(k, b) == 0) &&
		    json_is_string(v))
			return json_string_value(v);
	return NULL;
}

int
cmd_services(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	json_t         *svcs = json_array(), *flag = json_object();
	json_t         *tags = json_array(), *meta = json_object();
	const char     *sub, *v;
	char          **files;
	int             nfiles = 0, rv = 1, register_ = 0, flags = 0;

	cli_http_init(&h);
	if (argc < 2 || (strcmp(argv[1], "register") != 0 &&
	    strcmp(argv[1], "deregister") != 0)) {
		services_usage();
		goto out;
	}
	sub = argv[1];
	register_ = strcmp(sub, "register") == 0;
	files = calloc((size_t)argc, sizeof(*files));
	for (int i = 2; i < argc; i++) {
		int c = cli_http_flag(&h, argc, argv, &i);

		if (c < 0)
			goto out_files;
		if (c > 0)
			continue;
		if ((v = cli_flag_value("-id", argc, argv, &i)) != NULL) {
			json_object_set_new(flag, "ID", json_string(v));
			flags = 1;
		} else if ((v = cli_flag_value("-name", argc, argv, &i)) != NULL) {
			json_object_set_new(flag, "Name", json_string(v));
			flags = 1;
		} else if ((v = cli_flag_value("-address", argc, argv, &i)) !=
		    NULL) {
			json_object_set_new(flag, "Address", json_string(v));
			flags = 1;
		} else if ((v = cli_flag_value("-socket", argc, argv, &i)) !=
		    NULL) {
			json_object_set_new(flag, "SocketPath", json_string(v));
			flags = 1;
		} else if ((v = cli_flag_value("-port", argc, argv, &i)) != NULL) {
			json_object_set_new(flag, "Port", json_integer(atoi(v)));
			flags = 1;
		} else if ((v = cli_flag_value("-tag", argc, argv, &i)) != NULL) {
			json_array_append_new(tags, json_string(v));
			flags = 1;
		} else if ((v = cli_flag_value("-meta", argc, argv, &i)) != NULL) {
			const char *eq = strchr(v, '=');

			if (eq == NULL) {
				fprintf(stderr, "Error: -meta must be key=value: "
				    "%s\n", v);
				goto out_files;
			}
			{
				char *key = strndup(v, (size_t)(eq - v));

				json_object_set_new(meta, key, json_string(eq + 1));
				free(key);
			}
			flags = 1;
		} else if (argv[i][0] == '-') {
			services_usage();
			goto out_files;
		} else
			files[nfiles++] = argv[i];
	}
	if (register_) {
		if (nfiles == 0 && json_object_get(flag, "Name") == NULL) {
			fprintf(stderr, "Service registration requires at least "
			    "one argument or flags.\n");
			goto out_files;
		}
		if (nfiles > 0 && flags) {
			fprintf(stderr, "Service registration requires "
			    "arguments or flags, not both.\n");
			goto out_files;
		}
	} else {
		if (nfiles == 0 && json_object_get(flag, "ID") == NULL) {
			fprintf(stderr, "Service deregistration requires at "
			    "least one argument or -id.\n");
			goto out_files;
		}
		if (nfiles > 0 && json_object_get(flag, "ID") != NULL) {
			fprintf(stderr, "Service deregistration requires "
			    "arguments or -id, not both.\n");
			goto out_files;
		}
	}
	for (int i = 0; i < nfiles; i++)
		if (services_file(files[i], svcs) != 0)
			goto out_files;
	if (nfiles == 0) {
		if (json_array_size(tags) > 0)
			json_object_set(flag, "Tags", tags);
		if (json_object_size(meta) > 0)
			json_object_set(flag, "Meta", meta);
		json_array_append(svcs, flag);
	}
	for (size_t i = 0; i < json_array_size(svcs); i++) {
		json_t     *s = json_array_get(svcs, i);
		const char *name = services_field(s, "Name", "name");
		const char *id = services_field(s, "ID", "id");
		char       *body, *esc, path[1200], what[600];

		if (register_) {
			body = json_dumps(s, JSON_COMPACT);
			if (cli_request(&h, "PUT", "/v1/agent/service/register",
			        body, body ? strlen(body) : 0, &r) != 0 ||
			    r.status != 200) {
				snprintf(what, sizeof(what), "registering "
				    "service \"%s\"", name ? name : "");
				cli_report_error(what, &r);
				free(body);
				cli_resp_free(&r);
				goto out_files;
			}
			free(body);
			cli_resp_free(&r);
			printf("Registered service: %s\n", name ? name : "");
			continue;
		}
		if (id == NULL)
			id = name != NULL ? name : "";
		esc = cli_escape(id);
		snprintf(path, sizeof(path), "/v1/agent/service/deregister/%s",
		    esc ? esc : "");
		free(esc);
		if (cli_request(&h, "PUT", path, NULL, 0, &r) != 0 ||
		    r.status != 200) {
			snprintf(what, sizeof(what), "deregistering service "
			    "\"%s\"", id);
			cli_report_error(what, &r);
			cli_resp_free(&r);
			goto out_files;
		}
		cli_resp_free(&r);
		printf("Deregistered service: %s\n", id);
	}
	rv = 0;
out_files:
	free(files);
out:
	json_decref(svcs);
	json_decref(flag);
	json_decref(tags);
	json_decref(meta);
	return rv;
}
