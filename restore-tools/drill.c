/*
 * Restore drills: sample a snapshot, restore the sample with
 * kl_restore_run, verify what the file system holds afterwards against the
 * snapshot's trees, and extrapolate the time of a full restore.
 *
 * The verifier shares nothing with restore but the way a path is resolved
 * beneath the target (rs_open_beneath): it reads the restored bytes back,
 * cuts them where the index says each chunk ends, recomputes every keyed
 * chunk id and compares it with the tree's, and compares each metadata
 * field with the tree's node - so a restore that writes the wrong bytes,
 * misses a hole or forgets a field is caught, not vouched for by itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/hash.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
#include "restore_internal.h"

/* Paths remembered so that a path that failed is reported once. */
#define DRILL_FAILED_MAX 10000
/* Space a restored entry takes besides its data (an inode, a block). */
#define DRILL_ENTRY_COST 4096

struct drill {
	struct kl_repo *r;
	kl_drill_finding_fn fn;
	void *arg;
	const char *target;
	uint64_t findings;
	char **failed;		/* paths with a missing/restore/tree finding */
	size_t nfailed, cfailed;
};

/* One sampled entry. */
struct sentry {
	char *path;		/* absolute snapshot path */
	uint64_t size;		/* regular files: size */
	uint64_t space;		/* regular files: data blocks, no holes */
	int file;
};

struct kl_drill_sample {
	struct sentry *v;	/* sorted by path (strcmp) */
	size_t n;
	int all;		/* everything: v is empty */
	uint64_t files, bytes, space, others;
	char key[KL_PATH_MAX + 3];	/* sample_state's scratch */
};

struct sampler {
	struct drill *d;
	uint64_t k;		/* files to keep */
	double p;		/* chance of any other entry */
	int all;		/* keep nothing, count only */
	uint64_t rng;
	struct sentry *f, *o;	/* reservoir of files; others */
	size_t nf, cf, no, co;
	uint64_t seen, seen_bytes, seen_space, seen_others;
	uint64_t *groups;	/* hard link groups seen: open addressing */
	size_t ngroups, cgroups;
	char path[KL_PATH_MAX + 2];
	size_t len;
};

/* Verification of a restored tree. */
struct dv {
	struct drill *d;
	const struct kl_keys *keys;
	struct kl_drill_sample *s;	/* NULL: everything */
	int root;			/* the target directory */
	int is_root_user;
	char snap[KL_PATH_MAX + 2];	/* current absolute snapshot path */
	size_t len;
	uint8_t *buf;			/* one chunk of restored content */
	size_t cap;
	char *xv;			/* an xattr value or name list */
	uint64_t verified;
};

/* ---- findings ---- */

static void
drill_init(struct drill *d, struct kl_repo *r, kl_drill_finding_fn fn,
    void *arg, const char *target)
{
	memset(d, 0, sizeof(*d));
	d->r = r;
	d->fn = fn;
	d->arg = arg;
	d->target = target;
}

static void
drill_clear(struct drill *d)
{
	size_t i;

	for (i = 0; i < d->nfailed; i++)
		free(d->failed[i]);
	free(d->failed);
}

