/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_INSPECT_H
#define ATTESTD_CLIENT_INSPECT_H

/* Shared plumbing of the `attestctl inspect` subcommands. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct inspect_args {
        const char *path;       /* borrowed from argv */
        bool json;
};

/* Parse "SUBCOMMAND FILE [--json]". Returns -1 to go on with *ret filled,
 * or an exit status: EX_OK after --help (usage printed on stdout),
 * EX_USAGE after a usage error (reported on stderr). */
int inspect_parse_args(int argc, char **argv, const char *usage, struct inspect_args *ret);

/* Read path (at most max bytes) into *ret (callee-allocated, free()).
 * Returns 0 or an exit status after reporting the error on stderr. */
int inspect_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len);

/* Print j (borrowed) indented on stdout. Returns an exit status. */
int inspect_print_json(json_t *j);

#endif
