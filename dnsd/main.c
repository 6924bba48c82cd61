#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dnsd.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;
static volatile sig_atomic_t wake_flag;   /* makes server_run return */

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
	wake_flag = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
	wake_flag = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tribune-dnsd -run-dir DIR -name dnsd   (under the supervisor)\n"
	    "       tribune-dnsd --standalone FIXTURE.json [--port N] "
	    "[--addr A] [--seed N]\n"
	    "  FIXTURE.json: {\"config\": <agent config>, \"Nodes\": [...],"
	    " \"Services\": [...], \"Checks\": [...]}\n"
	    "  SIGHUP re-reads the fixture (a whole-view replace).\n");
	exit(2);
}

/* Loads the fixture's catalog into a new view and swaps it in. */
static int
load_fixture(struct dnsd *d, const char *path, bool with_config)
{
	json_error_t je;
	json_t      *root = json_load_file(path, 0, &je);
	struct view *v;
	char         err[256];

	if (root == NULL) {
		fprintf(stderr, "dnsd: %s:%d: %s\n", path, je.line, je.text);
		return -1;
	}
	if (with_config && json_object_get(root, "config") != NULL &&
	    dnsconf_from_json(&d->conf, json_object_get(root, "config"), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: %s: %s\n", path, err);
		json_decref(root);
		return -1;
	}
	if ((v = view_new()) == NULL ||
	    catalog_load_json(v, root, err, sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: %s: %s\n", path, v ? err : "no memory");
		view_free(v);
		json_decref(root);
		return -1;
	}
	json_decref(root);
	catalog_replace(d, v);
	fprintf(stderr, "dnsd: view: %zu nodes, %zu services, %zu checks\n",
	    v->nnodes, v->nservices, v->nchecks);
	return 0;
}

int
main(int argc, char **argv)
{
	struct dnsd d;
	const char *fixture = NULL, *addr = NULL;
	long        port = -1;
	int         rc;

	signal(SIGPIPE, SIG_IGN);
	/* Under the supervisor: the daemon frame; --standalone is for tests
	 * and for trying dig without an agent. */
	if (argc < 2 || strcmp(argv[1], "--standalone") != 0)
		return daemon_main(&dnsd_ops, argc, argv);
	dnsd_init(&d);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--standalone") == 0 && i + 1 < argc)
			fixture = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			answer_seed(&d, strtoull(argv[++i], NULL, 10));
		else
			usage();
	}
	if (fixture == NULL)
		usage();
	if (load_fixture(&d, fixture, true) != 0)
		return 1;
	if (port >= 0 && port <= 65535)
		d.conf.port = (uint16_t)port;
	if (addr != NULL) {
		for (size_t i = 0; i < d.conf.nclient_addr; i++)
			free(d.conf.client_addr[i]);
		d.conf.client_addr[0] = strdup(addr);
		d.conf.nclient_addr = 1;
	}
	if (server_open(&d) != 0)
		return 1;
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGHUP, on_hup);
	fprintf(stderr, "dnsd: serving %s on port %u (standalone)\n",
	    d.conf.domain, d.conf.port);
	for (;;) {
		if (server_run(&d, &wake_flag) != 0)
			break;
		wake_flag = 0;
		if (stop_flag)
			break;
		if (reload_flag) {
			reload_flag = 0;
			load_fixture(&d, fixture, false);
		}
	}
	rc = 0;
	server_close(&d);
	dnsd_free(&d);
	return rc;
}