static void vfinding(struct drill *d, const char *path, const char *field,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void
vfinding(struct drill *d, const char *path, const char *field,
    const char *fmt, va_list ap)
{
	char detail[512];

	vsnprintf(detail, sizeof(detail), fmt, ap);
	d->findings++;
	if (d->fn != NULL)
		d->fn(d->arg, *path ? path : "/", field, detail);
}

static void finding(struct drill *d, const char *path, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
finding(struct drill *d, const char *path, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(d, path, field, fmt, ap);
	va_end(ap);
}

/*
 * A path that could not be restored at all is named once, by whichever
 * stage saw it first (the sampling walk, restore, the verifier), not once
 * per stage.
 */
static void finding_once(struct drill *d, const char *path, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
finding_once(struct drill *d, const char *path, const char *field,
    const char *fmt, ...)
{
	va_list ap;
	char **nv;
	size_t i;

	for (i = 0; i < d->nfailed; i++)
		if (strcmp(d->failed[i], path) == 0)
			return;
	if (d->nfailed < DRILL_FAILED_MAX) {
		if (d->nfailed == d->cfailed) {
			d->cfailed = d->cfailed ? d->cfailed * 2 : 16;
			nv = realloc(d->failed, d->cfailed * sizeof(*nv));
			if (nv != NULL)
				d->failed = nv;
			else
				d->cfailed = d->nfailed;
		}
		if (d->nfailed < d->cfailed &&
		    (d->failed[d->nfailed] = strdup(path)) != NULL)
			d->nfailed++;
	}
	va_start(ap, fmt);
	vfinding(d, path, field, fmt, ap);
	va_end(ap);
}

/* Restore's warnings name TARGET/relative paths: made snapshot paths. */
static void
drill_warn(void *arg, const char *path, int err, const char *what)
{
	struct drill *d = arg;
	size_t tl = strlen(d->target);
	const char *p = path;

	if (strncmp(path, d->target, tl) == 0 &&
	    (path[tl] == '/' || path[tl] == '\0'))
		p = path[tl] == '\0' ? "/" : path + tl;
	finding_once(d, p, "restore", "%s (%s)", what, kl_strerror(err));
}

/* Errors after which a drill cannot go on. */
static int
fatal(int rc)
{
	return rc == KL_E_NOMEM || rc == KL_E_CONN || rc == KL_E_PERM;
}

static int
path_push(char *p, size_t *len, const uint8_t *name, size_t nl)
{
	if (*len + 1 + nl > KL_PATH_MAX)
		return 0;
	p[(*len)++] = '/';
	memcpy(p + *len, name, nl);
	*len += nl;
	p[*len] = '\0';
	return 1;
}

/* ---- sampling ---- */

/* splitmix64: a sample needs spread, not secrecy. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Data blocks of a file: its size less its holes, in 4 KiB blocks. */
static uint64_t
file_space(const struct kl_node *n)
{
	uint64_t s = n->size;
	size_t i;

	for (i = 0; i < n->nholes; i++)
		s -= n->holes[i].len <= s ? n->holes[i].len : s;
	return (s + DRILL_ENTRY_COST - 1) / DRILL_ENTRY_COST *
	    DRILL_ENTRY_COST;
}

/* n: a file counted as one (NULL: any other entry). */
static int
sentry_set(struct sentry *e, const char *path, const struct kl_node *n)
{
	char *p = strdup(path);

	if (p == NULL)
		return KL_E_NOMEM;
	free(e->path);
	e->path = p;
	e->file = n != NULL;
	e->size = n != NULL ? n->size : 0;
	e->space = n != NULL ? file_space(n) : 0;
	return KL_OK;
}

static int
sentry_push(struct sentry **v, size_t *n, size_t *cap, const char *path,
    const struct kl_node *file)
{
	struct sentry *nv;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((nv = realloc(*v, *cap * sizeof(*nv))) == NULL)
			return KL_E_NOMEM;
		*v = nv;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	if (sentry_set(&(*v)[*n], path, file) != KL_OK)
		return KL_E_NOMEM;
	(*n)++;
	return KL_OK;
}

static void
sentries_free(struct sentry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/*
 * Link groups come from trees, which any key holder writes: slots from a
 * keyed hash (kl_hash_slot), or groups chosen to share their low bits
 * would all take one slot and make the walk quadratic (issue #10).
 */
static int
group_insert(uint64_t *t, size_t cap, uint64_t g)
{
	size_t i = (size_t)kl_hash_slot(&g, sizeof(g)) & (cap - 1);

	while (t[i] != 0 && t[i] != g)
		i = (i + 1) & (cap - 1);
	if (t[i] == g)
		return 0;
	t[i] = g;
	return 1;
}

/*
 * 1 if hard link group g (non-zero) was met before.  The snapshot counts a
 * file with several names once (its first name; the others are links), so
 * the sample does too.
 */
static int
group_seen(struct sampler *sm, uint64_t g, int *rc)
{
	uint64_t *nt;
	size_t i, ncap;

	*rc = KL_OK;
	if (2 * (sm->ngroups + 1) > sm->cgroups) {
		ncap = sm->cgroups ? sm->cgroups * 2 : 64;
		if ((nt = calloc(ncap, sizeof(*nt))) == NULL) {
			*rc = KL_E_NOMEM;
			return 0;
		}
		for (i = 0; i < sm->cgroups; i++)
			if (sm->groups[i] != 0)
				(void)group_insert(nt, ncap, sm->groups[i]);
		free(sm->groups);
		sm->groups = nt;
		sm->cgroups = ncap;
	}
	if (!group_insert(sm->groups, sm->cgroups, g))
		return 1;
	sm->ngroups++;
	return 0;
}

/* Reservoir sampling (Algorithm R): every file is kept with chance k/N. */
static int
sample_file(struct sampler *sm, const struct kl_node *n)
{
	uint64_t j;

	sm->seen++;
	sm->seen_bytes += n->size;
	sm->seen_space += file_space(n);
	if (sm->all)
		return KL_OK;
	if (sm->nf < sm->k)
		return sentry_push(&sm->f, &sm->nf, &sm->cf, sm->path, n);
	j = rng_next(&sm->rng) % sm->seen;	/* bias below 2^-40 */
	if (j < sm->k)
		return sentry_set(&sm->f[j], sm->path, n);
	return KL_OK;
}

/* Symlinks, devices, FIFOs, sockets, other names of a file with hard
 * links, empty directories. */
static int
sample_other(struct sampler *sm)
{
	sm->seen_others++;
	if (sm->all)
		return KL_OK;
	if (sm->p < 1.0 &&
	    (double)(rng_next(&sm->rng) >> 11) * 0x1.0p-53 >= sm->p)
		return KL_OK;
	return sentry_push(&sm->o, &sm->no, &sm->co, sm->path, NULL);
}

static int
sample_tree(struct sampler *sm, const struct kl_id *tree)
{
	const struct kl_node *n;
	struct kl_tree t;
	size_t i, save;
	int rc;

	if ((rc = kl_repo_tree_load(sm->d->r, tree, &t)) != KL_OK) {
		finding_once(sm->d, sm->path, "tree", "the directory's tree "
		    "cannot be read: %s", kl_repo_errmsg(sm->d->r));
		return fatal(rc) ? rc : KL_OK;
	}
	if (t.n == 0 && sm->len > 0)
		rc = sample_other(sm);
	for (i = 0; i < t.n && rc == KL_OK; i++) {
		n = &t.nodes[i];
		save = sm->len;
		/* paths too long are restore's to report */
		if (!path_push(sm->path, &sm->len, n->name, n->name_len))
			continue;
		if (n->type == KL_NODE_DIR)
			rc = sample_tree(sm, &n->subtree);
		else if (n->type == KL_NODE_FILE && (n->link_group == 0 ||
		    !group_seen(sm, n->link_group, &rc)))
			rc = rc == KL_OK ? sample_file(sm, n) : rc;
		else if (rc == KL_OK)
			rc = sample_other(sm);
		sm->len = save;
		sm->path[save] = '\0';
	}
	kl_tree_clear(&t);
	return rc;
}

static int
sentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sentry *)a)->path,
	    ((const struct sentry *)b)->path);
}

