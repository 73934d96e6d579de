/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define LOG_MODULE "httpd"
#include "daemon/httpd.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"

#define HTTPD_HEADERS_MAX       64      /* header fields in one request */
#define HTTPD_LISTENERS_MAX     4
#define HTTPD_REPLY_HEAD_MAX    2048

enum conn_state {
        CONN_READING,           /* waiting for (the rest of) a request */
        CONN_HANDLING,          /* the handler has the request */
        CONN_CLOSING,           /* the last reply drains, then the connection closes */
};

struct httpd_header {
        const char *name, *value;       /* into httpd_request.head */
};

struct httpd_request {
        struct httpd_conn *conn;        /* NULL once orphaned */
        enum httpd_method method;
        const char *method_name, *target;
        char *head;                     /* the request head, split in place */
        struct httpd_header headers[HTTPD_HEADERS_MAX];
        size_t n_headers;
        uint8_t *body;
        size_t body_len;
        bool closes;
};

struct httpd_conn {
        struct httpd *h;
        struct bufferevent *bev;
        struct event *timer;            /* idle, request deadline or write deadline */
        struct event *resume;           /* parse what is buffered, from the loop */
        enum conn_state state;
        bool request_started;           /* bytes of the current request arrived: the deadline runs */
        bool peer_eof;
        bool head_done, continue_sent;
        size_t body_needed;
        struct httpd_request *req;      /* being read or handled */
        void *ud;
        LIST_ENTRY(httpd_conn) link;
};

struct httpd {
        struct event_base *base;
        struct httpd_limits limits;
        struct httpd_callbacks cbs;
        void *ud;
        struct evconnlistener *listeners[HTTPD_LISTENERS_MAX];
        size_t n_listeners;
        unsigned n_conns;
        LIST_HEAD(, httpd_conn) conns;
};

static const struct {
        const char *name;
        enum httpd_method method;
} methods[] = {
        { "GET", HTTPD_GET },       { "HEAD", HTTPD_HEAD },   { "POST", HTTPD_POST },
        { "PUT", HTTPD_PUT },       { "DELETE", HTTPD_DELETE }, { "PATCH", HTTPD_PATCH },
        { "OPTIONS", HTTPD_OPTIONS },
};

const char *httpd_status_text(int status)
{
        switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
        }
}

static struct timeval ms_tv(unsigned ms)
{
        return (struct timeval) { .tv_sec = ms / 1000, .tv_usec = (suseconds_t) (ms % 1000) * 1000 };
}

static void arm(struct httpd_conn *c, unsigned ms)
{
        struct timeval tv = ms_tv(ms);

        (void) event_add(c->timer, &tv);
}

static struct httpd_request *request_free(struct httpd_request *req)
{
        if (!req)
                return NULL;
        if (req->body)
                freezero(req->body, req->body_len);
        free(req->head);
        free(req);
        return NULL;
}

static void conn_free(struct httpd_conn *c)
{
        struct httpd *h = c->h;

        LIST_REMOVE(c, link);
        h->n_conns--;
        if (c->req) {
                if (c->state == CONN_HANDLING)
                        c->req->conn = NULL;    /* the handler still answers it */
                else
                        request_free(c->req);
        }
        if (h->cbs.conn_close)
                h->cbs.conn_close(c->ud, h->ud);
        event_free(c->timer);
        event_free(c->resume);
        bufferevent_free(c->bev);
        free(c);
}

static void wipe_cb(const void *data, size_t len, void *extra)
{
        freezero((void *) data, len);
}

