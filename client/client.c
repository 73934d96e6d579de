/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attestd/client.h"
#include "client/client-response.h"

struct attestd_client {
        char *socket_path;
        unsigned timeout_ms;
};

const char *attestd_verdict_to_string(enum attestd_verdict v)
{
        switch (v) {
        case ATTESTD_VERDICT_TRUSTED:
                return "trusted";
        case ATTESTD_VERDICT_UNTRUSTED:
                return "untrusted";
        default:
                return "unknown";
        }
}

int attestd_client_new(const char *socket_path, struct attestd_client **ret)
{
        struct attestd_client *c;

        if (!ret)
                return -EINVAL;
        if (!socket_path)
                socket_path = getenv(ATTESTD_SOCKET_ENV);
        if (!socket_path || !*socket_path)
                socket_path = ATTESTD_SOCKET_DEFAULT;
        if (strlen(socket_path) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
                return -ENAMETOOLONG;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->socket_path = strdup(socket_path);
        if (!c->socket_path) {
                free(c);
                return -ENOMEM;
        }
        c->timeout_ms = ATTESTD_TIMEOUT_MS_DEFAULT;
        *ret = c;
        return 0;
}

struct attestd_client *attestd_client_free(struct attestd_client *c)
{
        if (c) {
                free(c->socket_path);
                free(c);
        }
        return NULL;
}

void attestd_client_set_timeout(struct attestd_client *c, unsigned timeout_ms)
{
        c->timeout_ms = timeout_ms ? timeout_ms : 1;
}

const char *attestd_client_get_socket(const struct attestd_client *c)
{
        return c->socket_path;
}

static long long now_ms(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become ready for `events` before the deadline. */
static int wait_fd(int fd, short events, long long deadline)
{
        for (;;) {
                long long left = deadline - now_ms();
                struct pollfd p = { .fd = fd, .events = events };
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, left > 60000 ? 60000 : (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n > 0)
                        return 0;
        }
}

static int connect_socket(const char *path, long long deadline, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, strlen(path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN) {
                        r = -errno;
                        goto fail;
                }
                /* a full backlog: wait for the daemon to accept */
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        goto fail;
                socklen_t len = sizeof(r);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &len) < 0 || r != 0) {
                        r = r ? -r : -errno;
                        goto fail;
                }
        }
        *ret_fd = fd;
        return 0;
fail:
        (void) close(fd);
        return r;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n < 0)
                        return -errno;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

int attestd_request(struct attestd_client *c, const char *method, const char *path,
                    const char *body, struct attestd_response *ret)
{
        long long deadline = now_ms() + c->timeout_ms;
        char *req = NULL, *buf = NULL;
        size_t len = 0, cap = 0;
        int fd = -1, r, n;

        if (!method || !path || path[0] != '/' || strpbrk(path, " \r\n") || !ret)
                return -EINVAL;
        r = connect_socket(c->socket_path, deadline, &fd);
        if (r < 0)
                return r;
        if (body)
                n = asprintf(&req,
                             "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                             "Accept: application/json\r\nUser-Agent: libattestd-client\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                             method, path, strlen(body), body);
        else
                n = asprintf(&req,
                             "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                             "Accept: application/json\r\nUser-Agent: libattestd-client\r\n\r\n",
                             method, path);
        if (n < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = send_all(fd, req, (size_t) n, deadline);
        if (r < 0)
                goto out;
        for (;;) {
                ssize_t got;

                if (len + 1 >= cap) {
                        char *nb;
                        if (cap > ATTESTD_RESPONSE_MAX + 16384) {
                                r = -EMSGSIZE;
                                goto out;
                        }
                        cap = cap ? cap * 2 : 4096;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                r = -ENOMEM;
                                goto out;
                        }
                        buf = nb;
                }
                got = recv(fd, buf + len, cap - len - 1, 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                        r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                goto out;
                        continue;
                }
                if (got < 0) {
                        r = -errno;
                        goto out;
                }
                len += (size_t) got;
                r = client_response_parse(buf, len, got == 0, ret);
                if (r < 0)
                        goto out;
                if (r > 0)
                        break;
        }
        r = 0;
out:
        free(req);
        free(buf);
        if (fd >= 0)
                (void) close(fd);
        return r;
}

