/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Drives daemon/http.c and the async calls of daemon/maa.c against the local
 * test server (tests/integration/http-test-server.py), on one event loop
 * with a 5 ms ticker that must keep ticking while transfers run.
 *
 *   http-check TLS_PORT PLAIN_PORT CA_PEM WRONG_CA_PEM
 *
 * Prints one "ok"/"not ok" line per check and "N passed, N failed".
 * Exit 0 when all passed, 1 otherwise. $HTTP_CHECK_MAX_GAP_MS bounds the
 * largest pause of the ticker (default 1000; raise it under valgrind).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/config.h"
#include "daemon/http.h"
#include "daemon/maa.h"
#include "proto/b64.h"

static struct event_base *base;
static struct http_client *client;
static const char *ca, *wrong_ca;
static unsigned tls_port, plain_port;
static unsigned n_pass, n_fail;
static uint64_t last_tick_us, max_gap_us;
static unsigned ticks;

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
        uint64_t t = now_us();

        (void) fd;
        (void) what;
        (void) arg;
        if (last_tick_us && t - last_tick_us > max_gap_us)
                max_gap_us = t - last_tick_us;
        last_tick_us = t;
        ticks++;
}

static void report(bool ok, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *name, const char *fmt, ...)
{
        va_list ap;

        printf("%s %u - %s", ok ? "ok" : "not ok", n_pass + n_fail + 1, name);
        if (fmt) {
                printf(": ");
                va_start(ap, fmt);
                vprintf(fmt, ap);
                va_end(ap);
        }
        printf("\n");
        fflush(stdout);
        if (ok)
                n_pass++;
        else
                n_fail++;
}

/* ---- one request, run to completion -------------------------------------- */

struct result {
        bool done;
        int error;
        char message[512];
        long status;
        char *body;
        size_t body_len;
        int64_t retry_after_s;
        uint64_t total_time_us;
        unsigned *counter;
};

static void result_cb(struct http_response *resp, void *userdata)
{
        struct result *r = userdata;

        r->done = true;
        r->error = resp->error;
        (void) snprintf(r->message, sizeof(r->message), "%s", resp->error_message);
        r->status = resp->status;
        r->body = resp->body;           /* take ownership */
        resp->body = NULL;
        r->body_len = resp->body_len;
        r->retry_after_s = resp->retry_after_s;
        r->total_time_us = resp->total_time_us;
        if (r->counter)
                (*r->counter)--;
        if (!r->counter || *r->counter == 0)
                (void) event_base_loopbreak(base);
}

static void result_done(struct result *r)
{
        free(r->body);
        r->body = NULL;
}

static char *url(bool tls, const char *host, const char *path)
{
        static char buf[512];

        (void) snprintf(buf, sizeof(buf), "%s://%s:%u%s", tls ? "https" : "http", host,
                        tls ? tls_port : plain_port, path);
        return buf;
}

static struct http_request base_req(const char *u)
{
        return (struct http_request) {
                .method = HTTP_GET,
                .url = u,
                .ca_file = ca,
                .connect_timeout_ms = 2000,
                .timeout_ms = 5000,
                .max_response_bytes = 64 * 1024,
        };
}

/* Run req; returns elapsed ms, fills *res. */
static uint64_t run(const struct http_request *req, struct result *res)
{
        uint64_t t0 = now_us();
        int r;

        *res = (struct result) { .retry_after_s = -2 };
        r = http_request_start(client, req, result_cb, res, NULL);
        if (r < 0) {
                res->done = true;
                res->error = r;
                (void) snprintf(res->message, sizeof(res->message), "start failed: %s", strerror(-r));
                return 0;
        }
        while (!res->done)
                (void) event_base_loop(base, EVLOOP_ONCE);
        return (now_us() - t0) / 1000;
}

/* ---- checks -------------------------------------------------------------- */

static void check_tls_ok(void)
{
        struct http_request req = base_req(url(true, "localhost", "/ok"));
        struct result r;

        run(&req, &r);
        report(r.error == 0 && r.status == 200 && r.body && strcmp(r.body, "{\"ok\":true}") == 0 &&
               r.body[r.body_len] == '\0' && r.retry_after_s == -1 && r.total_time_us > 0,
               "TLS verified with the CA file", "error %d '%s' status %ld retry_after %lld", r.error,
               r.message, r.status, (long long) r.retry_after_s);
        result_done(&r);
}

