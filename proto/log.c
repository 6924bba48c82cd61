#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static char log_name[64] = "agent";
static int  log_level = LOG_INFO;

static const char *const log_tags[] = {
	"[TRACE]", "[DEBUG]", "[INFO] ", "[WARN] ", "[ERROR]"
};

void
log_init(const char *procname, int level)
{
	snprintf(log_name, sizeof(log_name), "%s", procname);
	log_level = level;
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

const char *
log_procname(void)
{
	return log_name;
}

int
log_level_parse(const char *s)
{
	static const struct {
		const char *name;
		int         level;
	} names[] = {
		{ "trace", LOG_TRACE }, { "debug", LOG_DEBUG },
		{ "info", LOG_INFO },   { "warn", LOG_WARN },
		{ "warning", LOG_WARN }, { "err", LOG_ERROR },
		{ "error", LOG_ERROR },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].level;
	return -1;
}

static void
log_vline(int level, const char *fmt, va_list ap, const char *err)
{
	char           ts[40], msg[2048];
	struct timeval tv;
	struct tm      tm;

	if (level < log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio locks the stream, lines do not interleave. */
	if (err != NULL)
		fprintf(stderr, "%s.%03dZ %s %s: %s: %s\n", ts,
		    (int)(tv.tv_usec / 1000), log_tags[level], log_name, msg, err);
	else
		fprintf(stderr, "%s.%03dZ %s %s: %s\n", ts,
		    (int)(tv.tv_usec / 1000), log_tags[level], log_name, msg);
}

#define LOG_FN(fn, level)                        \
	void fn(const char *fmt, ...)            \
	{                                        \
		va_list ap;                      \
		va_start(ap, fmt);               \
		log_vline(level, fmt, ap, NULL); \
		va_end(ap);                      \
	}
LOG_FN(log_trace, LOG_TRACE)
LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warnx, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)
#undef LOG_FN

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int     saved = errno;

	va_start(ap, fmt);
	log_vline(LOG_WARN, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int     saved = errno;

	va_start(ap, fmt);
	log_vline(LOG_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
