/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "peer"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77         /* Linux 6.5; the libc headers may predate it */
#endif

/* ---- cgroup path parsing (pure) --------------------------------------- */

static bool is_hex_lower(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
        size_t pl = strlen(p);
        return n >= pl && memcmp(s, p, pl) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *p)
{
        size_t pl = strlen(p);
        return n >= pl && memcmp(s + n - pl, p, pl) == 0;
}

/* A pod UID: a UUID, or 32 hex digits for static pods (config hash).
 * systemd slice names spell '-' as '_'. */
static bool take_pod(const char *s, size_t n, char *pod, size_t pod_len)
{
        if (n < 32 || n > 36 || n >= pod_len)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i] == '_' ? '-' : s[i];
                if (c != '-' && !is_hex_lower(&c, 1))
                        return false;
                pod[i] = c;
        }
        pod[n] = '\0';
        return true;
}

static bool take_cid(const char *s, size_t n, char *cid, size_t cid_len)
{
        static const char *const prefixes[] = { "cri-containerd-", "docker-", "crio-", "libpod-" };

        if (has_suffix(s, n, ".scope")) {
                size_t i;
                n -= strlen(".scope");
                for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                        if (has_prefix(s, n, prefixes[i])) {
                                s += strlen(prefixes[i]);
                                n -= strlen(prefixes[i]);
                                break;
                        }
                if (i == sizeof(prefixes) / sizeof(prefixes[0]))
                        return false;
        }
        if (n != 64 || !is_hex_lower(s, n) || cid_len <= 64)
                return false;
        memcpy(cid, s, 64);
        cid[64] = '\0';
        return true;
}

static void parse_path(const char *p, size_t len, char *pod, size_t pod_len, char *cid,
                       size_t cid_len)
{
        const char *end = p + len, *last = NULL;
        size_t last_len = 0;

        while (p < end) {
                const char *c = p, *slash = memchr(p, '/', (size_t) (end - p));
                size_t n = slash ? (size_t) (slash - p) : (size_t) (end - p);

                p = slash ? slash + 1 : end;
                if (n == 0)
                        continue;
                last = c;
                last_len = n;
                if (has_prefix(c, n, "pod")) {                  /* cgroupfs: pod<uid> */
                        (void) take_pod(c + 3, n - 3, pod, pod_len);
                } else if (has_prefix(c, n, "kubepods") && has_suffix(c, n, ".slice")) {
                        /* systemd: kubepods[-<qos>]-pod<uid_with_underscores>.slice */
                        const char *q = NULL;
                        for (size_t i = 0; i + 4 <= n; i++)
                                if (memcmp(c + i, "-pod", 4) == 0)
                                        q = c + i + 4;
                        if (q)
                                (void) take_pod(q, (size_t) (c + n - strlen(".slice") - q), pod, pod_len);
                }
        }
        if (last)
                (void) take_cid(last, last_len, cid, cid_len);
}

int peer_parse_cgroup(const char *text, size_t len, char *pod, size_t pod_len, char *cid,
                      size_t cid_len)
{
        const char *end = text + len;

        if (pod_len == 0 || cid_len == 0)
                return -EINVAL;
        pod[0] = cid[0] = '\0';
        if (len > API_CGROUP_FILE_MAX)
                return -E2BIG;
        /* Pass 0: the unified hierarchy line; pass 1: v1 controller lines. */
        for (int pass = 0; pass < 2; pass++) {
                for (const char *l = text; l < end;) {
                        const char *nl = memchr(l, '\n', (size_t) (end - l));
                        const char *le = nl ? nl : end, *c1, *c2;
                        bool unified;

                        c1 = memchr(l, ':', (size_t) (le - l));
                        c2 = c1 ? memchr(c1 + 1, ':', (size_t) (le - c1 - 1)) : NULL;
                        unified = c1 && c2 == c1 + 1 && c1 - l == 1 && l[0] == '0';
                        if (c2 && unified == (pass == 0)) {
                                parse_path(c2 + 1, (size_t) (le - c2 - 1), pod, pod_len, cid, cid_len);
                                if (pod[0] || cid[0])
                                        return 0;
                        }
                        l = nl ? nl + 1 : end;
                }
        }
        return -ENOENT;
}

/* ---- the live peer ----------------------------------------------------- */

static int read_cgroup(const char *proc_root, pid_t pid, char *buf, size_t cap, size_t *ret_len)
{
        char path[256];
        size_t len = 0;
        int fd, r = 0;

        snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (len < cap) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        if (r < 0)
                return r;
        *ret_len = len;
        return 0;
}

int peer_identify(int fd, const char *proc_root, struct api_caller *ret, struct peer_groups *groups)
{
        struct api_caller c = { .pidfd = -1 };
        struct ucred cred;
        socklen_t sl = sizeof(cred);
        char buf[API_CGROUP_FILE_MAX];
        size_t len = 0;
        int pidfd = -1;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0)
                return -errno;
        if (sl != sizeof(cred))
                return -EPROTO;
        c.uid = cred.uid;
        c.gid = cred.gid;
        c.pid = cred.pid > 0 ? cred.pid : 0;

        if (groups) {
                socklen_t gl = sizeof(groups->gids);
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->gids, &gl) == 0)
                        groups->n = gl / sizeof(gid_t);
                else
                        groups->n = 0;  /* ERANGE (too many) or old kernel: primary gid only */
        }

        if (c.pid > 0) {
                sl = sizeof(pidfd);
                if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl) == 0 && pidfd >= 0) {
                        c.pid_verified = true;
                } else {
                        pidfd = pidfd_open(c.pid, 0);
                        c.pid_verified = false;
                }
        }
        c.pidfd = pidfd;
        if (pidfd >= 0 &&
            read_cgroup(proc_root ? proc_root : "/proc", c.pid, buf, sizeof(buf), &len) == 0) {
                (void) peer_parse_cgroup(buf, len, c.pod_uid, sizeof(c.pod_uid), c.container_id,
                                         sizeof(c.container_id));
                /* Still the same process (alive or a zombie: not reaped, so its
                 * pid has not been reused)? Otherwise what we read is not the
                 * caller's. */
                if (pidfd_send_signal(pidfd, 0, NULL, 0) < 0) {
                        c.pod_uid[0] = c.container_id[0] = '\0';
                        c.pid_verified = false;
                }
        } else {
                c.pid_verified = false;
        }
        *ret = c;
        return 0;
}

void peer_caller_done(struct api_caller *c)
{
        if (c && c->pidfd >= 0) {
                close(c->pidfd);
                c->pidfd = -1;
        }
}
