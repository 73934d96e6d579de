/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonptr.h"

int jsonptr_validate(const char *ptr, struct err *e)
{
        if (ptr[0] != '\0' && ptr[0] != '/')
                return err_set(e, -EINVAL, "a JSON pointer is empty or starts with '/'");
        for (const char *p = ptr; *p; p++)
                if (*p == '~' && p[1] != '0' && p[1] != '1')
                        return err_set(e, -EINVAL, "'~' at offset %zu must be followed by '0' or '1'",
                                       (size_t) (p - ptr));
        return 0;
}

/* The array index a reference token names, or -1 when it names none. */
static long long array_index(const char *tok, size_t len)
{
        long long n = 0;

        if (len == 0 || (len > 1 && tok[0] == '0'))
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (tok[i] < '0' || tok[i] > '9' || n > (INT64_MAX - 9) / 10)
                        return -1;
                n = n * 10 + (tok[i] - '0');
        }
        return n;
}

int jsonptr_get(json_t *root, const char *ptr, json_t **ret)
{
        json_t *cur = root;
        char *tok = NULL;
        const char *p;
        int r;

        r = jsonptr_validate(ptr, NULL);
        if (r < 0)
                return r;
        tok = malloc(strlen(ptr) + 1);
        if (!tok)
                return -ENOMEM;
        for (p = ptr; *p;) {
                size_t len = 0;

                p++;    /* '/' */
                while (*p && *p != '/') {
                        if (*p == '~') {
                                tok[len++] = p[1] == '0' ? '~' : '/';
                                p += 2;
                        } else {
                                tok[len++] = *p++;
                        }
                }
                tok[len] = '\0';
                if (json_is_object(cur)) {
                        cur = json_object_getn(cur, tok, len);
                } else if (json_is_array(cur)) {
                        long long i = array_index(tok, len);
                        cur = i >= 0 && (unsigned long long) i < json_array_size(cur)
                                ? json_array_get(cur, (size_t) i) : NULL;
                } else {
                        cur = NULL;
                }
                if (!cur) {
                        r = -ENOENT;
                        goto out;
                }
        }
        *ret = cur;
        r = 0;
out:
        free(tok);
        return r;
}
