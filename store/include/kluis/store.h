/*
 * Repository storage on a local file system (docs/FORMAT.md §1): the code
 * that both kluis-server and the client's embedded local mode use.  It
 * holds no key and never sees plaintext.
 */
#ifndef KLUIS_STORE_H
#define KLUIS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/backend.h"
#include "kluis/hash.h"

enum kl_store_role {
	KL_ROLE_FULL = 0,	/* everything, including removal */
	KL_ROLE_APPEND = 1,	/* create and read; no key files; remove
				 * only lock files; create only shared
				 * version-2 locks */
	KL_ROLE_READ = 2,	/* read only */
	KL_ROLE_REPLICA = 3,	/* an off-site copy (issue #15): create any
				 * file but config, read; remove nothing,
				 * no locks */
};

struct kl_store;

/*
 * Opens the repository directory path.  KL_E_NOTFOUND if path has no
 * `config` file (not a repository), KL_E_CORRUPT if `config` is not a
 * regular file, KL_E_INVAL for an empty path or an unknown role,
 * KL_E_LIMIT for a path too long.  The returned store owns a copy of
 * path.
 */
int kl_store_open(const char *path, enum kl_store_role role,
    struct kl_store **out);

/*
 * Creates the layout (config's directory, keys/, data/00..ff, index/,
 * snapshots/, locks/) under path, which must not exist or be an empty
 * directory (KL_E_EXISTS otherwise), and writes config atomically.
 */
int kl_store_create(const char *path, const uint8_t *config,
    size_t config_len, struct kl_store **out);

void kl_store_close(struct kl_store *s);

/*
 * How removals behave (docs/PROTOCOL.md §4 "Deletion"), set by whoever
 * opened the store: kluis-server serve from its forced command, so a
 * client cannot change it.  All zero (the default, and a local
 * repository): files are removed at once.  Lock files are always removed
 * at once: they are no history.
 */
struct kl_store_policy {
	int64_t delete_delay_s;	/* > 0: a removed file goes to trash/ and
				 * stays on disk this long (purge) */
	int64_t min_age_s;	/* a file received less than this ago cannot
				 * be removed (KL_E_PERM, kl_store_why) */
	uint64_t quota;		/* > 0: bytes the repository may hold, trash
				 * included; an upload that would pass it is
				 * refused (KL_E_NOSPACE, kl_store_why) */
};
void kl_store_set_policy(struct kl_store *s, const struct kl_store_policy *p);

/* 1 if name is valid for type t (64 lowercase hex; "config" for CONFIG). */
int kl_store_name_valid(enum kl_ftype t, const char *name);

/* The kl_backend_ops over this store (see backend.h for the contract);
 * the role is enforced here: puts need APPEND or FULL (key files FULL),
 * removes need FULL (or APPEND for locks), and APPEND puts of locks obey
 * the lock rule of kl_store_put_begin.  Its put is the streaming put
 * below in one go.  The backend takes over s: ops->close closes it, so do
 * not also call kl_store_close. */
void kl_store_backend(struct kl_store *s, struct kl_backend *out);

/*
 * Writes the path of file (t, name) into out[out_len]; KL_E_INVAL for an
 * invalid name, KL_E_LIMIT if it does not fit.
 */
int kl_store_path(const struct kl_store *s, enum kl_ftype t,
    const char *name, char *out, size_t out_len);

/*
 * Removes what uploads that never finished left behind (a server or client
 * killed mid-upload, a power cut): `.tmp-*` regular files in the
 * repository's directories not written to for min_age_s seconds.  An
 * upload in progress writes its temporary file all the time; no repository
 * file is ever named `.tmp-*`.  cb (may be NULL) hears of each removed
 * file, by its path relative to the repository, and its size.  Roles that
 * may upload only (KL_E_PERM); files that cannot be removed are left.
 */
#define KL_STORE_TMP_STALE_S (24 * 60 * 60)	/* what serve and backup use */
typedef void (*kl_store_sweep_cb)(void *arg, const char *rel,
    uint64_t size);
int kl_store_sweep_tmp(struct kl_store *s, int64_t min_age_s,
    kl_store_sweep_cb cb, void *arg);

/*
 * The trash (docs/FORMAT.md §1): trash/<dir>.<name>.<deleted>.<purge>,
 * where <dir> is the type's directory (keys, data, index, snapshots),
 * <name> the file's name, <deleted> the server's time of the removal and
 * <purge> the time from which purge may delete it, both decimal UTC
 * seconds.  The move keeps the file's modification time, its receive
 * time.  Nothing in the trash is visible to clients.
 */
struct kl_trash_entry {
	enum kl_ftype t;
	char name[KL_ID_HEX_LEN + 1];
	int64_t deleted_s;
	int64_t purge_s;
	uint64_t size;
	const char *file;	/* the entry's name in trash/ */
};
/* 1 and *e filled (size 0) if file is a well-formed trash entry name. */
int kl_store_trash_parse(const char *file, struct kl_trash_entry *e);
/*
 * Called per trash entry with what was done to it: KL_OK, or the error
 * (the entry stays).  A non-zero return stops the walk and is returned.
 */
typedef int (*kl_trash_cb)(void *arg, const struct kl_trash_entry *e,
    int outcome);
/*
 * purge: deletes the entries whose purge time is <= now, durably.
 * undelete: moves the entries removed at or after since back into place
 * (keeping their receive time); one whose name is in use again (the same
 * bytes, uploaded since) is deleted from the trash instead.
 * list: reports every entry (outcome KL_OK), touching nothing.
 * Entries whose names do not parse are left alone (verify reports them).
 * All need the full role (KL_E_PERM); a missing trash/ holds nothing.
 */
