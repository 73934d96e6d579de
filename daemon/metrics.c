/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "metrics"
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/xalloc.h"

struct metric_series {
        char values[METRICS_LABELS_MAX][METRICS_LABEL_VALUE_MAX + 1];
        double value;                           /* counter, gauge */
        double sum;                             /* histogram */
        uint64_t count;
        uint64_t buckets[METRICS_BUCKETS_MAX];  /* cumulative at render time */
};

struct metric_family {
        char *name;
        char *help;
        enum metric_type type;
        char *labels[METRICS_LABELS_MAX];
        size_t n_labels;
        double bounds[METRICS_BUCKETS_MAX];
        size_t n_bounds;
        struct metric_series *series;           /* array of METRICS_SERIES_MAX */
        size_t n_series;
        struct metric_family *next;
};

struct metrics {
        struct metric_family *first, *last;
};

static const char *const outcome_table[_METRICS_OUTCOME_MAX] = {
        [METRICS_OUTCOME_TRUSTED] = "trusted",
        [METRICS_OUTCOME_UNTRUSTED] = "untrusted",
        [METRICS_OUTCOME_REFUSED] = "refused",
        [METRICS_OUTCOME_ERROR] = "error",
};

static const char *const verdict_table[_METRICS_VERDICT_MAX] = {
        [METRICS_VERDICT_TRUSTED] = "trusted",
        [METRICS_VERDICT_UNTRUSTED] = "untrusted",
        [METRICS_VERDICT_UNKNOWN] = "unknown",
};

const char *metrics_outcome_to_string(enum metrics_outcome o)
{
        return o >= 0 && o < _METRICS_OUTCOME_MAX ? outcome_table[o] : NULL;
}

const char *metrics_verdict_to_string(enum metrics_verdict v)
{
        return v >= 0 && v < _METRICS_VERDICT_MAX ? verdict_table[v] : NULL;
}

static bool valid_name(const char *s, bool colon)
{
        if (!s || !*s)
                return false;
        for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                          (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
                if (!ok)
                        return false;
        }
        return true;
}

struct metrics *metrics_new_empty(void)
{
        return xcalloc(1, sizeof(struct metrics));
}

static struct metric_family *family_free(struct metric_family *f)
{
        if (!f)
                return NULL;
        free(f->name);
        free(f->help);
        for (size_t i = 0; i < f->n_labels; i++)
                free(f->labels[i]);
        free(f->series);
        free(f);
        return NULL;
}

struct metrics *metrics_free(struct metrics *m)
{
        if (!m)
                return NULL;
        for (struct metric_family *f = m->first, *n; f; f = n) {
                n = f->next;
                family_free(f);
        }
        free(m);
        return NULL;
}

struct metric_family *metrics_find(struct metrics *m, const char *name)
{
        for (struct metric_family *f = m->first; f; f = f->next)
                if (strcmp(f->name, name) == 0)
                        return f;
        return NULL;
}

int metrics_family_new(struct metrics *m, const char *name, const char *help,
                       enum metric_type type, const char *const *label_names,
                       const double *buckets, size_t n_buckets,
                       struct metric_family **ret)
{
        struct metric_family *f = NULL;
        size_t n_labels = 0;

        if (!valid_name(name, true) || !help || type < 0 || type >= _METRIC_TYPE_MAX)
                return -EINVAL;
        if (metrics_find(m, name))
                return -EEXIST;
        for (; label_names && label_names[n_labels]; n_labels++) {
                if (n_labels >= METRICS_LABELS_MAX)
                        return -E2BIG;
                if (!valid_name(label_names[n_labels], false) ||
                    strncmp(label_names[n_labels], "__", 2) == 0 ||
                    (type == METRIC_HISTOGRAM && strcmp(label_names[n_labels], "le") == 0))
                        return -EINVAL;
        }
        if (type == METRIC_HISTOGRAM) {
                if (n_buckets == 0)
                        return -EINVAL;
                if (n_buckets > METRICS_BUCKETS_MAX)
                        return -E2BIG;
                for (size_t i = 0; i < n_buckets; i++)
                        if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                                return -EINVAL;
        } else if (n_buckets != 0) {
                return -EINVAL;
        }

