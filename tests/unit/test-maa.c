/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/defaults.h"
#include "daemon/maa.h"
#include "proto/b64.h"

/* ---- helpers ------------------------------------------------------------ */

static json_t *parse(const char *s)
{
        json_error_t jerr;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);

        if (!j)
                fail_msg("bad JSON (%s): %s", jerr.text, s);
        return j;
}

/* Decode the string j[key] in variant v and compare with (data, len). */
static void assert_b64_field(json_t *obj, const char *key, enum b64_variant v, const void *data,
                             size_t len)
{
        const char *s = json_string_value(json_object_get(obj, key));
        uint8_t *out = NULL;
        size_t n = 0;

        if (!s)
                fail_msg("no string field '%s'", key);
        assert_int_equal(b64_decode(s, strlen(s), v, &out, &n), 0);
        assert_int_equal(n, len);
        if (len)
                assert_memory_equal(out, data, len);
        free(out);
}

/* Decode the base64 string j[key] and parse it as JSON. */
static json_t *b64_json_field(json_t *obj, const char *key, enum b64_variant v)
{
        const char *s = json_string_value(json_object_get(obj, key));
        uint8_t *out = NULL;
        size_t n = 0;
        json_t *j;

        assert_non_null(s);
        assert_int_equal(b64_decode(s, strlen(s), v, &out, &n), 0);
        j = parse((const char *) out);
        free(out);
        return j;
}

static void assert_keys(json_t *obj, const char *const *keys)
{
        size_t i = 0;
        const char *k;
        json_t *v;

        json_object_foreach(obj, k, v) {
                assert_non_null(keys[i]);
                assert_string_equal(k, keys[i]);
                i++;
        }
        assert_null(keys[i]);
}

static uint8_t snp_report[MAA_SNP_REPORT_SIZE];
static const uint8_t ak_cert[] = { 0x30, 0x82, 0x01, 0x00, 0xaa };
static const uint8_t ak_pub[] = { 0x01, 0x18, 0x00, 0x01, 0x00, 0x0b, 0xfb, 0xff };
static const uint8_t quote[] = { 0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 0x3e, 0x3f };
static const uint8_t quote_sig[] = { 0xfe, 0xfd, 0xfc, 0xfb, 0xfa };
static const uint8_t enc_pub[] = { 0x01, 0x16, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x02, 0x04, 0x32 };
static const uint8_t certify[] = { 0xff, 0x54, 0x43, 0x47, 0x80, 0x17 };
static const uint8_t certify_sig[] = { 0x11, 0x22, 0x33 };
static const uint8_t tcg_log[] = { 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xfb, 0xff };
static const char vcek_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
static const char runtime[] = "{\"keys\":[],\"vm-configuration\":{},\"user-data\":\"00\"}";
static const uint8_t td_quote[] = { 0x04, 0x00, 0x02, 0x00, 0x81, 0x00, 0x00, 0x00, 0xfe, 0xff };

#define BYTES(a) ((struct maa_bytes) { (const uint8_t *) (a), sizeof(a) })

static struct maa_pcr pcrs[8];
static const struct maa_kv payload[] = { { "nonce", "1234", 4 }, { "extra", "", 0 } };

static void fill_evidence(struct maa_guest_evidence *ev)
{
        for (size_t i = 0; i < sizeof(snp_report); i++)
                snp_report[i] = (uint8_t) (i * 7 + 3);
        for (unsigned i = 0; i < 8; i++) {
                pcrs[i].index = i;
                memset(pcrs[i].digest, 0xf0 + (int) i, sizeof(pcrs[i].digest));
        }
        *ev = (struct maa_guest_evidence) {
                .os_distro = "Debian GNU/Linux",
                .os_version_major = 12,
                .os_version_minor = 0,
                .tcg_log = BYTES(tcg_log),
                .client_payload = payload,
                .n_client_payload = 2,
                .ak_cert = BYTES(ak_cert),
                .ak_pub = BYTES(ak_pub),
                .quote = BYTES(quote),
                .quote_sig = BYTES(quote_sig),
                .pcrs = pcrs,
                .n_pcrs = 8,
                .enc_key_pub = BYTES(enc_pub),
                .enc_key_certify = BYTES(certify),
                .enc_key_certify_sig = BYTES(certify_sig),
                .isolation = MAA_ISOLATION_SEVSNP,
                .snp_report = BYTES(snp_report),
                .vcek_chain_pem = { (const uint8_t *) vcek_pem, strlen(vcek_pem) },
                .runtime_claims = { (const uint8_t *) runtime, strlen(runtime) },
        };
}

