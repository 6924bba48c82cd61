/*
 * tribune lock PREFIX CHILD...: Consul's `consul lock` for one holder (the
 * -n 1 case): a session (TTL 15s, renewed while the child runs), the key
 * PREFIX/.lock acquired with the Go client's lock flags, the child run with
 * CONSUL_LOCK_HELD=true, then release, clean-up of the key, and the session
 * destroyed.  While the lock is held elsewhere we wait on it with blocking
 * queries.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cmd_lock(int argc, char **argv);

/* api.LockFlagValue in Consul's Go client. */
#define LOCK_FLAG_VALUE "3304740253564472344"

static volatile sig_atomic_t lock_signal;

static void
lock_on_signal(int sig)
{
	lock_signal = sig;
}

static uint64_t
lock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Go durations as `consul lock -timeout` takes them: Ns, Nms, Nm, Nh. */
static int64_t
lock_duration_ms(const char *s)
{
	char  *end;
	double v = strtod(s, &end);

	if (end == s)
		return -1;
	if (strcmp(end, "ms") == 0)
		return (int64_t)v;
	if (strcmp(end, "s") == 0 || *end == '\0')
		return (int64_t)(v * 1000);
	if (strcmp(end, "m") == 0)
		return (int64_t)(v * 60000);
	if (strcmp(end, "h") == 0)
		return (int64_t)(v * 3600000);
	return -1;
}

static char *
lock_session_create(const struct cli_http *h, const char *name)
{
	struct cli_resp resp;
	json_t         *body = json_object(), *doc;
	char           *b, *id = NULL;

	json_object_set_new(body, "Name", json_string(name));
	json_object_set_new(body, "TTL", json_string("15s"));
	b = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (cli_request(h, "PUT", "/v1/session/create", b, strlen(b),
	        &resp) != 0) {
		fprintf(stderr, "Lock acquisition failed: failed to create "
		    "session: %s\n", resp.error);
		free(b);
		return NULL;
	}
	free(b);
	if (resp.status == 200 && (doc = json_loads(resp.body, 0, NULL)) != NULL) {
		const char *s = json_string_value(json_object_get(doc, "ID"));

		if (s != NULL)
			id = strdup(s);
		json_decref(doc);
	}
	if (id == NULL)
		fprintf(stderr, "Lock acquisition failed: failed to create "
		    "session: Unexpected response code: %ld (%s)\n",
		    resp.status, resp.body);
	cli_resp_free(&resp);
	return id;
}

static void
lock_simple(const struct cli_http *h, const char *method, const char *path)
{
	struct cli_resp resp;

	if (cli_request(h, method, path, NULL, 0, &resp) == 0)
		cli_resp_free(&resp);
}

/* 1 acquired, 0 not, -1 error. */
static int
lock_try(const struct cli_http *h, const char *keypath, const char *sid)
{
	struct cli_resp resp;
	char            path[1024];
	int             rv;

	snprintf(path, sizeof(path), "%s?acquire=%s&flags=%s", keypath, sid,
	    LOCK_FLAG_VALUE);
	if (cli_request(h, "PUT", path, NULL, 0, &resp) != 0)
		return -1;
	rv = resp.status == 200 ? strncmp(resp.body, "true", 4) == 0 : -1;
	if (rv < 0)
		fprintf(stderr, "Lock acquisition failed: Unexpected response "
		    "code: %ld (%s)\n", resp.status, resp.body);
	cli_resp_free(&resp);
	return rv;
}

/* Waits (blocking query, up to 15 s) until the key has no holder. */
static void
lock_wait_free(const struct cli_http *h, const char *keypath, char *index,
    size_t indexlen)
{
	struct cli_resp resp;
	char            path[1024];

	snprintf(path, sizeof(path), "%s?wait=15s&index=%s", keypath,
	    index[0] != '\0' ? index : "0");
	if (cli_request(h, "GET", path, NULL, 0, &resp) != 0) {
		sleep(1);
		return;
	}
	snprintf(index, indexlen, "%s", resp.index);
	if (resp.status == 200) {
		json_t *doc = json_loads(resp.body, 0, NULL);
		json_t *s = json_object_get(json_array_get(doc, 0), "Session");

		/* Free but not acquirable: the lock-delay; retry in 5 s. */
		if (s == NULL || *json_string_value(s) == '\0')
			sleep(1);
		json_decref(doc);
	}
	cli_resp_free(&resp);
}

static pid_t
lock_spawn(char **child, int nchild, int shell)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	setenv("CONSUL_LOCK_HELD", "true", 1);
	if (shell) {
		size_t n = 1;
		char  *cmd;

		for (int i = 0; i < nchild; i++)
			n += strlen(child[i]) + 1;
		if ((cmd = calloc(1, n)) == NULL)
			_exit(127);
		for (int i = 0; i < nchild; i++) {
			if (i > 0)
				strcat(cmd, " ");
			strcat(cmd, child[i]);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	} else
		execvp(child[0], child);
	fprintf(stderr, "Error starting handler: %s\n", strerror(errno));
	_exit(127);
}

