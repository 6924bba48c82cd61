/*
 * Logging, one line per event, Consul's format:
 *
 *   2026-11-22T12:00:00.000Z [INFO]  agent.raftd: message: key=value
 *
 * Every line is tagged with the process name given to log_init().  Lines go
 * to stderr, which the supervisor's children inherit, so one agent writes one
 * interleaved log.  log_warn appends strerror(errno); the *x forms do not.
 */
#ifndef TRIBUNE_LOG_H
#define TRIBUNE_LOG_H

#include <stdarg.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *procname, int level);
void log_setlevel(int level);
int  log_getlevel(void);
/* "trace".."error" (any case, "warning" too) to a level, -1 if unknown. */
int  log_level_parse(const char *s);
const char *log_procname(void);

void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