/* Build, unwrap {"AttestationInfo": base64url(inner)} and return inner. */
static json_t *build_inner(const struct maa_guest_evidence *ev)
{
        static const char *const outer_keys[] = { "AttestationInfo", NULL };
        struct err e = { "" };
        char *body = NULL;
        json_t *outer, *inner;

        assert_int_equal(maa_build_guest_request(ev, &body, &e), 0);
        outer = parse(body);
        assert_keys(outer, outer_keys);
        /* base64url without padding: strict B64_URL decoding proves it */
        assert_null(strpbrk(json_string_value(json_object_get(outer, "AttestationInfo")), "+/="));
        inner = b64_json_field(outer, "AttestationInfo", B64_URL);
        json_decref(outer);
        free(body);
        return inner;
}

/* ---- AzureGuest ---------------------------------------------------------- */

/* Ensure that every field of the SEV-SNP AzureGuest request has the documented
 * name, position and encoding. */
static void test_guest_snp_fields(void **state)
{
        static const char *const top_keys[] = {
                "AttestationProtocolVersion", "OSType", "OSDistro", "OSVersionMajor", "OSVersionMinor",
                "OSBuild", "TcgLogs", "ClientPayload", "TpmInfo", "IsolationInfo", NULL,
        };
        static const char *const tpm_keys[] = {
                "AikCert", "AikPub", "PcrQuote", "PcrSignature", "PcrSet", "PCRs", "EncKeyPub",
                "EncKeyCertifyInfo", "EncKeyCertifyInfoSignature", NULL,
        };
        static const char *const iso_keys[] = { "Type", "Evidence", NULL };
        static const char *const ev_keys[] = { "Proof", "RunTimeData", NULL };
        static const char *const proof_keys[] = { "SnpReport", "VcekCertChain", NULL };
        struct maa_guest_evidence ev;
        json_t *j, *tpm, *iso, *evd, *proof, *cp, *arr;

        (void) state;
        fill_evidence(&ev);
        j = build_inner(&ev);
        assert_keys(j, top_keys);
        assert_string_equal(json_string_value(json_object_get(j, "AttestationProtocolVersion")), "2.0");
        assert_b64_field(j, "OSType", B64_STD, "Linux", 5);
        assert_b64_field(j, "OSDistro", B64_STD, "Debian GNU/Linux", 16);
        assert_true(json_is_integer(json_object_get(j, "OSVersionMajor")));
        assert_int_equal(json_integer_value(json_object_get(j, "OSVersionMajor")), 12);
        assert_true(json_is_integer(json_object_get(j, "OSVersionMinor")));
        assert_int_equal(json_integer_value(json_object_get(j, "OSVersionMinor")), 0);
        assert_b64_field(j, "OSBuild", B64_STD, "NotApplication", 14);
        assert_b64_field(j, "TcgLogs", B64_STD, tcg_log, sizeof(tcg_log));

        cp = json_object_get(j, "ClientPayload");
        assert_int_equal(json_object_size(cp), 2);
        assert_string_equal(json_string_value(json_object_get(cp, "nonce")), "MTIzNA==");
        assert_string_equal(json_string_value(json_object_get(cp, "extra")), "");

        tpm = json_object_get(j, "TpmInfo");
        assert_keys(tpm, tpm_keys);
        assert_b64_field(tpm, "AikCert", B64_STD, ak_cert, sizeof(ak_cert));
        assert_b64_field(tpm, "AikPub", B64_STD, ak_pub, sizeof(ak_pub));
        assert_b64_field(tpm, "PcrQuote", B64_STD, quote, sizeof(quote));
        assert_b64_field(tpm, "PcrSignature", B64_STD, quote_sig, sizeof(quote_sig));
        assert_b64_field(tpm, "EncKeyPub", B64_STD, enc_pub, sizeof(enc_pub));
        assert_b64_field(tpm, "EncKeyCertifyInfo", B64_STD, certify, sizeof(certify));
        assert_b64_field(tpm, "EncKeyCertifyInfoSignature", B64_STD, certify_sig, sizeof(certify_sig));
        arr = json_object_get(tpm, "PcrSet");
        assert_int_equal(json_array_size(arr), 8);
        for (size_t i = 0; i < 8; i++)
                assert_int_equal(json_integer_value(json_array_get(arr, i)), i);
        arr = json_object_get(tpm, "PCRs");
        assert_int_equal(json_array_size(arr), 8);
        for (size_t i = 0; i < 8; i++) {
                static const char *const pcr_keys[] = { "Index", "Digest", NULL };
                json_t *p = json_array_get(arr, i);

                assert_keys(p, pcr_keys);
                assert_int_equal(json_integer_value(json_object_get(p, "Index")), i);
                assert_b64_field(p, "Digest", B64_STD, pcrs[i].digest, 32);
        }

        iso = json_object_get(j, "IsolationInfo");
        assert_keys(iso, iso_keys);
        assert_string_equal(json_string_value(json_object_get(iso, "Type")), "SevSnp");
        evd = json_object_get(iso, "Evidence");
        assert_keys(evd, ev_keys);
        assert_b64_field(evd, "RunTimeData", B64_STD, runtime, strlen(runtime));
        proof = b64_json_field(evd, "Proof", B64_STD);
        assert_keys(proof, proof_keys);
        assert_b64_field(proof, "SnpReport", B64_URL, snp_report, sizeof(snp_report));
        assert_b64_field(proof, "VcekCertChain", B64_STD, vcek_pem, strlen(vcek_pem));
        json_decref(proof);
        json_decref(j);
}