int
cmd_lock(int argc, char **argv)
{
	struct cli_http h;
	const char     *prefix;
	char            name[512] = "", keypath[768], *sid = NULL, *esc;
	char            index[32] = "", path[1024];
	int64_t         timeout_ms = 0;
	int             shell = 1, child_code = 0, verbose = 0, i, rv, status;
	int             code = 1;
	pid_t           pid;
	uint64_t        t0 = lock_now_ms(), last_renew;

	cli_http_init(&h);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		int         r = cli_http_flag(&h, argc, argv, &i);

		if (r < 0)
			return 1;
		if (r > 0)
			continue;
		if (strncmp(a, "name=", 5) == 0)
			snprintf(name, sizeof(name), "%s", a + 5);
		else if (strcmp(a, "name") == 0 && i + 1 < argc)
			snprintf(name, sizeof(name), "%s", argv[++i]);
		else if (strncmp(a, "timeout=", 8) == 0 ||
		    (strcmp(a, "timeout") == 0 && i + 1 < argc)) {
			const char *v = a[7] == '=' ? a + 8 : argv[++i];

			if ((timeout_ms = lock_duration_ms(v)) < 0) {
				fprintf(stderr, "invalid value \"%s\" for flag "
				    "-timeout: parse error\n", v);
				return 1;
			}
		} else if (strcmp(a, "shell=false") == 0)
			shell = 0;
		else if (strcmp(a, "shell") == 0 || strcmp(a, "shell=true") == 0)
			shell = 1;
		else if (strcmp(a, "child-exit-code") == 0 ||
		    strcmp(a, "child-exit-code=true") == 0)
			child_code = 1;
		else if (strcmp(a, "verbose") == 0)
			verbose = 1;
		else if (strcmp(a, "n=1") == 0 || strcmp(a, "pass-stdin") == 0 ||
		    strncmp(a, "monitor-retry", 13) == 0)
			continue;
		else {
			fprintf(stderr, "flag provided but not defined: -%s\n", a);
			return 1;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "Key prefix and child command must be specified\n");
		return 1;
	}
	prefix = argv[i];
	while (*prefix == '/')
		prefix++;
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "Consul lock for '%s' at '%s'",
		    argv[i + 1], prefix);
	if ((esc = cli_escape(prefix)) == NULL)
		return 1;
	snprintf(keypath, sizeof(keypath), "/v1/kv/%s%s.lock", esc,
	    prefix[0] != '\0' && prefix[strlen(prefix) - 1] != '/' ? "/" : "");
	free(esc);

	signal(SIGINT, lock_on_signal);
	signal(SIGTERM, lock_on_signal);
	if ((sid = lock_session_create(&h, name)) == NULL)
		return 1;
	for (;;) {
		if ((rv = lock_try(&h, keypath, sid)) != 0)
			break;
		if (lock_signal || (timeout_ms > 0 &&
		    lock_now_ms() - t0 >= (uint64_t)timeout_ms)) {
			fprintf(stderr, "Shutdown triggered or timeout during "
			    "lock acquisition\n");
			goto out_session;
		}
		lock_wait_free(&h, keypath, index, sizeof(index));
	}
	if (rv < 0)
		goto out_session;
	if (verbose)
		fprintf(stderr, "Lock acquisition succeeded\n");

	pid = lock_spawn(argv + i + 1, argc - i - 1, shell);
	if (pid < 0) {
		fprintf(stderr, "Error starting handler: %s\n", strerror(errno));
		goto out_release;
	}
	last_renew = lock_now_ms();
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (lock_signal) {
			kill(pid, SIGTERM);
			lock_signal = 0;
		}
		if (lock_now_ms() - last_renew >= 5000) {
			snprintf(path, sizeof(path), "/v1/session/renew/%s", sid);
			lock_simple(&h, "PUT", path);
			last_renew = lock_now_ms();
		}
		usleep(50000);
	}
	code = 0;
	if (child_code)
		code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && verbose)
		fprintf(stderr, "Child exited with code %d\n",
		    WEXITSTATUS(status));

out_release:
	snprintf(path, sizeof(path), "%s?release=%s&flags=%s", keypath, sid,
	    LOCK_FLAG_VALUE);
	lock_simple(&h, "PUT", path);
	/* The Go client's Destroy: remove the key if nobody holds it. */
	{
		struct cli_resp resp;

		if (cli_request(&h, "GET", keypath, NULL, 0, &resp) == 0) {
			json_t *doc = json_loads(resp.body, 0, NULL);
			json_t *e = json_array_get(doc, 0);
			json_t *s = json_object_get(e, "Session");

			if (e != NULL && (s == NULL ||
			    *json_string_value(s) == '\0')) {
				snprintf(path, sizeof(path), "%s?cas=%lld",
				    keypath, (long long)json_integer_value(
				    json_object_get(e, "ModifyIndex")));
				lock_simple(&h, "DELETE", path);
			}
			json_decref(doc);
			cli_resp_free(&resp);
		}
	}
	if (verbose)
		fprintf(stderr, "Cleanup succeeded\n");
out_session:
	snprintf(path, sizeof(path), "/v1/session/destroy/%s", sid);
	lock_simple(&h, "PUT", path);
	free(sid);
	return code;
}
