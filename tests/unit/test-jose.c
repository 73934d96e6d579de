/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for daemon/jose.c. Signature tests use RSA/EC keys and
 * self-signed certificates generated at run time; the real MAA tokens and
 * JWKS from $ATTESTD_FIXTURES/maa are used for parsing tests (skipped when
 * the variable is unset).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup */
#endif
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "daemon/defaults.h"
#include "daemon/jose.h"
#include "proto/b64.h"

#define NOW ((int64_t) 1700000000)
#define ISS "https://sharedeus2.eus2.attest.azure.net"
#define KID "J0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0="

struct tkey {
        EVP_PKEY *pkey;
        char *x5c;              /* std base64 DER self-signed certificate */
        char *n, *e;            /* base64url modulus and exponent (RSA) */
};

static struct tkey key_main, key_other, key_small, key_ec;

/* ---- key, JWKS and token builders ---- */

static char *bn_param_b64url(EVP_PKEY *pkey, const char *param)
{
        BIGNUM *bn = NULL;
        uint8_t buf[1024];
        int n;
        char *s;

        assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
        n = BN_bn2bin(bn, buf);
        BN_free(bn);
        s = b64_encode(buf, (size_t) n, B64_URL);
        assert_non_null(s);
        return s;
}

static void tkey_init(struct tkey *k, EVP_PKEY *pkey)
{
        X509 *cert = X509_new();
        X509_NAME *name;
        uint8_t *der = NULL;
        int der_len;

        assert_non_null(pkey);
        assert_non_null(cert);
        k->pkey = pkey;
        assert_int_equal(X509_set_version(cert, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
        assert_int_equal(X509_set_pubkey(cert, pkey), 1);
        name = X509_get_subject_name(cert);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *) ISS, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(cert, name), 1);
        assert_true(X509_sign(cert, pkey, EVP_sha256()) > 0);
        der_len = i2d_X509(cert, &der);
        assert_true(der_len > 0);
        k->x5c = b64_encode(der, (size_t) der_len, B64_STD);
        assert_non_null(k->x5c);
        OPENSSL_free(der);
        X509_free(cert);
        if (EVP_PKEY_is_a(pkey, "RSA")) {
                k->n = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_N);
                k->e = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_E);
        }
}

static void tkey_done(struct tkey *k)
{
        EVP_PKEY_free(k->pkey);
        free(k->x5c);
        free(k->n);
        free(k->e);
        memset(k, 0, sizeof(*k));
}

static int group_setup(void **state)
{
        (void) state;
        tkey_init(&key_main, EVP_RSA_gen(2048));
        tkey_init(&key_other, EVP_RSA_gen(2048));
        tkey_init(&key_small, EVP_RSA_gen(1024));
        tkey_init(&key_ec, EVP_EC_gen("P-256"));
        return 0;
}

static int group_teardown(void **state)
{
        (void) state;
        tkey_done(&key_main);
        tkey_done(&key_other);
        tkey_done(&key_small);
        tkey_done(&key_ec);
        return 0;
}

/* A one-key JWKS entry for k with kid, as a JSON string (caller frees). */
static char *jwk_entry(const struct tkey *k, const char *kid)
{
        char *s = NULL;

        assert_true(asprintf(&s, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"x5c\":[\"%s\"]}",
                             kid, k->x5c) > 0);
        return s;
}

static struct jose_jwks *jwks_from(const char *json)
{
        struct jose_jwks *jwks = NULL;
        struct err e = { "" };
        int r;

        r = jose_jwks_parse(json, strlen(json), &jwks, &e);
        if (r < 0)
                fail_msg("jwks parse: %d %s", r, e.msg);
        return jwks;
}

/* The pinned JWKS of these tests: key_main as KID plus an EC key. */
static struct jose_jwks *test_jwks(void)
{
        char *main_entry = jwk_entry(&key_main, KID), *json = NULL;
        struct jose_jwks *jwks;

        assert_true(asprintf(&json, "{\"keys\":[%s,{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\"}]}",
                             main_entry) > 0);
        jwks = jwks_from(json);
        free(main_entry);
        free(json);
        return jwks;
}

static char *b64url_str(const char *s)
{
        char *r = b64_encode(s, strlen(s), B64_URL);

        assert_non_null(r);
        return r;
}

/* sign data with pkey; md and padding as for RS*, PS*, ES* */
static uint8_t *sign(EVP_PKEY *pkey, const EVP_MD *md, int padding, const char *data,
                     size_t *ret_len)
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        uint8_t *sig;
        size_t len = 0;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey), 1);
        if (padding)
                assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
        assert_int_equal(EVP_DigestSign(ctx, NULL, &len, (const uint8_t *) data, strlen(data)), 1);
        sig = malloc(len);
        assert_non_null(sig);
        assert_int_equal(EVP_DigestSign(ctx, sig, &len, (const uint8_t *) data, strlen(data)), 1);
        EVP_MD_CTX_free(ctx);
        *ret_len = len;
        return sig;
}

enum sig_kind { SIG_RS256, SIG_RS384, SIG_PS256, SIG_ES256, SIG_HS256_PEM, SIG_HS256_DER, SIG_NONE };

/* header.payload.signature from raw header and payload JSON text. */
static char *make_token_with(const char *header, const char *payload, EVP_PKEY *pkey,
                             enum sig_kind kind)
{
        char *h = b64url_str(header), *p = b64url_str(payload), *input = NULL, *s, *tok = NULL;
        uint8_t *sig = NULL, *keybuf = NULL;
        size_t sig_len = 0;
        unsigned hlen = 0;
        int keylen;