/* Moves the sampler's picks into a sorted sample. */
static int
sample_finish(struct sampler *sm, struct kl_drill_sample *s)
{
	size_t i;

	if (sm->all || (sm->seen <= sm->k && sm->p >= 1.0)) {
		s->all = 1;
		s->files = sm->seen;
		s->bytes = sm->seen_bytes;
		s->space = sm->seen_space;
		s->others = sm->seen_others;
		return KL_OK;
	}
	if ((s->v = calloc(sm->nf + sm->no + 1, sizeof(*s->v))) == NULL)
		return KL_E_NOMEM;
	if (sm->nf > 0)
		memcpy(s->v, sm->f, sm->nf * sizeof(*s->v));
	if (sm->no > 0)
		memcpy(s->v + sm->nf, sm->o, sm->no * sizeof(*s->v));
	s->n = sm->nf + sm->no;
	free(sm->f);
	free(sm->o);
	sm->f = sm->o = NULL;
	sm->nf = sm->no = 0;
	for (i = 0; i < s->n; i++) {
		s->files += s->v[i].file;
		s->others += !s->v[i].file;
		s->bytes += s->v[i].size;
		s->space += s->v[i].space;
	}
	qsort(s->v, s->n, sizeof(*s->v), sentry_cmp);
	return KL_OK;
}

static uint64_t
sample_k(const struct kl_drill_opts *o, uint64_t files)
{
	double x;
	uint64_t k;

	if (o->share > 0) {
		if (o->share >= 1.0)
			return KL_DRILL_ALL;
		x = o->share * (double)files;
		k = (uint64_t)x;
		if ((double)k < x)
			k++;
		return k > 0 ? k : 1;
	}
	return o->files == 0 ? KL_DRILL_DEFAULT_FILES : o->files;
}

static void
sample_free(struct kl_drill_sample *s)
{
	if (s == NULL)
		return;
	sentries_free(s->v, s->n);
	free(s);
}

static int
sample_take(struct drill *d, const struct kl_snapshot *sn,
    const struct kl_drill_opts *o, struct kl_drill_sample **out)
{
	struct kl_drill_sample *s = NULL;
	struct sampler sm;
	int rc;

	*out = NULL;
	memset(&sm, 0, sizeof(sm));
	sm.d = d;
	sm.rng = o->seed;
	sm.k = sample_k(o, sn->files);
	sm.p = sm.k == KL_DRILL_ALL || sm.k >= sn->files ? 1.0 :
	    (double)sm.k / (double)sn->files;
	sm.all = sm.k == KL_DRILL_ALL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		rc = KL_E_NOMEM;
	else if ((rc = sample_tree(&sm, &sn->tree)) == KL_OK)
		rc = sample_finish(&sm, s);
	sentries_free(sm.f, sm.nf);
	sentries_free(sm.o, sm.no);
	free(sm.groups);
	if (rc == KL_OK) {
		*out = s;
		s = NULL;
	}
	sample_free(s);
	return rc;
}

