/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of daemon/tpm-decode.c: the checks of what the TPM answers,
 * on structures marshaled here (a well-formed answer, then one defect at a
 * time).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_mu.h>

#include "daemon/defaults.h"
#include "daemon/tpm-decode.h"
#include "proto/err.h"

#define KEY_ATTRIBUTES 0x00020432u      /* the ephemeral key's (AZURE-PROTOCOL.md §9) */

/* ---- builders ------------------------------------------------------------- */

static const uint8_t pcr_digest[TPM_DIGEST_SIZE] = {
        0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
};

/* A TPMS_ATTEST of a quote over sha256 PCRs 0-7, as the TPM signs it. */
static void quote_attest(TPMS_ATTEST *a)
{
        memset(a, 0, sizeof(*a));
        a->magic = TPM2_GENERATED_VALUE;
        a->type = TPM2_ST_ATTEST_QUOTE;
        a->qualifiedSigner.size = 34;
        memset(a->qualifiedSigner.name, 0x11, 34);
        a->clockInfo.clock = 123456;
        a->attested.quote.pcrSelect.count = 1;
        a->attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
        a->attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
        a->attested.quote.pcrSelect.pcrSelections[0].pcrSelect[0] = 0xff;
        a->attested.quote.pcrDigest.size = TPM_DIGEST_SIZE;
        memcpy(a->attested.quote.pcrDigest.buffer, pcr_digest, TPM_DIGEST_SIZE);
}

/* A TPMS_ATTEST of TPM2_Certify of an object named 0x000b || 0x22... */
static void certify_attest(TPMS_ATTEST *a)
{
        memset(a, 0, sizeof(*a));
        a->magic = TPM2_GENERATED_VALUE;
        a->type = TPM2_ST_ATTEST_CERTIFY;
        a->qualifiedSigner.size = 34;
        memset(a->qualifiedSigner.name, 0x11, 34);
        a->attested.certify.name.size = 34;
        a->attested.certify.name.name[0] = 0x00;
        a->attested.certify.name.name[1] = 0x0b;
        memset(a->attested.certify.name.name + 2, 0x22, 32);
        a->attested.certify.qualifiedName.size = 34;
}

static size_t marshal_attest(const TPMS_ATTEST *a, uint8_t *buf, size_t size)
{
        size_t off = 0;

        assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(a, buf, size, &off), TSS2_RC_SUCCESS);
        return off;
}

static const uint8_t policy[TPM_DIGEST_SIZE] = {
        0x9a, 0x72, 0xc2, 0xe0, 0x6a, 0x93, 0xc4, 0x53, 0xa8, 0x6e, 0xfb, 0x47, 0x53, 0x2e, 0x9c, 0x7a,
        0x91, 0xdc, 0xab, 0x01, 0x8e, 0x67, 0x59, 0x19, 0x91, 0x0c, 0x58, 0xd6, 0xa1, 0xa5, 0xaa, 0x78,
};

/* The ephemeral key's public area, as the TPM creates it. */
static void key_public(TPM2B_PUBLIC *p)
{
        memset(p, 0, sizeof(*p));
        p->publicArea.type = TPM2_ALG_RSA;
        p->publicArea.nameAlg = TPM2_ALG_SHA256;
        p->publicArea.objectAttributes = KEY_ATTRIBUTES;
        p->publicArea.authPolicy.size = TPM_DIGEST_SIZE;
        memcpy(p->publicArea.authPolicy.buffer, policy, TPM_DIGEST_SIZE);
        p->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->publicArea.parameters.rsaDetail.keyBits = 2048;
        p->publicArea.unique.rsa.size = 256;
        memset(p->publicArea.unique.rsa.buffer, 0xc5, 256);
}

static size_t marshal_public(const TPM2B_PUBLIC *p, uint8_t *buf, size_t size)
{
        size_t off = 0;

        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(p, buf, size, &off), TSS2_RC_SUCCESS);
        return off;
}

/* ---- DER trimming ------------------------------------------------------------ */

static void test_der_short_form(void **state)
{
        const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05, 0x00, 0x00, 0x00 };
        size_t len = 0;

        assert_int_equal(tpm_decode_der_sequence_len(der, sizeof(der), &len, NULL), 0);
        assert_int_equal(len, 5);
}

