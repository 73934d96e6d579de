/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_TPM_H
#define ATTESTD_DAEMON_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The TPM module: the only code that talks to the TPM.
 *
 * One struct tpm owns one TCTI + ESYS context. That context lives on a
 * dedicated worker thread (swtpm and most TCTIs give ESYS no poll handles,
 * so libevent cannot drive ESYS asynchronously). Requests are queued and run
 * one at a time, in submission order; each completes by calling its callback
 * ON THE EVENT-LOOP THREAD (the worker hands results back through an eventfd
 * watched by an event on the caller's event_base). The loop never blocks on
 * the TPM.
 *
 * Every transient object and session a request creates is flushed before the
 * request completes, on every path, with one exception: the ephemeral
 * decryption key (tpm_ephemeral_key_async()), which is kept loaded and reused
 * while the PCR values it is bound to do not change.
 *
 * Errors: every request completes with res->r = 0 or -errno and, on failure,
 * res->message saying which operation, index or handle failed and what that
 * usually means. The TSS2 return code appears in the message (decoded with
 * Tss2_RC_Decode) and never alone. Notable errors:
 *   -ENXIO     an Azure-reserved NV index or the AK handle does not exist
 *              (not an Azure confidential VM, or the TCTI names the wrong TPM)
 *   -EIO       the connection to the TPM was lost; the next request
 *              reconnects (new TCTI + ESYS context + TPM2_Startup)
 *   -ETIMEDOUT tpm_fresh_report_async(): the report never carried the data
 *   -EAGAIN    the PCRs kept changing while a request ran
 *   -EBUSY     TPM busy (RETRY/YIELDED/TESTING) or in DA lockout after
 *              TPM_RETRY_MAX attempts
 *   -ENOKEY    rsa_decrypt without an ephemeral key
 *   -EACCES    a policy or authorization check failed in the TPM (e.g. the
 *              PCRs changed since the ephemeral key was made)
 *   -EBADMSG   malformed evidence (AK cert NV not DER) or a ciphertext that
 *              does not decrypt under the ephemeral key
 *   -ENODATA   NV index defined but never written
 *   -ENOSPC    TPM out of object/session slots or NV space
 *   -EPROTO    any other TPM refusal or malformed TPM answer
 *   -ECANCELED tpm_free() ran before the request completed
 * On failure only r and message are set; every blob is empty.
 *
 * The TSS logs to our stderr: tpm_new() sets TSS2_LOG=all+NONE when
 * TSS2_LOG is unset, because this module decodes and reports every error
 * itself and some "errors" are expected probes. Set TSS2_LOG (the unit file
 * sets all+ERROR) to see the TSS's own log.
 */

struct err;
struct event_base;
struct tpm;

#define TPM_MESSAGE_MAX         256
#define TPM_PCR_COUNT           24      /* sha256 bank, PCRs 0..23 */
#define TPM_DIGEST_SIZE         32      /* SHA-256 */
#define TPM_USER_DATA_SIZE      64      /* NV 0x01400002 */

/* Azure vTPM reserved handles (AZURE-PROTOCOL.md §1.1). */
#define TPM_NV_HCL_REPORT       0x01400001u
#define TPM_NV_USER_DATA        0x01400002u
#define TPM_NV_AK_CERT          0x01C101D0u
#define TPM_AK_HANDLE           0x81000003u

/* A byte buffer. `data` is heap-allocated and owned by whoever holds the
 * struct (see struct tpm_result). */
struct tpm_blob {
        uint8_t *data;
        size_t len;
};

/* SHA-256 PCR values. digest[i] is valid where bit i of mask is set. */
struct tpm_pcrs {
        uint32_t mask;
        uint8_t digest[TPM_PCR_COUNT][TPM_DIGEST_SIZE];
};

/*
 * The outcome of one request. Which members are filled depends on the
 * request (see each tpm_*_async()); the others are empty. The result passed
 * to a callback is owned by the module and freed when the callback returns:
 * to keep a blob, move it out (tpm_blob_take()). tpm_sync_cb() moves the
 * whole result into a struct tpm_sync, which the caller then owns and
 * releases with tpm_result_done().
 */
struct tpm_result {
        int r;                          /* 0 or -errno */
        char message[TPM_MESSAGE_MAX];  /* on failure: what failed and why */
        struct tpm_blob data;           /* NV contents, TPM2B_PUBLIC or plaintext */
        struct tpm_blob attest;         /* TPMS_ATTEST (quote, certify) */
        struct tpm_blob signature;      /* raw RSASSA-PKCS1-v1_5 signature */
        struct tpm_pcrs pcrs;           /* PCR values (read_pcrs, quote, ephemeral_key) */
        bool key_created;               /* ephemeral_key: new key (false: reused) */
        bool secret;                    /* data holds a secret: wiped on release */
        double seconds;                 /* time the operation took on the worker */
};

/* Release the buffers of res (wiping data when res->secret). Accepts NULL. */
void tpm_result_done(struct tpm_result *res);

/* Move the buffer of b to the caller (*ret_data, *ret_len; free() it) and empty b. */
void tpm_blob_take(struct tpm_blob *b, uint8_t **ret_data, size_t *ret_len);

/* Completion callback, called on the loop thread. res is borrowed (see
 * struct tpm_result); userdata is what the request was given. */
typedef void (*tpm_cb)(struct tpm_result *res, void *userdata);

/*
 * Open the TPM named by tcti_conf (a Tss2_TctiLdr name-conf string such as
 * "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321"), run
 * TPM2_Startup(CLEAR) (an already started TPM is fine), probe it with
 * GetCapability (NV buffer size, manufacturer) and start the worker.
 * Blocks while doing so: call it during startup, before READY.
 *   base:     [in] borrowed; must outlive the tpm. Completions run on it.
 *   tcti_conf:[in] copied.
 *   ret:      [out] callee-allocated; free with tpm_free().
 *   err:      [out] optional (may be NULL): why it failed.
 * Returns 0, -EINVAL (bad arguments), -EIO (TPM unreachable) or another
 * -errno from the TPM's answer.
 */
int tpm_new(struct event_base *base, const char *tcti_conf, struct tpm **ret, struct err *err);

/*
 * Stop the worker (after the request it is running), flush the ephemeral
 * key, finalize ESYS and the TCTI. Requests not yet delivered complete now,
 * on the calling thread, with -ECANCELED; they must not submit new requests.
 * Accepts NULL; returns NULL.
 */
struct tpm *tpm_free(struct tpm *tpm);

/* Probe results from tpm_new() (constant afterwards). */
const char *tpm_get_manufacturer(const struct tpm *tpm);   /* borrowed, e.g. "IBM" */
unsigned tpm_get_nv_buffer_max(const struct tpm *tpm);

/*
 * Asynchronous requests. Each returns 0 when the request was queued (cb will
 * be called exactly once, later, on the loop thread) or -errno without
 * calling cb: -EINVAL (bad arguments), -ESHUTDOWN (tpm_free() running).
 * PCR masks select sha256 PCRs (bit n = PCR n, 0 < mask < 2^24).
 */

/* Read a whole NV index (owner auth, empty password) in chunks of at most
 * TPM2_PT_NV_BUFFER_MAX. res->data = contents. */
int tpm_read_nv_async(struct tpm *tpm, uint32_t nv_index, tpm_cb cb, void *userdata);

/* NV 0x01400001, the HCL attestation report. res->data = the report. */
int tpm_read_hcl_report_async(struct tpm *tpm, tpm_cb cb, void *userdata);

/* The AK (0x81000003) public area. res->data = marshaled TPM2B_PUBLIC
 * (with its size prefix). */
int tpm_read_ak_pub_async(struct tpm *tpm, tpm_cb cb, void *userdata);

/* The AK certificate (NV 0x01C101D0) trimmed to its outer DER SEQUENCE.
 * res->data = DER; -EBADMSG when the NV does not start with a complete DER
 * SEQUENCE. */
int tpm_read_ak_cert_async(struct tpm *tpm, tpm_cb cb, void *userdata);

/* res->pcrs = the sha256 PCR values of mask. */
int tpm_read_pcrs_async(struct tpm *tpm, uint32_t mask, tpm_cb cb, void *userdata);

/*
 * TPM2_Quote by the AK over sha256 PCRs of mask, scheme NULL (the AK's
 * RSASSA-SHA256). qualifying: [in] copied, up to 64 bytes, may be NULL/0
 * (reference clients send none). res->attest = TPMS_ATTEST (no size
 * prefix), res->signature = raw 256-byte signature, res->pcrs = the PCR
 * values the quote covers (checked against the quote's pcrDigest; -EAGAIN
 * when they changed twice in a row).
 */
int tpm_quote_async(struct tpm *tpm, uint32_t mask, const uint8_t *qualifying,
                    size_t qualifying_len, tpm_cb cb, void *userdata);

/*
 * The ephemeral decryption key of AZURE-PROTOCOL.md §3.4/§9: primary RSA-2048
 * in the NULL hierarchy (like Microsoft's client: its seed changes at every
 * TPM reset, so the key can never outlive a boot), attributes 0x00020432,
 * authPolicy = PolicyPCR over the current sha256 PCR values of mask. Kept
 * loaded and reused while those values are unchanged; re-created (the old
 * one flushed first) when they change. res->data = marshaled TPM2B_PUBLIC
 * (with size prefix), res->attest/res->signature = TPM2_Certify of the key by
 * the AK, res->pcrs = the values the policy binds, res->key_created.
 */
int tpm_ephemeral_key_async(struct tpm *tpm, uint32_t mask, tpm_cb cb, void *userdata);

/*
 * RSA-decrypt (RSAES-PKCS1-v1_5, empty label) ciphertext with the ephemeral
 * key under a PolicyPCR session on the key's PCR mask. ciphertext: [in]
 * copied, 1..256 bytes. res->data = plaintext, res->secret = true (wiped by
 * tpm_result_done()). -ENOKEY when no ephemeral key exists; -EACCES when the
 * PCRs changed since the key was made.
 */
int tpm_rsa_decrypt_async(struct tpm *tpm, const uint8_t *ciphertext, size_t len,
                          tpm_cb cb, void *userdata);

/*
 * Decides whether an HCL report carries user_data. Runs ON THE WORKER
 * THREAD: it must only look at its arguments (report, len and user_data
 * borrowed for the call) and at userdata in a thread-safe way.
 */
typedef bool (*tpm_report_predicate)(const uint8_t *report, size_t len,
                                     const uint8_t user_data[TPM_USER_DATA_SIZE],
                                     void *userdata);

/*
 * Ask the paravisor for a fresh HCL report bound to user_data: define NV
 * 0x01400002 (64 bytes) if needed, write user_data, then re-read 0x01400001
 * until predicate(report) is true, backing off between reads, for at most
 * timeout_ms. All in one request. user_data: [in] copied. res->data = the
 * report. -ETIMEDOUT when the report never carried the data.
 */
int tpm_fresh_report_async(struct tpm *tpm, const uint8_t user_data[TPM_USER_DATA_SIZE],
                           tpm_report_predicate predicate, void *predicate_userdata,
                           unsigned timeout_ms, tpm_cb cb, void *userdata);

/*
 * Blocking use for command-line tools, through the same asynchronous path:
 *
 *      struct tpm_sync s = {};
 *      r = tpm_read_pcrs_async(tpm, mask, tpm_sync_cb, &s);
 *      if (r >= 0)
 *              r = tpm_sync_wait(tpm, &s);    // runs the event_base
 *      ... use s.res ...
 *      tpm_result_done(&s.res);
 */
struct tpm_sync {
        bool done;
        struct tpm_result res;  /* owned by the caller after tpm_sync_wait() */
};

/* A tpm_cb that moves the result into the struct tpm_sync at userdata. */
void tpm_sync_cb(struct tpm_result *res, void *userdata);

/* Run tpm's event_base until s->done. Returns s->res.r, or -EIO when the
 * loop fails. Must not be called from a callback. */
int tpm_sync_wait(struct tpm *tpm, struct tpm_sync *s);

#endif
