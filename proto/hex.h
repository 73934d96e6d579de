/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_HEX_H
#define ATTESTD_PROTO_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [out] NUL-terminated hex (callee-allocated; free()); NULL on ENOMEM. */
char *hex_encode(const void *data, size_t len, bool upper);

/* Write 2*len+1 bytes of lowercase hex into out (caller-sized). */
void hex_encode_into(char *out, const void *data, size_t len);

/* Case-insensitive decode of s[0..len). Returns 0, -EINVAL or -ENOMEM;
 * *ret is callee-allocated (free()). */
int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

#endif
