#include <stdio.h>
#include <string.h>

#include "supervisor.h"

int cli_main(int argc, char **argv);

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "agent") == 0)
		return agent_main(argc - 2, argv + 2);
	return cli_main(argc, argv);
}
