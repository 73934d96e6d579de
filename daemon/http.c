/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "http"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "daemon/defaults.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"
#include "proto/err.h"

/*
 * One curl multi handle per client. curl tells us which sockets to watch
 * (socket_cb) and when to call it back (timer_cb); libevent tells curl when
 * a socket is ready or the timer fired (curl_multi_socket_action). Finished
 * transfers are collected with curl_multi_info_read and handed to their
 * callbacks outside any curl callback.
 */

struct http_sock {
        struct http_client *client;
        curl_socket_t fd;
        struct event *ev;
        struct http_sock *prev, *next;
};

struct http_transfer {
        struct http_client *client;
        CURL *easy;
        struct curl_slist *headers;
        http_done_cb cb;
        void *userdata;
        char *buf;
        size_t len, cap, max;
        bool too_big;
        bool oom;
        int64_t retry_after_s;
        char errbuf[CURL_ERROR_SIZE];
        struct http_transfer *prev, *next;
};

struct http_client {
        struct event_base *base;
        CURLM *multi;
        struct event *timer;
        struct http_transfer *transfers;
        struct http_sock *socks;
        unsigned n_transfers;
        bool shutting_down;
        bool curl_initialised;
};

static const char *const method_table[_HTTP_METHOD_MAX] = {
        [HTTP_GET] = "GET",
        [HTTP_POST] = "POST",
};

const char *http_method_to_string(enum http_method m)
{
        if (m < 0 || m >= _HTTP_METHOD_MAX)
                return NULL;
        return method_table[m];
}

/* ---- Retry-After ------------------------------------------------------ */

int http_parse_retry_after(const char *value, time_t now, int64_t *ret_s)
{
        char buf[128];
        size_t n;
        int64_t s = 0;

        if (!value)
                return -EINVAL;
        while (*value == ' ' || *value == '\t')
                value++;
        n = strlen(value);
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
                         value[n - 1] == '\n'))
                n--;
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, value, n);
        buf[n] = '\0';

        if (isdigit((unsigned char) buf[0])) {
                /* delta-seconds: digits only; saturate instead of overflowing */
                for (size_t i = 0; i < n; i++) {
                        if (!isdigit((unsigned char) buf[i]))
                                return -EINVAL;
                        if (s <= HTTP_RETRY_AFTER_MAX_S)
                                s = s * 10 + (buf[i] - '0');
                }
        } else {
                time_t t = curl_getdate(buf, NULL);
                if (t == (time_t) -1)
                        return -EINVAL;
                s = t > now ? (int64_t) (t - now) : 0;
        }
        *ret_s = s > HTTP_RETRY_AFTER_MAX_S ? HTTP_RETRY_AFTER_MAX_S : s;
        return 0;
}

/* ---- curl error mapping ---------------------------------------------- */

