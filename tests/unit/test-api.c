/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The local API against a real event_base on a temporary unix socket, with
 * a fake daemon core. Clients are non-blocking sockets driven from the same
 * thread (the loop is pumped while they wait), or forked children where a
 * different uid or a dying process is the point.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/api-parse.h"
#include "daemon/api-priv.h"
#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/metrics.h"
#include "daemon/peer.h"
#include "daemon/ratelimit.h"

/* ---- the fake core -------------------------------------------------------- */

static struct fake {
        int verdict_code;
        int n_verdict;
        long last_max_age;
        int token_r;
        int n_token;
        struct api_caller last_caller;
        int attest_r;
        int n_attest;
        api_reply_fn done;
        void *done_ud;
        size_t nonce_len;
        int refresh_r;
        bool ready;
} F;

static int fake_verdict(void *ud, long max_age, json_t **ret)
{
        F.n_verdict++;
        F.last_max_age = max_age;
        *ret = json_pack("{s:s}", "verdict", F.verdict_code == 200 ? "trusted" :
                                             F.verdict_code == 403 ? "untrusted" : "unknown");
        return F.verdict_code;
}

static int fake_token(void *ud, const struct api_caller *c, char **ret)
{
        F.n_token++;
        F.last_caller = *c;
        F.last_caller.pidfd = -1;
        if (F.token_r < 0)
                return F.token_r;
        *ret = strdup("eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln");
        return 0;
}

static int fake_attest(void *ud, const struct api_caller *c, const uint8_t *nonce, size_t len,
                       api_reply_fn done, void *done_ud)
{
        F.n_attest++;
        F.nonce_len = len;
        if (F.attest_r < 0)
                return F.attest_r;
        F.done = done;
        F.done_ud = done_ud;
        return 0;
}

static int fake_refresh(void *ud, const struct api_caller *c)
{
        return F.refresh_r;
}

static json_t *fake_status(void *ud)
{
        return json_pack("{s:s}", "state", "idle");
}

static bool fake_ready(void *ud)
{
        return F.ready;
}

static const struct api_ops fake_ops = {
        .verdict = fake_verdict,
        .token = fake_token,
        .attest = fake_attest,
        .refresh = fake_refresh,
        .status = fake_status,
        .ready = fake_ready,
};

/* ---- harness ------------------------------------------------------------------ */

struct t {
        char dir[64];
        char sock[128];
        struct event_base *base;
        struct config *cfg;
        struct metrics *m;
        struct api *api;
};

static struct t *T;

static void set_socket(struct config *cfg, const char *path)
{
        free(cfg->api.socket);
        cfg->api.socket = strdup(path);
}

static int setup(void **state)
{
        struct t *t = calloc(1, sizeof(*t));

        memset(&F, 0, sizeof(F));
        F.verdict_code = 200;
        F.ready = true;
        strcpy(t->dir, "/tmp/attestd-api-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        snprintf(t->sock, sizeof(t->sock), "%s/api.sock", t->dir);
        t->base = event_base_new();
        t->cfg = config_new_default();
        set_socket(t->cfg, t->sock);
        t->m = metrics_new();
        T = t;
        *state = t;
        return 0;
}

static void start(struct t *t)
{
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &t->api), 0);
        assert_int_equal(api_listen_path(t->api), 0);
}

static int teardown(void **state)
{
        struct t *t = *state;
        char cmd[128];

        api_free(t->api);
        /* Connections are finalized by libevent: let them go before the base. */
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        event_base_free(t->base);
        metrics_free(t->m);
        config_free(t->cfg);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
        assert_int_equal(system(cmd), 0);
        free(t);
        return 0;
}

static uint64_t ms_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Run the loop for about ms milliseconds. */
static void pump(int ms)
{
        uint64_t end = ms_now() + (uint64_t) ms;

        do {
                event_base_loop(T->base, EVLOOP_NONBLOCK);
                usleep(500);
        } while (ms_now() < end);
}

static int cli_connect_path(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, path);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        return fd;
}

static int cli_connect(void)
{
        return cli_connect_path(T->sock);
}

static void cli_send(int fd, const char *data, size_t len)
{
        size_t off = 0;
        uint64_t end = ms_now() + 3000;

        while (off < len && ms_now() < end) {
                ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
                if (n > 0)
                        off += (size_t) n;
                else
                        pump(1);
        }
}

