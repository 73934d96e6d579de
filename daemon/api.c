/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "api"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "daemon/api-parse.h"
#include "daemon/api-priv.h"
#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/peer.h"
#include "daemon/ratelimit.h"
#include "daemon/xalloc.h"

/*
 * Connection accounting. libevent 2.1 has no connection limit, and the
 * evhttp_set_bevcb() hook cannot refuse (returning NULL makes evhttp build
 * its own bufferevent), nor does evhttp tell anyone when a connection that
 * never sent a request goes away. So every connection gets a pass-through
 * filter bufferevent from the bevcb: creating it is the accept, and its
 * free_context callback is the close, whatever the reason. Connections
 * over api.max_connections are marked refused: their input is discarded
 * and they get a fixed 503 and are shut down. Past the limit plus
 * API_CONN_REFUSE_SLACK the listeners are paused, so further clients wait
 * in the kernel backlog and nothing grows.
 *
 * The filter's input callback also learns the connection's fd (evhttp sets
 * it after the bevcb), which is how a request finds its struct api_conn.
 *
 * Slow clients: evhttp's timeout is per read, so a client that trickles a
 * byte at a time would never hit it. Each connection has an absolute
 * deadline (api.request_timeout_ms) from accept, or from the end of the
 * previous reply, until its request has been read completely; when it
 * fires the connection gets a 408 and is shut down.
 */

struct api_server;

struct api_pending {
        struct api_conn *conn;          /* NULL once orphaned */
        struct evhttp_request *req;     /* NULL once the client is gone */
        LIST_ENTRY(api_pending) link;
};

struct api_conn {
        struct api_server *srv;         /* NULL after api_free() */
        struct bufferevent *bev;        /* the filter handed to evhttp (owned by evhttp) */
        struct evhttp_connection *evcon;/* known from the first request on; NULL once closed */
        struct event *deadline;
        int fd;                         /* -1 until the first input */
        bool refused, rejected, have_caller;
        bool closing;                   /* the current request ends the connection */
        struct api_caller caller;
        struct peer_groups groups;
        LIST_HEAD(, api_pending) pending;
        LIST_ENTRY(api_conn) link;
};

struct api_server {
        struct api *api;
        struct evhttp *http;
        bool metrics_only;
        bool paused;
        unsigned n_conns, n_refused;
        struct evhttp_bound_socket *bound[2];
        size_t n_bound;
        LIST_HEAD(, api_conn) conns;
};

struct api {
        struct event_base *base;
        const struct config *cfg;
        const struct api_ops *ops;
        void *ud;
        struct metrics *metrics;
        struct api_server main;
        struct api_server *msrv;        /* metrics_listen, optional */
        struct ratelimit *rl;
        struct api_conn **by_fd;
        size_t n_by_fd;
        char *socket_path;              /* created by us, unlinked by api_free() */
        dev_t sock_dev;
        ino_t sock_ino;
        char *proc_root;
};

static uint64_t now_usec(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static struct timeval ms_to_tv(unsigned ms)
{
        return (struct timeval) { .tv_sec = ms / 1000, .tv_usec = (suseconds_t) (ms % 1000) * 1000 };
}

/* ---- replies ------------------------------------------------------------ */

static void count(struct api_server *srv, const char *route, int code)
{
        metrics_api_request(srv->api->metrics, route, (unsigned) code);
}

/* evhttp 2.1 sends a body in reply to HEAD: send only its length. */
static void send_reply(struct evhttp_request *req, int code, struct evbuffer *out)
{
        char len[32];

        if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD && out) {
                snprintf(len, sizeof(len), "%zu", evbuffer_get_length(out));
                evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
                evhttp_send_reply(req, code, NULL, NULL);
                return;
        }
        evhttp_send_reply(req, code, NULL, out);
}

/* Send body (stolen) as the one reply to req. */
static void reply_json(struct api_server *srv, struct evhttp_request *req, const char *route,
                       int code, json_t *body, bool secret)
{
        struct evbuffer *out = evbuffer_new();
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        char *text = NULL;
        size_t len = 0;

        if (body)
                text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) {
                code = 500;
                text = xstrdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the reply\"}}");
        }
        len = strlen(text);
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_add_header(h, "Cache-Control", "no-store");
        if (!out || evbuffer_add(out, text, len) < 0 || evbuffer_add(out, "\n", 1) < 0) {
                if (out)
                        evbuffer_free(out);
                out = NULL;
                code = 500;
        }
        if (secret)
                freezero(text, len);
        else
                free(text);
        send_reply(req, code, out);
        if (out)
                evbuffer_free(out);
        count(srv, route, code);
}

