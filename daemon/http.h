/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_HTTP_H
#define ATTESTD_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Asynchronous HTTP(S) client: libcurl's multi_socket interface driven by
 * the daemon's libevent loop. Nothing here blocks the loop (name resolution
 * uses curl's threaded resolver; sockets are watched with one event each,
 * curl's timeout with one evtimer).
 *
 * Policy that no request can change: TLS peer and host verification are
 * always on, TLS >= 1.2, only http:// and https:// URLs, redirects are
 * returned to the caller (never followed), no cookies, no signals.
 *
 * Error contract (struct http_response.error, 0 when an HTTP response
 * arrived completely, whatever its status):
 *   -ETIMEDOUT          connect or total timeout
 *   -ECONNREFUSED       connection refused (other socket errors keep their
 *                       errno: -EHOSTUNREACH, -ENETUNREACH, ...)
 *   -EHOSTUNREACH       name resolution failed
 *   -EPROTO             TLS handshake / certificate / hostname verification
 *                       failed, or the peer spoke broken HTTP
 *   -EMSGSIZE           the response body exceeded max_response_bytes
 *   -ECONNRESET         the connection broke or closed before the whole
 *                       response arrived (truncated body, empty reply)
 *   -EPROTONOSUPPORT    URL scheme other than http/https
 *   -EINVAL             malformed URL
 *   -ECANCELED          the client was freed while the transfer was in flight
 *   -ENOMEM, -EIO       out of memory, anything else
 * error_message always says what happened in words, with curl's own detail
 * (e.g. "SSL certificate problem: unable to get local issuer certificate").
 */

struct event_base;
struct http_client;
struct http_transfer;

enum http_method {
        HTTP_GET,
        HTTP_POST,
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -22,     /* -EINVAL */
};

const char *http_method_to_string(enum http_method m);

/* Everything is borrowed for the duration of http_request_start() only: the
 * client copies what it keeps. */
struct http_request {
        enum http_method method;
        const char *url;                /* http:// or https:// */
        const void *body;               /* POST body (may be NULL when body_len is 0) */
        size_t body_len;
        const char *const *headers;     /* NULL-terminated "Name: value" list, or NULL */
        const char *ca_file;            /* PEM bundle that alone is trusted; NULL: system store */
        unsigned connect_timeout_ms;    /* mandatory, 1..HTTP_TIMEOUT_MS_MAX */
        unsigned timeout_ms;            /* mandatory (whole transfer), >= connect_timeout_ms */
        size_t max_response_bytes;      /* mandatory, 1..HTTP_RESPONSE_MAX_BYTES_MAX */
        bool no_proxy;                  /* ignore proxy environment variables (IMDS) */
};

struct http_response {
        int error;                      /* 0 or -errno, see the table above */
        const char *error_message;      /* borrowed, valid during the callback; "" when error == 0 */
        long status;                    /* HTTP status of the final response, 0 if none */
        char *body;                     /* NUL-terminated (also when binary); never NULL when
                                         * error == 0. Owned by the client: the callback may
                                         * take it by setting body = NULL (then free() it). */
        size_t body_len;
        int64_t retry_after_s;          /* Retry-After in seconds (0..HTTP_RETRY_AFTER_MAX_S),
                                         * -1 when absent or unparseable */
        uint64_t total_time_us;         /* whole transfer, as curl measured it */
};

/*
 * Completion callback: called exactly once per transfer, from the event
 * loop (never from inside http_request_start()), unless the transfer was
 * cancelled with http_transfer_cancel(). resp is borrowed for the call.
 * The transfer handle is gone once the callback runs: do not cancel it.
 * The callback may start new requests and cancel other transfers, but must
 * not free the client.
 */
typedef void (*http_done_cb)(struct http_response *resp, void *userdata);

/* [in] base borrowed; must outlive the client. [out] *ret callee-allocated;
 * free with http_client_free(). Returns 0, -ENOMEM or -EIO. */
int http_client_new(struct event_base *base, struct http_client **ret);

/*
 * Cancels every transfer in flight and invokes its callback with
 * error = -ECANCELED (so that owners can release their userdata); new
 * requests started from those callbacks fail with -ESHUTDOWN. Then closes
 * all connections. Must not be called from an http_done_cb. Accepts NULL;
 * returns NULL.
 */
struct http_client *http_client_free(struct http_client *c);

/*
 * Start a request. Returns 0 and (if ret_handle is not NULL) a borrowed
 * handle valid until the callback runs or the transfer is cancelled;
 * -EINVAL for a bad request (missing URL or timeouts, unknown method,
 * header with CR/LF), -EBUSY when HTTP_TRANSFERS_MAX are in flight,
 * -ESHUTDOWN while the client is being freed, -ENOMEM/-EIO otherwise.
 * On failure the callback is never called.
 */
int http_request_start(struct http_client *c, const struct http_request *req,
                       http_done_cb cb, void *userdata, struct http_transfer **ret_handle);

/* Abort a transfer in flight. Its callback is NOT invoked. Accepts NULL. */
void http_transfer_cancel(struct http_transfer *t);

/* Number of transfers in flight (for tests and metrics). */
unsigned http_client_in_flight(const struct http_client *c);

/*
 * Parse a Retry-After header value (RFC 9110 10.2.3): delta-seconds or an
 * HTTP-date (IMF-fixdate, RFC 850 or asctime form), relative to now.
 * Surrounding whitespace is ignored; a date in the past gives 0; the result
 * is clamped to HTTP_RETRY_AFTER_MAX_S. Returns 0 and *ret_s, or -EINVAL.
 */
int http_parse_retry_after(const char *value, time_t now, int64_t *ret_s);

#endif
