/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pure checks of TPM answers; see tpm-decode.h. Never logs.
 */
#include <errno.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "daemon/defaults.h"
#include "daemon/tpm-decode.h"
#include "proto/err.h"

int tpm_decode_der_sequence_len(const uint8_t *buf, size_t len, size_t *ret_len,
                                struct err *err)
{
        size_t hdr, body = 0, n;

        if (!buf || len < 2)
                return err_set(err, -EBADMSG, "too short for a DER SEQUENCE (%zu bytes)", len);
        if (buf[0] != 0x30)
                return err_set(err, -EBADMSG, "does not start with a DER SEQUENCE (tag 0x%02x)",
                               buf[0]);
        if (buf[1] < 0x80) {
                hdr = 2;
                body = buf[1];
        } else {
                n = buf[1] & 0x7f;
                if (n == 0 || n > 4)
                        return err_set(err, -EBADMSG,
                                       "unsupported DER length form 0x%02x (indefinite or too long)",
                                       buf[1]);
                if (len < 2 + n)
                        return err_set(err, -EBADMSG, "truncated DER length");
                for (size_t i = 0; i < n; i++)
                        body = (body << 8) | buf[2 + i];
                if (buf[2] == 0 || (n == 1 && body < 0x80))
                        return err_set(err, -EBADMSG, "non-minimal DER length");
                hdr = 2 + n;
        }
        if (body > len - hdr)
                return err_set(err, -EBADMSG,
                               "DER SEQUENCE claims %zu bytes but only %zu are present",
                               hdr + body, len);
        *ret_len = hdr + body;
        return 0;
}

/* Unmarshal a TPMS_ATTEST of the given type. */
static int attest_unmarshal(const uint8_t *buf, size_t len, TPM2_ST type, TPMS_ATTEST *ret,
                            struct err *err)
{
        size_t off = 0;
        TSS2_RC rc;

        if (!buf)
                return err_set(err, -EPROTO, "no attestation data");
        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, ret);
        if (rc != TSS2_RC_SUCCESS)
                return err_set(err, -EPROTO, "not a TPMS_ATTEST (%zu bytes, unmarshal error 0x%08x)",
                               len, rc);
        if (ret->magic != TPM2_GENERATED_VALUE)
                return err_set(err, -EPROTO, "magic 0x%08x is not TPM_GENERATED_VALUE", ret->magic);
        if (ret->type != type)
                return err_set(err, -EPROTO, "type 0x%04x instead of 0x%04x", ret->type, type);
        return 0;
}

int tpm_decode_quote(const uint8_t *buf, size_t len, uint8_t ret_digest[TPM_DIGEST_SIZE],
                     struct err *err)
{
        TPMS_ATTEST attest = {};
        int r;

        r = attest_unmarshal(buf, len, TPM2_ST_ATTEST_QUOTE, &attest, err);
        if (r < 0)
                return r;
        if (attest.attested.quote.pcrDigest.size != TPM_DIGEST_SIZE)
                return err_set(err, -EPROTO, "pcrDigest has %u bytes instead of %d",
                               attest.attested.quote.pcrDigest.size, TPM_DIGEST_SIZE);
        memcpy(ret_digest, attest.attested.quote.pcrDigest.buffer, TPM_DIGEST_SIZE);
        return 0;
}

int tpm_decode_certify(const uint8_t *buf, size_t len, TPM2B_NAME *ret_name, struct err *err)
{
        TPMS_ATTEST attest = {};
        int r;

        r = attest_unmarshal(buf, len, TPM2_ST_ATTEST_CERTIFY, &attest, err);
        if (r < 0)
                return r;
        *ret_name = attest.attested.certify.name;
        return 0;
}