static void reply_error(struct api_server *srv, struct evhttp_request *req, const char *route,
                        int code, const char *ecode, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static void reply_error(struct api_server *srv, struct evhttp_request *req, const char *route,
                        int code, const char *ecode, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        reply_json(srv, req, route, code,
                   json_pack("{s:{s:s,s:s}}", "error", "code", ecode, "message", msg), false);
}

/* A canned reply written straight to the socket of a connection evhttp is
 * not answering (refused or too slow), which is then shut down. */
static void conn_reject(struct api_conn *c, int code, const char *ecode, const char *msg)
{
        char body[API_REFUSED_REPLY_MAX / 2], buf[API_REFUSED_REPLY_MAX];
        int fd = c->fd >= 0 ? c->fd : (int) bufferevent_getfd(c->bev);
        int bl, n;

        if (c->rejected || fd < 0)
                return;
        c->rejected = true;
        bl = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", ecode, msg);
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     "%sContent-Length: %d\r\n\r\n%s",
                     code, code == 503 ? "Service Unavailable" : "Request Timeout",
                     code == 503 ? "Retry-After: 1\r\n" : "", bl, body);
        (void) send(fd, buf, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void) shutdown(fd, SHUT_RDWR);
}

/* ---- connection accounting ---------------------------------------------- */

static void server_update_accept(struct api_server *srv)
{
        unsigned total = srv->n_conns + srv->n_refused;
        unsigned cap = srv->api->cfg->api.max_connections + API_CONN_REFUSE_SLACK;
        bool pause = total >= cap;

        if (pause == srv->paused)
                return;
        for (size_t i = 0; i < srv->n_bound; i++) {
                struct evconnlistener *l = evhttp_bound_socket_get_listener(srv->bound[i]);
                if (pause)
                        (void) evconnlistener_disable(l);
                else
                        (void) evconnlistener_enable(l);
        }
        srv->paused = pause;
        if (pause)
                log_warning("%u connections open: not accepting more until some close", total);
}

static void conn_register_fd(struct api_conn *c)
{
        struct api *api = c->srv->api;
        int fd = (int) bufferevent_getfd(c->bev);

        if (fd < 0)
                return;
        if ((size_t) fd >= api->n_by_fd) {
                size_t n = (size_t) fd + 64;
                api->by_fd = xreallocarray(api->by_fd, n, sizeof(*api->by_fd));
                memset(api->by_fd + api->n_by_fd, 0, (n - api->n_by_fd) * sizeof(*api->by_fd));
                api->n_by_fd = n;
        }
        api->by_fd[fd] = c;
        c->fd = fd;
}

static struct api_conn *conn_lookup(struct api *api, struct bufferevent *bev)
{
        int fd = (int) bufferevent_getfd(bev);
        struct api_conn *c;

        if (fd < 0 || (size_t) fd >= api->n_by_fd)
                return NULL;
        c = api->by_fd[fd];
        return c && c->bev == bev ? c : NULL;
}

static void conn_orphan_pending(struct api_conn *c)
{
        struct api_pending *p;

        while ((p = LIST_FIRST(&c->pending))) {
                LIST_REMOVE(p, link);
                p->req = NULL;
                p->conn = NULL;
        }
}

/* Detach from the server: the memory itself goes in conn_free_cb(). */
static void conn_detach(struct api_conn *c)
{
        struct api_server *srv = c->srv;

        if (!srv)
                return;
        if (c->refused)
                srv->n_refused--;
        else
                srv->n_conns--;
        if (c->fd >= 0 && (size_t) c->fd < srv->api->n_by_fd && srv->api->by_fd[c->fd] == c)
                srv->api->by_fd[c->fd] = NULL;
        LIST_REMOVE(c, link);
        conn_orphan_pending(c);
        if (c->deadline) {
                event_free(c->deadline);
                c->deadline = NULL;
        }
        c->srv = NULL;
        if (!srv->metrics_only)
                metrics_api_connections(srv->api->metrics, srv->n_conns);
        server_update_accept(srv);
}

