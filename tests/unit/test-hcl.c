/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/defaults.h"
#include "daemon/hcl.h"
#include "proto/b64.h"
#include "proto/hex.h"
#include "tests/unit/fixtures.h"

#define BUF_SIZE 2600

static X509 *load_cert_der(const uint8_t *der, size_t len)
{
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long) len);

        assert_non_null(x);
        return x;
}

static X509 *load_first_pem_cert(const uint8_t *pem, size_t len, int skip_n)
{
        BIO *bio = BIO_new_mem_buf(pem, (int) len);
        X509 *x = NULL;

        assert_non_null(bio);
        for (int i = 0; i <= skip_n; i++) {
                X509_free(x);
                x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                assert_non_null(x);
        }
        BIO_free(bio);
        return x;
}

static void assert_hex(const uint8_t *p, size_t len, const char *hex)
{
        char *s = hex_encode(p, len, false);

        assert_non_null(s);
        assert_string_equal(s, hex);
        free(s);
}

/* ---- synthetic reports --------------------------------------------------- */

#define AK_JSON "{\"kid\":\"HCLAkPub\",\"key_ops\":[\"sign\"],\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AQIDBAUGBwg\"}"
#define GOOD_JSON                                                               \
        "{\"keys\":[" AK_JSON "],\"vm-configuration\":{\"console-enabled\":false,"     \
        "\"secure-boot\":true,\"tpm-enabled\":true,\"vmUniqueId\":\"VM-1\"},"        \
        "\"user-data\":\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"  \
        "00000000000000000000000000000000000000000000000000000000000000ff\"}"

static size_t report_data_offset(uint32_t type)
{
        return HCL_HW_REPORT_OFFSET + (type == HCL_REPORT_TYPE_TDX ? 128 : 0x50);
}

static const EVP_MD *md_for(uint32_t hash_type)
{
        return hash_type == 3 ? EVP_sha512() : hash_type == 2 ? EVP_sha384() : EVP_sha256();
}

/* A 2600-byte report like Azure's, with report_data = H(json) (hash_type
 * 1..3 picks the hash for the binding). Returns the used length. */
static size_t build(uint8_t *buf, uint32_t type, uint32_t hash_type, const char *json)
{
        size_t jlen = strlen(json);
        unsigned int mdlen = 0;

        memset(buf, 0, BUF_SIZE);
        assert_true(jlen <= BUF_SIZE - HCL_RUNTIME_DATA_OFFSET);
        memcpy(buf, "HCLA", 4);
        put_le32(buf + 4, 2);
        put_le32(buf + 8, HCL_SNP_REPORT_SIZE);    /* the documented value */
        put_le32(buf + 12, 2);
        if (type == HCL_REPORT_TYPE_SNP)
                put_le32(buf + HCL_HW_REPORT_OFFSET + 0x34, 1);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET, (uint32_t) (20 + jlen));
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 4, 1);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 8, type);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 12, hash_type);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 16, (uint32_t) jlen);
        memcpy(buf + HCL_RUNTIME_DATA_OFFSET, json, jlen);
        assert_int_equal(EVP_Digest(json, jlen, buf + report_data_offset(type), &mdlen,
                                    md_for(hash_type >= 1 && hash_type <= 3 ? hash_type : 1), NULL), 1);
        return HCL_RUNTIME_DATA_OFFSET + jlen;
}

static int parse_expect(const uint8_t *buf, size_t len, int expect, const char *needle)
{
        struct hcl_report *r = NULL;
        struct err e = { "" };
        int k;

        k = hcl_parse(buf, len, &r, &e);
        if (k != expect || (needle && !strstr(e.msg, needle)))
                fail_msg("len %zu: got %d '%s', want %d '%s'", len, k, e.msg, expect, needle ? needle : "");
        assert_null(r);
        return k;
}

static struct hcl_report *parse_ok(const uint8_t *buf, size_t len)
{
        struct hcl_report *r = NULL;
        struct err e = { "" };

        if (hcl_parse(buf, len, &r, &e) < 0)
                fail_msg("parse failed: %s", e.msg);
        return r;
}

/* ---- fixture tests -------------------------------------------------------- */

