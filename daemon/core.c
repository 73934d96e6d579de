/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "core"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/timerfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "daemon/api.h"
#include "daemon/attest.h"
#include "daemon/audit.h"
#include "daemon/config.h"
#include "daemon/core.h"
#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/http.h"
#include "daemon/jose.h"
#include "daemon/judge.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/policy.h"
#include "daemon/scheduler.h"
#include "daemon/tpm.h"
#include "daemon/verdict.h"
#include "daemon/xalloc.h"
#include "proto/err.h"
#include "proto/hex.h"
#include "proto/rfc3339.h"

/* One POST /v1/attest caller, from the API until its reply. */
struct waiter {
        uint8_t nonce[API_NONCE_MAX_BYTES];     /* the token echoes its std base64 */
        size_t nonce_len;
        char key[32];                   /* its ClientPayload key */
        struct api_caller caller;       /* a copy; pidfd -1 */
        api_reply_fn done;
        void *done_ud;
        TAILQ_ENTRY(waiter) link;
};

TAILQ_HEAD(waiter_list, waiter);

struct core {
        struct event_base *base;
        const char *config_path;
        struct config *cfg;
        struct policy *policy;
        struct tpm *tpm;
        struct http_client *http;
        struct attester *att;
        struct api *api;
        struct metrics *metrics;
        struct notify *notify;
        struct audit *audit;

        /* The cache: the last definitive verdict and the token behind it. */
        struct verdict *verdict;        /* trusted or untrusted; NULL: none yet */
        struct jose_token *token;       /* verified token behind verdict; NULL after a refusal */
        enum verdict_state reported;    /* effective state last announced */
        unsigned failures;              /* consecutive runs without a verified token */
        char last_code[32];
        char last_message[ATTEST_MESSAGE_MAX];
        time_t started_at, last_attempt_at, last_success_at, next_refresh_at;
        int64_t ak_cert_not_after;
        uint64_t n_outcomes[_ATTEST_STATUS_MAX];

        /* Single flight and batching. */
        bool running;
        struct waiter_list queue, batch;
        size_t n_queue, n_batch;
        uint64_t batch_first_ms;        /* CLOCK_MONOTONIC of the first caller queued */
        struct event *refresh_timer, *batch_timer, *expiry_timer, *kick, *clock_tick, *clock_ev, *drain_timer;
        struct event *sig_hup, *sig_term, *sig_int;
        int clock_fd;
        int64_t boot_offset_ns;         /* CLOCK_BOOTTIME - CLOCK_MONOTONIC at the last tick */

        /* GET /v1/verdict rendered once per second and per change. */
        char *vbody;
        size_t vbody_len;
        int vbody_status;
        time_t vbody_at;                /* 0: stale */

        /* Reloads. */
        bool reload_pending;
        time_t last_reload_at;
        bool last_reload_ok;
        json_t *last_reload_errors;

        bool stopping;
        int exit_status;
};

static const char *outcome_name(const struct attest_outcome *o, const struct verdict *v)
{
        if (v && (o->status == ATTEST_OK || o->status == ATTEST_REFUSED))
                return verdict_state_to_string(v->state);
        return attest_status_to_string(o->status);
}

