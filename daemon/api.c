/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "api"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
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
#include <event2/event.h>
#include <event2/util.h>

#include "daemon/api-parse.h"
#include "daemon/api-priv.h"
#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/httpd.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/peer.h"
#include "daemon/ratelimit.h"
#include "daemon/xalloc.h"

/*
 * Transport is daemon/httpd (a strict HTTP/1.1 server that bounds
 * connections, sizes and time); this file is the API on top of it: routes,
 * authorization, rate limits, replies. Each connection carries the caller's
 * identity, read from the kernel once, when a route first needs it.
 */

struct api_server {
        struct api *api;
        struct httpd *httpd;
        bool metrics_only;
};

struct api_conn {
        struct api_server *srv;
        struct httpd_conn *hc;
        bool have_caller;
        struct api_caller caller;
        struct peer_groups groups;
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
        LIST_HEAD(, api_pending) pending;       /* POST /v1/attest awaiting attest_done() */
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

/* ---- replies ------------------------------------------------------------ */

static void count(struct api_server *srv, const char *route, int code)
{
        metrics_api_request(srv->api->metrics, route, (unsigned) code);
}

/* Send body (stolen) as the one reply to req. headers: extra lines or NULL. */
static void reply_json(struct api_server *srv, struct httpd_request *req, const char *route, int code,
                       const char *headers, json_t *body, bool secret)
{
        char *text = NULL, *buf, hdrs[256];
        size_t len = 0;

        if (body)
                text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) {
                code = 500;
                text = xstrdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the reply\"}}");
        }
        len = strlen(text);
        buf = xmalloc(len + 1);
        memcpy(buf, text, len);
        buf[len++] = '\n';
        if (secret)
                freezero(text, len - 1);
        else
                free(text);
        snprintf(hdrs, sizeof(hdrs), "Cache-Control: no-store\r\n%s", headers ? headers : "");
        httpd_reply(req, code, hdrs, "application/json", buf, len, secret);
        if (secret)
                freezero(buf, len);
        else
                free(buf);
        count(srv, route, code);
}

static void reply_error(struct api_server *srv, struct httpd_request *req, const char *route, int code,
                        const char *headers, const char *ecode, const char *fmt, ...)
        __attribute__((format(printf, 7, 8)));

static void reply_error(struct api_server *srv, struct httpd_request *req, const char *route, int code,
                        const char *headers, const char *ecode, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        reply_json(srv, req, route, code, headers,
                   json_pack("{s:{s:s,s:s}}", "error", "code", ecode, "message", msg), false);
}

/* ---- routes ------------------------------------------------------------- */

static void route_verdict(struct api_server *srv, struct httpd_request *req, long max_age)
{
        struct api *api = srv->api;
        json_t *doc = NULL;
        const char *text;
        size_t len;
        int code;

        if (max_age < 0 && api->ops->verdict_body) {
                code = api->ops->verdict_body(api->ud, &text, &len);
                if (code == 200 || code == 403 || code == 503) {
                        httpd_reply(req, code, "Cache-Control: no-store\r\n", "application/json", text, len, false);
                        count(srv, "verdict", code);
                        return;
                }
        }
        code = api->ops->verdict(api->ud, max_age, &doc);

        if (code != 200 && code != 403 && code != 503) {
                json_decref(doc);
                reply_error(srv, req, "verdict", 500, NULL, "internal", "the verdict is unavailable (%s)",
                            strerror(code < 0 ? -code : EINVAL));
                return;
        }
        if (!doc) {
                reply_error(srv, req, "verdict", 500, NULL, "internal", "the verdict document is missing");
                return;
        }
        reply_json(srv, req, "verdict", code, NULL, doc, false);
}

static void route_token(struct api_server *srv, struct httpd_request *req, const struct api_caller *caller)
{
        struct api *api = srv->api;
        char *jwt = NULL;
        int r = api->ops->token(api->ud, caller, &jwt);

        if (r == -ENODATA) {
                reply_error(srv, req, "token", 503, "Retry-After: 1\r\n", "no_token",
                            "no trusted token is held right now");
                return;
        }
        if (r == -EIO) {
                reply_error(srv, req, "token", 503, "Retry-After: 5\r\n", "audit_unavailable",
                            "the hand-out cannot be recorded in the audit log, so no token is handed out "
                            "(see /v1/status)");
                return;
        }
        if (r < 0 || !jwt) {
                reply_error(srv, req, "token", 500, NULL, "internal", "the token is unavailable (%s)",
                            strerror(r < 0 ? -r : EINVAL));
                return;
        }
        reply_json(srv, req, "token", 200, NULL, json_pack("{s:s}", "token", jwt), true);
        freezero(jwt, strlen(jwt));
}