/* Ensure that the TDX variant sends the quote as std base64 Proof and that
 * defaults (no client payload, no TCG log, custom OS type) are encoded. */
static void test_guest_tdx_defaults(void **state)
{
        struct maa_guest_evidence ev;
        json_t *j, *evd;

        (void) state;
        fill_evidence(&ev);
        ev.isolation = MAA_ISOLATION_TDX;
        ev.snp_report = (struct maa_bytes) { 0 };
        ev.td_quote = BYTES(td_quote);
        ev.client_payload = NULL;
        ev.n_client_payload = 0;
        ev.tcg_log = (struct maa_bytes) { 0 };
        ev.os_version_major = 22;
        ev.os_version_minor = 4;
        j = build_inner(&ev);
        assert_string_equal(json_string_value(json_object_get(j, "TcgLogs")), "");
        assert_true(json_is_object(json_object_get(j, "ClientPayload")));
        assert_int_equal(json_object_size(json_object_get(j, "ClientPayload")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "OSVersionMinor")), 4);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "IsolationInfo"), "Type")),
                            "Tdx");
        evd = json_object_get(json_object_get(j, "IsolationInfo"), "Evidence");
        assert_b64_field(evd, "Proof", B64_STD, td_quote, sizeof(td_quote));
        assert_b64_field(evd, "RunTimeData", B64_STD, runtime, strlen(runtime));
        json_decref(j);
}

/* Ensure that the compact serialisation is stable byte for byte. */
static void test_guest_compact_stable(void **state)
{
        struct maa_guest_evidence ev;
        char *a = NULL, *b = NULL;

        (void) state;
        fill_evidence(&ev);
        assert_int_equal(maa_build_guest_attestation_info(&ev, &a, NULL), 0);
        assert_int_equal(maa_build_guest_attestation_info(&ev, &b, NULL), 0);
        assert_string_equal(a, b);
        assert_null(strchr(a, ' '));
        assert_true(strncmp(a, "{\"AttestationProtocolVersion\":\"2.0\",\"OSType\":\"TGludXg=\","
                            "\"OSDistro\":\"RGViaWFuIEdOVS9MaW51eA==\",\"OSVersionMajor\":12,"
                            "\"OSVersionMinor\":0,\"OSBuild\":\"Tm90QXBwbGljYXRpb24=\",", 164) == 0);
        free(a);
        free(b);
}

/* Ensure that each invalid piece of evidence is refused with -EINVAL/-E2BIG
 * and a message, and that nothing is returned. */
static void test_guest_invalid(void **state)
{
        static const struct maa_kv dup[] = { { "nonce", "a", 1 }, { "nonce", "b", 1 } };
        struct maa_pcr bad_pcrs[2] = { { .index = 3 }, { .index = 3 } };
        struct maa_guest_evidence ev;
        struct err e;
        char *body = NULL;

        (void) state;
#define EXPECT_FAIL(mutation, code, text)                                                  \
        do {                                                                               \
                fill_evidence(&ev);                                                        \
                mutation;                                                                  \
                e.msg[0] = '\0';                                                           \
                assert_int_equal(maa_build_guest_request(&ev, &body, &e), code);           \
                assert_null(body);                                                         \
                if (!strstr(e.msg, text))                                                  \
                        fail_msg("message '%s' lacks '%s'", e.msg, text);                  \
        } while (0)
        EXPECT_FAIL(ev.os_distro = NULL, -EINVAL, "OSDistro");
        EXPECT_FAIL(ev.snp_report.len = 1183, -EINVAL, "SnpReport");
        EXPECT_FAIL(ev.vcek_chain_pem.len = 0, -EINVAL, "VcekCertChain");
        EXPECT_FAIL(ev.ak_pub.len = 0, -EINVAL, "AikPub is missing");
        EXPECT_FAIL(ev.quote_sig.len = MAA_TPM_BLOB_MAX_BYTES + 1, -E2BIG, "PcrSignature");
        EXPECT_FAIL(ev.runtime_claims.len = 0, -EINVAL, "RunTimeData");
        EXPECT_FAIL((ev.pcrs = bad_pcrs, ev.n_pcrs = 2), -EINVAL, "ascending");
        EXPECT_FAIL(ev.n_pcrs = 0, -EINVAL, "PCRs");
        EXPECT_FAIL((ev.client_payload = dup, ev.n_client_payload = 2), -EINVAL, "twice");
        EXPECT_FAIL(ev.isolation = _MAA_ISOLATION_MAX, -EINVAL, "isolation");
        EXPECT_FAIL((ev.isolation = MAA_ISOLATION_TDX, ev.td_quote.len = 0), -EINVAL, "TD quote");
        EXPECT_FAIL(ev.tcg_log.data = NULL, -EINVAL, "TcgLogs");
#undef EXPECT_FAIL
}