static void test_snp_v1_2600(void **state)
{
        uint8_t *buf = NULL, sha[32];
        size_t len = 0, rt_len = 0, hw_len = 0;
        struct hcl_report *r;
        const struct hcl_snp_report *snp;
        const uint8_t *rt, *hw, *ud;
        json_t *j = NULL;
        char *shahex;

        LOAD_FIXTURE("azure/snp-hcl-report-v1-2600.bin", &buf, &len);
        assert_int_equal(len, 2600);
        r = parse_ok(buf, len);
        assert_int_equal(hcl_report_type(r), HCL_REPORT_TYPE_SNP);
        assert_int_equal(hcl_report_hash_type(r), HCL_HASH_SHA256);
        assert_int_equal(hcl_report_header_version(r), 1);
        assert_int_equal(hcl_report_header_report_size(r), 2346);
        assert_int_equal(hcl_report_header_request_type(r), 2);
        assert_true(hcl_report_binding_ok(r));
        assert_null(hcl_report_get0_tdx(r));
        snp = hcl_report_get0_snp(r);
        assert_non_null(snp);
        assert_int_equal(snp->version, 2);
        assert_int_equal(snp->guest_svn, 5);
        assert_int_equal(snp->policy, 0x3001f);
        assert_int_equal(snp->vmpl, 0);
        assert_int_equal(snp->signature_algo, 1);
        assert_hex(snp->measurement, 48, "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308"
                   "b459d5ef1a12e0c22944eb386d17c315");
        rt = hcl_report_get0_runtime_data(r, &rt_len);
        assert_int_equal(rt_len, 1110);
        assert_memory_equal(rt, buf + HCL_RUNTIME_DATA_OFFSET, rt_len);
        hw = hcl_report_get0_hw_report(r, &hw_len);
        assert_int_equal(hw_len, HCL_SNP_REPORT_SIZE);
        assert_memory_equal(hw, buf + HCL_HW_REPORT_OFFSET, hw_len);
        assert_int_equal(hcl_report_get0_ak(r)->n_len, 256);
        assert_int_equal(hcl_report_get0_ak(r)->e_len, 3);
        assert_non_null(hcl_report_get0_ek(r));
        ud = hcl_report_get0_user_data(r);
        assert_non_null(ud);
        for (size_t i = 0; i < HCL_USER_DATA_SIZE; i++)
                assert_int_equal(ud[i], 0);
        assert_int_equal(hcl_report_vm_secure_boot(r), 1);
        assert_int_equal(hcl_report_vm_tpm_enabled(r), 1);
        assert_int_equal(hcl_report_vm_console_enabled(r), 1);
        assert_string_equal(hcl_report_vm_unique_id(r), "911B0EF8-9DBA-48B0-B275-4E4DF2D39252");

        assert_int_equal(hcl_report_to_json(r, &j), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "header"), "signature")), "HCLA");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "header"), "report_size")), 2346);
        assert_string_equal(json_string_value(json_object_get(j, "report_type")), "snp");
        assert_string_equal(json_string_value(json_object_get(j, "hash_type")), "sha256");
        assert_true(json_is_true(json_object_get(j, "binding_ok")));
        assert_true(json_is_object(json_object_get(json_object_get(j, "runtime_data"), "vm-configuration")));
        SHA256(rt, rt_len, sha);
        shahex = hex_encode(sha, sizeof(sha), false);
        assert_string_equal(json_string_value(json_object_get(j, "runtime_data_sha256")), shahex);
        free(shahex);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "snp"), "policy")),
                            "0x000000000003001f");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "snp"), "reported_tcb")),
                            "0x7308000000000003");
        assert_null(json_object_get(j, "tdx"));
        json_decref(j);
        hcl_report_free(r);
        free(buf);
}

