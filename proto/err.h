/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_PROTO_ERR_H
#define ATTESTD_PROTO_ERR_H

/*
 * A human-readable error message that pure (non-logging) code hands back to
 * the caller next to its -errno return value. The caller decides whether and
 * how to log it. Callers that do not care pass NULL.
 */
#define ERR_MSG_MAX 512

struct err {
        char msg[ERR_MSG_MAX];
};

/* Format a message into e (if e is not NULL) and return r unchanged, so that
 * `return err_set(e, -EBADMSG, "…");` reads naturally. */
int err_set(struct err *e, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "prefix: old message". Returns r. */
int err_prefix(struct err *e, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
