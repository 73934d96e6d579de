/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ceiling: the smallest evhttp server on a unix socket, answering every
 * request with the same ~400-byte JSON document. Compare the daemon's
 * cached GET /v1/verdict against it in the same run (tests/bench/README.md).
 * Usage: trivial-server SOCKET_PATH
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tests/bench/verdict-doc.h"

static void handler(struct evhttp_request *req, void *arg)
{
        struct evbuffer *out = evbuffer_new();

        if (!out) {
                evhttp_send_error(req, 500, NULL);
                return;
        }
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
        evbuffer_add(out, BENCH_VERDICT_DOC "\n", sizeof(BENCH_VERDICT_DOC));
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
        event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct event_base *base = NULL;
        struct evhttp *http = NULL;
        struct event *sig = NULL;
        int fd = -1, r = 1;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        strcpy(sa.sun_path, argv[1]);
        (void) unlink(argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
                perror("socket");
                goto out;
        }
        base = event_base_new();
        http = base ? evhttp_new(base) : NULL;
        sig = base ? evsignal_new(base, SIGTERM, on_signal, base) : NULL;
        if (!http || !sig || event_add(sig, NULL) < 0 || !evhttp_accept_socket_with_handle(http, fd)) {
                fprintf(stderr, "cannot set up the server\n");
                goto out;
        }
        fd = -1;
        evhttp_set_gencb(http, handler, NULL);
        event_base_dispatch(base);
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        if (http)
                evhttp_free(http);
        if (sig)
                event_free(sig);
        if (base)
                event_base_free(base);
        (void) unlink(argv[1]);
        return r;
}
