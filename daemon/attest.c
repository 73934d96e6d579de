/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "attest"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "daemon/attest.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/envelope.h"
#include "daemon/file.h"
#include "daemon/hcl.h"
#include "daemon/http.h"
#include "daemon/jose.h"
#include "daemon/log.h"
#include "daemon/maa.h"
#include "daemon/scheduler.h"
#include "daemon/tpm.h"
#include "daemon/xalloc.h"
#include "proto/b64.h"
#include "proto/err.h"

/* Evidence gathered for one run. */
struct evidence {
        struct tpm_blob hcl, ak_pub, ak_cert, quote, quote_sig, ek_pub, certify, certify_sig;
        struct tpm_pcrs pcrs;
        uint8_t *event_log;
        size_t event_log_len;
        struct hcl_report *report;
        char *vcek_chain;               /* SNP: PEM VCEK ‖ ASK ‖ ARK (copy) */
        uint8_t *td_quote;              /* TDX */
        size_t td_quote_len;
};

struct run {
        struct attester *a;             /* NULL once the attester is gone */
        struct attest_params params;
        attest_done_cb cb;
        void *userdata;
        struct evidence ev;
        int pending;                    /* TPM requests outstanding */
        int tpm_r;
        char tpm_message[TPM_MESSAGE_MAX];
        struct attest_outcome out;
        struct envelope *envelope;
        char *jwt;
        size_t jwt_len;
        bool jwks_refetched;
        struct timespec maa_start;
        struct maa_call *call;          /* the HTTP call in flight, if any */
        char *body;                     /* the MAA request, kept for retries */
        enum maa_route route;
        unsigned attempts;              /* MAA requests sent */
        struct event *retry;            /* backoff timer before the next attempt */
};

struct attester {
        struct event_base *base;
        const struct config *cfg;
        struct tpm *tpm;
        struct http_client *http;
        struct run *run;
        struct jose_jwks *jwks;
        uint64_t jwks_fetched;          /* monotonic seconds; 0 = never */
        struct imds_vcek_cache vcek;
};

static const char *const status_table[_ATTEST_STATUS_MAX] = {
        [ATTEST_OK] = "ok",
        [ATTEST_REFUSED] = "refused",
        [ATTEST_RETRY] = "retry",
        [ATTEST_ERROR] = "error",
};

const char *attest_status_to_string(enum attest_status s)
{
        return s < _ATTEST_STATUS_MAX ? status_table[s] : NULL;
}

static uint64_t mono_s(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec;
}

static void blob_free(struct tpm_blob *b)
{
        free(b->data);
        b->data = NULL;
        b->len = 0;
}

static void evidence_done(struct evidence *ev)
{
        blob_free(&ev->hcl);
        blob_free(&ev->ak_pub);
        blob_free(&ev->ak_cert);
        blob_free(&ev->quote);
        blob_free(&ev->quote_sig);
        blob_free(&ev->ek_pub);
        blob_free(&ev->certify);
        blob_free(&ev->certify_sig);
        free(ev->event_log);
        hcl_report_free(ev->report);
        free(ev->vcek_chain);
        free(ev->td_quote);
        memset(ev, 0, sizeof(*ev));
}

void attest_outcome_done(struct attest_outcome *o)
{
        if (o)
                o->token = jose_token_free(o->token);
}

int attester_new(struct event_base *base, const struct config *cfg, struct tpm *tpm,
                 struct http_client *http, struct attester **ret)
{
        struct attester *a;

        if (!base || !cfg || !tpm || !http || !ret)
                return -EINVAL;
        a = xcalloc(1, sizeof(*a));
        a->base = base;
        a->cfg = cfg;
        a->tpm = tpm;
        a->http = http;
        *ret = a;
        return 0;
}

static void run_free(struct run *run);