static size_t
lower_bound(const struct kl_drill_sample *s, const char *key)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* kl_restore_opts.select: 2 for a sampled entry, 1 on the way to one. */
static int
sample_state(void *arg, const char *path)
{
	struct kl_drill_sample *s = arg;
	size_t i, pl = strlen(path);

	if (s->all)
		return 2;
	i = lower_bound(s, path);
	if (i < s->n && strcmp(s->v[i].path, path) == 0)
		return 2;
	if (pl + 2 > sizeof(s->key))
		return 0;
	memcpy(s->key, path, pl);
	s->key[pl] = '/';
	s->key[pl + 1] = '\0';
	i = lower_bound(s, s->key);
	return i < s->n && strncmp(s->v[i].path, s->key, pl + 1) == 0;
}

/* ---- verification ---- */

static const char *
type_name(unsigned t)
{
	static const char *names[] = { "unknown", "regular file",
		"directory", "symbolic link", "character device",
		"block device", "FIFO", "socket" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : names[0];
}

static unsigned
stat_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return KL_NODE_FILE;
	case S_IFDIR: return KL_NODE_DIR;
	case S_IFLNK: return KL_NODE_SYMLINK;
	case S_IFCHR: return KL_NODE_CHR;
	case S_IFBLK: return KL_NODE_BLK;
	case S_IFIFO: return KL_NODE_FIFO;
	case S_IFSOCK: return KL_NODE_SOCK;
	}
	return 0;
}

/* Opens the restored parent of the current path; *name is its last part. */
static int
parent_open(struct dv *v, const char **name)
{
	char parent[KL_PATH_MAX + 1];
	const char *slash = strrchr(v->snap, '/');
	size_t pl = (size_t)(slash - v->snap);

	*name = slash + 1;
	if (pl == 0)
		return rs_open_beneath(v->root, ".", O_PATH | O_DIRECTORY, 0);
	memcpy(parent, v->snap + 1, pl - 1);
	parent[pl - 1] = '\0';
	return rs_open_beneath(v->root, parent, O_PATH | O_DIRECTORY, 0);
}

static void
time_check(struct dv *v, const char *field, const struct timespec *got,
    const struct kl_ts *want)
{
	if ((int64_t)got->tv_sec == want->s && (uint32_t)got->tv_nsec ==
	    want->ns)
		return;
	finding(v->d, v->snap, field, "%lld.%09ld, expected %lld.%09u",
	    (long long)got->tv_sec, (long)got->tv_nsec, (long long)want->s,
	    want->ns);
}

/* Restore ignores EPERM from lsetxattr: without root, these fail. */
static int
xattr_settable(const struct dv *v, const char *name)
{
	return v->is_root_user || (strncmp(name, "trusted.", 8) != 0 &&
	    strncmp(name, "security.", 9) != 0);
}

/* Namespaces nobody but restore writes to on a fresh scratch file. */
static int
xattr_watched(const char *name)
{
	return strncmp(name, "user.", 5) == 0 ||
	    strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "system.posix_acl_", 17) == 0;
}

static int
xattr_in_node(const struct kl_node *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nxattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return 1;
	return 0;
}

static void
xattr_extras(struct dv *v, const char *p, const struct kl_node *n)
{
	ssize_t len = llistxattr(p, v->xv, KL_XATTR_VALUE_MAX);
	const char *x;

	for (x = v->xv; len > 0 && x < v->xv + len; x += strlen(x) + 1)
		if (xattr_watched(x) && !xattr_in_node(n, x))
			finding(v->d, v->snap, "xattr", "%s is set but not in "
			    "the snapshot", x);
}

static void
xattrs_check(struct dv *v, int pfd, const char *name,
    const struct kl_node *n)
{
	const struct kl_xattr *x;
	char p[64 + KL_NAME_MAX];
	ssize_t len;
	size_t i;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", pfd, name);
	for (i = 0; i < n->nxattrs; i++) {
		x = &n->xattrs[i];
		if (!xattr_settable(v, x->name))
			continue;
		len = lgetxattr(p, x->name, v->xv, KL_XATTR_VALUE_MAX);
		if (len < 0 && errno == ENOTSUP)
			return;		/* this file system holds none */
		if (len < 0 && errno == ENODATA)
			finding(v->d, v->snap, "xattr", "%s is missing",
			    x->name);
		else if (len < 0)
			finding(v->d, v->snap, "xattr", "%s cannot be read "
			    "back: %s", x->name, strerror(errno));
		else if ((size_t)len != x->value_len ||
		    memcmp(v->xv, x->value, x->value_len) != 0)
			finding(v->d, v->snap, "xattr", "%s differs from the "
			    "snapshot", x->name);
	}
	xattr_extras(v, p, n);
}