static void test_snp_signature(void **state)
{
        uint8_t *buf = NULL, *pem = NULL;
        size_t len = 0, pem_len = 0;
        struct hcl_report *r;
        struct err e = { "" };
        X509 *vcek, *ask;

        LOAD_FIXTURE("azure/snp-hcl-report-v1-2600.bin", &buf, &len);
        LOAD_FIXTURE("azure/snp-vcek-chain.pem", &pem, &pem_len);
        vcek = load_first_pem_cert(pem, pem_len, 0);
        ask = load_first_pem_cert(pem, pem_len, 1);

        r = parse_ok(buf, len);
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(vcek), &e), 0);
        /* an RSA key is refused before any verification */
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(ask), &e), -EINVAL);
        hcl_report_free(r);

        /* a flipped measurement bit breaks the signature but not the binding */
        buf[HCL_HW_REPORT_OFFSET + 0x90] ^= 1;
        r = parse_ok(buf, len);
        assert_true(hcl_report_binding_ok(r));
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(vcek), &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "does not verify"));
        hcl_report_free(r);
        buf[HCL_HW_REPORT_OFFSET + 0x90] ^= 1;

        /* a flipped R byte */
        buf[HCL_HW_REPORT_OFFSET + 0x2A0] ^= 0x80;
        r = parse_ok(buf, len);
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(vcek), &e), -EBADMSG);
        hcl_report_free(r);
        buf[HCL_HW_REPORT_OFFSET + 0x2A0] ^= 0x80;

        /* zero R */
        memset(buf + HCL_HW_REPORT_OFFSET + 0x2A0, 0, 72);
        r = parse_ok(buf, len);
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(vcek), &e), -EBADMSG);
        hcl_report_free(r);

        X509_free(vcek);
        X509_free(ask);
        free(pem);
        free(buf);
}

static void test_snp_2048(void **state)
{
        uint8_t *buf = NULL;
        size_t len = 0, rt_len = 0;
        struct hcl_report *r;

        LOAD_FIXTURE("azure/snp-hcl-report-2048.bin", &buf, &len);
        assert_int_equal(len, 2048);
        r = parse_ok(buf, len);
        assert_int_equal(hcl_report_type(r), HCL_REPORT_TYPE_SNP);
        assert_int_equal(hcl_report_header_version(r), 1);
        assert_int_equal(hcl_report_header_report_size(r), 1819);
        (void) hcl_report_get0_runtime_data(r, &rt_len);
        assert_int_equal(rt_len, 583);
        assert_true(hcl_report_binding_ok(r));
        assert_null(hcl_report_get0_user_data(r));
        assert_null(hcl_report_get0_ek(r));
        assert_true(hcl_report_get0_ak(r)->present);
        assert_int_equal(hcl_report_vm_secure_boot(r), 1);
        hcl_report_free(r);

        /* one byte short of the runtime claims */
        parse_expect(buf, HCL_RUNTIME_DATA_OFFSET + 582, -EBADMSG, "ReportSize");
        free(buf);
}

static void test_tdx(void **state)
{
        uint8_t *buf = NULL;
        size_t len = 0, hw_len = 0;
        struct hcl_report *r;
        const struct hcl_tdx_report *tdx;
        json_t *j = NULL, *t;

        LOAD_FIXTURE("azure/tdx-hcl-report.bin", &buf, &len);
        r = parse_ok(buf, len);
        assert_int_equal(hcl_report_type(r), HCL_REPORT_TYPE_TDX);
        assert_int_equal(hcl_report_header_version(r), 2);
        assert_int_equal(hcl_report_header_report_size(r), 2437);
        assert_true(hcl_report_binding_ok(r));
        assert_null(hcl_report_get0_snp(r));
        tdx = hcl_report_get0_tdx(r);
        assert_non_null(tdx);
        assert_int_equal(tdx->report_type[0], 0x81);
        assert_int_equal(tdx->xfam, 0x618e7);
        assert_hex(tdx->mrtd, 48, "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795"
                   "d1737b66205949d15469dc8c1ba7ab7b");
        (void) hcl_report_get0_hw_report(r, &hw_len);
        assert_int_equal(hw_len, HCL_TDX_REPORT_SIZE);
        assert_int_equal(hcl_report_to_json(r, &j), 0);
        t = json_object_get(j, "tdx");
        assert_string_equal(json_string_value(json_object_get(j, "report_type")), "tdx");
        assert_int_equal(json_array_size(json_object_get(t, "rtmr")), 4);
        assert_string_equal(json_string_value(json_object_get(t, "xfam")), "0x00000000000618e7");
        assert_null(json_object_get(j, "snp"));
        json_decref(j);
        hcl_report_free(r);

        /* the 160 padding bytes after the TD report must be zero */
        buf[HCL_HW_REPORT_OFFSET + HCL_TDX_REPORT_SIZE + 5] = 1;
        parse_expect(buf, len, -EBADMSG, "padding");
        free(buf);
}

