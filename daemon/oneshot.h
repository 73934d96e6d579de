/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_ONESHOT_H
#define ATTESTD_DAEMON_ONESHOT_H

#include <stdbool.h>

struct config;

#define ATTEST_EXIT_UNKNOWN 2

/*
 * `attestd --once`: one full attestation, cold, the way a per-pod init
 * container does it today (TPM evidence, event log, MAA round trip, token
 * verification) followed by the local policy. Prints the verdict document
 * (with token fields, and the token itself when with_token) on stdout.
 * Returns the process exit status: 0 trusted, 1 untrusted, 2 unknown,
 * EX_UNAVAILABLE (69) when the TPM cannot be opened, EX_CONFIG (78) for a
 * bad policy.
 */
int oneshot_run(const struct config *cfg, bool with_token);

#endif