static int64_t ns_of(clockid_t id)
{
        struct timespec ts;

        (void) clock_gettime(id, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fmt_time(time_t t, char buf[static RFC3339_MAX])
{
        if (t <= 0 || rfc3339_format(t, -1, buf) < 0)
                buf[0] = '\0';
}

static json_t *time_or_null(time_t t)
{
        char buf[RFC3339_MAX];

        fmt_time(t, buf);
        return buf[0] ? json_string(buf) : json_null();
}

/* ---- audit ---------------------------------------------------------------- */

/* Append one record (extra is consumed). A failure is counted, logged and
 * reported in the status; it is returned so that a token hand-out can be
 * refused rather than go unrecorded. */
static int audit_write(struct core *c, enum audit_event ev, const struct audit_caller *caller, const char *outcome,
                       const char *jti, const uint8_t *evidence_sha256, json_t *extra)
{
        char ev_hex[SHA256_HEX_LEN + 1];
        struct audit_record rec = {
                .event = ev,
                .caller = caller,
                .outcome = outcome,
                .jti = jti,
                .policy_sha256 = c->policy ? policy_get_sha256(c->policy) : NULL,
                .extra = extra,
        };
        struct err e = {};
        int r;

        if (evidence_sha256) {
                hex_encode_into(ev_hex, evidence_sha256, 32);
                rec.evidence_sha256 = ev_hex;
        }
        if (!c->audit) {
                json_decref(extra);
                return 0;
        }
        r = audit_append(c->audit, &rec, &e);
        if (r < 0) {
                metrics_audit_write_failure(c->metrics);
                log_error("The audit trail is failing: %s", e.msg);
                (void) notify_status(c->notify, "audit log failing: %s", e.msg);
        }
        json_decref(extra);
        return r < 0 ? r : 0;
}

/* ---- the effective verdict -------------------------------------------------- */

/* What a caller gets now: the cache aged by the clock. [out] callee-allocated. */
static int current_verdict(struct core *c, time_t now, struct verdict **ret)
{
        struct verdict *v = NULL;
        int64_t nbf = 0;
        int r;

        if (!c->verdict) {
                v = verdict_new();
                if (c->last_code[0]) {
                        enum verdict_code code = verdict_code_from_string(c->last_code);
                        r = verdict_add_reason(v, code >= 0 ? code : VERDICT_CODE_EVIDENCE_INVALID, "%s",
                                               c->last_message);
                } else {
                        r = verdict_add_reason(v, VERDICT_CODE_NO_VERDICT_YET,
                                               c->running ? "the first attestation is in progress"
                                                          : "no attestation has completed yet");
                }
                if (r < 0) {
                        verdict_free(v);
                        return r;
                }
                *ret = v;
                return 0;
        }
        r = verdict_dup(c->verdict, &v);
        if (r < 0)
                return r;
        v->stale = c->failures > 0;
        if (v->state == VERDICT_TRUSTED && v->expires_at > 0 && now >= v->expires_at) {
                char when[RFC3339_MAX];

                fmt_time(v->expires_at, when);
                v->state = VERDICT_UNKNOWN;
                json_array_clear(v->reasons);
                r = verdict_add_reason(v, VERDICT_CODE_TOKEN_EXPIRED,
                                       "the token expired at %s and could not be renewed%s%s", when,
                                       c->last_code[0] ? ": " : "", c->last_code[0] ? c->last_message : "");
                if (r < 0) {
                        verdict_free(v);
                        return r;
                }
        }
        /* A wall clock set back before nbf: the token would not verify now. */
        if (v->state == VERDICT_TRUSTED && c->token && jose_token_get_nbf(c->token, &nbf) == 0 &&
            (int64_t) now < nbf - (int64_t) c->cfg->maa.clock_skew_s) {
                char when[RFC3339_MAX];

                fmt_time((time_t) nbf, when);
                v->state = VERDICT_UNKNOWN;
                json_array_clear(v->reasons);
                r = verdict_add_reason(v, VERDICT_CODE_TOKEN_INVALID,
                                       "the token is not valid before %s (allowed skew %u s): the wall clock is "
                                       "behind it", when, c->cfg->maa.clock_skew_s);
                if (r < 0) {
                        verdict_free(v);
                        return r;
                }
        }
        *ret = v;
        return 0;
}

static enum verdict_state effective_state(struct core *c)
{
        struct verdict *v = NULL;
        enum verdict_state s = VERDICT_UNKNOWN;

        if (current_verdict(c, time(NULL), &v) >= 0)
                s = v->state;
        verdict_free(v);
        return s;
}

/* Whatever the verdict document depends on changed. */
static void verdict_changed(struct core *c)
{
        c->vbody_at = 0;
}

static enum metrics_verdict metrics_state(enum verdict_state s)
{
        return s == VERDICT_TRUSTED ? METRICS_VERDICT_TRUSTED
               : s == VERDICT_UNTRUSTED ? METRICS_VERDICT_UNTRUSTED
                                        : METRICS_VERDICT_UNKNOWN;
}

/* Announce a change of the effective verdict: audit, journal, systemd, metrics. */
static void state_changed(struct core *c, const char *why)
{
        verdict_changed(c);
        enum verdict_state now = effective_state(c);
        const char *from = verdict_state_to_string(c->reported), *to = verdict_state_to_string(now);

        metrics_verdict_state(c->metrics, metrics_state(now));
        if (now == c->reported)
                return;
        log_notice("Verdict %s -> %s (%s)", from, to, why);
        (void) audit_write(c, AUDIT_EVENT_VERDICT_CHANGE, NULL, to, c->token ? jose_token_get0_jti(c->token) : NULL, NULL,
                           json_pack("{s:s,s:s}", "from", from, "reason", why));
        (void) notify_status(c->notify, "verdict %s (%s)", to, why);
        c->reported = now;
}

static void arm_expiry(struct core *c)
{
        time_t now = time(NULL);
        struct timeval tv = { 0 };

        (void) event_del(c->expiry_timer);
        if (!c->verdict || c->verdict->state != VERDICT_TRUSTED || c->verdict->expires_at <= 0)
                return;
        if (c->verdict->expires_at > now)
                tv.tv_sec = c->verdict->expires_at - now;
        (void) event_add(c->expiry_timer, &tv);
}

static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
        struct core *c = arg;

        state_changed(c, "the token expired");
}

/* ---- runs -------------------------------------------------------------------- */

static void schedule(struct core *c, uint64_t delay_ms)
{
        struct timeval tv = { .tv_sec = (time_t) (delay_ms / 1000), .tv_usec = (suseconds_t) (delay_ms % 1000) * 1000 };

        (void) event_add(c->refresh_timer, &tv);
        c->next_refresh_at = time(NULL) + (time_t) ((delay_ms + 999) / 1000);
}

static struct sched_policy sched_policy_of(const struct config *cfg)
{
        return (struct sched_policy) {
                .fraction = cfg->refresh.fraction,
                .jitter = cfg->refresh.jitter,
                .backoff_initial_ms = cfg->refresh.backoff_initial_ms,
                .backoff_max_ms = cfg->refresh.backoff_max_ms,
        };
}

static int http_status_of(enum verdict_state s)
{
        return s == VERDICT_TRUSTED ? 200 : s == VERDICT_UNTRUSTED ? 403 : 503;
}

static void caller_of(const struct api_caller *ac, struct audit_caller *ret)
{
        *ret = (struct audit_caller) {
                .uid = ac->uid, .gid = ac->gid, .pid = ac->pid,
                .pod_uid = ac->pod_uid[0] ? ac->pod_uid : NULL,
                .container_id = ac->container_id[0] ? ac->container_id : NULL,
        };
}

/*
 * The reply a fresh-attest caller gets: base, the run's verdict document
 * (with the token when one was issued; NULL when it could not be built),
 * plus the caller's nonce key. outcome, jti and evidence go to the audit.
 */
static void answer_waiter(struct core *c, struct waiter *w, const json_t *base, int status, const char *outcome,
                          const char *jti, const uint8_t *evidence)
{
        json_t *doc = base ? json_copy((json_t *) base) : NULL;  /* shallow: only top-level members are added */
        struct audit_caller ac;

        if (doc && json_object_get(doc, "token"))
                (void) json_object_set_new(doc, "nonce_key", json_string(w->key));
        if (!doc) {
                doc = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
                                "cannot build the verdict for this attestation");
                status = 500;
        }
        caller_of(&w->caller, &ac);
        if (audit_write(c, AUDIT_EVENT_FRESH_ATTEST, &ac, outcome, jti, evidence,
                        json_pack("{s:s}", "nonce_key", w->key)) < 0 && json_object_get(doc, "token")) {
                /* no token leaves unrecorded */
                json_decref(doc);
                doc = json_pack("{s:{s:s,s:s}}", "error", "code", "audit_unavailable", "message",
                                "the token cannot be recorded in the audit log, so it is not handed out "
                                "(see /v1/status)");
                status = 503;
        }
        w->done(w->done_ud, status, doc);
}