struct attester *attester_free(struct attester *a)
{
        if (!a)
                return NULL;
        if (a->run && a->run->retry && event_pending(a->run->retry, EV_TIMEOUT, NULL)) {
                /* waiting to retry: nothing else will call back into the run */
                struct run *run = a->run;
                a->run = NULL;
                run_free(run);
        } else if (a->run && a->run->call) {
                /* an HTTP call in flight: cancelled, it never calls back */
                struct run *run = a->run;
                a->run = NULL;
                maa_call_cancel(run->call);
                run->call = NULL;
                run_free(run);
        } else if (a->run) {
                /* a TPM request in flight: its callback (-ECANCELED once the TPM
                 * is freed) sees run->a == NULL and finishes the run */
                a->run->a = NULL;
        }
        jose_jwks_free(a->jwks);
        imds_vcek_cache_done(&a->vcek);
        free(a);
        return NULL;
}

void attester_set_config(struct attester *a, const struct config *cfg)
{
        a->cfg = cfg;
        a->jwks = jose_jwks_free(a->jwks);      /* the issuer may have changed */
        a->jwks_fetched = 0;
}

int attester_join(struct attester *a, const char *key, const void *value, size_t len)
{
        struct run *run = a->run;
        void *v;

        if (!run || run->body || !run->a)
                return -EBUSY;
        if (run->params.n >= ATTEST_PAYLOAD_MAX)
                return -E2BIG;
        for (size_t i = 0; i < run->params.n; i++)
                if (strcmp(run->params.keys[i], key) == 0)
                        return -EEXIST;
        v = xmalloc(len + 1);
        memcpy(v, value, len);
        run->params.keys[run->params.n] = xstrdup(key);
        run->params.values[run->params.n] = v;
        run->params.value_lens[run->params.n] = len;
        run->params.n++;
        return 0;
}

bool attester_busy(const struct attester *a)
{
        return a->run != NULL;
}

static void run_free(struct run *run)
{
        if (run->retry)
                event_free(run->retry);
        free(run->body);
        evidence_done(&run->ev);
        envelope_free(run->envelope);
        if (run->jwt) {
                OPENSSL_cleanse(run->jwt, run->jwt_len);
                free(run->jwt);
        }
        for (size_t i = 0; i < run->params.n; i++) {
                free((char *) run->params.keys[i]);
                freezero((void *) run->params.values[i], run->params.value_lens[i] + 1);
        }
        attest_outcome_done(&run->out);
        free(run);
}

