/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>

#include "hex.h"

static void encode(char *out, const uint8_t *p, size_t len, const char *digits)
{
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * len] = '\0';
}

char *hex_encode(const void *data, size_t len, bool upper)
{
        char *out;

        if (len > (SIZE_MAX - 1) / 2)
                return NULL;
        out = malloc(2 * len + 1);
        if (!out)
                return NULL;
        encode(out, data, len, upper ? "0123456789ABCDEF" : "0123456789abcdef");
        return out;
}

void hex_encode_into(char *out, const void *data, size_t len)
{
        encode(out, data, len, "0123456789abcdef");
}

static int nibble(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
        uint8_t *out;

        if (len % 2)
                return -EINVAL;
        out = malloc(len / 2 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len / 2; i++) {
                int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        free(out);
                        return -EINVAL;
                }
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = out;
        *ret_len = len / 2;
        return 0;
}