static void conn_free_cb(void *arg)
{
        struct api_conn *c = arg;

        conn_detach(c);
        peer_caller_done(&c->caller);
        free(c);
}

static enum bufferevent_filter_result conn_input_filter(struct evbuffer *src, struct evbuffer *dst,
                                                       ev_ssize_t limit,
                                                       enum bufferevent_flush_mode mode, void *arg)
{
        struct api_conn *c = arg;

        if (c->fd < 0 && c->srv)
                conn_register_fd(c);
        if (c->refused) {
                (void) evbuffer_drain(src, evbuffer_get_length(src));
                conn_reject(c, 503, "too_many_connections", "the connection limit is reached; retry");
                return BEV_OK;
        }
        return evbuffer_remove_buffer(src, dst, limit < 0 ? evbuffer_get_length(src) : (size_t) limit) < 0
                       ? BEV_ERROR
                       : BEV_OK;
}

/*
 * evhttp counts a reply as sent once the filter's output is empty, and when
 * the request ends the connection it then shuts the socket down at once.
 * So the reply to such a request is written straight to the socket here
 * (for a local socket it always fits the socket buffer); only what the
 * socket does not take goes on to the bufferevent below, in order. Replies
 * on connections that stay open take the normal path.
 */
static enum bufferevent_filter_result conn_output_filter(struct evbuffer *src, struct evbuffer *dst,
                                                        ev_ssize_t limit,
                                                        enum bufferevent_flush_mode mode, void *arg)
{
        struct api_conn *c = arg;
        int fd = c->fd >= 0 ? c->fd : (int) bufferevent_getfd(c->bev);

        if (c->closing && fd >= 0 && evbuffer_get_length(dst) == 0)
                while (evbuffer_get_length(src) > 0 && evbuffer_write(src, fd) > 0)
                        ;
        return evbuffer_remove_buffer(src, dst, evbuffer_get_length(src)) < 0 ? BEV_ERROR : BEV_OK;
}

static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
        struct api_conn *c = arg;

        if (c->refused) {
                conn_reject(c, 503, "too_many_connections", "the connection limit is reached; retry");
                return;
        }
        if (c->srv)
                count(c->srv, API_ROUTE_NAME_OTHER, 408);
        conn_reject(c, 408, "request_timeout", "the request was not received in time");
}

static void conn_arm_deadline(struct api_conn *c)
{
        struct timeval tv;

        if (!c->deadline || !c->srv)
                return;
        tv = ms_to_tv(c->srv->api->cfg->api.request_timeout_ms);
        (void) event_add(c->deadline, &tv);
}

static struct bufferevent *conn_new_cb(struct event_base *base, void *arg)
{
        struct api_server *srv = arg;
        struct api_conn *c = xcalloc(1, sizeof(*c));
        struct bufferevent *under = NULL, *f = NULL;

        c->fd = -1;
        c->caller.pidfd = -1;
        LIST_INIT(&c->pending);
        c->deadline = evtimer_new(base, conn_deadline_cb, c);
        under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (under)
                f = bufferevent_filter_new(under, conn_input_filter, conn_output_filter, BEV_OPT_CLOSE_ON_FREE,
                                           conn_free_cb, c);
        if (!c->deadline || !f) {
                /* evhttp falls back to a plain bufferevent; the request
                 * handler answers 503 on connections it cannot find. */
                log_error("Out of memory accepting a connection");
                if (under && !f)
                        bufferevent_free(under);
                if (c->deadline)
                        event_free(c->deadline);
                free(c);
                return NULL;
        }
        c->srv = srv;
        c->bev = f;
        if (srv->n_conns >= srv->api->cfg->api.max_connections) {
                c->refused = true;
                srv->n_refused++;
                metrics_api_connection_refused(srv->api->metrics);
        } else {
                srv->n_conns++;
                if (!srv->metrics_only)
                        metrics_api_connections(srv->api->metrics, srv->n_conns);
        }
        LIST_INSERT_HEAD(&srv->conns, c, link);
        conn_arm_deadline(c);
        server_update_accept(srv);
        return f;
}

