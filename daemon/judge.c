/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>

#include "daemon/attest.h"
#include "daemon/jose.h"
#include "daemon/judge.h"
#include "daemon/policy.h"
#include "daemon/verdict.h"

int judge_token(const struct policy *p, const struct jose_token *t, time_t now, struct verdict **ret)
{
        struct policy_result *res = NULL;
        json_t *claims = jose_token_get0_claims(t);
        int r;

        r = policy_eval(p, claims, &res);
        if (r >= 0)
                r = verdict_from_claims(p, res, claims, now, ret);
        policy_result_free(res);
        return r;
}

int judge_outcome(const struct policy *p, const struct attest_outcome *o, time_t now, struct verdict **ret)
{
        enum verdict_code code;
        struct verdict *v;
        int r;

        if (o->status == ATTEST_OK)
                return o->token ? judge_token(p, o->token, now, ret) : -EINVAL;
        code = verdict_code_from_string(o->code);
        if (code < 0)
                code = VERDICT_CODE_EVIDENCE_INVALID;
        v = verdict_new();
        v->state = o->status == ATTEST_REFUSED ? VERDICT_UNTRUSTED : VERDICT_UNKNOWN;
        r = verdict_add_reason(v, code, "%s", o->message);
        if (r < 0) {
                verdict_free(v);
                return r;
        }
        *ret = v;
        return 0;
}