static int map_curl_error(const struct http_transfer *t, CURLcode code)
{
        long os_errno = 0;

        switch (code) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                if (curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
                    os_errno > 0 && os_errno != EINPROGRESS)
                        return (int) -os_errno;
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_WRITE_ERROR:
                return t->too_big ? -EMSGSIZE : t->oom ? -ENOMEM : -EIO;
        case CURLE_FILESIZE_EXCEEDED:
                return -EMSGSIZE;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_USE_SSL_FAILED:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_HTTP3:
        case CURLE_BAD_CONTENT_ENCODING:
                return -EPROTO;
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                return -ECONNRESET;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

/* ---- transfers ---------------------------------------------------------- */

static void transfer_unlink(struct http_transfer *t)
{
        struct http_client *c = t->client;

        if (t->prev)
                t->prev->next = t->next;
        else
                c->transfers = t->next;
        if (t->next)
                t->next->prev = t->prev;
        t->prev = t->next = NULL;
        c->n_transfers--;
}

/* Detach from curl and the client, then free. */
static void transfer_free(struct http_transfer *t)
{
        if (!t)
                return;
        if (t->easy) {
                (void) curl_multi_remove_handle(t->client->multi, t->easy);
                curl_easy_cleanup(t->easy);
        }
        transfer_unlink(t);
        curl_slist_free_all(t->headers);
        free(t->buf);
        free(t);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct http_transfer *t = userdata;
        size_t n = size * nmemb;        /* curl guarantees size == 1 */

        if (n > t->max - t->len) {
                t->too_big = true;
                return 0;       /* != n: curl aborts with CURLE_WRITE_ERROR */
        }
        if (t->len + n + 1 > t->cap) {
                size_t cap = t->cap ? t->cap : 4096;
                char *p;

                while (cap < t->len + n + 1)
                        cap *= 2;
                if (cap > t->max + 1)
                        cap = t->max + 1;
                p = realloc(t->buf, cap);
                if (!p) {
                        t->oom = true;
                        return 0;
                }
                t->buf = p;
                t->cap = cap;
        }
        memcpy(t->buf + t->len, ptr, n);
        t->len += n;
        t->buf[t->len] = '\0';
        return n;
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *userdata)
{
        static const char name[] = "retry-after:";
        struct http_transfer *t = userdata;
        size_t n = size * nitems;
        char value[128];
        int64_t s;

        /* a new status line starts a new response (1xx, proxy CONNECT) */
        if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
                t->retry_after_s = -1;
                return n;
        }
        if (n <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0)
                return n;
        if (n - (sizeof(name) - 1) >= sizeof(value))
                return n;       /* absurdly long: ignore the header */
        memcpy(value, line + sizeof(name) - 1, n - (sizeof(name) - 1));
        value[n - (sizeof(name) - 1)] = '\0';
        if (http_parse_retry_after(value, time(NULL), &s) == 0)
                t->retry_after_s = s;
        return n;
}

static bool header_valid(const char *h)
{
        const char *colon = strchr(h, ':');

        if (!colon || colon == h)
                return false;
        for (const char *p = h; *p; p++)
                if (*p == '\r' || *p == '\n')
                        return false;
        return true;
}

static int request_validate(const struct http_request *req)
{
        size_t n_headers = 0;

        if (!req->url || strlen(req->url) == 0 || strlen(req->url) > HTTP_URL_MAX_BYTES)
                return -EINVAL;
        if (!http_method_to_string(req->method))
                return -EINVAL;
        if (req->connect_timeout_ms == 0 || req->timeout_ms == 0 ||
            req->timeout_ms > HTTP_TIMEOUT_MS_MAX || req->connect_timeout_ms > req->timeout_ms)
                return -EINVAL;
        if (req->max_response_bytes == 0 || req->max_response_bytes > HTTP_RESPONSE_MAX_BYTES_MAX)
                return -EINVAL;
        if (req->body_len > 0 && (!req->body || req->method != HTTP_POST))
                return -EINVAL;
        if (req->body_len > MAA_REQUEST_MAX_BYTES)
                return -E2BIG;
        for (const char *const *h = req->headers; h && *h; h++) {
                if (++n_headers > HTTP_HEADERS_MAX || !header_valid(*h))
                        return -EINVAL;
        }
        return 0;
}

/* Every option of the fixed policy and of the request. Returns a CURLcode. */
static CURLcode transfer_setopts(struct http_transfer *t, const struct http_request *req)
{
        CURL *e = t->easy;
        CURLcode cc = CURLE_OK;

#define SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
        SET(CURLOPT_URL, req->url);
        SET(CURLOPT_PRIVATE, t);
        SET(CURLOPT_ERRORBUFFER, t->errbuf);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_NOPROGRESS, 1L);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        if (req->ca_file) {
                /* trust exactly this bundle, not the system directory as well */
                SET(CURLOPT_CAINFO, req->ca_file);
                SET(CURLOPT_CAPATH, NULL);
        }
        /* a replaced CA file is picked up within this time (curl caches stores) */
        SET(CURLOPT_CA_CACHE_TIMEOUT, (long) HTTP_CA_CACHE_S);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long) req->connect_timeout_ms);
        SET(CURLOPT_TIMEOUT_MS, (long) req->timeout_ms);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) req->max_response_bytes);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, t);
        SET(CURLOPT_HEADERFUNCTION, header_cb);
        SET(CURLOPT_HEADERDATA, t);
        if (req->no_proxy)
                SET(CURLOPT_NOPROXY, "*");
        if (req->method == HTTP_POST) {
                SET(CURLOPT_POST, 1L);
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
                SET(CURLOPT_COPYPOSTFIELDS, req->body_len > 0 ? (const char *) req->body : "");
        } else {
                SET(CURLOPT_HTTPGET, 1L);
        }
        if (t->headers)
                SET(CURLOPT_HTTPHEADER, t->headers);