/* ---- platform ------------------------------------------------------------ */

static void test_snp_platform_request(void **state)
{
        static const char *const keys[] = { "report", "runtimeData", "nonce", NULL };
        static const char *const rt_keys[] = { "data", "dataType", NULL };
        static const char *const rep_keys[] = { "SnpReport", "VcekCertChain", NULL };
        struct maa_guest_evidence g;
        struct maa_platform_evidence ev;
        json_t *j, *rep;
        char *body = NULL;

        (void) state;
        fill_evidence(&g);
        ev = (struct maa_platform_evidence) {
                .snp_report = g.snp_report,
                .vcek_chain_pem = g.vcek_chain_pem,
                .runtime_claims = g.runtime_claims,
                .nonce = "noncesevsnp987",
        };
        assert_int_equal(maa_build_snp_request(&ev, &body, NULL), 0);
        j = parse(body);
        assert_keys(j, keys);
        assert_keys(json_object_get(j, "runtimeData"), rt_keys);
        assert_b64_field(json_object_get(j, "runtimeData"), "data", B64_URL, runtime, strlen(runtime));
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "runtimeData"), "dataType")),
                            "JSON");
        assert_string_equal(json_string_value(json_object_get(j, "nonce")), "noncesevsnp987");
        rep = b64_json_field(j, "report", B64_URL);
        assert_keys(rep, rep_keys);
        assert_b64_field(rep, "SnpReport", B64_URL, snp_report, sizeof(snp_report));
        assert_b64_field(rep, "VcekCertChain", B64_URL, vcek_pem, strlen(vcek_pem));
        json_decref(rep);
        json_decref(j);
        free(body);

        /* no nonce: the key is left out */
        ev.nonce = NULL;
        assert_int_equal(maa_build_snp_request(&ev, &body, NULL), 0);
        j = parse(body);
        assert_null(json_object_get(j, "nonce"));
        json_decref(j);
        free(body);
        body = NULL;

        ev.snp_report.len = 1000;
        assert_int_equal(maa_build_snp_request(&ev, &body, NULL), -EINVAL);
        assert_null(body);
}

static void test_tdx_platform_request(void **state)
{
        static const char *const keys[] = { "quote", "runtimeData", NULL };
        struct maa_platform_evidence ev = {
                .td_quote = BYTES(td_quote),
                .runtime_claims = { (const uint8_t *) runtime, strlen(runtime) },
        };
        char *body = NULL;
        struct err e = { "" };
        json_t *j;

        (void) state;
        assert_int_equal(maa_build_tdx_request(&ev, &body, NULL), 0);
        j = parse(body);
        assert_keys(j, keys);
        assert_b64_field(j, "quote", B64_URL, td_quote, sizeof(td_quote));
        assert_b64_field(json_object_get(j, "runtimeData"), "data", B64_URL, runtime, strlen(runtime));
        json_decref(j);
        free(body);
        body = NULL;

        ev.runtime_claims.len = 0;
        assert_int_equal(maa_build_tdx_request(&ev, &body, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "runtimeData"));
        assert_null(body);
}

/* ---- os-release ---------------------------------------------------------- */

static void check_os(const char *text, const char *distro, unsigned major, unsigned minor)
{
        struct maa_os_info info = { 0 };
        struct err e = { "" };

        if (maa_os_info_parse(text, strlen(text), &info, &e) != 0)
                fail_msg("parse failed: %s", e.msg);
        assert_string_equal(info.distro, distro);
        assert_int_equal(info.major, major);
        assert_int_equal(info.minor, minor);
        maa_os_info_done(&info);
}

