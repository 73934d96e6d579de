/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_NOTIFY_H
#define ATTESTD_DAEMON_NOTIFY_H

#include <stdbool.h>

/*
 * The service-manager side of the lifecycle (sd_notify(3)): READY=1 once
 * sockets are bound and the TPM answered, STATUS= on state changes,
 * RELOADING=1 around a SIGHUP reload, STOPPING=1 at shutdown, ERRNO= on a
 * failed start, and WATCHDOG=1 from a timer on the event loop at half of
 * the interval the manager asked for, so a wedged loop stops feeding it.
 * Every call is a cheap no-op when $NOTIFY_SOCKET is unset.
 */

struct event_base;
struct notify;

/* Reads $NOTIFY_SOCKET and the watchdog settings once. base is borrowed and
 * must outlive the notifier. Returns 0 or -ENOMEM. [out] callee-allocated;
 * free with notify_free(). */
int notify_new(struct event_base *base, struct notify **ret);
struct notify *notify_free(struct notify *n);

bool notify_enabled(const struct notify *n);
/* Watchdog ping interval in microseconds (half of WATCHDOG_USEC), 0 if off. */
unsigned long long notify_watchdog_interval_usec(const struct notify *n);

/* READY=1 (+ STATUS= when status is not NULL); starts the watchdog timer. */
int notify_ready(struct notify *n, const char *status);
/* STATUS=<printf>; truncated at NOTIFY_STATUS_MAX, control characters replaced. */
int notify_status(struct notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* RELOADING=1 with MONOTONIC_USEC=now; follow with notify_ready(). */
int notify_reloading(struct notify *n);
/* STOPPING=1; stops the watchdog timer. */
int notify_stopping(struct notify *n);
/* ERRNO=<positive errno> for a failed start (err may be negative). */
int notify_errno(struct notify *n, int err);

/*
 * The socket-activated listening socket: when the service manager passed
 * exactly one fd and it is a listening AF_UNIX stream socket, *ret_fd (owned
 * by the caller) is written and 0 returned. -ENOENT: not socket-activated
 * (bind the configured path instead). -EINVAL: wrong number or kind of fds
 * (a message in the log says which). The LISTEN_* variables are unset so
 * that children do not inherit them.
 */
int notify_listen_fds(int *ret_fd);

#endif
