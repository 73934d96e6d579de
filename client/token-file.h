/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_TOKEN_FILE_H
#define ATTESTD_CLIENT_TOKEN_FILE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Read a whole file of at most max bytes for attestctl's token tools.
 * With strip_newline, one trailing "\n" or "\r\n" is removed (a token saved
 * with `echo` or an editor); that is the only trimming anywhere: the JOSE
 * parser itself takes exact bytes.
 * Returns 0, -errno from open/read (the file is unreadable), or -E2BIG.
 * [out] ret: NUL-terminated contents (callee-allocated; free()); *ret_len
 * its length without the NUL. Written only on success.
 */
int token_file_read(const char *path, size_t max, bool strip_newline, char **ret,
                    size_t *ret_len);

#endif