static void test_os_release_variants(void **state)
{
        (void) state;
        check_os("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                 "VERSION_ID=\"12\"\nID=debian\n", "Debian GNU/Linux", 12, 0);
        check_os("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n", "Ubuntu", 22, 4);
        check_os("NAME='Red Hat Enterprise Linux'\nVERSION_ID='9.3.1'\n", "Red Hat Enterprise Linux", 9, 3);
        check_os("NAME=Fedora\\ Linux\nVERSION_ID=39\n", "Fedora Linux", 39, 0);
        check_os("# comment\n\n   NAME=\"A \\\"quoted\\\" \\$name\"  # trailing\nVERSION_ID=1.2\n",
                 "A \"quoted\" $name", 1, 2);
        check_os("NAME=\"Mariner\"'OS'\r\nVERSION_ID=\"2.0.20240123\"\r\n", "MarinerOS", 2, 0);
        check_os("NAME=\"Arch Linux\"\nBUILD_ID=rolling\n", "Arch Linux", 0, 0);
        check_os("NAME=\"Gentoo\"\nVERSION_ID=rolling\n", "Gentoo", 0, 0);
        check_os("ID=alpine\nVERSION_ID=3.19.1\n", "Linux", 3, 19);
        check_os("", "Linux", 0, 0);
        check_os("garbage line without equals\nNAME=x\n", "x", 0, 0);
        check_os("NAME=first\nNAME=second\n", "second", 0, 0);
        check_os("NAME=x\nVERSION_ID=12345678901.5\n", "x", 0, 0);
}

static void test_os_release_invalid(void **state)
{
        struct maa_os_info info = { 0 };
        struct err e = { "" };
        char big[300];

        (void) state;
        assert_int_equal(maa_os_info_parse("NAME=\"Debian\n", 13, &info, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "unterminated"));
        assert_int_equal(maa_os_info_parse("NAME='x\n", 8, &info, &e), -EBADMSG);
        assert_int_equal(maa_os_info_parse("NAME=a\0b\n", 9, &info, &e), -EBADMSG);
        memset(big, 'a', sizeof(big));
        memcpy(big, "NAME=", 5);
        assert_int_equal(maa_os_info_parse(big, sizeof(big), &info, &e), -E2BIG);
        assert_null(info.distro);
        assert_int_equal(maa_os_info_load("/nonexistent/os-release", &info, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "/nonexistent/os-release"));
}

static void test_os_release_load(void **state)
{
        char path[] = "/tmp/test-maa-osrel-XXXXXX";
        struct maa_os_info info = { 0 };
        FILE *f;
        int fd;

        (void) state;
        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs("NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n", f);
        fclose(f);
        assert_int_equal(maa_os_info_load(path, &info, NULL), 0);
        assert_string_equal(info.distro, "Ubuntu");
        assert_int_equal(info.major, 24);
        assert_int_equal(info.minor, 4);
        maa_os_info_done(&info);
        unlink(path);
        /* the machine's own file parses too */
        assert_int_equal(maa_os_info_load(NULL, &info, NULL), 0);
        assert_non_null(info.distro);
        maa_os_info_done(&info);
}

/* ---- classification ---------------------------------------------------- */

struct classify_case {
        int error;
        long status;
        const char *body;
        enum maa_result result;
        const char *in_message;
};

static void test_classify_table(void **state)
{
        static const struct classify_case cases[] = {
                { 0, 200, "{\"token\":\"eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln\"}", MAA_OK, "issued" },
                { 0, 200, "{\"token\":\"ABCDEF-_\",\"extra\":1}", MAA_OK, "issued" },
                { 0, 200, "", MAA_RETRY, "not a JSON object" },
                { 0, 200, "garbage", MAA_RETRY, "not a JSON object" },
                { 0, 200, "[\"token\"]", MAA_RETRY, "not a JSON object" },
                { 0, 200, "{\"token\":1}", MAA_RETRY, "without a \"token\"" },
                { 0, 200, "{\"token\":\"\"}", MAA_RETRY, "malformed token" },
                { 0, 200, "{\"token\":\"a b\"}", MAA_RETRY, "malformed token" },
                { 0, 200, "{\"token\":\"a\",\"token\":\"b\"}", MAA_RETRY, "not a JSON object" },
                { 0, 400, "{\"error\":{\"code\":\"InvalidParameter\",\"message\":\"Quote verification failed\"}}",
                  MAA_REFUSED, "InvalidParameter: Quote verification failed" },
                { 0, 400, "{\"Error\":{\"Code\":\"Bad\",\"Message\":\"PCR mismatch\"}}", MAA_REFUSED,
                  "Bad: PCR mismatch" },
                { 0, 400, "", MAA_REFUSED, "no error details" },
                { 0, 400, "<html>oops</html>", MAA_REFUSED, "body '<html>oops</html>'" },
                { 0, 400, "{\"error\":{\"message\":\"line1\\nline2\"}}", MAA_REFUSED, "line1\\nline2" },
                { 0, 401, "", MAA_CONFIG_ERROR, "check maa.endpoint / api-version / authorization" },
                { 0, 403, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no\"}}", MAA_CONFIG_ERROR,
                  "Forbidden: no" },
                { 0, 404, "Not Found", MAA_CONFIG_ERROR, "HTTP 404" },
                { 0, 302, "", MAA_CONFIG_ERROR, "redirects are not followed" },
                { 0, 408, "", MAA_RETRY, "HTTP 408" },
                { 0, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}", MAA_RETRY,
                  "TooManyRequests" },
                { 0, 500, "", MAA_RETRY, "HTTP 500" },
                { 0, 502, "<html>bad gateway</html>", MAA_RETRY, "bad gateway" },
                { 0, 503, "{\"Error\":{\"Code\":\"ServiceUnavailable\",\"Message\":\"later\"}}", MAA_RETRY,
                  "ServiceUnavailable: later" },
                { 0, 204, "", MAA_RETRY, "unexpected HTTP 204" },
                { -ETIMEDOUT, 0, NULL, MAA_RETRY, "Timeout was reached" },
                { -ECONNREFUSED, 0, NULL, MAA_RETRY, "MAA request failed" },
        };
        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct classify_case *c = &cases[i];
                struct maa_outcome o;

                assert_int_equal(maa_classify(c->error, c->error ? "Timeout was reached" : NULL, c->status,
                                              c->body, c->body ? strlen(c->body) : 0, 7, &o), 0);
                if (o.result != c->result || !strstr(o.message, c->in_message))
                        fail_msg("case %zu (HTTP %ld): got %s '%s', want %s with '%s'", i, c->status,
                                 maa_result_to_string(o.result), o.message, maa_result_to_string(c->result),
                                 c->in_message);
                assert_int_equal(o.retry_after_s, 7);
                assert_int_equal(o.error, c->error);
                if (c->result == MAA_OK)
                        assert_non_null(o.token);
                else
                        assert_null(o.token);
                maa_outcome_done(&o);
        }
}