static void conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
        struct api_conn *c = arg;

        c->evcon = NULL;
        if (c->deadline)
                event_del(c->deadline);
        conn_orphan_pending(c);
}

static void request_complete_cb(struct evhttp_request *req, void *arg)
{
        conn_arm_deadline(arg);         /* the next request on this connection */
}

/* ---- routes ------------------------------------------------------------- */

static void route_verdict(struct api_server *srv, struct evhttp_request *req, long max_age)
{
        struct api *api = srv->api;
        json_t *doc = NULL;
        int code = api->ops->verdict(api->ud, max_age, &doc);

        if (code != 200 && code != 403 && code != 503) {
                json_decref(doc);
                reply_error(srv, req, "verdict", 500, "internal", "the verdict is unavailable (%s)",
                            strerror(code < 0 ? -code : EINVAL));
                return;
        }
        if (!doc) {
                reply_error(srv, req, "verdict", 500, "internal", "the verdict document is missing");
                return;
        }
        reply_json(srv, req, "verdict", code, doc, false);
}

static void route_token(struct api_server *srv, struct evhttp_request *req, const struct api_caller *caller)
{
        struct api *api = srv->api;
        char *jwt = NULL;
        int r = api->ops->token(api->ud, caller, &jwt);

        if (r == -ENODATA) {
                reply_error(srv, req, "token", 503, "no_token", "no trusted token is held right now");
                return;
        }
        if (r < 0 || !jwt) {
                reply_error(srv, req, "token", 500, "internal", "the token is unavailable (%s)",
                            strerror(r < 0 ? -r : EINVAL));
                return;
        }
        reply_json(srv, req, "token", 200, json_pack("{s:s}", "token", jwt), true);
        freezero(jwt, strlen(jwt));
}

static void attest_done(void *arg, int status, json_t *body)
{
        struct api_pending *p = arg;

        if (p->req) {
                struct api_server *srv = p->conn->srv;
                LIST_REMOVE(p, link);
                if (status < 200 || status > 599 || !body) {
                        json_decref(body);
                        reply_error(srv, p->req, "attest", 500, "internal", "the attestation failed");
                } else {
                        reply_json(srv, p->req, "attest", status, body, true);
                }
        } else {
                json_decref(body);
        }
        free(p);
}

static void route_attest(struct api_server *srv, struct evhttp_request *req, struct api_conn *c)
{
        struct api *api = srv->api;
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        uint8_t nonce[API_NONCE_MAX_BYTES];
        size_t len = evbuffer_get_length(in), nonce_len = 0;
        struct api_pending *p;
        struct err e = {};
        const char *body;
        int r;

        if (!api_parse_is_json_content_type(ctype)) {
                reply_error(srv, req, "attest", 415, "unsupported_media_type",
                            "the request body must be application/json");
                return;
        }
        body = (const char *) evbuffer_pullup(in, (ev_ssize_t) len);
        r = api_parse_attest_body(body, len, nonce, &nonce_len, &e);
        if (r < 0) {
                reply_error(srv, req, "attest", r == -ENOMEM ? 500 : 400,
                            r == -ENOMEM ? "internal" : "bad_request", "%s", e.msg);
                return;
        }
        p = xcalloc(1, sizeof(*p));
        p->conn = c;
        p->req = req;
        LIST_INSERT_HEAD(&c->pending, p, link);
        r = api->ops->attest(api->ud, &c->caller, nonce, nonce_len, attest_done, p);
        explicit_bzero(nonce, sizeof(nonce));
        if (r >= 0)
                return;         /* p belongs to attest_done() now */
        LIST_REMOVE(p, link);
        free(p);
        if (r == -EBUSY || r == -EAGAIN) {
                evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
                reply_error(srv, req, "attest", 503, "busy", "too many attestations in flight; retry");
        } else {
                reply_error(srv, req, "attest", 500, "internal", "cannot start an attestation (%s)",
                            strerror(-r));
        }
}

static void route_refresh(struct api_server *srv, struct evhttp_request *req, const struct api_caller *caller)
{
        struct api *api = srv->api;
        int r = api->ops->refresh(api->ud, caller);

        if (r == 0 || r == -EALREADY)
                reply_json(srv, req, "refresh", 202,
                           json_pack("{s:s}", "status", r == 0 ? "scheduled" : "in_progress"), false);
        else
                reply_error(srv, req, "refresh", 503, "unavailable", "cannot schedule a refresh (%s)",
                            strerror(-r));
}

