/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_JUDGE_H
#define ATTESTD_DAEMON_JUDGE_H

#include <time.h>

struct attest_outcome;
struct jose_token;
struct policy;
struct verdict;

/*
 * From an attestation to a verdict, the one place where that mapping
 * lives (the daemon and `attestd --once` share it):
 *   - a verified token is judged by the policy: trusted, or untrusted with
 *     every failed rule;
 *   - a refusal by MAA is untrusted (maa-refused);
 *   - every other failure is unknown, with the outcome's reason code.
 * Arguments are borrowed. [out] callee-allocated. Returns 0 or -ENOMEM/-EINVAL.
 */
int judge_outcome(const struct policy *p, const struct attest_outcome *o, time_t now, struct verdict **ret);

/* Judge a verified token's claims under p (after a policy reload). */
int judge_token(const struct policy *p, const struct jose_token *t, time_t now, struct verdict **ret);

#endif
