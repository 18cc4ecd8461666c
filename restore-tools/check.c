/*
 * kluis check (docs/COMPLIANCE.md "Checks"): the structure of a
 * repository, the data of a selection of its packs (check_data.c), and the
 * snapshots and paths each finding affects.
 *
 * The order matters.  First the repository is compared with what this
 * client's catalog knew - index files and snapshots that are gone - because
 * bringing the catalog up to date afterwards forgets a vanished index file.
 * Then every index file is read from the repository and verified (the
 * catalog's copy is not trusted), packs that no index file names are
 * located by their own headers, every pack's size is compared with what
 * its entries imply, every snapshot is opened and every tree parsed once.
 * Last, if anything was found damaged, the snapshots are walked again to
 * name the files and directories that lost something.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zstd.h>

#include "kluis/backend.h"
#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "check_internal.h"

#define PROGRESS_TREES 256	/* trees between progress calls */

/* ---- id map ---- */

/*
 * Pack names come from the storage's listing, which a hostile server
 * chooses, blob ids from index files and pack headers: slots come from a
 * keyed hash (kl_hash_slot) so that nobody can make every key collide.
 */
static size_t
slot_of(const struct kl_id *id, size_t cap)
{
	return (size_t)kl_hash_slot(id->b, KL_ID_LEN) & (cap - 1);
}

static int
idmap_grow(struct idmap *m)
{
	struct idmap n;
	size_t i, j;

	n.cap = m->cap ? m->cap * 2 : 256;
	n.n = m->n;
	n.k = malloc(n.cap * sizeof(*n.k));
	n.v = calloc(n.cap, sizeof(*n.v));
	if (n.k == NULL || n.v == NULL) {
		free(n.k);
		free(n.v);
		return KL_E_NOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->v[i] == 0)
			continue;
		for (j = slot_of(&m->k[i], n.cap); n.v[j] != 0;
		    j = (j + 1) & (n.cap - 1))
			;
		n.k[j] = m->k[i];
		n.v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	*m = n;
	return KL_OK;
}

int
idmap_put(struct idmap *m, const struct kl_id *id, uint32_t v)
{
	size_t i;
	int rc;

	if (v == UINT32_MAX)
		return KL_E_LIMIT;
	if ((m->n + 1) * 4 > m->cap * 3 && (rc = idmap_grow(m)) != KL_OK)
		return rc;
	for (i = slot_of(id, m->cap); m->v[i] != 0; i = (i + 1) & (m->cap - 1))
		if (memcmp(m->k[i].b, id->b, KL_ID_LEN) == 0)
			return 0;
	m->k[i] = *id;
	m->v[i] = v + 1;
	m->n++;
	return 1;
}

/* The slot holding id, or SIZE_MAX. */
static size_t
idmap_slot(const struct idmap *m, const struct kl_id *id)
{
	size_t i;

	if (m->cap == 0)
		return SIZE_MAX;
	for (i = slot_of(id, m->cap); m->v[i] != 0; i = (i + 1) & (m->cap - 1))
		if (memcmp(m->k[i].b, id->b, KL_ID_LEN) == 0)
			return i;
	return SIZE_MAX;
}

int
idmap_get(const struct idmap *m, const struct kl_id *id, uint32_t *v)
{
	size_t i = idmap_slot(m, id);

	if (i == SIZE_MAX)
		return 0;
	*v = m->v[i] - 1;
	return 1;
}

/* Points id, which m holds, at v. */
static void
idmap_repoint(struct idmap *m, const struct kl_id *id, uint32_t v)
{
	size_t i = idmap_slot(m, id);

	if (i != SIZE_MAX)
		m->v[i] = v + 1;
}

void
idmap_clear(struct idmap *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- subsets (pure) ---- */

static int
parse_u32(const char *s, const char **end, uint32_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && v <= UINT32_MAX)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p == s || v > UINT32_MAX)
		return -1;
	*end = p;
	*out = (uint32_t)v;
	return 0;
}

/* "P" or "P.dddd" in millionths (P% of the whole: 34 -> 340000). */
static int
parse_percent(const char *s, uint32_t *ppm)
{
	const char *p;
	uint32_t whole, frac = 0, scale = 10000;

	if (parse_u32(s, &p, &whole) != 0 || whole > 100)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -1;	/* more than four decimals */
			scale /= 10;
			frac += (uint32_t)(*p - '0') * scale;
		}
		if (p[-1] == '.')
			return -1;
	}
	if (strcmp(p, "%") != 0)
		return -1;
	*ppm = whole * 10000 + frac;
	return *ppm > 0 && *ppm <= 1000000 ? 0 : -1;
}

int
kl_check_subset_parse(const char *s, struct kl_check_subset *out)
{
	struct kl_check_subset v;
	const char *p;

	memset(&v, 0, sizeof(v));
	if (s == NULL)
		return KL_E_INVAL;
	if (strchr(s, '%') != NULL) {
		if (parse_percent(s, &v.ppm) != 0)
			return KL_E_INVAL;
		v.mode = KL_CHECK_DATA_PERCENT;
	} else {
		if (parse_u32(s, &p, &v.part) != 0 || *p != '/' ||
		    parse_u32(p + 1, &p, &v.parts) != 0 || *p != '\0' ||
		    v.part < 1 || v.part > v.parts ||
		    v.parts > KL_CHECK_PARTS_MAX)
			return KL_E_INVAL;
		v.mode = KL_CHECK_DATA_PART;
	}
	*out = v;
	return KL_OK;
}

void
kl_check_subset_format(const struct kl_check_subset *s, char *out,
    size_t cap)
{
	char frac[8];
	int n;

	switch (s->mode) {
	case KL_CHECK_DATA_ALL:
		snprintf(out, cap, "all");
		return;
	case KL_CHECK_DATA_PART:
		snprintf(out, cap, "%u/%u", s->part, s->parts);
		return;
	case KL_CHECK_DATA_PERCENT:
		snprintf(frac, sizeof(frac), "%04u", s->ppm % 10000);
		for (n = 3; n >= 0 && frac[n] == '0'; n--)
			frac[n] = '\0';
		snprintf(out, cap, "%u%s%s%%", s->ppm / 10000, *frac ? "." : "",
		    frac);
		return;
	default:
		snprintf(out, cap, "none");
	}
}