static int
chunk_buf(struct dv *v, size_t len)
{
	uint8_t *nb;

	if (len <= v->cap)
		return KL_OK;
	if ((nb = realloc(v->buf, len)) == NULL)
		return KL_E_NOMEM;
	v->buf = nb;
	v->cap = len;
	return KL_OK;
}

static ssize_t
pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Cuts the restored bytes where the index says each chunk ends and
 * recomputes each chunk's keyed id.  Stops at the first difference.
 */
/* The raw length of chunk id as the blob index has it (its best
 * location, kl_repo_blob_locate): KL_OK, KL_E_NOTFOUND, or an error. */
static int
chunk_raw_len(struct kl_repo *r, const struct kl_id *id, struct kl_blob_loc *l)
{
	struct kl_blob_loc *locs;
	size_t n;
	int rc;

	if ((rc = kl_repo_blob_locate(r, id, KL_OBJ_DATA, &locs, &n)) ==
	    KL_OK) {
		*l = locs[0];
		free(locs);
	}
	return rc;
}

static int
content_check(struct dv *v, int fd, const struct kl_node *n)
{
	struct kl_blob_loc l;
	struct kl_id id;
	uint64_t off = 0;
	ssize_t got;
	size_t i;
	int rc;

	for (i = 0; i < n->nchunks; i++, off += l.raw_len) {
		if ((rc = chunk_raw_len(v->d->r, &n->chunks[i], &l)) ==
		    KL_E_NOMEM || rc == KL_E_CONN || rc == KL_E_IO)
			return rc;
		if (rc != KL_OK) {
			finding(v->d, v->snap, "content", "chunk %zu of %zu is "
			    "not in the repository index", i + 1, n->nchunks);
			return KL_OK;
		}
		if (l.raw_len > n->size - off) {
			finding(v->d, v->snap, "content", "the snapshot's "
			    "chunks are longer than the file");
			return KL_OK;
		}
		if (chunk_buf(v, l.raw_len) != KL_OK)
			return KL_E_NOMEM;
		if ((got = pread_full(fd, v->buf, l.raw_len, off)) < 0) {
			finding(v->d, v->snap, "read", "reading the restored "
			    "file failed: %s", strerror(errno));
			return KL_OK;
		}
		if ((size_t)got != l.raw_len) {
			finding(v->d, v->snap, "content", "the restored file "
			    "ends at byte %llu", (unsigned long long)(off +
			    (uint64_t)got));
			return KL_OK;
		}
		kl_blob_id(v->keys, v->buf, l.raw_len, &id);
		if (!kl_id_eq(&id, &n->chunks[i])) {
			finding(v->d, v->snap, "content", "bytes %llu-%llu "
			    "differ from the snapshot (chunk %zu of %zu)",
			    (unsigned long long)off, (unsigned long long)(off +
			    l.raw_len - 1), i + 1, n->nchunks);
			return KL_OK;
		}
	}
	if (off != n->size)
		finding(v->d, v->snap, "content", "the snapshot's chunks "
		    "cover %llu of %llu bytes", (unsigned long long)off,
		    (unsigned long long)n->size);
	return KL_OK;
}

/*
 * Each hole of the snapshot must be a hole in the restored file, rounded
 * inwards to the target's block size (a hole smaller than a block cannot
 * be one).  A file system without SEEK_DATA is not judged.
 */