static void test_evidence_v2(void **state)
{
        uint8_t *buf = NULL, *report = NULL, *der = NULL;
        size_t len = 0, rlen = 0, dlen = 0;
        struct hcl_report *r;
        const uint8_t *ud;
        struct err e = { "" };
        json_t *doc, *v;
        X509 *vcek;

        LOAD_FIXTURE("azure/snp-evidence-v2.json", &buf, &len);
        doc = json_loadb((const char *) buf, len, 0, NULL);
        assert_non_null(doc);
        /* both values are base64url *with* padding in this file */
        v = json_object_get(doc, "hcl_report");
        assert_int_equal(b64_decode(json_string_value(v), strcspn(json_string_value(v), "="), B64_URL,
                                    &report, &rlen), 0);
        assert_int_equal(rlen, 2600);
        v = json_object_get(doc, "vcek");
        assert_int_equal(b64_decode(json_string_value(v), strcspn(json_string_value(v), "="), B64_URL,
                                    &der, &dlen), 0);
        vcek = load_cert_der(der, dlen);

        r = parse_ok(report, rlen);
        assert_true(hcl_report_binding_ok(r));
        /* user-data is uppercase hex in this report: 48 bytes + 16 zero bytes */
        ud = hcl_report_get0_user_data(r);
        assert_non_null(ud);
        assert_int_equal(ud[0], 0x98);
        assert_int_equal(ud[1], 0x2f);
        for (size_t i = 48; i < HCL_USER_DATA_SIZE; i++)
                assert_int_equal(ud[i], 0);
        assert_int_equal(hcl_snp_signature_verify(r, X509_get0_pubkey(vcek), &e), 0);
        hcl_report_free(r);

        X509_free(vcek);
        json_decref(doc);
        free(der);
        free(report);
        free(buf);
}

/* ---- synthetic tests (no fixtures needed) --------------------------------- */

static void test_synthetic_ok(void **state)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        struct hcl_report *r;
        const uint8_t *ud;
        static const uint8_t n[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

        /* exactly the declared structures, and the full NV size */
        r = parse_ok(buf, len);
        hcl_report_free(r);
        r = parse_ok(buf, BUF_SIZE);
        assert_true(hcl_report_binding_ok(r));
        assert_int_equal(hcl_report_get0_ak(r)->n_len, 8);
        assert_memory_equal(hcl_report_get0_ak(r)->n, n, 8);
        assert_int_equal(hcl_report_vm_secure_boot(r), 1);
        assert_int_equal(hcl_report_vm_console_enabled(r), 0);
        assert_string_equal(hcl_report_vm_unique_id(r), "VM-1");
        /* user-data hex is compared case-insensitively: mixed case decodes */
        ud = hcl_report_get0_user_data(r);
        assert_int_equal(ud[10], 0xaa);
        assert_int_equal(ud[26], 0xaa);
        assert_int_equal(ud[63], 0xff);
        hcl_report_free(r);

        /* TDX variant */
        len = build(buf, HCL_REPORT_TYPE_TDX, 1, GOOD_JSON);
        r = parse_ok(buf, len);
        assert_int_equal(hcl_report_type(r), HCL_REPORT_TYPE_TDX);
        assert_true(hcl_report_binding_ok(r));
        hcl_report_free(r);

        /* optional keys absent */
        len = build(buf, HCL_REPORT_TYPE_SNP, 1, "{\"keys\":[" AK_JSON "]}");
        r = parse_ok(buf, len);
        assert_null(hcl_report_get0_user_data(r));
        assert_int_equal(hcl_report_vm_secure_boot(r), -ENOENT);
        assert_null(hcl_report_vm_unique_id(r));
        hcl_report_free(r);
}