/* Hand the outcome to the caller (if the attester still exists) and free the run. */
static void finish(struct run *run, enum attest_status status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void finish(struct run *run, enum attest_status status, const char *code, const char *fmt, ...)
{
        struct attester *a = run->a;
        va_list ap;

        run->out.status = status;
        run->out.code = code;
        va_start(ap, fmt);
        (void) vsnprintf(run->out.message, sizeof(run->out.message), fmt, ap);
        va_end(ap);
        if (a) {
                a->run = NULL;
                if (run->cb)
                        run->cb(&run->out, run->userdata);
        }
        run_free(run);
}

/* ---- token verification ------------------------------------------------ */

static void verify_token(struct run *run);

static void jwks_answered(struct http_response *resp, void *userdata)
{
        struct run *run = userdata;
        struct attester *a = run->a;
        struct jose_jwks *jwks = NULL;
        struct err e = {};

        run->call = NULL;
        if (!a)
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        if (resp->error < 0)
                return finish(run, ATTEST_RETRY, "maa-unreachable",
                              "fetching the MAA signing keys from %s/certs failed: %s",
                              a->cfg->maa.endpoint, resp->error_message);
        if (resp->status != 200)
                return finish(run, resp->status == 408 || resp->status == 429 || resp->status >= 500
                                           ? ATTEST_RETRY : ATTEST_ERROR,
                              "maa-unreachable", "fetching the MAA signing keys from %s/certs: HTTP %ld",
                              a->cfg->maa.endpoint, resp->status);
        if (jose_jwks_parse(resp->body, resp->body_len, &jwks, &e) < 0)
                return finish(run, ATTEST_ERROR, "token-invalid", "the MAA signing keys are unusable: %s",
                              e.msg);
        jose_jwks_free(a->jwks);
        a->jwks = jwks;
        a->jwks_fetched = mono_s();
        log_info("Fetched %zu MAA signing key(s), %zu usable", jose_jwks_count(jwks),
                 jose_jwks_usable_count(jwks));
        verify_token(run);
}

static void fetch_jwks(struct run *run)
{
        int r = maa_get_jwks_start(run->a->http, run->a->cfg, jwks_answered, run, &run->call);

        if (r < 0)
                finish(run, ATTEST_ERROR, "maa-unreachable", "cannot request the MAA signing keys: %s",
                       strerror(-r));
}

static void verify_token(struct run *run)
{
        struct attester *a = run->a;
        struct jose_verify_opts opts = {
                .issuer = a->cfg->maa.endpoint,
                .now = time(NULL),
                .skew = a->cfg->maa.clock_skew_s,
        };
        struct jose_token *tok = NULL;
        struct err e = {};
        int r;

        if (!a->jwks)
                return fetch_jwks(run);
        r = jose_verify(run->jwt, run->jwt_len, a->jwks, &opts, &tok, &e);
        if (r == -ENOKEY && !run->jwks_refetched &&
            mono_s() >= a->jwks_fetched + JWKS_REFETCH_MIN_INTERVAL_S) {
                /* key rotation: refetch once; rate-limited across runs so that
                 * a flood of unknown kids cannot hammer MAA */
                log_notice("The MAA token names an unknown signing key; refetching the keys");
                run->jwks_refetched = true;
                return fetch_jwks(run);
        }
        if (r < 0)
                return finish(run, ATTEST_ERROR, r == -EKEYEXPIRED ? "token-expired" : "token-invalid",
                              "the MAA token does not verify: %s", e.msg);
        run->out.token = tok;
        finish(run, ATTEST_OK, "ok", "token verified");
}

/* ---- the sealed AzureGuest response ------------------------------------- */

static void note_tpm_op(struct run *run, const char *op, const struct tpm_result *res)
{
        if (op && run->out.n_tpm_ops < ATTEST_TPM_OPS_MAX) {
                run->out.tpm_ops[run->out.n_tpm_ops].op = op;
                run->out.tpm_ops[run->out.n_tpm_ops].seconds = res->seconds;
                run->out.n_tpm_ops++;
        }
}

static void key_unwrapped(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;
        struct err e = {};

        note_tpm_op(run, "rsa_decrypt", res);
        if (!run->a)
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        if (res->r < 0)
                return finish(run, res->r == -EIO || res->r == -EBUSY ? ATTEST_RETRY : ATTEST_ERROR,
                              "tpm-error", "unwrapping the token key in the TPM failed: %s", res->message);
        if (envelope_open(run->envelope, res->data.data, res->data.len, &run->jwt, &run->jwt_len, &e) < 0)
                return finish(run, ATTEST_ERROR, "token-invalid", "the sealed MAA response does not open: %s",
                              e.msg);
        verify_token(run);
}

static void open_sealed(struct run *run, const char *token)
{
        uint8_t *json = NULL;
        const uint8_t *ek;
        size_t len, eklen;
        struct err e = {};
        int r;

        r = b64_decode(token, strlen(token), B64_ANY, &json, &len);
        if (r < 0)
                return finish(run, ATTEST_ERROR, "token-invalid", "the sealed MAA token is not base64url");
        r = envelope_parse((const char *) json, len, &run->envelope, &e);
        free(json);
        if (r < 0)
                return finish(run, ATTEST_ERROR, "token-invalid", "the sealed MAA token is malformed: %s", e.msg);
        ek = envelope_get0_encrypted_key(run->envelope, &eklen);
        r = tpm_rsa_decrypt_async(run->a->tpm, ek, eklen, key_unwrapped, run);
        if (r < 0)
                finish(run, ATTEST_ERROR, "tpm-error", "cannot queue the TPM decryption: %s", strerror(-r));
}

/* ---- MAA ------------------------------------------------------------------ */

static double elapsed_s(const struct timespec *since)
{
        struct timespec now;

        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - since->tv_sec) + (double) (now.tv_nsec - since->tv_nsec) / 1e9;
}

