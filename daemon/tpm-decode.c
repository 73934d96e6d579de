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

/* The PCRs one TPMS_PCR_SELECTION selects, as a mask. */
static int selection_mask(const TPMS_PCR_SELECTION *s, uint32_t *ret, struct err *err)
{
        uint32_t mask = 0;

        if (s->sizeofSelect > sizeof(s->pcrSelect))
                return err_set(err, -EPROTO, "a PCR selection of %u bytes", s->sizeofSelect);
        for (unsigned i = 0; i < s->sizeofSelect; i++) {
                if (i * 8 >= TPM_PCR_COUNT && s->pcrSelect[i])
                        return err_set(err, -EPROTO, "PCRs above %d selected", TPM_PCR_COUNT - 1);
                if (i * 8 < TPM_PCR_COUNT)
                        mask |= (uint32_t) s->pcrSelect[i] << (i * 8);
        }
        *ret = mask;
        return 0;
}

/* Unmarshal exactly one TPMS_ATTEST of the given type, made by the TPM for
 * the qualifying data the daemon sent. */
static int attest_unmarshal(const uint8_t *buf, size_t len, TPM2_ST type,
                            const uint8_t *qualifying, size_t qualifying_len, TPMS_ATTEST *ret,
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
        if (off != len)
                return err_set(err, -EPROTO, "%zu bytes after the TPMS_ATTEST", len - off);
        if (ret->magic != TPM2_GENERATED_VALUE)
                return err_set(err, -EPROTO, "magic 0x%08x is not TPM_GENERATED_VALUE", ret->magic);
        if (ret->type != type)
                return err_set(err, -EPROTO, "type 0x%04x instead of 0x%04x", ret->type, type);
        if (ret->extraData.size != qualifying_len ||
            (qualifying_len && memcmp(ret->extraData.buffer, qualifying, qualifying_len) != 0))
                return err_set(err, -EPROTO, "extraData (%u bytes) is not the qualifying data "
                               "sent (%zu bytes)", ret->extraData.size, qualifying_len);
        return 0;
}

int tpm_decode_quote(const uint8_t *buf, size_t len, uint32_t mask, const uint8_t *qualifying,
                     size_t qualifying_len, uint8_t ret_digest[TPM_DIGEST_SIZE],
                     struct err *err)
{
        TPMS_ATTEST attest = {};
        const TPML_PCR_SELECTION *sel = &attest.attested.quote.pcrSelect;
        uint32_t quoted = 0;
        int r;

        r = attest_unmarshal(buf, len, TPM2_ST_ATTEST_QUOTE, qualifying, qualifying_len, &attest,
                             err);
        if (r < 0)
                return r;
        if (sel->count != 1 || sel->pcrSelections[0].hash != TPM2_ALG_SHA256)
                return err_set(err, -EPROTO, "the quote covers %u PCR banks (first 0x%04x), "
                               "not just sha256", sel->count,
                               sel->count ? sel->pcrSelections[0].hash : 0);
        r = selection_mask(&sel->pcrSelections[0], &quoted, err);
        if (r < 0)
                return r;
        if (quoted != mask)
                return err_set(err, -EPROTO, "the quote covers sha256 PCRs 0x%06x instead of 0x%06x",
                               quoted, mask);
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

        r = attest_unmarshal(buf, len, TPM2_ST_ATTEST_CERTIFY, NULL, 0, &attest, err);
        if (r < 0)
                return r;
        *ret_name = attest.attested.certify.name;
        return 0;
}

