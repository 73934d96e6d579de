/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_B64_H
#define ATTESTD_PROTO_B64_H

#include <stddef.h>
#include <stdint.h>

/*
 * Strict base64 (RFC 4648). Decoding rejects characters outside the
 * variant's alphabet, whitespace, impossible lengths and non-zero unused
 * bits, so that every encoded string has exactly one decoding.
 */
enum b64_variant {
        B64_STD,        /* '+' '/', '=' padding required */
        B64_URL,        /* '-' '_', no padding (JOSE) */
        B64_ANY,        /* decode only: std with padding, or url without */
};

/* [out] NUL-terminated string (callee-allocated; free()); NULL on ENOMEM.
 * B64_ANY is not a valid encoding variant and yields NULL. */
char *b64_encode(const void *data, size_t len, enum b64_variant v);

/* Decode s[0..len). On success *ret (callee-allocated, free(); always
 * NUL-terminated one byte past *ret_len for convenience) and *ret_len are
 * written. Returns 0, -EINVAL (malformed) or -ENOMEM. */
int b64_decode(const char *s, size_t len, enum b64_variant v,
               uint8_t **ret, size_t *ret_len);

#endif
