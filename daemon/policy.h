/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_POLICY_H
#define ATTESTD_DAEMON_POLICY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto/sha256.h"

struct diag_list;

/*
 * The local policy: named rules over the verified token's claims. Pure: no
 * logging, no global state; errors come back as -errno plus messages.
 *
 * Document (unknown keys anywhere are errors):
 *   {"name": str, "version": int >= 0,
 *    "rules": [{"id": str ([a-z0-9-]+, unique), "description": str,
 *               "claim": RFC 6901 pointer, <exactly one operator>,
 *               "when": {"claim": pointer, <exactly one operator>}   (optional)}]}
 *
 * Operators (the operand's type is checked at load):
 *   equals V / not_equals V   json_equal(): 1 and 1.0 differ, true and "true" differ
 *   in [V…] / not_in [V…]     non-empty array
 *   gte N / lte N             number; the claim must be a number (integer or real)
 *   matches "ERE"             POSIX extended regex, compiled once, not anchored for you,
 *                             no back-references, bounded size; claim must be a string
 *   exists true|false         true: the claim is present; false: it is absent
 *   contains V                claim array holds an element equal to V, or claim
 *                             string contains the string V
 * A missing claim fails every operator except "exists": false. A rule whose
 * "when" does not hold (by the same rules; a missing claim does not hold) is
 * skipped, neither passed nor failed.
 */

enum policy_op {
        POLICY_OP_EQUALS,
        POLICY_OP_NOT_EQUALS,
        POLICY_OP_IN,
        POLICY_OP_NOT_IN,
        POLICY_OP_GTE,
        POLICY_OP_LTE,
        POLICY_OP_MATCHES,
        POLICY_OP_EXISTS,
        POLICY_OP_CONTAINS,
        _POLICY_OP_MAX,
        _POLICY_OP_INVALID = -EINVAL,
};

const char *policy_op_to_string(enum policy_op op);
enum policy_op policy_op_from_string(const char *s);

enum policy_outcome {
        POLICY_OUTCOME_PASS,
        POLICY_OUTCOME_FAIL,
        POLICY_OUTCOME_SKIP,
        _POLICY_OUTCOME_MAX,
        _POLICY_OUTCOME_INVALID = -EINVAL,
};

const char *policy_outcome_to_string(enum policy_outcome o);

struct policy;

/*
 * Parse text[0..len) (named `name` in messages). Every problem is collected
 * into errs as "NAME:LINE:COL: /rules/I (id 'ID'): message". On success
 * *ret (callee-allocated; policy_free()) keeps the SHA-256 of text's exact
 * bytes. Returns 0, -EINVAL (errors in errs) or -E2BIG (document too big).
 */
int policy_parse(const char *text, size_t len, const char *name, struct policy **ret,
                 struct diag_list *errs);

/* Read path (at most POLICY_FILE_MAX_BYTES) and policy_parse() it. */
int policy_load(const char *path, struct policy **ret, struct diag_list *errs);

struct policy *policy_free(struct policy *p);

/* Borrowed; valid while p lives. */
const char *policy_get_name(const struct policy *p);
const char *policy_get_sha256(const struct policy *p);  /* lowercase hex */
int64_t policy_get_version(const struct policy *p);
size_t policy_get_n_rules(const struct policy *p);

/*
 * Outcome of one evaluation. Policy reasons share the verdict's reason
 * shape (see daemon/verdict.h), one per failed rule, in rule order:
 *   {"code": "policy-failed", "rule": ID, "claim": POINTER,
 *    "expected": {"<operator>": OPERAND}, "actual": VALUE or null (missing),
 *    "message": "ID: DESCRIPTION — expected POINTER to …, found …"}
 */
struct policy_result {
        bool pass;              /* no rule failed */
        size_t n_pass, n_fail, n_skip;
        json_t *reasons;        /* array, owned */
        json_t *rules;          /* array of {"rule": ID, "outcome": "pass"|"fail"|"skip"}, owned */
};

/* Evaluate p against claims (borrowed; must be an object). *ret is
 * callee-allocated (policy_result_free()). Returns 0, -EINVAL or -ENOMEM. */
int policy_eval(const struct policy *p, json_t *claims, struct policy_result **ret);

struct policy_result *policy_result_free(struct policy_result *r);

#endif
