/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_CORE_H
#define ATTESTD_DAEMON_CORE_H

#include "daemon/cli.h"

struct config;

/*
 * The long-running daemon: one event loop that owns everything.
 *
 *   - attests at start and then on a schedule (a fraction of the token
 *     lifetime, with jitter; full-jitter backoff on failure, never giving
 *     up, never sooner than Retry-After);
 *   - every trigger (timer, POST /v1/refresh, a wall-clock jump, a resume
 *     from suspend) shares the run in flight; POST /v1/attest callers are
 *     batched into one MAA round trip, each nonce under its own key;
 *   - holds the verdict and the token in memory only, serves them through
 *     the API, writes the audit trail, exports metrics, talks to systemd;
 *   - SIGHUP reloads config and policy (keeping the old ones when the new
 *     files do not validate); SIGTERM/SIGINT drain and exit.
 *
 * cfg is stolen. Returns the process exit status.
 */
int core_main(const char *config_path, struct config *cfg, const struct cli_args *args);

#endif