static void test_der_long_forms(void **state)
{
        uint8_t buf[4096] = { 0x30, 0x82, 0x05, 0x00 };
        size_t len = 0;
        struct err e = {};

        /* 0x500 bytes of content + 4 header bytes do not fit in... */
        assert_int_equal(tpm_decode_der_sequence_len(buf, 1000, &len, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "claims 1284 bytes"));
        /* ...but do in 4096 (an AK cert NV index with zero padding) */
        assert_int_equal(tpm_decode_der_sequence_len(buf, sizeof(buf), &len, NULL), 0);
        assert_int_equal(len, 1284);
        buf[1] = 0x81;
        buf[2] = 0x90;
        assert_int_equal(tpm_decode_der_sequence_len(buf, sizeof(buf), &len, NULL), 0);
        assert_int_equal(len, 3 + 0x90);
}

static void test_der_rejects(void **state)
{
        const uint8_t not_seq[] = { 0x31, 0x00 };
        const uint8_t indefinite[] = { 0x30, 0x80, 0x00, 0x00 };
        const uint8_t too_long[] = { 0x30, 0x85, 1, 0, 0, 0, 0 };
        const uint8_t non_minimal[] = { 0x30, 0x81, 0x05, 0, 0, 0, 0, 0 };
        const uint8_t truncated_len[] = { 0x30, 0x82, 0x01 };
        const uint8_t erased[] = { 0xff, 0xff, 0xff, 0xff };
        size_t len = 77;

        assert_int_equal(tpm_decode_der_sequence_len(not_seq, sizeof(not_seq), &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(indefinite, sizeof(indefinite), &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(too_long, sizeof(too_long), &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(non_minimal, sizeof(non_minimal), &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(truncated_len, sizeof(truncated_len), &len, NULL),
                         -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(erased, sizeof(erased), &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(not_seq, 1, &len, NULL), -EBADMSG);
        assert_int_equal(tpm_decode_der_sequence_len(NULL, 0, &len, NULL), -EBADMSG);
        assert_int_equal(len, 77);      /* untouched on failure */
}

/* ---- quote ---------------------------------------------------------------- */

static void test_quote_ok(void **state)
{
        uint8_t buf[sizeof(TPMS_ATTEST)], digest[TPM_DIGEST_SIZE] = { 0 };
        TPMS_ATTEST a;
        size_t len;

        quote_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, NULL), 0);
        assert_memory_equal(digest, pcr_digest, TPM_DIGEST_SIZE);
}

/* Ensure that every truncation of a quote is -EPROTO and leaves the digest alone. */
static void test_quote_truncated(void **state)
{
        uint8_t buf[sizeof(TPMS_ATTEST)], digest[TPM_DIGEST_SIZE] = { 0 };
        TPMS_ATTEST a;
        struct err e = {};
        size_t len;

        quote_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        for (size_t n = 0; n < len; n++)
                assert_int_equal(tpm_decode_quote(buf, n, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "not a TPMS_ATTEST"));
        assert_int_equal(tpm_decode_quote(NULL, 0, 0xff, NULL, 0, digest, NULL), -EPROTO);
        assert_int_equal(digest[0], 0);
}

static void test_quote_rejects(void **state)
{
        uint8_t buf[sizeof(TPMS_ATTEST)], digest[TPM_DIGEST_SIZE];
        TPMS_ATTEST a;
        struct err e = {};
        size_t len;

        /* not generated by the TPM (TPM2_Sign of a forged structure) */
        quote_attest(&a);
        a.magic = 0x47544347;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "magic 0x47544347"));

        /* a certification instead of a quote */
        certify_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "type 0x8017 instead of 0x8018"));

        /* a SHA-1 pcrDigest */
        quote_attest(&a);
        a.attested.quote.pcrDigest.size = 20;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "pcrDigest has 20 bytes"));

        /* trailing bytes */
        quote_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        buf[len] = 0;
        assert_int_equal(tpm_decode_quote(buf, len + 1, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "1 bytes after the TPMS_ATTEST"));
}