        assert_true(asprintf(&input, "%s.%s", h, p) > 0);
        switch (kind) {
        case SIG_RS256:
                sig = sign(pkey, EVP_sha256(), RSA_PKCS1_PADDING, input, &sig_len);
                break;
        case SIG_RS384:
                sig = sign(pkey, EVP_sha384(), RSA_PKCS1_PADDING, input, &sig_len);
                break;
        case SIG_PS256:
                sig = sign(pkey, EVP_sha256(), RSA_PKCS1_PSS_PADDING, input, &sig_len);
                break;
        case SIG_ES256:
                sig = sign(pkey, EVP_sha256(), 0, input, &sig_len);
                break;
        case SIG_HS256_PEM:
        case SIG_HS256_DER: {
                /* "HS256 keyed with the RSA public key" */
                BIO *bio = BIO_new(BIO_s_mem());
                char *pem;

                assert_non_null(bio);
                if (kind == SIG_HS256_PEM) {
                        assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
                        keylen = (int) BIO_get_mem_data(bio, &pem);
                        keybuf = malloc((size_t) keylen);
                        assert_non_null(keybuf);
                        memcpy(keybuf, pem, (size_t) keylen);
                } else {
                        keylen = i2d_PUBKEY(pkey, &keybuf);
                        assert_true(keylen > 0);
                }
                BIO_free(bio);
                sig = malloc(EVP_MAX_MD_SIZE);
                assert_non_null(sig);
                assert_non_null(HMAC(EVP_sha256(), keybuf, keylen, (const uint8_t *) input,
                                     strlen(input), sig, &hlen));
                sig_len = hlen;
                if (kind == SIG_HS256_PEM)
                        free(keybuf);
                else
                        OPENSSL_free(keybuf);
                break;
        }
        case SIG_NONE:
                break;
        }
        s = sig ? b64_encode(sig, sig_len, B64_URL) : strdup("");
        assert_non_null(s);
        assert_true(asprintf(&tok, "%s.%s", input, s) > 0);
        free(h);
        free(p);
        free(input);
        free(s);
        free(sig);
        return tok;
}

static char *header_for(const char *alg, const char *kid)
{
        char *h = NULL;

        assert_true(asprintf(&h, "{\"alg\":\"%s\",\"jku\":\"https://evil.example/certs\","
                             "\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid) > 0);
        return h;
}

/* Claims with iss ISS, the given times and extra members ("" or ",..."). */
static char *claims_for(int64_t iat, int64_t nbf, int64_t exp, const char *extra)
{
        char *c = NULL;

        assert_true(asprintf(&c, "{\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"iss\":\"" ISS "\","
                             "\"jti\":\"a241cac19aae204ef52e39c2d6b5d2c7\",\"nbf\":%" PRId64
                             ",\"x-ms-attestation-type\":\"azurevm\"%s}",
                             exp, iat, nbf, extra) > 0);
        return c;
}

static char *default_claims(void)
{
        return claims_for(NOW - 100, NOW - 100, NOW - 100 + 28800, "");
}

static char *make_token(const char *header, const char *payload)
{
        return make_token_with(header, payload, key_main.pkey, SIG_RS256);
}

static char *good_token(void)
{
        char *h = header_for("RS256", KID), *c = default_claims(), *t = make_token(h, c);

        free(h);
        free(c);
        return t;
}

static const struct jose_verify_opts default_opts = {
        .issuer = ISS, .now = (time_t) NOW, .skew = 60, .nonce = NULL,
};

/* jose_verify() of tok with the test JWKS; returns r and keeps the reason */
static int verify_opts(const char *tok, const struct jose_verify_opts *o, struct err *e)
{
        struct jose_jwks *jwks = test_jwks();
        struct jose_token *t = NULL;
        int r;

        r = jose_verify(tok, strlen(tok), jwks, o, &t, e);
        if (r == 0)
                assert_non_null(t);
        else
                assert_null(t);
        jose_token_free(t);
        jose_jwks_free(jwks);
        return r;
}

static int verify(const char *tok, struct err *e)
{
        return verify_opts(tok, &default_opts, e);
}

/* Verify a token from header/claims text signed with key_main (RS256). */
static int verify_hc(const char *header, const char *claims, struct err *e)
{
        char *tok = make_token(header, claims);
        int r = verify(tok, e);

        free(tok);
        return r;
}

static int verify_claims(const char *claims, struct err *e)
{
        char *h = header_for("RS256", KID);
        int r = verify_hc(h, claims, e);

        free(h);
        return r;
}

#define assert_reason(e, needle) do {                                           \
                if (!strstr((e).msg, (needle)))                                 \
                        fail_msg("reason '%s' lacks '%s'", (e).msg, (needle));  \
        } while (0)

/* ---- fixtures ---- */

static char *fixture_read(const char *name, size_t *ret_len)
{
        const char *dir = getenv("ATTESTD_FIXTURES");
        char path[4096];
        FILE *f;
        char *buf;
        long n;

        if (!dir || !*dir)
                return NULL;
        (void) snprintf(path, sizeof(path), "%s/maa/%s", dir, name);
        f = fopen(path, "rb");
        if (!f)
                return NULL;
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        buf = malloc((size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        buf[n] = '\0';
        fclose(f);
        *ret_len = (size_t) n;
        return buf;
}

#define FIXTURE_OR_SKIP(var, name, len) do {                    \
                (var) = fixture_read((name), &(len));           \
                if (!(var))                                     \
                        skip();                                 \
        } while (0)

/* Ensure that the real sharedwus JWKS parses: 4 keys, the 1024-bit one
 * kept but skipped with a reason. */
static void test_real_jwks(void **state)
{
        struct jose_jwks *jwks = NULL;
        struct err e = { "" };
        size_t len = 0;
        char *json;

        (void) state;
        FIXTURE_OR_SKIP(json, "jwks-sharedwus-recording.json", len);
        assert_int_equal(jose_jwks_parse(json, len, &jwks, &e), 0);
        assert_int_equal(jose_jwks_count(jwks), 4);
        assert_int_equal(jose_jwks_usable_count(jwks), 3);
        assert_string_equal(jose_jwks_get0_kid(jwks, 0), "rPtBGRWTlPmzs5u35L0QRD9WdymeKPRxteTeTlwN0Ec=");
        assert_string_equal(jose_jwks_get0_kid(jwks, 1), "D5DR62_fG0AlpALMbsP-wriTWjU");
        assert_string_equal(jose_jwks_get0_kid(jwks, 2), "5n95sus8qrcBcVLXZu3lPYgdMlM");
        assert_string_equal(jose_jwks_get0_kid(jwks, 3), "15N2MHoj9iAdkF/c5nRE3J2HB8JG6Vue3Uzvu3K/Ses=");
        assert_int_equal(jose_jwks_key_bits(jwks, 0), 2048);
        assert_null(jose_jwks_get0_skip_reason(jwks, 0));
        assert_int_equal(jose_jwks_key_bits(jwks, 3), 1024);
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 3), "1024 bits"));
        assert_null(jose_jwks_get0_kid(jwks, 4));
        jose_jwks_free(jwks);
        free(json);
}

