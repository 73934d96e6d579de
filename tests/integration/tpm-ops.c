/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every TPM module operation against the simulated Azure CVM (tests/sim),
 * driven by tests/integration/tpm-ops.sh, which provides:
 *   ATTESTD_SIM_TCTI, ATTESTD_SIM_DIR   from the simulator's env file
 *   TPM2TOOLS_TCTI                      for tpm2_pcrextend
 *   TPM_OPS_SIM                         the cvm-sim command (faults, tamper)
 *   TPM_OPS_WORKDIR                     a scratch directory
 * Verifies quote and certify signatures with OpenSSL (independent of the
 * TSS), encrypts with the openssl CLI, changes PCRs with tpm2_pcrextend
 * (the paravisor proxy takes concurrent clients), breaks the connection with
 * the simulator's faults, counts ticks of a 10 ms timer to prove the loop
 * stays responsive, and prints per-operation timings.
 * Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "daemon/tpm-decode.h"
#include "daemon/tpm-priv.h"
#include "daemon/tpm.h"
#include "proto/err.h"
#include "proto/hex.h"

#define ROUNDS 20
#define MASK 0xffu

static struct event_base *base;
static struct tpm *tpm;
static unsigned ticks;
static int failures;
static const char *workdir;

#define CHECK(cond, ...)                                                        \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
                        fprintf(stderr, __VA_ARGS__);                           \
                        fputc('\n', stderr);                                    \
                        failures++;                                             \
                }                                                               \
        } while (0)

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- running requests synchronously ---------------------------------- */

enum op { OP_HCL, OP_AK_PUB, OP_AK_CERT, OP_PCRS, OP_QUOTE, OP_EKEY, OP_DECRYPT, _OP_MAX };
static const char *const op_name[_OP_MAX] = {
        "read_hcl_report", "read_ak_pub", "read_ak_cert", "read_pcrs", "quote",
        "ephemeral_key", "rsa_decrypt",
};
static double timings[_OP_MAX][ROUNDS * 2];
static unsigned n_timings[_OP_MAX];

static uint8_t ciphertext[256];
static size_t ciphertext_len;

static int run(enum op op, struct tpm_sync *s)
{
        double t0 = now_ms();
        int r;

        *s = (struct tpm_sync) {};
        switch (op) {
        case OP_HCL:
                r = tpm_read_hcl_report_async(tpm, tpm_sync_cb, s);
                break;
        case OP_AK_PUB:
                r = tpm_read_ak_pub_async(tpm, tpm_sync_cb, s);
                break;
        case OP_AK_CERT:
                r = tpm_read_ak_cert_async(tpm, tpm_sync_cb, s);
                break;
        case OP_PCRS:
                r = tpm_read_pcrs_async(tpm, MASK, tpm_sync_cb, s);
                break;
        case OP_QUOTE:
                r = tpm_quote_async(tpm, MASK, NULL, 0, tpm_sync_cb, s);
                break;
        case OP_EKEY:
                r = tpm_ephemeral_key_async(tpm, MASK, tpm_sync_cb, s);
                break;
        case OP_DECRYPT:
                r = tpm_rsa_decrypt_async(tpm, ciphertext, ciphertext_len, tpm_sync_cb, s);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        r = tpm_sync_wait(tpm, s);
        if (r >= 0 && n_timings[op] < ROUNDS * 2)
                timings[op][n_timings[op]++] = now_ms() - t0;
        if (r < 0)
                fprintf(stderr, "  %s: %s\n", op_name[op], s->res.message);
        return r;
}

/* ---- requests on the module's own connection (test hooks) ------------- */

struct handle_counts {
        unsigned transient, sessions;
};

static unsigned count_handles(ESYS_CONTEXT *esys, TPM2_HANDLE first)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        unsigned n = 0;

        if (Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                               first, 64, &more, &cap) == TSS2_RC_SUCCESS) {
                for (UINT32 i = 0; i < cap->data.handles.count; i++)
                        if ((cap->data.handles.handle[i] >> TPM2_HR_SHIFT) == (first >> TPM2_HR_SHIFT))
                                n++;
        }
        Esys_Free(cap);
        return n;
}