/* Ensure that a quote made for another nonce (a replay) is refused. */
static void test_quote_nonce(void **state)
{
        static const uint8_t nonce[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 };
        uint8_t buf[sizeof(TPMS_ATTEST)], digest[TPM_DIGEST_SIZE];
        TPMS_ATTEST a;
        struct err e = {};
        size_t len;

        quote_attest(&a);
        a.extraData.size = sizeof(nonce);
        memcpy(a.extraData.buffer, nonce, sizeof(nonce));
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, nonce, sizeof(nonce), digest, NULL), 0);
        /* none sent */
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "extraData (8 bytes) is not the qualifying data sent (0 bytes)"));
        /* another one, of the same or another length */
        a.extraData.buffer[7] ^= 1;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, nonce, sizeof(nonce), digest, &e), -EPROTO);
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, nonce, 7, digest, &e), -EPROTO);
        /* sent, but the quote has none */
        quote_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, nonce, sizeof(nonce), digest, &e), -EPROTO);
}

/* Ensure that a quote over other PCRs than asked for is refused. */
static void test_quote_selection(void **state)
{
        uint8_t buf[sizeof(TPMS_ATTEST)], digest[TPM_DIGEST_SIZE];
        TPMS_PCR_SELECTION *s;
        TPMS_ATTEST a;
        struct err e = {};
        size_t len;

        quote_attest(&a);
        s = &a.attested.quote.pcrSelect.pcrSelections[0];
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0x7f, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "covers sha256 PCRs 0x0000ff instead of 0x00007f"));

        /* the same PCRs in a 4-byte selection */
        s->sizeofSelect = 4;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, NULL), 0);
        /* PCR 24 */
        s->pcrSelect[3] = 1;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "PCRs above 23"));

        /* the sha1 bank */
        quote_attest(&a);
        s->hash = TPM2_ALG_SHA1;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "covers 1 PCR banks (first 0x0004)"));
        /* sha256 and another bank */
        quote_attest(&a);
        a.attested.quote.pcrSelect.count = 2;
        a.attested.quote.pcrSelect.pcrSelections[1] = *s;
        a.attested.quote.pcrSelect.pcrSelections[1].hash = TPM2_ALG_SHA384;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        /* no bank */
        a.attested.quote.pcrSelect.count = 0;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_quote(buf, len, 0xff, NULL, 0, digest, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "covers 0 PCR banks"));
}

/* ---- certify -------------------------------------------------------------- */

static void test_certify(void **state)
{
        uint8_t buf[sizeof(TPMS_ATTEST)];
        TPM2B_NAME name = { .size = 7 };
        TPMS_ATTEST a;
        struct err e = {};
        size_t len;

        certify_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_certify(buf, len, &name, NULL), 0);
        assert_int_equal(name.size, 34);
        assert_memory_equal(name.name, a.attested.certify.name.name, 34);

        name.size = 7;
        for (size_t n = 0; n < len; n++)
                assert_int_equal(tpm_decode_certify(buf, n, &name, NULL), -EPROTO);
        assert_int_equal(name.size, 7);

        a.magic = 0;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_certify(buf, len, &name, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "magic"));

        quote_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_certify(buf, len, &name, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "type 0x8018 instead of 0x8017"));

        /* qualifying data the daemon never sent */
        certify_attest(&a);
        a.extraData.size = 1;
        len = marshal_attest(&a, buf, sizeof(buf));
        assert_int_equal(tpm_decode_certify(buf, len, &name, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "extraData (1 bytes)"));

        /* trailing bytes */
        certify_attest(&a);
        len = marshal_attest(&a, buf, sizeof(buf));
        memset(buf + len, 0, 4);
        assert_int_equal(tpm_decode_certify(buf, len + 4, &name, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "4 bytes after the TPMS_ATTEST"));
        assert_int_equal(name.size, 7);
}

/* ---- key public area ------------------------------------------------------ */

static void test_key_public(void **state)
{
        uint8_t buf[sizeof(TPM2B_PUBLIC)], other[TPM_DIGEST_SIZE];
        TPM2B_PUBLIC p;
        struct err e = {};
        size_t len;

        key_public(&p);
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, NULL), 0);
        for (size_t n = 0; n < len; n++)
                assert_int_equal(tpm_decode_key_public(buf, n, KEY_ATTRIBUTES, policy, NULL),
                                 -EPROTO);
        assert_int_equal(tpm_decode_key_public(NULL, 0, KEY_ATTRIBUTES, policy, NULL), -EPROTO);

        /* usable without the policy (userWithAuth) */
        p.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "attributes 0x00020472 instead of 0x00020432"));

        /* bound to other PCR values, or to none */
        key_public(&p);
        memcpy(other, policy, sizeof(other));
        other[31] ^= 1;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, other, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "authPolicy"));
        p.publicArea.authPolicy.size = 0;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, &e), -EPROTO);

        /* another key than the template asked for */
        key_public(&p);
        p.publicArea.parameters.rsaDetail.keyBits = 1024;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "1024 bits"));
        key_public(&p);
        p.publicArea.nameAlg = TPM2_ALG_SHA1;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, &e), -EPROTO);
        key_public(&p);
        p.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAES;
        len = marshal_public(&p, buf, sizeof(buf));
        assert_int_equal(tpm_decode_key_public(buf, len, KEY_ATTRIBUTES, policy, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "scheme 0x0015"));

        /* trailing bytes */
        key_public(&p);
        len = marshal_public(&p, buf, sizeof(buf));
        buf[len] = 0;
        assert_int_equal(tpm_decode_key_public(buf, len + 1, KEY_ATTRIBUTES, policy, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "1 bytes after the TPM2B_PUBLIC"));
}

