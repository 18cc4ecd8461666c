/*
 * Run record plaintext (FORMAT.md §17).  As for snapshots, runrec_check is
 * the one statement of the rules: the encoder runs it on its input, the
 * decoder on what it parsed, before anything moves out.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "format_internal.h"

#define RESERVED_LEN 3		/* §17: offset 17, zero */

static const char *const kind_names[] = { NULL, "backup", "check", "drill" };

const char *
kl_runrec_kind_name(int kind)
{
	if (kind < KL_RUNREC_BACKUP || kind > KL_RUNREC_DRILL)
		return NULL;
	return kind_names[kind];
}

int
kl_runrec_kind_parse(const char *s)
{
	int k;

	for (k = KL_RUNREC_BACKUP; s != NULL && k <= KL_RUNREC_DRILL; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return 0;
}

static int
bytes_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int
kl_runrec_id_is_zero(const uint8_t *id)
{
	return bytes_zero(id, KL_RUNREC_ID_LEN);
}

static int
runrec_check(const struct kl_runrec *r)
{
	size_t hl = fmt_slen(r->host, KL_NAME_MAX);

	if (hl > KL_NAME_MAX ||
	    fmt_slen(r->detail, KL_RUNREC_DETAIL_MAX) > KL_RUNREC_DETAIL_MAX ||
	    fmt_slen(r->program, KL_NAME_MAX) > KL_NAME_MAX)
		return KL_E_LIMIT;
	if (kl_runrec_kind_name(r->kind) == NULL)
		return KL_E_UNSUPPORTED;
	if (kl_runrec_id_is_zero(r->run_id) || hl == 0 ||
	    r->exit_code > KL_RUNREC_EXIT_MAX || r->start_s < 0 ||
	    r->end_s < r->start_s || r->files > KL_RUNREC_COUNT_MAX ||
	    r->bytes > KL_RUNREC_COUNT_MAX ||
	    r->bytes_added > KL_RUNREC_COUNT_MAX ||
	    r->errors > KL_RUNREC_COUNT_MAX)
		return KL_E_CORRUPT;
	return KL_OK;
}

static int
put_runrec(struct buf *b, const struct kl_runrec *r)
{
	static const uint8_t zero[RESERVED_LEN];
	int rc;

	if ((rc = buf_put(b, r->run_id, sizeof(r->run_id))) != KL_OK ||
	    (rc = buf_put_u8(b, r->kind)) != KL_OK ||
	    (rc = buf_put(b, zero, sizeof(zero))) != KL_OK ||
	    (rc = buf_put_u32le(b, r->exit_code)) != KL_OK ||
	    (rc = buf_put_u64le(b, (uint64_t)r->start_s)) != KL_OK ||
	    (rc = buf_put_u64le(b, (uint64_t)r->end_s)) != KL_OK ||
	    (rc = buf_put_u64le(b, r->files)) != KL_OK ||
	    (rc = buf_put_u64le(b, r->bytes)) != KL_OK ||
	    (rc = buf_put_u64le(b, r->bytes_added)) != KL_OK ||
	    (rc = buf_put_u64le(b, r->errors)) != KL_OK ||
	    (rc = buf_put(b, r->snapshot.b, KL_ID_LEN)) != KL_OK ||
	    (rc = fmt_put_str(b, r->host)) != KL_OK ||
	    (rc = fmt_put_str(b, r->detail)) != KL_OK)
		return rc;
	return fmt_put_str(b, r->program);
}

int
kl_runrec_encode(const struct kl_runrec *r, struct buf *out)
{
	size_t mark = buf_size(out);
	int rc;

	if ((rc = runrec_check(r)) != KL_OK)
		return fmt_enc_err(rc);
	if ((rc = put_runrec(out, r)) != KL_OK)
		fmt_unput_to(out, mark);
	return rc;
}

static int
get_fixed(struct buf *b, struct kl_runrec *r)
{
	uint8_t res[RESERVED_LEN];
	int rc;

	if ((rc = buf_get(b, r->run_id, sizeof(r->run_id))) != KL_OK ||
	    (rc = buf_get_u8(b, &r->kind)) != KL_OK ||
	    (rc = buf_get(b, res, sizeof(res))) != KL_OK ||
	    (rc = buf_get_u32le(b, &r->exit_code)) != KL_OK ||
	    (rc = fmt_get_i64(b, &r->start_s)) != KL_OK ||
	    (rc = fmt_get_i64(b, &r->end_s)) != KL_OK ||
	    (rc = buf_get_u64le(b, &r->files)) != KL_OK ||
	    (rc = buf_get_u64le(b, &r->bytes)) != KL_OK ||
	    (rc = buf_get_u64le(b, &r->bytes_added)) != KL_OK ||
	    (rc = buf_get_u64le(b, &r->errors)) != KL_OK ||
	    (rc = buf_get(b, r->snapshot.b, KL_ID_LEN)) != KL_OK)
		return rc;
	/* §17: readers check what writers zero */
	return bytes_zero(res, sizeof(res)) ? KL_OK : KL_E_UNSUPPORTED;
}

static int
get_runrec(struct buf *b, struct kl_runrec *r)
{
	int rc;

	if ((rc = get_fixed(b, r)) != KL_OK ||
	    (rc = fmt_get_str(b, KL_NAME_MAX, &r->host)) != KL_OK ||
	    (rc = fmt_get_str(b, KL_RUNREC_DETAIL_MAX, &r->detail)) !=
	    KL_OK ||
	    (rc = fmt_get_str(b, KL_NAME_MAX, &r->program)) != KL_OK)
		return rc;
	if (buf_avail(b) != 0)
		return KL_E_CORRUPT;
	return runrec_check(r);
}

int
kl_runrec_decode(const uint8_t *p, size_t len, struct kl_runrec *out)
{
	struct kl_runrec r;
	struct buf b;
	int rc;

	memset(&r, 0, sizeof(r));
	if (len > KL_RUNREC_PT_MAX) {
		rc = KL_E_LIMIT;
		goto out;
	}
	buf_view_init(&b, p, len);
	if ((rc = get_runrec(&b, &r)) != KL_OK)
		goto out;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	kl_runrec_clear(&r);
	return rc;
}

void
kl_runrec_clear(struct kl_runrec *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->detail);
	free(r->program);
	memset(r, 0, sizeof(*r));
}
