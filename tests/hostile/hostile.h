/*
 * kluis-hostile: the attacker of the threat model's tests (issue #10).
 *
 * It holds exactly what a compromised city server holds - a key file
 * (normally backup-only) with its passphrase, and an SSH key that the
 * repository server forces into the append-only role - and writes hostile
 * but well-formed repository objects with them through the ordinary
 * transports (local path, pipe:, ssh://).  It never touches the
 * repository's files directly: whatever it does, a real attacker with the
 * same credentials can do.  Each attack is one subcommand (h_*.c), and the
 * end-to-end tests (tests/e2e/hostile_*.sh) check that kluis survives it.
 *
 * Attacks print what they created, one "name value" pair a line, for the
 * test scripts to use.
 */
#ifndef KLUIS_HOSTILE_H
#define KLUIS_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/backend.h"
#include "kluis/err.h"
#include "kluis/format.h"

struct buf;
struct kl_repo;
struct kl_keys;
struct kl_session;
struct kl_node;

struct hctx {
	struct kl_repo *r;
	const struct kl_keys *k;
	struct kl_backend *be;
	struct kl_error err;	/* what failed, for the exit message */
};

/* A blob to place in a crafted pack: real content, or garbage. */
struct h_blob {
	uint8_t type;		/* KL_BLOB_TYPE_DATA or _TREE */
	struct kl_id id;	/* the id the header claims */
	const uint8_t *raw;	/* real content (encrypted as a blob), or
				 * NULL: stored_len random bytes instead */
	size_t raw_len;		/* claimed raw length */
	uint32_t stored_len;	/* garbage only: bytes to store (>= 52) */
};

/* One attack: argv[0] is its name; returns the process exit code. */
struct h_attack {
	const char *name;
	const char *usage;
	int (*run)(struct hctx *h, int argc, char **argv);
};

/* Writes b as a content-addressed file of type t; *id gets its name. */
int h_put(struct hctx *h, enum kl_ftype t, const struct buf *b,
    struct kl_id *id);
/*
 * Seals the index plaintext of ix under the index key, as a version 1
 * index file (FORMAT.md §9), and writes it.  With first set, the file is
 * sealed again (a fresh nonce) until its name sorts before every index
 * file in the repository: readers that took the first location by file
 * name would load it first.  *tries (may be NULL) gets the number of
 * seals.
 */
int h_index_put(struct hctx *h, const struct kl_index *ix, int first,
    struct kl_id *id, unsigned *tries);
/*
 * Builds a pack of blobs b[0, n) under a fresh session key sealed to the
 * repository's public key (as any backup-only key can), with its header
 * under the index key, and writes it.  *e (malloc'd, n entries) gets the
 * entries as the header lists them.
 */
int h_pack_put(struct hctx *h, const struct h_blob *b, size_t n,
    struct kl_id *id, struct kl_blob_entry **e);
/* h_pack_put of b[0, n), then an index file that names that pack alone:
 * *pack and *index get their names. */
int h_claim(struct hctx *h, const struct h_blob *b, size_t n,
    struct kl_id *pack, struct kl_id *index);
/* Every entry of every index file the repository holds: *ix malloc'd
 * (kl_index_clear); damaged files are skipped. */
int h_index_all(struct hctx *h, struct kl_index *ix);
/* Loads the repository's index and begins a backup session (*s, NULL on
 * failure), as a backup with that key would. */
int h_session_open(struct hctx *h, struct kl_session **s);
/* Prints "what <hex>" on stdout. */
void h_print_id(const char *what, const struct kl_id *id);
/* Stores the tree of nodes[0, n) (sorted by name) in session s; *id gets
 * its id. */
int h_tree_put(struct hctx *h, struct kl_session *s, struct kl_node *nodes,
    size_t n, struct kl_id *id);

/* The attacks, by file. */
extern const struct h_attack h_index_attacks[];
extern const struct h_attack h_lock_attacks[];
extern const struct h_attack h_restore_attacks[];
extern const struct h_attack h_names_attacks[];
extern const struct h_attack h_tree_attacks[];
extern const struct h_attack h_flood_attacks[];

#endif