        f = xcalloc(1, sizeof(*f));
        f->name = xstrdup(name);
        f->help = xstrdup(help);
        f->type = type;
        f->n_labels = n_labels;
        for (size_t i = 0; i < n_labels; i++)
                f->labels[i] = xstrdup(label_names[i]);
        if (n_buckets)
                memcpy(f->bounds, buckets, n_buckets * sizeof(double));
        f->n_bounds = n_buckets;
        f->series = xcalloc(METRICS_SERIES_MAX, sizeof(struct metric_series));
        if (m->last)
                m->last->next = f;
        else
                m->first = f;
        m->last = f;
        if (ret)
                *ret = f;
        return 0;
}

/* Find or create the series; NULL with *r set when it cannot exist. */
static struct metric_series *series_get(struct metric_family *f, const char *const *values,
                                        bool create, int *r)
{
        struct metric_series *s;

        for (size_t i = 0; i < f->n_labels; i++) {
                if (!values || !values[i]) {
                        *r = -EINVAL;
                        return NULL;
                }
                if (strlen(values[i]) > METRICS_LABEL_VALUE_MAX) {
                        *r = -E2BIG;
                        return NULL;
                }
        }
        for (size_t j = 0; j < f->n_series; j++) {
                size_t i;
                s = &f->series[j];
                for (i = 0; i < f->n_labels; i++)
                        if (strcmp(s->values[i], values[i]) != 0)
                                break;
                if (i == f->n_labels)
                        return s;
        }
        if (!create) {
                *r = -ENOENT;
                return NULL;
        }
        if (f->n_series >= METRICS_SERIES_MAX) {
                *r = -E2BIG;
                return NULL;
        }
        s = &f->series[f->n_series++];
        for (size_t i = 0; i < f->n_labels; i++)
                strcpy(s->values[i], values[i]);
        return s;
}

int metrics_family_add(struct metric_family *f, const char *const *label_values, double v)
{
        struct metric_series *s;
        int r = 0;

        if (!f || f->type == METRIC_HISTOGRAM || !isfinite(v) ||
            (f->type == METRIC_COUNTER && v < 0))
                return -EINVAL;
        s = series_get(f, label_values, true, &r);
        if (!s)
                return r;
        s->value += v;
        return 0;
}

int metrics_family_set(struct metric_family *f, const char *const *label_values, double v)
{
        struct metric_series *s;
        int r = 0;

        if (!f || f->type != METRIC_GAUGE || isnan(v))
                return -EINVAL;
        s = series_get(f, label_values, true, &r);
        if (!s)
                return r;
        s->value = v;
        return 0;
}

int metrics_family_observe(struct metric_family *f, const char *const *label_values, double v)
{
        struct metric_series *s;
        int r = 0;

        if (!f || f->type != METRIC_HISTOGRAM || isnan(v))
                return -EINVAL;
        s = series_get(f, label_values, true, &r);
        if (!s)
                return r;
        for (size_t i = 0; i < f->n_bounds; i++)
                if (v <= f->bounds[i]) {
                        s->buckets[i]++;
                        break;
                }
        s->sum += v;
        s->count++;
        return 0;
}

double metrics_family_get(struct metric_family *f, const char *const *label_values)
{
        struct metric_series *s;
        int r = 0;

        if (!f)
                return 0;
        s = series_get(f, label_values, false, &r);
        if (!s)
                return 0;
        return f->type == METRIC_HISTOGRAM ? (double) s->count : s->value;
}

/* Shortest decimal that reads back as the same double; Prometheus spelling
 * for the non-finite values. */