static void reload(struct core *c);

static void run_done(struct attest_outcome *o, void *userdata)
{
        struct core *c = userdata;
        time_t now = time(NULL);
        struct sched_policy sp = sched_policy_of(c->cfg);
        struct verdict *v = NULL;
        struct waiter *w;
        bool definitive;
        const char *why;
        size_t n_batch = 0;
        int r;

        c->running = false;
        verdict_changed(c);
        n_batch = c->n_batch;
        c->n_batch = 0;
        if (o->status < _ATTEST_STATUS_MAX)
                c->n_outcomes[o->status]++;
        if (o->maa_seconds > 0)
                metrics_maa_duration(c->metrics, o->maa_seconds);
        for (size_t i = 0; i < o->n_tpm_ops; i++)
                metrics_tpm_duration(c->metrics, o->tpm_ops[i].op, o->tpm_ops[i].seconds);
        if (o->ak_cert_not_after > 0) {
                c->ak_cert_not_after = o->ak_cert_not_after;
                metrics_ak_cert_expiry(c->metrics, (time_t) o->ak_cert_not_after);
        }
        r = judge_outcome(c->policy, o, now, &v);
        if (r < 0) {
                log_error_errno(r, "Cannot judge the attestation: %m");
                v = NULL;
        }

        definitive = v && (o->status == ATTEST_OK || o->status == ATTEST_REFUSED);
        if (definitive) {
                verdict_free(c->verdict);
                c->verdict = v;
                jose_token_free(c->token);
                c->token = o->token;    /* stolen */
                o->token = NULL;
                v = NULL;
        }
        if (definitive && o->status == ATTEST_OK) {
                c->failures = 0;
                c->last_code[0] = '\0';
                c->last_message[0] = '\0';
                c->last_success_at = now;
                metrics_last_success(c->metrics, now);
                metrics_token_expiry(c->metrics, c->verdict->expires_at);
                metrics_attestation(c->metrics, c->verdict->state == VERDICT_TRUSTED ? METRICS_OUTCOME_TRUSTED
                                                                                     : METRICS_OUTCOME_UNTRUSTED);
        } else {
                c->failures++;
                snprintf(c->last_code, sizeof(c->last_code), "%s", o->code ? o->code : "evidence-invalid");
                snprintf(c->last_message, sizeof(c->last_message), "%s", o->message);
                metrics_attestation(c->metrics, o->status == ATTEST_REFUSED ? METRICS_OUTCOME_REFUSED
                                                                            : METRICS_OUTCOME_ERROR);
        }
        log_info("Attestation %s: %s (MAA %.3f s)", attest_status_to_string(o->status),
                 o->status == ATTEST_OK ? "token verified" : o->message, o->maa_seconds);
        (void) audit_write(c, AUDIT_EVENT_ATTESTATION, NULL,
                           outcome_name(o, definitive ? c->verdict : NULL),
                           definitive && o->status == ATTEST_OK ? jose_token_get0_jti(c->token) : NULL,
                           o->have_evidence ? o->evidence_sha256 : NULL,
                           json_pack("{s:s,s:s,s:f,s:i}", "code", o->code ? o->code : "ok", "message", o->message,
                                     "maa_seconds", o->maa_seconds, "fresh_callers", (int) n_batch));

        /* Fresh-attest callers of this run get its result, nonce keys and all. */
        if (!TAILQ_EMPTY(&c->batch)) {
                const struct verdict *rv = definitive ? c->verdict : v;
                const char *jti = definitive && o->status == ATTEST_OK ? jose_token_get0_jti(c->token) : NULL;
                json_t *base = NULL;
                int status = 500;

                /* The verdict's token fields are GET /v1/verdict's: a caller
                 * gets the token itself, and only when one was issued. */
                if (rv && verdict_to_json(rv, now, false, &base) >= 0) {
                        status = http_status_of(rv->state);
                        if (jti) {
                                size_t len;
                                (void) json_object_set_new(base, "token",
                                                           json_string(jose_token_get0_raw(c->token, &len)));
                        }
                }
                while ((w = TAILQ_FIRST(&c->batch))) {
                        TAILQ_REMOVE(&c->batch, w, link);
                        answer_waiter(c, w, base, status, rv ? verdict_state_to_string(rv->state) : "error", jti,
                                      o->have_evidence ? o->evidence_sha256 : NULL);
                        free(w);
                }
                json_decref(base);
        }
        verdict_free(v);

        why = o->status == ATTEST_OK ? "attestation succeeded" : o->message;
        arm_expiry(c);
        state_changed(c, why);
        if (definitive && o->status == ATTEST_OK && c->verdict->expires_at > 0)
                schedule(c, sched_delay_after_success(&sp, now, c->verdict->attested_at, c->verdict->expires_at,
                                                      sched_random_unit()));
        else
                schedule(c, sched_delay_after_failure(&sp, c->failures, o->retry_after_ms, sched_random_unit()));
        if (c->reload_pending) {
                c->reload_pending = false;
                reload(c);
        }
        if (c->stopping) {
                (void) event_base_loopexit(c->base, NULL);
                return;
        }
        if (c->n_queue > 0)
                event_active(c->kick, 0, 0);
}