static void test_classify_token_and_bounds(void **state)
{
        struct maa_outcome o;
        size_t n = MAA_TOKEN_MAX_BYTES + 16;
        char *big = malloc(n + 32);

        (void) state;
        assert_int_equal(maa_classify(0, NULL, 200, "{\"token\":\"abc.def.ghi\"}", 23, -1, &o), 0);
        assert_int_equal(o.result, MAA_OK);
        assert_string_equal(o.token, "abc.def.ghi");
        assert_int_equal(o.retry_after_s, -1);
        maa_outcome_done(&o);
        assert_null(o.token);

        /* a token larger than the bound is refused, not copied */
        assert_non_null(big);
        strcpy(big, "{\"token\":\"");
        memset(big + 10, 'a', n);
        strcpy(big + 10 + n, "\"}");
        assert_int_equal(maa_classify(0, NULL, 200, big, strlen(big), -1, &o), 0);
        assert_int_equal(o.result, MAA_RETRY);
        assert_null(o.token);
        free(big);

        /* a long error message is truncated and escaped */
        big = malloc(5000);
        assert_non_null(big);
        strcpy(big, "{\"error\":{\"code\":\"X\",\"message\":\"");
        for (size_t i = strlen(big); i < 4000; i++)
                big[i] = 'm';
        strcpy(big + 4000, "\"}}");
        assert_int_equal(maa_classify(0, NULL, 400, big, strlen(big), -1, &o), 0);
        assert_int_equal(o.result, MAA_REFUSED);
        assert_true(strlen(o.message) < ERR_MSG_MAX);
        assert_non_null(strstr(o.message, "..."));
        free(big);
}

/* ---- IMDS ------------------------------------------------------------------ */

#define PEM1 "-----BEGIN CERTIFICATE-----\\nMIIFQzCCAvegAwIBAgIBADBBBgkqhkiG9w0BAQowNKAPMA0GCWCGSAFlAwQCAgUA\\n-----END CERTIFICATE-----\\n"
#define PEM2 "-----BEGIN CERTIFICATE-----\\nASK\\n-----END CERTIFICATE-----\\n-----BEGIN CERTIFICATE-----\\nARK\\n-----END CERTIFICATE-----\\n"

static void test_thim_ok(void **state)
{
        static const char body[] = "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\","
                                   "\"certificateChain\":\"" PEM2 "\",\"cacheControl\":\"86400\"}";
        struct imds_vcek v = { 0 };
        struct err e = { "" };

        (void) state;
        assert_int_equal(imds_parse_thim(body, strlen(body), &v, &e), 0);
        assert_true(v.tcbm == 0x7308000000000003ull);
        assert_int_equal(v.cache_s, 86400);
        assert_non_null(strstr(v.vcek_cert, "MIIFQzCC"));
        assert_non_null(strstr(v.certificate_chain, "ARK"));
        assert_int_equal(strncmp(v.chain_pem, v.vcek_cert, strlen(v.vcek_cert)), 0);
        assert_string_equal(v.chain_pem + strlen(v.vcek_cert), v.certificate_chain);
        imds_vcek_done(&v);
        assert_null(v.chain_pem);
}