/* Queue a reply on the connection; the caller decides whether it closes. */
static void conn_write_reply(struct httpd_conn *c, int status, const char *headers, const char *content_type,
                             const void *body, size_t len, bool head_only, bool closes, bool secret)
{
        struct evbuffer *out = bufferevent_get_output(c->bev);
        char head[HTTPD_REPLY_HEAD_MAX];
        int n;

        n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s%s%s%sContent-Length: %zu\r\n%s\r\n", status,
                     httpd_status_text(status), content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "", headers ? headers : "", len,
                     closes ? "Connection: close\r\n" : "");
        if (n < 0 || (size_t) n >= sizeof(head)) {
                log_error("A reply's headers do not fit %d bytes: closing the connection", HTTPD_REPLY_HEAD_MAX);
                c->state = CONN_CLOSING;
                return;
        }
        if (evbuffer_add(out, head, (size_t) n) < 0)
                goto fail;
        if (!head_only && len > 0) {
                if (secret) {
                        /* Our own copy by reference: wiped when libevent lets go of it. */
                        uint8_t *copy = xmalloc(len);
                        memcpy(copy, body, len);
                        if (evbuffer_add_reference(out, copy, len, wipe_cb, NULL) < 0) {
                                freezero(copy, len);
                                goto fail;
                        }
                } else if (evbuffer_add(out, body, len) < 0) {
                        goto fail;
                }
        }
        return;
fail:
        log_error("Out of memory queueing a reply: closing the connection");
        c->state = CONN_CLOSING;
}


/* Close now, or once what is queued has been written. */
static void conn_finish(struct httpd_conn *c)
{
        c->state = CONN_CLOSING;
        (void) bufferevent_disable(c->bev, EV_READ);
        arm(c, c->h->limits.write_timeout_ms);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
                event_active(c->resume, 0, 0);  /* nothing to drain: close from the loop */
}

/* The server answers on its own and closes the connection. */
static void conn_reject(struct httpd_conn *c, int status, const char *code, const char *message)
{
        char body[512];
        int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code, message);

        if (c->h->cbs.rejected)
                c->h->cbs.rejected(status, c->h->ud);
        c->req = request_free(c->req);
        conn_write_reply(c, status, status == 503 ? "Retry-After: 1\r\n" : NULL, "application/json", body,
                         (size_t) n, false, true, false);
        conn_finish(c);
}