/* Ensure that the real AzureGuest token decodes once its file's trailing
 * newline is removed (and not with it), and that its key is unknown to the
 * real JWKS (-ENOKEY, the "refetch JWKS" class). */
static void test_real_azureguest_token(void **state)
{
        struct jose_token *t = NULL;
        struct jose_jwks *jwks = NULL;
        struct err e = { "" };
        size_t len = 0, jlen = 0;
        char *tok, *json;
        int64_t v = 0;
        json_t *claims;

        (void) state;
        FIXTURE_OR_SKIP(tok, "azureguest-aks-2022.jwt", len);
        assert_int_equal(len, 5126);
        assert_int_equal(tok[len - 1], '\n');
        assert_int_equal(jose_decode_unverified(tok, len, &t, &e), -EBADMSG);
        assert_null(t);
        assert_int_equal(jose_decode_unverified(tok, len - 1, &t, &e), 0);
        assert_string_equal(jose_token_get0_alg(t), "RS256");
        assert_string_equal(jose_token_get0_kid(t), "XxRc2vLh1E5FrsNawnRH3PzuFgqg3q7NvCdnjoJHBGE=");
        assert_string_equal(jose_token_get0_iss(t), "https://sharedwus.wus.attest.azure.net");
        assert_string_equal(jose_token_get0_jti(t),
                            "a241cac19aae204ef52e39c2d6b5d2c70e1e2c1aeac4ad9bf86aa1781267adc4");
        assert_int_equal(jose_token_get_iat(t, &v), 0);
        assert_int_equal(v, 1662584687);
        assert_int_equal(jose_token_get_nbf(t, &v), 0);
        assert_int_equal(v, 1662584687);
        assert_int_equal(jose_token_get_exp(t, &v), 0);
        assert_int_equal(v, 1662613487);
        claims = jose_token_get0_claims(t);
        assert_string_equal(json_string_value(json_object_get(json_object_get(
                json_object_get(claims, "x-ms-runtime"), "client-payload"), "nonce")), "MTIzNA==");
        assert_string_equal(json_string_value(json_object_get(json_object_get(
                claims, "x-ms-isolation-tee"), "x-ms-attestation-type")), "sevsnpvm");
        assert_memory_equal(jose_token_get0_raw(t, &jlen), tok, len - 1);
        assert_int_equal(jlen, len - 1);
        jose_token_free(t);

        json = fixture_read("jwks-sharedwus-recording.json", &jlen);
        if (json) {
                struct jose_verify_opts o = {
                        .issuer = "https://sharedwus.wus.attest.azure.net",
                        .now = 1662584687, .skew = 60, .nonce = "MTIzNA==",
                };

                assert_int_equal(jose_jwks_parse(json, jlen, &jwks, &e), 0);
                assert_int_equal(jose_verify(tok, len - 1, jwks, &o, NULL, &e), -ENOKEY);
                assert_reason(e, "XxRc2vLh1E5FrsNawnRH3PzuFgqg3q7NvCdnjoJHBGE=");
                jose_jwks_free(jwks);
                free(json);
        }
        free(tok);
}

static void test_real_sevsnp_token(void **state)
{
        struct jose_token *t = NULL;
        struct err e = { "" };
        size_t len = 0;
        int64_t exp = 0, iat = 0;
        char *tok;

        (void) state;
        FIXTURE_OR_SKIP(tok, "sevsnpvm-testinstance.jwt", len);
        assert_int_equal(jose_decode_unverified(tok, len, &t, &e), 0);
        assert_string_equal(jose_token_get0_iss(t), "https://sharedweu.weu.test.attest.azure.net");
        assert_int_equal(jose_token_get_exp(t, &exp), 0);
        assert_int_equal(jose_token_get_iat(t, &iat), 0);
        assert_int_equal(exp - iat, 28800);
        assert_int_equal(json_integer_value(json_object_get(jose_token_get0_claims(t),
                                                            "x-ms-sevsnpvm-vmpl")), 0);
        jose_token_free(t);
        free(tok);
}

/* ---- signature and algorithm tests ---- */

static void test_valid(void **state)
{
        struct jose_jwks *jwks = test_jwks();
        struct jose_token *t = NULL;
        struct err e = { "" };
        char *tok = good_token();
        int64_t v = 0;

        (void) state;
        assert_int_equal(jose_jwks_count(jwks), 2);
        assert_int_equal(jose_jwks_usable_count(jwks), 1);
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 1), "kty 'EC'"));
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &default_opts, &t, &e), 0);
        assert_string_equal(jose_token_get0_kid(t), KID);
        assert_string_equal(jose_token_get0_iss(t), ISS);
        assert_string_equal(jose_token_get0_jti(t), "a241cac19aae204ef52e39c2d6b5d2c7");
        assert_int_equal(jose_token_get_exp(t, &v), 0);
        assert_int_equal(v, NOW - 100 + 28800);
        assert_string_equal(json_string_value(json_object_get(jose_token_get0_header(t), "typ")),
                            "JWT");
        assert_string_equal(jose_token_get0_raw(t, NULL), tok);
        jose_token_free(t);
        /* ret may be NULL */
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &default_opts, NULL, &e), 0);
        jose_jwks_free(jwks);
        free(tok);
}

/* Ensure that algorithms other than RS256 fail with -EPERM before any key
 * is looked up, even with a kid the JWKS does not know. */
