#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

struct loop_fd {
	int        fd;
	short      events;
	loop_fd_cb cb;
	void      *arg;
};

struct loop_timer {
	int           id;
	uint64_t      due;
	uint64_t      period;
	int           repeat;
	loop_timer_cb cb;
	void         *arg;
};

struct loop_post_item {
	loop_post_cb           cb;
	void                  *arg;
	struct loop_post_item *next;
};

#define LOOP_NSIG 65

struct loop {
	struct loop_fd    *fds;
	size_t             nfds, capfds;
	struct loop_timer *timers;
	size_t             ntimers, captimers;
	int                next_timer_id;
	volatile int       stop;
	int                wake[2];   /* self-pipe: signals and posts */
	pthread_mutex_t    mu;
	struct loop_post_item *posts, **posts_tail;
	loop_sig_cb        sig_cb[LOOP_NSIG];
	void              *sig_arg[LOOP_NSIG];
};

/* The loop that owns signal delivery; one per process. */
static struct loop *loop_sig_owner;

uint64_t
loop_now_ms(void)
{
	return loop_now_us() / 1000;
}

uint64_t
loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
wall_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

static void
loop_wake_read(int fd, short revents, void *arg)
{
	struct loop           *l = arg;
	unsigned char          buf[64];
	ssize_t                n;
	struct loop_post_item *items, *it;

	(void)revents;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			int sig = buf[i];
			if (sig > 0 && sig < LOOP_NSIG && l->sig_cb[sig] != NULL)
				l->sig_cb[sig](sig, l->sig_arg[sig]);
		}
	}
	pthread_mutex_lock(&l->mu);
	items = l->posts;
	l->posts = NULL;
	l->posts_tail = &l->posts;
	pthread_mutex_unlock(&l->mu);
	while ((it = items) != NULL) {
		items = it->next;
		it->cb(it->arg);
		free(it);
	}
}

struct loop *
loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	l->posts_tail = &l->posts;
	l->next_timer_id = 1;
	loop_add_fd(l, l->wake[0], POLLIN, loop_wake_read, l);
	return l;
}

void
loop_free(struct loop *l)
{
	struct loop_post_item *it;

	if (l == NULL)
		return;
	if (loop_sig_owner == l)
		loop_sig_owner = NULL;
	close(l->wake[0]);
	close(l->wake[1]);
	while ((it = l->posts) != NULL) {
		l->posts = it->next;
		free(it);
	}
	pthread_mutex_destroy(&l->mu);
	free(l->fds);
	free(l->timers);
	free(l);
}

int
loop_add_fd(struct loop *l, int fd, short events, loop_fd_cb cb, void *arg)
{
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd) {
			l->fds[i] = (struct loop_fd){ fd, events, cb, arg };
			return 0;
		}
	if (l->nfds == l->capfds) {
		size_t          cap = l->capfds ? l->capfds * 2 : 16;
		struct loop_fd *n = realloc(l->fds, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		l->fds = n;
		l->capfds = cap;
	}
	l->fds[l->nfds++] = (struct loop_fd){ fd, events, cb, arg };
	return 0;
}

void
loop_del_fd(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd) {
			/* Mark dead; compacted after the current dispatch pass. */
			l->fds[i].fd = -1;
			l->fds[i].cb = NULL;
			return;
		}
}

int
loop_add_timer(struct loop *l, uint64_t period_ms, int repeat,
    loop_timer_cb cb, void *arg)
{
	if (l->ntimers == l->captimers) {
		size_t             cap = l->captimers ? l->captimers * 2 : 16;
		struct loop_timer *n = realloc(l->timers, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		l->timers = n;
		l->captimers = cap;
	}
	l->timers[l->ntimers++] = (struct loop_timer){ l->next_timer_id,
		loop_now_ms() + period_ms, period_ms, repeat, cb, arg };
	return l->next_timer_id++;
}

void
loop_del_timer(struct loop *l, int id)
{
	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].id == id) {
			l->timers[i].cb = NULL;
			return;
		}
}

static void
loop_sig_handler(int sig)
{
	int           saved = errno;
	unsigned char c = (unsigned char)sig;

	if (loop_sig_owner != NULL)
		(void)!write(loop_sig_owner->wake[1], &c, 1);
	errno = saved;
}

int
loop_on_signal(struct loop *l, int sig, loop_sig_cb cb, void *arg)
{
	struct sigaction sa;

	if (sig <= 0 || sig >= LOOP_NSIG)
		return -1;
	loop_sig_owner = l;
	l->sig_cb[sig] = cb;
	l->sig_arg[sig] = arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = loop_sig_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

int
loop_post(struct loop *l, loop_post_cb cb, void *arg)
{
	struct loop_post_item *it = malloc(sizeof(*it));
	unsigned char          c = 0;

	if (it == NULL)
		return -1;
	it->cb = cb;
	it->arg = arg;
	it->next = NULL;
	pthread_mutex_lock(&l->mu);
	*l->posts_tail = it;
	l->posts_tail = &it->next;
	pthread_mutex_unlock(&l->mu);
	(void)!write(l->wake[1], &c, 1);
	return 0;
}

void
loop_stop(struct loop *l)
{
	unsigned char c = 0;

	l->stop = 1;
	(void)!write(l->wake[1], &c, 1);
}

static void
loop_compact(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].fd >= 0)
			l->fds[j++] = l->fds[i];
	l->nfds = j;
	j = 0;
	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].cb != NULL)
			l->timers[j++] = l->timers[i];
	l->ntimers = j;
}

int
loop_run(struct loop *l)
{
	struct pollfd *pfds = NULL;
	size_t         cap = 0;

	l->stop = 0;
	while (!l->stop) {
		uint64_t now = loop_now_ms();
		int      timeout = 1000, n;
		size_t   nf;

		for (size_t i = 0; i < l->ntimers; i++) {
			if (l->timers[i].cb == NULL)
				continue;
			int64_t d = (int64_t)(l->timers[i].due - now);
			if (d < 0)
				d = 0;
			if (d < timeout)
				timeout = (int)d;
		}
		if (cap < l->nfds) {
			struct pollfd *np = realloc(pfds, l->nfds * sizeof(*np));
			if (np == NULL)
				fatalx("loop: out of memory");
			pfds = np;
			cap = l->nfds;
		}
		nf = l->nfds;
		for (size_t i = 0; i < nf; i++) {
			pfds[i].fd = l->fds[i].fd;
			pfds[i].events = l->fds[i].events;
			pfds[i].revents = 0;
		}
		n = poll(pfds, nf, timeout);
		if (n == -1 && errno != EINTR)
			fatal("poll");
		for (size_t i = 0; n > 0 && i < nf; i++) {
			if (pfds[i].revents == 0)
				continue;
			/* The table may have changed under a callback. */
			if (i < l->nfds && l->fds[i].fd == pfds[i].fd &&
			    l->fds[i].cb != NULL)
				l->fds[i].cb(pfds[i].fd, pfds[i].revents,
				    l->fds[i].arg);
		}
		now = loop_now_ms();
		for (size_t i = 0; i < l->ntimers; i++) {
			struct loop_timer *t = &l->timers[i];
			if (t->cb == NULL || t->due > now)
				continue;
			loop_timer_cb cb = t->cb;
			void         *arg = t->arg;
			if (t->repeat)
				t->due = now + t->period;
			else
				t->cb = NULL;
			cb(arg);
		}
		loop_compact(l);
	}
	free(pfds);
	return 0;
}
