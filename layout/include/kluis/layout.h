/*
 * The repository's layout as every component sees it, the server included
 * (docs/FORMAT.md §1, §2, §12): format version, file magics, the cleartext
 * 16-byte file header, the lock file header, name limits.  Nothing here
 * needs a key or decodes an encrypted record (kluis/format.h does that).
 */
#ifndef KLUIS_LAYOUT_H
#define KLUIS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define KL_FORMAT_VERSION 1
#define KL_FILE_HDR_LEN 16			/* magic, version, flags */
#define KL_NAME_MAX 255

/* §1 file magics: the 16-byte cleartext header of encrypted files. */
#define KL_MAGIC_PACK "KLUISPAK"
#define KL_MAGIC_PACK_END "KLUISEND"
#define KL_MAGIC_INDEX "KLUISIDX"
#define KL_MAGIC_SNAPSHOT "KLUISSNP"
#define KL_MAGIC_LOCK "KLUISLCK"
#define KL_MAGIC_CONFIG "KLUISCFG"

/* Appends magic (8 bytes), version 1, flags 0. */
int kl_file_hdr_put(struct buf *b, const char *magic);
/* Consumes and checks the 16-byte header: KL_E_CORRUPT for another magic
 * or fewer than 16 bytes, KL_E_UNSUPPORTED for another version or non-zero
 * flags. */
int kl_file_hdr_get(struct buf *b, const char *magic);
/* Appends magic, version and flags (file types with versions of their
 * own, §9). */
int kl_file_hdr_put_v(struct buf *b, const char *magic, uint32_t version,
    uint32_t flags);
/* Consumes the 16-byte header of a file type whose readers know versions
 * 1..vmax and the flag bits in flags_known: *version and *flags get them.
 * KL_E_CORRUPT for another magic or fewer than 16 bytes, KL_E_UNSUPPORTED
 * for another version or an unknown flag. */
int kl_file_hdr_get_v(struct buf *b, const char *magic, uint32_t vmax,
    uint32_t flags_known, uint32_t *version, uint32_t *flags);

/*
 * §12 lock file header.  Lock files have their own version: writers write
 * version 2, whose cleartext flags carry the exclusive bit so that the
 * repository server, which holds no key, can tell an exclusive lock from
 * a shared one; readers also accept version 1 (flags 0, exclusivity only
 * inside the encryption).  Every other file keeps KL_FORMAT_VERSION.
 */
#define KL_LOCK_VERSION 2
#define KL_LOCK_VERSION_1 1
#define KL_LOCK_F_EXCLUSIVE 0x1u
/* §12, §14: plaintext 15 + hostname (1..255) bytes; the file adds the
 * header and the AEAD's nonce and tag (§4, 40 bytes). */
#define KL_LOCK_PLAIN_MIN (8 + 1 + 4 + 2 + 1)
#define KL_LOCK_PLAIN_MAX (8 + 1 + 4 + 2 + KL_NAME_MAX)
#define KL_LOCK_FILE_MIN (KL_FILE_HDR_LEN + 40 + KL_LOCK_PLAIN_MIN)
#define KL_LOCK_FILE_MAX (KL_FILE_HDR_LEN + 40 + KL_LOCK_PLAIN_MAX)

struct kl_lock_hdr {
	uint32_t version;	/* 1 or 2 */
	uint8_t exclusive;	/* version 2: flag bit 0; version 1: 0 */
};
/* Appends a version-2 header: magic, 2, flags = exclusive (0 or 1, else
 * KL_E_INVAL). */
int kl_lock_hdr_put(struct buf *b, uint8_t exclusive);
/*
 * Consumes and checks the 16-byte header of a lock file into *out:
 * KL_E_CORRUPT for another magic or fewer than 16 bytes (nothing is
 * consumed then); KL_E_UNSUPPORTED for a version other than 1 and 2,
 * non-zero flags in version 1, or any flag but bit 0 in version 2.
 */
int kl_lock_hdr_get(struct buf *b, struct kl_lock_hdr *out);

#endif
