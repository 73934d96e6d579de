/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_VERDICT_H
#define ATTESTD_DAEMON_VERDICT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "proto/sha256.h"

struct policy;
struct policy_result;

/*
 * The verdict document served on /v1/verdict and printed by
 * `attestctl policy eval --json`. Pure: no logging.
 *
 * Every reason, whatever produced it, has the same six members in this order:
 *   {"code": CODE, "rule": ID|null, "claim": POINTER|null,
 *    "expected": {"<operator>": OPERAND}|null, "actual": VALUE|null,
 *    "message": "one human sentence"}
 * "rule", "claim", "expected" and "actual" are filled for policy-failed and
 * null otherwise ("actual" is also null when the claim was missing).
 *
 * Codes (stable, machine-readable):
 *   policy-failed     a policy rule failed (untrusted)
 *   maa-refused       MAA rejected the evidence (untrusted)
 *   maa-unreachable   MAA could not be reached or answered with an error (unknown)
 *   token-invalid     the token did not verify: signature, issuer, nbf, shape (unknown)
 *   token-expired     the held token is past exp (unknown)
 *   tpm-error         the TPM could not produce evidence (unknown)
 *   evidence-invalid  our own evidence failed a local check (unknown)
 *   no-verdict-yet    no attestation has completed since start (unknown)
 *   too-old           trusted, but older than the caller's max_age (unknown)
 */
enum verdict_state {
        VERDICT_UNKNOWN,
        VERDICT_TRUSTED,
        VERDICT_UNTRUSTED,
        _VERDICT_STATE_MAX,
        _VERDICT_STATE_INVALID = -EINVAL,
};

const char *verdict_state_to_string(enum verdict_state s);     /* "unknown", "trusted", "untrusted" */
enum verdict_state verdict_state_from_string(const char *s);

enum verdict_code {
        VERDICT_CODE_POLICY_FAILED,
        VERDICT_CODE_MAA_REFUSED,
        VERDICT_CODE_MAA_UNREACHABLE,
        VERDICT_CODE_TOKEN_INVALID,
        VERDICT_CODE_TOKEN_EXPIRED,
        VERDICT_CODE_TPM_ERROR,
        VERDICT_CODE_EVIDENCE_INVALID,
        VERDICT_CODE_NO_VERDICT_YET,
        VERDICT_CODE_TOO_OLD,
        _VERDICT_CODE_MAX,
        _VERDICT_CODE_INVALID = -EINVAL,
};

const char *verdict_code_to_string(enum verdict_code c);
enum verdict_code verdict_code_from_string(const char *s);

struct verdict {
        enum verdict_state state;
        json_t *reasons;                /* array of reasons (shape above), owned */
        bool stale;                     /* trusted, but the last refresh failed */
        time_t attested_at;             /* 0: never */
        time_t expires_at;              /* 0: no expiry known */
        char *attestation_type;         /* "sevsnpvm", "tdxvm", ...; NULL: unknown */
        char *vm_id;                    /* NULL: unknown */
        struct {
                char *name;             /* NULL: no policy involved */
                char sha256[SHA256_HEX_LEN + 1];
        } policy;
        struct {
                char *iss, *jti;        /* NULL: unknown */
                int64_t iat, exp;       /* 0: unknown */
        } token;
};

/* An unknown verdict without reasons. [out] callee-allocated; verdict_free(). */
struct verdict *verdict_new(void);
struct verdict *verdict_free(struct verdict *v);

/* Deep copy. Returns 0 or -ENOMEM; *ret callee-allocated. */
int verdict_dup(const struct verdict *v, struct verdict **ret);

/* Append a non-policy reason (code and a human sentence; rule, claim,
 * expected and actual null). Returns 0, -EINVAL (bad code) or -ENOMEM. */
int verdict_add_reason(struct verdict *v, enum verdict_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * The verdict for verified claims (borrowed) that policy p (borrowed) judged
 * as res (borrowed): trusted when every rule passed, else untrusted with the
 * policy's reasons. attestation_type is x-ms-isolation-tee.x-ms-attestation-type
 * (AzureGuest) or the top-level x-ms-attestation-type (platform tokens);
 * vm_id is x-ms-azurevm-vmid or the runtime vm-configuration.vmUniqueId;
 * attested_at is iat (now when absent), expires_at is exp. Returns 0,
 * -EINVAL (claims not an object) or -ENOMEM.
 */
int verdict_from_claims(const struct policy *p, const struct policy_result *res, json_t *claims,
                        time_t now, struct verdict **ret);

/*
 * Narrow to the caller's max_age: a trusted verdict attested more than
 * max_age_s seconds before now becomes unknown with a too-old reason.
 * Returns 1 when narrowed, 0 when unchanged, -ENOMEM.
 */
int verdict_apply_max_age(struct verdict *v, time_t now, uint64_t max_age_s);

/*
 * The document: {"verdict", "message", "reasons", "stale", "age_seconds",
 * "attested_at", "expires_at" (RFC 3339 UTC or null), "attestation_type",
 * "vm_id", "policy": {"name", "sha256"} | null,
 * "token": {"iss", "jti", "iat", "exp"} (only with with_token_fields)}.
 * *ret is a new reference. Returns 0 or -ENOMEM.
 */
int verdict_to_json(const struct verdict *v, time_t now, bool with_token_fields, json_t **ret);

#endif