static void test_thim_variants(void **state)
{
        struct imds_vcek v = { 0 };
        const char *body;

        (void) state;
        /* numeric cacheControl, absent cacheControl, clamp, lower/upper hex */
        body = "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"DB18000000000004\",\"certificateChain\":\"" PEM2
               "\",\"cacheControl\":3600}";
        assert_int_equal(imds_parse_thim(body, strlen(body), &v, NULL), 0);
        assert_int_equal(v.cache_s, 3600);
        assert_true(v.tcbm == 0xdb18000000000004ull);
        imds_vcek_done(&v);
        body = "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"0000000000000000\",\"certificateChain\":\"" PEM2 "\"}";
        assert_int_equal(imds_parse_thim(body, strlen(body), &v, NULL), 0);
        assert_int_equal(v.cache_s, IMDS_VCEK_CACHE_S_DEFAULT);
        imds_vcek_done(&v);
        body = "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"0000000000000000\",\"certificateChain\":\"" PEM2
               "\",\"cacheControl\":\"99999999999999999999999\"}";
        assert_int_equal(imds_parse_thim(body, strlen(body), &v, NULL), 0);
        assert_int_equal(v.cache_s, IMDS_VCEK_CACHE_S_MAX);
        imds_vcek_done(&v);
}

static void test_thim_malformed(void **state)
{
        static const char *const bad[] = {
                "",
                "null",
                "[]",
                "{",
                "{\"tcbm\":\"7308000000000003\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"730800000000003\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"73080000000000031\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"73080000000000xx\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":7308000000000003,\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"not a pem\",\"tcbm\":\"7308000000000003\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"\",\"tcbm\":\"7308000000000003\",\"certificateChain\":\"" PEM2 "\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\",\"certificateChain\":\"" PEM2
                "\",\"cacheControl\":\"1 day\"}",
                "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\",\"certificateChain\":\"" PEM2
                "\",\"cacheControl\":-5}",
                "{\"vcekCert\":\"" PEM1 "\",\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\","
                "\"certificateChain\":\"" PEM2 "\"}",
        };
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct imds_vcek v = { 0 };
                struct err e = { "" };
                int r = imds_parse_thim(bad[i], strlen(bad[i]), &v, &e);

                if (r != -EBADMSG)
                        fail_msg("case %zu: %d '%s'", i, r, e.msg);
                assert_true(e.msg[0] != '\0');
                assert_null(v.vcek_cert);
        }
}

static void test_vcek_cache(void **state)
{
        static const char body[] = "{\"vcekCert\":\"" PEM1 "\",\"tcbm\":\"7308000000000003\","
                                   "\"certificateChain\":\"" PEM2 "\",\"cacheControl\":\"100\"}";
        struct imds_vcek_cache cache = { 0 };
        struct imds_vcek v = { 0 };
        uint8_t report[MAA_SNP_REPORT_SIZE] = { 0 };
        uint64_t tcb = 0;

        (void) state;
        /* reported_tcb is little-endian at 0x180: bl, tee, 4 reserved, snp, microcode */
        report[0x180] = 0x03;
        report[0x186] = 0x08;
        report[0x187] = 0x73;
        assert_int_equal(maa_snp_reported_tcb(report, sizeof(report), &tcb), 0);
        assert_true(tcb == 0x7308000000000003ull);
        assert_int_equal(maa_snp_reported_tcb(report, 100, &tcb), -EINVAL);

        assert_null(imds_vcek_cache_get(&cache, tcb, 0));
        assert_int_equal(imds_parse_thim(body, strlen(body), &v, NULL), 0);
        imds_vcek_cache_put(&cache, &v, 1000);
        assert_null(v.vcek_cert);
        assert_non_null(imds_vcek_cache_get(&cache, tcb, 1050));
        assert_non_null(imds_vcek_cache_get(&cache, tcb, 1099));
        assert_null(imds_vcek_cache_get(&cache, tcb, 1100));      /* expired */
        assert_null(imds_vcek_cache_get(&cache, tcb, 1000));      /* and dropped */

        assert_int_equal(imds_parse_thim(body, strlen(body), &v, NULL), 0);
        imds_vcek_cache_put(&cache, &v, 0);
        assert_null(imds_vcek_cache_get(&cache, tcb + 1, 1));     /* TCB changed: invalidated */
        assert_null(imds_vcek_cache_get(&cache, tcb, 1));
        imds_vcek_cache_done(&cache);
}

static void test_tdquote_request(void **state)
{
        uint8_t report[MAA_TD_REPORT_SIZE];
        char *body = NULL;
        json_t *j;

        (void) state;
        for (size_t i = 0; i < sizeof(report); i++)
                report[i] = (uint8_t) (i ^ 0xa5);
        assert_int_equal(imds_build_tdquote_request(report, sizeof(report), &body, NULL), 0);
        j = parse(body);
        assert_int_equal(json_object_size(j), 1);
        assert_b64_field(j, "report", B64_URL, report, sizeof(report));
        json_decref(j);
        free(body);
        body = NULL;
        assert_int_equal(imds_build_tdquote_request(report, 1023, &body, NULL), -EINVAL);
        assert_null(body);
}

