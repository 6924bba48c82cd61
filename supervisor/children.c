/*
 * The five children: find, fork+exec, reap, restart with backoff.
 *
 * Backoff: a child that dies is started again after 100 ms; each further
 * death within 10 s of its start doubles the delay, up to 30 s; a child that
 * ran longer starts the count again.  `debug restart` skips the delay.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define RESTART_MIN_MS  100
#define RESTART_MAX_MS  30000
#define STABLE_MS       10000

static const char *const child_names[SUP_NCHILDREN] = {
	"raftd", "gossipd", "checkd", "httpd", "dnsd"
};

/* children_reap and the restart timers reach the one supervisor through this. */
static struct supervisor *the_sup;

static int
is_exec(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Beside us, in ../libexec[/tribune], or in the installed libexec. */
static int
child_find(const char *name, char *out, size_t outlen)
{
	char        self[PATH_MAX], *slash;
	const char *env = getenv("TRIBUNE_LIBEXEC");
	const char *fmts[] = { "%s/tribune-%s", "%s/../libexec/tribune-%s",
		"%s/../libexec/tribune/tribune-%s" };
	ssize_t     n;

	if (env != NULL) {
		snprintf(out, outlen, "%s/tribune-%s", env, name);
		if (is_exec(out))
			return 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
			snprintf(out, outlen, fmts[i], self, name);
			if (is_exec(out))
				return 0;
		}
	}
	snprintf(out, outlen, "%s/tribune-%s", TRIBUNE_LIBEXEC, name);
	return is_exec(out) ? 0 : -1;
}

void
children_init(struct supervisor *s)
{
	the_sup = s;
	for (int i = 0; i < SUP_NCHILDREN; i++) {
		struct child *c = &s->children[i];
		memset(c, 0, sizeof(*c));
		c->name = child_names[i];
		if (child_find(c->name, c->path, sizeof(c->path)) != 0)
			fatalx("cannot find tribune-%s (looked beside %s and in "
			       "%s; set TRIBUNE_LIBEXEC)", c->name, "the tribune binary",
			    TRIBUNE_LIBEXEC);
	}
}

struct child *
children_find(struct supervisor *s, const char *name)
{
	for (int i = 0; i < SUP_NCHILDREN; i++)
		if (name != NULL && strcmp(s->children[i].name, name) == 0)
			return &s->children[i];
	return NULL;
}

struct child *
children_by_pid(struct supervisor *s, pid_t pid)
{
	for (int i = 0; i < SUP_NCHILDREN; i++)
		if (s->children[i].pid == pid && pid > 0)
			return &s->children[i];
	return NULL;
}

static int
child_spawn(struct supervisor *s, struct child *c)
{
	const char *level = s->cfg.log_level ? s->cfg.log_level : "info";
	pid_t       parent = getpid(), pid;

	if ((pid = fork()) == -1) {
		log_warn("fork %s", c->name);
		return -1;
	}
	if (pid == 0) {
		int fd;
		/* Die with the supervisor, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		signal(SIGPIPE, SIG_DFL);
		if ((fd = open("/dev/null", O_RDONLY)) != -1) {
			dup2(fd, 0);
			if (fd > 2)
				close(fd);
		}
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(c->path, c->path, "-run-dir", s->run_dir, "-log-level",
		    level, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", c->path, strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	c->state = CHILD_STARTING;
	c->started_ms = loop_now_ms();
	c->ready_ms = 0;
	log_debug("started %s: pid=%d", c->name, (int)pid);
	return 0;
}

int
children_start_all(struct supervisor *s)
{
	for (int i = 0; i < SUP_NCHILDREN; i++)
		if (child_spawn(s, &s->children[i]) != 0)
			return -1;
	return 0;
}

static void
child_restart_cb(void *arg)
{
	struct child *c = arg;

	c->timer = 0;
	if (the_sup->stopping || c->state != CHILD_BACKOFF)
		return;
	log_info("restarting %s (restart %u)", c->name, c->restarts + 1);
	c->restarts++;
	if (child_spawn(the_sup, c) != 0) {
		c->state = CHILD_BACKOFF;
		c->timer = loop_add_timer(the_sup->loop, RESTART_MAX_MS, 0,
		    child_restart_cb, c);
	}
}

static void
child_describe_exit(struct child *c, int status)
{
	if (WIFEXITED(status))
		snprintf(c->last_exit, sizeof(c->last_exit), "exit status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(c->last_exit, sizeof(c->last_exit),
		    "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(c->last_exit, sizeof(c->last_exit), "status %d", status);
}

void
children_reap(struct supervisor *s)
{
	pid_t pid;
	int   status;

	the_sup = s;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = children_by_pid(s, pid);
		uint64_t      ran, delay;

		if (c == NULL)
			continue;
		child_describe_exit(c, status);
		c->pid = 0;
		c->exited_ms = loop_now_ms();
		if (s->stopping) {
			c->state = CHILD_STOPPED;
			log_debug("%s stopped: %s", c->name, c->last_exit);
			continue;
		}
		ran = loop_now_ms() - c->started_ms;
		if (c->restart_now) {
			delay = 0;
			c->restart_now = 0;
			c->fast_crashes = 0;
		} else if (ran < STABLE_MS) {
			delay = RESTART_MIN_MS << (c->fast_crashes < 9 ? c->fast_crashes : 9);
			if (delay > RESTART_MAX_MS)
				delay = RESTART_MAX_MS;
			c->fast_crashes++;
		} else {
			delay = RESTART_MIN_MS;
			c->fast_crashes = 0;
		}
		log_warnx("%s (pid %d) died: %s; restarting in %llu ms", c->name,
		    (int)pid, c->last_exit, (unsigned long long)delay);
		c->state = CHILD_BACKOFF;
		c->timer = loop_add_timer(s->loop, delay, 0, child_restart_cb, c);
	}
}

int
children_restart(struct supervisor *s, struct child *c)
{
	the_sup = s;
	if (c->pid > 0) {
		c->restart_now = 1;
		return kill(c->pid, SIGTERM);
	}
	if (c->state == CHILD_BACKOFF) {
		if (c->timer)
			loop_del_timer(s->loop, c->timer);
		c->timer = 0;
		child_restart_cb(c);
	}
	return 0;
}

void
children_stop_all(struct supervisor *s, int sig)
{
	for (int i = 0; i < SUP_NCHILDREN; i++) {
		struct child *c = &s->children[i];
		if (c->timer) {
			loop_del_timer(s->loop, c->timer);
			c->timer = 0;
		}
		if (c->pid > 0)
			kill(c->pid, sig);
		else
			c->state = CHILD_STOPPED;
	}
}

int
children_alive(struct supervisor *s)
{
	int n = 0;

	for (int i = 0; i < SUP_NCHILDREN; i++)
		n += s->children[i].pid > 0;
	return n;
}

int
children_all_ready(struct supervisor *s)
{
	for (int i = 0; i < SUP_NCHILDREN; i++)
		if (s->children[i].state != CHILD_RUNNING)
			return 0;
	return 1;
}