static void check_tls_fail(const char *name, const char *host, const char *ca_file)
{
        struct http_request req = base_req(url(true, host, "/ok"));
        struct result r;

        req.ca_file = ca_file;
        run(&req, &r);
        report(r.error == -EPROTO && r.status == 0 && !r.body && strlen(r.message) > 10, name,
               "error %d '%s'", r.error, r.message);
        result_done(&r);
}

static void check_refused(void)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        char u[128];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct http_request req;
        struct result r;

        /* a port that was just free: nothing listens there */
        (void) bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        (void) getsockname(fd, (struct sockaddr *) &sa, &sl);
        close(fd);
        (void) snprintf(u, sizeof(u), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
        req = base_req(u);
        run(&req, &r);
        report(r.error == -ECONNREFUSED, "connection refused", "error %d '%s'", r.error, r.message);
        result_done(&r);
}

static void check_connect_timeout(void)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int lfd, c1, c2;
        char u[128];
        struct http_request req;
        struct result r;
        uint64_t ms;

        /* a listener with backlog 0 that never accepts: once one connection
         * waits in its queue, the kernel drops further SYNs */
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void) bind(lfd, (struct sockaddr *) &sa, sizeof(sa));
        (void) listen(lfd, 0);
        (void) getsockname(lfd, (struct sockaddr *) &sa, &sl);
        c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void) connect(c1, (struct sockaddr *) &sa, sizeof(sa));
        c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        (void) connect(c2, (struct sockaddr *) &sa, sizeof(sa));
        (void) snprintf(u, sizeof(u), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
        req = base_req(u);
        req.connect_timeout_ms = 300;
        req.timeout_ms = 10000;
        ms = run(&req, &r);
        report(r.error == -ETIMEDOUT && ms >= 250 && ms < 3000, "connect timeout (listener never accepts)",
               "error %d '%s' after %llu ms", r.error, r.message, (unsigned long long) ms);
        result_done(&r);
        close(c2);
        close(c1);
        close(lfd);
}

static void check_total_timeout(void)
{
        struct http_request req = base_req(url(true, "localhost", "/hang"));
        struct result r;
        uint64_t ms;

        req.connect_timeout_ms = 500;
        req.timeout_ms = 500;
        ms = run(&req, &r);
        report(r.error == -ETIMEDOUT && ms >= 450 && ms < 3000, "total timeout on a hanging server",
               "error %d '%s' after %llu ms", r.error, r.message, (unsigned long long) ms);
        result_done(&r);
}

static void check_cap(const char *path, const char *name)
{
        struct http_request req = base_req(url(true, "localhost", path));
        struct result r;

        req.max_response_bytes = 100 * 1024;
        run(&req, &r);
        report(r.error == -EMSGSIZE && strstr(r.message, "exceeds the limit of 102400 bytes") && !r.body,
               name, "error %d '%s'", r.error, r.message);
        result_done(&r);
}

static void check_retry_after(void)
{
        struct http_request req = base_req(url(true, "localhost", "/retry-delta"));
        struct result r;

        run(&req, &r);
        report(r.error == 0 && r.status == 429 && r.retry_after_s == 7 && strstr(r.body, "TooManyRequests"),
               "Retry-After delta-seconds on 429", "status %ld retry_after %lld", r.status,
               (long long) r.retry_after_s);
        result_done(&r);
        req.url = url(true, "localhost", "/retry-date");
        run(&req, &r);
        report(r.error == 0 && r.status == 503 && r.retry_after_s >= 25 && r.retry_after_s <= 31,
               "Retry-After HTTP-date on 503", "status %ld retry_after %lld", r.status,
               (long long) r.retry_after_s);
        result_done(&r);
}

static void check_truncated(void)
{
        struct http_request req = base_req(url(true, "localhost", "/truncated"));
        struct result r;

        run(&req, &r);
        report(r.error == -ECONNRESET && !r.body, "truncated body is an error", "error %d '%s'", r.error,
               r.message);
        result_done(&r);
}

static void check_redirect(void)
{
        struct http_request req = base_req(url(true, "localhost", "/redirect"));
        struct result r, hits;

        run(&req, &r);
        req.url = url(true, "localhost", "/hits");
        run(&req, &hits);
        report(r.error == 0 && r.status == 302 && strcmp(r.body, "moved") == 0 && hits.body &&
               strcmp(hits.body, "0") == 0, "redirect returned, not followed", "status %ld, target hits %s",
               r.status, hits.body ? hits.body : "?");
        result_done(&r);
        result_done(&hits);
}