static void test_hash_types(void **state)
{
        static const char *const names[] = { NULL, "sha256", "sha384", "sha512" };
        static const size_t sizes[] = { 0, 32, 48, 64 };
        uint8_t buf[BUF_SIZE];

        for (uint32_t h = 1; h <= 3; h++) {
                size_t len = build(buf, HCL_REPORT_TYPE_SNP, h, GOOD_JSON), rd = report_data_offset(2);
                struct hcl_report *r = parse_ok(buf, len);
                json_t *j = NULL;

                assert_int_equal(hcl_report_hash_type(r), h);
                assert_true(hcl_report_binding_ok(r));
                assert_int_equal(hcl_report_to_json(r, &j), 0);
                assert_string_equal(json_string_value(json_object_get(j, "hash_type")), names[h]);
                json_decref(j);
                hcl_report_free(r);

                /* mismatching hash */
                buf[rd] ^= 1;
                r = parse_ok(buf, len);
                assert_false(hcl_report_binding_ok(r));
                hcl_report_free(r);
                buf[rd] ^= 1;

                /* non-zero byte after the hash */
                if (sizes[h] < HCL_REPORT_DATA_SIZE) {
                        buf[rd + sizes[h]] = 1;
                        r = parse_ok(buf, len);
                        assert_false(hcl_report_binding_ok(r));
                        hcl_report_free(r);
                        buf[rd + sizes[h]] = 0;
                }

                /* runtime claims changed after signing: "VM-1" becomes "VM-0" */
                ((char *) memmem(buf, len, "VM-1", 4))[3] = '0';
                r = parse_ok(buf, len);
                assert_false(hcl_report_binding_ok(r));
                hcl_report_free(r);
        }

        /* hash type 2 declared, report_data holds the SHA-256 */
        build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 12, 2);
        {
                struct hcl_report *r = parse_ok(buf, BUF_SIZE);

                assert_false(hcl_report_binding_ok(r));
                hcl_report_free(r);
        }
}

static void test_truncation(void **state)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);

        for (size_t l = 0; l < len; l++)
                assert_int_equal(parse_expect(buf, l, -EBADMSG, NULL), -EBADMSG);
        parse_expect(buf, 0, -EBADMSG, "header");
        parse_expect(buf, HCL_HEADER_SIZE - 1, -EBADMSG, "header");
        parse_expect(buf, HCL_HEADER_SIZE, -EBADMSG, "hardware report");
        parse_expect(buf, HCL_RUNTIME_HEADER_OFFSET - 1, -EBADMSG, "hardware report");
        parse_expect(buf, HCL_RUNTIME_HEADER_OFFSET, -EBADMSG, "runtime header");
        parse_expect(buf, HCL_RUNTIME_DATA_OFFSET - 1, -EBADMSG, "runtime header");
        parse_expect(buf, HCL_RUNTIME_DATA_OFFSET, -EBADMSG, "VariableDataSize");
        parse_expect(buf, len - 1, -EBADMSG, "VariableDataSize");
        parse_expect(NULL, 10, -EINVAL, NULL);
        {
                uint8_t *big = calloc(1, HCL_REPORT_MAX + 1);

                assert_non_null(big);
                memcpy(big, buf, len);
                parse_expect(big, HCL_REPORT_MAX + 1, -E2BIG, "maximum");
                free(big);
        }
}

static void test_lying_sizes(void **state)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        uint8_t *rt = buf + HCL_RUNTIME_HEADER_OFFSET;

        put_le32(buf + 8, (uint32_t) len + 1);
        parse_expect(buf, len, -EBADMSG, "ReportSize");
        put_le32(buf + 8, 0xffffffff);
        parse_expect(buf, BUF_SIZE, -EBADMSG, "ReportSize 4294967295");
        put_le32(buf + 8, 2346);

        put_le32(rt + 16, (uint32_t) (BUF_SIZE - HCL_RUNTIME_DATA_OFFSET + 1));
        parse_expect(buf, BUF_SIZE, -EBADMSG, "VariableDataSize 1365");
        put_le32(rt + 16, 0xffffffff);
        put_le32(rt, 19);          /* 20 + 0xffffffff wraps to 19 in 32 bits */
        parse_expect(buf, BUF_SIZE, -EBADMSG, "VariableDataSize 4294967295");
        len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        put_le32(rt, (uint32_t) (len - HCL_RUNTIME_DATA_OFFSET + 21));
        parse_expect(buf, len, -EBADMSG, "DataSize");
        put_le32(rt, 0);
        parse_expect(buf, len, -EBADMSG, "DataSize 0");
        /* VariableDataSize shorter than the JSON: the claims are cut */
        len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        put_le32(rt, (uint32_t) (len - HCL_RUNTIME_DATA_OFFSET + 19));
        put_le32(rt + 16, (uint32_t) (len - HCL_RUNTIME_DATA_OFFSET - 1));
        parse_expect(buf, len, -EBADMSG, "invalid JSON");
        put_le32(rt, 20);
        put_le32(rt + 16, 0);
        parse_expect(buf, len, -EBADMSG, "no runtime claims");
}