/* Is buf[0..len) a complete response (headers + Content-Length body)? */
static bool response_complete(const char *buf, size_t len)
{
        const char *eoh = memmem(buf, len, "\r\n\r\n", 4), *cl;

        if (!eoh)
                return false;
        cl = strcasestr(buf, "\r\nContent-Length:");
        if (!cl || cl > eoh)
                return true;
        return len >= (size_t) (eoh + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

/* Read one response (or until EOF); pumps the loop. Returns the status code,
 * 0 when the server closed without one. */
static int cli_recv(int fd, char *buf, size_t cap, int timeout_ms)
{
        size_t len = 0;
        uint64_t end = ms_now() + (uint64_t) timeout_ms;

        buf[0] = '\0';
        while (ms_now() < end) {
                ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
                if (n > 0) {
                        len += (size_t) n;
                        buf[len] = '\0';
                        if (response_complete(buf, len))
                                break;
                        continue;
                }
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        break;
                event_base_loop(T->base, EVLOOP_NONBLOCK);
                usleep(200);
        }
        if (strncmp(buf, "HTTP/1.", 7) != 0)
                return 0;
        return atoi(buf + 9);
}

static int request_raw(const char *raw, char *resp, size_t cap)
{
        int fd = cli_connect(), code;

        cli_send(fd, raw, strlen(raw));
        code = cli_recv(fd, resp, cap, 3000);
        close(fd);
        return code;
}

static int request(const char *method, const char *target, const char *body, char *resp, size_t cap)
{
        char raw[8192];

        snprintf(raw, sizeof(raw),
                 "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 method, target, body ? "Content-Type: application/json\r\n" : "", body ? strlen(body) : 0,
                 body ? body : "");
        return request_raw(raw, resp, cap);
}

static const char *body_of(const char *resp)
{
        const char *b = strstr(resp, "\r\n\r\n");
        return b ? b + 4 : "";
}

static void assert_json_error(const char *resp, const char *code)
{
        json_t *j = json_loads(body_of(resp), 0, NULL);
        const char *c = NULL;

        assert_non_null(j);
        assert_int_equal(json_unpack(j, "{s:{s:s}}", "error", "code", &c), 0);
        assert_string_equal(c, code);
        json_decref(j);
}

/* The body received is exactly as long as the Content-Length announced. */
static void assert_body_length(const char *resp)
{
        const char *cl = strcasestr(resp, "\r\nContent-Length:");

        assert_non_null(cl);
        assert_true(cl < body_of(resp));
        assert_int_equal(strtoul(cl + 17, NULL, 10), strlen(body_of(resp)));
}

#define GET(target) request("GET", target, NULL, resp, sizeof(resp))

/* ---- routes -------------------------------------------------------------------- */

static void test_public_routes(void **state)
{
        struct t *t = *state;
        char resp[65536];

        start(t);
        assert_int_equal(GET("/v1/verdict"), 200);
        assert_non_null(strstr(resp, "Content-Type: application/json"));
        assert_non_null(strstr(body_of(resp), "\"trusted\""));
        F.verdict_code = 403;
        assert_int_equal(GET("/v1/verdict"), 403);
        F.verdict_code = 503;
        assert_int_equal(GET("/v1/verdict"), 503);
        F.verdict_code = -EIO;
        assert_int_equal(GET("/v1/verdict"), 500);
        assert_json_error(resp, "internal");
        F.verdict_code = 200;
        assert_int_equal(GET("/v1/status"), 200);
        assert_non_null(strstr(body_of(resp), "\"idle\""));
        assert_int_equal(GET("/healthz"), 200);
        assert_string_equal(body_of(resp), "{\"status\":\"ok\"}\n");
        assert_int_equal(GET("/readyz"), 200);
        F.ready = false;
        assert_int_equal(GET("/readyz"), 503);
        assert_json_error(resp, "not_ready");
        assert_int_equal(request("HEAD", "/healthz", NULL, resp, sizeof(resp)), 200);
        assert_string_equal(body_of(resp), "");
        assert_int_equal(GET("/metrics"), 200);
        assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
        assert_non_null(strstr(body_of(resp), "attestd_api_requests_total{route=\"verdict\",code=\"403\"} 1\n"));
        assert_non_null(strstr(body_of(resp), "attestd_api_requests_total{route=\"readyz\",code=\"503\"} 1\n"));
        assert_non_null(strstr(body_of(resp), "# TYPE attestd_api_connections gauge\n"));
}

static void test_verdict_query(void **state)
{
        struct t *t = *state;
        char resp[8192];

        start(t);
        assert_int_equal(GET("/v1/verdict?max_age=30"), 200);
        assert_int_equal(F.last_max_age, 30);
        assert_int_equal(GET("/v1/verdict?max_age=0"), 200);
        assert_int_equal(F.last_max_age, 0);
        assert_int_equal(GET("/v1/verdict?max_age=315360000"), 200);
        assert_int_equal(GET("/v1/verdict"), 200);
        assert_int_equal(F.last_max_age, -1);
        static const char *const bad[] = {
                "/v1/verdict?max_age=-1", "/v1/verdict?max_age=315360001", "/v1/verdict?max_age=1e3",
                "/v1/verdict?max_age=", "/v1/verdict?max_age=1&max_age=2", "/v1/verdict?foo=1",
                "/v1/verdict?max_age=1&", "/v1/verdict?max_age=99999999999999999999", "/v1/status?x=1",
                "/v1/verdict?max_age=%31", "/v1/verdict?max_age=+1",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(GET(bad[i]), 400);
                assert_json_error(resp, "bad_request");
        }
}

static void test_methods_and_paths(void **state)
{
        struct t *t = *state;
        char resp[8192], longuri[2600];

        start(t);
        assert_int_equal(request("POST", "/v1/verdict", NULL, resp, sizeof(resp)), 405);
        assert_non_null(strstr(resp, "Allow: GET, HEAD\r\n"));
        assert_json_error(resp, "method_not_allowed");
        assert_int_equal(GET("/v1/attest"), 405);
        assert_non_null(strstr(resp, "Allow: POST\r\n"));
        assert_int_equal(request("DELETE", "/v1/token", NULL, resp, sizeof(resp)), 405);
        assert_int_equal(request("PUT", "/v1/refresh", NULL, resp, sizeof(resp)), 405);
        assert_int_equal(GET("/nope"), 404);
        assert_json_error(resp, "not_found");
        assert_int_equal(GET("/v1/verdict/"), 404);
        assert_int_equal(GET("/V1/verdict"), 404);
        static const char *const bad[] = {
                "//v1/verdict", "/v1/verdict/..", "/v1/./verdict", "/v1/%2Fverdict", "/v1/verdict%00",
                "/v1/verdict#frag", "/v1//verdict",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(GET(bad[i]), 400);
                assert_json_error(resp, "bad_request");
        }
        /* A GET body is refused. */
        assert_int_equal(request("GET", "/v1/verdict", "{}", resp, sizeof(resp)), 400);
        /* Very long targets: 414, or 431 past the header bound. */
        memset(longuri, 'a', sizeof(longuri) - 1);
        longuri[0] = '/';
        longuri[sizeof(longuri) - 1] = '\0';
        int code = GET(longuri);
        assert_true(code == 414 || code == 431);
        /* Methods libevent refuses itself. */
        code = request_raw("TRACE /v1/verdict HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
        assert_int_equal(code, 405);
        assert_non_null(strstr(resp, "Allow: GET, HEAD\r\n"));
}

static void test_token_attest_refresh(void **state)
{
        struct t *t = *state;
        char resp[8192];

        start(t);
        assert_int_equal(GET("/v1/token"), 200);
        assert_non_null(strstr(body_of(resp), "{\"token\":\"eyJ"));
        assert_int_equal(F.last_caller.uid, geteuid());
        assert_int_equal(F.last_caller.pid, getpid());
        assert_non_null(strstr(resp, "Cache-Control: no-store"));
        F.token_r = -ENODATA;
        assert_int_equal(GET("/v1/token"), 503);
        assert_json_error(resp, "no_token");
        F.token_r = 0;

        assert_int_equal(request("POST", "/v1/refresh", NULL, resp, sizeof(resp)), geteuid() == 0 ? 202 : 403);
        F.refresh_r = -EALREADY;
        assert_int_equal(request("POST", "/v1/refresh", NULL, resp, sizeof(resp)), geteuid() == 0 ? 202 : 403);
        F.refresh_r = -EIO;
        assert_int_equal(request("POST", "/v1/refresh", NULL, resp, sizeof(resp)), geteuid() == 0 ? 503 : 403);
        assert_int_equal(request("POST", "/v1/refresh", "{}", resp, sizeof(resp)), 400);

        F.attest_r = -EBUSY;
        assert_int_equal(request("POST", "/v1/attest", "{\"nonce\":\"AA==\"}", resp, sizeof(resp)), 503);
        assert_non_null(strstr(resp, "Retry-After: 1\r\n"));
        F.attest_r = 0;

        static const char *const bad[] = {
                "", "[]", "{}", "{\"nonce\":1}", "{\"nonce\":\"AA==\",\"nonce\":\"AQ==\"}",
                "{\"nonce\":\"AA==\",\"x\":1}", "{\"nonce\":\"AA\"}", "{\"nonce\":\"\"}",
                "{\"nonce\":\"A-_=\"}", "{\"nonce\":\"AA==\"} x", "{\"nonce\":\"AA==\"",
                /* 65 bytes */
                "{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(request("POST", "/v1/attest", bad[i], resp, sizeof(resp)), 400);
                assert_json_error(resp, "bad_request");
        }
        /* 64 bytes is the maximum. */
        assert_int_equal(request_raw("POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n"
                                     "Content-Type: text/plain\r\n\r\n{\"nonce\":\"AA==\"}", resp, sizeof(resp)),
                         415);
        assert_json_error(resp, "unsupported_media_type");
        assert_int_equal(F.n_attest, 1);
}

/* An asynchronous attest on a keep-alive connection: the reply comes when
 * the core calls done, and the connection then serves the next request. */
static void test_attest_async_reply(void **state)
{
        struct t *t = *state;
        char resp[8192];
        int fd, code;

        start(t);
        /* An asynchronous attest: the reply comes when the core calls done. */
        static const char ok[] = "POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 21\r\n\r\n{\"nonce\": \"AAECAwQ=\"}";
        fd = cli_connect();
        cli_send(fd, ok, strlen(ok));
        pump(50);
        assert_int_equal(F.n_attest, 1);
        assert_int_equal(F.nonce_len, 5);
        F.done(F.done_ud, 200, json_pack("{s:s}", "token", "abc"));
        code = cli_recv(fd, resp, sizeof(resp), 3000);
        assert_int_equal(code, 200);
        assert_string_equal(body_of(resp), "{\"token\":\"abc\"}\n");
        /* Keep-alive: the same connection serves the next request. */
        cli_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        assert_int_equal(cli_recv(fd, resp, sizeof(resp), 3000), 200);
        close(fd);

}

/* Ensure that a reply after the client went away touches nothing freed. */
static void test_attest_client_gone(void **state)
{
        struct t *t = *state;
        static const char req[] = "POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 16\r\n\r\n{\"nonce\":\"AA==\"}";
        char resp[1024];
        int fd;

        start(t);
        fd = cli_connect();
        cli_send(fd, req, strlen(req));
        pump(30);
        assert_int_equal(F.n_attest, 1);
        close(fd);
        pump(50);
        F.done(F.done_ud, 200, json_pack("{s:s}", "token", "late"));
        pump(20);
        assert_int_equal(GET("/healthz"), 200);

        /* And after api_free() with the attest still pending. */
        fd = cli_connect();
        cli_send(fd, req, strlen(req));
        pump(30);
        assert_int_equal(F.n_attest, 2);
        t->api = api_free(t->api);
        F.done(F.done_ud, 200, json_pack("{s:s}", "token", "later"));
        close(fd);
}

/* ---- authorization, rate limit ------------------------------------------------- */

/* Run one request in a child with the given uid; returns the status code. */
static int child_request(uid_t uid, gid_t gid, const char *method, const char *target, const char *body)
{
        int p[2], status = 0, code = -1;
        pid_t pid;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                struct timeval tv = { .tv_sec = 5 };
                char raw[1024], buf[4096];
                size_t len = 0;
                int fd;

                close(p[0]);
                if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
                        _exit(2);
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                strcpy(sa.sun_path, T->sock);
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        _exit(3);
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                snprintf(raw, sizeof(raw),
                         "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s", method, target, body ? strlen(body) : 0, body ? body : "");
                if (write(fd, raw, strlen(raw)) < 0)
                        _exit(4);
                for (;;) {
                        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                        if (n <= 0)
                                break;
                        len += (size_t) n;
                }
                buf[len] = '\0';
                code = strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
                if (write(p[1], &code, sizeof(code)) < 0)
                        _exit(5);
                _exit(0);
        }
        close(p[1]);
        while (waitpid(pid, &status, WNOHANG) == 0)
                pump(2);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(read(p[0], &code, sizeof(code)), sizeof(code));
        close(p[0]);
        return code;
}

static void test_authorization_by_uid(void **state)
{
        struct t *t = *state;

        if (geteuid() != 0)
                skip();
        /* The directory must be reachable by the unprivileged child. */
        assert_int_equal(chmod(t->dir, 0755), 0);
        start(t);
        assert_int_equal(child_request(65534, 65534, "GET", "/v1/verdict", NULL), 200);
        assert_int_equal(child_request(65534, 65534, "GET", "/v1/status", NULL), 200);
        assert_int_equal(child_request(65534, 65534, "GET", "/metrics", NULL), 200);
        assert_int_equal(child_request(65534, 65534, "GET", "/v1/token", NULL), 403);
        assert_int_equal(child_request(65534, 65534, "POST", "/v1/attest", "{\"nonce\":\"AA==\"}"), 403);
        assert_int_equal(child_request(65534, 65534, "POST", "/v1/refresh", NULL), 403);
        assert_int_equal(F.n_token, 0);
        assert_int_equal(F.n_attest, 0);
        t->api = api_free(t->api);

        /* Allow-listed by uid: token yes, refresh still root only. */
        t->cfg->api.token_uids = calloc(1, sizeof(uid_t));
        t->cfg->api.token_uids[0] = 65534;
        t->cfg->api.n_token_uids = 1;
        start(t);
        assert_int_equal(child_request(65534, 65534, "GET", "/v1/token", NULL), 200);
        assert_int_equal(F.last_caller.uid, 65534);
        assert_int_equal(child_request(65534, 65534, "POST", "/v1/refresh", NULL), 403);
        assert_int_equal(child_request(65533, 65534, "GET", "/v1/token", NULL), 403);
        t->api = api_free(t->api);

        /* Allow-listed by gid. */
        t->cfg->api.n_token_uids = 0;
        t->cfg->api.token_gids = calloc(1, sizeof(gid_t));
        t->cfg->api.token_gids[0] = 4242;
        t->cfg->api.n_token_gids = 1;
        start(t);
        assert_int_equal(child_request(65534, 4242, "GET", "/v1/token", NULL), 200);
        assert_int_equal(child_request(65534, 65534, "GET", "/v1/token", NULL), 403);
}

static void test_rate_limit(void **state)
{
        struct t *t = *state;
        char resp[4096], buf[8192];

        t->cfg->api.rate_per_s = 10;
        t->cfg->api.rate_burst = 2;
        start(t);
        assert_int_equal(GET("/v1/token"), 200);
        assert_int_equal(GET("/v1/token"), 200);
        assert_int_equal(GET("/v1/token"), 429);
        assert_non_null(strstr(resp, "Retry-After: 1\r\n"));
        assert_json_error(resp, "rate_limited");
        /* Public routes are not limited. */
        assert_int_equal(GET("/v1/verdict"), 200);
        pump(150);
        assert_int_equal(GET("/v1/token"), 200);
        assert_int_equal(request("GET", "/metrics", NULL, buf, sizeof(buf)), 200);
        assert_non_null(strstr(buf, "attestd_api_rate_limited_total{route=\"token\"} 1\n"));
        assert_non_null(strstr(buf, "attestd_api_requests_total{route=\"token\",code=\"429\"} 1\n"));
}

/* Ensure that the bucket table stays bounded whatever the number of uids. */
static void test_rate_table_bounded(void **state)
{
        struct ratelimit *rl = ratelimit_new(1, 1, 4);
        unsigned retry = 0;

        for (uid_t u = 0; u < 100; u++)
                assert_int_equal(ratelimit_take(rl, u, 1000000, &retry), 0);
        assert_int_equal(ratelimit_size(rl), 4);
        /* The most recent uid is still limited. */
        assert_int_equal(ratelimit_take(rl, 99, 1000001, &retry), -EAGAIN);
        assert_int_equal(retry, 1);
        assert_int_equal(ratelimit_take(rl, 99, 2000001, &retry), 0);
        assert_null(ratelimit_new(0, 1, 4));
        ratelimit_free(rl);
}

/* ---- bounds ---------------------------------------------------------------------- */

static void test_max_connections(void **state)
{
        struct t *t = *state;
        char resp[4096];
        int a, b, c, d;

        t->cfg->api.max_connections = 2;
        start(t);
        a = cli_connect();
        b = cli_connect();
        pump(20);
        assert_int_equal(api_connections(t->api), 2);
        c = cli_connect();
        pump(20);
        cli_send(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        assert_int_equal(cli_recv(c, resp, sizeof(resp), 2000), 503);
        assert_json_error(resp, "too_many_connections");
        assert_body_length(resp);
        close(c);
        close(a);
        pump(30);
        assert_int_equal(api_connections(t->api), 1);
        d = cli_connect();
        cli_send(d, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        assert_int_equal(cli_recv(d, resp, sizeof(resp), 2000), 200);
        close(d);
        close(b);
        pump(30);
        assert_int_equal(api_connections(t->api), 0);
        assert_int_equal(GET("/healthz"), 200);
}

static void test_oversized(void **state)
{
        struct t *t = *state;
        char raw[8192], resp[4096];
        int code;

        t->cfg->api.max_header_bytes = 1024;
        t->cfg->api.max_body_bytes = 256;
        start(t);
        snprintf(raw, sizeof(raw), "GET /v1/verdict HTTP/1.1\r\nHost: x\r\nX-Big: %02000d\r\n\r\n", 0);
        code = request_raw(raw, resp, sizeof(resp));
        assert_true(code == 431 || code == 413 || code == 400);
        snprintf(raw, sizeof(raw),
                 "POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                 "{\"nonce\":\"%0980d\"}", 0);
        assert_int_equal(request_raw(raw, resp, sizeof(resp)), 413);
        assert_int_equal(F.n_attest, 0);
        assert_int_equal(GET("/healthz"), 200);
}

/* A client that pipelines requests and does not read the replies gets only
 * as many answered as the socket buffers hold: the server queues one reply
 * per connection, not one per request. Read at last, every reply arrives,
 * in order. */
static void test_pipelining_bounded(void **state)
{
        struct t *t = *state;
        static const char req[] = "GET /v1/verdict HTTP/1.1\r\nHost: x\r\n\r\n";
        enum { N = 2000 };
        size_t cap = 4u << 20, len = 0, scanned = 0, replies = 0;
        char *all = malloc(N * (sizeof(req) - 1)), *in = malloc(cap);
        uint64_t end;
        int fd;

        assert_non_null(all);
        assert_non_null(in);
        start(t);
        for (size_t i = 0; i < N; i++)
                memcpy(all + i * (sizeof(req) - 1), req, sizeof(req) - 1);
        fd = cli_connect();
        cli_send(fd, all, N * (sizeof(req) - 1));
        pump(300);
        assert_true(F.n_verdict > 0);
        assert_true(F.n_verdict < N / 2);
        end = ms_now() + 10000;
        while (replies < N && ms_now() < end) {
                ssize_t n = recv(fd, in + len, cap - len, 0);
                if (n > 0) {
                        const char *p = in + scanned;
                        len += (size_t) n;
                        while ((p = memmem(p, len - (size_t) (p - in), "HTTP/1.1 200 OK\r\n", 17))) {
                                replies++;
                                p += 17;
                                scanned = (size_t) (p - in);
                        }
                        continue;
                }
                assert_true(n < 0 && errno == EAGAIN);
                event_base_loop(t->base, EVLOOP_NONBLOCK);
        }
        assert_int_equal(replies, N);
        assert_int_equal(F.n_verdict, N);
        close(fd);
        free(all);
        free(in);
}

/* Ensure that a client trickling a byte every 100 ms is cut at the
 * absolute deadline although every read resets the idle timeout. */
static void test_slowloris(void **state)
{
        struct t *t = *state;
        static const char req[] = "GET /v1/verdict HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        char resp[4096];
        uint64_t start_ms, elapsed;
        size_t sent = 0;
        int fd, code = -1;

        t->cfg->api.request_timeout_ms = 500;
        start(t);
        fd = cli_connect();
        start_ms = ms_now();
        while (sent < sizeof(req) - 1 && ms_now() - start_ms < 4000) {
                if (send(fd, req + sent, 1, MSG_NOSIGNAL) != 1)
                        break;
                sent++;
                code = cli_recv(fd, resp, sizeof(resp), 100);
                if (code != 0 || resp[0] || recv(fd, resp, 1, MSG_PEEK) == 0)
                        break;
        }
        /* the deadline may fire in the last pump of a window, the reply unread */
        if (code == 0)
                code = cli_recv(fd, resp, sizeof(resp), 1000);
        elapsed = ms_now() - start_ms;
        assert_true(sent < sizeof(req) - 1);
        assert_true(elapsed >= 400 && elapsed <= 1500);
        assert_int_equal(code, 408);
        assert_json_error(resp, "request_timeout");
        close(fd);
}

static void test_malformed(void **state)
{
        struct t *t = *state;
        char resp[4096];
        static const char *const bad[] = {
                "GARBAGE\r\n\r\n",
                "GET\r\n\r\n",
                "GET /v1/verdict HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                "GET /v1/verdict HTTP/1.1\r\nNoColon\r\n\r\n",
                "GET /v1/verdict HTTP/7.0\r\n\r\n",
                "\x01\x02\x03\xff\r\n\r\n",
                "POST /v1/attest HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
                "GET http://evil/v1/verdict HTTP/1.1\r\n\r\n",
                "GET v1/verdict HTTP/1.1\r\n\r\n",
        };

        start(t);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int code = request_raw(bad[i], resp, sizeof(resp));
                assert_true(code == 0 || (code >= 400 && code < 600));
        }
        assert_int_equal(GET("/healthz"), 200);
}

/* ---- the socket file ------------------------------------------------------------ */

static void test_socket_file(void **state)
{
        struct t *t = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct api *other = NULL;
        struct stat st;
        int fd;

        /* A regular file is never replaced. */
        fd = open(t->sock, O_CREAT | O_WRONLY, 0600);
        close(fd);
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &t->api), 0);
        assert_int_equal(api_listen_path(t->api), -EEXIST);
        assert_int_equal(lstat(t->sock, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        unlink(t->sock);

        /* A dead socket is replaced. */
        strcpy(sa.sun_path, t->sock);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);
        t->cfg->api.socket_mode = 0660;
        assert_int_equal(api_listen_path(t->api), 0);
        assert_int_equal(lstat(t->sock, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0660);

        /* A live socket is not. */
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &other), 0);
        assert_int_equal(api_listen_path(other), -EADDRINUSE);
        other = api_free(other);
        assert_int_equal(lstat(t->sock, &st), 0);

        /* api_free() removes what it created. */
        t->api = api_free(t->api);
        assert_int_equal(lstat(t->sock, &st), -1);

        /* A directory others may write to is refused. */
        assert_int_equal(chmod(t->dir, 0777), 0);
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &t->api), 0);
        assert_int_equal(api_listen_path(t->api), -EPERM);
        assert_int_equal(chmod(t->dir, 01777), 0);
        assert_int_equal(api_listen_path(t->api), -EPERM);
        assert_int_equal(chmod(t->dir, 0770), 0);
        assert_int_equal(api_listen_path(t->api), -EPERM);
        assert_int_equal(chmod(t->dir, 0700), 0);

        /* A path that does not fit sockaddr_un. */
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = '\0';
        set_socket(t->cfg, longp);
        assert_int_equal(api_listen_path(t->api), -EINVAL);
}