static void maa_answered(struct maa_outcome *mo, void *userdata)
{
        struct run *run = userdata;
        char *token;

        run->call = NULL;
        if (!run->a)
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        run->out.maa_seconds = elapsed_s(&run->maa_start);
        run->out.retry_after_ms = mo->retry_after_s >= 0 ? mo->retry_after_s * 1000 : -1;
        switch (mo->result) {
        case MAA_OK:
                token = mo->token;
                mo->token = NULL;
                if (run->a->cfg->maa.mode == MAA_MODE_GUEST) {
                        open_sealed(run, token);
                        free(token);
                } else {
                        run->jwt = token;
                        run->jwt_len = strlen(token);
                        verify_token(run);
                }
                return;
        case MAA_REFUSED:
                return finish(run, ATTEST_REFUSED, "maa-refused", "%s", mo->message);
        case MAA_RETRY:
                if (run->attempts < MAA_ATTEMPTS_MAX) {
                        const struct sched_policy sp = {
                                .backoff_initial_ms = MAA_RETRY_BACKOFF_MS,
                                .backoff_max_ms = MAA_RETRY_BACKOFF_MAX_MS,
                        };
                        uint64_t ms = sched_delay_after_failure(&sp, run->attempts, run->out.retry_after_ms,
                                                                sched_random_unit());
                        struct timeval tv = { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) (ms % 1000) * 1000 };

                        log_warning("MAA attempt %u of %d failed (%s); retrying in %llu ms", run->attempts,
                                    MAA_ATTEMPTS_MAX, mo->message, (unsigned long long) ms);
                        if (evtimer_add(run->retry, &tv) == 0)
                                return;
                }
                return finish(run, ATTEST_RETRY, "maa-unreachable", "%s", mo->message);
        default:
                return finish(run, ATTEST_ERROR, "maa-config", "%s", mo->message);
        }
}

/* One attempt: POST the kept request. */
static void post_to_maa(struct run *run)
{
        int r;

        run->attempts++;
        (void) clock_gettime(CLOCK_MONOTONIC, &run->maa_start);
        r = maa_attest_start(run->a->http, run->a->cfg, run->route, run->body, maa_answered, run, &run->call);
        if (r < 0)
                finish(run, ATTEST_ERROR, "maa-unreachable", "cannot send the MAA request: %s", strerror(-r));
}

static void retry_maa(evutil_socket_t fd, short what, void *userdata)
{
        struct run *run = userdata;

        if (!run->a)
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        post_to_maa(run);
}

static int build_guest(struct run *run, char **ret_body, struct err *e)
{
        struct maa_kv payload[ATTEST_PAYLOAD_MAX];
        struct maa_pcr pcrs[TPM_PCR_COUNT];
        struct maa_os_info os = {};
        struct maa_guest_evidence g = {};
        struct evidence *ev = &run->ev;
        const uint8_t *hw, *rt;
        size_t hwlen, rtlen, n = 0;
        struct err oe = {};
        int r;

        if (maa_os_info_load(NULL, &os, &oe) < 0)
                log_warning("Cannot read the OS release (%s); reporting a generic Linux", oe.msg);
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (ev->pcrs.mask & (1u << i)) {
                        pcrs[n].index = i;
                        memcpy(pcrs[n].digest, ev->pcrs.digest[i], sizeof(pcrs[n].digest));
                        n++;
                }
        for (size_t i = 0; i < run->params.n; i++)
                payload[i] = (struct maa_kv) { run->params.keys[i], run->params.values[i],
                                               run->params.value_lens[i] };
        hw = hcl_report_get0_hw_report(ev->report, &hwlen);
        rt = hcl_report_get0_runtime_data(ev->report, &rtlen);
        g.os_distro = os.distro ? os.distro : "Linux";
        g.os_version_major = os.major;
        g.os_version_minor = os.minor;
        g.tcg_log = (struct maa_bytes) { ev->event_log, ev->event_log_len };
        g.client_payload = payload;
        g.n_client_payload = run->params.n;
        g.ak_cert = (struct maa_bytes) { ev->ak_cert.data, ev->ak_cert.len };
        g.ak_pub = (struct maa_bytes) { ev->ak_pub.data, ev->ak_pub.len };
        g.quote = (struct maa_bytes) { ev->quote.data, ev->quote.len };
        g.quote_sig = (struct maa_bytes) { ev->quote_sig.data, ev->quote_sig.len };
        g.pcrs = pcrs;
        g.n_pcrs = n;
        g.enc_key_pub = (struct maa_bytes) { ev->ek_pub.data, ev->ek_pub.len };
        g.enc_key_certify = (struct maa_bytes) { ev->certify.data, ev->certify.len };
        g.enc_key_certify_sig = (struct maa_bytes) { ev->certify_sig.data, ev->certify_sig.len };
        g.runtime_claims = (struct maa_bytes) { rt, rtlen };
        if (hcl_report_type(ev->report) == HCL_REPORT_TYPE_TDX) {
                g.isolation = MAA_ISOLATION_TDX;
                g.td_quote = (struct maa_bytes) { ev->td_quote, ev->td_quote_len };
        } else {
                g.isolation = MAA_ISOLATION_SEVSNP;
                g.snp_report = (struct maa_bytes) { hw, hwlen };
                g.vcek_chain_pem = (struct maa_bytes) { (const uint8_t *) ev->vcek_chain, strlen(ev->vcek_chain) };
        }
        r = maa_build_guest_request(&g, ret_body, e);
        maa_os_info_done(&os);
        return r;
}