static void check_post_and_reuse(void)
{
        static const char *const headers[] = { "Content-Type: application/json", "User-Agent: attestd/test",
                                               NULL };
        struct http_request req = base_req(url(true, "localhost", "/echo"));
        struct result r, c1, c2;

        req.method = HTTP_POST;
        req.body = "{\"hello\":\"world\"}";
        req.body_len = strlen(req.body);
        req.headers = headers;
        run(&req, &r);
        report(r.error == 0 && r.status == 200 && r.body &&
               strstr(r.body, "\"method\": \"POST\"") && strstr(r.body, "{\\\"hello\\\":\\\"world\\\"}") &&
               strstr(r.body, "\"user_agent\": \"attestd/test\"") && strstr(r.body, "\"expect\": null") &&
               strstr(r.body, "\"content_type\": \"application/json\""),
               "POST body and headers sent as given", "%s", r.body ? r.body : r.message);
        result_done(&r);

        req = base_req(url(true, "localhost", "/conn"));
        run(&req, &c1);
        run(&req, &c2);
        report(c1.body && c2.body && strcmp(c1.body, c2.body) == 0, "connection reused for the same host",
               "client ports %s and %s", c1.body ? c1.body : "?", c2.body ? c2.body : "?");
        result_done(&c1);
        result_done(&c2);
}

/* 50 requests that each wait slow_ms on the server run at once. A client
 * that blocked the loop would stall the ticker for slow_ms at least, so the
 * largest pause must stay below half of it (CPU bursts of 50 handshakes in
 * one curl_multi_socket_action are allowed). */
static void check_concurrent(void)
{
        enum { N = 50 };
        struct result rs[N];
        const char *gap_env = getenv("HTTP_CHECK_MAX_GAP_MS");
        uint64_t gap_max_ms = gap_env ? strtoull(gap_env, NULL, 10) : 1000;
        uint64_t slow_ms = 2 * gap_max_ms, t0, ms;
        char path[64];
        struct http_request req;
        unsigned pending = N, ok = 0, ticks0 = ticks;
        int started = 0;

        (void) snprintf(path, sizeof(path), "/slow?ms=%llu", (unsigned long long) slow_ms);
        req = base_req(url(true, "localhost", path));
        req.timeout_ms = 60000;
        req.connect_timeout_ms = 30000;
        max_gap_us = 0;
        last_tick_us = 0;
        t0 = now_us();
        for (int i = 0; i < N; i++) {
                rs[i] = (struct result) { .counter = &pending };
                if (http_request_start(client, &req, result_cb, &rs[i], NULL) == 0)
                        started++;
        }
        while (pending > 0 && started == N)
                (void) event_base_loop(base, EVLOOP_ONCE);
        ms = (now_us() - t0) / 1000;
        for (int i = 0; i < N; i++) {
                if (rs[i].done && rs[i].error == 0 && rs[i].status == 200)
                        ok++;
                result_done(&rs[i]);
        }
        report(ok == N && ms < 5 * slow_ms && max_gap_us / 1000 < gap_max_ms,
               "50 concurrent requests, loop never blocked",
               "%u/%d ok in %llu ms (server delay %llu ms), %u ticks, largest loop pause %llu ms", ok, N,
               (unsigned long long) ms, (unsigned long long) slow_ms, ticks - ticks0,
               (unsigned long long) (max_gap_us / 1000));
}

static void cancel_timer_cb(evutil_socket_t fd, short what, void *arg)
{
        (void) fd;
        (void) what;
        http_transfer_cancel(arg);
        (void) event_base_loopbreak(base);
}

static void check_cancel(void)
{
        struct http_request req = base_req(url(true, "localhost", "/slow?ms=1000"));
        struct http_transfer *t = NULL;
        struct result r = { 0 }, after;
        struct timeval tv = { 0, 200000 };
        struct event *ev;
        uint64_t t0;

        if (http_request_start(client, &req, result_cb, &r, &t) < 0) {
                report(false, "cancel in flight", "start failed");
                return;
        }
        ev = evtimer_new(base, cancel_timer_cb, t);
        (void) evtimer_add(ev, &tv);
        (void) event_base_dispatch(base);
        event_free(ev);
        /* let the server's answer time pass: the callback must stay silent */
        t0 = now_us();
        while (now_us() - t0 < 1200000)
                (void) event_base_loop(base, EVLOOP_NONBLOCK), usleep(10000);
        req = base_req(url(true, "localhost", "/ok"));
        run(&req, &after);
        report(!r.done && http_client_in_flight(client) == 0 && after.status == 200, "cancel in flight",
               "callback ran: %s, in flight %u, next request status %ld", r.done ? "yes" : "no",
               http_client_in_flight(client), after.status);
        result_done(&after);
}