struct api_pending {
        struct api_server *srv;         /* NULL once api_free() orphaned it */
        struct httpd_request *req;
        LIST_ENTRY(api_pending) link;   /* in api->pending while srv is set */
};

static void attest_done(void *arg, int status, json_t *body)
{
        struct api_pending *p = arg;

        if (p->srv)
                LIST_REMOVE(p, link);
        if (!p->srv) {
                /* The API and the request's connection are gone: replying
                 * only frees the request. */
                json_decref(body);
                httpd_reply(p->req, 503, NULL, NULL, NULL, 0, false);
        } else if (status < 200 || status > 599 || !body) {
                json_decref(body);
                reply_error(p->srv, p->req, "attest", 500, NULL, "internal", "the attestation failed");
        } else {
                reply_json(p->srv, p->req, "attest", status, status == 503 ? "Retry-After: 1\r\n" : NULL, body,
                           true);
        }
        free(p);
}

static void route_attest(struct api_server *srv, struct httpd_request *req, struct api_conn *c)
{
        struct api *api = srv->api;
        const char *ctype = httpd_request_header(req, "Content-Type");
        uint8_t nonce[API_NONCE_MAX_BYTES];
        size_t len = 0, nonce_len = 0;
        const char *body = httpd_request_body(req, &len);
        struct api_pending *p;
        struct err e = {};
        int r;

        if (!api_parse_is_json_content_type(ctype)) {
                reply_error(srv, req, "attest", 415, NULL, "unsupported_media_type",
                            "the request body must be application/json");
                return;
        }
        r = api_parse_attest_body(body ? body : "", len, nonce, &nonce_len, &e);
        if (r < 0) {
                reply_error(srv, req, "attest", r == -ENOMEM ? 500 : 400, NULL,
                            r == -ENOMEM ? "internal" : "bad_request", "%s", e.msg);
                return;
        }
        p = xcalloc(1, sizeof(*p));
        p->srv = srv;
        p->req = req;
        LIST_INSERT_HEAD(&api->pending, p, link);
        r = api->ops->attest(api->ud, &c->caller, nonce, nonce_len, attest_done, p);
        explicit_bzero(nonce, sizeof(nonce));
        if (r >= 0)
                return;         /* p belongs to attest_done() now */
        LIST_REMOVE(p, link);
        free(p);
        if (r == -EBUSY || r == -EAGAIN)
                reply_error(srv, req, "attest", 503, "Retry-After: 1\r\n", "busy",
                            "too many attestations in flight; retry");
        else
                reply_error(srv, req, "attest", 500, NULL, "internal", "cannot start an attestation (%s)",
                            strerror(-r));
}

static void route_refresh(struct api_server *srv, struct httpd_request *req, const struct api_caller *caller)
{
        struct api *api = srv->api;
        int r = api->ops->refresh(api->ud, caller);

        if (r == 0 || r == -EALREADY)
                reply_json(srv, req, "refresh", 202, NULL,
                           json_pack("{s:s}", "status", r == 0 ? "scheduled" : "in_progress"), false);
        else
                reply_error(srv, req, "refresh", 503, NULL, "unavailable", "cannot schedule a refresh (%s)",
                            strerror(-r));
}

