/* tribune-raftd: entry point only (the daemon lives in server.c); kept apart
 * so unit tests can link every other raftd object. */
#include "raftd.h"

int
main(int argc, char **argv)
{
	return server_main(argc, argv);
}
