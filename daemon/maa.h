/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_MAA_H
#define ATTESTD_DAEMON_MAA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/http.h"
#include "proto/err.h"

/*
 * Microsoft Azure Attestation (MAA) and Azure IMDS wire protocol
 * (AZURE-PROTOCOL.md §3, §5, §9).
 *
 * The builders and parsers are pure: they never log and never touch the
 * network; they return 0 or -errno and put a human message into the
 * optional struct err. The *_start() calls on top send the requests with
 * daemon/http.c and hand parsed results to a callback.
 *
 * Every pointer in the evidence structs is borrowed for the duration of
 * the call. Every string the builders return is callee-allocated (free()).
 */

struct config;

/* ---- evidence --------------------------------------------------------- */

enum maa_isolation {
        MAA_ISOLATION_SEVSNP,           /* "SevSnp" */
        MAA_ISOLATION_TDX,              /* "Tdx" */
        _MAA_ISOLATION_MAX,
        _MAA_ISOLATION_INVALID = -22,   /* -EINVAL */
};

const char *maa_isolation_to_string(enum maa_isolation i);

struct maa_bytes {
        const uint8_t *data;
        size_t len;
};

struct maa_kv {
        const char *key;                /* JSON key, sent as is */
        const void *value;              /* sent as std base64 of these bytes */
        size_t value_len;
};

struct maa_pcr {
        unsigned index;                 /* 0..23, strictly ascending in the array */
        uint8_t digest[32];             /* sha256 bank value */
};

#define MAA_SNP_REPORT_SIZE     1184
#define MAA_TD_REPORT_SIZE      1024

/*
 * Everything the AzureGuest request needs. Encodings chosen (one per field,
 * following Microsoft's C++ client, §3.3 and §9):
 *   OSType/OSDistro/OSBuild, TcgLogs, ClientPayload values, every TpmInfo
 *   blob, PCR digests: std base64 with padding;
 *   SEV-SNP Proof: std base64 of compact JSON
 *     {"SnpReport": base64url-no-pad(report), "VcekCertChain": std base64(PEM)};
 *   TDX Proof: std base64 of the TD quote;
 *   RunTimeData (both): std base64 of the runtime-claims JSON bytes.
 */
struct maa_guest_evidence {
        const char *os_type;            /* NULL: "Linux" */
        const char *os_distro;          /* os-release NAME; required */
        unsigned os_version_major;      /* JSON numbers */
        unsigned os_version_minor;
        const char *os_build;           /* NULL: "NotApplication" */
        struct maa_bytes tcg_log;       /* may be empty: sent as "" */
        const struct maa_kv *client_payload;    /* in this order; {} when none */
        size_t n_client_payload;
        struct maa_bytes ak_cert;       /* DER from NV 0x01C101D0 */
        struct maa_bytes ak_pub;        /* TPM2B_PUBLIC (size-prefixed) */
        struct maa_bytes quote;         /* TPMS_ATTEST (no size prefix) */
        struct maa_bytes quote_sig;     /* raw RSASSA signature */
        const struct maa_pcr *pcrs;     /* PcrSet is derived from the indices */
        size_t n_pcrs;
        struct maa_bytes enc_key_pub;   /* TPM2B_PUBLIC of the ephemeral key */
        struct maa_bytes enc_key_certify;       /* TPMS_ATTEST from TPM2_Certify */
        struct maa_bytes enc_key_certify_sig;
        enum maa_isolation isolation;
        struct maa_bytes snp_report;    /* SNP: exactly 1184 bytes */
        struct maa_bytes vcek_chain_pem;        /* SNP: VCEK ‖ ASK ‖ ARK PEM */
        struct maa_bytes td_quote;      /* TDX */
        struct maa_bytes runtime_claims;        /* HCL runtime-claims JSON, raw bytes */
};

/* Platform mode (SevSnpVm / TdxVm, §5.2). */
struct maa_platform_evidence {
        struct maa_bytes snp_report;    /* SNP: exactly 1184 bytes */
        struct maa_bytes vcek_chain_pem;        /* SNP */
        struct maa_bytes td_quote;      /* TDX */
        struct maa_bytes runtime_claims;        /* runtime JSON, sent with dataType "JSON" */
        const char *nonce;              /* optional: NULL leaves "nonce" out */
};

/*
 * {"AttestationInfo": base64url-no-pad(inner JSON)} with the inner JSON's
 * keys in the order of §3.3. [out] *ret_body callee-allocated (free()).
 * Returns 0, -EINVAL (missing/ill-sized field, said in e), -E2BIG, -ENOMEM.
 */
int maa_build_guest_request(const struct maa_guest_evidence *ev, char **ret_body, struct err *e);

/* The inner JSON alone (what the builder above base64url-encodes). */
int maa_build_guest_attestation_info(const struct maa_guest_evidence *ev, char **ret_json,
                                     struct err *e);