static void test_bad_header(void **state)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);

        buf[3] = 'B';
        parse_expect(buf, len, -EBADMSG, "signature 0x424c4348");
        buf[3] = 'A';
        put_le32(buf + 4, 3);
        parse_expect(buf, len, -EPROTONOSUPPORT, "version 3");
        put_le32(buf + 4, 1);
        put_le32(buf + HCL_RUNTIME_HEADER_OFFSET + 4, 7);
        parse_expect(buf, len, -EPROTONOSUPPORT, "Version 7");
}

static void test_report_types(void **state)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, GOOD_JSON);
        uint8_t *rt = buf + HCL_RUNTIME_HEADER_OFFSET;

        put_le32(rt + 8, 1);
        parse_expect(buf, len, -EPROTONOSUPPORT, "VBS");
        put_le32(rt + 8, 3);
        parse_expect(buf, len, -EPROTONOSUPPORT, "TVM");
        put_le32(rt + 8, 0);
        parse_expect(buf, len, -EPROTONOSUPPORT, "unknown ReportType 0");
        put_le32(rt + 8, 0x12345678);
        parse_expect(buf, len, -EPROTONOSUPPORT, "unknown ReportType 305419896");
        put_le32(rt + 8, 2);
        put_le32(rt + 12, 0);
        parse_expect(buf, len, -EPROTONOSUPPORT, "ReportDataHashType 0");
        put_le32(rt + 12, 4);
        parse_expect(buf, len, -EPROTONOSUPPORT, "ReportDataHashType 4");
}

static void expect_claims_error(const char *json, const char *needle)
{
        uint8_t buf[BUF_SIZE];
        size_t len = build(buf, HCL_REPORT_TYPE_SNP, 1, json);

        parse_expect(buf, len, -EBADMSG, needle);
}

static void test_bad_claims(void **state)
{
        expect_claims_error("{", "invalid JSON");
        expect_claims_error("{\"keys\":[" AK_JSON "]} x", "invalid JSON");
        expect_claims_error("[]", "not a JSON object");
        expect_claims_error("\"keys\"", "invalid JSON");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"keys\":[" AK_JSON "]}", "invalid JSON");
        expect_claims_error("{}", "\"keys\" is missing");
        expect_claims_error("{\"keys\":{}}", "not an array");
        expect_claims_error("{\"keys\":[]}", "no \"HCLAkPub\"");
        expect_claims_error("{\"keys\":[1]}", "keys[0]");
        expect_claims_error("{\"keys\":[" AK_JSON "," AK_JSON "]}", "appears twice");
        expect_claims_error("{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"EC\",\"e\":\"AQAB\",\"n\":\"AQ\"}]}",
                            "not an RSA key");
        expect_claims_error("{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AQ==\"}]}",
                            "not valid base64url");
        expect_claims_error("{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", "'n'");
        expect_claims_error("{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"e\":\"\",\"n\":\"AQ\"}]}",
                            "0 bytes");
        expect_claims_error("{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"e\":\"AQABAQABAQAB\",\"n\":\"AQ\"}]}",
                            "9 bytes");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"vm-configuration\":[]}", "not an object");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"vm-configuration\":{\"secure-boot\":1}}",
                            "secure-boot is not a boolean");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"vm-configuration\":{\"vmUniqueId\":1}}",
                            "vmUniqueId");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"user-data\":\"00\"}", "128 hex");
        expect_claims_error("{\"keys\":[" AK_JSON "],\"user-data\":5}", "128 hex");
        {
                char json[512], ud[2 * HCL_USER_DATA_SIZE + 1];

                memset(ud, '0', sizeof(ud) - 1);
                ud[sizeof(ud) - 2] = 'z';
                ud[sizeof(ud) - 1] = '\0';
                (void) snprintf(json, sizeof(json), "{\"keys\":[" AK_JSON "],\"user-data\":\"%s\"}", ud);
                expect_claims_error(json, "not hexadecimal");
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_snp_v1_2600),
                cmocka_unit_test(test_snp_signature),
                cmocka_unit_test(test_snp_2048),
                cmocka_unit_test(test_tdx),
                cmocka_unit_test(test_evidence_v2),
                cmocka_unit_test(test_synthetic_ok),
                cmocka_unit_test(test_hash_types),
                cmocka_unit_test(test_truncation),
                cmocka_unit_test(test_lying_sizes),
                cmocka_unit_test(test_bad_header),
                cmocka_unit_test(test_report_types),
                cmocka_unit_test(test_bad_claims),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