static int exec_count(struct tpm_req *req)
{
        struct handle_counts *c = tpm_req_arg(req);
        ESYS_CONTEXT *esys = tpm_req_esys(req);

        c->transient = count_handles(esys, TPM2_TRANSIENT_FIRST);
        c->sessions = count_handles(esys, TPM2_LOADED_SESSION_FIRST) +
                      count_handles(esys, TPM2_POLICY_SESSION_FIRST);
        return 0;
}

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd) == 0 ? 0 : -EIO;
}

/* cvm-sim ARGS --dir $ATTESTD_SIM_DIR */
static int sim(const char *args)
{
        return shell("'%s' %s --dir '%s' >/dev/null", getenv("TPM_OPS_SIM"), args,
                     getenv("ATTESTD_SIM_DIR"));
}

static int pcr_extend(void)
{
        static unsigned n;

        return shell("tpm2_pcrextend 7:sha256=%064x", ++n);
}

static int exec_sync(tpm_exec_fn fn, void *arg)
{
        struct tpm_sync s = {};
        int r;

        r = tpm_exec_async(tpm, fn, arg, tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        tpm_result_done(&s.res);
        return r;
}

/* ---- independent verification (OpenSSL only) -------------------------- */

static EVP_PKEY *pkey_from_tpm2b_public(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret_pub)
{
        TPM2B_PUBLIC pub = {};
        OSSL_PARAM_BLD *bld = NULL;
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;
        BIGNUM *n = NULL, *e = NULL;
        size_t off = 0;

        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub) != 0 || off != len ||
            pub.publicArea.type != TPM2_ALG_RSA)
                return NULL;
        n = BN_bin2bn(pub.publicArea.unique.rsa.buffer, pub.publicArea.unique.rsa.size, NULL);
        e = BN_new();
        BN_set_word(e, pub.publicArea.parameters.rsaDetail.exponent ?
                    pub.publicArea.parameters.rsaDetail.exponent : 65537);
        bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                pkey = NULL;
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(n);
        BN_free(e);
        if (ret_pub)
                *ret_pub = pub.publicArea;
        return pkey;
}

static bool verify_sig(EVP_PKEY *key, const struct tpm_blob *msg, const struct tpm_blob *sig)
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        bool ok;

        ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig->data, sig->len, msg->data, msg->len) == 1;
        EVP_MD_CTX_free(md);
        return ok;
}

static bool unmarshal_attest(const struct tpm_blob *b, TPMS_ATTEST *ret)
{
        size_t off = 0;

        return Tss2_MU_TPMS_ATTEST_Unmarshal(b->data, b->len, &off, ret) == 0 && off == b->len &&
               ret->magic == TPM2_GENERATED_VALUE;
}

/* ---- tests -------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
        ticks++;
}

static void test_reads(uint8_t *ak_pub, size_t *ak_pub_len)
{
        struct tpm_sync s;
        size_t der_len;

        CHECK(run(OP_HCL, &s) == 0, "read_hcl_report");
        CHECK(s.res.data.len == 2048, "HCL report is %zu bytes", s.res.data.len);
        CHECK(s.res.data.len >= 4 && memcmp(s.res.data.data, "HCLA", 4) == 0, "no HCLA signature");
        tpm_result_done(&s.res);

        CHECK(run(OP_AK_PUB, &s) == 0, "read_ak_pub");
        CHECK(s.res.data.len > 2 && s.res.data.len <= 1024, "AK public %zu bytes", s.res.data.len);
        memcpy(ak_pub, s.res.data.data, s.res.data.len);
        *ak_pub_len = s.res.data.len;
        tpm_result_done(&s.res);

        CHECK(run(OP_AK_CERT, &s) == 0, "read_ak_cert");
        CHECK(tpm_decode_der_sequence_len(s.res.data.data, s.res.data.len, &der_len, NULL) == 0 &&
              der_len == s.res.data.len, "AK cert not trimmed to its DER length");
        {
                const unsigned char *p = s.res.data.data;
                X509 *x = d2i_X509(NULL, &p, (long) s.res.data.len);
                EVP_PKEY *ak = pkey_from_tpm2b_public(ak_pub, *ak_pub_len, NULL);

                CHECK(x && ak && EVP_PKEY_eq(X509_get0_pubkey(x), ak) == 1,
                      "AK cert does not hold the AK public key");
                X509_free(x);
                EVP_PKEY_free(ak);
        }
        tpm_result_done(&s.res);

        CHECK(run(OP_PCRS, &s) == 0, "read_pcrs");
        CHECK(s.res.pcrs.mask == MASK, "PCR mask 0x%x", s.res.pcrs.mask);
        tpm_result_done(&s.res);

        /* a PCR mask above 8 PCRs needs several PCR_Read calls */
        s = (struct tpm_sync) {};
        CHECK(tpm_read_pcrs_async(tpm, 0xffffff, tpm_sync_cb, &s) == 0 &&
              tpm_sync_wait(tpm, &s) == 0 && s.res.pcrs.mask == 0xffffff, "read 24 PCRs");
        tpm_result_done(&s.res);

        s = (struct tpm_sync) {};
        CHECK(tpm_read_nv_async(tpm, 0x01400099, tpm_sync_cb, &s) == 0 &&
              tpm_sync_wait(tpm, &s) == -ENXIO, "absent NV index: %d", s.res.r);
        printf("absent NV index message: %s\n", s.res.message);
        tpm_result_done(&s.res);
}

