/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/policy.h"
#include "daemon/verdict.h"
#include "daemon/xalloc.h"
#include "proto/jsonptr.h"
#include "proto/rfc3339.h"

static const char *const state_table[_VERDICT_STATE_MAX] = {
        [VERDICT_UNKNOWN] = "unknown",
        [VERDICT_TRUSTED] = "trusted",
        [VERDICT_UNTRUSTED] = "untrusted",
};

static const char *const code_table[_VERDICT_CODE_MAX] = {
        [VERDICT_CODE_POLICY_FAILED] = "policy-failed",
        [VERDICT_CODE_MAA_REFUSED] = "maa-refused",
        [VERDICT_CODE_MAA_UNREACHABLE] = "maa-unreachable",
        [VERDICT_CODE_TOKEN_INVALID] = "token-invalid",
        [VERDICT_CODE_TOKEN_EXPIRED] = "token-expired",
        [VERDICT_CODE_TPM_ERROR] = "tpm-error",
        [VERDICT_CODE_EVIDENCE_INVALID] = "evidence-invalid",
        [VERDICT_CODE_NO_VERDICT_YET] = "no-verdict-yet",
        [VERDICT_CODE_TOO_OLD] = "too-old",
};

const char *verdict_state_to_string(enum verdict_state s)
{
        return s >= 0 && s < _VERDICT_STATE_MAX ? state_table[s] : NULL;
}

enum verdict_state verdict_state_from_string(const char *s)
{
        for (int i = 0; s && i < _VERDICT_STATE_MAX; i++)
                if (strcmp(s, state_table[i]) == 0)
                        return i;
        return _VERDICT_STATE_INVALID;
}

const char *verdict_code_to_string(enum verdict_code c)
{
        return c >= 0 && c < _VERDICT_CODE_MAX ? code_table[c] : NULL;
}

enum verdict_code verdict_code_from_string(const char *s)
{
        for (int i = 0; s && i < _VERDICT_CODE_MAX; i++)
                if (strcmp(s, code_table[i]) == 0)
                        return i;
        return _VERDICT_CODE_INVALID;
}

struct verdict *verdict_new(void)
{
        struct verdict *v = xcalloc(1, sizeof(*v));

        v->state = VERDICT_UNKNOWN;
        v->reasons = json_array();
        if (!v->reasons) {
                free(v);
                return NULL;
        }
        return v;
}

struct verdict *verdict_free(struct verdict *v)
{
        if (!v)
                return NULL;
        json_decref(v->reasons);
        free(v->attestation_type);
        free(v->vm_id);
        free(v->policy.name);
        free(v->token.iss);
        free(v->token.jti);
        free(v);
        return NULL;
}

static char *strdup_or_null(const char *s)
{
        return s ? xstrdup(s) : NULL;
}