static int build_platform(struct run *run, char **ret_body, struct err *e)
{
        struct maa_platform_evidence p = {};
        const uint8_t *hw, *rt;
        size_t hwlen, rtlen;
        char *nonce = NULL;
        int r;

        hw = hcl_report_get0_hw_report(run->ev.report, &hwlen);
        rt = hcl_report_get0_runtime_data(run->ev.report, &rtlen);
        p.runtime_claims = (struct maa_bytes) { rt, rtlen };
        for (size_t i = 0; i < run->params.n; i++)
                if (strcmp(run->params.keys[i], "nonce") == 0 && !nonce)
                        nonce = b64_encode(run->params.values[i], run->params.value_lens[i], B64_STD);
        p.nonce = nonce;
        if (hcl_report_type(run->ev.report) == HCL_REPORT_TYPE_TDX) {
                p.td_quote = (struct maa_bytes) { run->ev.td_quote, run->ev.td_quote_len };
                r = maa_build_tdx_request(&p, ret_body, e);
                free(nonce);
                return r;
        }
        p.snp_report = (struct maa_bytes) { hw, hwlen };
        p.vcek_chain_pem = (struct maa_bytes) { (const uint8_t *) run->ev.vcek_chain, strlen(run->ev.vcek_chain) };
        r = maa_build_snp_request(&p, ret_body, e);
        free(nonce);
        return r;
}

static void send_to_maa(struct run *run)
{
        struct attester *a = run->a;
        bool tdx = hcl_report_type(run->ev.report) == HCL_REPORT_TYPE_TDX;
        enum maa_route route;
        char *body = NULL;
        struct err e = {};
        int r;

        if (a->cfg->maa.mode == MAA_MODE_GUEST) {
                route = MAA_ROUTE_AZURE_GUEST;
                r = build_guest(run, &body, &e);
        } else {
                route = tdx ? MAA_ROUTE_TDX_VM : MAA_ROUTE_SEVSNP_VM;
                r = build_platform(run, &body, &e);
        }
        if (r < 0)
                return finish(run, ATTEST_ERROR, "evidence-invalid", "cannot build the MAA request: %s", e.msg);
        SHA256((const uint8_t *) body, strlen(body), run->out.evidence_sha256);
        run->out.have_evidence = true;
        run->body = body;
        run->route = route;
        run->retry = evtimer_new(a->base, retry_maa, run);
        if (!run->retry)
                return finish(run, ATTEST_ERROR, "maa-unreachable", "cannot create a timer");
        post_to_maa(run);
}

/* ---- platform evidence from IMDS -------------------------------------------- */

static void got_vcek(int r, const char *msg, struct imds_vcek *vcek, void *userdata)
{
        struct run *run = userdata;
        uint64_t tcb = 0;
        const struct imds_vcek *cached;
        const uint8_t *hw;
        size_t hwlen;

        run->call = NULL;
        if (!run->a) {
                if (vcek)
                        imds_vcek_done(vcek);
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        }
        if (r < 0)
                return finish(run, r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED ? ATTEST_RETRY : ATTEST_ERROR,
                              "maa-unreachable", "fetching the VCEK certificate chain from IMDS failed: %s", msg);
        imds_vcek_cache_put(&run->a->vcek, vcek, mono_s());
        hw = hcl_report_get0_hw_report(run->ev.report, &hwlen);
        (void) maa_snp_reported_tcb(hw, hwlen, &tcb);
        cached = imds_vcek_cache_get(&run->a->vcek, tcb, mono_s());
        if (!cached)
                return finish(run, ATTEST_ERROR, "evidence-invalid",
                              "IMDS served a VCEK for another TCB than the SNP report's (0x%016llx)",
                              (unsigned long long) tcb);
        run->ev.vcek_chain = xstrdup(cached->chain_pem);
        send_to_maa(run);
}

