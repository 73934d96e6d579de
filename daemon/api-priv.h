/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_API_PRIV_H
#define ATTESTD_DAEMON_API_PRIV_H

/* Internals of the API that unit tests reach; nothing else includes this. */

struct api;

/* Read callers' cgroups from dir/PID/cgroup instead of /proc (copied). */
void api_priv_set_proc_root(struct api *api, const char *dir);

/* The metrics listener's socket (owned by the API), -1 without one. */
int api_priv_metrics_fd(const struct api *api);

#endif