/* Fresh-attest callers one run may carry. Platform requests have a single nonce. */
static size_t batch_limit(const struct core *c)
{
        return c->cfg->maa.mode == MAA_MODE_PLATFORM ? 1 : c->cfg->api.attest_batch_size;
}

/* Start a run now, carrying up to one batch of queued fresh-attest callers. */
static void start_run(struct core *c)
{
        struct attest_params params = { .n = 0 };
        struct waiter *w;
        size_t limit;
        int r;

        if (c->running || c->stopping)
                return;
        (void) event_del(c->batch_timer);
        (void) event_del(c->refresh_timer);
        limit = batch_limit(c);
        while ((w = TAILQ_FIRST(&c->queue)) && params.n < limit && params.n < ATTEST_PAYLOAD_MAX) {
                TAILQ_REMOVE(&c->queue, w, link);
                c->n_queue--;
                if (params.n == 0)
                        snprintf(w->key, sizeof(w->key), "nonce");
                else
                        snprintf(w->key, sizeof(w->key), "nonce-%zu", params.n + 1);
                params.keys[params.n] = w->key;
                params.values[params.n] = w->nonce;
                params.value_lens[params.n] = w->nonce_len;
                params.n++;
                TAILQ_INSERT_TAIL(&c->batch, w, link);
        }
        c->n_batch = params.n;
        c->running = true;
        verdict_changed(c);
        c->last_attempt_at = time(NULL);
        log_debug("Attesting%s (%zu fresh-attest callers)", c->failures ? " again" : "", params.n);
        r = attester_run(c->att, &params, run_done, c);
        if (r < 0) {
                /* Never started and cb not called: fail this batch, retry later. */
                struct attest_outcome o = { .status = ATTEST_ERROR, .code = "evidence-invalid", .retry_after_ms = -1 };
                snprintf(o.message, sizeof(o.message), "cannot start an attestation: %s", strerror(-r));
                run_done(&o, c);
        }
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
        start_run(arg);
}

static void refresh_cb(evutil_socket_t fd, short what, void *arg)
{
        start_run(arg);
}

static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
        start_run(arg);
}

/* A trigger other than the timer: shares a run in flight, else starts one. */
static int trigger(struct core *c, const char *why)
{
        if (c->stopping)
                return -ESHUTDOWN;
        if (c->running)
                return -EALREADY;
        log_info("Refreshing now: %s", why);
        event_active(c->kick, 0, 0);
        return 0;
}

/* ---- clock jumps and suspend ---------------------------------------------------- */