static void route_metrics(struct api_server *srv, struct evhttp_request *req)
{
        struct evbuffer *out = evbuffer_new();

        if (!out || metrics_render(srv->api->metrics, out) < 0) {
                if (out)
                        evbuffer_free(out);
                reply_error(srv, req, "metrics", 500, "internal", "cannot render the metrics");
                return;
        }
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", METRICS_CONTENT_TYPE);
        send_reply(req, 200, out);
        evbuffer_free(out);
        count(srv, "metrics", 200);
}

static bool caller_may(const struct api *api, const struct api_conn *c, enum api_scope scope)
{
        if (scope == API_SCOPE_PUBLIC)
                return true;
        if (c->caller.uid == 0)
                return true;
        if (scope == API_SCOPE_ROOT)
                return false;
        if (config_uid_may_use_token(api->cfg, c->caller.uid, c->caller.gid))
                return true;
        for (size_t i = 0; i < c->groups.n; i++)
                if (config_uid_may_use_token(api->cfg, (uid_t) -1, c->groups.gids[i]))
                        return true;
        return false;
}

static void handle(struct api_server *srv, struct evhttp_request *req, struct api_conn *c)
{
        struct api *api = srv->api;
        const char *uri = evhttp_request_get_uri(req), *route_name = API_ROUTE_NAME_OTHER, *q;
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        const struct api_route_info *info;
        char path[API_URI_MAX + 1];
        enum api_route route;
        long max_age = -1;
        struct err e = {};
        size_t plen;
        int r;

        if (!uri || strlen(uri) > API_URI_MAX) {
                reply_error(srv, req, route_name, 414, "uri_too_long", "the request target is longer than %d bytes",
                            API_URI_MAX);
                return;
        }
        q = strchr(uri, '?');
        plen = q ? (size_t) (q - uri) : strlen(uri);
        memcpy(path, uri, plen);
        path[plen] = '\0';
        if (strchr(uri, '#')) {
                reply_error(srv, req, route_name, 400, "bad_request", "fragments are not accepted");
                return;
        }
        r = api_parse_route(path, &route, &e);
        if (r == 0 && srv->metrics_only && route != API_ROUTE_METRICS && route != API_ROUTE_HEALTHZ)
                r = err_set(&e, -ENOENT, "this listener serves only /metrics and /healthz");
        if (r < 0) {
                reply_error(srv, req, route_name, r == -ENOENT ? 404 : 400,
                            r == -ENOENT ? "not_found" : "bad_request", "%s", e.msg);
                return;
        }
        info = api_route_info(route);
        route_name = info->name;
        if (info->method == API_METHOD_GET ? (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
                                           : cmd != EVHTTP_REQ_POST) {
                evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                                  info->method == API_METHOD_GET ? "GET, HEAD" : "POST");
                reply_error(srv, req, route_name, 405, "method_not_allowed", "%s accepts only %s", info->path,
                            info->method == API_METHOD_GET ? "GET" : "POST");
                return;
        }
        r = api_parse_query(route, q ? q + 1 : NULL, &max_age, &e);
        if (r < 0) {
                reply_error(srv, req, route_name, 400, "bad_request", "%s", e.msg);
                return;
        }
        if (route != API_ROUTE_ATTEST && evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) {
                reply_error(srv, req, route_name, 400, "bad_request", "%s takes no request body", info->path);
                return;
        }

        if (info->scope != API_SCOPE_PUBLIC) {
                if (!c->have_caller) {
                        r = peer_identify(c->fd, api->proc_root, &c->caller, &c->groups);
                        if (r < 0) {
                                reply_error(srv, req, route_name, 500, "internal",
                                            "cannot identify the caller (%s)", strerror(-r));
                                return;
                        }
                        c->have_caller = true;
                }
                if (!caller_may(api, c, info->scope)) {
                        reply_error(srv, req, route_name, 403, "forbidden",
                                    info->scope == API_SCOPE_ROOT
                                            ? "%s is for root only"
                                            : "%s is for root and the uids/gids in api.token_uids/api.token_gids",
                                    info->path);
                        return;
                }
        }
        if (info->rate_limited) {
                unsigned retry = 0;
                if (ratelimit_take(api->rl, c->caller.uid, now_usec(), &retry) < 0) {
                        char v[16];
                        snprintf(v, sizeof(v), "%u", retry);
                        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
                        metrics_api_rate_limited(api->metrics, route_name);
                        reply_error(srv, req, route_name, 429, "rate_limited",
                                    "too many requests from uid %u; retry in %u s", (unsigned) c->caller.uid,
                                    retry);
                        return;
                }
        }

        switch (route) {
        case API_ROUTE_VERDICT:
                route_verdict(srv, req, max_age);
                break;
        case API_ROUTE_TOKEN:
                route_token(srv, req, &c->caller);
                break;
        case API_ROUTE_ATTEST:
                route_attest(srv, req, c);
                break;
        case API_ROUTE_STATUS: {
                json_t *doc = api->ops->status(api->ud);
                if (doc)
                        reply_json(srv, req, route_name, 200, doc, false);
                else
                        reply_error(srv, req, route_name, 500, "internal", "the status is unavailable");
                break;
        }
        case API_ROUTE_REFRESH:
                route_refresh(srv, req, &c->caller);
                break;
        case API_ROUTE_HEALTHZ:
                reply_json(srv, req, route_name, 200, json_pack("{s:s}", "status", "ok"), false);
                break;
        case API_ROUTE_READYZ:
                if (api->ops->ready(api->ud))
                        reply_json(srv, req, route_name, 200, json_pack("{s:s}", "status", "ready"), false);
                else
                        reply_error(srv, req, route_name, 503, "not_ready", "no definitive verdict is held yet");
                break;
        case API_ROUTE_METRICS:
                route_metrics(srv, req);
                break;
        default:
                reply_error(srv, req, route_name, 500, "internal", "unhandled route");
                break;
        }
}