/*
 * SevSnpVm: {"report": base64url(JSON {"SnpReport": base64url(report),
 * "VcekCertChain": base64url(PEM)}), "runtimeData": {"data":
 * base64url(runtime JSON), "dataType": "JSON"}, "nonce"?: string}.
 * TdxVm: {"quote": base64url(quote), "runtimeData": {...}, "nonce"?}.
 * base64url is always without padding.
 */
int maa_build_snp_request(const struct maa_platform_evidence *ev, char **ret_body, struct err *e);
int maa_build_tdx_request(const struct maa_platform_evidence *ev, char **ret_body, struct err *e);

/* ---- OS info (/etc/os-release) ---------------------------------------- */

struct maa_os_info {
        char *distro;                   /* NAME (owned); "Linux" when the file has none */
        unsigned major, minor;          /* from VERSION_ID; 0/0 when absent or not numeric */
};

/*
 * Parse os-release text (shell-style assignments: double quotes with \" \\ \$
 * \` escapes, single quotes, bare words with backslash escapes, comments).
 * VERSION_ID "12" → 12/0, "22.04" → 22/4, "9.3.1" → 9/3; no leading digit
 * (absent, "rolling") → 0/0. Returns 0, -EBADMSG (unterminated quote, bad
 * line), -E2BIG, -ENOMEM. [out] *ret written only on success; release with
 * maa_os_info_done().
 */
int maa_os_info_parse(const char *text, size_t len, struct maa_os_info *ret, struct err *e);

/* Read path (NULL: /etc/os-release, then /usr/lib/os-release as
 * os-release(5) says). A missing file is -ENOENT with a clear message. */
int maa_os_info_load(const char *path, struct maa_os_info *ret, struct err *e);
void maa_os_info_done(struct maa_os_info *info);

/* ---- responses -------------------------------------------------------- */

enum maa_result {
        MAA_OK,                 /* 200 + {"token": string}: token extracted */
        MAA_RETRY,              /* transport error, 408, 429, 5xx, or a 200 without a token */
        MAA_REFUSED,            /* 400: MAA evaluated and refused the evidence (a verdict) */
        MAA_CONFIG_ERROR,       /* other 4xx, 3xx: endpoint/api-version/authorization wrong */
        _MAA_RESULT_MAX,
        _MAA_RESULT_INVALID = -22,
};

const char *maa_result_to_string(enum maa_result r);

struct maa_outcome {
        enum maa_result result;
        long status;                    /* HTTP status, 0 for transport errors */
        int error;                      /* transport -errno, 0 otherwise */
        int64_t retry_after_s;          /* as given (-1: absent); meaningful for MAA_RETRY */
        char *token;                    /* MAA_OK only (owned; maa_outcome_done() frees) */
        char message[ERR_MSG_MAX];      /* always set: what happened, for logs and status */
};

/*
 * Classify an answer of an attest call. error: transport -errno (0 if an
 * HTTP answer arrived); error_message: the transport's words (may be NULL).
 * The body is parsed strictly (bounded, duplicate keys rejected); server
 * strings quoted in the message are escaped and truncated. Fills *ret
 * completely; returns 0 or -ENOMEM.
 */
int maa_classify(int error, const char *error_message, long status, const char *body,
                 size_t body_len, int64_t retry_after_s, struct maa_outcome *ret);
void maa_outcome_done(struct maa_outcome *o);

/* ---- IMDS -------------------------------------------------------------- */

/* THIM answer: GET <imds>/metadata/THIM/amd/certification */
struct imds_vcek {
        char *vcek_cert;                /* PEM (owned) */
        char *certificate_chain;        /* PEM ASK ‖ ARK (owned) */
        char *chain_pem;                /* vcek_cert ‖ certificate_chain: what MAA wants (owned) */
        uint64_t tcbm;                  /* the 16 hex digits of "tcbm" */
        int64_t cache_s;                /* cacheControl seconds, clamped to IMDS_VCEK_CACHE_S_MAX;
                                         * IMDS_VCEK_CACHE_S_DEFAULT when absent */
};

/* Returns 0, -EBADMSG (malformed, said in e), -E2BIG, -ENOMEM. [out] *ret
 * written only on success; release with imds_vcek_done(). */
int imds_parse_thim(const char *body, size_t len, struct imds_vcek *ret, struct err *e);
void imds_vcek_done(struct imds_vcek *v);

/* {"report": base64url(1024-byte TD report)}. [out] callee-allocated. */
int imds_build_tdquote_request(const uint8_t *td_report, size_t len, char **ret_body, struct err *e);

/* {"quote": std-or-url base64}. [out] *ret_quote callee-allocated (free()). */
int imds_parse_tdquote(const char *body, size_t len, uint8_t **ret_quote, size_t *ret_len,
                       struct err *e);