static void count_cancelled_cb(struct http_response *resp, void *userdata)
{
        int *n = userdata;

        if (resp->error == -ECANCELED)
                (*n)++;
}

static void check_free_in_flight(void)
{
        struct http_request req = base_req(url(true, "localhost", "/slow?ms=2000"));
        struct http_client *c2 = NULL;
        int cancelled = 0;
        uint64_t t0;

        if (http_client_new(base, &c2) < 0) {
                report(false, "free with transfers in flight", "client_new failed");
                return;
        }
        for (int i = 0; i < 3; i++)
                (void) http_request_start(c2, &req, count_cancelled_cb, &cancelled, NULL);
        t0 = now_us();
        while (now_us() - t0 < 300000)
                (void) event_base_loop(base, EVLOOP_NONBLOCK), usleep(5000);
        (void) http_client_free(c2);
        report(cancelled == 3, "free with transfers in flight reports -ECANCELED", "%d of 3", cancelled);
}

/* ---- maa.c async calls ----------------------------------------------------- */

struct maa_result_box {
        bool done;
        enum maa_result result;
        char token[256];
        char message[512];
        int r;
        uint64_t tcbm;
        size_t quote_len;
        long status;
};

static void attest_cb(struct maa_outcome *o, void *userdata)
{
        struct maa_result_box *b = userdata;

        b->done = true;
        b->result = o->result;
        (void) snprintf(b->token, sizeof(b->token), "%s", o->token ? o->token : "");
        (void) snprintf(b->message, sizeof(b->message), "%s", o->message);
}

static void jwks_cb(struct http_response *resp, void *userdata)
{
        struct maa_result_box *b = userdata;

        b->done = true;
        b->status = resp->status;
        (void) snprintf(b->message, sizeof(b->message), "%s", resp->body ? resp->body : resp->error_message);
}

static void vcek_cb(int r, const char *msg, struct imds_vcek *v, void *userdata)
{
        struct maa_result_box *b = userdata;

        b->done = true;
        b->r = r;
        (void) snprintf(b->message, sizeof(b->message), "%s", msg);
        if (v) {
                b->tcbm = v->tcbm;
                imds_vcek_done(v);
        }
}

static void tdquote_cb(int r, const char *msg, uint8_t *quote, size_t len, void *userdata)
{
        struct maa_result_box *b = userdata;

        b->done = true;
        b->r = r;
        b->quote_len = len;
        (void) snprintf(b->message, sizeof(b->message), "%s", msg);
        free(quote);
}

static void wait_box(struct maa_result_box *b)
{
        while (!b->done)
                (void) event_base_loop(base, EVLOOP_ONCE);
}

