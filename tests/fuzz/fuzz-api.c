/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Arbitrary bytes as an HTTP request: first through the pure parsers
 * (route, query, attest body, cgroup text), then into the real httpd
 * server over a unix socket in a private directory, with a fake core that
 * answers attests asynchronously. The client half-closes after sending, so
 * every input ends in a reply or a close.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/api-parse.h"
#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pending_reply {
        api_reply_fn done;
        void *ud;
};

static struct {
        struct event_base *base;
        struct config *cfg;
        struct metrics *m;
        struct api *api;
        char dir[64];
} S;

static int f_verdict(void *ud, long max_age, json_t **ret)
{
        *ret = json_pack("{s:s,s:I}", "verdict", "trusted", "max_age", (json_int_t) max_age);
        return max_age == 7 ? 503 : 200;
}

static int f_token(void *ud, const struct api_caller *c, char **ret)
{
        *ret = strdup("a.b.c");
        return *ret ? 0 : -ENOMEM;
}

static void f_answer(evutil_socket_t fd, short what, void *arg)
{
        struct pending_reply *p = arg;

        p->done(p->ud, 200, json_pack("{s:s}", "token", "x.y.z"));
        free(p);
}

static int f_attest(void *ud, const struct api_caller *c, const uint8_t *nonce, size_t len,
                    api_reply_fn done, void *done_ud)
{
        struct timeval zero = {};
        struct pending_reply *p;

        if (nonce[0] == 0xff)
                return -EBUSY;
        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->done = done;
        p->ud = done_ud;
        if (event_base_once(S.base, -1, EV_TIMEOUT, f_answer, p, &zero) < 0) {
                free(p);
                return -ENOMEM;
        }
        return 0;
}

static int f_refresh(void *ud, const struct api_caller *c)
{
        return 0;
}

static json_t *f_status(void *ud)
{
        return json_pack("{s:s}", "state", "fuzz");
}

static bool f_ready(void *ud)
{
        return true;
}

static const struct api_ops ops = {
        .verdict = f_verdict, .token = f_token, .attest = f_attest,
        .refresh = f_refresh, .status = f_status, .ready = f_ready,
};

static void init(void)
{
        char path[128];

        signal(SIGPIPE, SIG_IGN);
        log_setup(LOG_TARGET_TEXT, LOG_CRIT);
        strcpy(S.dir, "/tmp/attestd-fuzz-XXXXXX");
        if (!mkdtemp(S.dir))
                abort();
        snprintf(path, sizeof(path), "%s/api.sock", S.dir);
        S.base = event_base_new();
        S.cfg = config_new_default();
        free(S.cfg->api.socket);
        S.cfg->api.socket = strdup(path);
        S.cfg->api.rate_per_s = 1e6;
        S.cfg->api.rate_burst = 100000;
        S.m = metrics_new();
        if (!S.base || api_new(S.base, S.cfg, &ops, NULL, S.m, &S.api) < 0 || api_listen_path(S.api) < 0)
                abort();
}

static void parsers(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), pod[64], cid[80];
        uint8_t nonce[API_NONCE_MAX_BYTES];
        size_t n = 0;
        long age = 0;
        enum api_route r;

        if (!s)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        (void) api_parse_route(s, &r, NULL);
        (void) api_parse_query(API_ROUTE_VERDICT, s, &age, NULL);
        (void) api_parse_attest_body(s, size, nonce, &n, NULL);
        (void) api_parse_is_json_content_type(s);
        (void) peer_parse_cgroup(s, size, pod, sizeof(pod), cid, sizeof(cid));
        free(s);
}

static void serve(const uint8_t *data, size_t size)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t off = 0;
        char buf[4096];
        int fd, turns;

        strcpy(sa.sun_path, S.cfg->api.socket);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                abort();
        for (turns = 0; turns < 20000; turns++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (off < size) {
                        n = send(fd, data + off, size - off, MSG_NOSIGNAL);
                        if (n > 0)
                                off += (size_t) n;
                        else if (n < 0 && errno != EAGAIN)
                                off = size;
                        if (off == size)
                                (void) shutdown(fd, SHUT_WR);
                } else if (turns == 0) {
                        (void) shutdown(fd, SHUT_WR);
                }
                event_base_loop(S.base, EVLOOP_NONBLOCK);
                n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        break;
                if (n < 0)
                        (void) poll(&p, 1, 1);
        }
        close(fd);
        /* Let the server see the close and finalize the connection. */
        for (int i = 0; i < 4; i++)
                event_base_loop(S.base, EVLOOP_NONBLOCK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!S.base)
                init();
        parsers(data, size);
        serve(data, size);
        return 0;
}
