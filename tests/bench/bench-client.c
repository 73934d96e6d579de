/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench-client: the measuring side of tests/bench/run.sh. Every command
 * prints one line of key=value figures on stdout (times in microseconds
 * unless the key says otherwise) and exits 0 when every request or run
 * succeeded, 1 when the figures are incomplete, 2 on bad usage.
 *
 *   load SOCKET TARGET N C
 *      N GET requests over C kept-alive connections, one outstanding
 *      request per connection (closed loop, like h2load --h1 -m 1); the
 *      latency of each request is the time from its write to the last byte
 *      of its reply.
 *   attest SOCKET N concurrent|sequential
 *      N POST /v1/attest with distinct random nonces: all at once on N
 *      connections, or one after the other on fresh connections.
 *   loop SOCKET METHOD TARGET INTERVAL_MS
 *      one request every INTERVAL_MS on a fresh connection until SIGTERM or
 *      SIGINT, then the count of replies per status.
 *   spawn N WARMUP CMD [ARG...]
 *      run CMD (stdout and stderr to /dev/null) WARMUP times unmeasured,
 *      then N times measured from just before posix_spawn() to waitpid().
 *   first-verdict SOCKET TIMEOUT_MS LOG CMD [ARG...]
 *      start CMD (the daemon; stdout and stderr appended to LOG) and poll
 *      GET /v1/verdict every millisecond until it answers 200; print the
 *      daemon's pid and the times. Then stay its parent: SIGTERM or SIGINT
 *      is passed on to it, and bench-client exits when it does (0 when it
 *      stopped cleanly), so the caller never leaves an orphan behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/b64.h"

#define REPLY_MAX       (256 * 1024)    /* largest reply we buffer (attest replies carry a token) */
#define REQUEST_MAX     512
#define LOAD_N_MAX      10000000u
#define LOAD_C_MAX      4096u
#define ATTEST_N_MAX    1024u
#define SPAWN_N_MAX     100000u
#define NONCE_BYTES     32
#define STATUS_MAX      600

extern char **environ;

static volatile sig_atomic_t stop_requested;