/*
 * reported_tcb of an SNP report (offset 0x180, little-endian u64). THIM's
 * "tcbm" is this value printed as 16 hex digits (e.g. "7308000000000003":
 * microcode 0x73, SNP fw 0x08, TEE 0x00, boot loader 0x03), so a VCEK
 * matches a report when imds_vcek.tcbm == maa_snp_reported_tcb().
 */
int maa_snp_reported_tcb(const uint8_t *report, size_t len, uint64_t *ret);

/*
 * VCEK cache: one THIM answer kept for its cacheControl lifetime. Times are
 * seconds of a monotonic clock the caller supplies. Embed and zero-init.
 */
struct imds_vcek_cache {
        struct imds_vcek vcek;
        bool valid;
        uint64_t expires_s;
};

/* Take ownership of *vcek (moved: *vcek is zeroed), replacing any entry. */
void imds_vcek_cache_put(struct imds_vcek_cache *c, struct imds_vcek *vcek, uint64_t now_s);
/* The cached answer if fresh and its tcbm equals reported_tcb; otherwise the
 * entry is dropped and NULL returned. Borrowed until the next put/get/done. */
const struct imds_vcek *imds_vcek_cache_get(struct imds_vcek_cache *c, uint64_t reported_tcb,
                                            uint64_t now_s);
void imds_vcek_cache_done(struct imds_vcek_cache *c);

/* ---- async calls ------------------------------------------------------- */

enum maa_route {
        MAA_ROUTE_AZURE_GUEST,          /* /attest/AzureGuest?api-version=2020-10-01 */
        MAA_ROUTE_SEVSNP_VM,            /* /attest/SevSnpVm?api-version=2022-08-01 */
        MAA_ROUTE_TDX_VM,               /* /attest/TdxVm?api-version=2023-04-01-preview */
        _MAA_ROUTE_MAX,
        _MAA_ROUTE_INVALID = -22,
};

const char *maa_route_to_string(enum maa_route r);      /* "AzureGuest", ... */

/* A call in flight. Borrowed handle, valid until its callback runs. */
struct maa_call;

/* outcome borrowed for the call; the callback may take outcome->token
 * (set it to NULL, then free() it). */
typedef void (*maa_attest_cb)(struct maa_outcome *outcome, void *userdata);

/* r: 0 or -errno (transport error, -ENOENT for 404, -EAGAIN for
 * 408/429/5xx, -EPROTO for any other status or a malformed answer); msg
 * borrowed (always set); vcek: on r == 0 owned by the callback
 * (imds_vcek_done() or imds_vcek_cache_put()), NULL otherwise. */
typedef void (*imds_vcek_cb)(int r, const char *msg, struct imds_vcek *vcek, void *userdata);
/* quote: on r == 0 owned by the callback (free()), NULL otherwise. */
typedef void (*imds_tdquote_cb)(int r, const char *msg, uint8_t *quote, size_t quote_len,
                                void *userdata);

/*
 * POST body (borrowed, copied) to <maa.endpoint>/attest/<route>?api-version=…
 * with Content-Type/Accept application/json, User-Agent attestd/<version>,
 * maa.ca_file, maa.connect_timeout_ms/timeout_ms, MAA_RESPONSE_MAX_BYTES.
 * The answer is run through maa_classify(). cfg is borrowed for the call.
 * Returns 0 (and, if ret_call is not NULL, a handle) or -errno as
 * http_request_start() does; on failure cb is never called. If the http
 * client is freed first, cb gets MAA_RETRY with error -ECANCELED.
 */
int maa_attest_start(struct http_client *http, const struct config *cfg, enum maa_route route,
                     const char *body, maa_attest_cb cb, void *userdata, struct maa_call **ret_call);

/* GET <maa.endpoint>/certs; the raw answer goes to cb (status unchecked). */
int maa_get_jwks_start(struct http_client *http, const struct config *cfg, http_done_cb cb,
                       void *userdata, struct maa_call **ret_call);

/* GET <imds.endpoint>/metadata/THIM/amd/certification, "Metadata: true",
 * no proxy, imds.timeout_ms, IMDS_RESPONSE_MAX_BYTES; parsed. */
int imds_get_vcek_start(struct http_client *http, const struct config *cfg, imds_vcek_cb cb,
                        void *userdata, struct maa_call **ret_call);

/* POST <imds.endpoint>/acc/tdquote with {"report": base64url(td_report)}; parsed. */
int imds_get_tdquote_start(struct http_client *http, const struct config *cfg,
                           const uint8_t *td_report, size_t td_report_len, imds_tdquote_cb cb,
                           void *userdata, struct maa_call **ret_call);

/* Abort a call in flight; its callback is not invoked. Accepts NULL. */
void maa_call_cancel(struct maa_call *call);

#endif
