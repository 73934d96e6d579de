/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>

#include "proto/rfc3339.h"

int rfc3339_format(time_t t, int ms, char buf[static RFC3339_MAX])
{
        struct tm tm;

        if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 || ms > 999)
                return -ERANGE;
        if (ms >= 0)
                (void) snprintf(buf, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec, ms);
        else
                (void) snprintf(buf, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec);
        return 0;
}
