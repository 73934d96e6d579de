/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "xalloc"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "daemon/log.h"
#include "daemon/xalloc.h"

static void oom(size_t n)
{
        log_error("Out of memory allocating %zu bytes", n);
        abort();
}

void *xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);

        if (!p)
                oom(size);
        return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

        if (!p)
                oom(nmemb * size);
        return p;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
        void *q;

        if (size && nmemb > SIZE_MAX / size)
                oom(SIZE_MAX);
        q = realloc(p, nmemb && size ? nmemb * size : 1);
        if (!q)
                oom(nmemb * size);
        return q;
}

char *xstrdup(const char *s)
{
        char *p = strdup(s);

        if (!p)
                oom(strlen(s) + 1);
        return p;
}

void freezero(void *p, size_t len)
{
        if (!p)
                return;
        OPENSSL_cleanse(p, len);
        free(p);
}
