#include "checkd.h"

int
main(int argc, char **argv)
{
	return daemon_main(&checkd_ops, argc, argv);
}