static uint64_t now_ns(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static double us(uint64_t ns)
{
        return (double) ns / 1000.0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted[0..n), n > 0. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double q)
{
        size_t rank = (size_t) (q * (double) n + 0.999999);

        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return sorted[rank - 1];
}

/* Sort samples[0..n) and print " p50_us=… p90_us=… p99_us=… p999_us=… max_us=… mean_us=…". */
static void print_distribution(uint64_t *samples, size_t n)
{
        long double sum = 0;

        if (n == 0) {
                printf(" p50_us=nan p90_us=nan p99_us=nan p999_us=nan max_us=nan mean_us=nan");
                return;
        }
        qsort(samples, n, sizeof(*samples), cmp_u64);
        for (size_t i = 0; i < n; i++)
                sum += samples[i];
        printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f",
               us(percentile(samples, n, 0.50)), us(percentile(samples, n, 0.90)),
               us(percentile(samples, n, 0.99)), us(percentile(samples, n, 0.999)), us(samples[n - 1]),
               (double) (sum / n) / 1000.0);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || !end || *end || end == s || s[0] == '-' || v < min || v > max) {
                fprintf(stderr, "bench-client: '%s' is not a number in %u..%u\n", s, min, max);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

/* ---- HTTP over the unix socket ------------------------------------------ */

static int unix_connect(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

/* The value of header name in head[0..len) (a response head), or NULL. */
static const char *find_header(const char *head, size_t len, const char *name, size_t *ret_vlen)
{
        size_t nlen = strlen(name);
        const char *p = memchr(head, '\n', len), *end = head + len;

        while (p && ++p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                size_t llen = (size_t) ((eol ? eol : end) - p);

                if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
                        const char *v = p + nlen + 1;
                        while (v < p + llen && (*v == ' ' || *v == '\t'))
                                v++;
                        *ret_vlen = (size_t) (p + llen - v);
                        while (*ret_vlen > 0 && (v[*ret_vlen - 1] == '\r' || v[*ret_vlen - 1] == ' '))
                                (*ret_vlen)--;
                        return v;
                }
                p = eol;
        }
        return NULL;
}

/*
 * Is buf[0..len) a complete HTTP/1.1 response? 1 with its status, its total
 * length and whether the server closes after it; 0 when more bytes are
 * needed; -EBADMSG when it is not a response with a Content-Length.
 */
static int reply_complete(const char *buf, size_t len, int *ret_status, size_t *ret_total, bool *ret_close)
{
        const char *hend = memmem(buf, len, "\r\n\r\n", 4), *v;
        size_t hlen, vlen = 0, clen = 0;

        if (!hend)
                return len >= REPLY_MAX ? -EBADMSG : 0;
        hlen = (size_t) (hend - buf) + 4;
        if (hlen < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
                return -EBADMSG;
        v = find_header(buf, hlen - 2, "Content-Length", &vlen);
        if (!v || vlen == 0 || vlen > 9)
                return -EBADMSG;
        for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EBADMSG;
                clen = clen * 10 + (size_t) (v[i] - '0');
        }
        if (hlen + clen > REPLY_MAX)
                return -EBADMSG;
        if (len < hlen + clen)
                return 0;
        *ret_status = atoi(buf + 9);
        *ret_total = hlen + clen;
        v = find_header(buf, hlen - 2, "Connection", &vlen);
        *ret_close = v && vlen == 5 && strncasecmp(v, "close", 5) == 0;
        return 1;
}

/* One blocking exchange on a fresh connection. The HTTP status, or -errno. */
static int exchange(const char *sock, const char *request, size_t request_len)
{
        char *buf = malloc(REPLY_MAX);
        size_t have = 0, total = 0;
        int fd = -1, status = 0, r;
        bool closes = false;

        if (!buf)
                return -ENOMEM;
        fd = unix_connect(sock);
        if (fd < 0) {
                r = fd;
                goto out;
        }
        r = write_all(fd, request, request_len);
        if (r < 0)
                goto out;
        for (;;) {
                ssize_t n = recv(fd, buf + have, REPLY_MAX - have, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -ECONNRESET;
                        goto out;
                }
                have += (size_t) n;
                r = reply_complete(buf, have, &status, &total, &closes);
                if (r < 0)
                        goto out;
                if (r > 0)
                        break;
        }
        r = status;
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static int format_request(char *buf, size_t size, const char *method, const char *target)
{
        int n = snprintf(buf, size, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", method, target,
                         strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "");

        return n < 0 || (size_t) n >= size ? -E2BIG : n;
}

/* POST /v1/attest with a fresh random nonce. */
static int format_attest(char *buf, size_t size)
{
        uint8_t nonce[NONCE_BYTES];
        char body[128], *b64 = NULL;
        int n;

        if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t) sizeof(nonce))
                return -EIO;
        b64 = b64_encode(nonce, sizeof(nonce), B64_STD);
        if (!b64)
                return -ENOMEM;
        n = snprintf(body, sizeof(body), "{\"nonce\":\"%s\"}", b64);
        free(b64);
        if (n < 0 || (size_t) n >= sizeof(body))
                return -E2BIG;
        n = snprintf(buf, size,
                     "POST /v1/attest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s", n, body);
        return n < 0 || (size_t) n >= size ? -E2BIG : n;
}

/* ---- load: closed-loop GET over kept-alive connections ------------------ */

struct lconn {
        int fd;
        bool busy;              /* a request is outstanding */
        uint64_t sent_at;
        size_t have;
        char *in;
};

struct load {
        const char *sock;
        const char *request;
        size_t request_len;
        int ep;
        unsigned n, issued, done, ok, failed, reconnects;
        uint64_t *lat;
        size_t n_lat;
};

static int lconn_open(struct load *l, struct lconn *c)
{
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        int fd = unix_connect(l->sock);

        if (fd < 0)
                return fd;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        c->fd = fd;
        c->have = 0;
        c->busy = false;
        return 0;
}

static void lconn_close(struct lconn *c)
{
        if (c->fd >= 0)
                close(c->fd);   /* also leaves the epoll set */
        c->fd = -1;
}

/* Send the next request on c if any is left. */
static int lconn_send(struct load *l, struct lconn *c)
{
        int r;

        if (l->issued >= l->n)
                return 0;
        if (c->fd < 0) {
                r = lconn_open(l, c);
                if (r < 0)
                        return r;
                l->reconnects++;
        }
        c->sent_at = now_ns();
        r = write_all(c->fd, l->request, l->request_len);
        if (r < 0)
                return r;
        c->busy = true;
        l->issued++;
        return 0;
}