static void got_td_quote(int r, const char *msg, uint8_t *quote, size_t len, void *userdata)
{
        struct run *run = userdata;

        run->call = NULL;
        if (!run->a) {
                free(quote);
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        }
        if (r < 0)
                return finish(run, r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED ? ATTEST_RETRY : ATTEST_ERROR,
                              "maa-unreachable", "getting the TD quote from IMDS failed: %s", msg);
        run->ev.td_quote = quote;
        run->ev.td_quote_len = len;
        send_to_maa(run);
}

static void platform_evidence(struct run *run)
{
        struct attester *a = run->a;
        const struct imds_vcek *cached;
        const uint8_t *hw;
        size_t hwlen;
        uint64_t tcb = 0;
        struct err e = {};
        int r;

        if (hcl_parse(run->ev.hcl.data, run->ev.hcl.len, &run->ev.report, &e) < 0)
                return finish(run, ATTEST_ERROR, "evidence-invalid", "the HCL report is unusable: %s", e.msg);
        hw = hcl_report_get0_hw_report(run->ev.report, &hwlen);
        if (hcl_report_type(run->ev.report) == HCL_REPORT_TYPE_TDX) {
                r = imds_get_tdquote_start(a->http, a->cfg, hw, hwlen, got_td_quote, run, &run->call);
                if (r < 0)
                        finish(run, ATTEST_ERROR, "maa-unreachable", "cannot ask IMDS for a TD quote: %s", strerror(-r));
                return;
        }
        (void) maa_snp_reported_tcb(hw, hwlen, &tcb);
        cached = imds_vcek_cache_get(&a->vcek, tcb, mono_s());
        if (cached) {
                run->ev.vcek_chain = xstrdup(cached->chain_pem);
                return send_to_maa(run);
        }
        r = imds_get_vcek_start(a->http, a->cfg, got_vcek, run, &run->call);
        if (r < 0)
                finish(run, ATTEST_ERROR, "maa-unreachable", "cannot ask IMDS for the VCEK chain: %s", strerror(-r));
}

/* ---- TPM evidence ------------------------------------------------------------- */


static void tpm_step_done(struct run *run, const char *op, struct tpm_result *res)
{
        note_tpm_op(run, op, res);
        if (res->r < 0 && run->tpm_r == 0) {
                run->tpm_r = res->r;
                (void) snprintf(run->tpm_message, sizeof(run->tpm_message), "%s", res->message);
        }
        if (--run->pending > 0)
                return;
        if (!run->a)
                return finish(run, ATTEST_ERROR, "cancelled", "shutting down");
        if (run->tpm_r < 0)
                return finish(run, run->tpm_r == -EIO || run->tpm_r == -EBUSY || run->tpm_r == -EAGAIN
                                           ? ATTEST_RETRY : ATTEST_ERROR,
                              "tpm-error", "%s", run->tpm_message);
        platform_evidence(run);
}

static void got_hcl(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;

        tpm_blob_take(&res->data, &run->ev.hcl.data, &run->ev.hcl.len);
        tpm_step_done(run, "nv_read", res);
}

static void got_ak_pub(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;

        tpm_blob_take(&res->data, &run->ev.ak_pub.data, &run->ev.ak_pub.len);
        tpm_step_done(run, "read_public", res);
}

/* notAfter of a DER certificate in seconds since the epoch, 0 when unreadable. */
static int64_t cert_not_after(const uint8_t *der, size_t len)
{
        const unsigned char *p = der;
        X509 *x = der && len ? d2i_X509(NULL, &p, (long) len) : NULL;
        struct tm tm = {};
        int64_t t = 0;

        if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
                t = (int64_t) timegm(&tm);
        X509_free(x);
        return t;
}

