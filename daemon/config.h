/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_CONFIG_H
#define ATTESTD_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/log.h"

enum maa_mode {
        MAA_MODE_GUEST,         /* AzureGuest: TPM evidence, sealed token */
        MAA_MODE_PLATFORM,      /* SevSnpVm / TdxVm: hardware report only */
        _MAA_MODE_MAX,
        _MAA_MODE_INVALID = -EINVAL,
};

const char *maa_mode_to_string(enum maa_mode m);
enum maa_mode maa_mode_from_string(const char *s);

struct config {
        int log_level;                  /* LOG_ERR..LOG_DEBUG */
        enum log_target log_format;

        struct {
                char *tcti;
                uint32_t pcr_mask;      /* bit n = PCR n, sha256 bank */
                char *event_log;
                unsigned fresh_report_timeout_ms;
        } tpm;

        struct {
                char *endpoint;         /* https://host[:port], no trailing slash */
                enum maa_mode mode;
                char *ca_file;          /* NULL: system trust store */
                unsigned connect_timeout_ms;
                unsigned timeout_ms;
                unsigned clock_skew_s;
        } maa;

        struct {
                char *endpoint;
                unsigned timeout_ms;
        } imds;

        struct {
                char *socket;
                mode_t socket_mode;
                uid_t *token_uids;      /* may read /v1/token and POST /v1/attest */
                size_t n_token_uids;
                gid_t *token_gids;
                size_t n_token_gids;
                unsigned max_connections;
                unsigned max_header_bytes;
                unsigned max_body_bytes;
                unsigned request_timeout_ms;
                double rate_per_s;      /* per caller uid, token bucket */
                unsigned rate_burst;
                unsigned attest_batch_size;
                char *metrics_listen;   /* "host:port" or NULL */
        } api;

        struct {
                char *file;
        } policy;

        struct {
                char *file;
                uint64_t rotate_bytes;
                unsigned keep;          /* rotated files kept */
        } audit;

        struct {
                double fraction;        /* of token lifetime */
                double jitter;          /* +- fraction of the refresh interval */
                unsigned backoff_initial_ms;
                unsigned backoff_max_ms;
        } refresh;
};

/* Errors collected while loading are every problem in the file, each as
 * "FILE:LINE:COL: message" (or "FILE: message" where no position applies),
 * in a struct diag_list (daemon/diag.h). */
struct diag_list;

/* A config holding only defaults. [out] callee-allocated; free with config_free(). */
struct config *config_new_default(void);
struct config *config_free(struct config *c);

/*
 * Parse and validate the JSON text `text` (length len) named `name` for
 * messages. Phase one reads every key into a fresh config (unknown keys,
 * wrong types and out-of-range values are all collected); phase two checks
 * what spans several fields. Only when both are clean is *ret written.
 * Returns 0, -EINVAL (errors collected in *errs), or -ENOMEM.
 */
int config_parse(const char *text, size_t len, const char *name, struct config **ret,
                 struct diag_list *errs);

/* Read path (bounded by CONFIG_FILE_MAX_BYTES) and config_parse() it. */
int config_load(const char *path, struct config **ret, struct diag_list *errs);

/* Cross-field checks (also run by config_parse). Appends to errs. */
int config_validate(const struct config *c, const char *name, struct diag_list *errs);

bool config_uid_may_use_token(const struct config *c, uid_t uid, gid_t gid);

#endif
