/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "config"
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <jansson.h>

#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/xalloc.h"

/* ---- schema ---------------------------------------------------------- */

enum ftype {
        F_STRING,
        F_PATH,                 /* absolute path */
        F_URL_HTTPS,
        F_URL_HTTP,             /* http or https */
        F_UINT,
        F_U64,
        F_DOUBLE,
        F_LOG_LEVEL,
        F_LOG_FORMAT,
        F_MAA_MODE,
        F_FILE_MODE,            /* octal string, e.g. "0660" */
        F_PCRS,
        F_UIDS,
        F_GIDS,
        F_HOSTPORT,
};

struct field {
        const char *name;
        enum ftype type;
        size_t offset;
        size_t count_offset;    /* lists: where the element count lives */
        double min, max;
        bool nullable;
};

struct section {
        const char *name;
        const struct field *fields;
};

#define OFF(m) offsetof(struct config, m)

static const struct field log_fields[] = {
        { "level", F_LOG_LEVEL, OFF(log_level) },
        { "format", F_LOG_FORMAT, OFF(log_format) },
        {}
};

static const struct field tpm_fields[] = {
        { "tcti", F_STRING, OFF(tpm.tcti) },
        { "pcrs", F_PCRS, OFF(tpm.pcr_mask) },
        { "event_log", F_PATH, OFF(tpm.event_log) },
        { "fresh_report_timeout_ms", F_UINT, OFF(tpm.fresh_report_timeout_ms), 0,
          TPM_FRESH_REPORT_TIMEOUT_MS_MIN, TPM_FRESH_REPORT_TIMEOUT_MS_MAX },
        {}
};

static const struct field maa_fields[] = {
        { "endpoint", F_URL_HTTPS, OFF(maa.endpoint) },
        { "mode", F_MAA_MODE, OFF(maa.mode) },
        { "ca_file", F_PATH, OFF(maa.ca_file), .nullable = true },
        { "connect_timeout_ms", F_UINT, OFF(maa.connect_timeout_ms), 0, MAA_TIMEOUT_MS_MIN, MAA_TIMEOUT_MS_MAX },
        { "timeout_ms", F_UINT, OFF(maa.timeout_ms), 0, MAA_TIMEOUT_MS_MIN, MAA_TIMEOUT_MS_MAX },
        { "clock_skew_seconds", F_UINT, OFF(maa.clock_skew_s), 0, 0, MAA_CLOCK_SKEW_S_MAX },
        {}
};

static const struct field imds_fields[] = {
        { "endpoint", F_URL_HTTP, OFF(imds.endpoint) },
        { "timeout_ms", F_UINT, OFF(imds.timeout_ms), 0, MAA_TIMEOUT_MS_MIN, MAA_TIMEOUT_MS_MAX },
        {}
};

static const struct field api_fields[] = {
        { "socket", F_PATH, OFF(api.socket) },
        { "socket_mode", F_FILE_MODE, OFF(api.socket_mode) },
        { "token_uids", F_UIDS, OFF(api.token_uids), OFF(api.n_token_uids) },
        { "token_gids", F_GIDS, OFF(api.token_gids), OFF(api.n_token_gids) },
        { "max_connections", F_UINT, OFF(api.max_connections), 0, 1, API_MAX_CONNECTIONS_MAX },
        { "max_header_bytes", F_UINT, OFF(api.max_header_bytes), 0, API_MAX_HEADER_BYTES_MIN, API_MAX_HEADER_BYTES_MAX },
        { "max_body_bytes", F_UINT, OFF(api.max_body_bytes), 0, API_MAX_BODY_BYTES_MIN, API_MAX_BODY_BYTES_MAX },
        { "request_timeout_ms", F_UINT, OFF(api.request_timeout_ms), 0, API_REQUEST_TIMEOUT_MS_MIN, API_REQUEST_TIMEOUT_MS_MAX },
        { "rate_per_second", F_DOUBLE, OFF(api.rate_per_s), 0, 0.001, 1e6 },
        { "rate_burst", F_UINT, OFF(api.rate_burst), 0, 1, API_RATE_BURST_MAX },
        { "attest_batch_size", F_UINT, OFF(api.attest_batch_size), 0, 1, API_ATTEST_BATCH_MAX },
        { "metrics_listen", F_HOSTPORT, OFF(api.metrics_listen), .nullable = true },
        {}
};

static const struct field policy_fields[] = {
        { "file", F_PATH, OFF(policy.file) },
        {}
};