static bool is_tchar(unsigned char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The line at *p, NUL-terminated in place; *p moves past its CRLF. */
static char *next_line(char **p)
{
        char *line = *p, *end = strstr(line, "\r\n");

        if (end) {
                *end = '\0';
                *p = end + 2;
        } else {
                *p = line + strlen(line);
        }
        return line;
}

/* Split the head (NUL-terminated, without the final CRLF CRLF) in place. */
static int parse_head(struct httpd_request *req, int *ret_status, const char **ret_msg)
{
        char *p = req->head, *line, *sp1, *sp2;
        int minor;

        line = next_line(&p);
        sp1 = strchr(line, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
                goto bad_line;
        *sp1 = *sp2 = '\0';
        for (const char *m = line; *m; m++)
                if (!is_tchar((unsigned char) *m))
                        goto bad_line;
        if (!*line)
                goto bad_line;
        req->method_name = line;
        req->method = HTTPD_OTHER;
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
                if (strcmp(line, methods[i].name) == 0)
                        req->method = methods[i].method;
        req->target = sp1 + 1;
        if (req->target[0] != '/')
                goto bad_line;
        for (const unsigned char *t = (const unsigned char *) req->target; *t; t++)
                if (*t <= 0x20 || *t >= 0x7f)
                        goto bad_line;
        if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !(sp2[8] >= '0' && sp2[8] <= '9') || sp2[9]) {
                *ret_status = strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
                *ret_msg = *ret_status == 505 ? "only HTTP/1.x is spoken here" : "malformed request line";
                return -EPROTO;
        }
        minor = sp2[8] - '0';

        while (*p) {
                char *colon, *v, *ve;

                line = next_line(&p);
                if (req->n_headers >= HTTPD_HEADERS_MAX) {
                        *ret_status = 431;
                        *ret_msg = "too many header fields";
                        return -E2BIG;
                }
                colon = strchr(line, ':');
                if (!colon || colon == line)
                        goto bad_header;
                *colon = '\0';
                for (const char *n = line; *n; n++)
                        if (!is_tchar((unsigned char) *n))
                                goto bad_header;    /* also obsolete line folding */
                v = colon + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                ve = v + strlen(v);
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                        *--ve = '\0';
                for (const unsigned char *x = (const unsigned char *) v; *x; x++)
                        if ((*x < 0x20 && *x != '\t') || *x == 0x7f)
                                goto bad_header;
                req->headers[req->n_headers].name = line;
                req->headers[req->n_headers].value = v;
                req->n_headers++;
        }

        {
                const char *conn = httpd_request_header(req, "Connection");
                bool close_tok = conn && strcasestr(conn, "close");
                bool keep_tok = conn && strcasestr(conn, "keep-alive");
                req->closes = minor == 0 ? !keep_tok || close_tok : close_tok;
        }
        return 0;
bad_line:
        *ret_status = 400;
        *ret_msg = "malformed request line";
        return -EBADMSG;
bad_header:
        *ret_status = 400;
        *ret_msg = "malformed header field";
        return -EBADMSG;
}

/* The head is complete at offset hlen (+4 for CRLF CRLF): parse it and size the body. */
static void conn_take_head(struct httpd_conn *c, size_t hlen)
{
        struct evbuffer *in = bufferevent_get_input(c->bev);
        struct httpd_request *req = xcalloc(1, sizeof(*req));
        const char *msg = NULL, *te, *cl, *expect;
        int status = 0;

        req->conn = c;
        req->head = xmalloc(hlen + 1);
        (void) evbuffer_remove(in, req->head, hlen);
        req->head[hlen] = '\0';
        (void) evbuffer_drain(in, 4);
        c->req = req;
        c->head_done = true;
        c->continue_sent = false;

        if (memchr(req->head, '\0', hlen)) {
                conn_reject(c, 400, "bad_request", "NUL byte in the request head");
                return;
        }
        if (parse_head(req, &status, &msg) < 0) {
                conn_reject(c, status, status == 431 ? "header_too_large" : "bad_request", msg);
                return;
        }
        te = httpd_request_header(req, "Transfer-Encoding");
        if (te) {
                conn_reject(c, 501, "not_implemented",
                            "Transfer-Encoding is not supported: send the body with Content-Length");
                return;
        }
        c->body_needed = 0;
        cl = httpd_request_header(req, "Content-Length");
        if (cl) {
                unsigned long long v = 0;
                if (!*cl || strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 12) {
                        conn_reject(c, 400, "bad_request", "malformed Content-Length");
                        return;
                }
                v = strtoull(cl, NULL, 10);
                for (size_t i = 0; i < req->n_headers; i++)
                        if (strcasecmp(req->headers[i].name, "Content-Length") == 0 &&
                            strcmp(req->headers[i].value, cl) != 0) {
                                conn_reject(c, 400, "bad_request", "conflicting Content-Length fields");
                                return;
                        }
                if (v > c->h->limits.max_body_bytes) {
                        char m[128];
                        snprintf(m, sizeof(m), "the request body is larger than %u bytes",
                                 c->h->limits.max_body_bytes);
                        conn_reject(c, 413, "body_too_large", m);
                        return;
                }
                c->body_needed = (size_t) v;
        }
        expect = httpd_request_header(req, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0 && c->body_needed > 0 &&
            evbuffer_get_length(in) < c->body_needed) {
                (void) evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
                c->continue_sent = true;
        } else if (expect && strcasecmp(expect, "100-continue") != 0) {
                conn_reject(c, 417, "expectation_failed", "only Expect: 100-continue is understood");
                return;
        }
}

/* Parse whatever is buffered; hand a complete request to the handler. */
static void conn_process(struct httpd_conn *c)
{
        struct evbuffer *in = bufferevent_get_input(c->bev);
        struct httpd *h = c->h;
        size_t have = evbuffer_get_length(in);

        if (c->state != CONN_READING)
                return;
        if (!c->head_done) {
                struct evbuffer_ptr pos;

                if (have == 0) {
                        if (c->peer_eof)
                                conn_free(c);
                        return;
                }
                if (!c->request_started) {
                        c->request_started = true;
                        arm(c, h->limits.request_timeout_ms);
                }
                /* Tolerate blank lines before a request (RFC 9112 2.2). */
                while (have >= 2) {
                        unsigned char crlf[2];
                        if (evbuffer_copyout(in, crlf, 2) != 2 || crlf[0] != '\r' || crlf[1] != '\n')
                                break;
                        (void) evbuffer_drain(in, 2);
                        have -= 2;
                }
                pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
                if (pos.pos < 0 || (size_t) pos.pos + 4 > h->limits.max_header_bytes) {
                        if (pos.pos >= 0 || have >= h->limits.max_header_bytes) {
                                conn_reject(c, 431, "header_too_large", "the request head is too large");
                                return;
                        }
                        if (c->peer_eof)
                                conn_reject(c, 400, "bad_request", "the request ended before its head did");
                        return;
                }
                conn_take_head(c, (size_t) pos.pos);
                if (c->state != CONN_READING)
                        return;         /* rejected */
                have = evbuffer_get_length(in);
        }
        if (have < c->body_needed) {
                if (c->peer_eof)
                        conn_reject(c, 400, "bad_request", "the request ended before its body did");
                return;
        }
        if (c->body_needed > 0) {
                c->req->body = xmalloc(c->body_needed);
                c->req->body_len = c->body_needed;
                (void) evbuffer_remove(in, c->req->body, c->body_needed);
        }
        if (c->peer_eof)
                c->req->closes = true;
        /* The request is complete: stop reading, hand it over. */
        c->state = CONN_HANDLING;
        c->head_done = false;
        c->request_started = false;
        c->body_needed = 0;
        (void) event_del(c->timer);
        (void) bufferevent_disable(c->bev, EV_READ);
        h->cbs.request(c->req, h->ud);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
        struct httpd_conn *c = arg;

        if (c->state == CONN_CLOSING) {
                if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
                        conn_free(c);
                return;
        }
        conn_process(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
        conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
        struct httpd_conn *c = arg;

        if (c->state == CONN_CLOSING) {
                conn_free(c);
                return;
        }
        if (c->state != CONN_READING)
                return;
        /* A reply (or a 100 Continue) has drained: read on, and parse what
         * a pipelining client has buffered meanwhile. */
        if (!c->request_started)
                arm(c, c->h->limits.idle_timeout_ms);
        (void) bufferevent_enable(c->bev, EV_READ);
        event_active(c->resume, 0, 0);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
        struct httpd_conn *c = arg;

        if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && c->state != CONN_CLOSING) {
                /* A half-close after a complete request still gets its reply. */
                c->peer_eof = true;
                if (c->state == CONN_READING)
                        conn_process(c);
                return;
        }
        conn_free(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
        struct httpd_conn *c = arg;

        if (c->state == CONN_CLOSING || (c->state == CONN_READING && !c->request_started)) {
                conn_free(c);   /* idle, or a reply nobody reads */
                return;
        }
        if (c->state == CONN_READING)
                conn_reject(c, 408, "request_timeout", "the request was not received in time");
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
        struct httpd *h = arg;
        struct httpd_conn *c;

        if (h->n_conns >= h->limits.max_connections) {
                static const char body[] =
                        "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the connection limit is reached\"}}\n";
                char busy[256];
                int n = snprintf(busy, sizeof(busy),
                                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                 "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                                 sizeof(body) - 1, body);
                if (n > 0 && (size_t) n < sizeof(busy))
                        (void) send(fd, busy, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
                close(fd);
                if (h->cbs.rejected)
                        h->cbs.rejected(503, h->ud);
                return;
        }
        c = xcalloc(1, sizeof(*c));
        c->h = h;
        c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
        c->timer = evtimer_new(h->base, conn_timer_cb, c);
        c->resume = event_new(h->base, -1, 0, conn_resume_cb, c);
        if (!c->bev || !c->timer || !c->resume) {
                log_error("Out of memory accepting a connection");
                if (c->bev)
                        bufferevent_free(c->bev);
                else
                        close(fd);
                if (c->timer)
                        event_free(c->timer);
                if (c->resume)
                        event_free(c->resume);
                free(c);
                return;
        }
        LIST_INSERT_HEAD(&h->conns, c, link);
        h->n_conns++;
        bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
        /* Never buffer more than one whole request. */
        bufferevent_setwatermark(c->bev, EV_READ, 0,
                                 (size_t) h->limits.max_header_bytes + h->limits.max_body_bytes + 4);
        (void) bufferevent_enable(c->bev, EV_READ);
        arm(c, h->limits.idle_timeout_ms);
        if (h->cbs.conn_open)
                c->ud = h->cbs.conn_open(c, h->ud);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
        int e = errno;

        /* EMFILE and friends: the listener retries on the next readiness. */
        log_warning("Cannot accept a connection: %s", strerror(e));
}

void httpd_reply(struct httpd_request *req, int status, const char *headers, const char *content_type,
                 const void *body, size_t len, bool secret)
{
        struct httpd_conn *c = req->conn;
        bool closes;

        if (!c) {
                request_free(req);
                return;
        }
        closes = req->closes || c->peer_eof;
        conn_write_reply(c, status, headers, content_type, body, len, req->method == HTTPD_HEAD, closes, secret);
        c->req = request_free(req);
        if (closes || c->state == CONN_CLOSING) {
                conn_finish(c);
                return;
        }
        /* Keep-alive: the next request (maybe already buffered) is read once
         * this reply has drained (conn_write_cb), within the write timeout.
         * A client that pipelines requests and never reads the replies thus
         * has at most one reply queued here, not one per request. */
        c->state = CONN_READING;
        arm(c, c->h->limits.write_timeout_ms);
}

int httpd_new(struct event_base *base, const struct httpd_limits *limits, const struct httpd_callbacks *cbs,
              void *ud, struct httpd **ret)
{
        struct httpd *h;

        if (!base || !limits || !cbs || !cbs->request || limits->max_connections < 1 ||
            limits->max_header_bytes < 64 || limits->request_timeout_ms < 1 || limits->idle_timeout_ms < 1 ||
            limits->write_timeout_ms < 1)
                return -EINVAL;
        h = xcalloc(1, sizeof(*h));
        h->base = base;
        h->limits = *limits;
        h->cbs = *cbs;
        h->ud = ud;
        LIST_INIT(&h->conns);
        *ret = h;
        return 0;
}

int httpd_listen_fd(struct httpd *h, int fd)
{
        struct evconnlistener *l;

        if (h->n_listeners >= HTTPD_LISTENERS_MAX)
                return -E2BIG;
        if (evutil_make_socket_nonblocking(fd) < 0)
                return -errno;
        l = evconnlistener_new(h->base, accept_cb, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
        if (!l)
                return -ENOMEM;
        evconnlistener_set_error_cb(l, accept_error_cb);
        h->listeners[h->n_listeners++] = l;
        return 0;
}

int httpd_listener_fd(const struct httpd *h, size_t i)
{
        return i < h->n_listeners ? (int) evconnlistener_get_fd(h->listeners[i]) : -1;
}

unsigned httpd_connections(const struct httpd *h)
{
        return h->n_conns;
}

struct httpd *httpd_free(struct httpd *h)
{
        struct httpd_conn *c;

        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_listeners; i++)
                evconnlistener_free(h->listeners[i]);
        while ((c = LIST_FIRST(&h->conns)))
                conn_free(c);
        free(h);
        return NULL;
}

int httpd_conn_fd(const struct httpd_conn *c)
{
        return (int) bufferevent_getfd(c->bev);
}

void *httpd_conn_userdata(const struct httpd_conn *c)
{
        return c->ud;
}

struct httpd_conn *httpd_request_conn(const struct httpd_request *req)
{
        return req->conn;
}

enum httpd_method httpd_request_method(const struct httpd_request *req)
{
        return req->method;
}

const char *httpd_request_method_name(const struct httpd_request *req)
{
        return req->method_name;
}

const char *httpd_request_target(const struct httpd_request *req)
{
        return req->target;
}

const char *httpd_request_header(const struct httpd_request *req, const char *name)
{
        for (size_t i = 0; i < req->n_headers; i++)
                if (strcasecmp(req->headers[i].name, name) == 0)
                        return req->headers[i].value;
        return NULL;
}

const void *httpd_request_body(const struct httpd_request *req, size_t *ret_len)
{
        *ret_len = req->body_len;
        return req->body;
}

bool httpd_request_closes(const struct httpd_request *req)
{
        return req->closes || (req->conn && req->conn->peer_eof);
}
