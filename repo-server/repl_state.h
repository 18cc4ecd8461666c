/*
 * What `kluis-server replicate` last did for one target, kept on the
 * primary in DIR/replication/<id> (docs/FORMAT.md §1.1) so that
 * `kluis-server status` can report the replication lag without asking
 * the other side.  Private to repo-server.
 */
#ifndef KLUIS_REPL_STATE_H
#define KLUIS_REPL_STATE_H

#include <stddef.h>
#include <stdint.h>

#define KL_REPL_DIR "replication"
#define KL_REPL_URL_MAX 4400	/* ssh://user@host:port/ + a 4096-byte path */
#define KL_REPL_MSG_MAX 512

struct kl_repl_state {
	char url[KL_REPL_URL_MAX + 1];	/* the target, as --to named it */
	int64_t started_s;		/* the last run's start (0: none) */
	int64_t finished_s;		/* and its end */
	int outcome;			/* KL_OK or the error it ended with */
	char message[KL_REPL_MSG_MAX + 1];	/* "" or what went wrong */
	/* Every file received here before this time was on the target
	 * (verified) when the last complete run ended: that run's start
	 * less REPL_SYNC_MARGIN_S (60 s; a receive time is set before the
	 * file is linked into place).  0 while no run has completed. */
	int64_t synced_s;
	uint64_t files_sent, bytes_sent;	/* by the last run */
	uint64_t damaged;		/* files here whose bytes do not match
					 * their name, found by the last run */
	uint64_t repaired;		/* of those, replaced by a sound copy */
};

/* The state file's name for url: 16 hex digits of its BLAKE2b-256. */
void kl_repl_state_name(const char *url, char out[17]);

/*
 * Reads DIR/replication/name into *st.  KL_E_NOTFOUND if missing,
 * KL_E_CORRUPT if it is not a state file this version understands.
 */
int kl_repl_state_read(const char *repo, const char *name,
    struct kl_repl_state *st);

/* Writes st for st->url, atomically and durably (making the directory). */
int kl_repl_state_write(const char *repo, const struct kl_repl_state *st);

/*
 * Calls cb for every state file of repo (none when DIR/replication/ is
 * missing); files that do not parse are passed with parse_err set and a
 * zeroed state whose url is the file's name.  A non-zero return of cb
 * stops the walk and is returned.
 */
typedef int (*kl_repl_state_cb)(void *arg, const struct kl_repl_state *st,
    int parse_err);
int kl_repl_state_each(const char *repo, kl_repl_state_cb cb, void *arg);

#endif
