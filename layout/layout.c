/*
 * The cleartext 16-byte headers of repository files (docs/FORMAT.md §1,
 * §12): what every reader of a repository file, the server included,
 * checks before anything else.
 */
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/backend.h"
#include "kluis/layout.h"

#define MAGIC_LEN 8

_Static_assert(KL_FILE_HDR_LEN == MAGIC_LEN + 4 + 4, "file header");

int
kl_file_hdr_put(struct buf *b, const char *magic)
{
	size_t mark = buf_size(b);
	int r;

	if (strlen(magic) != MAGIC_LEN)
		return KL_E_INVAL;
	if ((r = buf_put(b, magic, MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u32le(b, KL_FORMAT_VERSION)) != KL_OK ||
	    (r = buf_put_u32le(b, 0)) != KL_OK)
		buf_unput(b, buf_size(b) - mark);
	return r;
}

int
kl_file_hdr_put_v(struct buf *b, const char *magic, uint32_t version,
    uint32_t flags)
{
	size_t mark = buf_size(b);
	int r;

	if (strlen(magic) != MAGIC_LEN)
		return KL_E_INVAL;
	if ((r = buf_put(b, magic, MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u32le(b, version)) != KL_OK ||
	    (r = buf_put_u32le(b, flags)) != KL_OK)
		buf_unput(b, buf_size(b) - mark);
	return r;
}

int
kl_file_hdr_get_v(struct buf *b, const char *magic, uint32_t vmax,
    uint32_t flags_known, uint32_t *version, uint32_t *flags)
{
	uint8_t m[MAGIC_LEN];
	uint32_t v, f;
	int r;

	if (strlen(magic) != MAGIC_LEN)
		return KL_E_INVAL;
	if ((r = buf_get(b, m, MAGIC_LEN)) != KL_OK ||
	    (r = buf_get_u32le(b, &v)) != KL_OK ||
	    (r = buf_get_u32le(b, &f)) != KL_OK)
		return r;
	if (memcmp(m, magic, MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if (v < 1 || v > vmax || (f & ~flags_known) != 0)
		return KL_E_UNSUPPORTED;
	*version = v;
	*flags = f;
	return KL_OK;
}

int
kl_file_hdr_get(struct buf *b, const char *magic)
{
	uint8_t m[MAGIC_LEN];
	uint32_t version, flags;
	int r;

	if (strlen(magic) != MAGIC_LEN)
		return KL_E_INVAL;
	if ((r = buf_get(b, m, MAGIC_LEN)) != KL_OK ||
	    (r = buf_get_u32le(b, &version)) != KL_OK ||
	    (r = buf_get_u32le(b, &flags)) != KL_OK)
		return r;
	if (memcmp(m, magic, MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if (version != KL_FORMAT_VERSION || flags != 0)
		return KL_E_UNSUPPORTED;
	return KL_OK;
}

int
kl_lock_hdr_put(struct buf *b, uint8_t exclusive)
{
	size_t mark = buf_size(b);
	int r;

	if (exclusive > 1)
		return KL_E_INVAL;
	if ((r = buf_put(b, KL_MAGIC_LOCK, MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u32le(b, KL_LOCK_VERSION)) != KL_OK ||
	    (r = buf_put_u32le(b, exclusive ? KL_LOCK_F_EXCLUSIVE : 0)) !=
	    KL_OK)
		buf_unput(b, buf_size(b) - mark);
	return r;
}

/* §12: version 1 has no flags; version 2 only the exclusive bit. */
static int
lock_hdr_check(uint32_t version, uint32_t flags)
{
	if (version == KL_LOCK_VERSION_1)
		return flags == 0 ? KL_OK : KL_E_UNSUPPORTED;
	if (version == KL_LOCK_VERSION)
		return (flags & ~KL_LOCK_F_EXCLUSIVE) == 0 ? KL_OK :
		    KL_E_UNSUPPORTED;
	return KL_E_UNSUPPORTED;
}

int
kl_lock_hdr_get(struct buf *b, struct kl_lock_hdr *out)
{
	uint8_t m[MAGIC_LEN];
	uint32_t version, flags;
	struct buf v;
	int r;

	if (buf_avail(b) < KL_FILE_HDR_LEN)
		return KL_E_CORRUPT;
	/* A view of the header: b is consumed only on success. */
	buf_view_init(&v, buf_rptr(b), KL_FILE_HDR_LEN);
	if ((r = buf_get(&v, m, MAGIC_LEN)) != KL_OK ||
	    (r = buf_get_u32le(&v, &version)) != KL_OK ||
	    (r = buf_get_u32le(&v, &flags)) != KL_OK)
		return r;
	if (memcmp(m, KL_MAGIC_LOCK, MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if ((r = lock_hdr_check(version, flags)) != KL_OK)
		return r;
	out->version = version;
	out->exclusive = (flags & KL_LOCK_F_EXCLUSIVE) ? 1 : 0;
	return buf_skip(b, KL_FILE_HDR_LEN);
}

const char *
kl_ftype_dir(int t)
{
	switch (t) {
	case KL_FT_CONFIG: return "";
	case KL_FT_KEY: return "keys";
	case KL_FT_DATA: return "data";
	case KL_FT_INDEX: return "index";
	case KL_FT_SNAPSHOT: return "snapshots";
	case KL_FT_LOCK: return "locks";
	case KL_FT_RUN: return "runs";
	}
	return NULL;
}

const char *
kl_ftype_name(int t)
{
	static const char *const names[] = { "", "config", "key", "data",
	    "index", "snapshot", "lock", "run" };

	return t > 0 && t <= KL_FT_LAST ? names[t] : "";
}