static void
holes_check(struct dv *v, int fd, const struct kl_node *n, uint64_t bs)
{
	uint64_t lo, hi;
	off_t d;
	size_t i;

	if (bs == 0)
		bs = 4096;
	for (i = 0; i < n->nholes; i++) {
		lo = (n->holes[i].off + bs - 1) / bs * bs;
		hi = (n->holes[i].off + n->holes[i].len) / bs * bs;
		if (lo >= hi)
			continue;
		d = lseek(fd, (off_t)lo, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			continue;
		if (d < 0)
			return;
		if ((uint64_t)d < hi) {
			finding(v->d, v->snap, "holes", "bytes %llu-%llu hold "
			    "data where the snapshot has a hole",
			    (unsigned long long)d, (unsigned long long)(hi -
			    1));
			return;
		}
	}
}

static int
file_check(struct dv *v, int pfd, const char *name, const struct kl_node *n,
    const struct stat *st)
{
	struct stat fst;
	int fd, rc = KL_OK;

	if ((uint64_t)st->st_size != n->size) {
		finding(v->d, v->snap, "size", "%lld bytes, expected %llu",
		    (long long)st->st_size, (unsigned long long)n->size);
		return KL_OK;
	}
	/* O_NOATIME: reading must not change what a later check compares */
	fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	if (fd < 0) {
		finding(v->d, v->snap, "read", "the restored file cannot be "
		    "opened: %s", strerror(errno));
		return KL_OK;
	}
	if (fstat(fd, &fst) != 0 || fst.st_ino != st->st_ino ||
	    fst.st_dev != st->st_dev)
		finding(v->d, v->snap, "read", "the restored file changed "
		    "while it was verified");
	else if ((rc = content_check(v, fd, n)) == KL_OK)
		holes_check(v, fd, n, (uint64_t)st->st_blksize);
	close(fd);
	return rc;
}

static void
target_check(struct dv *v, int pfd, const char *name,
    const struct kl_node *n)
{
	char t[KL_TARGET_MAX + 2];
	ssize_t len = readlinkat(pfd, name, t, sizeof(t) - 1);

	if (len < 0) {
		finding(v->d, v->snap, "read", "the restored link cannot be "
		    "read: %s", strerror(errno));
		return;
	}
	t[len] = '\0';
	if ((size_t)len != strlen(n->target) || strcmp(t, n->target) != 0)
		finding(v->d, v->snap, "target", "points to \"%s\", expected "
		    "\"%s\"", t, n->target);
}

static int
node_check(struct dv *v, int pfd, const char *name, const struct kl_node *n,
    const struct stat *st)
{
	if (n->type != KL_NODE_SYMLINK && (st->st_mode & 07777) != n->mode)
		finding(v->d, v->snap, "mode", "%04o, expected %04o",
		    (unsigned)(st->st_mode & 07777), n->mode);
	if (v->is_root_user && st->st_uid != n->uid)
		finding(v->d, v->snap, "uid", "%u, expected %u",
		    (unsigned)st->st_uid, n->uid);
	if (v->is_root_user && st->st_gid != n->gid)
		finding(v->d, v->snap, "gid", "%u, expected %u",
		    (unsigned)st->st_gid, n->gid);
	time_check(v, "mtime", &st->st_mtim, &n->mtime);
	/* names of one file differ in atime: backup reads between lstats */
	if (n->link_group == 0)
		time_check(v, "atime", &st->st_atim, &n->atime);
	if (n->type != KL_NODE_SYMLINK)
		xattrs_check(v, pfd, name, n);
	if ((n->type == KL_NODE_CHR || n->type == KL_NODE_BLK) &&
	    (uint64_t)st->st_rdev != n->rdev)
		finding(v->d, v->snap, "rdev", "device %llx, expected %llx",
		    (unsigned long long)st->st_rdev,
		    (unsigned long long)n->rdev);
	if (n->type == KL_NODE_SYMLINK)
		target_check(v, pfd, name, n);
	if (n->type == KL_NODE_FILE)
		return file_check(v, pfd, name, n, st);
	return KL_OK;
}

/* Verifies the current path; *ok: it exists with the right type. */
static int
verify_node(struct dv *v, const struct kl_node *n, int *ok)
{
	const char *name;
	struct stat st;
	int pfd, rc = KL_OK;

	*ok = 0;
	v->verified++;
	if ((pfd = parent_open(v, &name)) < 0 ||
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			finding_once(v->d, v->snap, "missing", "not restored");
		else
			finding(v->d, v->snap, "read", "the restored %s cannot "
			    "be examined: %s", type_name(n->type),
			    strerror(errno));
	} else if (stat_type(st.st_mode) != n->type) {
		finding(v->d, v->snap, "type", "a %s, expected a %s",
		    type_name(stat_type(st.st_mode)), type_name(n->type));
	} else {
		*ok = 1;
		rc = node_check(v, pfd, name, n, &st);
	}
	if (pfd >= 0)
		close(pfd);
	return rc;
}

static int
tree_has(const struct kl_tree *t, const char *name)
{
	size_t lo = 0, hi = t->n, mid, nl = strlen(name);
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = kl_name_cmp(t->nodes[mid].name, t->nodes[mid].name_len,
		    (const uint8_t *)name, nl);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Restore's mark on a file it reported as damaged, not a stray entry. */
static int
damaged_mark(const struct kl_tree *t, const char *name)
{
	char base[KL_NAME_MAX + 1];
	size_t nl = strlen(name), sl = strlen(KL_RESTORE_DAMAGED_SUFFIX);

	if (nl <= sl || nl - sl > KL_NAME_MAX ||
	    strcmp(name + nl - sl, KL_RESTORE_DAMAGED_SUFFIX) != 0)
		return 0;
	memcpy(base, name, nl - sl);
	base[nl - sl] = '\0';
	return tree_has(t, base);
}

/* A whole restore: nothing in the directory that the tree lacks. */
static void
extras_check(struct dv *v, const struct kl_tree *t)
{
	char p[KL_PATH_MAX + KL_NAME_MAX + 2];
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = rs_open_beneath(v->root, v->len ? v->snap + 1 : ".",
	    O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;		/* reported as the directory's finding */
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    tree_has(t, de->d_name) || damaged_mark(t, de->d_name))
			continue;
		snprintf(p, sizeof(p), "%s/%s", v->snap, de->d_name);
		finding(v->d, p, "extra", "restored but not in the snapshot");
	}
	closedir(dir);
}

static int verify_tree(struct dv *v, const struct kl_id *tree);

static int
verify_entry(struct dv *v, const struct kl_node *n)
{
	size_t save = v->len;
	int state, ok, rc = KL_OK;

	/* paths too long are restore's to report */
	if (!path_push(v->snap, &v->len, n->name, n->name_len))
		return KL_OK;
	state = v->s == NULL ? 2 : sample_state(v->s, v->snap);
	if (state == 2 || (state == 1 && n->type == KL_NODE_DIR)) {
		rc = verify_node(v, n, &ok);
		if (rc == KL_OK && ok && n->type == KL_NODE_DIR)
			rc = verify_tree(v, &n->subtree);
	}
	v->len = save;
	v->snap[save] = '\0';
	return rc;
}

static int
verify_tree(struct dv *v, const struct kl_id *tree)
{
	struct kl_tree t;
	size_t i;
	int rc;

	if ((rc = kl_repo_tree_load(v->d->r, tree, &t)) != KL_OK) {
		finding_once(v->d, v->snap, "tree", "the directory's tree "
		    "cannot be read: %s", kl_repo_errmsg(v->d->r));
		return fatal(rc) ? rc : KL_OK;
	}
	if (v->s == NULL || v->s->all)
		extras_check(v, &t);
	for (i = 0; i < t.n && rc == KL_OK; i++)
		rc = verify_entry(v, &t.nodes[i]);
	kl_tree_clear(&t);
	return rc;
}

static int
verify_run(struct drill *d, const struct kl_id *tree, const char *dir,
    struct kl_drill_sample *s, struct kl_drill_result *res)
{
	struct timespec t0;
	struct dv v;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&v, 0, sizeof(v));
	v.d = d;
	v.keys = kl_repo_keys(d->r);
	v.s = s;
	v.is_root_user = geteuid() == 0;
	if ((v.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOTDIR ? KL_E_INVAL :
		    kl_err_from_errno(errno);
	if ((v.xv = malloc(KL_XATTR_VALUE_MAX)) == NULL)
		rc = KL_E_NOMEM;
	else
		rc = verify_tree(&v, tree);
	free(v.xv);
	free(v.buf);
	close(v.root);
	res->verified = v.verified;
	res->verify_s = rs_since(&t0);
	return rc;
}

int
kl_drill_verify(struct kl_repo *r, const struct kl_id *snap,
    const char *dir, kl_drill_finding_fn fn, void *arg,
    uint64_t *mismatches)
{
	struct kl_drill_result res;
	struct kl_snapshot sn;
	struct drill d;
	int rc;

	*mismatches = 0;
	memset(&res, 0, sizeof(res));
	if ((rc = kl_repo_snapshot_load(r, snap, &sn)) != KL_OK)
		return rc;
	drill_init(&d, r, fn, arg, dir);
	rc = verify_run(&d, &sn.tree, dir, NULL, &res);
	*mismatches = d.findings;
	drill_clear(&d);
	kl_snapshot_clear(&sn);
	return rc;
}

/* ---- the drill ---- */

double
kl_drill_rto(uint64_t sample_files, uint64_t sample_bytes,
    uint64_t snapshot_files, uint64_t snapshot_bytes, double restore_s)
{
	double t = restore_s, x;

	/* ratios first: a whole-snapshot sample scales by exactly 1 */
	if (sample_files > 0) {
		x = restore_s * ((double)snapshot_files / (double)sample_files);
		t = x > t ? x : t;
	}
	if (sample_bytes > 0) {
		x = restore_s * ((double)snapshot_bytes / (double)sample_bytes);
		t = x > t ? x : t;
	}
	return t;
}

/* Refuses a sample the target's file system cannot hold. */
static int
space_check(const char *dir, const struct kl_drill_sample *s,
    struct kl_drill_result *res)
{
	struct statvfs vs;
	uint64_t entries = s->files + s->others;

	res->scratch_needed = s->space + entries * DRILL_ENTRY_COST;
	if (statvfs(dir, &vs) != 0)
		return KL_OK;	/* cannot tell: restore will find out */
	res->scratch_free = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
	if (res->scratch_free < res->scratch_needed ||
	    (vs.f_files > 0 && (uint64_t)vs.f_favail < entries))
		return KL_E_NOSPACE;
	return KL_OK;
}

static int
restore_sample(struct drill *d, const struct kl_id *snap,
    struct kl_drill_sample *s, struct kl_drill_result *res)
{
	struct kl_restore_opts ro;
	struct kl_restore_stats st;
	int rc;

	memset(&ro, 0, sizeof(ro));
	ro.target = d->target;
	ro.warn = drill_warn;
	ro.warn_arg = d;
	if (!s->all) {
		ro.select = sample_state;
		ro.select_arg = s;
	}
	rc = kl_restore_run(d->r, snap, &ro, &st);
	res->restore_s = st.duration_s;
	res->restore_errors = st.errors;
	return rc;
}

static void
result_rates(struct kl_drill_result *res)
{
	double t = res->restore_s > 1e-6 ? res->restore_s : 1e-6;

	res->bytes_per_s = (double)res->sample_bytes / t;
	res->files_per_s = (double)res->sample_files / t;
	res->rto_s = kl_drill_rto(res->sample_files, res->sample_bytes,
	    res->snapshot_files, res->snapshot_bytes, res->restore_s);
}

int
kl_drill_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_drill_opts *o, struct kl_drill_result *res)
{
	struct kl_drill_sample *s = NULL;
	struct kl_snapshot sn;
	struct drill d;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&sn, 0, sizeof(sn));
	drill_init(&d, r, o->finding, o->finding_arg, o->target);
	if ((rc = kl_repo_snapshot_load(r, snap, &sn)) != KL_OK)
		goto out;
	res->snapshot_files = sn.files;
	res->snapshot_bytes = sn.bytes;
	if ((rc = kl_repo_index_load(r)) != KL_OK ||
	    (rc = sample_take(&d, &sn, o, &s)) != KL_OK)
		goto out;
	res->all = s->all;
	res->sample_files = s->files;
	res->sample_bytes = s->bytes;
	res->sample_others = s->others;
	if ((rc = space_check(o->target, s, res)) != KL_OK ||
	    (rc = restore_sample(&d, snap, s, res)) != KL_OK)
		goto out;
	result_rates(res);
	rc = verify_run(&d, &sn.tree, o->target, s, res);
out:
	res->mismatches = d.findings;
	sample_free(s);
	drill_clear(&d);
	kl_snapshot_clear(&sn);
	return rc;
}