/* ---- PCR_Read --------------------------------------------------------------- */

/* An answer holding sha256 PCRs of mask, PCR i's value filled with byte i. */
static void pcr_answer(uint32_t mask, TPML_PCR_SELECTION *sel, TPML_DIGEST *values)
{
        memset(sel, 0, sizeof(*sel));
        memset(values, 0, sizeof(*values));
        sel->count = 1;
        sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
        sel->pcrSelections[0].sizeofSelect = 3;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                if (!(mask & (1u << i)))
                        continue;
                sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t) (1u << (i % 8));
                values->digests[values->count].size = TPM_DIGEST_SIZE;
                memset(values->digests[values->count].buffer, (int) i, TPM_DIGEST_SIZE);
                values->count++;
        }
}

/* Ensure that a read of 12 PCRs in two answers (8 + 4) fills all of them. */
static void test_pcr_read_ok(void **state)
{
        struct tpm_pcrs pcrs = { .mask = 0xfff };
        TPML_PCR_SELECTION sel;
        TPML_DIGEST values;
        uint32_t got = 0;

        pcr_answer(0xff, &sel, &values);
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xfff, &pcrs, &got, NULL), 0);
        assert_int_equal(got, 0xff);
        pcr_answer(0xf00, &sel, &values);
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xf00, &pcrs, &got, NULL), 0);
        assert_int_equal(got, 0xf00);
        for (unsigned i = 0; i < 12; i++) {
                assert_int_equal(pcrs.digest[i][0], i);
                assert_int_equal(pcrs.digest[i][31], i);
        }
        assert_int_equal(pcrs.mask, 0xfff);
}

static void test_pcr_read_rejects(void **state)
{
        struct tpm_pcrs pcrs = { .mask = 0xff };
        TPML_PCR_SELECTION sel;
        TPML_DIGEST values;
        uint32_t got = 77;
        struct err e = {};

        /* a PCR that was not asked for */
        pcr_answer(0x1fe, &sel, &values);
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "PCRs 0x000100 were not asked for"));

        /* fewer or more values than selected PCRs */
        pcr_answer(0xff, &sel, &values);
        values.count = 7;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "7 values for 8 PCRs"));
        pcr_answer(0x7f, &sel, &values);
        values.count = 8;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);

        /* another bank, alone or next to sha256 (its values would be taken for sha256's) */
        pcr_answer(0xff, &sel, &values);
        sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "1 PCR banks (first 0x0004)"));
        pcr_answer(0x0f, &sel, &values);
        sel.count = 2;
        sel.pcrSelections[1] = sel.pcrSelections[0];
        sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);

        /* a selection longer than the structure holds, or naming PCR 24 and up */
        pcr_answer(0xff, &sel, &values);
        sel.pcrSelections[0].sizeofSelect = TPM2_PCR_SELECT_MAX + 1;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        sel.pcrSelections[0].sizeofSelect = 4;
        sel.pcrSelections[0].pcrSelect[3] = 0x80;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xffffff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "PCRs above 23"));

        /* a value that is not SHA-256 sized */
        pcr_answer(0xff, &sel, &values);
        values.digests[3].size = 20;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "PCR 3 has 20 bytes"));

        /* nothing (the sha256 bank is not allocated) */
        pcr_answer(0, &sel, &values);
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "none of the PCRs asked for"));
        sel.count = 0;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, &e), -EPROTO);

        /* counts beyond what the lists hold */
        pcr_answer(0xff, &sel, &values);
        sel.count = TPM2_NUM_PCR_BANKS + 1;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, NULL), -EPROTO);
        pcr_answer(0xff, &sel, &values);
        values.count = 9;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xff, &pcrs, &got, NULL), -EPROTO);
        /* ...even when they agree with the selection */
        pcr_answer(0xff, &sel, &values);
        sel.pcrSelections[0].pcrSelect[1] = 0x0f;
        values.count = 12;
        assert_int_equal(tpm_decode_pcr_read(&sel, &values, 0xfff, &pcrs, &got, NULL), -EPROTO);

        /* untouched on failure */
        assert_int_equal(got, 77);
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                assert_int_equal(pcrs.digest[i][0], 0);
}