int kl_store_purge(struct kl_store *s, int64_t now, kl_trash_cb cb,
    void *arg);
int kl_store_undelete(struct kl_store *s, int64_t since, kl_trash_cb cb,
    void *arg);
int kl_store_trash_list(struct kl_store *s, kl_trash_cb cb, void *arg);

/*
 * The bytes the repository's files hold (keys, data, index, snapshots,
 * locks, trash; not .tmp-* files, config or the audit log), counted now.
 * refresh also stores the count as the quota's cached figure
 * (DIR/usage), correcting what killed uploads left in it (`kluis-server
 * purge` calls it; kl_store_purge only drops the cached figure).
 */
int kl_store_usage_count(struct kl_store *s, uint64_t *bytes);
int kl_store_usage_refresh(struct kl_store *s, uint64_t *bytes);

/*
 * The quota a server enforces lives on its command line, not in the
 * repository; record writes it to DIR/state/quota (PROTOCOL.md §4
 * "Quota") so that `kluis-server status` can show it.  It writes only
 * when the policy has a quota, the role may upload, and the file does not
 * already hold that figure (atomically, mode 0600, making DIR/state/).
 * KL_OK also when there was nothing to write; file system errors.
 * recorded reads it: *quota and the time it was recorded (the file's
 * modification time); KL_E_NOTFOUND if no quota was ever recorded,
 * KL_E_CORRUPT if the file is not one.
 */
#define KL_STORE_STATE_DIR "state"
int kl_store_quota_record(struct kl_store *s);
int kl_store_quota_recorded(struct kl_store *s, uint64_t *quota,
    int64_t *since_s);

struct kl_store_put;
/* Why the last refusal of s by content, age, lock rule (KL_E_PERM) or
 * quota (KL_E_NOSPACE) was made, such as "it is an exclusive lock, ...",
 * or NULL.  Valid until the next call on s. */
const char *kl_store_why(const struct kl_store *s);

/*
 * Streaming create-only upload, for kluis-server's PUT (PROTOCOL.md §2):
 * the bytes go to a temporary file ".tmp-<random>" in the target
 * directory while being hashed; commit checks the size and the content
 * hash against name, fsyncs, links the file into place without ever
 * replacing one, and fsyncs the directory.
 *
 * begin: role, type and name checks as for put (KL_E_PERM, KL_E_INVAL;
 * CONFIG is never put), KL_E_LIMIT if size > KL_FILE_MAX, KL_E_EXISTS if
 * the name exists, KL_E_PERM for a size the lock rule refuses,
 * KL_E_NOSPACE if the quota has no room for size bytes (kl_store_why
 * says why), or the error creating the temporary file.
 * write: KL_E_LIMIT if more than size bytes would be written (nothing is
 * written then); KL_E_NOSPACE / KL_E_IO from the file system.
 * commit: KL_E_CORRUPT if fewer than size bytes were written or the hash
 * does not match, KL_E_EXISTS if the name appeared meanwhile, file system
 * errors otherwise.  It sets the file's modification time - the receive
 * time LIST reports - to the time of publication, not of the last write.
 * commit always consumes p and removes the temporary file.  On failure
 * nothing became visible, except when the directory fsync after the link
 * fails: the file then stays in place and that error is returned.
 * abort: removes the temporary file and frees p (NULL-safe).
 *
 * The lock rule (FORMAT.md §12, PROTOCOL.md §4): in the APPEND role a
 * lock file must be a shared lock of version 2.  begin refuses a size no
 * such lock has, write refuses a header that is not one as soon as its 16
 * bytes have come (KL_E_PERM, nothing more is written; abort p then), and
 * kl_store_why names the reason.
 */
int kl_store_put_begin(struct kl_store *s, enum kl_ftype t, const char *name,
    uint64_t size, struct kl_store_put **out);
int kl_store_put_write(struct kl_store_put *p, const uint8_t *data,
    size_t len);
int kl_store_put_commit(struct kl_store_put *p);
void kl_store_put_abort(struct kl_store_put *p);

/*
 * The replica role only (issue #15): the upload p keeps recv_s, its
 * receive time on the primary, instead of getting the time of
 * publication, so that `restore --at` and retention read the same times
 * on an off-site copy as on the primary.  KL_E_PERM in any other role,
 * KL_E_INVAL for a time <= 0 or more than KL_STORE_CLOCK_SKEW_S in the
 * future (by this server's clock).  Call between begin and commit.
 */
#define KL_STORE_CLOCK_SKEW_S 300
int kl_store_put_keep_time(struct kl_store_put *p, int64_t recv_s);

/*
 * Replaces file (t, name), whose bytes no longer match its name (bit rot),
 * by data, a sound copy from elsewhere (`kluis-server replicate
 * --repair`): KL_E_CORRUPT unless data hashes to name, KL_E_NOTFOUND if
 * there is no such file to replace, KL_E_PERM unless the role is full,
 * KL_E_INVAL for the config and locks (not named by their hash).  The
 * caller has found the file damaged; this does not look.  The copy goes
 * to a temporary file that already carries the damaged file's
 * modification time (its receive time), is fsynced and renamed over it,
 * and the directory fsynced.  The only path that replaces a file, and it
 * can only put back the bytes the name stands for.
 */
int kl_store_repair(struct kl_store *s, enum kl_ftype t, const char *name,
    const uint8_t *data, size_t len);

/*
 * Opens file (t, name) for reading after the role, type and name checks of
 * get: *fd (the caller closes it) and its size.  KL_E_NOTFOUND if missing,
 * KL_E_CORRUPT if it is not a regular file.
 */
int kl_store_open_file(struct kl_store *s, enum kl_ftype t, const char *name,
    int *fd, uint64_t *size);

#endif