/* A request ended (ok or not): record it, reuse or drop the connection. */
static int lconn_finish(struct load *l, struct lconn *c, int status, bool closes)
{
        c->busy = false;
        l->done++;
        if (status >= 200 && status < 300) {
                l->ok++;
                l->lat[l->n_lat++] = now_ns() - c->sent_at;
        } else {
                l->failed++;
        }
        if (closes)
                lconn_close(c);
        return lconn_send(l, c);
}

static int lconn_readable(struct load *l, struct lconn *c)
{
        size_t total = 0;
        int status = 0, r;
        bool closes = false;
        ssize_t n = recv(c->fd, c->in + c->have, REPLY_MAX - c->have, 0);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                /* The server went away: count the outstanding request as failed. */
                lconn_close(c);
                return c->busy ? lconn_finish(l, c, 0, true) : 0;
        }
        c->have += (size_t) n;
        r = reply_complete(c->in, c->have, &status, &total, &closes);
        if (r == 0)
                return 0;
        if (r < 0 || total != c->have) {
                /* Garbage, or bytes nobody asked for: drop the connection. */
                lconn_close(c);
                return lconn_finish(l, c, 0, true);
        }
        c->have = 0;
        return lconn_finish(l, c, status, closes);
}

static int cmd_load(int argc, char **argv)
{
        struct load l = { .ep = -1 };
        struct lconn *conns = NULL;
        char request[REQUEST_MAX];
        unsigned c = 0;
        uint64_t t0, t1;
        int r, n;

        if (argc != 4 || parse_uint(argv[2], 1, LOAD_N_MAX, &l.n) < 0 || parse_uint(argv[3], 1, LOAD_C_MAX, &c) < 0)
                return 2;
        n = format_request(request, sizeof(request), "GET", argv[1]);
        if (n < 0)
                return 2;
        l.sock = argv[0];
        l.request = request;
        l.request_len = (size_t) n;
        l.lat = calloc(l.n, sizeof(*l.lat));
        conns = calloc(c, sizeof(*conns));
        l.ep = epoll_create1(EPOLL_CLOEXEC);
        if (!l.lat || !conns || l.ep < 0) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < c; i++)
                conns[i].fd = -1;
        for (unsigned i = 0; i < c; i++) {
                conns[i].in = malloc(REPLY_MAX);
                r = conns[i].in ? lconn_open(&l, &conns[i]) : -ENOMEM;
                if (r < 0)
                        goto out;
        }
        t0 = now_ns();
        for (unsigned i = 0; i < c; i++) {
                r = lconn_send(&l, &conns[i]);
                if (r < 0)
                        goto out;
        }
        while (l.done < l.issued) {
                struct epoll_event evs[64];
                int k = epoll_wait(l.ep, evs, 64, 10000);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : -ETIMEDOUT;
                        goto out;
                }
                for (int i = 0; i < k; i++) {
                        r = lconn_readable(&l, evs[i].data.ptr);
                        if (r < 0)
                                goto out;
                }
        }
        t1 = now_ns();
        printf("requests=%u ok=%u failed=%u reconnects=%u seconds=%.3f rps=%.0f", l.done, l.ok, l.failed,
               l.reconnects, (double) (t1 - t0) / 1e9, (double) l.done / ((double) (t1 - t0) / 1e9));
        print_distribution(l.lat, l.n_lat);
        printf("\n");
        r = l.ok == l.n ? 0 : 1;
out:
        if (r < 0) {
                fprintf(stderr, "bench-client load: %s\n", strerror(-r));
                r = 1;
        }
        for (unsigned i = 0; conns && i < c; i++) {
                lconn_close(&conns[i]);
                free(conns[i].in);
        }
        if (l.ep >= 0)
                close(l.ep);
        free(conns);
        free(l.lat);
        return r;
}

/* ---- attest: concurrent or sequential fresh attestations ----------------- */

