/*
 * The tribune command's client subcommands.  Each is one function
 * `int cmd_<name>(int argc, char **argv)` (argv[0] is the subcommand's own
 * name) listed in cli_commands[] (main.c); it returns the exit code.
 * Most are clients of the local agent's HTTP API, reached at -http-addr,
 * else $TRIBUNE_HTTP_ADDR, else $CONSUL_HTTP_ADDR, else 127.0.0.1:8500
 * ("http://" optional, "unix://path" allowed).
 */
#ifndef TRIBUNE_CLI_H
#define TRIBUNE_CLI_H

#include <jansson.h>
#include <stddef.h>

struct cli_command {
	const char *name;    /* "kv", "members", "debug" */
	int (*fn)(int argc, char **argv);
	const char *synopsis;
};

extern const struct cli_command cli_commands[];

/* The agent's address, as above; flags parsed by cli_http_flag(). */
struct cli_http {
	char addr[256];      /* "http://127.0.0.1:8500" */
	char token[256];
	char datacenter[64];
	int  stale;
};

/* Fills h from the environment. */
void cli_http_init(struct cli_http *h);
/*
 * If argv[*i] is one of the common HTTP flags (-http-addr, -token,
 * -datacenter, -stale; "-f=v" and "-f v" forms) consumes it (and its value)
 * and returns 1; 0 otherwise, -1 on a missing value.
 */
int cli_http_flag(struct cli_http *h, int argc, char **argv, int *i);

struct cli_resp {
	long   status;       /* HTTP status; 0 when the agent was unreachable */
	char  *body;         /* NUL-terminated, malloc'd */
	size_t len;
	char   index[32];    /* X-Consul-Index */
	char   error[256];   /* curl's error when status == 0 */
};

/*
 * One request: method ("GET", "PUT", "DELETE"), path with query
 * ("/v1/kv/a?recurse"), optional body.  Returns 0 when an answer came (any
 * status), -1 when the agent could not be reached (resp->error says why).
 */
int  cli_request(const struct cli_http *h, const char *method, const char *path,
         const void *body, size_t body_len, struct cli_resp *resp);
void cli_resp_free(struct cli_resp *resp);

/* Prints Consul's line for an unreachable agent or a non-2xx answer. */
void cli_report_error(const char *what, const struct cli_resp *resp);

/*
 * If argv[*i] is flag ("-f v", "-f=v", "--f"), returns its value and
 * advances *i past a separate value; NULL otherwise.
 */
const char *cli_flag_value(const char *flag, int argc, char **argv, int *i);

/* URL-escapes s for a path segment or query value (malloc'd). */
char *cli_escape(const char *s);

/* kv import's check of a parsed file (kv.c): 0, or -1 with Go's message. */
int kv_import_check(const json_t *doc, char *msg, size_t len);

/* Prints rows as columns with two-space gutters (Consul's columnize). */
struct cli_table;
struct cli_table *cli_table_new(void);
void cli_table_row(struct cli_table *t, ...); /* NULL-terminated cells */
void cli_table_print(struct cli_table *t);
void cli_table_free(struct cli_table *t);

#endif
