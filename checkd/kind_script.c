/*
 * Script checks (args, or script through /bin/sh -c): posix_spawn in a new
 * process group, stdout and stderr into one non-blocking pipe watched by
 * the loop, exit status collected with waitpid(WNOHANG) on the scheduler's
 * tick.  A timeout kills the whole process group.  Exit 0 passing, 1
 * warning, anything else (or a signal) critical; the output keeps its tail,
 * with Consul's "Captured N of M bytes" line when it was cut.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkd.h"
#include "log.h"
#include "loop.h"

extern char **environ;

struct script_run {
	struct checkd     *cd;
	struct chk        *c;
	pid_t              pid;
	int                fd;           /* read end, -1 at EOF */
	char              *buf;
	size_t             len, cap, total;
	int                status;
	bool               exited;
	struct script_run *next;
};


const char *
kind_script_map(int exit_code)
{
	if (exit_code == 0)
		return "passing";
	if (exit_code == 1)
		return "warning";
	return "critical";
}

static void
script_unlink(struct script_run *s)
{
	for (struct script_run **p = &s->cd->scripts; *p != NULL;
	     p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

static void
script_close(struct script_run *s)
{
	if (s->fd >= 0) {
		if (s->cd->loop != NULL)
			loop_del_fd(s->cd->loop, s->fd);
		close(s->fd);
		s->fd = -1;
	}
}

static void
script_finish(struct script_run *s)
{
	struct checkd *cd = s->cd;
	struct chk    *c = s->c;
	const char    *st;
	char          *out;
	size_t         max = c->output_max, keep = s->len < max ? s->len : max;
	int            pre = 0;

	if (WIFEXITED(s->status))
		st = kind_script_map(WEXITSTATUS(s->status));
	else
		st = "critical";
	out = malloc(keep + 128);
	if (out != NULL) {
		if (s->total > keep)
			pre = snprintf(out, 128, "Captured %zu of %zu bytes\n"
			    "...\n", keep, s->total);
		if (keep > 0)
			memcpy(out + pre, s->buf + s->len - keep, keep);
		out[pre + keep] = '\0';
	}
	script_unlink(s);
	free(s->buf);
	free(s);
	sched_result(cd, c, st, out != NULL ? out : "");
	free(out);
}

static void
script_read(int fd, short revents, void *arg)
{
	struct script_run *s = arg;
	char               tmp[4096];
	ssize_t            n;

	(void)revents;
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			script_close(s);
			return;
		}
		s->total += (size_t)n;
		if (s->len + (size_t)n > s->cap) {
			/* Keep at most twice the cap: only the tail matters. */
			size_t max = s->c->output_max;

			if (s->len > max) {
				memmove(s->buf, s->buf + s->len - max, max);
				s->len = max;
			}
			if (s->len + (size_t)n > s->cap) {
				size_t cap = s->len + (size_t)n + max;
				char  *p = realloc(s->buf, cap);

				if (p == NULL)
					return;
				s->buf = p;
				s->cap = cap;
			}
		}
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
	}
}

/* Reaps finished scripts; the scheduler's tick calls it. */

void
kind_script_tick(struct checkd *cd)
{
	struct script_run *s, *next;

	for (s = cd->scripts; s != NULL; s = next) {
		next = s->next;
		if (!s->exited && waitpid(s->pid, &s->status, WNOHANG) ==
		    s->pid)
			s->exited = true;
		if (s->exited) {
			/* Output the script left in the pipe. */
			if (s->fd >= 0)
				script_read(s->fd, POLLIN, s);
			script_close(s);
			script_finish(s);
		}
	}
}

static int
script_start(struct checkd *cd, struct chk *c)
{
	struct script_run         *s;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          attr;
	sigset_t                   none, def;
	const json_t              *args = json_object_get(c->def, "Args");
	const char                *script = json_string_value(
	    json_object_get(c->def, "Script"));
	char                     **argv;
	size_t                     n, i;
	int                        p[2], rv;
	char                       out[512];

	n = json_is_array(args) ? json_array_size(args) : 0;
	if (n == 0 && script == NULL) {
		sched_result(cd, c, "critical", "no script to run");
		return 0;
	}
	if ((argv = calloc(n + 4, sizeof(*argv))) == NULL)
		return -1;
	if (n > 0)
		for (i = 0; i < n; i++)
			argv[i] = (char *)(uintptr_t)json_string_value(
			    json_array_get(args, i));
	else {
		argv[0] = (char *)(uintptr_t)"/bin/sh";
		argv[1] = (char *)(uintptr_t)"-c";
		argv[2] = (char *)(uintptr_t)script;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(argv);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rv = ENOMEM;
		goto spawned;
	}
	rv = posix_spawnp(&s->pid, argv[0], &fa, &attr, argv, environ);
spawned:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (rv != 0) {
		close(p[0]);
		free(s);
		snprintf(out, sizeof(out), "fork/exec %s: %s", argv[0],
		    strerror(rv));
		free(argv);
		sched_result(cd, c, "critical", out);
		return 0;
	}
	free(argv);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	s->cd = cd;
	s->c = c;
	s->fd = p[0];
	s->next = cd->scripts;
	cd->scripts = s;
	c->kpriv = s;
	if (cd->loop != NULL)
		loop_add_fd(cd->loop, s->fd, POLLIN, script_read, s);
	return 0;
}

static void
script_cancel(struct checkd *cd, struct chk *c)
{
	struct script_run *s = c->kpriv;

	(void)cd;
	if (s == NULL)
		return;
	/* The whole group: a shell's children die with it. */
	kill(-s->pid, SIGKILL);
	if (!s->exited)
		waitpid(s->pid, &s->status, 0);
	script_close(s);
	script_unlink(s);
	free(s->buf);
	free(s);
	c->kpriv = NULL;
}

const struct chk_kind kind_script = {
	.type = "script",
	.polled = true,
	.start = script_start,
	.cancel = script_cancel,
	.timeout_text = "Timed out running check",
};