static void print_statuses(const unsigned *by_status)
{
        const char *sep = "";

        printf(" statuses=");
        for (int s = 0; s < STATUS_MAX; s++)
                if (by_status[s]) {
                        printf("%s%d:%u", sep, s, by_status[s]);
                        sep = ",";
                }
        if (!*sep)
                printf("none");
}

/* Collect one reply per fd in fds[0..n) (all requests already sent). */
static int collect_replies(const int *fds, unsigned n, const uint64_t *sent, uint64_t *lat, unsigned *by_status)
{
        char **in = calloc(n, sizeof(*in));
        size_t *have = calloc(n, sizeof(*have));
        unsigned left = n;
        int ep = epoll_create1(EPOLL_CLOEXEC), r = 0;

        if (!in || !have || ep < 0) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < n; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
                in[i] = malloc(REPLY_MAX);
                if (!in[i] || epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
                        r = in[i] ? -errno : -ENOMEM;
                        goto out;
                }
        }
        while (left > 0) {
                struct epoll_event evs[64];
                int k = epoll_wait(ep, evs, 64, 120000);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : -ETIMEDOUT;
                        goto out;
                }
                for (int j = 0; j < k; j++) {
                        unsigned i = evs[j].data.u32;
                        size_t total = 0;
                        int status = 0, c;
                        bool closes = false;
                        ssize_t got = recv(fds[i], in[i] + have[i], REPLY_MAX - have[i], 0);

                        if (got < 0 && errno == EINTR)
                                continue;
                        if (got > 0) {
                                have[i] += (size_t) got;
                                c = reply_complete(in[i], have[i], &status, &total, &closes);
                                if (c == 0)
                                        continue;
                                if (c < 0)
                                        status = 0;
                        }
                        lat[i] = now_ns() - sent[i];
                        by_status[status >= 0 && status < STATUS_MAX ? status : 0]++;
                        (void) epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
                        left--;
                }
        }
out:
        for (unsigned i = 0; in && i < n; i++)
                free(in[i]);
        free(in);
        free(have);
        if (ep >= 0)
                close(ep);
        return r;
}

static int cmd_attest(int argc, char **argv)
{
        unsigned n = 0, by_status[STATUS_MAX] = { 0 };
        char (*reqs)[REQUEST_MAX] = NULL;
        uint64_t *sent = NULL, *lat = NULL, t0, t1;
        int *fds = NULL, r = 0, *lens = NULL;
        bool concurrent;

        if (argc != 3 || parse_uint(argv[1], 1, ATTEST_N_MAX, &n) < 0 ||
            (strcmp(argv[2], "concurrent") != 0 && strcmp(argv[2], "sequential") != 0))
                return 2;
        concurrent = strcmp(argv[2], "concurrent") == 0;
        reqs = calloc(n, sizeof(*reqs));
        lens = calloc(n, sizeof(*lens));
        fds = calloc(n, sizeof(*fds));
        sent = calloc(n, sizeof(*sent));
        lat = calloc(n, sizeof(*lat));
        if (!reqs || !lens || !fds || !sent || !lat) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < n; i++) {
                fds[i] = -1;
                lens[i] = format_attest(reqs[i], sizeof(reqs[i]));
                if (lens[i] < 0) {
                        r = lens[i];
                        goto out;
                }
        }
        if (concurrent) {
                /* Connect first so that the requests leave as close together as possible. */
                for (unsigned i = 0; i < n; i++) {
                        fds[i] = unix_connect(argv[0]);
                        if (fds[i] < 0) {
                                r = fds[i];
                                goto out;
                        }
                }
                t0 = now_ns();
                for (unsigned i = 0; i < n; i++) {
                        sent[i] = now_ns();
                        r = write_all(fds[i], reqs[i], (size_t) lens[i]);
                        if (r < 0)
                                goto out;
                }
                r = collect_replies(fds, n, sent, lat, by_status);
                if (r < 0)
                        goto out;
        } else {
                t0 = now_ns();
                for (unsigned i = 0; i < n; i++) {
                        int s;

                        sent[i] = now_ns();
                        s = exchange(argv[0], reqs[i], (size_t) lens[i]);
                        lat[i] = now_ns() - sent[i];
                        by_status[s >= 0 && s < STATUS_MAX ? s : 0]++;
                }
        }
        t1 = now_ns();
        printf("requests=%u ok=%u wall_ms=%.1f", n, by_status[200], (double) (t1 - t0) / 1e6);
        print_statuses(by_status);
        print_distribution(lat, n);
        printf("\n");
        r = by_status[200] == n ? 0 : 1;