static void test_quote(const uint8_t *ak_pub, size_t ak_pub_len)
{
        EVP_PKEY *ak = pkey_from_tpm2b_public(ak_pub, ak_pub_len, NULL);
        uint8_t digest[32];
        struct tpm_sync s;
        TPMS_ATTEST a;

        CHECK(run(OP_QUOTE, &s) == 0, "quote");
        CHECK(s.res.signature.len == 256, "quote signature %zu bytes", s.res.signature.len);
        CHECK(ak && verify_sig(ak, &s.res.attest, &s.res.signature),
              "quote signature does not verify with the AK");
        CHECK(unmarshal_attest(&s.res.attest, &a) && a.type == TPM2_ST_ATTEST_QUOTE,
              "quote is not a TPMS_ATTEST quote");
        CHECK(tpm_pcrs_digest(&s.res.pcrs, digest) == 0 &&
              memcmp(digest, a.attested.quote.pcrDigest.buffer, 32) == 0,
              "quote pcrDigest does not match the returned PCRs");
        CHECK(a.extraData.size == 0, "qualifyingData not empty");
        tpm_result_done(&s.res);

        s = (struct tpm_sync) {};
        CHECK(tpm_quote_async(tpm, MASK, (const uint8_t *) "nonce-1234", 10, tpm_sync_cb, &s) == 0 &&
              tpm_sync_wait(tpm, &s) == 0 && unmarshal_attest(&s.res.attest, &a) &&
              a.extraData.size == 10 && memcmp(a.extraData.buffer, "nonce-1234", 10) == 0,
              "quote with qualifying data");
        tpm_result_done(&s.res);
        EVP_PKEY_free(ak);
}

static int encrypt_with_cli(EVP_PKEY *key, const char *plain)
{
        char pem[512], in[512], out[512], cmd[2048];
        FILE *f;
        size_t n;

        snprintf(pem, sizeof(pem), "%s/ekey.pem", workdir);
        snprintf(in, sizeof(in), "%s/plain.bin", workdir);
        snprintf(out, sizeof(out), "%s/cipher.bin", workdir);
        f = fopen(pem, "w");
        if (!f || PEM_write_PUBKEY(f, key) != 1)
                return -EIO;
        fclose(f);
        f = fopen(in, "w");
        if (!f)
                return -EIO;
        fputs(plain, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd),
                 "openssl pkeyutl -encrypt -pubin -inkey '%s' -pkeyopt rsa_padding_mode:pkcs1 "
                 "-in '%s' -out '%s'", pem, in, out);
        if (system(cmd) != 0)
                return -EIO;
        f = fopen(out, "r");
        if (!f)
                return -EIO;
        n = fread(ciphertext, 1, sizeof(ciphertext), f);
        fclose(f);
        ciphertext_len = n;
        return n == 256 ? 0 : -EIO;
}