/* ---- removing the scratch data ---- */

static int rm_below(int dfd, dev_t dev);

static int
rm_dir(int dfd, const char *name, const struct stat *st)
{
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return kl_err_from_errno(errno);
	/* without root, a read-only directory keeps its entries */
	if ((st->st_mode & 0700) != 0700)
		(void)fchmod(fd, 0700);
	rc = rm_below(fd, st->st_dev);
	close(fd);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && rc == KL_OK)
		rc = kl_err_from_errno(errno);
	return rc;
}

static int
rm_below(int dfd, dev_t dev)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, rc = KL_OK, e;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	if ((dir = fdopendir(fd)) == NULL) {
		e = errno;
		close(fd);
		return kl_err_from_errno(e);
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			e = kl_err_from_errno(errno);
		else if (!S_ISDIR(st.st_mode))
			e = unlinkat(dfd, de->d_name, 0) == 0 ? KL_OK :
			    kl_err_from_errno(errno);
		else if (st.st_dev != dev)
			e = KL_E_INVAL;	/* a mount point: not ours */
		else
			e = rm_dir(dfd, de->d_name, &st);
		if (rc == KL_OK && e != KL_E_NOTFOUND)
			rc = e;
	}
	closedir(dir);
	return rc;
}

int
kl_drill_rmtree(const char *dir, int keep_top)
{
	struct stat st;
	int fd, rc;

	if (lstat(dir, &st) != 0)
		return kl_err_from_errno(errno);
	if (!S_ISDIR(st.st_mode))
		return KL_E_INVAL;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	rc = rm_below(fd, st.st_dev);
	close(fd);
	if (rc == KL_OK && !keep_top && rmdir(dir) != 0)
		rc = kl_err_from_errno(errno);
	return rc;
}
