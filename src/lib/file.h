/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-file reads of bounded size (policy files, endpoint lists). */
#ifndef VELUM_LIB_FILE_H
#define VELUM_LIB_FILE_H

#include <stddef.h>

#include "lib/errbuf.h"

/*
 * Reads the regular file at path, of at most max bytes, into a new
 * NUL-terminated buffer *buf (the caller frees it) of *len bytes. Returns 0,
 * or a negative errno with eb (may be NULL) saying "PATH: why": the open
 * error, -EINVAL for anything but a regular file, -EFBIG above max, -EIO
 * for a short read, -ENOMEM.
 */
int file_read_all(const char *path, size_t max, char **buf, size_t *len, struct errbuf *eb);

#endif
