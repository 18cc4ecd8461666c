/*
 * Replay driver: runs a fuzz target's LLVMFuzzerTestOneInput on every
 * file named on the command line, and on the regular files (sorted by
 * name, not recursive) of every directory named, so that the corpus runs
 * as an ordinary ctest (STYLE.md "Tests").  A crash or abort fails the
 * test by itself; an unreadable path is an error (exit 1), so that a
 * missing corpus never passes silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fuzz.h"

#define REPLAY_FILE_MAX ((size_t)64 << 20)

/* Reads the whole file into an exact-size allocation, so that ASan sees
 * any read past the input's end. */
static int
replay_file(const char *path)
{
	FILE *f;
	struct stat st;
	uint8_t *p;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	n = (size_t)st.st_size;
	if (n > REPLAY_FILE_MAX || (p = malloc(n > 0 ? n : 1)) == NULL ||
	    fread(p, 1, n, f) != n) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(p, n);
	free(p);
	return 0;
}

static int
is_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Replays the regular files of dir; adds their number to *count. */
static int
replay_dir(const char *dir, size_t *count)
{
	struct dirent **ents;
	char path[4096];
	int n, i, r = 0;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (r == 0 &&
		    snprintf(path, sizeof(path), "%s/%s", dir,
		        ents[i]->d_name) < (int)sizeof(path) &&
		    is_regular(path)) {
			if ((r = replay_file(path)) == 0)
				(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int
main(int argc, char **argv)
{
	struct stat st;
	size_t count = 0;
	int i, r;

	if (sodium_init() < 0) {
		fprintf(stderr, "replay: cannot initialise libsodium\n");
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			r = replay_dir(argv[i], &count);
		else if ((r = replay_file(argv[i])) == 0)
			count++;
		if (r != 0)
			return 1;
	}
	printf("replayed %zu inputs\n", count);
	return 0;
}
