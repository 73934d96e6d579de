/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

static const char std_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64_encode(const void *data, size_t len, enum b64_variant v)
{
        const uint8_t *p = data;
        const char *a;
        size_t outlen, i, o = 0;
        char *out;

        if (v == B64_STD)
                a = std_alphabet;
        else if (v == B64_URL)
                a = url_alphabet;
        else
                return NULL;
        if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
                return NULL;
        outlen = (len + 2) / 3 * 4;
        out = malloc(outlen + 1);
        if (!out)
                return NULL;
        for (i = 0; i + 2 < len; i += 3) {
                uint32_t w = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
                out[o++] = a[w >> 18 & 63];
                out[o++] = a[w >> 12 & 63];
                out[o++] = a[w >> 6 & 63];
                out[o++] = a[w & 63];
        }
        if (len - i == 1) {
                uint32_t w = (uint32_t) p[i] << 16;
                out[o++] = a[w >> 18 & 63];
                out[o++] = a[w >> 12 & 63];
                if (v == B64_STD) {
                        out[o++] = '=';
                        out[o++] = '=';
                }
        } else if (len - i == 2) {
                uint32_t w = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
                out[o++] = a[w >> 18 & 63];
                out[o++] = a[w >> 12 & 63];
                out[o++] = a[w >> 6 & 63];
                if (v == B64_STD)
                        out[o++] = '=';
        }
        out[o] = '\0';
        return out;
}

static int decode_char(char c, enum b64_variant v)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (v == B64_STD && c == '+')
                return 62;
        if (v == B64_STD && c == '/')
                return 63;
        if (v == B64_URL && c == '-')
                return 62;
        if (v == B64_URL && c == '_')
                return 63;
        return -1;
}

int b64_decode(const char *s, size_t len, enum b64_variant v,
               uint8_t **ret, size_t *ret_len)
{
        size_t n = len, i, o = 0, rem;
        uint8_t *out;

        if (!s && len > 0)
                return -EINVAL;
        if (v == B64_ANY) {
                /* padded std base64, or url base64 without padding; a string
                 * of neither's special characters decodes the same either way.
                 * A string with both variants' characters fails in std. */
                bool has_std = false, has_url = false;

                for (i = 0; i < len; i++) {
                        if (s[i] == '+' || s[i] == '/' || s[i] == '=')
                                has_std = true;
                        else if (s[i] == '-' || s[i] == '_')
                                has_url = true;
                }
                v = !has_std && (has_url || len % 4 != 0) ? B64_URL : B64_STD;
        }
        if (v == B64_STD) {
                if (len % 4 != 0)
                        return -EINVAL;
                if (n > 0 && s[n - 1] == '=')
                        n--;
                if (n > 0 && s[n - 1] == '=')
                        n--;
        }
        rem = n % 4;
        if (rem == 1)
                return -EINVAL;
        out = malloc(n / 4 * 3 + (rem ? rem - 1 : 0) + 1);
        if (!out)
                return -ENOMEM;
        for (i = 0; i + 4 <= n; i += 4) {
                int a = decode_char(s[i], v), b = decode_char(s[i + 1], v),
                    c = decode_char(s[i + 2], v), d = decode_char(s[i + 3], v);
                if ((a | b | c | d) < 0)
                        goto bad;
                uint32_t w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | (uint32_t) d;
                out[o++] = w >> 16;
                out[o++] = w >> 8 & 0xff;
                out[o++] = w & 0xff;
        }
        if (rem == 2) {
                int a = decode_char(s[i], v), b = decode_char(s[i + 1], v);
                if ((a | b) < 0 || (b & 0x0f))
                        goto bad;
                out[o++] = (uint8_t) (a << 2 | b >> 4);
        } else if (rem == 3) {
                int a = decode_char(s[i], v), b = decode_char(s[i + 1], v),
                    c = decode_char(s[i + 2], v);
                if ((a | b | c) < 0 || (c & 0x03))
                        goto bad;
                out[o++] = (uint8_t) (a << 2 | b >> 4);
                out[o++] = (uint8_t) ((b & 0x0f) << 4 | c >> 2);
        }
        out[o] = 0;
        *ret = out;
        *ret_len = o;
        return 0;
bad:
        free(out);
        return -EINVAL;
}
