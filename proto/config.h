/*
 * The agent configuration: one table of options (config.c, config_options[])
 * drives the command-line flags, the JSON config keys, their types and
 * defaults, `tribune validate`, and the typed struct config every process
 * reads.  The supervisor merges defaults, config files and flags into one
 * JSON document (config_resolve) and streams it to the children
 * (ctl.config), which turn it into a struct config (config_from_json).
 * Keys the table does not type (services, checks, dns_config...) stay in
 * cfg->root for the daemon that owns them.
 */
#ifndef TRIBUNE_CONFIG_H
#define TRIBUNE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

enum config_type { CT_STR, CT_BOOL, CT_INT, CT_DUR, CT_LIST, CT_KV, CT_FILES };

struct config_option {
	const char      *flag;    /* "-data-dir", or NULL: file only */
	const char      *key;     /* "data_dir", dotted for nested: "ports.dns" */
	enum config_type type;
	const char      *def;     /* default as text, or NULL */
	const char      *help;
};

extern const struct config_option config_options[];

struct config {
	char   *node_name, *node_id, *datacenter, *data_dir, *domain, *alt_domain;
	char   *bind_addr, *advertise_addr, *client_addr, *log_level, *encrypt;
	bool    server, dev, ui, bootstrap, enable_script_checks;
	bool    enable_local_script_checks, leave_on_terminate;
	bool    skip_leave_on_interrupt, rejoin_after_leave;
	int64_t bootstrap_expect, retry_max;
	int64_t retry_interval_ms, reconnect_timeout_ms;
	int64_t port_dns, port_http, port_serf_lan, port_serf_wan, port_server;
	struct proto_strs retry_join, start_join, recursors;
	json_t *root;             /* the whole resolved document (owned) */
};

/*
 * Parses a Go duration ("10s", "1.5h", "1m30s", "250ms", "0") into
 * nanoseconds.  Returns 0, or -1 on a malformed string.
 */
int config_parse_duration(const char *s, int64_t *ns);

/* Looks a key up case-insensitively, also in snake_case ("LockDelay" ~ "lock_delay"). */
json_t *config_jget(const json_t *obj, const char *name);
/* "LockDelay", "lockdelay" and "lock_delay" are one key: case and
 * underscores ignored, as Go's decoder and Consul's config loader do. */
int config_key_eq(const char *a, const char *b);

/* Finds the option for a flag ("-data-dir" or "--data-dir", with or without "=value"). */
const struct config_option *config_find_flag(const char *flag);
const struct config_option *config_find_key(const char *key);

/*
 * Sets an option in doc from a flag's text value (CT_LIST appends, CT_KV
 * splits "k:v").  Returns 0 or -1 with a message in err.
 */
int config_set_flag(json_t *doc, const struct config_option *o,
    const char *value, char *err, size_t errlen);

/*
 * Merges src into dst: objects recursively, arrays appended, scalars
 * replaced.  Config files are merged in order, then flags on top.
 */
void config_merge(json_t *dst, const json_t *src);

/*
 * Loads one JSON config file (or every *.json in a directory, in name order)
 * into doc.  On error returns -1 with "<file>: <reason>" in err.
 */
int config_load_path(json_t *doc, const char *path, char *err, size_t errlen);

/*
 * Checks types of the keys the table knows and that no key is unknown;
 * fills defaults for missing ones.  `where` names the source in messages.
 */
int config_validate(json_t *doc, const char *where, char *err, size_t errlen);
void config_fill_defaults(json_t *doc);

/* A struct config from a resolved document (taking a reference to it). */
int  config_from_json(json_t *doc, struct config *cfg, char *err,
         size_t errlen);
int  config_from_string(const char *json, struct config *cfg, char *err,
         size_t errlen);
void config_free(struct config *cfg);

/* Dotted-path helpers over the document. */
json_t *config_path(const json_t *doc, const char *key);
int     config_path_set(json_t *doc, const char *key, json_t *value);

#endif
