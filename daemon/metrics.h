/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_METRICS_H
#define ATTESTD_DAEMON_METRICS_H

#include <stddef.h>
#include <time.h>

/*
 * A tiny Prometheus registry rendered as text exposition format 0.0.4.
 *
 * A family has a name, a help text, a type and at most METRICS_LABELS_MAX
 * label names. Its series (one per combination of label values) are created
 * on first use, at most METRICS_SERIES_MAX of them: callers only ever pass
 * label values from small closed sets, and the cap makes a mistake cost a
 * dropped sample (metrics_family_*() return -E2BIG) instead of memory.
 * Everything runs on the event-loop thread; nothing here locks.
 *
 * The daemon's own families are registered in one place (metrics_new()) and
 * updated through the small setters below, so no other module knows a metric
 * name.
 */

struct evbuffer;
struct metrics;
struct metric_family;

enum metric_type {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_HISTOGRAM,
        _METRIC_TYPE_MAX,
        _METRIC_TYPE_INVALID = -22,
};

/* An empty registry. [out] callee-allocated; free with metrics_free(). */
struct metrics *metrics_new_empty(void);

/* A registry with every attestd_* family registered. [out] callee-allocated. */
struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m);

/*
 * Register a family. name matches [a-zA-Z_:][a-zA-Z0-9_:]*; label_names is
 * NULL or NULL-terminated (each [a-zA-Z_][a-zA-Z0-9_]*, not "le" for
 * histograms); buckets (histograms only, n_buckets <= METRICS_BUCKETS_MAX)
 * strictly increasing, without +Inf (always added). All strings are copied.
 * *ret is borrowed: valid while m lives. Returns 0, -EINVAL, -EEXIST, -E2BIG.
 */
int metrics_family_new(struct metrics *m, const char *name, const char *help,
                       enum metric_type type, const char *const *label_names,
                       const double *buckets, size_t n_buckets,
                       struct metric_family **ret);

/*
 * Update the series named by label_values (NULL when the family has no
 * labels; else exactly as many values as label names, any bytes, at most
 * METRICS_LABEL_VALUE_MAX each). add: counters (v >= 0) and gauges;
 * set: gauges; observe: histograms. Returns 0, -EINVAL (wrong type, bad
 * value) or -E2BIG (series cap reached, value too long).
 */
int metrics_family_add(struct metric_family *f, const char *const *label_values, double v);
int metrics_family_set(struct metric_family *f, const char *const *label_values, double v);
int metrics_family_observe(struct metric_family *f, const char *const *label_values, double v);

/* Current value of a counter or gauge series (0 when it does not exist yet);
 * for histograms the observation count. For tests and /v1/status. */
double metrics_family_get(struct metric_family *f, const char *const *label_values);

/* Look a family up by name (borrowed) or NULL. */
struct metric_family *metrics_find(struct metrics *m, const char *name);

/* Append the whole registry to out in text format 0.0.4. Returns 0 or -ENOMEM. */
int metrics_render(struct metrics *m, struct evbuffer *out);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- attestd's families: the setters the daemon core calls ---------- */

enum metrics_outcome {
        METRICS_OUTCOME_TRUSTED,        /* token verified, policy passed */
        METRICS_OUTCOME_UNTRUSTED,      /* token verified, a policy rule failed */
        METRICS_OUTCOME_REFUSED,        /* MAA refused the evidence */
        METRICS_OUTCOME_ERROR,          /* could not complete (TPM, network, verify) */
        _METRICS_OUTCOME_MAX,
        _METRICS_OUTCOME_INVALID = -22,
};

enum metrics_verdict {
        METRICS_VERDICT_TRUSTED,
        METRICS_VERDICT_UNTRUSTED,
        METRICS_VERDICT_UNKNOWN,
        _METRICS_VERDICT_MAX,
        _METRICS_VERDICT_INVALID = -22,
};

const char *metrics_outcome_to_string(enum metrics_outcome o);
const char *metrics_verdict_to_string(enum metrics_verdict v);

/* attestd_attestations_total{outcome} += 1 */
void metrics_attestation(struct metrics *m, enum metrics_outcome o);
/* attestd_maa_request_duration_seconds observe */
void metrics_maa_duration(struct metrics *m, double seconds);
/* attestd_tpm_operation_duration_seconds{op} observe; op is a short
 * lower-case name from the tpm module's closed set ("quote", "nv_read"...) */
void metrics_tpm_duration(struct metrics *m, const char *op, double seconds);
/* attestd_verdict{state}: 1 for v, 0 for the others */
void metrics_verdict_state(struct metrics *m, enum metrics_verdict v);
/* attestd_token_expiry_timestamp_seconds (0: no token) */
void metrics_token_expiry(struct metrics *m, time_t t);
/* attestd_ak_cert_expiry_timestamp_seconds (0: unknown) */
void metrics_ak_cert_expiry(struct metrics *m, time_t t);
/* attestd_last_success_timestamp_seconds */
void metrics_last_success(struct metrics *m, time_t t);
/* attestd_audit_write_failures_total += 1 */
void metrics_audit_write_failure(struct metrics *m);
/* attestd_api_requests_total{route,code} += 1 (api module) */
void metrics_api_request(struct metrics *m, const char *route, unsigned code);
/* attestd_api_rate_limited_total{route} += 1 (api module) */
void metrics_api_rate_limited(struct metrics *m, const char *route);
/* attestd_api_connections (api module): open connections now */
void metrics_api_connections(struct metrics *m, unsigned n);
/* attestd_api_connections_refused_total += 1 (api module) */
void metrics_api_connection_refused(struct metrics *m);

#endif
