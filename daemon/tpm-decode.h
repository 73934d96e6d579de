/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_TPM_DECODE_H
#define ATTESTD_DAEMON_TPM_DECODE_H

/*
 * Checks of what the TPM answers. The TPM is outside input: a buggy or
 * malicious vTPM or paravisor can answer anything, so daemon/tpm.c runs
 * every answer it keeps or relies on through one of these before using it.
 *
 * They are pure: no ESYS context, no logging, no allocation. Each returns 0
 * or -errno (-EPROTO: a malformed TPM answer, unless said otherwise) and on
 * failure says what is wrong in err (optional, may be NULL). Out parameters
 * are written only on success. Every pointer parameter is borrowed for the
 * call. tests/fuzz/fuzz-tpm.c feeds them arbitrary bytes.
 *
 * Answers that ESYS has already unmarshaled (PCR_Read, NV_ReadPublic,
 * signatures) are checked as the structures ESYS returns; the attestation
 * structures are checked as the bytes the TPM signed, which are what the
 * daemon hands on.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "daemon/tpm.h"

struct err;

/*
 * The AK certificate NV index holds a DER certificate followed by padding.
 * *ret_len = the length of the outer DER SEQUENCE at buf (header + contents),
 * checked to fit in len. -EBADMSG if it is not a complete definite-length
 * SEQUENCE.
 */
int tpm_decode_der_sequence_len(const uint8_t *buf, size_t len, size_t *ret_len,
                                struct err *err);

/*
 * The TPMS_ATTEST of TPM2_Quote (the TPM2B_ATTEST's attestationData, no
 * size prefix) answering a quote of the sha256 PCRs of mask with
 * qualifying data `qualifying` (qualifying_len bytes; NULL when 0): buf
 * holds exactly one TPMS_ATTEST, with magic TPM_GENERATED_VALUE, type
 * TPM_ST_ATTEST_QUOTE, extraData equal to the qualifying data, a PCR
 * selection of exactly the sha256 PCRs of mask and a SHA-256 pcrDigest,
 * which is copied to ret_digest (the caller compares it with the PCR values
 * it read).
 */
int tpm_decode_quote(const uint8_t *buf, size_t len, uint32_t mask, const uint8_t *qualifying,
                     size_t qualifying_len, uint8_t ret_digest[TPM_DIGEST_SIZE],
                     struct err *err);

/*
 * The TPMS_ATTEST of TPM2_Certify (no size prefix) answering a
 * certification without qualifying data: exactly one TPMS_ATTEST, magic
 * TPM_GENERATED_VALUE, type TPM_ST_ATTEST_CERTIFY, empty extraData.
 * *ret_name = the name of the certified object (the caller compares it with
 * the key it asked about).
 */
int tpm_decode_certify(const uint8_t *buf, size_t len, TPM2B_NAME *ret_name, struct err *err);

/*
 * A marshaled TPM2B_PUBLIC (with its size prefix, nothing after it) of the
 * ephemeral key the daemon had the TPM create: an RSA-2048 key with nameAlg
 * SHA-256, no symmetric algorithm and no scheme, objectAttributes
 * `attributes` and authPolicy the SHA-256 digest `policy`, as asked for.
 */
int tpm_decode_key_public(const uint8_t *buf, size_t len, uint32_t attributes,
                          const uint8_t policy[TPM_DIGEST_SIZE], struct err *err);

/*
 * One TPM2_PCR_Read answer to a request for the sha256 PCRs of `requested`:
 * sel (pcrSelectionOut) says which PCRs values holds, in order. Copies each
 * returned sha256 value into pcrs->digest[i] (other entries are kept: a
 * read of many PCRs takes several calls) and sets *ret_got to the mask of
 * PCRs returned. Fails when the answer names another bank or a PCR that was
 * not requested, holds other than one 32-byte value per PCR named, or
 * returns none of them.
 *   pcrs: [in,out] updated only on success.
 */
int tpm_decode_pcr_read(const TPML_PCR_SELECTION *sel, const TPML_DIGEST *values,
                        uint32_t requested, struct tpm_pcrs *pcrs, uint32_t *ret_got,
                        struct err *err);

/*
 * The signature of a quote or certification by the AK: RSASSA or RSAPSS,
 * not empty. *ret_sig (borrowed from sig) and *ret_len = the raw signature.
 */
int tpm_decode_signature(const TPMT_SIGNATURE *sig, const uint8_t **ret_sig, size_t *ret_len,
                         struct err *err);

/*
 * The public area of NV index `index`, to be read whole: it describes that
 * index, has 1..TPM_NV_READ_MAX_BYTES bytes (-E2BIG otherwise) and is
 * readable with owner auth or its own auth (-EACCES otherwise).
 * *ret_size = its size, *ret_owner_read = whether owner auth may read it
 * (else the index's own auth is used).
 */
int tpm_decode_nv_public(const TPMS_NV_PUBLIC *pub, uint32_t index, size_t *ret_size,
                         bool *ret_owner_read, struct err *err);

#endif