int tpm_decode_key_public(const uint8_t *buf, size_t len, uint32_t attributes,
                          const uint8_t policy[TPM_DIGEST_SIZE], struct err *err)
{
        TPM2B_PUBLIC pub = {};         /* the unmarshaler wants size 0 */
        const TPMT_PUBLIC *area = &pub.publicArea;
        const TPMS_RSA_PARMS *rsa = &area->parameters.rsaDetail;
        size_t off = 0;
        TSS2_RC rc;

        if (!buf)
                return err_set(err, -EPROTO, "no public area");
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
        if (rc != TSS2_RC_SUCCESS)
                return err_set(err, -EPROTO, "not a TPM2B_PUBLIC (%zu bytes, unmarshal error 0x%08x)",
                               len, rc);
        if (off != len)
                return err_set(err, -EPROTO, "%zu bytes after the TPM2B_PUBLIC", len - off);
        if (area->type != TPM2_ALG_RSA || area->nameAlg != TPM2_ALG_SHA256 ||
            rsa->keyBits != 2048 || rsa->symmetric.algorithm != TPM2_ALG_NULL ||
            rsa->scheme.scheme != TPM2_ALG_NULL)
                return err_set(err, -EPROTO, "type 0x%04x, nameAlg 0x%04x, %u bits, symmetric "
                               "0x%04x, scheme 0x%04x instead of an RSA-2048 SHA-256 key "
                               "without symmetric algorithm or scheme", area->type,
                               area->nameAlg, rsa->keyBits, rsa->symmetric.algorithm,
                               rsa->scheme.scheme);
        if (area->objectAttributes != attributes)
                return err_set(err, -EPROTO, "attributes 0x%08x instead of 0x%08x",
                               area->objectAttributes, attributes);
        if (area->authPolicy.size != TPM_DIGEST_SIZE ||
            memcmp(area->authPolicy.buffer, policy, TPM_DIGEST_SIZE) != 0)
                return err_set(err, -EPROTO, "authPolicy (%u bytes) is not the one asked for",
                               area->authPolicy.size);
        return 0;
}

int tpm_decode_pcr_read(const TPML_PCR_SELECTION *sel, const TPML_DIGEST *values,
                        uint32_t requested, struct tpm_pcrs *pcrs, uint32_t *ret_got,
                        struct err *err)
{
        struct tpm_pcrs out = *pcrs;
        uint32_t got = 0;
        size_t k = 0;
        int r;

        if (sel->count > 1 || (sel->count == 1 && sel->pcrSelections[0].hash != TPM2_ALG_SHA256))
                return err_set(err, -EPROTO, "%u PCR banks (first 0x%04x) for a read of sha256",
                               sel->count, sel->pcrSelections[0].hash);
        if (sel->count == 1) {
                r = selection_mask(&sel->pcrSelections[0], &got, err);
                if (r < 0)
                        return r;
        }
        if (got & ~requested)
                return err_set(err, -EPROTO, "PCRs 0x%06x were not asked for", got & ~requested);
        if (!got)
                return err_set(err, -EPROTO, "none of the PCRs asked for "
                               "(is the sha256 bank allocated?)");
        if (values->count > sizeof(values->digests) / sizeof(values->digests[0]) ||
            values->count != (UINT32) __builtin_popcount(got))
                return err_set(err, -EPROTO, "%u values for %d PCRs", values->count,
                               __builtin_popcount(got));
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                if (!(got & (1u << i)))
                        continue;
                if (values->digests[k].size != TPM_DIGEST_SIZE)
                        return err_set(err, -EPROTO, "the value of PCR %u has %u bytes", i,
                                       values->digests[k].size);
                memcpy(out.digest[i], values->digests[k++].buffer, TPM_DIGEST_SIZE);
        }
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
        if (sig->signature.rsassa.sig.size == 0)
                return err_set(err, -EPROTO, "an empty signature");
        *ret_sig = sig->signature.rsassa.sig.buffer;
        *ret_len = sig->signature.rsassa.sig.size;
        return 0;
}

int tpm_decode_nv_public(const TPMS_NV_PUBLIC *pub, uint32_t index, size_t *ret_size,
                         bool *ret_owner_read, struct err *err)
{
        if (pub->nvIndex != index)
                return err_set(err, -EPROTO, "is described as index 0x%08x", pub->nvIndex);
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