static void got_ak_cert(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;

        tpm_blob_take(&res->data, &run->ev.ak_cert.data, &run->ev.ak_cert.len);
        run->out.ak_cert_not_after = cert_not_after(run->ev.ak_cert.data, run->ev.ak_cert.len);
        tpm_step_done(run, "nv_read", res);
}

static void got_quote(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;

        tpm_blob_take(&res->attest, &run->ev.quote.data, &run->ev.quote.len);
        tpm_blob_take(&res->signature, &run->ev.quote_sig.data, &run->ev.quote_sig.len);
        run->ev.pcrs = res->pcrs;
        tpm_step_done(run, "quote", res);
}

static void got_ephemeral(struct tpm_result *res, void *userdata)
{
        struct run *run = userdata;

        tpm_blob_take(&res->data, &run->ev.ek_pub.data, &run->ev.ek_pub.len);
        tpm_blob_take(&res->attest, &run->ev.certify.data, &run->ev.certify.len);
        tpm_blob_take(&res->signature, &run->ev.certify_sig.data, &run->ev.certify_sig.len);
        if (res->r == 0 && run->tpm_r == 0 &&
            memcmp(res->pcrs.digest, run->ev.pcrs.digest, sizeof(res->pcrs.digest)) != 0) {
                /* the PCRs moved between the quote and the key: MAA would refuse */
                run->tpm_r = -EAGAIN;
                (void) snprintf(run->tpm_message, sizeof(run->tpm_message),
                                "the PCRs changed while the evidence was gathered");
        }
        tpm_step_done(run, "ephemeral_key", res);
}

int attester_run(struct attester *a, const struct attest_params *params, attest_done_cb cb,
                 void *userdata)
{
        bool guest = a->cfg->maa.mode == MAA_MODE_GUEST;
        uint32_t mask = a->cfg->tpm.pcr_mask;
        struct err e = {};
        struct run *run;
        int r;

        if (a->run)
                return -EBUSY;
        if (params && params->n > ATTEST_PAYLOAD_MAX)
                return -E2BIG;
        run = xcalloc(1, sizeof(*run));
        run->a = a;
        run->cb = cb;
        run->userdata = userdata;
        run->out.retry_after_ms = -1;
        for (size_t i = 0; params && i < params->n; i++) {
                run->params.keys[i] = xstrdup(params->keys[i]);
                void *v = xmalloc(params->value_lens[i] + 1);
                memcpy(v, params->values[i], params->value_lens[i]);
                run->params.values[i] = v;
                run->params.value_lens[i] = params->value_lens[i];
                run->params.n++;
        }
        a->run = run;
        if (guest) {
                r = file_read_all(a->cfg->tpm.event_log, EVENTLOG_SIZE_MAX, &run->ev.event_log,
                                  &run->ev.event_log_len, &e);
                if (r < 0) {
                        finish(run, ATTEST_ERROR, "evidence-invalid", "cannot read the TCG event log: %s", e.msg);
                        return 0;
                }
        }
        /* queued back to back; the TPM worker runs them in order */
        run->pending = 1;       /* held until everything is queued */
        r = tpm_read_hcl_report_async(a->tpm, got_hcl, run);
        if (r >= 0)
                run->pending++;
        if (r >= 0 && guest) {
                if ((r = tpm_read_ak_pub_async(a->tpm, got_ak_pub, run)) >= 0)
                        run->pending++;
                if (r >= 0 && (r = tpm_read_ak_cert_async(a->tpm, got_ak_cert, run)) >= 0)
                        run->pending++;
                if (r >= 0 && (r = tpm_quote_async(a->tpm, mask, NULL, 0, got_quote, run)) >= 0)
                        run->pending++;
                if (r >= 0 && (r = tpm_ephemeral_key_async(a->tpm, mask, got_ephemeral, run)) >= 0)
                        run->pending++;
        }
        if (r < 0 && run->tpm_r == 0) {
                run->tpm_r = r;
                (void) snprintf(run->tpm_message, sizeof(run->tpm_message),
                                "cannot queue TPM requests: %s", strerror(-r));
        }
        /* release the hold: completes the run now if nothing was queued */
        {
                struct tpm_result none = { .r = 0 };
                tpm_step_done(run, NULL, &none);
        }
        return 0;
}
