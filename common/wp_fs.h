/* wp_fs.h - small filesystem helpers used by two or more rooms.
 * All functions are thread-safe (no shared state) and fill err on failure. */
#ifndef WP_FS_H
#define WP_FS_H

#include <stddef.h> /* size_t */

#include "wp_error.h"

/* mkdir -p with `mode` for every directory it creates. */
int wp_mkdir_p(const char *path, unsigned mode, wp_error_t *err);

/* rm -rf of a directory tree; a missing path is success. Does not follow
 * symlinks out of the tree, and never descends into a mount below path
 * (EBUSY: a bind-mounted rootfs left in a VM's share must not be emptied). */
int wp_rm_tree(const char *path, wp_error_t *err);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer owned by
 * the caller; *len_out (optional) gets its length. Fails past max_len. */
char *wp_read_file(const char *path, size_t max_len, size_t *len_out, wp_error_t *err);

/* Write data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. */
int wp_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         wp_error_t *err);

/* Write all of buf to fd, retrying short writes and EINTR. */
int wp_write_all(int fd, const void *buf, size_t len, wp_error_t *err);

/* Copy a regular file (sparse-unaware, for kernels and initrds). */
int wp_copy_file(const char *src, const char *dst, unsigned mode, wp_error_t *err);

#endif