int tpm_decode_key_public(const uint8_t *buf, size_t len, uint32_t attributes,
                          const uint8_t policy[TPM_DIGEST_SIZE], struct err *err)
{
        TPM2B_PUBLIC pub = {};         /* the unmarshaler wants size 0 */
        size_t off = 0;
        TSS2_RC rc;

        if (!buf)
                return err_set(err, -EPROTO, "no public area");
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
        if (rc != TSS2_RC_SUCCESS)
                return err_set(err, -EPROTO, "not a TPM2B_PUBLIC (%zu bytes, unmarshal error 0x%08x)",
                               len, rc);
        if (pub.publicArea.objectAttributes != attributes)
                return err_set(err, -EPROTO, "attributes 0x%08x instead of 0x%08x",
                               pub.publicArea.objectAttributes, attributes);
        if (pub.publicArea.authPolicy.size != TPM_DIGEST_SIZE ||
            memcmp(pub.publicArea.authPolicy.buffer, policy, TPM_DIGEST_SIZE) != 0)
                return err_set(err, -EPROTO, "authPolicy (%u bytes) is not the one asked for",
                               pub.publicArea.authPolicy.size);
        return 0;
}

int tpm_decode_pcr_read(const TPML_PCR_SELECTION *sel, const TPML_DIGEST *values,
                        uint32_t requested, struct tpm_pcrs *pcrs, uint32_t *ret_got,
                        struct err *err)
{
        struct tpm_pcrs out = *pcrs;
        uint32_t got = 0;
        size_t k = 0;

        if (sel->count > TPM2_NUM_PCR_BANKS ||
            values->count > sizeof(values->digests) / sizeof(values->digests[0]))
                return err_set(err, -EPROTO, "%u banks and %u values are more than a TPML holds",
                               sel->count, values->count);
        for (UINT32 b = 0; b < sel->count; b++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];

                if (s->hash != TPM2_ALG_SHA256)
                        continue;
                for (unsigned i = 0; i < TPM_PCR_COUNT && i / 8 < s->sizeofSelect; i++) {
                        if (!(s->pcrSelect[i / 8] & (1u << (i % 8))))
                                continue;
                        if (!(requested & (1u << i)))
                                return err_set(err, -EPROTO, "PCR %u was not asked for", i);
                        if (k >= values->count)
                                return err_set(err, -EPROTO, "no value for PCR %u", i);
                        if (values->digests[k].size != TPM_DIGEST_SIZE)
                                return err_set(err, -EPROTO, "the value of PCR %u has %u bytes",
                                               i, values->digests[k].size);
                        memcpy(out.digest[i], values->digests[k++].buffer, TPM_DIGEST_SIZE);
                        got |= 1u << i;
                }
        }
        if (!got)
                return err_set(err, -EPROTO, "none of the PCRs asked for "
                               "(is the sha256 bank allocated?)");
        *pcrs = out;
        *ret_got = got;
        return 0;
}

int tpm_decode_signature(const TPMT_SIGNATURE *sig, const uint8_t **ret_sig, size_t *ret_len,
                         struct err *err)
{
        if (sig->sigAlg != TPM2_ALG_RSASSA && sig->sigAlg != TPM2_ALG_RSAPSS)
                return err_set(err, -EPROTO, "the AK signed with algorithm 0x%04x, not RSA",
                               sig->sigAlg);
        *ret_sig = sig->signature.rsassa.sig.buffer;
        *ret_len = sig->signature.rsassa.sig.size;
        return 0;
}

int tpm_decode_nv_public(const TPMS_NV_PUBLIC *pub, size_t *ret_size, bool *ret_owner_read,
                         struct err *err)
{
        if (pub->dataSize == 0 || pub->dataSize > TPM_NV_READ_MAX_BYTES)
                return err_set(err, -E2BIG, "has %u bytes (expected 1..%d)", pub->dataSize,
                               TPM_NV_READ_MAX_BYTES);
        if (!(pub->attributes & (TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD)))
                return err_set(err, -EACCES, "allows neither owner nor auth reads "
                               "(attributes 0x%08x)", pub->attributes);
        *ret_size = pub->dataSize;
        *ret_owner_read = pub->attributes & TPMA_NV_OWNERREAD;
        return 0;
}
