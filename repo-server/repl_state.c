/*
 * The replication state files (repl_state.h, docs/FORMAT.md §1.1): text,
 * one "key value" line each, written whole and atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"

#include "repl_state.h"

#define REPL_MAGIC "kluis-replication 1"
#define REPL_FILE_MAX 8192
#define REPL_TIME_MAX ((int64_t)1 << 40)	/* seconds: year 36812 */

void
kl_repl_state_name(const char *url, char out[17])
{
	char hex[KL_ID_HEX_LEN + 1];
	struct kl_id id;

	kl_hash((const uint8_t *)url, strlen(url), &id);
	kl_id_hex(&id, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

static int
state_dir(const char *repo, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", repo, KL_REPL_DIR);

	return n < 0 || (size_t)n >= len ? KL_E_LIMIT : KL_OK;
}

/* A text value on one line: control characters become '?'. */
static void
put_text(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s ", key);
	for (; *v != '\0'; v++)
		fputc((unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v, f);
	fputc('\n', f);
}

int
kl_repl_state_write(const char *repo, const struct kl_repl_state *st)
{
	char dir[PATH_MAX], name[17];
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if ((r = state_dir(repo, dir, sizeof(dir))) != KL_OK)
		return r;
	if ((r = kl_mkdir_p(dir, 0700)) != KL_OK)
		return r;
	if ((f = open_memstream(&text, &len)) == NULL)
		return KL_E_NOMEM;
	fprintf(f, "%s\n", REPL_MAGIC);
	put_text(f, "url", st->url);
	fprintf(f, "started %" PRId64 "\nfinished %" PRId64 "\noutcome %d\n",
	    st->started_s, st->finished_s, st->outcome);
	put_text(f, "message", st->message);
	fprintf(f, "synced %" PRId64 "\nfiles_sent %" PRIu64 "\n"
	    "bytes_sent %" PRIu64 "\ndamaged %" PRIu64 "\nrepaired %" PRIu64
	    "\n", st->synced_s, st->files_sent, st->bytes_sent, st->damaged,
	    st->repaired);
	if (fclose(f) != 0) {
		free(text);
		return KL_E_NOMEM;
	}
	kl_repl_state_name(st->url, name);
	r = kl_file_write_atomic(dir, name, text, len, 0, 0600);
	free(text);
	return r;
}

static int
num_i64(const char *v, int64_t *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return KL_E_CORRUPT;
	*out = (int64_t)x;
	return KL_OK;
}

static int
num_u64(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (*v == '-')
		return KL_E_CORRUPT;
	x = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return KL_E_CORRUPT;
	*out = (uint64_t)x;
	return KL_OK;
}

/* One "key value" line into st. */
static int
state_line(char *line, struct kl_repl_state *st)
{
	char *v = strchr(line, ' ');
	int64_t i;
	int r;

	if (v == NULL)
		return KL_E_CORRUPT;
	*v++ = '\0';
	if (strcmp(line, "url") == 0 || strcmp(line, "message") == 0) {
		char *dst = line[0] == 'u' ? st->url : st->message;
		size_t max = line[0] == 'u' ? KL_REPL_URL_MAX : KL_REPL_MSG_MAX;

		if (strlen(v) > max)
			return KL_E_CORRUPT;
		strcpy(dst, v);
		return KL_OK;
	}
	if (strcmp(line, "started") == 0)
		return num_i64(v, &st->started_s);
	if (strcmp(line, "finished") == 0)
		return num_i64(v, &st->finished_s);
	if (strcmp(line, "synced") == 0)
		return num_i64(v, &st->synced_s);
	if (strcmp(line, "outcome") == 0) {
		if ((r = num_i64(v, &i)) != KL_OK || i > 0 || i < -1000)
			return KL_E_CORRUPT;
		st->outcome = (int)i;
		return KL_OK;
	}
	if (strcmp(line, "files_sent") == 0)
		return num_u64(v, &st->files_sent);
	if (strcmp(line, "bytes_sent") == 0)
		return num_u64(v, &st->bytes_sent);
	if (strcmp(line, "damaged") == 0)
		return num_u64(v, &st->damaged);
	if (strcmp(line, "repaired") == 0)
		return num_u64(v, &st->repaired);
	return KL_OK;	/* a key a later version added */
}

/* The file at path whole, if it is a regular file of at most
 * REPL_FILE_MAX bytes (a FIFO planted there must not hang status). */
static int
read_regular(const char *path, struct buf **out)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	if ((r = kl_open_regular(path, &fd)) != KL_OK)
		return r;
	if (fstat(fd, &st) != 0 || st.st_size > REPL_FILE_MAX) {
		close(fd);
		return KL_E_CORRUPT;
	}
	if ((*out = buf_new(REPL_FILE_MAX)) == NULL) {
		close(fd);
		return KL_E_NOMEM;
	}
	if ((r = buf_reserve(*out, (size_t)st.st_size, &p)) == KL_OK)
		r = kl_read_full(fd, p, (size_t)st.st_size, &got);
	close(fd);
	if (r == KL_OK && got != (size_t)st.st_size)
		r = KL_E_CORRUPT;	/* shrank while we read it */
	if (r != KL_OK) {
		buf_free(*out);
		*out = NULL;
	}
	return r;
}

int
kl_repl_state_read(const char *repo, const char *name,
    struct kl_repl_state *st)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], *text, *line, *next;
	struct buf *b = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = state_dir(repo, dir, sizeof(dir))) != KL_OK)
		return r;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((r = read_regular(path, &b)) != KL_OK)
		return r;
	if ((text = malloc(buf_size(b) + 1)) == NULL) {
		buf_free(b);
		return KL_E_NOMEM;
	}
	memcpy(text, buf_data(b), buf_size(b));
	text[buf_size(b)] = '\0';
	r = strlen(text) == buf_size(b) ? KL_OK : KL_E_CORRUPT;
	buf_free(b);
	line = text;
	if (r == KL_OK && ((next = strchr(line, '\n')) == NULL ||
	    (size_t)(next - line) != strlen(REPL_MAGIC) ||
	    strncmp(line, REPL_MAGIC, strlen(REPL_MAGIC)) != 0))
		r = KL_E_CORRUPT;
	for (line = next; r == KL_OK && line != NULL && *++line != '\0';
	    line = next) {
		if ((next = strchr(line, '\n')) == NULL) {
			r = KL_E_CORRUPT;	/* a cut last line */
			break;
		}
		*next = '\0';
		r = state_line(line, st);
	}
	/* times a run can have made: none negative, none past the year
	 * 36812, and in their order (status subtracts them) */
	if (r == KL_OK && (st->url[0] == '\0' || st->started_s < 0 ||
	    st->synced_s < 0 || st->finished_s < st->started_s ||
	    st->synced_s > st->finished_s || st->finished_s > REPL_TIME_MAX))
		r = KL_E_CORRUPT;
	free(text);
	return r;
}

int
kl_repl_state_each(const char *repo, kl_repl_state_cb cb, void *arg)
{
	char dir[PATH_MAX];
	struct kl_repl_state st;
	struct dirent *de;
	DIR *d;
	int r = KL_OK, pr;

	if ((r = state_dir(repo, dir, sizeof(dir))) != KL_OK)
		return r;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	while (r == KL_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')	/* ., .., .tmp-* */
			continue;
		pr = kl_repl_state_read(repo, de->d_name, &st);
		if (pr == KL_E_NOTFOUND)
			continue;	/* gone meanwhile */
		if (pr != KL_OK) {
			memset(&st, 0, sizeof(st));
			snprintf(st.url, sizeof(st.url), "%s", de->d_name);
		}
		r = cb(arg, &st, pr != KL_OK);
	}
	closedir(d);
	return r;
}
