/*
 * dnsd's state: set-up and tear-down, shared by main() and the tests.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dnsd.h"

void
dnsd_init(struct dnsd *d)
{
	memset(d, 0, sizeof(*d));
	dnsconf_defaults(&d->conf);
	d->view = view_new();
	d->fwd_fd[0] = d->fwd_fd[1] = -1;
	/* Production answers need only be unpredictable enough to spread
	 * load; the tests call answer_seed() to pin the order. */
	answer_seed(d, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
}

void
dnsd_free(struct dnsd *d)
{
	view_free(d->view);
	free(d->cand);
	dnsconf_free(&d->conf);
	d->view = NULL;
	d->cand = NULL;
}
