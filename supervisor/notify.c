/*
 * systemd's notify protocol, which is a datagram of "KEY=value" lines to the
 * unix socket named by $NOTIFY_SOCKET ('@' = abstract namespace).  A few
 * lines of our own instead of libsystemd.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

int
notify_send(const char *state)
{
	const char        *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t          len;
	int                fd, rv;

	if (path == NULL || *path == '\0')
		return 0;
	if (strlen(path) >= sizeof(sun.sun_path) ||
	    (path[0] != '/' && path[0] != '@'))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rv = (int)sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	if (rv == -1)
		log_warn("sd_notify %s", path);
	close(fd);
	return rv == -1 ? -1 : 0;
}

void
notify_init(struct supervisor *s)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");

	s->watchdog_ms = 0;
	if (usec == NULL)
		return;
	if (pid != NULL && atol(pid) != (long)getpid())
		return;
	s->watchdog_ms = strtoull(usec, NULL, 10) / 1000;
}
