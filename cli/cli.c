/*
 * The tribune command: `tribune agent` is the supervisor (supervisor/); every
 * other subcommand is a row here.  A row's function may live in a file that
 * another part of the tree brings (members with gossip, kv with httpd): the
 * declarations are weak, so a missing one is "not available", not a link
 * error.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define CLI_CMD(name) int cmd_##name(int argc, char **argv) __attribute__((weak));
CLI_CMD(catalog)
CLI_CMD(debug)
CLI_CMD(event)
CLI_CMD(force_leave)
CLI_CMD(info)
CLI_CMD(join)
CLI_CMD(kv)
CLI_CMD(leave)
CLI_CMD(lock)
CLI_CMD(maint)
CLI_CMD(members)
CLI_CMD(operator)
CLI_CMD(reload)
CLI_CMD(services)
CLI_CMD(validate)
CLI_CMD(version)
CLI_CMD(keygen)
#undef CLI_CMD

const struct cli_command cli_commands[] = {
	{ "catalog", cmd_catalog, "Interact with the catalog" },
	{ "debug", cmd_debug, "Inspect the agent's processes: status, restart, tap" },
	{ "event", cmd_event, "Fire a new event" },
	{ "force-leave", cmd_force_leave, "Forces a member of the cluster to enter the \"left\" state" },
	{ "info", cmd_info, "Provides debugging information for operators." },
	{ "join", cmd_join, "Tell tribune agent to join cluster" },
	{ "keygen", cmd_keygen, "Generates a new encryption key" },
	{ "kv", cmd_kv, "Interact with the key-value store" },
	{ "leave", cmd_leave, "Gracefully leaves the cluster and shuts down" },
	{ "lock", cmd_lock, "Execute a command holding a lock" },
	{ "maint", cmd_maint, "Controls node or service maintenance mode" },
	{ "members", cmd_members, "Lists the members of a cluster" },
	{ "operator", cmd_operator, "Provides cluster-level tools for operators" },
	{ "reload", cmd_reload, "Triggers the agent to reload configuration files" },
	{ "services", cmd_services, "Interact with services" },
	{ "validate", cmd_validate, "Validate config files/directories" },
	{ "version", cmd_version, "Prints the tribune version" },
	{ NULL, NULL, NULL }
};

static void
cli_usage(FILE *f)
{
	fprintf(f, "Usage: tribune [--version] [--help] <command> [<args>]\n\n"
	           "Available commands are:\n");
	fprintf(f, "    %-12s %s\n", "agent", "Runs a tribune agent");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (c->fn != NULL)
			fprintf(f, "    %-12s %s\n", c->name, c->synopsis);
}

int cli_main(int argc, char **argv);

int
cli_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-help") == 0) {
		cli_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0 ||
	    strcmp(argv[1], "-version") == 0)
		return cmd_version ? cmd_version(1, argv + 1) : 0;
	for (const struct cli_command *c = cli_commands; c->name; c++) {
		if (strcmp(c->name, argv[1]) != 0)
			continue;
		if (c->fn == NULL) {
			fprintf(stderr, "tribune %s: not available in this build\n",
			    c->name);
			return 1;
		}
		return c->fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "tribune: unknown command \"%s\"\n\n", argv[1]);
	cli_usage(stderr);
	return 1;
}