static void test_ephemeral_key(const uint8_t *ak_pub, size_t ak_pub_len)
{
        const char *secret = "0123456789abcdef0123456789abcdef";
        EVP_PKEY *ak = pkey_from_tpm2b_public(ak_pub, ak_pub_len, NULL), *ek = NULL;
        uint8_t digest[32], policy[32], name[34];
        struct tpm_sync s, s2;
        TPMT_PUBLIC pub;
        TPMS_ATTEST a;
        size_t off = 0;
        uint8_t buf[sizeof(TPMT_PUBLIC)];

        CHECK(run(OP_EKEY, &s) == 0, "ephemeral_key");
        ek = pkey_from_tpm2b_public(s.res.data.data, s.res.data.len, &pub);
        CHECK(ek != NULL, "ephemeral key is not an RSA TPM2B_PUBLIC");
        CHECK(pub.objectAttributes == 0x00020432, "attributes 0x%08x", pub.objectAttributes);
        CHECK(pub.nameAlg == TPM2_ALG_SHA256 && pub.parameters.rsaDetail.keyBits == 2048 &&
              pub.parameters.rsaDetail.symmetric.algorithm == TPM2_ALG_NULL &&
              pub.parameters.rsaDetail.scheme.scheme == TPM2_ALG_NULL &&
              pub.parameters.rsaDetail.exponent == 0, "ephemeral key template");
        CHECK(tpm_pcrs_digest(&s.res.pcrs, digest) == 0 &&
              tpm_policy_pcr_digest(MASK, digest, policy) == 0 &&
              pub.authPolicy.size == 32 && memcmp(pub.authPolicy.buffer, policy, 32) == 0,
              "authPolicy is not PolicyPCR over the returned PCRs");
        CHECK(s.res.signature.len == 256 && ak && verify_sig(ak, &s.res.attest, &s.res.signature),
              "certify signature does not verify with the AK");
        /* the certified name is nameAlg || SHA-256(TPMT_PUBLIC) of the key */
        CHECK(Tss2_MU_TPMT_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off) == 0, "marshal");
        name[0] = 0x00;
        name[1] = 0x0b;
        EVP_Digest(buf, off, name + 2, NULL, EVP_sha256(), NULL);
        CHECK(unmarshal_attest(&s.res.attest, &a) && a.type == TPM2_ST_ATTEST_CERTIFY &&
              a.attested.certify.name.size == 34 &&
              memcmp(a.attested.certify.name.name, name, 34) == 0,
              "certify does not name the ephemeral key");

        /* reused while PCRs are unchanged */
        CHECK(run(OP_EKEY, &s2) == 0 && !s2.res.key_created &&
              s2.res.data.len == s.res.data.len &&
              memcmp(s2.res.data.data, s.res.data.data, s.res.data.len) == 0,
              "ephemeral key not reused");
        tpm_result_done(&s2.res);

        /* decrypt what the openssl CLI encrypted */
        CHECK(encrypt_with_cli(ek, secret) == 0, "openssl pkeyutl -encrypt failed");
        CHECK(run(OP_DECRYPT, &s2) == 0 && s2.res.secret && s2.res.data.len == strlen(secret) &&
              memcmp(s2.res.data.data, secret, strlen(secret)) == 0, "rsa_decrypt");
        tpm_result_done(&s2.res);

        /* garbage ciphertext: clear error, no leak */
        ciphertext[0] ^= 0xff;
        CHECK(run(OP_DECRYPT, &s2) == -EBADMSG, "decrypt of garbage: %d", s2.res.r);
        printf("bad ciphertext message: %s\n", s2.res.message);
        tpm_result_done(&s2.res);
        ciphertext[0] ^= 0xff;

        /* PCR change: old key's policy fails, a new key is made */
        CHECK(pcr_extend() == 0, "tpm2_pcrextend");
        CHECK(run(OP_DECRYPT, &s2) == -EACCES, "decrypt after PCR change: %d", s2.res.r);
        printf("decrypt after PCR change: %s\n", s2.res.message);
        tpm_result_done(&s2.res);
        CHECK(run(OP_EKEY, &s2) == 0 && s2.res.key_created &&
              (s2.res.data.len != s.res.data.len ||
               memcmp(s2.res.data.data, s.res.data.data, s.res.data.len) != 0),
              "ephemeral key not re-created after the PCR change");
        tpm_result_done(&s2.res);

        tpm_result_done(&s.res);
        EVP_PKEY_free(ek);
        EVP_PKEY_free(ak);
}

