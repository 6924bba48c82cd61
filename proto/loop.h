/*
 * One event loop per process (Redis's ae in miniature): poll(2) over file
 * descriptors, periodic and one-shot timers, signals delivered through a
 * self-pipe (handlers only write a byte), and loop_post() for other threads
 * (nng's aio callbacks) to run a function on the loop thread.
 *
 * Not thread-safe except loop_post() and loop_stop().
 */
#ifndef TRIBUNE_LOOP_H
#define TRIBUNE_LOOP_H

#include <stdint.h>

struct loop;

typedef void (*loop_fd_cb)(int fd, short revents, void *arg);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_sig_cb)(int sig, void *arg);
typedef void (*loop_post_cb)(void *arg);

struct loop *loop_new(void);
void         loop_free(struct loop *);

/* Watches fd for events (POLLIN/POLLOUT); replaces an existing watch. */
int  loop_add_fd(struct loop *, int fd, short events, loop_fd_cb, void *arg);
void loop_del_fd(struct loop *, int fd);

/* A timer every period_ms (repeat) or once after period_ms; returns an id > 0. */
int  loop_add_timer(struct loop *, uint64_t period_ms, int repeat,
         loop_timer_cb, void *arg);
void loop_del_timer(struct loop *, int id);

/* Installs a handler for sig that runs cb on the loop thread. */
int  loop_on_signal(struct loop *, int sig, loop_sig_cb cb, void *arg);

/* Thread-safe: runs cb(arg) on the loop thread soon. */
int  loop_post(struct loop *, loop_post_cb cb, void *arg);

/* Runs until loop_stop(); returns 0. */
int  loop_run(struct loop *);
void loop_stop(struct loop *);

/* Milliseconds and microseconds on the monotonic clock; wall-clock microseconds. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);
uint64_t wall_now_us(void);

#endif
