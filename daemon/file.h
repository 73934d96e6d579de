/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_FILE_H
#define ATTESTD_DAEMON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

/* Read all of path (a regular file, pipe or sysfs/securityfs file whose
 * st_size may be 0) into *ret (callee-allocated, free(); NUL-terminated one
 * byte past *ret_len), at most max bytes.
 * Returns 0, -errno from open/read, or -E2BIG when the file holds more than
 * max bytes. The message in e names the path. */
int file_read_all(const char *path, size_t max, uint8_t **ret, size_t *ret_len, struct err *e);

#endif