out:
        if (r < 0) {
                fprintf(stderr, "bench-client attest: %s\n", strerror(-r));
                r = 1;
        }
        for (unsigned i = 0; fds && i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        if (reqs)
                explicit_bzero(reqs, (size_t) n * sizeof(*reqs));
        free(reqs);
        free(lens);
        free(fds);
        free(sent);
        free(lat);
        return r;
}

/* ---- loop: a request every INTERVAL_MS until told to stop --------------- */

static void on_stop(int sig)
{
        stop_requested = 1;
}

static int cmd_loop(int argc, char **argv)
{
        struct sigaction sa = { .sa_handler = on_stop };
        unsigned interval = 0, by_status[STATUS_MAX] = { 0 }, n = 0;
        char request[REQUEST_MAX];
        int len;

        if (argc != 4 || parse_uint(argv[3], 1, 3600000, &interval) < 0)
                return 2;
        len = format_request(request, sizeof(request), argv[1], argv[2]);
        if (len < 0)
                return 2;
        (void) sigaction(SIGTERM, &sa, NULL);   /* no SA_RESTART: the sleep ends at once */
        (void) sigaction(SIGINT, &sa, NULL);
        while (!stop_requested) {
                struct timespec ts = { .tv_sec = interval / 1000, .tv_nsec = (long) (interval % 1000) * 1000000 };
                int s = exchange(argv[0], request, (size_t) len);

                by_status[s >= 0 && s < STATUS_MAX ? s : 0]++;
                n++;
                (void) nanosleep(&ts, NULL);
        }
        printf("requests=%u", n);
        print_statuses(by_status);
        printf("\n");
        return n > 0 && by_status[0] == 0 ? 0 : 1;
}

/* ---- spawn and first-verdict: whole processes --------------------------- */

/*
 * posix_spawnp argv with stdout and stderr to path (appended). The child
 * gets default SIGPIPE, SIGTERM and SIGINT and no blocked signals.
 */
static int spawn_to(char **argv, const char *path, pid_t *ret)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        bool have_fa = false, have_attr = false;
        sigset_t dflt, none;
        pid_t pid;
        int r;

        (void) sigemptyset(&dflt);
        (void) sigaddset(&dflt, SIGPIPE);
        (void) sigaddset(&dflt, SIGTERM);
        (void) sigaddset(&dflt, SIGINT);
        (void) sigemptyset(&none);
        r = posix_spawnattr_init(&attr);
        if (r != 0)
                goto out;
        have_attr = true;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                goto out;
        have_fa = true;
        r = posix_spawnattr_setsigdefault(&attr, &dflt);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, path, O_WRONLY | O_CREAT | O_APPEND,
                                                     0644);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
        if (r == 0)
                r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
        if (r == 0)
                *ret = pid;
out:
        if (have_fa)
                (void) posix_spawn_file_actions_destroy(&fa);
        if (have_attr)
                (void) posix_spawnattr_destroy(&attr);
        return -r;
}

/* Run argv once; its wall time in ns, -errno, or -ECHILD when it failed. */
static int64_t run_once(char **argv)
{
        uint64_t t0 = now_ns();
        pid_t pid;
        int st = 0, r = spawn_to(argv, "/dev/null", &pid);

        if (r < 0)
                return r;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return -ECHILD;
        return (int64_t) (now_ns() - t0);
}

static int cmd_spawn(int argc, char **argv)
{
        unsigned n = 0, warmup = 0, failures = 0;
        uint64_t *t = NULL, first = 0;
        size_t got = 0;

        if (argc < 3 || parse_uint(argv[0], 1, SPAWN_N_MAX, &n) < 0 || parse_uint(argv[1], 0, SPAWN_N_MAX, &warmup) < 0)
                return 2;
        t = calloc(n, sizeof(*t));
        if (!t)
                return 1;
        for (unsigned i = 0; i < warmup; i++)
                (void) run_once(argv + 2);
        for (unsigned i = 0; i < n; i++) {
                int64_t ns = run_once(argv + 2);

                if (ns == -ENOENT || ns == -EACCES) {
                        fprintf(stderr, "bench-client spawn: cannot run '%s': %s\n", argv[2], strerror((int) -ns));
                        free(t);
                        return 1;
                }
                if (ns < 0) {
                        failures++;
                        continue;
                }
                if (got == 0)
                        first = (uint64_t) ns;
                t[got++] = (uint64_t) ns;
        }
        printf("runs=%u failures=%u first_us=%.1f", n, failures, us(first));
        print_distribution(t, got);
        printf("\n");
        free(t);
        return failures == 0 ? 0 : 1;
}