#undef SET
        return cc;
}

int http_request_start(struct http_client *c, const struct http_request *req,
                       http_done_cb cb, void *userdata, struct http_transfer **ret_handle)
{
        struct http_transfer *t = NULL;
        CURLcode cc;
        CURLMcode mc;
        int r;

        if (!c || !req || !cb)
                return -EINVAL;
        if (c->shutting_down)
                return -ESHUTDOWN;
        r = request_validate(req);
        if (r < 0)
                return r;
        if (c->n_transfers >= HTTP_TRANSFERS_MAX)
                return -EBUSY;

        t = xcalloc(1, sizeof(*t));
        t->client = c;
        t->cb = cb;
        t->userdata = userdata;
        t->max = req->max_response_bytes;
        t->retry_after_s = -1;
        t->next = c->transfers;
        if (c->transfers)
                c->transfers->prev = t;
        c->transfers = t;
        c->n_transfers++;

        /* POST bodies go as they are: no "Expect: 100-continue" round trip */
        for (const char *const *h = req->headers; h && *h; h++) {
                struct curl_slist *l = curl_slist_append(t->headers, *h);
                if (!l) {
                        r = -ENOMEM;
                        goto fail;
                }
                t->headers = l;
        }
        if (req->method == HTTP_POST) {
                struct curl_slist *l = curl_slist_append(t->headers, "Expect:");
                if (!l) {
                        r = -ENOMEM;
                        goto fail;
                }
                t->headers = l;
        }

        t->easy = curl_easy_init();
        if (!t->easy) {
                r = -ENOMEM;
                goto fail;
        }
        cc = transfer_setopts(t, req);
        if (cc != CURLE_OK) {
                r = cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
                log_debug("Cannot set up request to '%s': %s", req->url, curl_easy_strerror(cc));
                goto fail;
        }
        mc = curl_multi_add_handle(c->multi, t->easy);
        if (mc != CURLM_OK) {
                r = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
                log_debug("curl_multi_add_handle: %s", curl_multi_strerror(mc));
                curl_easy_cleanup(t->easy);
                t->easy = NULL;
                goto fail;
        }
        log_debug("%s %s started", http_method_to_string(req->method), req->url);
        if (ret_handle)
                *ret_handle = t;
        return 0;

fail:
        transfer_free(t);
        return r;
}

void http_transfer_cancel(struct http_transfer *t)
{
        transfer_free(t);
}

unsigned http_client_in_flight(const struct http_client *c)
{
        return c ? c->n_transfers : 0;
}

/* Hand a finished (or aborted) transfer to its owner, then free it. */
static void transfer_complete(struct http_transfer *t, int error, const char *msg)
{
        struct http_response resp = {
                .error = error,
                .error_message = msg,
                .retry_after_s = t->retry_after_s,
        };
        curl_off_t total = 0;
        long status = 0;

        /* remove first: the callback may start transfers or cancel others */
        (void) curl_multi_remove_handle(t->client->multi, t->easy);
        if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
                resp.status = status;
        if (curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK && total > 0)
                resp.total_time_us = (uint64_t) total;
        if (error == 0) {
                if (!t->buf)
                        t->buf = xcalloc(1, 1);
                resp.body = t->buf;
                resp.body_len = t->len;
                t->buf = NULL;
        }
        t->cb(&resp, t->userdata);
        free(resp.body);
        transfer_free(t);
}

static void finish_transfer(struct http_transfer *t, CURLcode code)
{
        char msg[ERR_MSG_MAX];
        char *url = NULL;
        int error = map_curl_error(t, code);

        (void) curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
        if (error == 0)
                msg[0] = '\0';
        else if (error == -EMSGSIZE)
                (void) snprintf(msg, sizeof(msg), "response from '%s' exceeds the limit of %zu bytes",
                                url ? url : "?", t->max);
        else if (t->errbuf[0])
                (void) snprintf(msg, sizeof(msg), "%s: %s", curl_easy_strerror(code), t->errbuf);
        else
                (void) snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(code));
        log_debug("Transfer of '%s' done: %s", url ? url : "?", error == 0 ? "ok" : msg);
        transfer_complete(t, error, msg);
}

