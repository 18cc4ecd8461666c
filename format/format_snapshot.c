/*
 * Snapshot plaintext (FORMAT.md §10).  The decoder parses into a local
 * struct and moves it out only when every rule holds; snapshot_check is
 * the one statement of those rules, run by the encoder on its input too.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "format_internal.h"

#define NS_MAX 1000000000u	/* FORMAT.md §10: nanoseconds < 10^9 */

/* u16 count (checked against max and the input left) and that many
 * strings; *v and *n are set before the strings so a partial result is
 * freed by kl_snapshot_clear. */
static int
get_strv(struct buf *b, size_t max_n, size_t max_len, char ***v, size_t *n)
{
	uint16_t cnt;
	size_t i;
	int r;

	if ((r = buf_get_u16le(b, &cnt)) != KL_OK)
		return r;
	if (cnt > max_n)
		return KL_E_LIMIT;
	if ((size_t)cnt * 2 > buf_avail(b))
		return KL_E_CORRUPT;
	if (cnt == 0)
		return KL_OK;
	if ((*v = calloc(cnt, sizeof(**v))) == NULL)
		return KL_E_NOMEM;
	*n = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = fmt_get_str(b, max_len, &(*v)[i])) != KL_OK)
			return r;
	return KL_OK;
}

static int
put_strv(struct buf *b, char *const *v, size_t n)
{
	size_t i;
	int r;

	if ((r = buf_put_u16le(b, (uint16_t)n)) != KL_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = fmt_put_str(b, v[i])) != KL_OK)
			return r;
	return KL_OK;
}

/*
 * §10, §11.1: absolute and normalised: starts with '/', no empty, "." or
 * ".." component, no trailing '/' except for "/" itself.
 */
static int
path_valid(const char *p, size_t len)
{
	size_t i, start;

	if (len == 0 || p[0] != '/')
		return 0;
	if (len == 1)
		return 1;
	for (start = 1, i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (i == start || (i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return 0;
		start = i + 1;
	}
	return 1;
}

/* n strings each min..max bytes; paths also absolute and normalised. */
static int
strv_check(char *const *v, size_t n, size_t min, size_t max, int paths)
{
	size_t i, l;

	if (n > 0 && v == NULL)
		return KL_E_CORRUPT;
	for (i = 0; i < n; i++) {
		if ((l = fmt_slen(v[i], max)) > max)
			return KL_E_LIMIT;
		if (l < min || (paths && !path_valid(v[i], l)))
			return KL_E_CORRUPT;
	}
	return KL_OK;
}

static int
snapshot_check(const struct kl_snapshot *s)
{
	int r;

	if (fmt_slen(s->hostname, KL_NAME_MAX) > KL_NAME_MAX ||
	    fmt_slen(s->username, KL_NAME_MAX) > KL_NAME_MAX ||
	    fmt_slen(s->program, KL_NAME_MAX) > KL_NAME_MAX ||
	    s->npaths > KL_SNAP_PATHS_MAX || s->ntags > KL_SNAP_TAGS_MAX)
		return KL_E_LIMIT;
	if (s->time_ns >= NS_MAX || fmt_slen(s->hostname, KL_NAME_MAX) == 0 ||
	    s->npaths == 0)
		return KL_E_CORRUPT;
	if ((r = strv_check(s->paths, s->npaths, 1, KL_PATH_MAX, 1)) != 0)
		return r;
	return strv_check(s->tags, s->ntags, 1, KL_NAME_MAX, 0);
}

static int
put_snapshot(struct buf *b, const struct kl_snapshot *s)
{
	int r;

	if ((r = buf_put_u64le(b, (uint64_t)s->time_s)) != KL_OK ||
	    (r = buf_put_u32le(b, s->time_ns)) != KL_OK ||
	    (r = buf_put(b, s->tree.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_put(b, s->parent.b, KL_ID_LEN)) != KL_OK ||
	    (r = fmt_put_str(b, s->hostname)) != KL_OK ||
	    (r = fmt_put_str(b, s->username)) != KL_OK ||
	    (r = buf_put_u32le(b, s->uid)) != KL_OK ||
	    (r = buf_put_u32le(b, s->gid)) != KL_OK ||
	    (r = put_strv(b, s->paths, s->npaths)) != KL_OK ||
	    (r = put_strv(b, s->tags, s->ntags)) != KL_OK ||
	    (r = buf_put_u64le(b, s->files)) != KL_OK ||
	    (r = buf_put_u64le(b, s->dirs)) != KL_OK ||
	    (r = buf_put_u64le(b, s->bytes)) != KL_OK)
		return r;
	return fmt_put_str(b, s->program);
}

int
kl_snapshot_encode(const struct kl_snapshot *s, struct buf *out)
{
	size_t mark = buf_size(out);
	int r;

	if ((r = snapshot_check(s)) != KL_OK)
		return fmt_enc_err(r);
	if ((r = put_snapshot(out, s)) != KL_OK)
		buf_unput(out, buf_size(out) - mark);
	return r;
}

static int
get_snapshot(struct buf *b, struct kl_snapshot *s)
{
	int r;

	if ((r = fmt_get_i64(b, &s->time_s)) != KL_OK ||
	    (r = buf_get_u32le(b, &s->time_ns)) != KL_OK ||
	    (r = buf_get(b, s->tree.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_get(b, s->parent.b, KL_ID_LEN)) != KL_OK ||
	    (r = fmt_get_str(b, KL_NAME_MAX, &s->hostname)) != KL_OK ||
	    (r = fmt_get_str(b, KL_NAME_MAX, &s->username)) != KL_OK ||
	    (r = buf_get_u32le(b, &s->uid)) != KL_OK ||
	    (r = buf_get_u32le(b, &s->gid)) != KL_OK ||
	    (r = get_strv(b, KL_SNAP_PATHS_MAX, KL_PATH_MAX, &s->paths,
	    &s->npaths)) != KL_OK ||
	    (r = get_strv(b, KL_SNAP_TAGS_MAX, KL_NAME_MAX, &s->tags,
	    &s->ntags)) != KL_OK ||
	    (r = buf_get_u64le(b, &s->files)) != KL_OK ||
	    (r = buf_get_u64le(b, &s->dirs)) != KL_OK ||
	    (r = buf_get_u64le(b, &s->bytes)) != KL_OK ||
	    (r = fmt_get_str(b, KL_NAME_MAX, &s->program)) != KL_OK)
		return r;
	if (buf_avail(b) != 0)
		return KL_E_CORRUPT;
	return snapshot_check(s);
}

int
kl_snapshot_decode(const uint8_t *p, size_t len, struct kl_snapshot *out)
{
	struct kl_snapshot s;
	struct buf b;
	int r;

	memset(&s, 0, sizeof(s));
	buf_view_init(&b, p, len);
	if ((r = get_snapshot(&b, &s)) != KL_OK)
		goto out;
	*out = s;
	memset(&s, 0, sizeof(s));
out:
	kl_snapshot_clear(&s);
	return r;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void
kl_snapshot_clear(struct kl_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->hostname);
	free(s->username);
	strv_free(s->paths, s->npaths);
	strv_free(s->tags, s->ntags);
	free(s->program);
	memset(s, 0, sizeof(*s));
}