int attestd_get_verdict(struct attestd_client *c, long max_age, enum attestd_verdict *ret,
                        json_t **ret_doc)
{
        struct attestd_response resp = {};
        char path[64];
        int r;

        if (max_age >= 0)
                (void) snprintf(path, sizeof(path), "/v1/verdict?max_age=%ld", max_age);
        else
                (void) snprintf(path, sizeof(path), "/v1/verdict");
        r = attestd_request(c, "GET", path, NULL, &resp);
        if (r >= 0)
                r = client_response_verdict(&resp, ret, ret_doc);
        attestd_response_done(&resp);
        return r;
}

int attestd_get_token(struct attestd_client *c, char **ret_jwt)
{
        struct attestd_response resp = {};
        int r;

        r = attestd_request(c, "GET", "/v1/token", NULL, &resp);
        if (r >= 0)
                r = client_response_token(&resp, ret_jwt);
        attestd_response_done(&resp);
        return r;
}

int attestd_attest(struct attestd_client *c, const char *nonce_b64, enum attestd_verdict *ret,
                   json_t **ret_doc)
{
        struct attestd_response resp = {};
        json_t *body;
        char *s;
        int r;

        body = json_pack("{s:s}", "nonce", nonce_b64 ? nonce_b64 : "");
        s = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!s)
                return -ENOMEM;
        r = attestd_request(c, "POST", "/v1/attest", s, &resp);
        free(s);
        if (r >= 0)
                r = client_response_attest(&resp, ret, ret_doc);
        attestd_response_done(&resp);
        return r;
}

int attestd_get_status(struct attestd_client *c, json_t **ret)
{
        struct attestd_response resp = {};
        int r;

        r = attestd_request(c, "GET", "/v1/status", NULL, &resp);
        if (r >= 0)
                r = client_response_status(&resp, ret);
        attestd_response_done(&resp);
        return r;
}

int attestd_wait(struct attestd_client *c, unsigned timeout_ms, long max_age,
                 enum attestd_verdict *ret, json_t **ret_doc)
{
        long long deadline = now_ms() + timeout_ms;
        unsigned saved = c->timeout_ms, backoff = 100;
        enum attestd_verdict last = ATTESTD_VERDICT_UNKNOWN;
        json_t *doc = NULL;
        int r;

        for (;;) {
                long long left = deadline - now_ms();
                enum attestd_verdict v;

                if (left <= 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                c->timeout_ms = (unsigned) (left < saved ? left : saved);
                json_decref(doc);
                doc = NULL;
                r = attestd_get_verdict(c, max_age, &v, &doc);
                if (r >= 0) {
                        last = v;
                        if (v != ATTESTD_VERDICT_UNKNOWN)
                                break;
                } else if (r != -ENOENT && r != -ECONNREFUSED && r != -ETIMEDOUT && r != -EIO &&
                           r != -EAGAIN && r != -ECONNRESET) {
                        break;          /* a permanent error: say it now */
                }
                left = deadline - now_ms();
                if (left <= 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                struct timespec ts = { .tv_sec = 0 };
                long long sleep_ms = backoff < left ? backoff : left;
                ts.tv_sec = sleep_ms / 1000;
                ts.tv_nsec = (sleep_ms % 1000) * 1000000;
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
        }
        c->timeout_ms = saved;
        *ret = last;
        if (ret_doc && (r >= 0 || r == -ETIMEDOUT))
                *ret_doc = doc;
        else
                json_decref(doc);
        return r;
}

const char *attestd_strerror(int r)
{
        switch (r) {
        case 0:
                return "success";
        case -ENOENT:
                return "the attestd socket does not exist (is the daemon running?)";
        case -ECONNREFUSED:
                return "nothing listens on the attestd socket (is the daemon running?)";
        case -EACCES:
                return "permission denied on the attestd socket";
        case -ETIMEDOUT:
                return "timed out waiting for attestd";
        case -EBADMSG:
                return "attestd sent a malformed answer";
        case -EMSGSIZE:
                return "attestd's answer is too large";
        case -EPERM:
                return "attestd refused: this caller is not authorized";
        case -EAGAIN:
                return "attestd rate-limited this caller; try again later";
        case -ENODATA:
                return "attestd holds no valid token";
        case -EINVAL:
                return "invalid argument";
        case -ENAMETOOLONG:
                return "the socket path is too long";
        case -ENOMEM:
                return "out of memory";
        default:
                return strerror(-r);
        }
}
