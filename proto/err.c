/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int err_set(struct err *e, int r, const char *fmt, ...)
{
        va_list ap;

        if (!e)
                return r;
        va_start(ap, fmt);
        (void) vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        return r;
}

int err_prefix(struct err *e, int r, const char *fmt, ...)
{
        char prefix[ERR_MSG_MAX], old[ERR_MSG_MAX], joined[2 * ERR_MSG_MAX + 2];
        size_t n;
        va_list ap;

        if (!e)
                return r;
        va_start(ap, fmt);
        (void) vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, e->msg, sizeof(old));
        (void) snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
        n = strnlen(joined, sizeof(e->msg) - 1);
        memcpy(e->msg, joined, n);
        e->msg[n] = '\0';
        return r;
}