/* Socket activation: the API serves an fd it was given and never unlinks it. */
static void test_listen_fd(void **state)
{
        struct t *t = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char resp[1024];
        struct stat st;
        int fd;

        strcpy(sa.sun_path, t->sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &t->api), 0);
        assert_int_equal(api_listen_fd(t->api, fd), 0);
        assert_int_equal(GET("/healthz"), 200);
        t->api = api_free(t->api);
        assert_int_equal(lstat(t->sock, &st), 0);
}

static void test_metrics_listener(void **state)
{
        struct t *t = *state;
        struct sockaddr_in sin;
        socklen_t sl = sizeof(sin);
        char resp[65536];
        int fd, code;

        free(t->cfg->api.metrics_listen);
        t->cfg->api.metrics_listen = strdup("127.0.0.1:0");
        start(t);
        assert_int_equal(getsockname(api_priv_metrics_fd(t->api), (struct sockaddr *) &sin, &sl), 0);
        for (int i = 0; i < 2; i++) {
                fd = socket(AF_INET, SOCK_STREAM, 0);
                assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
                fcntl(fd, F_SETFL, O_NONBLOCK);
                cli_send(fd, i ? "GET /v1/verdict HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                         i ? 38 : 34);
                code = cli_recv(fd, resp, sizeof(resp), 3000);
                assert_int_equal(code, i ? 404 : 200);
                close(fd);
        }
        free(t->cfg->api.metrics_listen);
        t->cfg->api.metrics_listen = strdup("nonsense");
        t->api = api_free(t->api);
        assert_int_equal(api_new(t->base, t->cfg, &fake_ops, NULL, t->m, &t->api), -EINVAL);
}

/* ---- identity -------------------------------------------------------------------- */

static void test_cgroup_parse(void **state)
{
        static const struct {
                const char *text, *pod, *cid;
        } cases[] = {
                /* v2, systemd driver, containerd */
                { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1d3a4c5e_7f8b_4c2d_9e1f_0a1b2c3d4e5f.slice/"
                  "cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n",
                  "1d3a4c5e-7f8b-4c2d-9e1f-0a1b2c3d4e5f",
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
                /* v2, guaranteed QoS, CRI-O */
                { "0::/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8a9b_c0d1e2f3a4b5.slice/"
                  "crio-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.scope",
                  "0f1e2d3c-4b5a-6978-8a9b-c0d1e2f3a4b5",
                  "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210" },
                /* v2, cgroupfs driver */
                { "0::/kubepods/besteffort/pod7c1e4a2b-1111-2222-3333-444455556666/"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                  "7c1e4a2b-1111-2222-3333-444455556666",
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
                /* v1, cgroupfs driver, docker shim */
                { "12:memory:/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
                  "11:cpu,cpuacct:/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
                  "1:name=systemd:/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n0::/\n",
                  "11111111-2222-3333-4444-555555555555",
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" },
                /* v1, systemd driver, docker */
                { "4:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod22222222_3333_4444_5555_666666666666.slice/"
                  "docker-cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.scope\n",
                  "22222222-3333-4444-5555-666666666666",
                  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" },
                /* plain docker, no pod */
                { "0::/system.slice/docker-dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.scope\n", "",
                  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd" },
                /* static pod: the UID is a 32-hex config hash */
                { "0::/kubepods/pod0123456789abcdef0123456789abcdef/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                  "0123456789abcdef0123456789abcdef",
                  "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" },
                /* the pod sandbox level, a conmon scope: pod only */
                { "0::/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8a9b_c0d1e2f3a4b5.slice/"
                  "crio-conmon-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.scope",
                  "0f1e2d3c-4b5a-6978-8a9b-c0d1e2f3a4b5", "" },
        };
        static const char *const none[] = {
                "0::/\n", "0::/user.slice/user-1000.slice/session-2.scope\n", "", "garbage", "0::",
                "0::/kubepods/podZZZ/xyz\n", "0::/kubepods/pod/\n",
                "0::/x/ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n",
        };
        char pod[64], cid[80];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(peer_parse_cgroup(cases[i].text, strlen(cases[i].text), pod, sizeof(pod), cid,
                                                   sizeof(cid)), 0);
                assert_string_equal(pod, cases[i].pod);
                assert_string_equal(cid, cases[i].cid);
        }
        for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
                assert_int_equal(peer_parse_cgroup(none[i], strlen(none[i]), pod, sizeof(pod), cid, sizeof(cid)),
                                 -ENOENT);
                assert_string_equal(pod, "");
                assert_string_equal(cid, "");
        }
}

static void write_fake_cgroup(const char *root, pid_t pid)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%d", root, (int) pid);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/%d/cgroup", root, (int) pid);
        f = fopen(path, "w");
        fputs("0::/kubepods/burstable/pod7c1e4a2b-1111-2222-3333-444455556666/"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", f);
        fclose(f);
}

/* Ensure that pid-derived fields are kept for a live caller and dropped
 * for one that exited (and was reaped) before its identity was read. */
static void test_pidfd_identity(void **state)
{
        struct t *t = *state;
        char root[128];
        int go[2];

        snprintf(root, sizeof(root), "%s/proc", t->dir);
        assert_int_equal(mkdir(root, 0755), 0);
        start(t);
        api_priv_set_proc_root(t->api, root);

        for (int dies = 0; dies < 2; dies++) {
                int status = 0;
                pid_t pid;

                assert_int_equal(pipe(go), 0);
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        static const char req[] = "GET /v1/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                        char c, buf[2048];
                        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

                        close(go[1]);
                        if (read(go[0], &c, 1) != 1)
                                _exit(2);
                        strcpy(sa.sun_path, T->sock);
                        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
                            write(fd, req, sizeof(req) - 1) != (ssize_t) sizeof(req) - 1)
                                _exit(3);
                        if (!dies)
                                while (read(fd, buf, sizeof(buf)) > 0)
                                        ;
                        _exit(0);
                }
                close(go[0]);
                write_fake_cgroup(root, pid);
                assert_int_equal(write(go[1], "g", 1), 1);
                close(go[1]);
                F.n_token = 0;
                if (dies) {
                        /* Reap it before the server ever looks at the connection. */
                        assert_int_equal(waitpid(pid, &status, 0), pid);
                        pump(50);
                } else {
                        while (waitpid(pid, &status, WNOHANG) == 0)
                                pump(2);
                }
                assert_int_equal(F.n_token, 1);
                assert_int_equal(F.last_caller.pid, pid);
                if (dies) {
                        assert_string_equal(F.last_caller.pod_uid, "");
                        assert_string_equal(F.last_caller.container_id, "");
                        assert_false(F.last_caller.pid_verified);
                } else {
                        assert_string_equal(F.last_caller.pod_uid, "7c1e4a2b-1111-2222-3333-444455556666");
                        assert_string_equal(F.last_caller.container_id,
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
                }
        }
}

/* Connections still open at api_free() are closed without leaks. */
static void test_free_with_open_connections(void **state)
{
        struct t *t = *state;
        int a, b;

        start(t);
        a = cli_connect();
        b = cli_connect();
        cli_send(b, "GET /v1/ver", 11);
        pump(20);
        assert_int_equal(api_connections(t->api), 2);
        t->api = api_free(t->api);
        pump(10);
        close(a);
        close(b);
}

static void test_parsers(void **state)
{
        enum api_route r;
        uint8_t nonce[API_NONCE_MAX_BYTES];
        size_t n = 0;
        long age = 0;
        struct err e = {};

        assert_int_equal(api_parse_route("/v1/verdict", &r, &e), 0);
        assert_int_equal(r, API_ROUTE_VERDICT);
        assert_int_equal(api_parse_route("", &r, &e), -EINVAL);
        assert_int_equal(api_parse_route(NULL, &r, &e), -EINVAL);
        assert_int_equal(api_parse_route("/a/..", &r, &e), -EINVAL);
        assert_int_equal(api_parse_route("/..x", &r, &e), -ENOENT);
        assert_int_equal(api_parse_query(API_ROUTE_VERDICT, "max_age=5", &age, &e), 0);
        assert_int_equal(age, 5);
        assert_int_equal(api_parse_query(API_ROUTE_VERDICT, "", &age, &e), 0);
        assert_int_equal(age, -1);
        assert_int_equal(api_parse_attest_body("{\"nonce\":\"AQID\"}", 16, nonce, &n, &e), 0);
        assert_int_equal(n, 3);
        assert_true(api_parse_is_json_content_type("application/json; charset=utf-8"));
        assert_true(api_parse_is_json_content_type("Application/JSON"));
        assert_false(api_parse_is_json_content_type("application/jsonx"));
        assert_false(api_parse_is_json_content_type(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parsers),
                cmocka_unit_test(test_cgroup_parse),
                cmocka_unit_test(test_rate_table_bounded),
                cmocka_unit_test_setup_teardown(test_public_routes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verdict_query, setup, teardown),
                cmocka_unit_test_setup_teardown(test_methods_and_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_attest_refresh, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attest_async_reply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attest_client_gone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_authorization_by_uid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pipelining_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slowloris, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_fd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_metrics_listener, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pidfd_identity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_with_open_connections, setup, teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        if (getenv("TEST_DEBUG"))
                log_set_max_level(LOG_DEBUG);
        if (getenv("TEST_FILTER"))
                cmocka_set_test_filter(getenv("TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
