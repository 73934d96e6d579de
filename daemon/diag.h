/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_DIAG_H
#define ATTESTD_DAEMON_DIAG_H

#include <stddef.h>

#include <jansson.h>

/*
 * Diagnostics for strict JSON documents (the config, the policy): every
 * problem is collected, each as "NAME:LINE:COL: message" (or "NAME: message"
 * where no position applies), instead of stopping at the first one. Pure:
 * nothing here logs.
 */

/* Collected messages (each callee-allocated; release with diag_list_done()). */
struct diag_list {
        char **msgs;
        size_t n;
};

void diag_list_done(struct diag_list *errs);

/* Append one message; errs may be NULL (then nothing is kept). line <= 0
 * means no position. At most DIAG_ERRORS_MAX messages are kept; the last one
 * then says that more were dropped. */
void diag_add(struct diag_list *errs, const char *name, int line, int col, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/*
 * A document being checked: its name, where its members start (by RFC 6901
 * JSON pointer, found by scanning the already-parsed text since jansson
 * keeps no positions) and the list errors go to.
 */
struct diag_pos;

struct diag {
        const char *name;               /* borrowed */
        struct diag_list *errs;         /* borrowed, may be NULL */
        struct diag_pos *pos;
        size_t n_pos;
        unsigned n_errors;              /* errors reported through diag_at() */
};

/* Scan text (which jansson accepted) for member positions, nesting at most
 * max_depth levels. d->pos is released by diag_done(). */
void diag_init(struct diag *d, const char *name, const char *text, size_t len, int max_depth,
               struct diag_list *errs);
void diag_done(struct diag *d);

/* Report a problem with the member at JSON pointer ptr: "NAME:LINE:COL: PTR: message". */
void diag_at(struct diag *d, const char *ptr, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * Parse text[0..len) (at most max bytes, duplicate keys refused) as a JSON
 * object describing `what` ("configuration", "policy"). Problems go to errs
 * under name. Returns 0 with *ret (new reference), -E2BIG or -EINVAL.
 */
int diag_parse_object(const char *text, size_t len, size_t max, const char *name, const char *what,
                      json_t **ret, struct diag_list *errs);

/*
 * Read the regular file at path, at most max bytes, into *ret (callee-
 * allocated, free(); NUL-terminated one past *ret_len). Problems are added
 * to errs under the path's name. Returns 0, -errno from open/read, -EINVAL
 * (not a regular file) or -EFBIG.
 */
int diag_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct diag_list *errs);

#endif
