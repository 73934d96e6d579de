/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "oneshot"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "daemon/attest.h"
#include "daemon/config.h"
#include "daemon/diag.h"
#include "daemon/http.h"
#include "daemon/jose.h"
#include "daemon/judge.h"
#include "daemon/log.h"
#include "daemon/oneshot.h"
#include "daemon/policy.h"
#include "daemon/tpm.h"
#include "daemon/verdict.h"
#include "proto/err.h"

struct oneshot {
        struct event_base *base;
        const struct policy *policy;
        struct verdict *verdict;
        char *token;
        int r;
};

static void done(struct attest_outcome *o, void *userdata)
{
        struct oneshot *s = userdata;
        size_t len;

        s->r = judge_outcome(s->policy, o, time(NULL), &s->verdict);
        if (o->status == ATTEST_OK)
                s->token = strdup(jose_token_get0_raw(o->token, &len));
        log_info("Attestation %s (%s); MAA round trip %.3f s", attest_status_to_string(o->status),
                 o->message, o->maa_seconds);
        (void) event_base_loopbreak(s->base);
}

int oneshot_run(const struct config *cfg, bool with_token)
{
        struct oneshot s = { .r = -EINPROGRESS };
        struct diag_list errs = {};
        struct policy *policy = NULL;
        struct http_client *http = NULL;
        struct attester *att = NULL;
        struct tpm *tpm = NULL;
        struct err e = {};
        json_t *doc = NULL;
        int r, ret = ATTEST_EXIT_UNKNOWN;

        if (policy_load(cfg->policy.file, &policy, &errs) < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        log_error("%s", errs.msgs[i]);
                diag_list_done(&errs);
                return EX_CONFIG;
        }
        s.policy = policy;
        s.base = event_base_new();
        if (!s.base) {
                ret = EX_OSERR;
                goto out;
        }
        r = tpm_new(s.base, cfg->tpm.tcti, &tpm, &e);
        if (r < 0) {
                log_error("Cannot open the TPM '%s': %s", cfg->tpm.tcti, e.msg);
                ret = EX_UNAVAILABLE;
                goto out;
        }
        if (http_client_new(s.base, &http) < 0 || attester_new(s.base, cfg, tpm, http, &att) < 0) {
                ret = EX_OSERR;
                goto out;
        }
        r = attester_run(att, NULL, done, &s);
        if (r < 0) {
                log_error("Cannot start the attestation: %s", strerror(-r));
                goto out;
        }
        if (s.r == -EINPROGRESS)
                (void) event_base_dispatch(s.base);
        if (s.r < 0 || !s.verdict) {
                log_error("No verdict: %s", strerror(s.r < 0 ? -s.r : EIO));
                goto out;
        }
        if (verdict_to_json(s.verdict, time(NULL), true, &doc) < 0)
                goto out;
        if (with_token && s.token)
                (void) json_object_set_new(doc, "token", json_string(s.token));
        {
                char *txt = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (txt)
                        puts(txt);
                free(txt);
        }
        ret = s.verdict->state == VERDICT_TRUSTED ? 0 : s.verdict->state == VERDICT_UNTRUSTED ? 1
                                                                                              : ATTEST_EXIT_UNKNOWN;
out:
        json_decref(doc);
        free(s.token);
        verdict_free(s.verdict);
        attester_free(att);
        http_client_free(http);
        tpm_free(tpm);
        if (s.base)
                event_base_free(s.base);
        policy_free(policy);
        return ret;
}
