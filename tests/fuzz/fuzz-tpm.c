/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Everything daemon/tpm.c takes from the TPM, through the checks of
 * daemon/tpm-decode.c. The first byte (modulo the number of decoders)
 * picks the decoder; the rest is its input (big-endian integers):
 *
 *   0  DER      the AK certificate NV contents
 *   1  QUOTE    qlen:u8 (mod 65), qualifying[qlen], mask:u24, TPMS_ATTEST
 *   2  CERTIFY  TPMS_ATTEST
 *   3  KEY      attributes:u32, policy[32], TPM2B_PUBLIC
 *   4  PCRS     requested:u24, TPML_PCR_SELECTION, TPML_DIGEST (a PCR_Read answer)
 *   5  SIG      TPMT_SIGNATURE
 *   6  NV       index:u32, TPM2B_NV_PUBLIC
 *
 * The answers ESYS hands over as structures (4-6) are unmarshaled with
 * tss2-mu first, as ESYS does. tests/fuzz/corpus/README.md says where the
 * seeds come from.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "daemon/defaults.h"
#include "daemon/tpm-decode.h"
#include "proto/err.h"

enum {
        DEC_DER,
        DEC_QUOTE,
        DEC_CERTIFY,
        DEC_KEY,
        DEC_PCRS,
        DEC_SIG,
        DEC_NV,
        DEC_COUNT,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be(const uint8_t *p, size_t n)
{
        uint32_t v = 0;

        for (size_t i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

/* A message must be a terminated string within the buffer. */
static void check_err(int r, const struct err *e)
{
        if (r < 0 && (e->msg[0] == '\0' || !memchr(e->msg, '\0', sizeof(e->msg))))
                abort();
}

static void quote(const uint8_t *p, size_t n)
{
        uint8_t digest[TPM_DIGEST_SIZE];
        struct err e = {};
        size_t qlen;

        if (n < 1)
                return;
        qlen = p[0] % (TPM_QUALIFYING_DATA_MAX + 1);
        if (n < 1 + qlen + 3)
                return;
        check_err(tpm_decode_quote(p + 1 + qlen + 3, n - 1 - qlen - 3, be(p + 1 + qlen, 3),
                                   qlen ? p + 1 : NULL, qlen, digest, &e), &e);
}

static void key(const uint8_t *p, size_t n)
{
        struct err e = {};

        if (n < 4 + TPM_DIGEST_SIZE)
                return;
        check_err(tpm_decode_key_public(p + 4 + TPM_DIGEST_SIZE, n - 4 - TPM_DIGEST_SIZE,
                                        be(p, 4), p + 4, &e), &e);
}

static void pcrs(const uint8_t *p, size_t n)
{
        TPML_PCR_SELECTION sel = {};
        TPML_DIGEST values = {};
        struct tpm_pcrs out = {};
        uint32_t requested, got = 0;
        struct err e = {};
        size_t off = 3;
        int r;

        if (n < 3)
                return;
        requested = be(p, 3);
        if (Tss2_MU_TPML_PCR_SELECTION_Unmarshal(p, n, &off, &sel) != TSS2_RC_SUCCESS ||
            Tss2_MU_TPML_DIGEST_Unmarshal(p, n, &off, &values) != TSS2_RC_SUCCESS)
                return;
        r = tpm_decode_pcr_read(&sel, &values, requested, &out, &got, &e);
        check_err(r, &e);
        if (r >= 0 && (!got || (got & ~requested)))
                abort();
}

static void sig(const uint8_t *p, size_t n)
{
        TPMT_SIGNATURE s = {};
        const uint8_t *raw = NULL;
        struct err e = {};
        size_t off = 0, len = 0;
        int r;

        if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(p, n, &off, &s) != TSS2_RC_SUCCESS)
                return;
        r = tpm_decode_signature(&s, &raw, &len, &e);
        check_err(r, &e);
        if (r >= 0 && (!len || len > sizeof(s.signature.rsassa.sig.buffer)))
                abort();
}

static void nv(const uint8_t *p, size_t n)
{
        TPM2B_NV_PUBLIC pub = {};
        struct err e = {};
        size_t off = 4, len = 0;
        bool owner = false;
        int r;

        if (n < 4 || Tss2_MU_TPM2B_NV_PUBLIC_Unmarshal(p, n, &off, &pub) != TSS2_RC_SUCCESS)
                return;
        r = tpm_decode_nv_public(&pub.nvPublic, be(p, 4), &len, &owner, &e);
        check_err(r, &e);
        if (r >= 0 && (len == 0 || len > TPM_NV_READ_MAX_BYTES))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool quiet;
        const uint8_t *p = data + 1;
        size_t n = size ? size - 1 : 0, len = 0;
        TPM2B_NAME name;
        struct err e = {};
        int r;

        if (!quiet) {
                /* tss2-mu warns about every malformed structure */
                (void) setenv("TSS2_LOG", "all+NONE", 1);
                quiet = true;
        }
        if (size == 0)
                return 0;
        switch (data[0] % DEC_COUNT) {
        case DEC_DER:
                r = tpm_decode_der_sequence_len(p, n, &len, &e);
                check_err(r, &e);
                if (r >= 0 && (len < 2 || len > n))
                        abort();
                break;
        case DEC_QUOTE:
                quote(p, n);
                break;
        case DEC_CERTIFY:
                r = tpm_decode_certify(p, n, &name, &e);
                check_err(r, &e);
                if (r >= 0 && name.size > sizeof(name.name))
                        abort();
                break;
        case DEC_KEY:
                key(p, n);
                break;
        case DEC_PCRS:
                pcrs(p, n);
                break;
        case DEC_SIG:
                sig(p, n);
                break;
        case DEC_NV:
                nv(p, n);
                break;
        }
        return 0;
}
