/* kluis-server replicate: being written (issue #15). */
#include "server_cmds.h"

int
cmd_replicate(const struct server_args *a)
{
	(void)a;
	fprintf(stderr, "%s: replicate: not built yet\n", progname);
	return EXIT_USAGE;
}