static int
age_cmp(const void *a, const void *b)
{
	const struct kl_check_pack_age *x = a, *y = b;
	int xn = x->checked_s == KL_CAT_TIME_NONE;
	int yn = y->checked_s == KL_CAT_TIME_NONE;

	if (xn != yn)
		return xn ? -1 : 1;
	if (!xn && x->checked_s != y->checked_s)
		return x->checked_s < y->checked_s ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

size_t
kl_check_subset_select(const struct kl_check_subset *s,
    struct kl_check_pack_age *p, size_t n)
{
	size_t i, want = 0;

	for (i = 0; i < n; i++)
		p[i].selected = 0;
	switch (s->mode) {
	case KL_CHECK_DATA_ALL:
		want = n;
		break;
	case KL_CHECK_DATA_PART:
		for (i = 0; i < n && s->parts > 0; i++) {
			p[i].selected = kl_le64dec(p[i].id.b) % s->parts ==
			    (uint64_t)s->part - 1;
			want += (size_t)p[i].selected;
		}
		return want;
	case KL_CHECK_DATA_PERCENT:
		if (n > 1)
			qsort(p, n, sizeof(*p), age_cmp);
		want = (size_t)(((uint64_t)s->ppm * n + 999999) / 1000000);
		if (want > n)
			want = n;
		break;
	default:
		return 0;
	}
	for (i = 0; i < want; i++)
		p[i].selected = 1;
	return want;
}

const char *
kl_check_kind_name(enum kl_check_kind k)
{
	switch (k) {
	case KL_CHECK_MISSING: return "missing";
	case KL_CHECK_CORRUPT: return "corrupt";
	case KL_CHECK_VANISHED: return "vanished";
	case KL_CHECK_ROLLBACK: return "rollback";
	case KL_CHECK_BOGUS: return "bogus";
	}
	return "?";
}

/* ---- findings ---- */

static char *
vfmt(const char *fmt, va_list ap)
{
	va_list cp;
	char *s;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static int
findings_grow(struct chk *k)
{
	struct kl_check_report *rep = k->rep;
	struct kl_check_finding *nf;
	struct fpaths *nx;
	size_t ncap;

	if (rep->nf < k->f_cap)
		return KL_OK;
	ncap = k->f_cap ? k->f_cap * 2 : 16;
	if ((nf = realloc(rep->f, ncap * sizeof(*nf))) == NULL)
		return KL_E_NOMEM;
	rep->f = nf;
	if ((nx = realloc(k->fx, ncap * sizeof(*nx))) == NULL)
		return KL_E_NOMEM;
	k->fx = nx;
	k->f_cap = ncap;
	return KL_OK;
}

/* A new finding about object; *idx (may be NULL) gets its index. */
int
finding_new(struct chk *k, enum kl_check_kind kind, const char *object,
    uint32_t *idx, const char *fmt, ...)
{
	struct kl_check_finding *f;
	va_list ap;
	int rc;

	if ((rc = findings_grow(k)) != KL_OK)
		return rc;
	f = &k->rep->f[k->rep->nf];
	memset(f, 0, sizeof(*f));
	memset(&k->fx[k->rep->nf], 0, sizeof(k->fx[0]));
	f->kind = kind;
	va_start(ap, fmt);
	f->detail = vfmt(fmt, ap);
	va_end(ap);
	if (f->detail == NULL || (f->object = strdup(object)) == NULL) {
		free(f->detail);
		return KL_E_NOMEM;
	}
	if (idx != NULL)
		*idx = (uint32_t)k->rep->nf;
	k->rep->nf++;
	return KL_OK;
}

/* Adds snap to finding i's snapshots unless it is there. */
static int
finding_snap(struct chk *k, uint32_t i, const struct kl_id *snap)
{
	struct kl_check_finding *f = &k->rep->f[i];
	struct kl_id *ns;
	size_t j;

	for (j = f->nsnaps; j > 0; j--)
		if (kl_id_eq(&f->snaps[j - 1], snap))
			return KL_OK;
	if ((ns = realloc(f->snaps, (f->nsnaps + 1) * sizeof(*ns))) == NULL)
		return KL_E_NOMEM;
	f->snaps = ns;
	f->snaps[f->nsnaps++] = *snap;
	return KL_OK;
}

/* Paths come from trees, which any key holder writes: a keyed hash. */
static uint64_t
path_hash(const char *p, size_t len)
{
	uint64_t h = kl_hash_slot(p, len);

	return h != 0 ? h : 1;
}

/* 1 if h was added to the set, 0 if it was there. */
static int
fpaths_add(struct fpaths *s, uint64_t h)
{
	uint64_t *nh;
	size_t i, j, ncap;

	if ((s->n + 1) * 2 > s->cap) {
		ncap = s->cap ? s->cap * 2 : 64;
		if ((nh = calloc(ncap, sizeof(*nh))) == NULL)
			return KL_E_NOMEM;
		for (i = 0; i < s->cap; i++) {
			if (s->h[i] == 0)
				continue;
			for (j = s->h[i] & (ncap - 1); nh[j] != 0;
			    j = (j + 1) & (ncap - 1))
				;
			nh[j] = s->h[i];
		}
		free(s->h);
		s->h = nh;
		s->cap = ncap;
	}
	for (i = h & (s->cap - 1); s->h[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->h[i] == h)
			return 0;
	s->h[i] = h;
	s->n++;
	return 1;
}

/* Records that path of snapshot snap is affected by finding i. */
static int
finding_hit(struct chk *k, uint32_t i, const struct kl_id *snap,
    const char *path, size_t len)
{
	struct kl_check_finding *f = &k->rep->f[i];
	char **np;
	int rc;

	if ((rc = finding_snap(k, i, snap)) != KL_OK ||
	    (rc = fpaths_add(&k->fx[i], path_hash(path, len))) <= 0)
		return rc;
	if (f->npaths >= k->paths_max) {
		f->more_paths++;
		return KL_OK;
	}
	if ((np = realloc(f->paths, (f->npaths + 1) * sizeof(*np))) == NULL)
		return KL_E_NOMEM;
	f->paths = np;
	if ((f->paths[f->npaths] = strndup(path, len)) == NULL)
		return KL_E_NOMEM;
	f->npaths++;
	return KL_OK;
}

void
kl_check_report_clear(struct kl_check_report *rep)
{
	size_t i, j;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->nf; i++) {
		free(rep->f[i].object);
		free(rep->f[i].detail);
		free(rep->f[i].snaps);
		for (j = 0; j < rep->f[i].npaths; j++)
			free(rep->f[i].paths[j]);
		free(rep->f[i].paths);
	}
	free(rep->f);
	memset(rep, 0, sizeof(*rep));
}

/* ---- small helpers ---- */

void
chk_pack_name(const struct kl_id *id, char *out)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

void
obj_name(const char *dir, const struct kl_id *id, char *out)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	snprintf(out, 96, "%s%s", dir, hex);
}

const char *
errmsg_about(struct kl_repo *r, const char *object, int rc)
{
	const char *m = kl_repo_errmsg(r);
	size_t n = strlen(object);

	if (*m == '\0')
		return kl_strerror(rc);
	if (strncmp(m, object, n) == 0) {
		m += n;
		while (*m == ':' || *m == ' ')
			m++;
		if (strncmp(m, "is damaged: ", 12) == 0)
			m += 12;
	}
	return *m ? m : kl_strerror(rc);
}

int
is_damage(int rc)
{
	return rc == KL_E_CORRUPT || rc == KL_E_NOTFOUND ||
	    rc == KL_E_UNSUPPORTED || rc == KL_E_LIMIT;
}

static void
fmt_utc(int64_t t, char *out, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == KL_CAT_TIME_NONE || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, cap, "at an unknown time");
	else
		strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void
progress(struct chk *k, const char *phase, uint64_t done, uint64_t total)
{
	struct kl_check_progress p;

	if (k->o->progress == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.phase = phase;
	p.done = done;
	p.total = total;
	k->o->progress(k->o->progress_arg, &p);
}

int
cscratch_init(struct cscratch *s)
{
	memset(s, 0, sizeof(*s));
	if ((s->dctx = ZSTD_createDCtx()) == NULL ||
	    (s->raw = buf_new(KL_BLOB_RAW_MAX)) == NULL)
		return KL_E_NOMEM;
	return kl_session_key_new(&s->key);
}

void
cscratch_clear(struct cscratch *s)
{
	ZSTD_freeDCtx(s->dctx);
	buf_free(s->raw);
	free(s->pt);
	kl_session_key_free(s->key);
	memset(s, 0, sizeof(*s));
}

int
chk_blob_open(const struct kl_keys *keys, const struct centry *e,
    const uint8_t *stored, struct cscratch *s)
{
	struct kl_id got;
	size_t pt_len;
	uint8_t *np;
	int rc;

	buf_reset(s->raw);
	if (e->stored_len < KL_AEAD_OVERHEAD + KL_BLOB_HDR_LEN)
		return KL_E_CORRUPT;
	pt_len = e->stored_len - KL_AEAD_OVERHEAD;
	if (pt_len > s->pt_cap) {
		if ((np = realloc(s->pt, pt_len)) == NULL)
			return KL_E_NOMEM;
		s->pt = np;
		s->pt_cap = pt_len;
	}
	if ((rc = kl_aead_open(s->key, &keys->repo_id, e->type, &e->id,
	    stored, e->stored_len, s->pt)) != KL_OK ||
	    (rc = kl_blob_decode(s->dctx, s->pt, pt_len, KL_BLOB_RAW_MAX,
	    s->raw)) != KL_OK)
		return rc;
	if (buf_size(s->raw) != e->raw_len)
		return KL_E_CORRUPT;
	kl_blob_id(keys, buf_data(s->raw), buf_size(s->raw), &got);
	return kl_id_eq(&got, &e->id) ? KL_OK : KL_E_CORRUPT;
}

int
chk_pack_key(const struct kl_keys *keys, const uint8_t *p, size_t len,
    uint8_t *key)
{
	const uint8_t *env;
	struct buf v;
	int rc;

	if (len < KL_PACK_PREAMBLE_LEN)
		return KL_E_CORRUPT;
	buf_view_init(&v, p, KL_PACK_PREAMBLE_LEN);
	if ((rc = kl_file_hdr_get(&v, KL_MAGIC_PACK)) != KL_OK ||
	    (rc = buf_get_ptr(&v, KL_ENVELOPE_LEN, &env)) != KL_OK)
		return rc;
	return kl_envelope_open(keys, env, key);
}

/* ---- packs and blob locations ---- */

int
pack_ref(struct chk *k, const struct kl_id *id, uint32_t *out)
{
	struct cpack *np;
	int rc;

	if (idmap_get(&k->pmap, id, out))
		return KL_OK;
	if (k->npacks == k->packs_cap) {
		size_t ncap = k->packs_cap ? k->packs_cap * 2 : 256;

		if ((np = realloc(k->packs, ncap * sizeof(*np))) == NULL)
			return KL_E_NOMEM;
		k->packs = np;
		k->packs_cap = ncap;
	}
	if ((rc = idmap_put(&k->pmap, id, (uint32_t)k->npacks)) < 0)
		return rc;
	np = &k->packs[k->npacks];
	memset(np, 0, sizeof(*np));
	np->id = *id;
	np->checked_s = KL_CAT_TIME_NONE;
	*out = (uint32_t)k->npacks++;
	return KL_OK;
}

int
entry_add(struct chk *k, uint32_t pack, const struct kl_blob_entry *be,
    int orphan)
{
	struct centry *ne;

	if (k->ne == k->e_cap) {
		size_t ncap = k->e_cap ? k->e_cap * 2 : 1024;

		if (ncap >= UINT32_MAX)
			return KL_E_LIMIT;
		if ((ne = realloc(k->e, ncap * sizeof(*ne))) == NULL)
			return KL_E_NOMEM;
		k->e = ne;
		k->e_cap = ncap;
	}
	ne = &k->e[k->ne++];
	memset(ne, 0, sizeof(*ne));
	ne->id = be->id;
	ne->pack = pack;
	ne->type = be->type;
	ne->offset = be->offset;
	ne->stored_len = be->stored_len;
	ne->raw_len = be->raw_len;
	ne->orphan = (uint8_t)orphan;
	return KL_OK;
}

static int
list_pack(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct chk *k = arg;
	struct kl_id id;
	uint32_t i;
	int rc;

	(void)mtime_s;
	if (kl_id_parse(name, &id) != KL_OK)
		return 0;
	if ((rc = pack_ref(k, &id, &i)) != KL_OK)
		return rc;
	k->packs[i].listed = 1;
	k->packs[i].size = size;
	return 0;
}

/* Packs no index file names: their blobs, from their own headers. */
static int
orphans_phase(struct chk *k)
{
	struct kl_blob_entry *e;
	size_t i, j, n;
	int rc = KL_OK;

	for (i = 0; i < k->npacks && rc == KL_OK; i++) {
		struct cpack *p = &k->packs[i];

		if (!p->listed || p->indexed)
			continue;
		rc = kl_repo_pack_header_read(k->r, &p->id, p->size, &e, &n);
		if (rc == KL_E_NOTFOUND) {
			p->gone = 1;	/* gone since the listing */
			rc = KL_OK;
		} else if (is_damage(rc)) {
			p->orphan_err = (int8_t)rc;
			rc = KL_OK;
		} else {
			for (j = 0; j < n && rc == KL_OK; j++)
				rc = entry_add(k, (uint32_t)i, &e[j], 1);
		}
		free(e);
	}
	return rc;
}

int
entry_cmp(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->orphan != y->orphan)
		return x->orphan < y->orphan ? -1 : 1;
	if (x->stored_len != y->stored_len)
		return x->stored_len < y->stored_len ? -1 : 1;
	if (x->raw_len != y->raw_len)
		return x->raw_len < y->raw_len ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

/* Two entries that name the same location (from different sources). */
static int
entry_same_loc(const struct centry *a, const struct centry *b)
{
	return a->pack == b->pack && a->offset == b->offset &&
	    a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	    a->type == b->type && kl_id_eq(&a->id, &b->id);
}

/* One pack's entries e[first, first + n): extent, trees, expected size. */
static void
pack_extent(struct chk *k, struct cpack *p)
{
	uint64_t sum = 0, end = 0;
	size_t i;

	p->tree_lo = UINT32_MAX;
	p->tree_hi = 0;
	for (i = p->first; i < p->first + p->n; i++) {
		const struct centry *e = &k->e[i];
		uint64_t x = (uint64_t)e->offset + e->stored_len;

		sum += e->stored_len;
		if (x > end)
			end = x;
		if (e->type == KL_BLOB_TYPE_TREE) {
			if (e->offset < p->tree_lo)
				p->tree_lo = e->offset;
			if (x > p->tree_hi)
				p->tree_hi = (uint32_t)x;
		}
	}
	p->end = end;
	/*
	 * Blobs lie back to back after the preamble (FORMAT.md §8), then
	 * come the header (padme(4 + 45 n) plus the AEAD's 40 bytes) and
	 * the trailer: repo/repo_pack.c pack_buf_new.  Only if the entries
	 * are contiguous are they all of the pack's blobs.
	 */
	if (p->n > 0 && k->e[p->first].offset == KL_PACK_PREAMBLE_LEN &&
	    end == KL_PACK_PREAMBLE_LEN + sum)
		p->expect = end + kl_padme(4 + (uint64_t)KL_ENTRY_LEN * p->n) +
		    KL_AEAD_OVERHEAD + KL_PACK_TRAILER_LEN;
}

/* Maps every blob id to one location: index-named packs in the
 * repository first, then index-named ones that are gone, then orphans. */
static int
blobs_map(struct chk *k)
{
	size_t i;
	int pass, rc, take;

	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < k->ne; i++) {
			const struct centry *e = &k->e[i];
			const struct cpack *p = &k->packs[e->pack];

			take = pass == 0 ? !e->orphan && p->listed :
			    pass == 1 ? !e->orphan && !p->listed : e->orphan;
			if (take && (rc = idmap_put(&k->bmap, &e->id,
			    (uint32_t)i)) < 0)
				return rc;
		}
	}
	k->rep->blobs = k->bmap.n;
	return KL_OK;
}

