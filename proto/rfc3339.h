/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_RFC3339_H
#define ATTESTD_PROTO_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* "2026-11-24T22:40:06Z" is 20 bytes + NUL; with ".123" milliseconds 24 + NUL. */
#define RFC3339_MAX 32

/* Format t (UTC) as RFC 3339 into buf (caller-sized, >= RFC3339_MAX); with
 * ms >= 0 add ".mmm". Returns 0 or -ERANGE (t not representable). */
int rfc3339_format(time_t t, int ms, char buf[static RFC3339_MAX]);

#endif
