/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_TPM_PRIV_H
#define ATTESTD_DAEMON_TPM_PRIV_H

/*
 * Internals of the TPM module that the unit and integration tests use.
 * Nothing outside daemon/tpm.c and tests/ includes this header.
 */

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "daemon/tpm.h"

struct tpm_req;

/* What a TSS2 return code means, for error messages. */
enum tpm_rc_kind {
        TPM_RC_KIND_OTHER,
        TPM_RC_KIND_CONNECTION,         /* TCTI failure: reconnect */
        TPM_RC_KIND_RETRY,              /* RETRY, YIELDED, TESTING, LOCKOUT */
        TPM_RC_KIND_ABSENT,             /* handle/index does not exist */
};

/* -errno for a TSS2 return code (never 0 for rc != 0). */
int tpm_rc_errno(TSS2_RC rc);
enum tpm_rc_kind tpm_rc_kind(TSS2_RC rc);

/*
 * Format "<what>: <Tss2_RC_Decode(rc)> (0x%08x)[: hint]" into buf and
 * return tpm_rc_errno(rc). `handle` names the NV index or object handle the
 * command was about (0: none); it picks the hint for an absent handle.
 */
int tpm_rc_format(char *buf, size_t size, TSS2_RC rc, uint32_t handle, const char *what);

/* The TPML_PCR_SELECTION of one sha256 bank for mask. */
void tpm_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret);

/* SHA-256 over the values of pcrs (ascending PCR index), the pcrDigest of a
 * quote and of PolicyPCR. */
int tpm_pcrs_digest(const struct tpm_pcrs *pcrs, uint8_t ret[TPM_DIGEST_SIZE]);

/*
 * The PolicyPCR policy digest from an empty policy, computed in software:
 * SHA-256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION(mask) || pcr_digest).
 */
int tpm_policy_pcr_digest(uint32_t mask, const uint8_t pcr_digest[TPM_DIGEST_SIZE],
                          uint8_t ret[TPM_DIGEST_SIZE]);

/*
 * Run fn on the worker thread as one request (queued and serialized like
 * every tpm_*_async(); reconnects first when needed), then cb on the loop
 * thread. fn returns 0 or -errno; it reports a failed TSS call with
 * tpm_req_fail_rc() (which also lets the worker retry busy TPMs and notice a
 * lost connection) and any other failure with tpm_req_fail(). Every public
 * request is built on this; tests use it to reach the TPM through the
 * module's own connection (PCR extend, handle counts).
 */
typedef int (*tpm_exec_fn)(struct tpm_req *req);
int tpm_exec_async(struct tpm *tpm, tpm_exec_fn fn, void *arg, tpm_cb cb, void *userdata);

ESYS_CONTEXT *tpm_req_esys(struct tpm_req *req);       /* borrowed, worker only */
void *tpm_req_arg(struct tpm_req *req);                 /* the arg given */
struct tpm_result *tpm_req_result(struct tpm_req *req); /* borrowed */
int tpm_req_fail_rc(struct tpm_req *req, TSS2_RC rc, uint32_t handle, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int tpm_req_fail(struct tpm_req *req, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
