/* tribune-raftd: entry point only (the daemon lives in server.c); kept apart
 * so unit tests can link every other raftd object. */
#include <stdio.h>

#include "raftd.h"

int
main(void)
{
	fprintf(stderr, "tribune-raftd: daemon entry not wired yet\n");
	return 1;
}
