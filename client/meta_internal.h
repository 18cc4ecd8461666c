/* Private to client/: metadata capture used by the backup walker. */
#ifndef KLUIS_META_INTERNAL_H
#define KLUIS_META_INTERNAL_H

#include <sys/stat.h>

#include "kluis/format.h"

struct kl_namecache;

struct kl_namecache *kl_namecache_new(void);
void kl_namecache_free(struct kl_namecache *c);

/*
 * Fills n from st and the file at path (symlink target, xattrs, names);
 * name/name_len become a copy of name.  Content fields (chunks, holes,
 * subtree) are left empty.  Returns KL_OK, or an error for the part that
 * could not be read (n is then cleared).
 */
int kl_meta_capture(struct kl_namecache *c, const char *path,
    const uint8_t *name, size_t name_len, const struct stat *st,
    struct kl_node *n);

/* Reads the hole map of an open regular file (SEEK_HOLE/SEEK_DATA) into
 * n->holes, for holes inside [0, size). */
int kl_meta_holes(int fd, uint64_t size, struct kl_node *n);

/* Maps a stat mode to a node type; 0 if unknown. */
uint8_t kl_meta_type(mode_t m);

#endif