static void route_metrics(struct api_server *srv, struct httpd_request *req)
{
        struct evbuffer *out = evbuffer_new();
        size_t len;

        if (!out || metrics_render(srv->api->metrics, out) < 0) {
                if (out)
                        evbuffer_free(out);
                reply_error(srv, req, "metrics", 500, NULL, "internal", "cannot render the metrics");
                return;
        }
        len = evbuffer_get_length(out);
        httpd_reply(req, 200, NULL, METRICS_CONTENT_TYPE, evbuffer_pullup(out, -1), len, false);
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

static void handle(struct api_server *srv, struct httpd_request *req, struct api_conn *c)
{
        struct api *api = srv->api;
        const char *uri = httpd_request_target(req), *route_name = API_ROUTE_NAME_OTHER, *q;
        enum httpd_method method = httpd_request_method(req);
        const struct api_route_info *info;
        char path[API_URI_MAX + 1];
        enum api_route route;
        long max_age = -1;
        struct err e = {};
        size_t plen, body_len = 0;
        int r;

        if (strlen(uri) > API_URI_MAX) {
                reply_error(srv, req, route_name, 414, NULL, "uri_too_long",
                            "the request target is longer than %d bytes", API_URI_MAX);
                return;
        }
        if (strchr(uri, '#')) {
                reply_error(srv, req, route_name, 400, NULL, "bad_request", "fragments are not accepted");
                return;
        }
        q = strchr(uri, '?');
        plen = q ? (size_t) (q - uri) : strlen(uri);
        memcpy(path, uri, plen);
        path[plen] = '\0';
        r = api_parse_route(path, &route, &e);
        if (r == 0 && srv->metrics_only && route != API_ROUTE_METRICS && route != API_ROUTE_HEALTHZ)
                r = err_set(&e, -ENOENT, "this listener serves only /metrics and /healthz");
        if (r < 0) {
                reply_error(srv, req, route_name, r == -ENOENT ? 404 : 400, NULL,
                            r == -ENOENT ? "not_found" : "bad_request", "%s", e.msg);
                return;
        }
        info = api_route_info(route);
        route_name = info->name;
        if (info->method == API_METHOD_GET ? (method != HTTPD_GET && method != HTTPD_HEAD) : method != HTTPD_POST) {
                reply_error(srv, req, route_name, 405,
                            info->method == API_METHOD_GET ? "Allow: GET, HEAD\r\n" : "Allow: POST\r\n",
                            "method_not_allowed", "%s accepts only %s", info->path,
                            info->method == API_METHOD_GET ? "GET" : "POST");
                return;
        }
        if (route == API_ROUTE_TOKEN && method == HTTPD_HEAD) {
                /* Every token hand-out is audited; a HEAD would be one without a token. */
                reply_error(srv, req, route_name, 405, "Allow: GET\r\n", "method_not_allowed",
                            "%s accepts only GET", info->path);
                return;
        }
        r = api_parse_query(route, q ? q + 1 : NULL, &max_age, &e);
        if (r < 0) {
                reply_error(srv, req, route_name, 400, NULL, "bad_request", "%s", e.msg);
                return;
        }
        (void) httpd_request_body(req, &body_len);
        if (route != API_ROUTE_ATTEST && body_len > 0) {
                reply_error(srv, req, route_name, 400, NULL, "bad_request", "%s takes no request body",
                            info->path);
                return;
        }

        if (info->scope != API_SCOPE_PUBLIC || info->rate_limited) {
                if (!c->have_caller) {
                        r = peer_identify(httpd_conn_fd(c->hc), api->proc_root, &c->caller, &c->groups);
                        if (r < 0) {
                                reply_error(srv, req, route_name, 500, NULL, "internal",
                                            "cannot identify the caller (%s)", strerror(-r));
                                return;
                        }
                        c->have_caller = true;
                }
                if (!caller_may(api, c, info->scope)) {
                        reply_error(srv, req, route_name, 403, NULL, "forbidden",
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
                        char h[40];
                        snprintf(h, sizeof(h), "Retry-After: %u\r\n", retry);
                        metrics_api_rate_limited(api->metrics, route_name);
                        reply_error(srv, req, route_name, 429, h, "rate_limited",
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
                        reply_json(srv, req, route_name, 200, NULL, doc, false);
                else
                        reply_error(srv, req, route_name, 500, NULL, "internal", "the status is unavailable");
                break;
        }
        case API_ROUTE_REFRESH:
                route_refresh(srv, req, &c->caller);
                break;
        case API_ROUTE_HEALTHZ:
                reply_json(srv, req, route_name, 200, NULL, json_pack("{s:s}", "status", "ok"), false);
                break;
        case API_ROUTE_READYZ:
                if (api->ops->ready(api->ud))
                        reply_json(srv, req, route_name, 200, NULL, json_pack("{s:s}", "status", "ready"), false);
                else
                        reply_error(srv, req, route_name, 503, NULL, "not_ready",
                                    "no definitive verdict is held yet");
                break;
        case API_ROUTE_METRICS:
                route_metrics(srv, req);
                break;
        default:
                reply_error(srv, req, route_name, 500, NULL, "internal", "unhandled route");
                break;
        }
}

static void request_cb(struct httpd_request *req, void *arg)
{
        struct api_server *srv = arg;
        struct httpd_conn *hc = httpd_request_conn(req);

        handle(srv, req, httpd_conn_userdata(hc));
}

static void *conn_open_cb(struct httpd_conn *hc, void *arg)
{
        struct api_server *srv = arg;
        struct api_conn *c = xcalloc(1, sizeof(*c));

        c->srv = srv;
        c->hc = hc;
        c->caller.pidfd = -1;
        if (!srv->metrics_only)
                metrics_api_connections(srv->api->metrics, httpd_connections(srv->httpd));
        return c;
}

static void conn_close_cb(void *conn_ud, void *arg)
{
        struct api_server *srv = arg;
        struct api_conn *c = conn_ud;

        peer_caller_done(&c->caller);
        free(c);
        if (!srv->metrics_only && srv->httpd)
                metrics_api_connections(srv->api->metrics, httpd_connections(srv->httpd));
}

static void rejected_cb(int status, void *arg)
{
        struct api_server *srv = arg;

        if (status == 503)
                metrics_api_connection_refused(srv->api->metrics);
        count(srv, API_ROUTE_NAME_OTHER, status);
}

/* ---- servers and sockets ------------------------------------------------- */

static int server_init(struct api *api, struct api_server *srv, bool metrics_only)
{
        const struct config *cfg = api->cfg;
        struct httpd_limits limits = {
                .max_connections = cfg->api.max_connections,
                .max_header_bytes = cfg->api.max_header_bytes,
                .max_body_bytes = metrics_only ? 0 : cfg->api.max_body_bytes,
                .request_timeout_ms = cfg->api.request_timeout_ms,
                .idle_timeout_ms = API_IDLE_TIMEOUT_MS,
                .write_timeout_ms = cfg->api.request_timeout_ms,
        };
        static const struct httpd_callbacks cbs = {
                .request = request_cb,
                .conn_open = conn_open_cb,
                .conn_close = conn_close_cb,
                .rejected = rejected_cb,
        };

        srv->api = api;
        srv->metrics_only = metrics_only;
        return httpd_new(api->base, &limits, &cbs, srv, &srv->httpd);
}

static void server_done(struct api_server *srv)
{
        struct httpd *h = srv->httpd;

        srv->httpd = NULL;      /* conn_close_cb() must not count during teardown */
        httpd_free(h);
}

int api_listen_fd(struct api *api, int fd)
{
        int r = httpd_listen_fd(api->main.httpd, fd);

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
        r = httpd_listen_fd(api->main.httpd, fd);
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
        {
                struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                          .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
                struct addrinfo *ai = NULL;
                char portstr[8];
                int fd, one = 1, g;

                snprintf(portstr, sizeof(portstr), "%lu", port);
                g = getaddrinfo(host, portstr, &hints, &ai);
                if (g != 0)
                        return log_error_errno(-EINVAL, "metrics_listen host '%s' is not a numeric address: %s",
                                               host, gai_strerror(g));
                fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0) {
                        r = -errno;
                        freeaddrinfo(ai);
                        return log_error_errno(r, "Cannot create the metrics socket: %m");
                }
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, API_LISTEN_BACKLOG) < 0 ? -errno : 0;
                freeaddrinfo(ai);
                if (r == 0)
                        r = httpd_listen_fd(api->msrv->httpd, fd);
                if (r < 0) {
                        close(fd);
                        return log_error_errno(r, "Cannot listen for metrics on %s:%lu: %m", host, port);
                }
        }
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
        LIST_INIT(&api->pending);
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

void api_set_config(struct api *api, const struct config *cfg)
{
        const struct config *old = api->cfg;

        if (old->api.rate_per_s != cfg->api.rate_per_s || old->api.rate_burst != cfg->api.rate_burst) {
                struct ratelimit *rl = ratelimit_new(cfg->api.rate_per_s, cfg->api.rate_burst, API_RATE_TABLE_MAX);
                if (rl) {
                        ratelimit_free(api->rl);
                        api->rl = rl;
                }
        }
        if (old->api.max_connections != cfg->api.max_connections ||
            old->api.max_header_bytes != cfg->api.max_header_bytes ||
            old->api.max_body_bytes != cfg->api.max_body_bytes ||
            old->api.request_timeout_ms != cfg->api.request_timeout_ms ||
            strcmp(old->api.socket, cfg->api.socket) != 0 || old->api.socket_mode != cfg->api.socket_mode ||
            (old->api.metrics_listen == NULL) != (cfg->api.metrics_listen == NULL) ||
            (old->api.metrics_listen && strcmp(old->api.metrics_listen, cfg->api.metrics_listen) != 0))
                log_notice("The socket, its bounds and the metrics listener change only at a restart");
        api->cfg = cfg;
        api->main.api = api;
}

unsigned api_connections(const struct api *api)
{
        return api->main.httpd ? httpd_connections(api->main.httpd) : 0;
}

struct api *api_free(struct api *api)
{
        struct api_pending *p;
        struct stat st;

        if (!api)
                return NULL;
        /* Their done() comes later, from the core, and must not touch us. */
        while ((p = LIST_FIRST(&api->pending))) {
                LIST_REMOVE(p, link);
                p->srv = NULL;
        }
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
        return api->msrv && api->msrv->httpd ? httpd_listener_fd(api->msrv->httpd, 0) : -1;
}
