/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_SHA256_H
#define ATTESTD_PROTO_SHA256_H

#include <stdbool.h>
#include <stddef.h>

#define SHA256_HEX_LEN 64

/* Lowercase hex SHA-256 of data[0..len) into ret (SHA256_HEX_LEN + 1 bytes,
 * caller-sized). Returns 0 or -EIO (OpenSSL failure; ret untouched). */
int sha256_hex(const void *data, size_t len, char ret[static SHA256_HEX_LEN + 1]);

/* True when s is exactly SHA256_HEX_LEN lowercase hex digits. */
bool sha256_hex_valid(const char *s);

#endif
