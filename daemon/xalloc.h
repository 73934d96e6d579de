/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_XALLOC_H
#define ATTESTD_DAEMON_XALLOC_H

#include <stddef.h>

/*
 * Allocation for small internal structures: on failure log and abort.
 * Never use these for sizes derived from input; check those against a
 * *_MAX from defaults.h and return -ENOMEM/-E2BIG instead.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);

/* Wipe and free a buffer holding secrets. Accepts NULL. */
void freezero(void *p, size_t len);

#endif
