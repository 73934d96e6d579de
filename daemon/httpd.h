/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_HTTPD_H
#define ATTESTD_DAEMON_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A small, strict HTTP/1.1 server on libevent bufferevents, for the local
 * API. It exists because evhttp in libevent 2.1 (Debian 12) cannot bound
 * what a local API must bound: it has no connection limit and no hook that
 * sees a connection close before it sent a request, and its timeouts are per
 * read, so a client trickling one byte at a time is never timed out.
 *
 * What it does:
 *   - one request at a time per connection; pipelined requests wait in the
 *     socket buffer (reading stops while a request is being answered);
 *   - Content-Length bodies only (Transfer-Encoding → 501), Expect:
 *     100-continue, keep-alive by HTTP/1.1 rules, HEAD without a body;
 *   - bounds: connections (the one over the limit gets a 503 and is closed),
 *     header bytes (431), body bytes (413), an absolute deadline from the
 *     first byte of a request to its last (408), an idle timeout between
 *     requests (silent close) and a write timeout for replies.
 *
 * Every request handed to the handler must be answered exactly once with
 * httpd_reply(), also when the client has gone in the meantime (then the
 * reply only frees the request). Everything runs on the loop thread.
 */

struct event_base;
struct httpd;
struct httpd_conn;
struct httpd_request;

enum httpd_method {
        HTTPD_GET,
        HTTPD_HEAD,
        HTTPD_POST,
        HTTPD_PUT,
        HTTPD_DELETE,
        HTTPD_PATCH,
        HTTPD_OPTIONS,
        HTTPD_OTHER,            /* any other token: the handler answers 405 */
};

struct httpd_limits {
        unsigned max_connections;
        unsigned max_header_bytes;      /* request line + headers + the blank line */
        unsigned max_body_bytes;        /* 0: no request bodies at all */
        unsigned request_timeout_ms;    /* first byte → complete request */
        unsigned idle_timeout_ms;       /* between requests on a kept-alive connection */
        unsigned write_timeout_ms;      /* a reply must drain within this */
};

struct httpd_callbacks {
        /* A complete request. The handler answers it (now or later) with httpd_reply(). */
        void (*request)(struct httpd_request *req, void *ud);
        /* Optional: a connection was accepted; returns its user pointer. */
        void *(*conn_open)(struct httpd_conn *conn, void *ud);
        /* Optional: the connection is gone; conn_ud is what conn_open returned. */
        void (*conn_close)(void *conn_ud, void *ud);
        /* Optional: the server answered on its own (400, 408, 413, 431, 501, 503). */
        void (*rejected)(int status, void *ud);
};

/* limits and cbs are copied; ud is passed to the callbacks. [out] callee-allocated. */
int httpd_new(struct event_base *base, const struct httpd_limits *limits, const struct httpd_callbacks *cbs,
              void *ud, struct httpd **ret);

/* Serve on fd, a listening stream socket (unix or TCP); the server owns it from then on. */
int httpd_listen_fd(struct httpd *h, int fd);

/* Listening fds (for tests), -1 when i is out of range. */
int httpd_listener_fd(const struct httpd *h, size_t i);

unsigned httpd_connections(const struct httpd *h);

/* Closes every listener and connection (calling conn_close); requests still
 * unanswered are orphaned. Accepts NULL, returns NULL. */
struct httpd *httpd_free(struct httpd *h);

/* ---- connections and requests ------------------------------------------- */

int httpd_conn_fd(const struct httpd_conn *c);
void *httpd_conn_userdata(const struct httpd_conn *c);

/* NULL once the client is gone (the request must still be answered). */
struct httpd_conn *httpd_request_conn(const struct httpd_request *req);
enum httpd_method httpd_request_method(const struct httpd_request *req);
const char *httpd_request_method_name(const struct httpd_request *req);
/* The request target as sent ("/v1/verdict?max_age=5"). */
const char *httpd_request_target(const struct httpd_request *req);
/* First header of that name (case-insensitive), NULL when absent. */
const char *httpd_request_header(const struct httpd_request *req, const char *name);
const void *httpd_request_body(const struct httpd_request *req, size_t *ret_len);
/* The connection closes after this request's reply. */
bool httpd_request_closes(const struct httpd_request *req);

/*
 * Answer req and free it. headers: extra header lines, each ending in
 * "\r\n" (may be NULL); content_type may be NULL when there is no body.
 * secret: the body is wiped from our buffers once written. The server adds
 * Content-Length, Connection: close when the connection ends, and drops the
 * body for HEAD.
 */
void httpd_reply(struct httpd_request *req, int status, const char *headers, const char *content_type,
                 const void *body, size_t len, bool secret);

const char *httpd_status_text(int status);

#endif