static void test_alg_rejected(void **state)
{
        static const struct {
                const char *alg;
                enum sig_kind kind;
        } cases[] = {
                { "none", SIG_NONE }, { "none", SIG_RS256 }, { "HS256", SIG_HS256_PEM },
                { "HS256", SIG_HS256_DER }, { "RS384", SIG_RS384 }, { "PS256", SIG_PS256 },
                { "ES256", SIG_ES256 }, { "rs256", SIG_RS256 }, { "RS256 ", SIG_RS256 },
                { "HS384", SIG_HS256_DER }, { "RS512", SIG_RS384 },
        };
        char *c = default_claims();
        size_t i;

        (void) state;
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *kids[] = { KID, "unknown" };
                size_t j;

                for (j = 0; j < 2; j++) {
                        char *h = header_for(cases[i].alg, kids[j]), *tok;
                        struct err e = { "" };
                        EVP_PKEY *pkey = cases[i].kind == SIG_ES256 ? key_ec.pkey : key_main.pkey;
                        int r;

                        tok = make_token_with(h, c, pkey, cases[i].kind);
                        r = verify(tok, &e);
                        if (cases[i].kind == SIG_NONE) {
                                /* an empty signature part is already malformed */
                                assert_int_equal(r, -EBADMSG);
                        } else {
                                assert_int_equal(r, -EPERM);
                                assert_reason(e, "is not allowed");
                        }
                        free(h);
                        free(tok);
                }
        }
        free(c);
}

static void test_alg_missing_or_not_string(void **state)
{
        char *c = default_claims();
        struct err e = { "" };

        (void) state;
        assert_int_equal(verify_hc("{\"kid\":\"" KID "\"}", c, &e), -EBADMSG);
        assert_reason(e, "no 'alg'");
        assert_int_equal(verify_hc("{\"alg\":256,\"kid\":\"" KID "\"}", c, &e), -EBADMSG);
        assert_int_equal(verify_hc("{\"alg\":null,\"kid\":\"" KID "\"}", c, &e), -EBADMSG);
        free(c);
}

static void test_crit(void **state)
{
        char *c = default_claims();
        struct err e = { "" };

        (void) state;
        assert_int_equal(verify_hc("{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"crit\":[\"exp\"],"
                                   "\"exp\":1}", c, &e), -EPERM);
        assert_reason(e, "crit");
        assert_int_equal(verify_hc("{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"crit\":[]}", c, &e),
                         -EPERM);
        free(c);
}

/* Ensure that a token signed by another key with its own key material in
 * jku/x5u/jwk/x5c header members is not accepted. */
static void test_header_keys_ignored(void **state)
{
        char *c = default_claims(), *h = NULL, *tok;
        struct err e = { "" };

        (void) state;
        assert_true(asprintf(&h, "{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"jku\":\"https://x/\","
                             "\"x5u\":\"https://x/c\",\"x5c\":[\"%s\"],\"jwk\":{\"kty\":\"RSA\","
                             "\"n\":\"%s\",\"e\":\"%s\"}}", key_other.x5c, key_other.n,
                             key_other.e) > 0);
        tok = make_token_with(h, c, key_other.pkey, SIG_RS256);
        assert_int_equal(verify(tok, &e), -EPERM);
        assert_reason(e, "does not verify");
        free(tok);
        /* the same header signed by the pinned key verifies: members ignored */
        tok = make_token(h, c);
        assert_int_equal(verify(tok, &e), 0);
        free(tok);
        free(h);
        free(c);
}

static void test_tampered(void **state)
{
        char *tok = good_token(), *dot1, *dot2, *copy;
        struct err e = { "" };
        size_t len = strlen(tok);

        (void) state;
        dot1 = strchr(tok, '.');
        dot2 = strchr(dot1 + 1, '.');

        /* payload: other valid claims (a longer lifetime) under the old signature */
        {
                char *c = claims_for(NOW - 100, NOW - 100, NOW + 999999, ""), *cb = b64url_str(c);

                copy = NULL;
                assert_true(asprintf(&copy, "%.*s.%s%s", (int) (dot1 - tok), tok, cb, dot2) > 0);
                assert_int_equal(verify(copy, &e), -EPERM);
                assert_reason(e, "does not verify");
                free(copy);
                free(cb);
                free(c);
        }

        /* signature: change the first character */
        copy = strdup(tok);
        copy[dot2 - tok + 1] = copy[dot2 - tok + 1] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(copy, &e), -EPERM);
        assert_reason(e, "does not verify");
        free(copy);

        /* truncated signature: its first 255 bytes, re-encoded; and extended */
        {
                uint8_t *sig = NULL, ext[257];
                size_t sig_len = 0;
                char *enc;

                assert_int_equal(b64_decode(dot2 + 1, len - (size_t) (dot2 + 1 - tok), B64_URL,
                                            &sig, &sig_len), 0);
                assert_int_equal(sig_len, 256);
                enc = b64_encode(sig, 255, B64_URL);
                copy = NULL;
                assert_true(asprintf(&copy, "%.*s.%s", (int) (dot2 - tok), tok, enc) > 0);
                assert_int_equal(verify(copy, &e), -EPERM);
                assert_reason(e, "signature is 255 bytes");
                free(copy);
                free(enc);
                ext[0] = 0;
                memcpy(ext + 1, sig, 256);
                enc = b64_encode(ext, sizeof(ext), B64_URL);
                copy = NULL;
                assert_true(asprintf(&copy, "%.*s.%s", (int) (dot2 - tok), tok, enc) > 0);
                assert_int_equal(verify(copy, &e), -EPERM);
                assert_reason(e, "signature is 257 bytes");
                free(copy);
                free(enc);
                free(sig);
        }

        free(tok);
}

static void test_kid(void **state)
{
        char *c = default_claims(), *h;
        struct err e = { "" };

        (void) state;
        h = header_for("RS256", "unknown-kid");
        assert_int_equal(verify_hc(h, c, &e), -ENOKEY);
        assert_reason(e, "unknown-kid");
        free(h);
        /* kids are opaque exact strings */
        h = header_for("RS256", "J0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0");
        assert_int_equal(verify_hc(h, c, &e), -ENOKEY);
        free(h);
        /* a kid known as a skipped (EC) entry is not a refetch case */
        h = header_for("RS256", "ec1");
        assert_int_equal(verify_hc(h, c, &e), -EPERM);
        assert_reason(e, "unusable");
        free(h);
        assert_int_equal(verify_hc("{\"alg\":\"RS256\"}", c, &e), -EBADMSG);
        assert_reason(e, "no 'kid'");
        assert_int_equal(verify_hc("{\"alg\":\"RS256\",\"kid\":\"\"}", c, &e), -EBADMSG);
        assert_int_equal(verify_hc("{\"alg\":\"RS256\",\"kid\":7}", c, &e), -EBADMSG);
        free(c);
}