/* Does the report's runtime-claims JSON carry "user-data": hex(user_data)? */
static bool report_has_user_data(const uint8_t *report, size_t len,
                                 const uint8_t user_data[TPM_USER_DATA_SIZE], void *userdata)
{
        char want[2 * TPM_USER_DATA_SIZE + 16];
        size_t var_len, i;
        const char *json;

        if (len < 1236)
                return false;
        var_len = report[1232] | report[1233] << 8 | (size_t) report[1234] << 16 |
                  (size_t) report[1235] << 24;
        if (var_len > len - 1236)
                return false;
        json = (const char *) report + 1236;
        strcpy(want, "\"user-data\":\"");
        for (i = 0; i < TPM_USER_DATA_SIZE; i++)
                sprintf(want + 13 + 2 * i, "%02X", user_data[i]);
        strcat(want, "\"");
        for (i = 0; i + strlen(want) <= var_len; i++)
                if (strncasecmp(json + i, want, strlen(want)) == 0)
                        return true;
        return false;
}

static bool never(const uint8_t *report, size_t len, const uint8_t u[TPM_USER_DATA_SIZE], void *ud)
{
        return false;
}

static void test_fresh_report(void)
{
        uint8_t user_data[TPM_USER_DATA_SIZE];
        struct tpm_sync s = {};
        unsigned t0;
        double start;
        int r;

        for (unsigned i = 0; i < sizeof(user_data); i++)
                user_data[i] = (uint8_t) (rand() & 0xff);
        start = now_ms();
        r = tpm_fresh_report_async(tpm, user_data, report_has_user_data, NULL, 10000,
                                   tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        CHECK(r == 0 && report_has_user_data(s.res.data.data, s.res.data.len, user_data, NULL),
              "fresh report: %s", s.res.message);
        printf("timing fresh_report: %.1f ms (paravisor delay 100 ms)\n", now_ms() - start);
        tpm_result_done(&s.res);

        /* a paravisor that ignores the write: clean -ETIMEDOUT */
        CHECK(sim("tamper paravisor-stuck") == 0, "cvm-sim tamper paravisor-stuck");
        user_data[0] ^= 1;
        s = (struct tpm_sync) {};
        r = tpm_fresh_report_async(tpm, user_data, report_has_user_data, NULL, 800,
                                   tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        CHECK(r == -ETIMEDOUT, "fresh report with a stuck paravisor: %d", r);
        printf("stuck paravisor: %s\n", s.res.message);
        tpm_result_done(&s.res);
        CHECK(sim("tamper restore") == 0, "cvm-sim tamper restore");

        /* a report that never matches: clean -ETIMEDOUT, loop keeps ticking */
        s = (struct tpm_sync) {};
        t0 = ticks;
        start = now_ms();
        r = tpm_fresh_report_async(tpm, user_data, never, NULL, 1000, tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        CHECK(r == -ETIMEDOUT, "fresh report timeout: %d", r);
        printf("fresh report timeout after %.0f ms: %s\n", now_ms() - start, s.res.message);
        CHECK(ticks - t0 >= 50, "loop ticked only %u times in a 1 s TPM request", ticks - t0);
        printf("10 ms timer ticks during the 1 s request: %u\n", ticks - t0);
        tpm_result_done(&s.res);
}

static void test_leaks(void)
{
        struct handle_counts before = {}, after = {};
        struct tpm_sync s;

        CHECK(exec_sync(exec_count, &before) == 0, "count handles");
        for (unsigned i = 0; i < ROUNDS; i++)
                for (enum op op = 0; op < _OP_MAX; op++) {
                        int r = run(op, &s);

                        CHECK(r == 0, "round %u %s: %d", i, op_name[op], r);
                        if (op == OP_EKEY && r == 0) {
                                EVP_PKEY *ek = pkey_from_tpm2b_public(s.res.data.data,
                                                                      s.res.data.len, NULL);

                                CHECK(ek && encrypt_with_cli(ek, "round secret") == 0, "encrypt");
                                EVP_PKEY_free(ek);
                        }
                        tpm_result_done(&s.res);
                        /* every fifth round the key must be re-created */
                        if (op == OP_DECRYPT && i % 5 == 4)
                                CHECK(pcr_extend() == 0, "tpm2_pcrextend");
                }
        CHECK(exec_sync(exec_count, &after) == 0, "count handles");
        /* the ephemeral key is the one transient object the module keeps */
        CHECK(after.transient == 1 && after.sessions == before.sessions,
              "handles: transient %u -> %u, sessions %u -> %u", before.transient,
              after.transient, before.sessions, after.sessions);
        printf("handles after %u rounds: transient %u (the kept key), sessions %u\n", ROUNDS,
               after.transient, after.sessions);
}

static void test_tpm_faults(void)
{
        struct tpm_sync s;
        int r;

        /* a busy TPM (TPM_RC_RETRY twice) is retried */
        CHECK(sim("fault tpm-error --rc 0x922 --count 2") == 0, "cvm-sim fault tpm-error");
        CHECK(run(OP_PCRS, &s) == 0, "request with TPM_RC_RETRY x2: %s", s.res.message);
        tpm_result_done(&s.res);

        /* a TPM in failure mode: clear error, no retry */
        CHECK(sim("fault tpm-error --rc 0x101 --count 1") == 0, "cvm-sim fault tpm-error");
        r = run(OP_AK_PUB, &s);
        CHECK(r == -EIO, "request with TPM_RC_FAILURE: %d", r);
        tpm_result_done(&s.res);
        CHECK(sim("fault clear") == 0, "cvm-sim fault clear");
}

static void test_reconnect(void)
{
        struct tpm_sync s;
        int r;

        CHECK(run(OP_PCRS, &s) == 0, "read before the drop");
        tpm_result_done(&s.res);
        /* the TPM goes away: every command drops the connection */
        CHECK(sim("fault tpm-drop --count 0") == 0, "cvm-sim fault tpm-drop");
        r = run(OP_PCRS, &s);
        CHECK(r == -EIO, "request after the drop: %d (%s)", r, s.res.message);
        printf("after the drop: %s\n", s.res.message);
        tpm_result_done(&s.res);
        r = run(OP_QUOTE, &s);
        CHECK(r == -EIO, "request while the TPM is away: %d", r);
        printf("while away: %s\n", s.res.message);
        tpm_result_done(&s.res);
        /* back: the next request reconnects */
        CHECK(sim("fault clear") == 0, "cvm-sim fault clear");
        CHECK(run(OP_AK_PUB, &s) == 0, "request after the TPM came back: %s", s.res.message);
        tpm_result_done(&s.res);
        CHECK(run(OP_DECRYPT, &s) == -ENOKEY, "decrypt with a key lost with the connection: %d",
              s.res.r);
        tpm_result_done(&s.res);
        CHECK(run(OP_EKEY, &s) == 0 && s.res.key_created, "new key after reconnecting");
        tpm_result_done(&s.res);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static void print_timings(void)
{
        for (enum op op = 0; op < _OP_MAX; op++) {
                unsigned n = n_timings[op];

                if (!n)
                        continue;
                qsort(timings[op], n, sizeof(double), cmp_double);
                printf("timing %-16s median %7.2f ms  min %7.2f  max %7.2f  (n=%u)\n",
                       op_name[op], timings[op][n / 2], timings[op][0], timings[op][n - 1], n);
        }
}

int main(void)
{
        const char *tcti = getenv("ATTESTD_SIM_TCTI");
        struct event *tick = NULL;
        struct timeval ten_ms = { 0, 10000 };
        uint8_t ak_pub[1024];
        size_t ak_pub_len = 0;
        struct err e = {};
        double t0;
        int r;

        workdir = getenv("TPM_OPS_WORKDIR");
        if (!tcti || !workdir || !getenv("TPM_OPS_SIM") || !getenv("ATTESTD_SIM_DIR")) {
                fprintf(stderr, "ATTESTD_SIM_TCTI, ATTESTD_SIM_DIR, TPM_OPS_SIM and "
                        "TPM_OPS_WORKDIR must be set\n");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        srand((unsigned) time(NULL));
        base = event_base_new();
        tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
        event_add(tick, &ten_ms);

        t0 = now_ms();
        r = tpm_new(base, tcti, &tpm, &e);
        if (r < 0) {
                fprintf(stderr, "tpm_new: %s\n", e.msg);
                return 1;
        }
        printf("timing tpm_new: %.1f ms (manufacturer %s, NV buffer %u)\n", now_ms() - t0,
               tpm_get_manufacturer(tpm), tpm_get_nv_buffer_max(tpm));

        test_reads(ak_pub, &ak_pub_len);
        test_quote(ak_pub, ak_pub_len);
        test_ephemeral_key(ak_pub, ak_pub_len);
        test_fresh_report();
        test_leaks();
        print_timings();
        test_tpm_faults();
        test_reconnect();

        tpm = tpm_free(tpm);
        event_free(tick);
        event_base_free(base);
        printf("%s (%d failures)\n", failures ? "FAIL" : "PASS", failures);
        return failures ? 1 : 0;
}
