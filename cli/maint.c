/*
 * tribune maint: Consul's `consul maint`.  Without -enable/-disable it lists
 * the maintenance checks of the local agent; otherwise it toggles node
 * maintenance (PUT /v1/agent/maintenance) or a service's
 * (/v1/agent/service/maintenance/:id), with Consul's output lines.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_maint(int argc, char **argv);

static void
maint_usage(void)
{
	fprintf(stderr,
	    "Usage: tribune maint [options]\n\n"
	    "  Places a node or service into maintenance mode, or lists\n"
	    "  what is in maintenance when neither -enable nor -disable.\n\n"
	    "  -enable           Enable maintenance mode.\n"
	    "  -disable          Disable maintenance mode.\n"
	    "  -reason=<string>  Text describing the maintenance reason.\n"
	    "  -service=<id>     Control maintenance mode for a specific "
	    "service ID.\n");
}

static int
maint_list(const struct cli_http *h)
{
	struct cli_resp r;
	json_t         *checks, *c, *self;
	const char     *k, *node = "";

	if (cli_request(h, "GET", "/v1/agent/self", NULL, 0, &r) != 0 ||
	    r.status != 200) {
		cli_report_error("querying agent info", &r);
		cli_resp_free(&r);
		return 1;
	}
	self = json_loads(r.body, 0, NULL);
	cli_resp_free(&r);
	if (self != NULL)
		node = json_string_value(json_object_get(json_object_get(self,
		    "Config"), "NodeName"));
	if (cli_request(h, "GET", "/v1/agent/checks", NULL, 0, &r) != 0 ||
	    r.status != 200) {
		cli_report_error("getting checks", &r);
		cli_resp_free(&r);
		json_decref(self);
		return 1;
	}
	checks = json_loads(r.body, 0, NULL);
	cli_resp_free(&r);
	json_object_foreach(checks, k, c) {
		const char *notes = json_string_value(json_object_get(c,
		    "Notes"));

		if (strcmp(k, "_node_maintenance") == 0) {
			printf("Node:\n  Name:   %s\n  Reason: %s\n\n",
			    node != NULL ? node : "", notes ? notes : "");
		} else if (strncmp(k, "_service_maintenance:", 21) == 0) {
			const char *sid = json_string_value(json_object_get(c,
			    "ServiceID"));

			printf("Service:\n  ID:     %s\n  Reason: %s\n\n",
			    sid ? sid : "", notes ? notes : "");
		}
	}
	json_decref(checks);
	json_decref(self);
	return 0;
}

int
cmd_maint(int argc, char **argv)
{
	struct cli_http h;
	struct cli_resp r;
	const char     *reason = NULL, *service = NULL, *v;
	char           *er = NULL, *es = NULL, path[1400], what[128];
	int             enable = 0, disable = 0, rv = 1;

	cli_http_init(&h);
	for (int i = 1; i < argc; i++) {
		int c = cli_http_flag(&h, argc, argv, &i);

		if (c < 0)
			return 1;
		if (c > 0)
			continue;
		if (strcmp(argv[i], "-enable") == 0 ||
		    strcmp(argv[i], "--enable") == 0 ||
		    strcmp(argv[i], "-enable=true") == 0)
			enable = 1;
		else if (strcmp(argv[i], "-disable") == 0 ||
		    strcmp(argv[i], "--disable") == 0 ||
		    strcmp(argv[i], "-disable=true") == 0)
			disable = 1;
		else if ((v = cli_flag_value("-reason", argc, argv, &i)) != NULL)
			reason = v;
		else if ((v = cli_flag_value("-service", argc, argv, &i)) != NULL)
			service = v;
		else {
			maint_usage();
			return 1;
		}
	}
	if (enable && disable) {
		fprintf(stderr, "Only one of -enable or -disable may be "
		    "provided\n");
		return 1;
	}
	if (!enable && reason != NULL) {
		fprintf(stderr, "Reason may only be provided with -enable\n");
		return 1;
	}
	if (!enable && !disable) {
		if (service != NULL) {
			fprintf(stderr, "Service requires either -enable or "
			    "-disable\n");
			return 1;
		}
		return maint_list(&h);
	}
	er = cli_escape(reason != NULL ? reason : "");
	if (service != NULL) {
		es = cli_escape(service);
		snprintf(path, sizeof(path), "/v1/agent/service/maintenance/%s"
		    "?enable=%s%s%s", es ? es : "", enable ? "true" : "false",
		    reason ? "&reason=" : "", reason ? er : "");
	} else
		snprintf(path, sizeof(path), "/v1/agent/maintenance?enable=%s"
		    "%s%s", enable ? "true" : "false", reason ? "&reason=" : "",
		    reason ? er : "");
	if (cli_request(&h, "PUT", path, NULL, 0, &r) != 0 ||
	    r.status != 200) {
		snprintf(what, sizeof(what), "%s %s maintenance", enable ?
		    "enabling" : "disabling", service ? "service" : "node");
		cli_report_error(what, &r);
		cli_resp_free(&r);
		goto out;
	}
	cli_resp_free(&r);
	if (service != NULL)
		printf("Service maintenance is now %s for \"%s\"\n", enable ?
		    "enabled" : "disabled", service);
	else
		printf("Node maintenance is now %s\n", enable ? "enabled" :
		    "disabled");
	rv = 0;
out:
	free(er);
	free(es);
	return rv;
}