/* Will evhttp close the connection after this request (as evhttp 2.1 decides)? */
static bool request_ends_connection(struct evhttp_request *req)
{
        const char *conn = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
        char major = req->major, minor = req->minor;   /* no accessor in libevent 2.1 */

        if (conn && strcasecmp(conn, "close") == 0)
                return true;
        if (major == 1 && minor == 0)
                return !(conn && strcasecmp(conn, "keep-alive") == 0);
        return major < 1;
}

static void request_cb(struct evhttp_request *req, void *arg)
{
        struct api_server *srv = arg;
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        struct api_conn *c = conn_lookup(srv->api, evhttp_connection_get_bufferevent(evcon));

        if (!c) {
                reply_error(srv, req, API_ROUTE_NAME_OTHER, 503, "unavailable", "out of memory; retry");
                return;
        }
        if (c->deadline)
                event_del(c->deadline);
        if (!c->evcon) {
                c->evcon = evcon;
                evhttp_connection_set_closecb(evcon, conn_close_cb, c);
        }
        evhttp_request_set_on_complete_cb(req, request_complete_cb, c);
        c->closing = request_ends_connection(req);
        handle(srv, req, c);
}

/* ---- servers and sockets ------------------------------------------------- */

static int server_init(struct api *api, struct api_server *srv, bool metrics_only)
{
        const struct config *cfg = api->cfg;
        struct timeval tv = ms_to_tv(cfg->api.request_timeout_ms);

        srv->api = api;
        srv->metrics_only = metrics_only;
        LIST_INIT(&srv->conns);
        srv->http = evhttp_new(api->base);
        if (!srv->http)
                return -ENOMEM;
        evhttp_set_bevcb(srv->http, conn_new_cb, srv);
        evhttp_set_gencb(srv->http, request_cb, srv);
        evhttp_set_timeout_tv(srv->http, &tv);
        evhttp_set_max_headers_size(srv->http, cfg->api.max_header_bytes);
        evhttp_set_max_body_size(srv->http, metrics_only ? 0 : cfg->api.max_body_bytes);
        /* Everything else (TRACE, CONNECT...) is refused by libevent itself;
         * these reach the handler so that they get a JSON 405 with Allow. */
        evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                                      EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                      EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
        return 0;
}