static char *quote_body(const uint8_t *q, size_t n, enum b64_variant v, bool pad_url)
{
        char *s = b64_encode(q, n, v), *body;

        assert_non_null(s);
        body = malloc(strlen(s) + 32);
        assert_non_null(body);
        sprintf(body, "{\"quote\":\"%s%s\"}", s, pad_url && n % 3 ? (n % 3 == 1 ? "==" : "=") : "");
        free(s);
        return body;
}

static void test_tdquote_parse(void **state)
{
        uint8_t q[1001], *out = NULL;
        size_t n = 0;
        struct err e = { "" };
        char *body;

        (void) state;
        for (size_t i = 0; i < sizeof(q); i++)
                q[i] = (uint8_t) (i * 31 + 1);
        /* std, url, url with padding */
        for (int k = 0; k < 3; k++) {
                body = quote_body(q, sizeof(q), k == 0 ? B64_STD : B64_URL, k == 2);
                assert_int_equal(imds_parse_tdquote(body, strlen(body), &out, &n, &e), 0);
                assert_int_equal(n, sizeof(q));
                assert_memory_equal(out, q, n);
                free(out);
                out = NULL;
                free(body);
        }
        /* too short to be a quote */
        body = quote_body(q, 100, B64_STD, false);
        assert_int_equal(imds_parse_tdquote(body, strlen(body), &out, &n, &e), -EBADMSG);
        assert_null(out);
        free(body);
}

static void test_tdquote_malformed(void **state)
{
        static const char *const bad[] = {
                "", "{}", "{\"quote\":5}", "{\"quote\":\"\"}", "{\"quote\":\"a+b-\"}",
                "{\"quote\":\"####\"}", "{\"quote\":\"QUJD===\"}", "[\"quote\"]",
                "{\"quote\":\"QUJD\",\"quote\":\"QUJD\"}",
        };
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t *out = NULL;
                size_t n = 0;
                struct err e = { "" };

                assert_int_equal(imds_parse_tdquote(bad[i], strlen(bad[i]), &out, &n, &e), -EBADMSG);
                assert_null(out);
                assert_true(e.msg[0] != '\0');
        }
}

/* The real TD quote fixture round-trips through the IMDS answer format. */
static void test_tdquote_fixture(void **state)
{
        const char *dir = getenv("ATTESTD_FIXTURES");
        char path[4096];
        uint8_t buf[8192], *out = NULL;
        size_t len, n = 0;
        char *body;
        FILE *f;

        (void) state;
        if (!dir || !*dir)
                skip();
        (void) snprintf(path, sizeof(path), "%s/azure/tdx-td-quote.bin", dir);
        f = fopen(path, "rb");
        if (!f)
                skip();
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(len, 5006);
        body = quote_body(buf, len, B64_URL, false);
        assert_int_equal(imds_parse_tdquote(body, strlen(body), &out, &n, NULL), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, buf, len);
        free(out);
        free(body);
}

static void test_tables(void **state)
{
        (void) state;
        assert_string_equal(maa_route_to_string(MAA_ROUTE_AZURE_GUEST), "AzureGuest");
        assert_string_equal(maa_route_to_string(MAA_ROUTE_SEVSNP_VM), "SevSnpVm");
        assert_string_equal(maa_route_to_string(MAA_ROUTE_TDX_VM), "TdxVm");
        assert_null(maa_route_to_string(_MAA_ROUTE_MAX));
        assert_string_equal(maa_result_to_string(MAA_REFUSED), "refused");
        assert_null(maa_result_to_string(_MAA_RESULT_INVALID));
        assert_string_equal(maa_isolation_to_string(MAA_ISOLATION_TDX), "Tdx");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_guest_snp_fields),
                cmocka_unit_test(test_guest_tdx_defaults),
                cmocka_unit_test(test_guest_compact_stable),
                cmocka_unit_test(test_guest_invalid),
                cmocka_unit_test(test_snp_platform_request),
                cmocka_unit_test(test_tdx_platform_request),
                cmocka_unit_test(test_os_release_variants),
                cmocka_unit_test(test_os_release_invalid),
                cmocka_unit_test(test_os_release_load),
                cmocka_unit_test(test_classify_table),
                cmocka_unit_test(test_classify_token_and_bounds),
                cmocka_unit_test(test_thim_ok),
                cmocka_unit_test(test_thim_variants),
                cmocka_unit_test(test_thim_malformed),
                cmocka_unit_test(test_vcek_cache),
                cmocka_unit_test(test_tdquote_request),
                cmocka_unit_test(test_tdquote_parse),
                cmocka_unit_test(test_tdquote_malformed),
                cmocka_unit_test(test_tdquote_fixture),
                cmocka_unit_test(test_tables),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
