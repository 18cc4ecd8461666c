/*
 * What the command files of kluis-server (server_main.c, server_trash.c)
 * share: private to the program.
 */
#ifndef KLUIS_SERVER_CMDS_H
#define KLUIS_SERVER_CMDS_H

#include <stdio.h>

/* Exit codes a scheduler can act on. */
#define EXIT_CLEAN	0
#define EXIT_FINDINGS	1	/* corruption, strays, or an error */
#define EXIT_USAGE	2
#define EXIT_NOREPO	10	/* the directory is not a repository */

extern const char *progname;

/* Stray names are arbitrary bytes: never hand them raw to a terminal. */
void print_name(FILE *f, const char *s);

/* kluis-server purge and undelete (server_trash.c). */
int cmd_purge(int argc, char **argv);
int cmd_undelete(int argc, char **argv);

#endif
