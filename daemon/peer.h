/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_PEER_H
#define ATTESTD_DAEMON_PEER_H

#include <stddef.h>
#include <sys/types.h>

#include "daemon/api.h"
#include "daemon/defaults.h"

/*
 * The identity of a unix-socket peer. uid/gid/pid come from SO_PEERCRED
 * (fixed when the client called connect()), supplementary groups from
 * SO_PEERGROUPS. The pid is tied to that exact process with SO_PEERPIDFD
 * (Linux 6.5+); on older kernels pidfd_open(pid) is the fallback, which
 * leaves a window between connect() and our call in which the pid could
 * be reused, so pid_verified stays false there. The pod UID and container
 * id are read from /proc/PID/cgroup and kept only if the pidfd still names
 * a live (or not yet reaped) process afterwards: a pid number cannot be
 * reused before its process is reaped, so a successful check proves the
 * file we read belonged to the caller.
 */

struct peer_groups {
        gid_t gids[API_PEER_GROUPS_MAX];
        size_t n;
};

/*
 * Fill *ret (and *groups when not NULL) for the peer of the connected
 * socket fd. proc_root is "/proc" (NULL means that too; tests point it at
 * a fake tree). ret->pidfd is owned by *ret: release with
 * peer_caller_done(). Returns 0 or -errno when SO_PEERCRED itself fails;
 * pid-derived data that cannot be confirmed is left empty, not an error.
 */
int peer_identify(int fd, const char *proc_root, struct api_caller *ret,
                  struct peer_groups *groups);

/* Close the pidfd, if any. */
void peer_caller_done(struct api_caller *c);

/*
 * Pure: find the Kubernetes pod UID and the container id in the text of a
 * /proc/PID/cgroup file (cgroup v1 or v2; systemd or cgroupfs driver;
 * containerd, CRI-O or Docker). The unified ("0::") line wins over v1
 * lines. pod gets the UID with '-' separators (systemd's '_' converted),
 * cid 64 lower-case hex digits; either may come back empty. Returns 0 when
 * at least one was found, -ENOENT when neither was, -E2BIG when the text is
 * longer than API_CGROUP_FILE_MAX.
 */
int peer_parse_cgroup(const char *text, size_t len, char *pod, size_t pod_len,
                      char *cid, size_t cid_len);

#endif