static int clock_arm(struct core *c)
{
        struct itimerspec its = { .it_value = { .tv_sec = time(NULL) + 365 * 24 * 3600 } };

        if (timerfd_settime(c->clock_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
                return -errno;
        return 0;
}

static void clock_set_cb(evutil_socket_t fd, short what, void *arg)
{
        struct core *c = arg;
        uint64_t n;

        if (read(fd, &n, sizeof(n)) < 0 && errno == ECANCELED) {
                log_notice("The wall clock was set");
                (void) clock_arm(c);
                arm_expiry(c);
                (void) trigger(c, "the wall clock jumped");
                state_changed(c, "the wall clock jumped");
                return;
        }
        (void) clock_arm(c);
}

static void clock_tick_cb(evutil_socket_t fd, short what, void *arg)
{
        struct core *c = arg;
        int64_t off = ns_of(CLOCK_BOOTTIME) - ns_of(CLOCK_MONOTONIC);

        if (off - c->boot_offset_ns > (int64_t) CORE_SUSPEND_THRESHOLD_S * 1000000000) {
                log_notice("Resumed after %.1f s of suspend", (double) (off - c->boot_offset_ns) / 1e9);
                arm_expiry(c);
                (void) trigger(c, "resumed from suspend");
                state_changed(c, "resumed from suspend");
        }
        c->boot_offset_ns = off;
}

/* ---- API operations ------------------------------------------------------------- */

static int op_verdict_body(void *ud, const char **ret_text, size_t *ret_len)
{
        struct core *c = ud;
        time_t now = time(NULL);

        if (c->vbody_at != now) {
                struct verdict *v = NULL;
                json_t *doc = NULL;
                char *text = NULL;
                int r;

                r = current_verdict(c, now, &v);
                if (r >= 0)
                        r = verdict_to_json(v, now, true, &doc);
                if (r >= 0)
                        text = json_dumps(doc, JSON_COMPACT);
                json_decref(doc);
                if (!text) {
                        verdict_free(v);
                        return -ENODATA;
                }
                free(c->vbody);
                c->vbody_len = strlen(text);
                c->vbody = xreallocarray(text, c->vbody_len + 2, 1);
                c->vbody[c->vbody_len++] = '\n';
                c->vbody[c->vbody_len] = '\0';
                c->vbody_status = http_status_of(v->state);
                c->vbody_at = now;
                verdict_free(v);
        }
        *ret_text = c->vbody;
        *ret_len = c->vbody_len;
        return c->vbody_status;
}

static int op_verdict(void *ud, long max_age_s, json_t **ret)
{
        struct core *c = ud;
        time_t now = time(NULL);
        struct verdict *v = NULL;
        int r;

        r = current_verdict(c, now, &v);
        if (r < 0)
                return r;
        if (max_age_s >= 0)
                r = verdict_apply_max_age(v, now, (uint64_t) max_age_s);
        if (r >= 0)
                r = verdict_to_json(v, now, true, ret);
        if (r >= 0)
                r = http_status_of(v->state);
        verdict_free(v);
        return r;
}

static int op_token(void *ud, const struct api_caller *caller, char **ret_jwt)
{
        struct core *c = ud;
        struct audit_caller ac;
        size_t len;

        if (!c->token || effective_state(c) != VERDICT_TRUSTED)
                return -ENODATA;
        caller_of(caller, &ac);
        if (audit_write(c, AUDIT_EVENT_TOKEN_ISSUED, &ac, "issued", jose_token_get0_jti(c->token), NULL, NULL) < 0)
                return -EIO;    /* no token leaves unrecorded */
        *ret_jwt = xstrdup(jose_token_get0_raw(c->token, &len));
        return 0;
}

static int op_attest(void *ud, const struct api_caller *caller, const uint8_t *nonce, size_t nonce_len,
                     api_reply_fn done, void *done_ud)
{
        struct core *c = ud;
        struct waiter *w;

        if (c->stopping)
                return -EAGAIN;
        if (c->n_queue >= API_ATTEST_QUEUE_MAX)
                return -EBUSY;
        if (nonce_len < 1 || nonce_len > sizeof(w->nonce))
                return -EINVAL;
        w = xcalloc(1, sizeof(*w));
        memcpy(w->nonce, nonce, nonce_len);
        w->nonce_len = nonce_len;
        w->caller = *caller;
        w->caller.pidfd = -1;           /* borrowed for the call only */
        w->done = done;
        w->done_ud = done_ud;
        /* A run gathering evidence takes it along, while there is room. */
        if (c->running && c->n_batch < batch_limit(c)) {
                if (c->n_batch == 0)
                        snprintf(w->key, sizeof(w->key), "nonce");
                else
                        snprintf(w->key, sizeof(w->key), "nonce-%zu", c->n_batch + 1);
                if (attester_join(c->att, w->key, w->nonce, w->nonce_len) == 0) {
                        TAILQ_INSERT_TAIL(&c->batch, w, link);
                        c->n_batch++;
                        return 0;
                }
        }
        TAILQ_INSERT_TAIL(&c->queue, w, link);
        c->n_queue++;
        if (!c->running) {
                if (c->n_queue >= batch_limit(c)) {
                        event_active(c->kick, 0, 0);
                } else {
                        /* Wait for a pause in arrivals (API_ATTEST_BATCH_WINDOW_MS),
                         * but not longer than API_ATTEST_BATCH_MAX_WAIT_MS in all. */
                        uint64_t now = (uint64_t) ns_of(CLOCK_MONOTONIC) / 1000000;
                        struct timeval tv = { .tv_usec = API_ATTEST_BATCH_WINDOW_MS * 1000 };
                        if (c->n_queue == 1)
                                c->batch_first_ms = now;
                        if (now - c->batch_first_ms < API_ATTEST_BATCH_MAX_WAIT_MS)
                                (void) event_add(c->batch_timer, &tv);
                        else if (!event_pending(c->batch_timer, EV_TIMEOUT, NULL))
                                event_active(c->kick, 0, 0);
                }
        }
        return 0;
}

static int op_refresh(void *ud, const struct api_caller *caller)
{
        return trigger(ud, "POST /v1/refresh");
}

static json_t *op_status(void *ud)
{
        struct core *c = ud;
        const char *state = c->stopping ? "stopping" : c->running ? "attesting" : c->failures ? "backoff" : "idle";
        struct verdict *v = NULL;
        json_t *doc;

        if (current_verdict(c, time(NULL), &v) < 0)
                return NULL;
        if (!c->last_attempt_at && !c->running)
                state = "starting";
        doc = json_pack("{s:s,s:s,s:s,s:b,s:s,s:o,s:o,s:o,s:o,s:i,s:o,s:{s:I,s:I,s:I,s:I},s:o,s:o,"
                        "s:{s:s,s:I,s:s,s:s?},s:{s:s,s:o,s:b,s:O},s:{s:s?,s:b,s:o,s:I},s:{s:i,s:i}}",
                        "version", PACKAGE_VERSION,
                        "state", state,
                        "verdict", verdict_state_to_string(v->state),
                        "stale", v->state == VERDICT_TRUSTED && c->failures > 0,
                        "mode", maa_mode_to_string(c->cfg->maa.mode),
                        "started_at", time_or_null(c->started_at),
                        "last_attempt_at", time_or_null(c->last_attempt_at),
                        "last_success_at", time_or_null(c->last_success_at),
                        "next_refresh_at", c->running ? json_null() : time_or_null(c->next_refresh_at),
                        "consecutive_failures", (int) c->failures,
                        "last_error", c->last_code[0] ? json_pack("{s:s,s:s}", "code", c->last_code, "message",
                                                                    c->last_message)
                                                      : json_null(),
                        "attestations",
                        "ok", (json_int_t) c->n_outcomes[ATTEST_OK],
                        "refused", (json_int_t) c->n_outcomes[ATTEST_REFUSED],
                        "retry", (json_int_t) c->n_outcomes[ATTEST_RETRY],
                        "error", (json_int_t) c->n_outcomes[ATTEST_ERROR],
                        "token_expires_at", c->token && c->verdict ? time_or_null(c->verdict->expires_at) : json_null(),
                        "ak_cert_expires_at", time_or_null((time_t) c->ak_cert_not_after),
                        "policy",
                        "name", policy_get_name(c->policy),
                        "version", (json_int_t) policy_get_version(c->policy),
                        "sha256", policy_get_sha256(c->policy),
                        "file", c->cfg->policy.file,
                        "config",
                        "file", c->config_path,
                        "last_reload_at", time_or_null(c->last_reload_at),
                        "last_reload_ok", c->last_reload_ok,
                        "last_reload_errors", c->last_reload_errors,
                        "audit",
                        "file", c->cfg->audit.file,
                        "healthy", c->audit ? audit_is_healthy(c->audit) : false,
                        "error", c->audit && !audit_is_healthy(c->audit) ? json_string(audit_last_error(c->audit))
                                                                         : json_null(),
                        "next_seq", (json_int_t) (c->audit ? audit_next_seq(c->audit) : 0),
                        "api",
                        "connections", (int) api_connections(c->api),
                        "fresh_attest_queue", (int) c->n_queue);
        verdict_free(v);
        return doc;
}

static bool op_ready(void *ud)
{
        return effective_state(ud) != VERDICT_UNKNOWN;
}

static const struct api_ops core_ops = {
        .verdict = op_verdict,
        .verdict_body = op_verdict_body,
        .token = op_token,
        .attest = op_attest,
        .refresh = op_refresh,
        .status = op_status,
        .ready = op_ready,
};

/* ---- reload and signals -------------------------------------------------------- */

static void reload_failed(struct core *c, struct diag_list *errs, const char *what)
{
        json_t *list = json_array();

        for (size_t i = 0; i < errs->n; i++) {
                log_error("%s", errs->msgs[i]);
                (void) json_array_append_new(list, json_string(errs->msgs[i]));
        }
        log_error("Reload refused: the new %s does not validate; keeping the running configuration and policy",
                  what);
        json_decref(c->last_reload_errors);
        c->last_reload_errors = list;
        c->last_reload_ok = false;
        (void) audit_write(c, AUDIT_EVENT_CONFIG_RELOAD, NULL, "rejected", NULL, NULL,
                           json_pack("{s:s,s:O}", "what", what, "errors", list));
        diag_list_done(errs);
}

static void reload(struct core *c)
{
        struct diag_list errs = {};
        struct config *cfg = NULL, *old;
        struct policy *pol = NULL;

        if (c->running) {
                c->reload_pending = true;       /* the run in flight still uses the old config */
                log_info("Reload deferred until the attestation in flight ends");
                return;
        }
        (void) notify_reloading(c->notify);
        c->last_reload_at = time(NULL);
        if (config_load(c->config_path, &cfg, &errs) < 0) {
                reload_failed(c, &errs, "configuration");
                goto out;
        }
        if (policy_load(cfg->policy.file, &pol, &errs) < 0) {
                reload_failed(c, &errs, "policy");
                config_free(cfg);
                goto out;
        }
        if (strcmp(cfg->tpm.tcti, c->cfg->tpm.tcti) != 0 ||
            (cfg->audit.file == NULL) != (c->cfg->audit.file == NULL) ||
            (cfg->audit.file && strcmp(cfg->audit.file, c->cfg->audit.file) != 0))
                log_notice("tpm.tcti and audit.file change only at a restart");
        old = c->cfg;
        c->cfg = cfg;
        attester_set_config(c->att, cfg);
        api_set_config(c->api, cfg);
        log_set_max_level(cfg->log_level);
        config_free(old);
        policy_free(c->policy);
        c->policy = pol;
        json_decref(c->last_reload_errors);
        c->last_reload_errors = json_array();
        c->last_reload_ok = true;
        log_notice("Reloaded: policy '%s' sha256 %s", policy_get_name(pol), policy_get_sha256(pol));
        (void) audit_write(c, AUDIT_EVENT_CONFIG_RELOAD, NULL, "applied", NULL, NULL,
                           json_pack("{s:s}", "policy", policy_get_name(pol)));
        /* The held token, judged again under the new policy. */
        if (c->token) {
                struct verdict *v = NULL;
                if (judge_token(c->policy, c->token, time(NULL), &v) >= 0) {
                        verdict_free(c->verdict);
                        c->verdict = v;
                }
        }
        arm_expiry(c);
        state_changed(c, "policy reloaded");
out:
        (void) notify_ready(c->notify, NULL);
        (void) notify_status(c->notify, "verdict %s", verdict_state_to_string(c->reported));
}

static void sighup_cb(evutil_socket_t fd, short what, void *arg)
{
        log_info("SIGHUP: reloading the configuration and the policy");
        reload(arg);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
        struct core *c = arg;

        log_warning("The attestation in flight did not end within %d ms; exiting anyway", CORE_DRAIN_TIMEOUT_MS);
        (void) event_base_loopexit(c->base, NULL);
}

static void sigterm_cb(evutil_socket_t fd, short what, void *arg)
{
        struct core *c = arg;
        struct timeval tv = { .tv_sec = CORE_DRAIN_TIMEOUT_MS / 1000,
                              .tv_usec = (CORE_DRAIN_TIMEOUT_MS % 1000) * 1000 };
        struct waiter *w;

        if (c->stopping)
                return;
        log_notice("Stopping (signal %d)", (int) fd);
        c->stopping = true;
        (void) notify_stopping(c->notify);
        /* Callers not yet in a run will not get one. */
        while ((w = TAILQ_FIRST(&c->queue))) {
                TAILQ_REMOVE(&c->queue, w, link);
                c->n_queue--;
                w->done(w->done_ud, 503,
                        json_pack("{s:{s:s,s:s}}", "error", "code", "shutting_down", "message",
                                  "attestd is stopping; retry against the next instance"));
                free(w);
        }
        if (!c->running) {
                (void) event_base_loopexit(c->base, NULL);
                return;
        }
        (void) event_add(c->drain_timer, &tv);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void core_free(struct core *c)
{
        struct waiter *w;

        api_free(c->api);               /* orphans pending replies */
        attester_free(c->att);
        http_client_free(c->http);
        tpm_free(c->tpm);
        while ((w = TAILQ_FIRST(&c->queue))) {
                TAILQ_REMOVE(&c->queue, w, link);
                w->done(w->done_ud, 503, NULL);
                free(w);
        }
        while ((w = TAILQ_FIRST(&c->batch))) {
                TAILQ_REMOVE(&c->batch, w, link);
                w->done(w->done_ud, 503, NULL);
                free(w);
        }
        struct event *evs[] = { c->refresh_timer, c->batch_timer, c->expiry_timer, c->kick, c->clock_tick,
                                c->clock_ev, c->drain_timer, c->sig_hup, c->sig_term, c->sig_int };
        for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
                if (evs[i])
                        event_free(evs[i]);
        if (c->clock_fd >= 0)
                close(c->clock_fd);
        audit_close(c->audit);
        verdict_free(c->verdict);
        jose_token_free(c->token);
        json_decref(c->last_reload_errors);
        free(c->vbody);
        notify_free(c->notify);
        metrics_free(c->metrics);
        policy_free(c->policy);
        config_free(c->cfg);
        if (c->base)
                event_base_free(c->base);
}

static int setup(struct core *c)
{
        struct diag_list errs = {};
        struct err e = {};
        int r, fd = -1;

        if (policy_load(c->cfg->policy.file, &c->policy, &errs) < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        log_error("%s", errs.msgs[i]);
                diag_list_done(&errs);
                return EX_CONFIG;
        }
        c->base = event_base_new();
        c->metrics = metrics_new();
        if (!c->base || !c->metrics || notify_new(c->base, &c->notify) < 0)
                return EX_OSERR;
        if (c->cfg->audit.file) {
                struct audit_open_info info = {};
                r = audit_open(c->cfg->audit.file, c->cfg->audit.rotate_bytes, c->cfg->audit.keep, &c->audit, &info,
                               &e);
                if (r < 0) {
                        log_error("Cannot open the audit log: %s", e.msg);
                        (void) notify_errno(c->notify, r);
                        return EX_CANTCREAT;
                }
                if (info.truncated_bytes)
                        log_warning("The audit log ended in a partial record (%llu bytes, a crash mid-write); "
                                    "removed it, the chain before it is intact",
                                    (unsigned long long) info.truncated_bytes);
        }
        r = tpm_new(c->base, c->cfg->tpm.tcti, &c->tpm, &e);
        if (r < 0) {
                log_error("Cannot open the TPM '%s': %s", c->cfg->tpm.tcti, e.msg);
                (void) notify_errno(c->notify, r);
                return EX_UNAVAILABLE;
        }
        if (http_client_new(c->base, &c->http) < 0 || attester_new(c->base, c->cfg, c->tpm, c->http, &c->att) < 0)
                return EX_OSERR;
        r = api_new(c->base, c->cfg, &core_ops, c, c->metrics, &c->api);
        if (r < 0)
                return EX_CONFIG;
        r = notify_listen_fds(&fd);
        if (r == 0)
                r = api_listen_fd(c->api, fd);
        else if (r == -ENOENT)
                r = api_listen_path(c->api);
        if (r < 0) {
                (void) notify_errno(c->notify, r);
                return EX_CANTCREAT;
        }

        c->refresh_timer = evtimer_new(c->base, refresh_cb, c);
        c->batch_timer = evtimer_new(c->base, batch_cb, c);
        c->expiry_timer = evtimer_new(c->base, expiry_cb, c);
        c->kick = event_new(c->base, -1, 0, kick_cb, c);
        c->drain_timer = evtimer_new(c->base, drain_cb, c);
        c->clock_tick = event_new(c->base, -1, EV_PERSIST, clock_tick_cb, c);
        c->sig_hup = evsignal_new(c->base, SIGHUP, sighup_cb, c);
        c->sig_term = evsignal_new(c->base, SIGTERM, sigterm_cb, c);
        c->sig_int = evsignal_new(c->base, SIGINT, sigterm_cb, c);
        if (!c->refresh_timer || !c->batch_timer || !c->expiry_timer || !c->kick || !c->drain_timer ||
            !c->clock_tick || !c->sig_hup || !c->sig_term || !c->sig_int || event_add(c->sig_hup, NULL) < 0 ||
            event_add(c->sig_term, NULL) < 0 || event_add(c->sig_int, NULL) < 0)
                return EX_OSERR;
        {
                struct timeval tv = { .tv_sec = CORE_CLOCK_CHECK_INTERVAL_S };
                c->boot_offset_ns = ns_of(CLOCK_BOOTTIME) - ns_of(CLOCK_MONOTONIC);
                (void) event_add(c->clock_tick, &tv);
        }
        c->clock_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (c->clock_fd >= 0 && clock_arm(c) >= 0) {
                c->clock_ev = event_new(c->base, c->clock_fd, EV_READ | EV_PERSIST, clock_set_cb, c);
                if (c->clock_ev)
                        (void) event_add(c->clock_ev, NULL);
        } else {
                log_warning("Cannot watch the wall clock (%s): clock jumps will not trigger a refresh",
                            strerror(errno));
        }
        return 0;
}

int core_main(const char *config_path, struct config *cfg, const struct cli_args *args)
{
        struct core c = {
                .config_path = config_path,
                .cfg = cfg,
                .reported = VERDICT_UNKNOWN,
                .last_reload_ok = true,
                .clock_fd = -1,
        };
        int r;

        TAILQ_INIT(&c.queue);
        TAILQ_INIT(&c.batch);
        c.started_at = time(NULL);
        c.last_reload_errors = json_array();
        /* Not inherited by anything we start, and never fatal mid-write. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = setup(&c);
        if (r != 0)
                goto out;
        audit_write(&c, AUDIT_EVENT_STARTUP, NULL, "started", NULL, NULL,
                    json_pack("{s:s,s:s?}", "version", PACKAGE_VERSION, "tpm", tpm_get_manufacturer(c.tpm)));
        metrics_verdict_state(c.metrics, METRICS_VERDICT_UNKNOWN);
        (void) notify_ready(c.notify, "attesting");
        log_notice("attestd %s ready: policy '%s' (sha256 %s), TPM %s", PACKAGE_VERSION, policy_get_name(c.policy),
                   policy_get_sha256(c.policy), tpm_get_manufacturer(c.tpm));
        start_run(&c);
        if (event_base_dispatch(c.base) < 0)
                r = EX_SOFTWARE;
        audit_write(&c, AUDIT_EVENT_SHUTDOWN, NULL, "stopped", NULL, NULL, NULL);
        log_notice("Stopped");
out:
        core_free(&c);
        return r;
}