static void server_done(struct api_server *srv)
{
        struct api_conn *c;

        if (srv->http)
                evhttp_free(srv->http);         /* closes connections: pending attests are orphaned */
        srv->http = NULL;
        /* Connections whose bufferevents are not destroyed yet (libevent
         * finalizes them on a later loop turn) let go of the server now. */
        while ((c = LIST_FIRST(&srv->conns)))
                conn_detach(c);
}

static int server_add_fd(struct api_server *srv, int fd)
{
        struct evhttp_bound_socket *b;

        if (srv->n_bound >= sizeof(srv->bound) / sizeof(srv->bound[0]))
                return -E2BIG;
        b = evhttp_accept_socket_with_handle(srv->http, fd);
        if (!b)
                return -ENOMEM;
        srv->bound[srv->n_bound++] = b;
        return 0;
}

int api_listen_fd(struct api *api, int fd)
{
        int r = server_add_fd(&api->main, fd);

        if (r < 0)
                return log_error_errno(r, "Cannot serve the socket-activated fd %d: %m", fd);
        log_info("Serving the local API on the socket-activated fd %d", fd);
        return 0;
}

static int check_socket_dir(const char *path)
{
        char *copy = xstrdup(path), *dir = dirname(copy);
        struct stat st;
        int r = 0;

        if (stat(dir, &st) < 0) {
                r = log_error_errno(-errno, "The socket directory '%s' is not usable: %m", dir);
        } else if (!S_ISDIR(st.st_mode)) {
                r = log_error_errno(-ENOTDIR, "The socket directory '%s' is not a directory", dir);
        } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                r = log_error_errno(-EPERM, "Refusing to create the socket in '%s': the directory is writable "
                                    "by group or others (mode %04o), who could replace the socket; use a "
                                    "directory like /run/attestd (0755)", dir, (unsigned) (st.st_mode & 07777));
        } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
                r = log_error_errno(-EPERM, "Refusing to create the socket in '%s': it belongs to uid %u, "
                                    "neither root nor us", dir, (unsigned) st.st_uid);
        }
        free(copy);
        return r;
}

/* A socket file that nobody answers on may be replaced; anything else not. */
static int clear_stale_socket(const struct sockaddr_un *sa, socklen_t salen)
{
        struct stat st;
        int fd, r;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Cannot inspect '%s': %m", sa->sun_path);
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(-EEXIST, "Refusing to replace '%s': it exists and is not a socket",
                                       sa->sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot create a socket: %m");
        r = connect(fd, (const struct sockaddr *) sa, salen) < 0 ? -errno : 0;
        close(fd);
        if (r == 0 || r == -EAGAIN)
                return log_error_errno(-EADDRINUSE, "Refusing to replace '%s': another process is serving on it",
                                       sa->sun_path);
        if (r != -ECONNREFUSED)
                return log_error_errno(r, "Refusing to replace '%s': cannot tell whether it is in use: %m",
                                       sa->sun_path);
        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Cannot remove the stale socket '%s': %m", sa->sun_path);
        log_info("Replaced the stale socket '%s'", sa->sun_path);
        return 0;
}

int api_listen_path(struct api *api)
{
        const char *path = api->cfg->api.socket;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen;
        struct stat st;
        mode_t old;
        int fd = -1, r;

        if (!path || path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-EINVAL, "The socket path must be absolute and shorter than %zu bytes",
                                       sizeof(sa.sun_path));
        if (api->socket_path)
                return -EALREADY;
        strcpy(sa.sun_path, path);
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        r = check_socket_dir(path);
        if (r < 0)
                return r;
        r = clear_stale_socket(&sa, salen);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot create a socket: %m");
        old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, salen) < 0 ? -errno : 0;
        umask(old);
        if (r < 0) {
                log_error_errno(r, "Cannot bind '%s': %m", path);
                goto fail;
        }
        if (chmod(path, api->cfg->api.socket_mode) < 0 || lstat(path, &st) < 0) {
                r = log_error_errno(-errno, "Cannot set the mode of '%s': %m", path);
                (void) unlink(path);
                goto fail;
        }
        if (listen(fd, API_LISTEN_BACKLOG) < 0) {
                r = log_error_errno(-errno, "Cannot listen on '%s': %m", path);
                (void) unlink(path);
                goto fail;
        }
        r = server_add_fd(&api->main, fd);
        if (r < 0) {
                log_error_errno(r, "Cannot serve '%s': %m", path);
                (void) unlink(path);
                goto fail;
        }
        api->socket_path = xstrdup(path);
        api->sock_dev = st.st_dev;
        api->sock_ino = st.st_ino;
        log_info("Serving the local API on %s (mode %04o)", path, (unsigned) api->cfg->api.socket_mode);
        return 0;
fail:
        close(fd);
        return r;
}

