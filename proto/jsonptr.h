/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_JSONPTR_H
#define ATTESTD_PROTO_JSONPTR_H

#include <jansson.h>

#include "proto/err.h"

/*
 * RFC 6901 JSON Pointer, strict: "" is the whole document, anything else
 * starts with '/'; '~' must be followed by '0' ('~') or '1' ('/'). An array
 * index is "0" or a decimal without leading zeros; "-" (one past the end)
 * never resolves.
 */

/* Syntax check only. Returns 0 or -EINVAL (message in e). */
int jsonptr_validate(const char *ptr, struct err *e);

/* Resolve ptr in root. On success *ret is borrowed from root. Returns 0,
 * -ENOENT (well-formed but nothing there), -EINVAL (malformed) or -ENOMEM. */
int jsonptr_get(json_t *root, const char *ptr, json_t **ret);

#endif
