/* kluis-server status: being written (issue #15). */
#include "server_cmds.h"

int
cmd_status(const struct server_args *a)
{
	(void)a;
	fprintf(stderr, "%s: status: not built yet\n", progname);
	return EXIT_USAGE;
}