static int metrics_listen(struct api *api, const char *spec)
{
        char host[256];
        const char *colon = strrchr(spec, ':');
        unsigned long port;
        size_t hl;
        char *end;
        int r;

        if (!colon || colon == spec || !colon[1])
                return log_error_errno(-EINVAL, "metrics_listen '%s' is not HOST:PORT", spec);
        hl = (size_t) (colon - spec);
        if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
                spec++;
                hl -= 2;
        }
        if (hl == 0 || hl >= sizeof(host))
                return log_error_errno(-EINVAL, "metrics_listen '%s' has no usable host", spec);
        memcpy(host, spec, hl);
        host[hl] = '\0';
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || *end || port > 65535 || colon[1] < '0' || colon[1] > '9')
                return log_error_errno(-EINVAL, "metrics_listen port '%s' is not 0..65535", colon + 1);

        api->msrv = xcalloc(1, sizeof(*api->msrv));
        r = server_init(api, api->msrv, true);
        if (r < 0)
                return r;
        api->msrv->bound[0] = evhttp_bind_socket_with_handle(api->msrv->http, host, (ev_uint16_t) port);
        if (!api->msrv->bound[0])
                return log_error_errno(-EADDRINUSE, "Cannot listen for metrics on %s:%lu", host, port);
        api->msrv->n_bound = 1;
        log_info("Serving /metrics on %s:%lu", host, port);
        return 0;
}

int api_new(struct event_base *base, const struct config *cfg, const struct api_ops *ops, void *ud,
            struct metrics *metrics, struct api **ret)
{
        struct api *api = NULL;
        int r;

        if (!base || !cfg || !ops || !ops->verdict || !ops->token || !ops->attest || !ops->refresh ||
            !ops->status || !ops->ready || cfg->api.max_connections < 1)
                return -EINVAL;
        api = xcalloc(1, sizeof(*api));
        api->base = base;
        api->cfg = cfg;
        api->ops = ops;
        api->ud = ud;
        api->metrics = metrics;
        api->rl = ratelimit_new(cfg->api.rate_per_s, cfg->api.rate_burst, API_RATE_TABLE_MAX);
        if (!api->rl) {
                r = log_error_errno(-EINVAL, "Invalid rate limit %g/s burst %u", cfg->api.rate_per_s,
                                    cfg->api.rate_burst);
                goto fail;
        }
        r = server_init(api, &api->main, false);
        if (r < 0)
                goto fail;
        if (cfg->api.metrics_listen) {
                r = metrics_listen(api, cfg->api.metrics_listen);
                if (r < 0)
                        goto fail;
        }
        *ret = api;
        return 0;
fail:
        api_free(api);
        return r;
}

unsigned api_connections(const struct api *api)
{
        return api->main.n_conns;
}

struct api *api_free(struct api *api)
{
        struct stat st;

        if (!api)
                return NULL;
        server_done(&api->main);
        if (api->msrv) {
                server_done(api->msrv);
                free(api->msrv);
        }
        if (api->socket_path) {
                /* Only if the path still is the socket we made. */
                if (lstat(api->socket_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == api->sock_dev &&
                    st.st_ino == api->sock_ino)
                        (void) unlink(api->socket_path);
                free(api->socket_path);
        }
        ratelimit_free(api->rl);
        free(api->by_fd);
        free(api->proc_root);
        free(api);
        return NULL;
}

/* ---- test seams (api-priv.h) ----------------------------------------------- */

void api_priv_set_proc_root(struct api *api, const char *dir)
{
        free(api->proc_root);
        api->proc_root = dir ? xstrdup(dir) : NULL;
}

int api_priv_metrics_fd(const struct api *api)
{
        if (!api->msrv || api->msrv->n_bound == 0)
                return -1;
        return (int) evhttp_bound_socket_get_fd(api->msrv->bound[0]);
}