/* Ensure that a 1024-bit key listed in the JWKS is refused at verify time. */
static void test_small_key(void **state)
{
        char *entry_main = jwk_entry(&key_main, "main"), *entry = jwk_entry(&key_small, "small");
        char *json = NULL, *h = header_for("RS256", "small"), *c = default_claims(), *tok;
        struct jose_jwks *jwks;
        struct err e = { "" };

        (void) state;
        assert_true(asprintf(&json, "{\"keys\":[%s,%s]}", entry_main, entry) > 0);
        jwks = jwks_from(json);
        assert_int_equal(jose_jwks_usable_count(jwks), 1);
        tok = make_token_with(h, c, key_small.pkey, SIG_RS256);
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &default_opts, NULL, &e), -EPERM);
        assert_reason(e, "1024 bits");
        jose_jwks_free(jwks);
        free(json);
        free(entry_main);
        free(entry);
        free(h);
        free(c);
        free(tok);
}

/* ---- claims ---- */

static void test_issuer(void **state)
{
        char *c;
        struct err e = { "" };

        (void) state;
        c = claims_for(NOW, NOW, NOW + 100, "");
        assert_int_equal(verify_claims(c, &e), 0);
        free(c);
        assert_int_equal(verify_claims("{\"exp\":1700000100,\"iat\":1700000000,\"nbf\":1700000000,"
                                       "\"iss\":\"" ISS "/\"}", &e), -EPERM);
        assert_reason(e, "is not the pinned");
        assert_int_equal(verify_claims("{\"exp\":1700000100,\"iat\":1700000000,\"nbf\":1700000000,"
                                       "\"iss\":\"https://SHAREDEUS2.eus2.attest.azure.net\"}", &e),
                         -EPERM);
        assert_int_equal(verify_claims("{\"exp\":1700000100,\"iat\":1700000000,\"nbf\":1700000000,"
                                       "\"iss\":\"https://sharedeus2.eus2.attest.azure.net.evil\"}",
                                       &e), -EPERM);
        assert_int_equal(verify_claims("{\"exp\":1700000100,\"iat\":1700000000,\"nbf\":1700000000}",
                                       &e), -EBADMSG);
        assert_reason(e, "'iss' is missing");
        assert_int_equal(verify_claims("{\"exp\":1700000100,\"iat\":1700000000,\"nbf\":1700000000,"
                                       "\"iss\":[\"" ISS "\"]}", &e), -EBADMSG);
}

static int verify_times_at(int64_t iat, int64_t nbf, int64_t exp, int64_t now, struct err *e)
{
        struct jose_verify_opts o = default_opts;
        char *c = claims_for(iat, nbf, exp, ""), *h = header_for("RS256", KID), *tok;
        int r;

        o.now = (time_t) now;
        tok = make_token(h, c);
        r = verify_opts(tok, &o, e);
        free(tok);
        free(h);
        free(c);
        return r;
}

/* Ensure the window nbf - skew <= now < exp + skew, iat <= now + skew,
 * exactly at its edges (skew 60). */
static void test_times(void **state)
{
        const int64_t t0 = NOW, exp = NOW + 28800;
        struct err e = { "" };

        (void) state;
        assert_int_equal(verify_times_at(t0, t0, exp, exp + 59, &e), 0);
        assert_int_equal(verify_times_at(t0, t0, exp, exp + 60, &e), -EKEYEXPIRED);
        assert_reason(e, "expired");
        assert_int_equal(verify_times_at(t0, t0, exp, exp + 100000, &e), -EKEYEXPIRED);
        assert_int_equal(verify_times_at(t0, t0, exp, t0 - 60, &e), 0);
        assert_int_equal(verify_times_at(t0, t0, exp, t0 - 61, &e), -ETIME);
        assert_reason(e, "not valid before");
        assert_int_equal(verify_times_at(t0 + 60, t0 - 1000, exp, t0, &e), 0);
        assert_int_equal(verify_times_at(t0 + 61, t0 - 1000, exp, t0, &e), -ETIME);
        assert_reason(e, "issued in the future");
        /* nbf/iat after exp is malformed */
        assert_int_equal(verify_times_at(t0, exp + 1, exp, t0, &e), -EBADMSG);
        assert_int_equal(verify_times_at(exp + 1, t0, exp, t0, &e), -EBADMSG);
}

static void test_skew_zero_and_max(void **state)
{
        struct jose_verify_opts o = default_opts;
        struct jose_jwks *jwks = test_jwks();
        char *c = claims_for(NOW, NOW, NOW + 10, ""), *h = header_for("RS256", KID), *tok;
        struct err e = { "" };

        (void) state;
        tok = make_token(h, c);
        o.skew = 0;
        o.now = NOW + 9;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), 0);
        o.now = NOW + 10;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EKEYEXPIRED);
        o.now = NOW - 1;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -ETIME);
        /* extreme clocks do not overflow */
        o.skew = MAA_CLOCK_SKEW_S_MAX;
        o.now = (time_t) INT64_MAX;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EKEYEXPIRED);
        o.now = (time_t) INT64_MIN;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -ETIME);
        o.skew = MAA_CLOCK_SKEW_S_MAX + 1;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EINVAL);
        o = default_opts;
        o.issuer = NULL;
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EINVAL);
        assert_int_equal(jose_verify(tok, strlen(tok), NULL, &default_opts, NULL, &e), -EINVAL);
        assert_int_equal(jose_verify(NULL, 0, jwks, &default_opts, NULL, &e), -EINVAL);
        jose_jwks_free(jwks);
        free(tok);
        free(h);
        free(c);
}