/*
 * Wait for pid, sending it SIGTERM at once (stop) or when we are told to
 * stop. Polls, so that a signal arriving at any moment is acted on within
 * 10 ms. 0 when it exited 0 or by our SIGTERM, else 1.
 */
static int reap(pid_t pid, bool stop)
{
        struct timespec tick = { .tv_nsec = 10000000 };
        bool sent = false;
        pid_t w;
        int st = 0;

        for (;;) {
                if ((stop || stop_requested) && !sent) {
                        (void) kill(pid, SIGTERM);
                        sent = true;
                }
                w = waitpid(pid, &st, WNOHANG);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return 1;
                (void) nanosleep(&tick, NULL);
        }
        if (WIFEXITED(st))
                return WEXITSTATUS(st) == 0 ? 0 : 1;
        return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && sent ? 0 : 1;
}

static int cmd_first_verdict(int argc, char **argv)
{
        static const char get[] = "GET /v1/verdict HTTP/1.1\r\nHost: localhost\r\n\r\n";
        struct sigaction sa = { .sa_handler = on_stop };
        uint64_t t0, listening = 0, deadline;
        unsigned timeout = 0;
        pid_t pid;
        int r;

        if (argc < 4 || parse_uint(argv[1], 1, 600000, &timeout) < 0)
                return 2;
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);
        t0 = now_ns();
        r = spawn_to(argv + 3, argv[2], &pid);
        if (r < 0) {
                fprintf(stderr, "bench-client first-verdict: cannot run '%s': %s\n", argv[3], strerror(-r));
                return 1;
        }
        deadline = t0 + (uint64_t) timeout * 1000000u;
        while (!stop_requested && now_ns() < deadline) {
                struct timespec ms = { .tv_nsec = 1000000 };
                int s = exchange(argv[0], get, sizeof(get) - 1), st;

                if (s > 0 && !listening)
                        listening = now_ns() - t0;
                if (s == 200) {
                        printf("pid=%d listen_ms=%.1f trusted_ms=%.1f\n", (int) pid, (double) listening / 1e6,
                               (double) (now_ns() - t0) / 1e6);
                        fflush(stdout);
                        return reap(pid, false);
                }
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        fprintf(stderr, "bench-client first-verdict: the daemon %s %d before a trusted verdict; "
                                "see %s\n", WIFEXITED(st) ? "exited with status" : "was killed by signal",
                                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), argv[2]);
                        return 1;
                }
                (void) nanosleep(&ms, NULL);
        }
        fprintf(stderr, "bench-client first-verdict: no trusted verdict within %u ms; stopping pid %d\n", timeout,
                (int) pid);
        (void) reap(pid, true);
        return 1;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: bench-client load SOCKET TARGET N C\n"
                "       bench-client attest SOCKET N concurrent|sequential\n"
                "       bench-client loop SOCKET METHOD TARGET INTERVAL_MS\n"
                "       bench-client spawn N WARMUP CMD [ARG...]\n"
                "       bench-client first-verdict SOCKET TIMEOUT_MS LOG CMD [ARG...]\n");
}

int main(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } cmds[] = {
                { "load", cmd_load },
                { "attest", cmd_attest },
                { "loop", cmd_loop },
                { "spawn", cmd_spawn },
                { "first-verdict", cmd_first_verdict },
        };
        int r;

        signal(SIGPIPE, SIG_IGN);
        if (argc >= 2)
                for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                        if (strcmp(argv[1], cmds[i].name) == 0) {
                                r = cmds[i].fn(argc - 2, argv + 2);
                                if (r == 2)
                                        usage();
                                fflush(stdout);
                                return r;
                        }
        usage();
        return 2;
}