/* ---- signature -------------------------------------------------------------- */

static void test_signature(void **state)
{
        TPMT_SIGNATURE sig = { .sigAlg = TPM2_ALG_RSASSA };
        const uint8_t *raw = NULL;
        size_t len = 0;
        struct err e = {};

        sig.signature.rsassa.hash = TPM2_ALG_SHA256;
        sig.signature.rsassa.sig.size = 256;
        sig.signature.rsassa.sig.buffer[0] = 0x5a;
        assert_int_equal(tpm_decode_signature(&sig, &raw, &len, NULL), 0);
        assert_ptr_equal(raw, sig.signature.rsassa.sig.buffer);
        assert_int_equal(len, 256);
        sig.sigAlg = TPM2_ALG_RSAPSS;
        assert_int_equal(tpm_decode_signature(&sig, &raw, &len, NULL), 0);

        raw = NULL;
        sig.signature.rsassa.sig.size = 0;
        assert_int_equal(tpm_decode_signature(&sig, &raw, &len, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "empty"));
        sig.signature.rsassa.sig.size = 256;
        sig.sigAlg = TPM2_ALG_ECDSA;
        assert_int_equal(tpm_decode_signature(&sig, &raw, &len, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "algorithm 0x0018, not RSA"));
        assert_null(raw);
}

/* ---- NV public area ------------------------------------------------------------ */

static void test_nv_public(void **state)
{
        TPMS_NV_PUBLIC pub = {
                .nvIndex = 0x01400001,
                .nameAlg = TPM2_ALG_SHA256,
                .attributes = TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD,
                .dataSize = 2600,
        };
        size_t size = 0;
        bool owner = false;
        struct err e = {};

        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, NULL), 0);
        assert_int_equal(size, 2600);
        assert_true(owner);
        pub.attributes = TPMA_NV_AUTHREAD;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, NULL), 0);
        assert_false(owner);

        size = 5;
        pub.attributes = TPMA_NV_PPREAD;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, &e), -EACCES);
        assert_non_null(strstr(e.msg, "neither owner nor auth reads"));
        pub.attributes = TPMA_NV_OWNERREAD;
        pub.dataSize = 0;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, &e), -E2BIG);
        pub.dataSize = TPM_NV_READ_MAX_BYTES + 1;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, &e), -E2BIG);
        assert_non_null(strstr(e.msg, "has 16385 bytes"));
        pub.dataSize = TPM_NV_READ_MAX_BYTES;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400001, &size, &owner, NULL), 0);
        assert_int_equal(size, TPM_NV_READ_MAX_BYTES);

        /* the public area of another index */
        size = 5;
        assert_int_equal(tpm_decode_nv_public(&pub, 0x01400002, &size, &owner, &e), -EPROTO);
        assert_non_null(strstr(e.msg, "described as index 0x01400001"));
        assert_int_equal(size, 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_der_short_form),
                cmocka_unit_test(test_der_long_forms),
                cmocka_unit_test(test_der_rejects),
                cmocka_unit_test(test_quote_ok),
                cmocka_unit_test(test_quote_truncated),
                cmocka_unit_test(test_quote_rejects),
                cmocka_unit_test(test_quote_nonce),
                cmocka_unit_test(test_quote_selection),
                cmocka_unit_test(test_certify),
                cmocka_unit_test(test_key_public),
                cmocka_unit_test(test_pcr_read_ok),
                cmocka_unit_test(test_pcr_read_rejects),
                cmocka_unit_test(test_signature),
                cmocka_unit_test(test_nv_public),
        };

        /* the unmarshalers warn about each defect tested here */
        setenv("TSS2_LOG", "all+NONE", 1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