static void check_maa_calls(void)
{
        static const char body_prefix[] = "{\"AttestationInfo\":\"";
        struct config *cfg = config_new_default();
        struct maa_result_box b = { 0 };
        uint8_t td_report[MAA_TD_REPORT_SIZE] = { 0 };
        char body[256], inner[128], *enc;
        char endpoint[128];

        free(cfg->maa.endpoint);
        (void) snprintf(endpoint, sizeof(endpoint), "https://localhost:%u/", tls_port);
        cfg->maa.endpoint = strdup(endpoint);
        cfg->maa.ca_file = strdup(ca);
        free(cfg->imds.endpoint);
        (void) snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", plain_port);
        cfg->imds.endpoint = strdup(endpoint);

        /* the fake MAA echoes OSDistro inside the token's payload */
        (void) snprintf(inner, sizeof(inner), "{\"OSDistro\":\"Debian\"}");
        enc = b64_encode(inner, strlen(inner), B64_URL);
        (void) snprintf(body, sizeof(body), "%s%s\"}", body_prefix, enc);
        free(enc);
        if (maa_attest_start(client, cfg, MAA_ROUTE_AZURE_GUEST, body, attest_cb, &b, NULL) == 0)
                wait_box(&b);
        report(b.result == MAA_OK && strcmp(b.token, "eyJhbGciOiJSUzI1NiJ9.RGViaWFu.c2ln") == 0,
               "maa_attest_start AzureGuest -> MAA_OK with token", "%s: '%s' token '%s'",
               maa_result_to_string(b.result), b.message, b.token);

        b = (struct maa_result_box) { 0 };
        if (maa_attest_start(client, cfg, MAA_ROUTE_SEVSNP_VM, "{}", attest_cb, &b, NULL) == 0)
                wait_box(&b);
        report(b.result == MAA_CONFIG_ERROR && strstr(b.message, "HTTP 404") &&
               strstr(b.message, "NotFound: no such route"), "maa_attest_start 404 -> config error",
               "%s: '%s'", maa_result_to_string(b.result), b.message);

        b = (struct maa_result_box) { 0 };
        if (maa_get_jwks_start(client, cfg, jwks_cb, &b, NULL) == 0)
                wait_box(&b);
        report(b.status == 200 && strstr(b.message, "\"kid\":\"k1\""), "maa_get_jwks_start GET /certs",
               "status %ld '%s'", b.status, b.message);

        b = (struct maa_result_box) { 0 };
        if (imds_get_vcek_start(client, cfg, vcek_cb, &b, NULL) == 0)
                wait_box(&b);
        report(b.r == 0 && b.tcbm == 0x7308000000000003ull, "imds_get_vcek_start (Metadata: true) parsed",
               "r %d '%s'", b.r, b.message);

        b = (struct maa_result_box) { 0 };
        for (size_t i = 0; i < sizeof(td_report); i++)
                td_report[i] = (uint8_t) i;
        if (imds_get_tdquote_start(client, cfg, td_report, sizeof(td_report), tdquote_cb, &b, NULL) == 0)
                wait_box(&b);
        report(b.r == 0 && b.quote_len == 8 + 1024 + 100, "imds_get_tdquote_start round trip",
               "r %d '%s' %zu bytes", b.r, b.message, b.quote_len);

        /* a call cancelled in flight never calls back */
        b = (struct maa_result_box) { 0 };
        {
                struct maa_call *call = NULL;
                uint64_t t0;

                if (maa_get_jwks_start(client, cfg, jwks_cb, &b, &call) == 0)
                        maa_call_cancel(call);
                t0 = now_us();
                while (now_us() - t0 < 200000)
                        (void) event_base_loop(base, EVLOOP_NONBLOCK), usleep(5000);
                report(!b.done && http_client_in_flight(client) == 0, "maa_call_cancel", NULL);
        }
        config_free(cfg);
}

static unsigned count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

int main(int argc, char **argv)
{
        struct event *ticker;
        struct timeval five_ms = { 0, 5000 };
        unsigned fds_before, fds_after;

        if (argc != 5) {
                fprintf(stderr, "usage: %s TLS_PORT PLAIN_PORT CA_PEM WRONG_CA_PEM\n", argv[0]);
                return 2;
        }
        tls_port = (unsigned) atoi(argv[1]);
        plain_port = (unsigned) atoi(argv[2]);
        ca = argv[3];
        wrong_ca = argv[4];
        alarm(180);     /* hard stop, whatever happens */

        base = event_base_new();
        ticker = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
        (void) event_add(ticker, &five_ms);
        fds_before = count_fds();
        if (http_client_new(base, &client) < 0) {
                fprintf(stderr, "http_client_new failed\n");
                return 1;
        }

        check_tls_ok();
        check_tls_fail("TLS fails without the CA file", "localhost", NULL);
        check_tls_fail("TLS fails with a wrong CA", "localhost", wrong_ca);
        check_tls_fail("TLS fails on hostname mismatch", "127.0.0.1", ca);
        check_refused();
        check_connect_timeout();
        check_total_timeout();
        check_cap("/huge", "response cap (Content-Length)");
        check_cap("/huge-chunked", "response cap (chunked, enforced in the write callback)");
        check_retry_after();
        check_truncated();
        check_redirect();
        check_post_and_reuse();
        check_concurrent();
        check_cancel();
        check_free_in_flight();
        check_maa_calls();

        client = http_client_free(client);
        fds_after = count_fds();
        report(fds_after == fds_before, "no fd leaks", "%u fds before, %u after", fds_before, fds_after);
        event_free(ticker);
        event_base_free(base);
        printf("%u passed, %u failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
}