static void test_time_claims_malformed(void **state)
{
        static const char *const bad[] = {
                /* missing */
                "{\"iss\":\"" ISS "\",\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":1700000100,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":1700000100,\"iat\":1700000000}",
                /* not integers */
                "{\"iss\":\"" ISS "\",\"exp\":1700000100.0,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":1.7000001e9,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":\"1700000100\",\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":null,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":true,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":1700000100,\"iat\":[1],\"nbf\":1700000000}",
                /* negative / absurd / overflowing */
                "{\"iss\":\"" ISS "\",\"exp\":1700000100,\"iat\":1700000000,\"nbf\":-1}",
                "{\"iss\":\"" ISS "\",\"exp\":253402300800,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":9223372036854775807,\"iat\":1700000000,\"nbf\":1700000000}",
                "{\"iss\":\"" ISS "\",\"exp\":99999999999999999999,\"iat\":1700000000,\"nbf\":1700000000}",
        };
        size_t i;

        (void) state;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct err e = { "" };

                if (verify_claims(bad[i], &e) != -EBADMSG)
                        fail_msg("case %zu: %s", i, e.msg);
        }
}

static void test_nonce(void **state)
{
        struct jose_verify_opts o = default_opts;
        struct jose_jwks *jwks = test_jwks();
        char *h = header_for("RS256", KID), *c, *tok;
        struct err e = { "" };

        (void) state;
        c = claims_for(NOW, NOW, NOW + 100, ",\"x-ms-runtime\":{\"client-payload\":"
                       "{\"other\":\"x\",\"num\":5,\"nonce\":\"MTIzNA==\"},\"keys\":[]}");
        tok = make_token(h, c);
        o.nonce = "MTIzNA==";
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), 0);
        o.nonce = "x";          /* any value of the object counts */
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), 0);
        o.nonce = "MTIzNA";     /* exact string: no base64 normalisation */
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        assert_reason(e, "expected nonce");
        o.nonce = "1234";
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        o.nonce = "5";          /* non-string values never match */
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        o.nonce = "";
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        free(tok);
        free(c);

        /* no client-payload at all, or not an object */
        tok = good_token();
        o.nonce = "MTIzNA==";
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        assert_reason(e, "no x-ms-runtime.client-payload");
        free(tok);
        c = claims_for(NOW, NOW, NOW + 100, ",\"x-ms-runtime\":{\"client-payload\":\"MTIzNA==\"}");
        tok = make_token(h, c);
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), -EPERM);
        free(tok);
        free(c);
        /* an empty client-payload matches the empty nonce only if a value is "" */
        c = claims_for(NOW, NOW, NOW + 100, ",\"x-ms-runtime\":{\"client-payload\":{\"nonce\":\"\"}}");
        tok = make_token(h, c);
        o.nonce = "";
        assert_int_equal(jose_verify(tok, strlen(tok), jwks, &o, NULL, &e), 0);
        free(tok);
        free(c);
        free(h);
        jose_jwks_free(jwks);
}

/* ---- structure ---- */

static void test_duplicates(void **state)
{
        char *c = default_claims();
        struct err e = { "" };

        (void) state;
        assert_int_equal(verify_hc("{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"alg\":\"none\"}", c, &e),
                         -EBADMSG);
        assert_reason(e, "duplicate");
        assert_int_equal(verify_claims("{\"iss\":\"" ISS "\",\"exp\":1700000100,\"iat\":1700000000,"
                                       "\"nbf\":1700000000,\"iss\":\"https://evil\"}", &e), -EBADMSG);
        assert_reason(e, "duplicate");
        free(c);
}

static void test_not_objects(void **state)
{
        char *c = default_claims(), *h = header_for("RS256", KID);
        struct err e = { "" };

        (void) state;
        assert_int_equal(verify_hc("[\"RS256\"]", c, &e), -EBADMSG);
        assert_int_equal(verify_hc("\"RS256\"", c, &e), -EBADMSG);
        assert_int_equal(verify_hc(h, "[1]", &e), -EBADMSG);
        assert_int_equal(verify_hc(h, "{\"a\":1} x", &e), -EBADMSG);
        assert_int_equal(verify_hc(h, "{\"a\":\"\\u0000\"}", &e), -EBADMSG);
        assert_int_equal(verify_hc(h, "{\"a\":\"\xff\"}", &e), -EBADMSG);
        free(c);
        free(h);
}

static void test_oversized(void **state)
{
        size_t pad = JWT_MAX_BYTES;
        char *c, *h = header_for("RS256", KID), *extra = malloc(pad + 32), *tok;
        struct err e = { "" };

        (void) state;
        assert_non_null(extra);
        strcpy(extra, ",\"pad\":\"");
        memset(extra + strlen(extra), 'a', pad);
        strcpy(extra + 8 + pad, "\"");
        c = claims_for(NOW, NOW, NOW + 100, extra);
        tok = make_token(h, c);
        assert_true(strlen(tok) > JWT_MAX_BYTES);
        assert_int_equal(verify(tok, &e), -E2BIG);
        assert_int_equal(jose_decode_unverified(tok, strlen(tok), &(struct jose_token *){ NULL }, &e),
                         -E2BIG);
        free(tok);
        free(c);
        free(extra);
        free(h);
}

/* Apply edit() to a good token, expect -EBADMSG from verify and decode. */
static void expect_malformed(const char *tok, const char *what)
{
        struct jose_token *t = NULL;
        struct err e = { "" };
        int r;

        r = verify(tok, &e);
        if (r != -EBADMSG)
                fail_msg("%s: verify returned %d (%s)", what, r, e.msg);
        r = jose_decode_unverified(tok, strlen(tok), &t, &e);
        if (r != -EBADMSG)
                fail_msg("%s: decode returned %d (%s)", what, r, e.msg);
        assert_null(t);
}

static char *splice(const char *tok, size_t at, size_t del, const char *ins)
{
        char *s = NULL;

        assert_true(asprintf(&s, "%.*s%s%s", (int) at, tok, ins, tok + at + del) > 0);
        return s;
}