static void check_multi_info(struct http_client *c)
{
        CURLMsg *m;
        int pending;

        while ((m = curl_multi_info_read(c->multi, &pending))) {
                struct http_transfer *t = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &t) != CURLE_OK || !t)
                        continue;
                finish_transfer(t, m->data.result);
        }
}

/* ---- libevent <-> curl glue ------------------------------------------ */

static void socket_action(struct http_client *c, curl_socket_t fd, int flags)
{
        int running = 0;
        CURLMcode mc = curl_multi_socket_action(c->multi, fd, flags, &running);

        if (mc != CURLM_OK)
                log_warning("curl_multi_socket_action: %s", curl_multi_strerror(mc));
        check_multi_info(c);
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
        struct http_client *c = arg;
        int flags = 0;

        if (what & EV_READ)
                flags |= CURL_CSELECT_IN;
        if (what & EV_WRITE)
                flags |= CURL_CSELECT_OUT;
        socket_action(c, fd, flags);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
        (void) fd;
        (void) what;
        socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_free(struct http_sock *s)
{
        struct http_client *c = s->client;

        if (s->prev)
                s->prev->next = s->next;
        else
                c->socks = s->next;
        if (s->next)
                s->next->prev = s->prev;
        event_free(s->ev);
        free(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct http_client *c = userp;
        struct http_sock *s = socketp;
        short kind;

        (void) easy;
        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        (void) curl_multi_assign(c->multi, fd, NULL);
                        sock_free(s);
                }
                return 0;
        }
        kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
        if (!s) {
                s = xcalloc(1, sizeof(*s));
                s->client = c;
                s->fd = fd;
                s->next = c->socks;
                if (c->socks)
                        c->socks->prev = s;
                c->socks = s;
                (void) curl_multi_assign(c->multi, fd, s);
        } else {
                event_free(s->ev);
        }
        s->ev = event_new(c->base, fd, kind, event_cb, c);
        if (!s->ev || event_add(s->ev, NULL) < 0) {
                log_error("Cannot watch socket %d", (int) fd);
                return -1;
        }
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        struct http_client *c = userp;
        struct timeval tv;

        (void) multi;
        if (timeout_ms < 0)
                return evtimer_del(c->timer) < 0 ? -1 : 0;
        /* 0 means "as soon as possible": the loop calls back on its next turn,
         * never from inside this callback */
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        return evtimer_add(c->timer, &tv) < 0 ? -1 : 0;
}

/* ---- client ------------------------------------------------------------- */

int http_client_new(struct event_base *base, struct http_client **ret)
{
        struct http_client *c = NULL;
        int r = -EIO;

        if (!base || !ret)
                return -EINVAL;
        c = xcalloc(1, sizeof(*c));
        c->base = base;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                goto fail;
        c->curl_initialised = true;
        c->multi = curl_multi_init();
        c->timer = evtimer_new(base, timer_event_cb, c);
        if (!c->multi || !c->timer) {
                r = -ENOMEM;
                goto fail;
        }
        if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long) HTTP_MAXCONNECTS) != CURLM_OK)
                goto fail;
        *ret = c;
        return 0;

fail:
        (void) http_client_free(c);
        return r;
}

struct http_client *http_client_free(struct http_client *c)
{
        if (!c)
                return NULL;
        c->shutting_down = true;
        while (c->transfers)
                transfer_complete(c->transfers, -ECANCELED, "transfer cancelled: HTTP client shut down");
        if (c->multi)
                (void) curl_multi_cleanup(c->multi);
        /* curl normally says CURL_POLL_REMOVE for every socket; drop any left */
        while (c->socks)
                sock_free(c->socks);
        if (c->timer)
                event_free(c->timer);
        if (c->curl_initialised)
                curl_global_cleanup();
        free(c);
        return NULL;
}
