/* tribune-gossipd: everything but main() lives in standalone.c and friends. */
#include "gossipd.h"

int
main(int argc, char **argv)
{
	return gossipd_main(argc, argv);
}