static void test_bad_base64url(void **state)
{
        char *tok = good_token(), *s;
        size_t d1 = (size_t) (strchr(tok, '.') - tok), d2 = (size_t) (strrchr(tok, '.') - tok);
        size_t len = strlen(tok);

        (void) state;
        s = splice(tok, d1, 0, "=");
        expect_malformed(s, "padding in header");
        free(s);
        s = splice(tok, len, 0, "==");
        expect_malformed(s, "padding in signature");
        free(s);
        s = splice(tok, d1 + 3, 1, "+");
        expect_malformed(s, "'+' in payload");
        free(s);
        s = splice(tok, 2, 1, "/");
        expect_malformed(s, "'/' in header");
        free(s);
        s = splice(tok, d2 + 4, 0, " ");
        expect_malformed(s, "space in signature");
        free(s);
        s = splice(tok, len, 0, "\n");
        expect_malformed(s, "trailing newline");
        free(s);
        s = splice(tok, 0, 0, " ");
        expect_malformed(s, "leading space");
        free(s);
        s = splice(tok, d1 + 1, 0, "\t");
        expect_malformed(s, "tab in payload");
        free(s);
        s = splice(tok, d1 + 1, 0, "*");
        expect_malformed(s, "stray char");
        free(s);
        assert_int_equal((len - d2 - 1) % 4, 2);
        s = splice(tok, len, 0, "AAA");
        expect_malformed(s, "impossible length");
        free(s);
        /* embedded NUL: the length still covers it */
        s = strdup(tok);
        s[1] = '\0';
        assert_int_equal(jose_decode_unverified(s, len, &(struct jose_token *){ NULL }, NULL),
                         -EBADMSG);
        free(s);
        /* non-zero unused bits in the last character of the header */
        {
                /* 26 bytes encode to 35 characters: the last carries 2 unused bits */
                const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"ab\"}";
                char *enc = b64url_str(hdr), *c = default_claims(), *cb = b64url_str(c), *t2 = NULL;
                size_t el = strlen(enc);

                assert_int_not_equal(el % 4, 0);
                enc[el - 1] = (char) (enc[el - 1] + 1);
                assert_true(asprintf(&t2, "%s.%s.%s", enc, cb, tok + d2 + 1) > 0);
                expect_malformed(t2, "non-zero trailing bits");
                free(t2);
                free(enc);
                free(c);
                free(cb);
        }
        free(tok);
}

static void test_parts(void **state)
{
        char *tok = good_token(), *s;
        size_t d1 = (size_t) (strchr(tok, '.') - tok), d2 = (size_t) (strrchr(tok, '.') - tok);
        size_t len = strlen(tok);

        (void) state;
        s = strndup(tok, d2);
        expect_malformed(s, "two parts");
        free(s);
        s = splice(tok, len, 0, ".AAAA");
        expect_malformed(s, "four parts");
        free(s);
        s = splice(tok, len, 0, ".");
        expect_malformed(s, "trailing dot");
        free(s);
        s = splice(tok, 0, d1, "");
        expect_malformed(s, "empty header");
        free(s);
        s = splice(tok, d1 + 1, d2 - d1 - 1, "");
        expect_malformed(s, "empty payload");
        free(s);
        s = strndup(tok, d2 + 1);
        expect_malformed(s, "empty signature");
        free(s);
        expect_malformed("..", "only dots");
        expect_malformed("", "empty");
        expect_malformed("abc", "one part");
        free(tok);
}

/* ---- JWKS ---- */

static int jwks_parse_str(const char *json, struct err *e)
{
        struct jose_jwks *jwks = NULL;
        int r;

        r = jose_jwks_parse(json, strlen(json), &jwks, e);
        if (r == 0)
                assert_non_null(jwks);
        else
                assert_null(jwks);
        jose_jwks_free(jwks);
        return r;
}

static void test_jwks_n_e(void **state)
{
        char *json = NULL;
        struct err e = { "" };

        (void) state;
        /* x5c with agreeing n/e, alg and use */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"alg\":\"RS256\","
                             "\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\",\"x5c\":[\"%s\"]}]}",
                             key_main.n, key_main.e, key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), 0);
        free(json);
        /* n of another key */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\","
                             "\"e\":\"%s\",\"x5c\":[\"%s\"]}]}",
                             key_other.n, key_main.e, key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        assert_reason(e, "'n' does not match");
        free(json);
        /* e differs */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\","
                             "\"e\":\"Aw\",\"x5c\":[\"%s\"]}]}", key_main.n, key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        assert_reason(e, "'e' does not match");
        free(json);
        /* only n */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\","
                             "\"x5c\":[\"%s\"]}]}", key_main.n, key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        free(json);
        /* n not base64url */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"a+b/\","
                             "\"e\":\"AQAB\",\"x5c\":[\"%s\"]}]}", key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        free(json);
}

static void test_jwks_skips(void **state)
{
        char *json = NULL, *good = jwk_entry(&key_main, "good");
        struct jose_jwks *jwks;

        (void) state;
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\"},"
                             "{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                             "{\"kty\":\"RSA\",\"x5c\":[\"%s\"]},"
                             "{\"kty\":\"RSA\",\"kid\":\"d\",\"alg\":\"RS384\",\"x5c\":[\"%s\"]},"
                             "{\"kty\":\"RSA\",\"kid\":\"e\",\"use\":\"enc\",\"x5c\":[\"%s\"]},"
                             "{\"kty\":\"oct\",\"kid\":\"f\",\"k\":\"c2VjcmV0\"},"
                             "%s],\"extra\":1}", key_main.x5c, key_main.x5c, key_main.x5c,
                             good) > 0);
        jwks = jwks_from(json);
        assert_int_equal(jose_jwks_count(jwks), 7);
        assert_int_equal(jose_jwks_usable_count(jwks), 1);
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 0), "kty 'EC'"));
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 1), "no x5c"));
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 2), "no kid"));
        assert_null(jose_jwks_get0_kid(jwks, 2));
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 3), "alg 'RS384'"));
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 4), "use 'enc'"));
        assert_non_null(strstr(jose_jwks_get0_skip_reason(jwks, 5), "kty 'oct'"));
        assert_null(jose_jwks_get0_skip_reason(jwks, 6));
        assert_string_equal(jose_jwks_get0_kid(jwks, 6), "good");
        jose_jwks_free(jwks);
        free(json);
        free(good);
}