static const struct field audit_fields[] = {
        { "file", F_PATH, OFF(audit.file) },
        { "rotate_bytes", F_U64, OFF(audit.rotate_bytes), 0, (double) AUDIT_ROTATE_BYTES_MIN, (double) AUDIT_ROTATE_BYTES_MAX },
        { "keep", F_UINT, OFF(audit.keep), 0, AUDIT_KEEP_MIN, AUDIT_KEEP_MAX },
        {}
};

static const struct field refresh_fields[] = {
        { "fraction", F_DOUBLE, OFF(refresh.fraction), 0, 0.05, 0.95 },
        { "jitter", F_DOUBLE, OFF(refresh.jitter), 0, 0.0, 0.5 },
        { "backoff_initial_ms", F_UINT, OFF(refresh.backoff_initial_ms), 0, REFRESH_BACKOFF_MS_MIN, REFRESH_BACKOFF_MS_MAX },
        { "backoff_max_ms", F_UINT, OFF(refresh.backoff_max_ms), 0, REFRESH_BACKOFF_MS_MIN, REFRESH_BACKOFF_MS_MAX },
        {}
};

static const struct section sections[] = {
        { "log", log_fields },
        { "tpm", tpm_fields },
        { "maa", maa_fields },
        { "imds", imds_fields },
        { "api", api_fields },
        { "policy", policy_fields },
        { "audit", audit_fields },
        { "refresh", refresh_fields },
        {}
};

static const char *const maa_mode_table[_MAA_MODE_MAX] = {
        [MAA_MODE_GUEST] = "guest",
        [MAA_MODE_PLATFORM] = "platform",
};

const char *maa_mode_to_string(enum maa_mode m)
{
        return m >= 0 && m < _MAA_MODE_MAX ? maa_mode_table[m] : NULL;
}

enum maa_mode maa_mode_from_string(const char *s)
{
        for (int i = 0; s && i < _MAA_MODE_MAX; i++)
                if (strcmp(s, maa_mode_table[i]) == 0)
                        return i;
        return _MAA_MODE_INVALID;
}

/* ---- defaults ---------------------------------------------------------- */

struct config *config_new_default(void)
{
        struct config *c = xcalloc(1, sizeof(*c));

        c->log_level = LOG_INFO;
        c->log_format = LOG_TARGET_AUTO;
        c->tpm.tcti = xstrdup(TPM_TCTI_DEFAULT);
        c->tpm.pcr_mask = TPM_PCR_MASK_DEFAULT;
        c->tpm.event_log = xstrdup(TPM_EVENT_LOG_DEFAULT);
        c->tpm.fresh_report_timeout_ms = TPM_FRESH_REPORT_TIMEOUT_MS_DEFAULT;
        c->maa.endpoint = xstrdup(MAA_ENDPOINT_DEFAULT);
        c->maa.mode = MAA_MODE_GUEST;
        c->maa.connect_timeout_ms = MAA_CONNECT_TIMEOUT_MS_DEFAULT;
        c->maa.timeout_ms = MAA_TIMEOUT_MS_DEFAULT;
        c->maa.clock_skew_s = MAA_CLOCK_SKEW_S_DEFAULT;
        c->imds.endpoint = xstrdup(IMDS_ENDPOINT_DEFAULT);
        c->imds.timeout_ms = IMDS_TIMEOUT_MS_DEFAULT;
        c->api.socket = xstrdup(API_SOCKET_DEFAULT);
        c->api.socket_mode = API_SOCKET_MODE_DEFAULT;
        c->api.max_connections = API_MAX_CONNECTIONS_DEFAULT;
        c->api.max_header_bytes = API_MAX_HEADER_BYTES_DEFAULT;
        c->api.max_body_bytes = API_MAX_BODY_BYTES_DEFAULT;
        c->api.request_timeout_ms = API_REQUEST_TIMEOUT_MS_DEFAULT;
        c->api.rate_per_s = API_RATE_PER_S_DEFAULT;
        c->api.rate_burst = API_RATE_BURST_DEFAULT;
        c->api.attest_batch_size = API_ATTEST_BATCH_DEFAULT;
        c->policy.file = xstrdup(POLICY_FILE_DEFAULT);
        c->audit.file = xstrdup(AUDIT_FILE_DEFAULT);
        c->audit.rotate_bytes = AUDIT_ROTATE_BYTES_DEFAULT;
        c->audit.keep = AUDIT_KEEP_DEFAULT;
        c->refresh.fraction = REFRESH_FRACTION_DEFAULT;
        c->refresh.jitter = REFRESH_JITTER_DEFAULT;
        c->refresh.backoff_initial_ms = REFRESH_BACKOFF_INITIAL_MS_DEFAULT;
        c->refresh.backoff_max_ms = REFRESH_BACKOFF_MAX_MS_DEFAULT;
        return c;
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        free(c->tpm.tcti);
        free(c->tpm.event_log);
        free(c->maa.endpoint);
        free(c->maa.ca_file);
        free(c->imds.endpoint);
        free(c->api.socket);
        free(c->api.token_uids);
        free(c->api.token_gids);
        free(c->api.metrics_listen);
        free(c->policy.file);
        free(c->audit.file);
        free(c);
        return NULL;
}

