/* tribune-httpd: Consul's HTTP API.  Everything but main() is in the rest. */
#include "httpd.h"

int
main(int argc, char **argv)
{
	return daemon_main(&httpd_ops, argc, argv);
}