static void test_jwks_malformed(void **state)
{
        char *json = NULL, *good = jwk_entry(&key_main, "good"), *big;
        struct err e = { "" };
        size_t i;

        (void) state;
        assert_int_equal(jwks_parse_str("", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("[]", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{}", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":{}}", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[]}", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[1]}", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kid\":\"x\"}]}", &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":1}]}", &e), -EBADMSG);
        /* only skipped keys */
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\"}]}", &e), -EBADMSG);
        assert_reason(e, "no usable");
        /* x5c problems */
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[]}]}", &e),
                         -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":\"MII\"}]}",
                                        &e), -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[1]}]}", &e),
                         -EBADMSG);
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[\"AAAA\"]}]}",
                                        &e), -EBADMSG);
        assert_reason(e, "not a DER X.509");
        assert_int_equal(jwks_parse_str("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[\"A-_A\"]}]}",
                                        &e), -EBADMSG);
        /* base64url is not accepted in x5c (std base64 per RFC 7517) */
        free(json);
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[\"%s\",\"*\"]}]}",
                             key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        assert_reason(e, "x5c[1]");
        free(json);
        /* DER with trailing garbage: append "AAAA" (3 zero bytes) */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[\"%sAAAA\"]}]}",
                             key_main.x5c) > 0);
        if (strchr(key_main.x5c, '=') == NULL) {
                assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
                assert_reason(e, "not a DER X.509");
        }
        free(json);
        /* EC certificate under kty RSA */
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":[\"%s\"]}]}",
                             key_ec.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        assert_reason(e, "RSA public key");
        free(json);
        /* duplicate kid, duplicate member */
        assert_true(asprintf(&json, "{\"keys\":[%s,%s]}", good, good) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        assert_reason(e, "duplicate kid");
        free(json);
        assert_true(asprintf(&json, "{\"keys\":[%s],\"keys\":[]}", good) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -EBADMSG);
        free(json);
        /* too many keys */
        big = strdup("{\"keys\":[");
        for (i = 0; i <= JWKS_KEYS_MAX; i++) {
                char *n = NULL;

                assert_true(asprintf(&n, "%s%s{\"kty\":\"EC\",\"kid\":\"k%zu\"}", big,
                                     i ? "," : "", i) > 0);
                free(big);
                big = n;
        }
        json = NULL;
        assert_true(asprintf(&json, "%s]}", big) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -E2BIG);
        free(json);
        free(big);
        /* too long kid, too long chain */
        big = malloc(JWKS_KID_MAX + 2);
        memset(big, 'k', JWKS_KID_MAX + 1);
        big[JWKS_KID_MAX + 1] = '\0';
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"%s\"}]}", big) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -E2BIG);
        free(json);
        free(big);
        assert_true(asprintf(&json, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"x5c\":"
                             "[\"%s\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"]}]}", key_main.x5c) > 0);
        assert_int_equal(jwks_parse_str(json, &e), -E2BIG);
        free(json);
        /* oversized document */
        big = malloc(JWKS_MAX_BYTES + 2);
        memset(big, ' ', JWKS_MAX_BYTES + 1);
        big[JWKS_MAX_BYTES + 1] = '\0';
        assert_int_equal(jwks_parse_str(big, &e), -E2BIG);
        free(big);
        assert_int_equal(jose_jwks_parse(NULL, 0, &(struct jose_jwks *){ NULL }, &e), -EINVAL);
        free(good);
}

static void test_accessors_null(void **state)
{
        int64_t v = 0;

        (void) state;
        assert_null(jose_jwks_free(NULL));
        assert_null(jose_token_free(NULL));
        assert_int_equal(jose_jwks_count(NULL), 0);
        assert_int_equal(jose_jwks_usable_count(NULL), 0);
        assert_null(jose_jwks_get0_kid(NULL, 0));
        assert_null(jose_jwks_get0_skip_reason(NULL, 0));
        assert_int_equal(jose_jwks_key_bits(NULL, 0), 0);
        assert_null(jose_token_get0_header(NULL));
        assert_null(jose_token_get0_claims(NULL));
        assert_null(jose_token_get0_raw(NULL, NULL));
        assert_null(jose_token_get0_alg(NULL));
        assert_null(jose_token_get0_kid(NULL));
        assert_null(jose_token_get0_iss(NULL));
        assert_null(jose_token_get0_jti(NULL));
        assert_int_equal(jose_token_get_iat(NULL, &v), -EINVAL);
        assert_int_equal(jose_token_get_nbf(NULL, &v), -EINVAL);
        assert_int_equal(jose_token_get_exp(NULL, &v), -EINVAL);
}

/* Ensure that decode_unverified tolerates what only verification rejects. */
static void test_decode_unverified_lenient_claims(void **state)
{
        char *h = header_for("HS256", "nope"), *tok;
        struct jose_token *t = NULL;
        struct err e = { "" };
        int64_t v = 0;

        (void) state;
        tok = make_token_with(h, "{\"exp\":1.5,\"crit\":1}", key_main.pkey, SIG_HS256_DER);
        assert_int_equal(jose_decode_unverified(tok, strlen(tok), &t, &e), 0);
        assert_string_equal(jose_token_get0_alg(t), "HS256");
        assert_null(jose_token_get0_iss(t));
        assert_int_equal(jose_token_get_exp(t, &v), -EBADMSG);
        assert_int_equal(jose_token_get_iat(t, &v), -ENODATA);
        jose_token_free(t);
        free(tok);
        free(h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_jwks),
                cmocka_unit_test(test_real_azureguest_token),
                cmocka_unit_test(test_real_sevsnp_token),
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_alg_rejected),
                cmocka_unit_test(test_alg_missing_or_not_string),
                cmocka_unit_test(test_crit),
                cmocka_unit_test(test_header_keys_ignored),
                cmocka_unit_test(test_tampered),
                cmocka_unit_test(test_kid),
                cmocka_unit_test(test_small_key),
                cmocka_unit_test(test_issuer),
                cmocka_unit_test(test_times),
                cmocka_unit_test(test_skew_zero_and_max),
                cmocka_unit_test(test_time_claims_malformed),
                cmocka_unit_test(test_nonce),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_not_objects),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_bad_base64url),
                cmocka_unit_test(test_parts),
                cmocka_unit_test(test_jwks_n_e),
                cmocka_unit_test(test_jwks_skips),
                cmocka_unit_test(test_jwks_malformed),
                cmocka_unit_test(test_accessors_null),
                cmocka_unit_test(test_decode_unverified_lenient_claims),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