/* ---- phase one: read every member ------------------------------------ */

static bool url_ok(const char *s, bool https_only)
{
        const char *host;
        size_t n;

        if (strncmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (!https_only && strncmp(s, "http://", 7) == 0)
                host = s + 7;
        else
                return false;
        n = strlen(host);
        if (n == 0 || host[n - 1] == '/')
                return false;
        for (const char *q = host; *q; q++)
                if (isspace((unsigned char) *q) || *q == '?' || *q == '#' || *q == '@')
                        return false;
        return true;
}

static bool hostport_ok(const char *s)
{
        const char *colon = strrchr(s, ':');
        char *end;
        unsigned long port;

        if (!colon || colon == s)
                return false;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        return errno == 0 && *end == '\0' && colon[1] != '\0' && port > 0 && port <= 65535;
}

static void set_string(char **dst, const char *v)
{
        free(*dst);
        *dst = v ? xstrdup(v) : NULL;
}

static int read_id(struct diag *p, const char *ptr, json_t *v, bool group, unsigned *ret)
{
        if (json_is_integer(v)) {
                json_int_t n = json_integer_value(v);
                if (n < 0 || n > 0x7fffffff) {
                        diag_at(p, ptr, "%s id %lld out of range", group ? "group" : "user", (long long) n);
                        return -ERANGE;
                }
                *ret = (unsigned) n;
                return 0;
        }
        if (json_is_string(v)) {
                const char *name = json_string_value(v);
                if (group) {
                        struct group *g = getgrnam(name);
                        if (g) {
                                *ret = g->gr_gid;
                                return 0;
                        }
                } else {
                        struct passwd *pw = getpwnam(name);
                        if (pw) {
                                *ret = pw->pw_uid;
                                return 0;
                        }
                }
                diag_at(p, ptr, "unknown %s '%s'", group ? "group" : "user", name);
                return -ENOENT;
        }
        diag_at(p, ptr, "expected a numeric id or a name");
        return -EINVAL;
}

static void read_field(struct diag *p, struct config *c, const struct field *f,
                       json_t *v, const char *ptr)
{
        char *base = (char *) c + f->offset;

        if (json_is_null(v) && f->nullable) {
                set_string((char **) base, NULL);
                return;
        }
        switch (f->type) {
        case F_STRING:
        case F_PATH:
        case F_URL_HTTPS:
        case F_URL_HTTP:
        case F_HOSTPORT: {
                const char *s;
                if (!json_is_string(v)) {
                        diag_at(p, ptr, "expected a string");
                        return;
                }
                s = json_string_value(v);
                if (s[0] == '\0' || strlen(s) > 4096)
                        diag_at(p, ptr, "must be a non-empty string of at most 4096 bytes");
                else if (f->type == F_PATH && s[0] != '/')
                        diag_at(p, ptr, "'%s' is not an absolute path", s);
                else if (f->type == F_URL_HTTPS && !url_ok(s, true))
                        diag_at(p, ptr, "'%s' is not an https:// URL without path or trailing slash "
                             "(TLS cannot be turned off)", s);
                else if (f->type == F_URL_HTTP && !url_ok(s, false))
                        diag_at(p, ptr, "'%s' is not an http(s):// URL without trailing slash", s);
                else if (f->type == F_HOSTPORT && !hostport_ok(s))
                        diag_at(p, ptr, "'%s' is not HOST:PORT", s);
                else
                        set_string((char **) base, s);
                return;
        }
        case F_UINT:
        case F_U64: {
                json_int_t n;
                if (!json_is_integer(v)) {
                        diag_at(p, ptr, "expected an integer");
                        return;
                }
                n = json_integer_value(v);
                if ((double) n < f->min || (double) n > f->max) {
                        diag_at(p, ptr, "%lld is out of range [%.0f, %.0f]", (long long) n, f->min, f->max);
                        return;
                }
                if (f->type == F_UINT)
                        *(unsigned *) base = (unsigned) n;
                else
                        *(uint64_t *) base = (uint64_t) n;
                return;
        }
        case F_DOUBLE: {
                double d;
                if (!json_is_number(v)) {
                        diag_at(p, ptr, "expected a number");
                        return;
                }
                d = json_number_value(v);
                if (!isfinite(d) || d < f->min || d > f->max) {
                        diag_at(p, ptr, "%g is out of range [%g, %g]", d, f->min, f->max);
                        return;
                }
                *(double *) base = d;
                return;
        }
        case F_LOG_LEVEL: {
                int l = json_is_string(v) ? log_level_from_string(json_string_value(v)) : -EINVAL;
                if (l < 0)
                        diag_at(p, ptr, "expected one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"");
                else
                        *(int *) base = l;
                return;
        }
        case F_LOG_FORMAT: {
                int t = json_is_string(v) ? (int) log_target_from_string(json_string_value(v)) : -EINVAL;
                if (t < 0)
                        diag_at(p, ptr, "expected one of \"auto\", \"text\", \"json\", \"journal\"");
                else
                        *(enum log_target *) base = t;
                return;
        }
        case F_MAA_MODE: {
                int m = json_is_string(v) ? (int) maa_mode_from_string(json_string_value(v)) : -EINVAL;
                if (m < 0)
                        diag_at(p, ptr, "expected \"guest\" or \"platform\"");
                else
                        *(enum maa_mode *) base = m;
                return;
        }
        case F_FILE_MODE: {
                const char *s = json_is_string(v) ? json_string_value(v) : NULL;
                char *end;
                unsigned long m;
                if (!s || !*s) {
                        diag_at(p, ptr, "expected an octal mode string such as \"0660\"");
                        return;
                }
                errno = 0;
                m = strtoul(s, &end, 8);
                if (errno || *end || m > 0777)
                        diag_at(p, ptr, "'%s' is not an octal permission mode (0000-0777)", s);
                else
                        *(mode_t *) base = (mode_t) m;
                return;
        }
        case F_PCRS: {
                uint32_t mask = 0;
                size_t i;
                json_t *e;
                if (!json_is_array(v) || json_array_size(v) == 0) {
                        diag_at(p, ptr, "expected a non-empty array of PCR indices (0-23)");
                        return;
                }
                json_array_foreach(v, i, e) {
                        char eptr[600];
                        json_int_t n = json_is_integer(e) ? json_integer_value(e) : -1;
                        (void) snprintf(eptr, sizeof(eptr), "%s/%zu", ptr, i);
                        if (n < 0 || n > 23) {
                                diag_at(p, eptr, "PCR index must be an integer 0-23");
                                return;
                        }
                        if (mask & (1u << n)) {
                                diag_at(p, eptr, "PCR %lld listed twice", (long long) n);
                                return;
                        }
                        mask |= 1u << n;
                }
                *(uint32_t *) base = mask;
                return;
        }
        case F_UIDS:
        case F_GIDS: {
                unsigned *ids;
                size_t i, n;
                json_t *e;
                if (!json_is_array(v) || json_array_size(v) > API_ID_LIST_MAX) {
                        diag_at(p, ptr, "expected an array of at most %d ids or names", API_ID_LIST_MAX);
                        return;
                }
                n = json_array_size(v);
                ids = xcalloc(n ? n : 1, sizeof(unsigned));
                json_array_foreach(v, i, e) {
                        char eptr[600];
                        (void) snprintf(eptr, sizeof(eptr), "%s/%zu", ptr, i);
                        if (read_id(p, eptr, e, f->type == F_GIDS, &ids[i]) < 0) {
                                free(ids);
                                return;
                        }
                }
                free(*(unsigned **) base);
                *(unsigned **) base = ids;
                *(size_t *) ((char *) c + f->count_offset) = n;
                return;
        }
        }
}

static void read_section(struct diag *p, struct config *c, const struct section *s, json_t *obj)
{
        const char *key;
        json_t *v;
        char ptr[512];

        if (!json_is_object(obj)) {
                (void) snprintf(ptr, sizeof(ptr), "/%s", s->name);
                diag_at(p, ptr, "expected an object");
                return;
        }
        json_object_foreach(obj, key, v) {
                const struct field *f;

                (void) snprintf(ptr, sizeof(ptr), "/%s/%s", s->name, key);
                for (f = s->fields; f->name; f++)
                        if (strcmp(f->name, key) == 0)
                                break;
                if (!f->name) {
                        diag_at(p, ptr, "unknown key '%s' in section '%s'", key, s->name);
                        continue;
                }
                read_field(p, c, f, v, ptr);
        }
}

/* ---- phase two: cross-field checks ----------------------------------- */

int config_validate(const struct config *c, const char *name, struct diag_list *errs)
{
        int n = 0;

        if (c->maa.connect_timeout_ms > c->maa.timeout_ms) {
                diag_add(errs, name, 0, 0, "/maa: connect_timeout_ms (%u) exceeds timeout_ms (%u)",
                          c->maa.connect_timeout_ms, c->maa.timeout_ms);
                n++;
        }
        if (c->refresh.backoff_initial_ms > c->refresh.backoff_max_ms) {
                diag_add(errs, name, 0, 0, "/refresh: backoff_initial_ms (%u) exceeds backoff_max_ms (%u)",
                          c->refresh.backoff_initial_ms, c->refresh.backoff_max_ms);
                n++;
        }
        if (c->refresh.fraction + c->refresh.jitter >= 1.0) {
                diag_add(errs, name, 0, 0,
                          "/refresh: fraction + jitter (%.2f) must stay below 1, or refreshes could start after the token expired",
                          c->refresh.fraction + c->refresh.jitter);
                n++;
        }
        if (strlen(c->api.socket) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
                diag_add(errs, name, 0, 0, "/api/socket: '%s' is longer than a unix socket path may be (107 bytes)",
                          c->api.socket);
                n++;
        }
        if (c->api.socket_mode & 0111) {
                diag_add(errs, name, 0, 0, "/api/socket_mode: %04o sets execute bits, which mean nothing on a socket",
                          (unsigned) c->api.socket_mode);
                n++;
        }
        if (strcmp(c->audit.file, c->policy.file) == 0) {
                diag_add(errs, name, 0, 0, "/audit/file: the audit log must not be the policy file");
                n++;
        }
        return n ? -EINVAL : 0;
}

int config_parse(const char *text, size_t len, const char *name, struct config **ret,
                 struct diag_list *errs)
{
        struct diag p = {};
        struct config *c = NULL;
        json_t *root = NULL, *v;
        const char *key;
        int r;

        r = diag_parse_object(text, len, CONFIG_FILE_MAX_BYTES, name, "configuration", &root, errs);
        if (r < 0)
                return -EINVAL;
        diag_init(&p, name, text, len, CONFIG_DEPTH_MAX + 2, errs);
        c = config_new_default();
        json_object_foreach(root, key, v) {
                const struct section *s;
                char ptr[512];

                for (s = sections; s->name; s++)
                        if (strcmp(s->name, key) == 0)
                                break;
                if (!s->name) {
                        (void) snprintf(ptr, sizeof(ptr), "/%s", key);
                        diag_at(&p, ptr, "unknown section '%s' (known: log, tpm, maa, imds, api, policy, audit, refresh)", key);
                        continue;
                }
                read_section(&p, c, s, v);
        }
        if (p.n_errors > 0 || config_validate(c, name, errs) < 0) {
                r = -EINVAL;
                goto out;
        }
        *ret = c;
        c = NULL;
        r = 0;
out:
        diag_done(&p);
        config_free(c);
        json_decref(root);
        return r;
}

int config_load(const char *path, struct config **ret, struct diag_list *errs)
{
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = diag_read_file(path, CONFIG_FILE_MAX_BYTES, &buf, &len, errs);
        if (r < 0)
                return r;
        r = config_parse(buf, len, path, ret, errs);
        free(buf);
        return r;
}

bool config_uid_may_use_token(const struct config *c, uid_t uid, gid_t gid)
{
        if (uid == 0)
                return true;
        for (size_t i = 0; i < c->api.n_token_uids; i++)
                if (c->api.token_uids[i] == uid)
                        return true;
        for (size_t i = 0; i < c->api.n_token_gids; i++)
                if (c->api.token_gids[i] == gid)
                        return true;
        return false;
}
