/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_ATTEST_H
#define ATTESTD_DAEMON_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One attestation, end to end, on the event loop: evidence from the TPM
 * (HCL report, AK, AK certificate, PCR quote, ephemeral key + certification)
 * and the TCG event log, platform evidence from IMDS (VCEK chain or TD
 * quote), the MAA request, the sealed response opened inside the TPM, and
 * the JWT verified against the pinned issuer's JWKS. Policy is not applied
 * here: the outcome is a verified token or a classified failure.
 *
 * At most one run is in flight per attester (the TPM serializes anyway);
 * the daemon core queues and batches callers in front of it.
 */

struct config;
struct event_base;
struct http_client;
struct jose_token;
struct tpm;
struct attester;

enum attest_status {
        ATTEST_OK,              /* a verified token */
        ATTEST_REFUSED,         /* MAA refused the evidence: a verdict, not a retry */
        ATTEST_RETRY,           /* transient (network, 408/429/5xx, TPM busy): back off and retry */
        ATTEST_ERROR,           /* local or configuration failure: back off and retry, say why */
        _ATTEST_STATUS_MAX,
};

const char *attest_status_to_string(enum attest_status s);

#define ATTEST_MESSAGE_MAX 512
#define ATTEST_PAYLOAD_MAX 64   /* ClientPayload entries in one run */
#define ATTEST_TPM_OPS_MAX 8

struct attest_outcome {
        enum attest_status status;
        const char *code;               /* stable reason code (static string) */
        char message[ATTEST_MESSAGE_MAX];
        int64_t retry_after_ms;         /* -1: none given */
        struct jose_token *token;       /* ATTEST_OK: owned by the outcome; steal and NULL it */
        uint8_t evidence_sha256[32];    /* SHA-256 of the request body sent to MAA */
        bool have_evidence;
        double maa_seconds;             /* MAA round trip, 0 when not reached */
        int64_t ak_cert_not_after;      /* the AK certificate's notAfter, 0 when not read */
        struct {
                const char *op;         /* static: "nv_read", "read_public", "quote", ... */
                double seconds;
        } tpm_ops[ATTEST_TPM_OPS_MAX];  /* the TPM operations of this run */
        size_t n_tpm_ops;
};

/* ClientPayload: key/value strings echoed by MAA in x-ms-runtime.client-payload. */
struct attest_params {
        const char *keys[ATTEST_PAYLOAD_MAX];
        const void *values[ATTEST_PAYLOAD_MAX];        /* bytes: the token echoes their std base64 */
        size_t value_lens[ATTEST_PAYLOAD_MAX];
        size_t n;
};

typedef void (*attest_done_cb)(struct attest_outcome *o, void *userdata);

/* All arguments borrowed; they must outlive the attester. */
int attester_new(struct event_base *base, const struct config *cfg, struct tpm *tpm,
                 struct http_client *http, struct attester **ret);
struct attester *attester_free(struct attester *a);

/* Point at a new configuration (after a reload); drops caches that depend on it. */
void attester_set_config(struct attester *a, const struct config *cfg);

/* Start a run. -EBUSY while one is in flight, -E2BIG for too many payload
 * entries. Otherwise cb is called exactly once: later from the loop, or
 * before this returns when nothing could be started (event log unreadable,
 * TPM shut down). params are copied. */
int attester_run(struct attester *a, const struct attest_params *params, attest_done_cb cb,
                 void *userdata);
bool attester_busy(const struct attester *a);

/* Add one ClientPayload entry (copied) to the run in flight while its MAA
 * request is not built yet: callers arriving while the evidence is being
 * gathered share the round trip. Returns 0; -EBUSY when no run is in
 * flight or its request is built already; -E2BIG when the run is full;
 * -EEXIST when the key is taken. */
int attester_join(struct attester *a, const char *key, const void *value, size_t len);

void attest_outcome_done(struct attest_outcome *o);

#endif