int verdict_dup(const struct verdict *v, struct verdict **ret)
{
        struct verdict *c = xcalloc(1, sizeof(*c));

        *c = *v;
        c->reasons = json_deep_copy(v->reasons);
        c->attestation_type = strdup_or_null(v->attestation_type);
        c->vm_id = strdup_or_null(v->vm_id);
        c->policy.name = strdup_or_null(v->policy.name);
        c->token.iss = strdup_or_null(v->token.iss);
        c->token.jti = strdup_or_null(v->token.jti);
        if (!c->reasons) {
                verdict_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static int add_reason_va(struct verdict *v, enum verdict_code code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

static int add_reason_va(struct verdict *v, enum verdict_code code, const char *fmt, va_list ap)
{
        char msg[512];
        json_t *reason;

        if (!verdict_code_to_string(code))
                return -EINVAL;
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        reason = json_pack("{ss, sn, sn, sn, sn, ss}", "code", code_table[code], "rule", "claim",
                           "expected", "actual", "message", msg);
        if (!reason || json_array_append_new(v->reasons, reason) < 0)
                return -ENOMEM;
        return 0;
}

int verdict_add_reason(struct verdict *v, enum verdict_code code, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = add_reason_va(v, code, fmt, ap);
        va_end(ap);
        return r;
}

/* The first of the pointers that names a string in claims, or NULL. */
static const char *claim_string(json_t *claims, const char *const *ptrs)
{
        for (; *ptrs; ptrs++) {
                json_t *v = NULL;
                if (jsonptr_get(claims, *ptrs, &v) == 0 && json_is_string(v))
                        return json_string_value(v);
        }
        return NULL;
}

static int64_t claim_int(json_t *claims, const char *key)
{
        json_t *v = json_object_get(claims, key);

        return json_is_integer(v) ? json_integer_value(v) : 0;
}

int verdict_from_claims(const struct policy *p, const struct policy_result *res, json_t *claims,
                        time_t now, struct verdict **ret)
{
        static const char *const type_ptrs[] = {
                "/x-ms-isolation-tee/x-ms-attestation-type", "/x-ms-attestation-type", NULL,
        };
        static const char *const vmid_ptrs[] = {
                "/x-ms-azurevm-vmid",
                "/x-ms-isolation-tee/x-ms-runtime/vm-configuration/vmUniqueId",
                "/x-ms-runtime/vm-configuration/vmUniqueId",
                NULL,
        };
        static const char *const iss_ptr[] = { "/iss", NULL }, *const jti_ptr[] = { "/jti", NULL };
        struct verdict *v = NULL;

        if (!json_is_object(claims))
                return -EINVAL;
        v = xcalloc(1, sizeof(*v));
        v->state = res->pass ? VERDICT_TRUSTED : VERDICT_UNTRUSTED;
        v->reasons = json_deep_copy(res->reasons);
        if (!v->reasons) {
                verdict_free(v);
                return -ENOMEM;
        }
        v->attestation_type = strdup_or_null(claim_string(claims, type_ptrs));
        v->vm_id = strdup_or_null(claim_string(claims, vmid_ptrs));
        v->policy.name = xstrdup(policy_get_name(p));
        memcpy(v->policy.sha256, policy_get_sha256(p), sizeof(v->policy.sha256));
        v->token.iss = strdup_or_null(claim_string(claims, iss_ptr));
        v->token.jti = strdup_or_null(claim_string(claims, jti_ptr));
        v->token.iat = claim_int(claims, "iat");
        v->token.exp = claim_int(claims, "exp");
        v->attested_at = v->token.iat > 0 ? (time_t) v->token.iat : now;
        v->expires_at = v->token.exp > 0 ? (time_t) v->token.exp : 0;
        *ret = v;
        return 0;
}

int verdict_apply_max_age(struct verdict *v, time_t now, uint64_t max_age_s)
{
        uint64_t age;
        int r;

        if (v->state != VERDICT_TRUSTED || v->attested_at <= 0 || now <= v->attested_at)
                return 0;
        age = (uint64_t) (now - v->attested_at);
        if (age <= max_age_s)
                return 0;
        r = verdict_add_reason(v, VERDICT_CODE_TOO_OLD,
                               "the trusted verdict is %llu s old, more than the max_age of %llu s asked for",
                               (unsigned long long) age, (unsigned long long) max_age_s);
        if (r < 0)
                return r;
        v->state = VERDICT_UNKNOWN;
        return 1;
}

static json_t *time_or_null(time_t t)
{
        char buf[RFC3339_MAX];

        if (t <= 0 || rfc3339_format(t, -1, buf) < 0)
                return json_null();
        return json_string(buf);
}

static json_t *string_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

static char *summary(const struct verdict *v, time_t now)
{
        const char *first = NULL;
        char buf[1024], stale[96] = "";
        size_t n = json_array_size(v->reasons);

        if (n > 0)
                first = json_string_value(json_object_get(json_array_get(v->reasons, 0), "message"));
        if (v->stale && v->attested_at > 0)
                (void) snprintf(stale, sizeof(stale), " (stale: the last refresh failed; attested %lld s ago)",
                                (long long) (now > v->attested_at ? now - v->attested_at : 0));
        switch (v->state) {
        case VERDICT_TRUSTED:
                if (v->policy.name)
                        (void) snprintf(buf, sizeof(buf), "Trusted: the token verified and every rule of policy '%s' passes%s.",
                                        v->policy.name, stale);
                else
                        (void) snprintf(buf, sizeof(buf), "Trusted%s.", stale);
                break;
        case VERDICT_UNTRUSTED:
        case VERDICT_UNKNOWN:
        default:
                if (first && n > 1)
                        (void) snprintf(buf, sizeof(buf), "%s: %s (and %zu more reason%s)%s.",
                                        v->state == VERDICT_UNTRUSTED ? "Untrusted" : "Unknown", first,
                                        n - 1, n > 2 ? "s" : "", stale);
                else if (first)
                        (void) snprintf(buf, sizeof(buf), "%s: %s%s.",
                                        v->state == VERDICT_UNTRUSTED ? "Untrusted" : "Unknown", first, stale);
                else
                        (void) snprintf(buf, sizeof(buf), "%s: no reason was recorded%s.",
                                        v->state == VERDICT_UNTRUSTED ? "Untrusted" : "Unknown", stale);
                break;
        }
        return xstrdup(buf);
}

int verdict_to_json(const struct verdict *v, time_t now, bool with_token_fields, json_t **ret)
{
        json_t *doc, *policy, *age;
        char *msg = summary(v, now);

        age = v->attested_at > 0 ? json_integer(now > v->attested_at ? (json_int_t) (now - v->attested_at) : 0)
                                 : json_null();
        policy = v->policy.name ? json_pack("{ss, ss}", "name", v->policy.name, "sha256", v->policy.sha256)
                                : json_null();
        doc = json_pack("{ss, ss, so, sb, so, so, so, so, so, so}",
                        "verdict", verdict_state_to_string(v->state),
                        "message", msg,
                        "reasons", json_deep_copy(v->reasons),
                        "stale", v->stale,
                        "age_seconds", age,
                        "attested_at", time_or_null(v->attested_at),
                        "expires_at", time_or_null(v->expires_at),
                        "attestation_type", string_or_null(v->attestation_type),
                        "vm_id", string_or_null(v->vm_id),
                        "policy", policy);
        free(msg);
        if (!doc)
                return -ENOMEM;
        if (with_token_fields) {
                json_t *token = json_pack("{so, so, so, so}",
                                          "iss", string_or_null(v->token.iss),
                                          "jti", string_or_null(v->token.jti),
                                          "iat", v->token.iat ? json_integer(v->token.iat) : json_null(),
                                          "exp", v->token.exp ? json_integer(v->token.exp) : json_null());
                if (!token || json_object_set_new(doc, "token", token) < 0) {
                        json_decref(doc);
                        return -ENOMEM;
                }
        }
        *ret = doc;
        return 0;
}