/* The entries byid_build sorts (qsort has no context argument; the
 * check is single-threaded until its data phase). */
static const struct centry *byid_e;

static int
byid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = kl_id_cmp(&byid_e[x].id, &byid_e[y].id);

	return c != 0 ? c : x < y ? -1 : x > y;
}

/* Every location's index, sorted by blob id: where else a blob is. */
static int
byid_build(struct chk *k)
{
	size_t i;

	free(k->byid);
	if ((k->byid = malloc((k->ne ? k->ne : 1) * sizeof(*k->byid))) ==
	    NULL)
		return KL_E_NOMEM;
	for (i = 0; i < k->ne; i++)
		k->byid[i] = (uint32_t)i;
	byid_e = k->e;
	qsort(k->byid, k->ne, sizeof(*k->byid), byid_cmp);
	byid_e = NULL;
	return KL_OK;
}

/* The first position in byid of blob id. */
static size_t
byid_lower(const struct chk *k, const struct kl_id *id)
{
	size_t lo = 0, hi = k->ne, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kl_id_cmp(&k->e[k->byid[mid]].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Sorts the locations, drops the claims that do not hold (claims_phase),
 * merges the ones several sources name, and sizes every pack.
 */
static int
entries_finish(struct chk *k)
{
	size_t i, w = 0;
	int rc;

	if (k->ne > 1)
		qsort(k->e, k->ne, sizeof(*k->e), entry_cmp);
	if ((rc = claims_phase(k)) != KL_OK)
		return rc;
	for (i = 0; i < k->ne; i++) {
		/* several index files (a check's attestation, ...) may name
		 * one location */
		if (w > 0 && entry_same_loc(&k->e[w - 1], &k->e[i]))
			continue;
		k->e[w++] = k->e[i];
	}
	k->ne = w;
	for (i = 0; i < k->ne; i++) {
		struct cpack *p = &k->packs[k->e[i].pack];

		if (p->n == 0)
			p->first = i;
		p->n++;
	}
	for (i = 0; i < k->npacks; i++) {
		struct cpack *p = &k->packs[i];

		pack_extent(k, p);
		if (p->listed)
			k->rep->packs++;
		if (p->listed && p->indexed && (p->expect ? p->size !=
		    p->expect : p->size < p->end))
			p->size_bad = 1;
	}
	if ((rc = blobs_map(k)) != KL_OK)
		return rc;
	return byid_build(k);
}

/* ---- snapshots and the catalog ---- */

static int
snap_id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(&((const struct csnap *)a)->id,
	    &((const struct csnap *)b)->id);
}

static int
snap_time_cmp(const void *a, const void *b)
{
	const struct csnap *x = a, *y = b;

	if (x->time_s != y->time_s)
		return x->time_s < y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

struct tamper {
	struct chk *k;
	int rc;
	int64_t newest_gone;
	struct kl_id gone_id;
	char gone_host[KL_NAME_MAX + 1];
};

/* A snapshot the catalog knows: is it still in the repository? */
static int
tamper_snap(void *arg, const struct kl_cat_snap *s)
{
	struct tamper *t = arg;
	struct chk *k = t->k;
	struct csnap key;
	char name[96], taken[40], recv[40];
	uint32_t fi;
	int64_t when;

	key.id = s->id;
	if (k->nsnaps > 0 && bsearch(&key, k->snaps, k->nsnaps,
	    sizeof(key), snap_id_cmp) != NULL)
		return 0;
	if (chk_withdrawn(k, &s->id))
		return 0;	/* forgotten by a full key (kluis forget) */
	obj_name("snapshots/", &s->id, name);
	fmt_utc(s->time_s, taken, sizeof(taken));
	fmt_utc(s->recv_s, recv, sizeof(recv));
	if ((t->rc = finding_new(k, KL_CHECK_VANISHED, name, &fi, "snapshot "
	    "of host %s taken %s (received %s), known to this client's "
	    "catalog, is gone from the repository", s->host, taken,
	    recv)) != KL_OK || (t->rc = finding_snap(k, fi, &s->id)) != KL_OK)
		return t->rc;
	when = kl_cat_snap_time(s);
	if (kl_id_is_zero(&t->gone_id) || when > t->newest_gone) {
		t->newest_gone = when;
		t->gone_id = s->id;
		snprintf(t->gone_host, sizeof(t->gone_host), "%s", s->host);
	}
	return 0;
}

/*
 * Snapshots the catalog knew that are gone; and whether the repository
 * went back in time: its newest snapshot older than one the catalog saw.
 */
static int
tamper_phase(struct chk *k)
{
	struct tamper t;
	char hex[KL_ID_HEX_LEN + 1], a[40], b[40];
	int64_t newest = KL_CAT_TIME_NONE;
	size_t i;
	int rc;

	memset(&t, 0, sizeof(t));
	t.k = k;
	rc = kl_cat_snap_foreach(k->cat, NULL, 1, tamper_snap, &t);
	if (t.rc != KL_OK)
		return t.rc;
	if (rc != KL_OK) {
		kl_repo_seterr(k->r, "catalog: %s", kl_cat_errmsg(k->cat));
		return rc;
	}
	if (kl_id_is_zero(&t.gone_id))
		return KL_OK;
	for (i = 0; i < k->nsnaps; i++)
		if (newest == KL_CAT_TIME_NONE || k->snaps[i].recv_s > newest)
			newest = k->snaps[i].recv_s;
	if (newest != KL_CAT_TIME_NONE && newest >= t.newest_gone)
		return KL_OK;
	kl_id_hex(&t.gone_id, hex);
	fmt_utc(newest, a, sizeof(a));
	fmt_utc(t.newest_gone, b, sizeof(b));
	return finding_new(k, KL_CHECK_ROLLBACK, "repository", NULL, "%s%s, "
	    "but this client's catalog saw snapshot %.8s of host %s received "
	    "%s: the repository went back in time (put back from an older "
	    "copy, or its newest snapshots were deleted)", newest ==
	    KL_CAT_TIME_NONE ? "it has no snapshots" : "its newest snapshot "
	    "was received ", newest == KL_CAT_TIME_NONE ? "" : a, hex,
	    t.gone_host, b);
}

/* Opens one snapshot, and records it in the catalog if new there. */
static int
snap_open(struct chk *k, struct csnap *cs)
{
	struct kl_snapshot s;
	char name[96];
	uint32_t fi;
	int rc, has;

	rc = kl_repo_snapshot_load(k->r, &cs->id, &s);
	if (is_damage(rc)) {
		obj_name("snapshots/", &cs->id, name);
		if ((rc = finding_new(k, rc == KL_E_NOTFOUND ?
		    KL_CHECK_MISSING : KL_CHECK_CORRUPT, name, &fi, "cannot "
		    "be read: %s; the backup it recorded is lost",
		    errmsg_about(k->r, name, rc))) == KL_OK)
			rc = finding_snap(k, fi, &cs->id);
		return rc;
	}
	if (rc != KL_OK)
		return rc;
	cs->ok = 1;
	cs->tree = s.tree;
	cs->time_s = s.time_s;
	cs->time_ns = s.time_ns;
	cs->files = s.files;
	cs->dirs = s.dirs;
	snprintf(cs->host, sizeof(cs->host), "%s", s.hostname);
	k->rep->snapshots++;
	if ((has = kl_cat_snap_has(k->cat, &cs->id)) == 0)
		rc = kl_cat_snap_add(k->cat, &cs->id, &s, cs->recv_s);
	else if (has < 0)
		rc = has;
	if (rc != KL_OK)
		kl_repo_seterr(k->r, "catalog: %s", kl_cat_errmsg(k->cat));
	kl_snapshot_clear(&s);
	return rc;
}

static int
snap_phase(struct chk *k)
{
	struct kl_id *ids = NULL;
	int64_t *recv = NULL;
	size_t i, n;
	int rc;

	if ((rc = kl_repo_snapshot_times(k->r, &ids, &recv, &n)) != KL_OK)
		return rc;
	if (n > 0 && (k->snaps = calloc(n, sizeof(*k->snaps))) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	k->nsnaps = n;
	for (i = 0; i < n; i++) {
		k->snaps[i].id = ids[i];
		k->snaps[i].recv_s = recv[i];
	}
	if (n > 1)
		qsort(k->snaps, n, sizeof(*k->snaps), snap_id_cmp);
	if ((rc = tamper_phase(k)) != KL_OK)
		goto out;
	for (i = 0; i < n && rc == KL_OK; i++) {
		rc = snap_open(k, &k->snaps[i]);
		progress(k, "snapshots", i + 1, n);
	}
	for (i = 0; i < n; i++)
		ids[i] = k->snaps[i].id;
	if (rc == KL_OK && (rc = kl_cat_snap_mark_vanished(k->cat, ids, n,
	    NULL)) != KL_OK)
		kl_repo_seterr(k->r, "catalog: %s", kl_cat_errmsg(k->cat));
	if (n > 1)
		qsort(k->snaps, n, sizeof(*k->snaps), snap_time_cmp);
out:
	free(ids);
	free(recv);
	return rc;
}

/* ---- trees ---- */

/* The stored bytes of tree blob e, from a cached range of its pack. */
static int
tree_bytes(struct chk *k, const struct centry *e, const uint8_t **out)
{
	struct kl_backend *be = kl_repo_backend(k->r);
	const struct cpack *p = &k->packs[e->pack];
	char hex[KL_ID_HEX_LEN + 1];
	struct trange *t;
	struct buf *b = NULL;
	uint32_t lo, hi;
	unsigned i;
	int rc;

	for (i = 0; i < CHK_TREE_CACHE; i++) {
		t = &k->tr[i];
		if (t->b != NULL && t->pack == e->pack && e->offset >= t->lo &&
		    (uint64_t)e->offset - t->lo + e->stored_len <=
		    buf_size(t->b)) {
			*out = buf_data(t->b) + (e->offset - t->lo);
			return KL_OK;
		}
	}
	/* all tree blobs of the pack in one request, as restores do */
	lo = p->tree_lo;
	hi = p->tree_hi;
	if (lo > e->offset || hi < e->offset + e->stored_len ||
	    hi - lo > CHK_TREE_RANGE_MAX) {
		lo = e->offset;
		hi = e->offset + e->stored_len;
	}
	kl_id_hex(&p->id, hex);
	rc = be->ops->get(be->ctx, KL_FT_DATA, hex, lo, hi - lo, hi - lo, &b);
	if (rc == KL_E_CORRUPT && (lo != e->offset ||
	    hi != e->offset + e->stored_len)) {
		/* a truncated pack: the blobs before the cut still count */
		lo = e->offset;
		hi = e->offset + e->stored_len;
		rc = be->ops->get(be->ctx, KL_FT_DATA, hex, lo, hi - lo,
		    hi - lo, &b);
	}
	if (rc != KL_OK)
		return rc;
	t = &k->tr[k->tr_next++ % CHK_TREE_CACHE];
	buf_free(t->b);
	t->pack = e->pack;
	t->lo = lo;
	t->b = b;
	*out = buf_data(b) + (e->offset - lo);
	return KL_OK;
}

/* A blob that snapshots use has no usable location. */
static int
blob_missing(struct chk *k, const struct kl_id *id, uint8_t type,
    const struct centry *other)
{
	char name[96], hex[KL_ID_HEX_LEN + 1];
	uint32_t fi;
	int rc;

	if (idmap_get(&k->miss, id, &fi))
		return KL_OK;
	kl_id_hex(id, hex);
	snprintf(name, sizeof(name), "blob %s", hex);
	if (other != NULL)
		rc = finding_new(k, KL_CHECK_CORRUPT, name, &fi, "snapshots "
		    "use it as a %s blob, but the index lists it as a %s blob",
		    type == KL_BLOB_TYPE_TREE ? "tree" : "data",
		    other->type == KL_BLOB_TYPE_TREE ? "tree" : "data");
	else
		rc = finding_new(k, KL_CHECK_MISSING, name, &fi, "a %s blob "
		    "that snapshots use is in no index file and in no pack "
		    "header", type == KL_BLOB_TYPE_TREE ? "tree" : "data");
	if (rc == KL_OK && (rc = idmap_put(&k->miss, id, fi)) > 0)
		rc = KL_OK;
	return rc;
}

/*
 * Reads tree id.  A damaged or missing tree is not an error: with record
 * set it is noted (the blob's error, or a finding for a blob with no
 * location) and KL_E_NOTFOUND is returned for the caller to skip it.
 */
/* Reads and parses the tree at location e. */
static int
tree_read_at(struct chk *k, struct cscratch *s, const struct centry *e,
    struct kl_tree *out)
{
	const uint8_t *stored;
	int rc;

	if (!k->packs[e->pack].listed || k->packs[e->pack].gone ||
	    e->err != 0)
		return KL_E_NOTFOUND;
	rc = kl_repo_pack_key(k->r, &k->packs[e->pack].id, s->key);
	if (rc == KL_OK)
		rc = tree_bytes(k, e, &stored);
	if (rc == KL_OK)
		rc = chk_blob_open(k->keys, e, stored, s);
	if (rc == KL_OK)
		rc = kl_tree_decode(buf_data(s->raw), buf_size(s->raw), out);
	return rc;
}

/*
 * The tree's other locations, after the mapped one (ei) failed: every
 * copy is tried, as restore does (issue #10), and the first sound one
 * becomes the tree's location, so that a bogus or damaged copy costs no
 * path.  KL_E_NOTFOUND if none reads.
 */
static int
tree_read_other(struct chk *k, struct cscratch *s, const struct kl_id *id,
    uint32_t ei, int record, struct kl_tree *out)
{
	size_t j;
	int rc = KL_E_NOTFOUND;

	for (j = byid_lower(k, id); j < k->ne &&
	    kl_id_eq(&k->e[k->byid[j]].id, id); j++) {
		struct centry *e = &k->e[k->byid[j]];

		if (k->byid[j] == ei || e->type != KL_BLOB_TYPE_TREE)
			continue;
		kl_tree_clear(out);
		if ((rc = tree_read_at(k, s, e, out)) == KL_OK) {
			if (record) {
				e->referenced = 1;
				k->packs[e->pack].needed = 1;
				idmap_repoint(&k->bmap, id, k->byid[j]);
			}
			return KL_OK;
		}
		if (!is_damage(rc))
			return rc;
		if (record)
			e->err = (int8_t)rc;
	}
	kl_tree_clear(out);
	return KL_E_NOTFOUND;
}

static int
tree_read(struct chk *k, struct cscratch *s, const struct kl_id *id,
    int record, struct kl_tree *out)
{
	struct centry *e;
	uint32_t ei;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!idmap_get(&k->bmap, id, &ei))
		return record && (rc = blob_missing(k, id, KL_BLOB_TYPE_TREE,
		    NULL)) != KL_OK ? rc : KL_E_NOTFOUND;
	e = &k->e[ei];
	if (e->type != KL_BLOB_TYPE_TREE)
		return record && (rc = blob_missing(k, id, KL_BLOB_TYPE_TREE,
		    e)) != KL_OK ? rc : KL_E_NOTFOUND;
	if (record) {
		e->referenced = 1;
		k->packs[e->pack].needed = 1;
	}
	if ((rc = tree_read_at(k, s, e, out)) == KL_OK || !is_damage(rc))
		return rc;
	if (record && e->err == 0)
		e->err = (int8_t)rc;
	return tree_read_other(k, s, id, ei, record, out);
}

/* A blob a tree names: it must have a location of the right type. */
static int
blob_ref(struct chk *k, const struct kl_id *id, uint8_t type)
{
	struct centry *e;
	uint32_t ei;

	if (!idmap_get(&k->bmap, id, &ei))
		return blob_missing(k, id, type, NULL);
	e = &k->e[ei];
	if (e->type != type)
		return blob_missing(k, id, type, e);
	e->referenced = 1;
	k->packs[e->pack].needed = 1;
	return KL_OK;
}

/* ---- the structure pass: every tree once, sizes by tree id ---- */

/* One tree on the current path of chk_tree_size's walk. */
struct sframe {
	struct kl_tree t;
	size_t i;		/* next entry */
	uint32_t slot;		/* index into m->sz */
	struct chk_size below;	/* sums over the entries done */
};

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A new tree id in m, its size not known yet. */
static int
trees_add(struct chk_trees *m, const struct kl_id *id, uint32_t *slot)
{
	struct chk_size *nsz;
	uint8_t *nd;
	size_t ncap;
	int rc;

	if (m->n == m->cap) {
		ncap = m->cap ? m->cap * 2 : 256;
		if ((nsz = realloc(m->sz, ncap * sizeof(*nsz))) == NULL)
			return KL_E_NOMEM;
		m->sz = nsz;
		if ((nd = realloc(m->done, ncap)) == NULL)
			return KL_E_NOMEM;
		m->done = nd;
		m->cap = ncap;
	}
	if ((rc = idmap_put(&m->seen, id, (uint32_t)m->n)) < 0)
		return rc;
	memset(&m->sz[m->n], 0, sizeof(m->sz[m->n]));
	m->done[m->n] = 0;
	*slot = (uint32_t)m->n++;
	return KL_OK;
}

void
chk_trees_clear(struct chk_trees *m)
{
	idmap_clear(&m->seen);
	free(m->sz);
	free(m->done);
	memset(m, 0, sizeof(*m));
}

/* Adds a subtree's size to a directory's sums (levels: the deepest). */
static void
size_add(struct chk_size *to, const struct chk_size *sub)
{
	to->entries = sat_add(to->entries, sub->entries);
	if (sub->levels > to->levels)
		to->levels = sub->levels;
}

/* Known size of slot (a cycle if it is on the current path). */
static struct chk_size
size_of(const struct chk_trees *m, uint32_t slot)
{
	struct chk_size inf = { UINT64_MAX, UINT64_MAX };

	return m->done[slot] ? m->sz[slot] : inf;
}

/*
 * Starts tree id: *push 1 and a frame in *f if it must be read; else its
 * size (known, or 0 and 1 level for one that does not read) in *sz.
 */
static int
tree_enter(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_id *id, struct sframe *f, struct chk_size *sz, int *push)
{
	uint32_t slot;
	int rc;

	*push = 0;
	if (idmap_get(&m->seen, id, &slot)) {
		*sz = size_of(m, slot);
		return KL_OK;
	}
	if ((rc = trees_add(m, id, &slot)) != KL_OK)
		return rc;
	memset(f, 0, sizeof(*f));
	f->slot = slot;
	rc = o->read(o->arg, id, &f->t);
	if (rc == KL_E_NOTFOUND) {
		/* a walk enters its level and finds nothing */
		m->sz[slot].levels = 1;
		m->done[slot] = 1;
		*sz = m->sz[slot];
		return KL_OK;
	}
	if (rc != KL_OK)
		return rc;
	m->parsed++;
	if (o->progress != NULL && m->parsed % PROGRESS_TREES == 0)
		o->progress(o->arg, m->parsed);
	*push = 1;
	return KL_OK;
}

/* Leaves the top frame: its size is final. */
static struct chk_size
tree_leave(struct chk_trees *m, struct sframe *f)
{
	struct chk_size *sz = &m->sz[f->slot];

	sz->entries = sat_add(f->t.n, f->below.entries);
	sz->levels = sat_add(f->below.levels, 1);
	m->done[f->slot] = 1;
	kl_tree_clear(&f->t);
	return *sz;
}

/* One entry of the top frame: chunks, or a subtree to size or read. */
static int
tree_entry(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_node *n, struct sframe *next, struct chk_size *sz,
    int *push)
{
	size_t j;
	int rc = KL_OK;

	*push = 0;
	memset(sz, 0, sizeof(*sz));
	if (n->type == KL_NODE_FILE) {
		for (j = 0; j < n->nchunks && rc == KL_OK; j++)
			rc = o->chunk(o->arg, &n->chunks[j]);
		return rc;
	}
	if (n->type != KL_NODE_DIR)
		return KL_OK;
	return tree_enter(m, o, &n->subtree, next, sz, push);
}

static int
sframes_grow(struct sframe **v, size_t n, size_t *cap)
{
	struct sframe *nv;
	size_t ncap;

	if (n < *cap)
		return KL_OK;
	ncap = *cap ? *cap * 2 : 64;
	if ((nv = realloc(*v, ncap * sizeof(*nv))) == NULL)
		return KL_E_NOMEM;
	*v = nv;
	*cap = ncap;
	return KL_OK;
}

int
chk_tree_size(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_id *root, struct chk_size *out)
{
	struct sframe *st = NULL, *f;
	struct chk_size sz;
	size_t n = 0, cap = 0;
	int rc, push;

	memset(out, 0, sizeof(*out));
	if ((rc = sframes_grow(&st, 0, &cap)) != KL_OK)
		return rc;
	if ((rc = tree_enter(m, o, root, &st[0], out, &push)) == KL_OK)
		n = push;
	while (rc == KL_OK && n > 0) {
		f = &st[n - 1];
		if (f->i == f->t.n) {
			sz = tree_leave(m, f);
			if (--n == 0)
				*out = sz;
			else
				size_add(&st[n - 1].below, &sz);
			continue;
		}
		if ((rc = sframes_grow(&st, n, &cap)) != KL_OK)
			break;
		f = &st[n - 1];
		rc = tree_entry(m, o, &f->t.nodes[f->i++], &st[n], &sz, &push);
		if (rc == KL_OK && push)
			n++;
		else if (rc == KL_OK)
			size_add(&f->below, &sz);
	}
	while (n > 0)
		kl_tree_clear(&st[--n].t);
	free(st);
	return rc;
}

struct sread {
	struct chk *k;
	struct cscratch *s;
};

static int
sread_tree(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct sread *x = arg;

	return tree_read(x->k, x->s, id, 1, out);
}

static int
sread_chunk(void *arg, const struct kl_id *id)
{
	struct sread *x = arg;

	return blob_ref(x->k, id, KL_BLOB_TYPE_DATA);
}

static void
sread_progress(void *arg, uint64_t parsed)
{
	struct sread *x = arg;

	progress(x->k, "trees", parsed, 0);
}

/*
 * A snapshot whose trees hold more than its declared files and
 * directories allow: every walk over its paths stops at its budget, so
 * restore, ls, versions, find, diff and drill refuse it (a hostile but
 * authentic snapshot: any backup-only key can write one).
 */
static int
snap_over(struct chk *k, struct csnap *cs, const struct chk_size *sz)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	char name[96], why[256];
	uint32_t fi;
	int rc;

	kl_walk_budget_init(&b, cs->files, cs->dirs, kl_repo_tree_budget(k->r));
	memset(&st, 0, sizeof(st));
	if (sz->entries > b.entries)
		st.over = KL_WALK_OVER_ENTRIES;
	else if (sz->levels > b.depth)
		st.over = KL_WALK_OVER_DEPTH;
	else
		return KL_OK;
	cs->over = 1;
	kl_walk_over_str(&st, &b, cs->files, cs->dirs, why, sizeof(why));
	obj_name("snapshots/", &cs->id, name);
	if ((rc = finding_new(k, KL_CHECK_CORRUPT, name, &fi, "snapshot of "
	    "host %s: %s (%s%llu entries, %llu levels): commands that walk "
	    "its paths (restore, ls, diff, drill, versions, find) stop there; "
	    "kluis backup never writes this - find who wrote it from its "
	    "receive time in the server's audit log", cs->host, why,
	    sz->entries == UINT64_MAX ? "at least " : "",
	    (unsigned long long)sz->entries,
	    (unsigned long long)sz->levels)) != KL_OK)
		return rc;
	return finding_snap(k, fi, &cs->id);
}

static int
trees_phase(struct chk *k, struct cscratch *s)
{
	struct chk_tree_ops o;
	struct chk_size sz;
	struct sread x = { k, s };
	size_t i;
	int rc = KL_OK;

	memset(&o, 0, sizeof(o));
	o.read = sread_tree;
	o.chunk = sread_chunk;
	o.progress = sread_progress;
	o.arg = &x;
	for (i = 0; i < k->nsnaps && rc == KL_OK; i++) {
		if (!k->snaps[i].ok)
			continue;
		if ((rc = chk_tree_size(&k->trees, &o, &k->snaps[i].tree,
		    &sz)) == KL_OK)
			rc = snap_over(k, &k->snaps[i], &sz);
	}
	k->rep->trees = k->trees.parsed;
	if (rc == KL_OK && k->rep->trees > 0)
		progress(k, "trees", k->rep->trees, k->rep->trees);
	return rc;
}

/* ---- conclusions per pack ---- */

/* Appends "; text" (or text) to the bounded string d. */
static void
det_add(char *d, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
det_add(char *d, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(d);
	va_list ap;

	if (len > 0 && len + 2 < cap) {
		memcpy(d + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d + len, cap - len, fmt, ap);
	va_end(ap);
}

/* The first blob of p that did not verify, and how many did not. */
static uint32_t
pack_bad_blobs(struct chk *k, const struct cpack *p, const struct centry **f)
{
	uint32_t n = 0;
	size_t i;

	*f = NULL;
	for (i = p->first; i < p->first + p->n; i++) {
		if (k->e[i].err == 0)
			continue;
		if (n++ == 0)
			*f = &k->e[i];
	}
	return n + p->nbad;
}

/* What is wrong with a pack in the repository, into d; 1 if corrupt. */
static int
pack_problems(struct chk *k, const struct cpack *p, char *d, size_t cap)
{
	const struct centry *f;
	char hex[KL_ID_HEX_LEN + 1];
	uint32_t nbad;
	size_t len;

	if (p->orphan_err != 0)
		det_add(d, cap, "no index file names it and its header cannot "
		    "be read (%s)", kl_strerror(p->orphan_err));
	/* a pack read whole with a sound header is as long as it says */
	if (p->size_bad && !(p->read && p->hdr_err == 0 && !p->hash_bad)) {
		if (p->expect)
			det_add(d, cap, "it is %llu bytes, its index entries "
			    "make it %llu", (unsigned long long)p->size,
			    (unsigned long long)p->expect);
		else
			det_add(d, cap, "it is %llu bytes, its index entries "
			    "reach byte %llu", (unsigned long long)p->size,
			    (unsigned long long)p->end);
	}
	if (p->hash_bad)
		det_add(d, cap, "content does not match its name");
	if (p->hdr_err != 0)
		det_add(d, cap, "its header cannot be read (%s)",
		    kl_strerror(p->hdr_err));
	if (p->hdr_mismatch)
		det_add(d, cap, "its header does not list the blobs the index "
		    "lists (%u not in the index)", p->hdr_extra);
	if (p->key_err != 0)
		det_add(d, cap, "its session envelope does not open (%s)",
		    kl_strerror(p->key_err));
	if ((nbad = pack_bad_blobs(k, p, &f)) > 0 && f != NULL) {
		kl_id_hex(&f->id, hex);
		det_add(d, cap, "%u of its %zu blobs do not verify (first: "
		    "%s blob %.16s: %s)", nbad, p->n, f->type ==
		    KL_BLOB_TYPE_TREE ? "tree" : "data", hex,
		    kl_strerror(f->err));
	} else if (nbad > 0)
		det_add(d, cap, "%u blobs that the index does not list do not "
		    "verify", nbad);
	len = strlen(d);	/* everything so far is damage */
	if (!p->indexed && p->needed && p->orphan_err == 0)
		det_add(d, cap, "no index file names it, but snapshots use its "
		    "blobs: an index file is lost or damaged (the pack's own "
		    "header still locates them; the next backup names them in "
		    "its index file again)");
	return len > 0;
}

/*
 * A data blob that a finding costs but that a sound pack named by an index
 * file also holds is not lost: restore takes that copy (restore_data.c,
 * kl_repo_blob_alternates).  The blob map is pointed at the sound copy, so
 * that no path is named for it, and the finding counts it.
 */
static void
copies_phase(struct chk *k)
{
	const struct centry *e, *b;
	size_t i;
	uint32_t v;

	for (i = 0; i < k->ne; i++) {	/* sound copies replace lost ones */
		e = &k->e[i];
		if (e->finding != 0 || e->orphan || e->err != 0 ||
		    e->type != KL_BLOB_TYPE_DATA ||
		    !k->packs[e->pack].listed || k->packs[e->pack].gone ||
		    !idmap_get(&k->bmap, &e->id, &v) || v == i)
			continue;
		b = &k->e[v];
		if (b->finding != 0 && b->raw_len == e->raw_len)
			idmap_repoint(&k->bmap, &e->id, (uint32_t)i);
	}
	for (i = 0; i < k->ne; i++) {	/* and are counted */
		b = &k->e[i];
		if (b->finding != 0 && b->type == KL_BLOB_TYPE_DATA &&
		    idmap_get(&k->bmap, &b->id, &v) && v != i &&
		    k->e[v].finding == 0)
			k->rep->f[b->finding - 1].copies++;
	}
}

/* Attributes the blobs that pack p's finding fi costs to it. */
static void
pack_attribute(struct chk *k, const struct cpack *p, uint32_t fi, int all)
{
	size_t i;

	for (i = p->first; i < p->first + p->n; i++) {
		struct centry *e = &k->e[i];

		if (all || e->err != 0 || (e->referenced && !p->indexed))
			e->finding = fi + 1;
	}
}

/* ", in index/<hex>[, index/<hex> and maybe more]" for a pack that is
 * not there: where to look if it was planted (kluis quarantine). */
static void
pack_namers(const struct chk *k, const struct cpack *p, char *d, size_t cap)
{
	char a[KL_ID_HEX_LEN + 1], b[KL_ID_HEX_LEN + 1];

	*d = '\0';
	if (p->file1 == 0)
		return;
	kl_id_hex(&k->ixf[p->file1 - 1].id, a);
	if (p->file2 == 0) {
		snprintf(d, cap, ", in index/%s", a);
		return;
	}
	kl_id_hex(&k->ixf[p->file2 - 1].id, b);
	snprintf(d, cap, ", in index/%s, index/%s and maybe more", a, b);
}

static int
pack_conclude(struct chk *k, struct cpack *p)
{
	char name[80], d[1024] = "";
	uint32_t fi;
	int corrupt, rc;

	chk_pack_name(&p->id, name);
	if (p->indexed && (!p->listed || p->gone) && chk_pruned(k, &p->id))
		return KL_OK;	/* prune deleted it */
	if (p->indexed && (!p->listed || p->gone)) {
		pack_namers(k, p, d, sizeof(d));
		if ((rc = finding_new(k, KL_CHECK_MISSING, name, &fi, "the "
		    "index names it (%zu blobs%s), but it is not in the "
		    "repository", p->n, d)) == KL_OK)
			pack_attribute(k, p, fi, 1);
		return rc;
	}
	if (!p->listed || p->gone)
		return KL_OK;
	corrupt = pack_problems(k, p, d, sizeof(d));
	if (*d == '\0') {
		if (!p->indexed && !p->needed)
			k->rep->orphan_packs++;
		return KL_OK;
	}
	if ((rc = finding_new(k, corrupt ? KL_CHECK_CORRUPT :
	    KL_CHECK_MISSING, name, &fi, "%s", d)) == KL_OK)
		pack_attribute(k, p, fi, p->size_bad && !p->read);
	return rc;
}

/* ---- affected paths ---- */

/*
 * A walk over each snapshot's paths (kluis/treewalk.h), within the
 * snapshot's budget: every path that lost something must be named, so
 * only trees with nothing damaged below them are memoised (skipped when
 * met again).  Each level's tag is 1 once something below it is damaged.
 */
struct attr {
	struct chk *k;
	struct cscratch *s;
	const struct kl_id *snap;
	struct idmap clean;	/* trees with nothing damaged below */
};

/* Finding index + 1 that blob id is attributed to, 0 if none. */
static uint32_t
bad_of(struct chk *k, const struct kl_id *id)
{
	uint32_t v;

	if (idmap_get(&k->miss, id, &v))
		return v + 1;
	if (idmap_get(&k->bmap, id, &v))
		return k->e[v].finding;
	return 0;
}

static int
attr_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct attr *a = arg;

	return tree_read(a->k, a->s, id, 0, out);
}

/* A tree that cannot be read is named where it is used (bad_of). */
static int
attr_fail(void *arg, struct kl_walk *w, int side, const struct kl_id *id,
    int err)
{
	(void)arg;
	(void)w;
	(void)side;
	(void)id;
	return err == KL_E_NOTFOUND ? KL_OK : err;
}

static int
attr_hit(struct attr *a, struct kl_walk *w, uint32_t f)
{
	const char *p;
	size_t len;

	*kl_walk_tagp(w, 0) = 1;
	p = kl_walk_path(w, &len);
	return finding_hit(a->k, f - 1, a->snap, p, len);
}

static int
attr_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	struct attr *a = arg;
	uint32_t f, v;
	size_t j;
	int rc = KL_OK;

	(void)unused;
	if (n->type == KL_NODE_FILE) {
		for (j = 0; j < n->nchunks && rc == KL_OK; j++)
			if ((f = bad_of(a->k, &n->chunks[j])) != 0)
				rc = attr_hit(a, w, f);
		return rc;
	}
	if (n->type != KL_NODE_DIR)
		return KL_OK;
	if ((f = bad_of(a->k, &n->subtree)) != 0 &&
	    (rc = attr_hit(a, w, f)) != KL_OK)
		return rc;
	/* a tree that is only unindexed, not lost, is read on */
	return idmap_get(&a->clean, &n->subtree, &v) ? 0 : KL_WALK_A;
}

static int
attr_leave(void *arg, struct kl_walk *w)
{
	struct attr *a = arg;
	const struct kl_id *id = kl_walk_dir_id(w, KL_WALK_A);
	uint64_t *up;
	int rc;

	if (*kl_walk_tagp(w, 0) != 0) {
		if ((up = kl_walk_tagp(w, 1)) != NULL)
			*up = 1;
		return KL_OK;
	}
	if (id != NULL && (rc = idmap_put(&a->clean, id, 0)) < 0)
		return rc;
	return KL_OK;
}

/* The paths of snapshot cs affected by the findings. */
static int
attr_snap(struct attr *a, const struct csnap *cs)
{
	struct kl_walk_budget b;
	struct kl_walk_ops ops;
	uint32_t f;
	int rc = KL_OK;

	a->snap = &cs->id;
	if ((f = bad_of(a->k, &cs->tree)) != 0)
		rc = finding_hit(a->k, f - 1, a->snap, "/", 1);
	if (rc != KL_OK)
		return rc;
	memset(&ops, 0, sizeof(ops));
	ops.load = attr_load;
	ops.load_arg = a;
	ops.entry = attr_entry;
	ops.leave = attr_leave;
	ops.fail = attr_fail;
	kl_walk_budget_init(&b, cs->files, cs->dirs,
	    kl_repo_tree_budget(a->k->r));
	rc = kl_walk_run(&ops, a, &cs->tree, NULL, &b, 0, NULL);
	/* over its budget: named by its own finding (snap_over) */
	return rc == KL_E_LIMIT ? KL_OK : rc;
}

/* Names the snapshots and paths that lost something to each finding. */
static int
attribute_phase(struct chk *k, struct cscratch *s)
{
	struct attr a;
	size_t i;
	int rc = KL_OK;

	for (i = 0; i < k->ne && k->e[i].finding == 0; i++)
		;
	if (i == k->ne && k->miss.n == 0)
		return KL_OK;
	memset(&a, 0, sizeof(a));
	a.k = k;
	a.s = s;
	for (i = 0; i < k->nsnaps && rc == KL_OK; i++)
		if (k->snaps[i].ok)
			rc = attr_snap(&a, &k->snaps[i]);
	idmap_clear(&a.clean);
	return rc;
}

/* ---- the run ---- */

/* The catalog's record of data verifications, for the rotation. */
static int
pack_age(void *arg, const struct kl_id *pack, int64_t checked_s, int ok)
{
	struct chk *k = arg;
	uint32_t i;

	(void)ok;
	if (idmap_get(&k->pmap, pack, &i))
		k->packs[i].checked_s = checked_s;
	return 0;
}

static int
structure(struct chk *k, struct cscratch *s)
{
	struct kl_backend *be = kl_repo_backend(k->r);
	int rc;

	if ((rc = be->ops->list(be->ctx, KL_FT_DATA, list_pack, k)) != KL_OK) {
		kl_repo_seterr(k->r, "listing data/: %s", kl_strerror(rc));
		return rc;
	}
	if ((rc = index_phase(k)) != KL_OK || (rc = snap_phase(k)) != KL_OK)
		return rc;
	/* the catalog now, after it was compared: it is the rotation's
	 * record and the next check's reference */
	if ((rc = kl_repo_index_load(k->r)) != KL_OK ||
	    (rc = kl_cat_pack_check_foreach(k->cat, pack_age, k)) != KL_OK)
		return rc;
	if ((rc = orphans_phase(k)) != KL_OK ||
	    (rc = entries_finish(k)) != KL_OK)
		return rc;
	return trees_phase(k, s);
}

static int
chk_init(struct chk *k, struct kl_repo *r, const struct kl_check_opts *o,
    struct kl_check_report *out)
{
	memset(k, 0, sizeof(*k));
	k->r = r;
	k->o = o;
	k->rep = out;
	k->keys = kl_repo_keys(r);
	k->paths_max = o->paths_max ? o->paths_max : KL_CHECK_PATHS_DEFAULT;
	pthread_mutex_init(&k->mu, NULL);
	if (!kl_repo_is_full(r)) {
		kl_repo_seterr(r, "checking needs a full key: a backup-only "
		    "key cannot read snapshots, trees or data");
		return KL_E_PERM;
	}
	if ((k->cat = kl_repo_catalog(r)) == NULL) {
		kl_repo_seterr(r, "no catalog could be opened");
		return KL_E_IO;
	}
	return KL_OK;
}

static void
chk_clear(struct chk *k)
{
	size_t i;

	for (i = 0; k->fx != NULL && i < k->rep->nf; i++)
		free(k->fx[i].h);
	free(k->fx);
	for (i = 0; i < CHK_TREE_CACHE; i++)
		buf_free(k->tr[i].b);
	idmap_clear(&k->pmap);
	idmap_clear(&k->bmap);
	idmap_clear(&k->miss);
	chk_trees_clear(&k->trees);
	free(k->packs);
	free(k->e);
	free(k->byid);
	free(k->ixf);
	free(k->wd);
	free(k->rt);
	free(k->snaps);
	pthread_mutex_destroy(&k->mu);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
kl_check_run(struct kl_repo *r, const struct kl_check_opts *o,
    struct kl_check_report *out)
{
	struct cscratch s;
	struct chk k;
	double t0 = now_s();
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	kl_repo_clear_err(r);
	if ((rc = chk_init(&k, r, o, out)) != KL_OK ||
	    (rc = cscratch_init(&s)) != KL_OK ||
	    (rc = structure(&k, &s)) != KL_OK)
		goto out;
	if (o->data.mode != KL_CHECK_DATA_NONE && (rc = chk_data(&k)) != KL_OK)
		goto out;
	for (i = 0; i < k.npacks && rc == KL_OK; i++)
		rc = pack_conclude(&k, &k.packs[i]);
	if (rc == KL_OK && (rc = index_conclude(&k)) == KL_OK) {
		copies_phase(&k);
		rc = attribute_phase(&k, &s);
	}
	if (rc == KL_OK && o->data.mode != KL_CHECK_DATA_NONE)
		rc = attest_phase(&k);
out:
	for (i = 0; i < k.npacks; i++) {
		out->packs_selected += k.packs[i].selected;
		out->packs_read += k.packs[i].read;
	}
	out->bytes_read = k.bytes_done;
	out->duration_s = now_s() - t0;
	cscratch_clear(&s);
	chk_clear(&k);
	if (rc != KL_OK)
		kl_check_report_clear(out);
	return rc;
}