static void format_value(char *buf, size_t len, double v)
{
        if (isnan(v)) {
                snprintf(buf, len, "NaN");
                return;
        }
        if (isinf(v)) {
                snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, len, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

/* HELP text escapes backslash and newline; label values also the quote. */
static int add_escaped(struct evbuffer *out, const char *s, bool quote)
{
        for (; *s; s++) {
                int r;
                if (*s == '\\')
                        r = evbuffer_add(out, "\\\\", 2);
                else if (*s == '\n')
                        r = evbuffer_add(out, "\\n", 2);
                else if (quote && *s == '"')
                        r = evbuffer_add(out, "\\\"", 2);
                else
                        r = evbuffer_add(out, s, 1);
                if (r < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* {a="x",b="y"[,le="z"]} or nothing */
static int add_labels(struct evbuffer *out, const struct metric_family *f,
                      const struct metric_series *s, const char *le)
{
        if (f->n_labels == 0 && !le)
                return 0;
        if (evbuffer_add(out, "{", 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_labels; i++) {
                if (evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]) < 0 ||
                    add_escaped(out, s->values[i], true) < 0 || evbuffer_add(out, "\"", 1) < 0)
                        return -ENOMEM;
        }
        if (le && evbuffer_add_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le) < 0)
                return -ENOMEM;
        return evbuffer_add(out, "}", 1) < 0 ? -ENOMEM : 0;
}

static int add_sample(struct evbuffer *out, const struct metric_family *f, const char *suffix,
                      const struct metric_series *s, const char *le, double v)
{
        char num[64];

        format_value(num, sizeof(num), v);
        if (evbuffer_add_printf(out, "%s%s", f->name, suffix) < 0 || add_labels(out, f, s, le) < 0 ||
            evbuffer_add_printf(out, " %s\n", num) < 0)
                return -ENOMEM;
        return 0;
}

static int render_family(struct evbuffer *out, const struct metric_family *f)
{
        static const char *const type_names[_METRIC_TYPE_MAX] = {
                [METRIC_COUNTER] = "counter",
                [METRIC_GAUGE] = "gauge",
                [METRIC_HISTOGRAM] = "histogram",
        };

        if (evbuffer_add_printf(out, "# HELP %s ", f->name) < 0 || add_escaped(out, f->help, false) < 0 ||
            evbuffer_add_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]) < 0)
                return -ENOMEM;
        for (size_t j = 0; j < f->n_series; j++) {
                const struct metric_series *s = &f->series[j];
                uint64_t cum = 0;
                char le[64];

                if (f->type != METRIC_HISTOGRAM) {
                        if (add_sample(out, f, "", s, NULL, s->value) < 0)
                                return -ENOMEM;
                        continue;
                }
                for (size_t i = 0; i < f->n_bounds; i++) {
                        cum += s->buckets[i];
                        format_value(le, sizeof(le), f->bounds[i]);
                        if (add_sample(out, f, "_bucket", s, le, (double) cum) < 0)
                                return -ENOMEM;
                }
                if (add_sample(out, f, "_bucket", s, "+Inf", (double) s->count) < 0 ||
                    add_sample(out, f, "_sum", s, NULL, s->sum) < 0 ||
                    add_sample(out, f, "_count", s, NULL, (double) s->count) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int metrics_render(struct metrics *m, struct evbuffer *out)
{
        for (const struct metric_family *f = m->first; f; f = f->next) {
                int r = render_family(out, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- attestd's families --------------------------------------------- */

#define F_ATTESTATIONS  "attestd_attestations_total"
#define F_MAA           "attestd_maa_request_duration_seconds"
#define F_TPM           "attestd_tpm_operation_duration_seconds"
#define F_VERDICT       "attestd_verdict"
#define F_TOKEN_EXP     "attestd_token_expiry_timestamp_seconds"
#define F_AK_EXP        "attestd_ak_cert_expiry_timestamp_seconds"
#define F_LAST_OK       "attestd_last_success_timestamp_seconds"
#define F_AUDIT_FAIL    "attestd_audit_write_failures_total"
#define F_API_REQ       "attestd_api_requests_total"
#define F_API_RATE      "attestd_api_rate_limited_total"
#define F_API_CONN      "attestd_api_connections"
#define F_API_REFUSED   "attestd_api_connections_refused_total"

struct family_def {
        const char *name;
        const char *help;
        enum metric_type type;
        const char *labels[METRICS_LABELS_MAX + 1];
        const double *buckets;
        size_t n_buckets;
};

static const double maa_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60 };
static const double tpm_buckets[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

static const struct family_def family_defs[] = {
        { F_ATTESTATIONS, "Attestations completed, by outcome.", METRIC_COUNTER, { "outcome" } },
        { F_MAA, "Duration of requests to Microsoft Azure Attestation.", METRIC_HISTOGRAM, {},
          maa_buckets, sizeof(maa_buckets) / sizeof(maa_buckets[0]) },
        { F_TPM, "Duration of TPM operations, by operation.", METRIC_HISTOGRAM, { "op" },
          tpm_buckets, sizeof(tpm_buckets) / sizeof(tpm_buckets[0]) },
        { F_VERDICT, "Current verdict: 1 for the state held, 0 for the others.", METRIC_GAUGE,
          { "state" } },
        { F_TOKEN_EXP, "Expiry (exp) of the held MAA token as a Unix timestamp, 0 if none.",
          METRIC_GAUGE, {} },
        { F_AK_EXP, "Expiry (notAfter) of the TPM attestation key certificate as a Unix timestamp.",
          METRIC_GAUGE, {} },
        { F_LAST_OK, "Time of the last successful attestation as a Unix timestamp.", METRIC_GAUGE, {} },
        { F_AUDIT_FAIL, "Audit records that could not be written.", METRIC_COUNTER, {} },
        { F_API_REQ, "Local API requests, by route and HTTP status code.", METRIC_COUNTER,
          { "route", "code" } },
        { F_API_RATE, "Local API requests rejected by the per-caller rate limit.", METRIC_COUNTER,
          { "route" } },
        { F_API_CONN, "Open local API connections.", METRIC_GAUGE, {} },
        { F_API_REFUSED, "Local API connections refused because of the connection limit.",
          METRIC_COUNTER, {} },
};

struct metrics *metrics_new(void)
{
        struct metrics *m = metrics_new_empty();

        for (size_t i = 0; i < sizeof(family_defs) / sizeof(family_defs[0]); i++) {
                const struct family_def *d = &family_defs[i];
                int r = metrics_family_new(m, d->name, d->help, d->type, d->labels, d->buckets,
                                           d->n_buckets, NULL);
                if (r < 0) {
                        /* A programming error in the table above: fail loudly. */
                        log_error_errno(r, "Cannot register metric family %s: %m", d->name);
                        abort();
                }
        }
        /* Series that must be visible before their first event. */
        for (int o = 0; o < _METRICS_OUTCOME_MAX; o++)
                (void) metrics_family_add(metrics_find(m, F_ATTESTATIONS),
                                          (const char *const[]) { outcome_table[o] }, 0);
        metrics_verdict_state(m, METRICS_VERDICT_UNKNOWN);
        (void) metrics_family_add(metrics_find(m, F_AUDIT_FAIL), NULL, 0);
        (void) metrics_family_add(metrics_find(m, F_API_REFUSED), NULL, 0);
        metrics_api_connections(m, 0);
        return m;
}

/* The setters are fire-and-forget: a dropped sample is logged at debug
 * level and never disturbs the caller. */
static void update(struct metrics *m, const char *name, int (*fn)(struct metric_family *,
                   const char *const *, double), const char *const *labels, double v)
{
        int r;

        if (!m)
                return;
        r = fn(metrics_find(m, name), labels, v);
        if (r < 0)
                log_debug_errno(r, "Dropped a sample of %s: %m", name);
}

void metrics_attestation(struct metrics *m, enum metrics_outcome o)
{
        const char *s = metrics_outcome_to_string(o);

        if (s)
                update(m, F_ATTESTATIONS, metrics_family_add, (const char *const[]) { s }, 1);
}

void metrics_maa_duration(struct metrics *m, double seconds)
{
        update(m, F_MAA, metrics_family_observe, NULL, seconds);
}

void metrics_tpm_duration(struct metrics *m, const char *op, double seconds)
{
        update(m, F_TPM, metrics_family_observe, (const char *const[]) { op }, seconds);
}

void metrics_verdict_state(struct metrics *m, enum metrics_verdict v)
{
        if (!metrics_verdict_to_string(v))
                return;
        for (int i = 0; i < _METRICS_VERDICT_MAX; i++)
                update(m, F_VERDICT, metrics_family_set, (const char *const[]) { verdict_table[i] },
                       i == (int) v ? 1 : 0);
}

void metrics_token_expiry(struct metrics *m, time_t t)
{
        update(m, F_TOKEN_EXP, metrics_family_set, NULL, (double) t);
}

void metrics_ak_cert_expiry(struct metrics *m, time_t t)
{
        update(m, F_AK_EXP, metrics_family_set, NULL, (double) t);
}

void metrics_last_success(struct metrics *m, time_t t)
{
        update(m, F_LAST_OK, metrics_family_set, NULL, (double) t);
}

void metrics_audit_write_failure(struct metrics *m)
{
        update(m, F_AUDIT_FAIL, metrics_family_add, NULL, 1);
}

void metrics_api_request(struct metrics *m, const char *route, unsigned code)
{
        char c[16];

        snprintf(c, sizeof(c), "%u", code);
        update(m, F_API_REQ, metrics_family_add, (const char *const[]) { route, c }, 1);
}

void metrics_api_rate_limited(struct metrics *m, const char *route)
{
        update(m, F_API_RATE, metrics_family_add, (const char *const[]) { route }, 1);
}

void metrics_api_connections(struct metrics *m, unsigned n)
{
        update(m, F_API_CONN, metrics_family_set, NULL, n);
}

void metrics_api_connection_refused(struct metrics *m)
{
        update(m, F_API_REFUSED, metrics_family_add, NULL, 1);
}
