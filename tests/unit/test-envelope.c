/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for daemon/envelope.c: sealed AzureGuest responses built in the
 * test with OpenSSL AES-GCM (AAD "Transport Key"), and their failure modes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "daemon/defaults.h"
#include "daemon/envelope.h"
#include "proto/b64.h"

#define JWT "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"

static const uint8_t key256[32] = {
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const uint8_t iv12[12] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88 };

/* What a sealed response is built from; tests tweak one field at a time. */
struct seal {
        const uint8_t *key;
        size_t keylen;
        int key_bits;                   /* KeySizeInBits written */
        const uint8_t *iv;
        size_t ivlen;
        const char *aad;
        const char *plaintext;
        size_t inner_key_len;           /* 256, or 257 with a leading 0 */
        enum b64_variant enc;           /* encoding of the base64 fields */
        const char *block_mode, *padding, *cipher;
        bool flip_tag;
};

static struct seal seal_default(void)
{
        return (struct seal) {
                .key = key256, .keylen = 32, .key_bits = 256, .iv = iv12, .ivlen = 12,
                .aad = "Transport Key", .plaintext = JWT, .inner_key_len = 256,
                .enc = B64_STD, .block_mode = "ChainingModeGCM", .padding = "PKCS7",
                .cipher = "AES",
        };
}

static const EVP_CIPHER *gcm_for(size_t keylen)
{
        return keylen == 16 ? EVP_aes_128_gcm() : keylen == 24 ? EVP_aes_192_gcm() :
               EVP_aes_256_gcm();
}

static char *enc(const void *p, size_t n, enum b64_variant v)
{
        char *s = b64_encode(p, n, v);

        assert_non_null(s);
        return s;
}

/* The envelope JSON for s. */
static char *seal_envelope(const struct seal *s)
{
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        size_t ptlen = strlen(s->plaintext);
        uint8_t *ct = malloc(ptlen + 16), tag[16], inner[257];
        char *ct_b64, *tag_b64, *iv_b64, *key_b64, *json = NULL;
        int n = 0;

        assert_non_null(ctx);
        assert_non_null(ct);
        assert_int_equal(EVP_EncryptInit_ex(ctx, gcm_for(s->keylen), NULL, NULL, NULL), 1);
        assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int) s->ivlen, NULL), 1);
        assert_int_equal(EVP_EncryptInit_ex(ctx, NULL, NULL, s->key, s->iv), 1);
        assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *) s->aad,
                                           (int) strlen(s->aad)), 1);
        assert_int_equal(EVP_EncryptUpdate(ctx, ct, &n, (const uint8_t *) s->plaintext,
                                           (int) ptlen), 1);
        assert_int_equal(EVP_EncryptFinal_ex(ctx, ct + n, &n), 1);
        assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
        EVP_CIPHER_CTX_free(ctx);
        if (s->flip_tag)
                tag[15] ^= 1;
        memset(inner, 0xa5, sizeof(inner));
        inner[0] = 0;
        ct_b64 = enc(ct, ptlen, s->enc);
        tag_b64 = enc(tag, 16, s->enc);
        iv_b64 = enc(s->iv, s->ivlen, s->enc);
        key_b64 = enc(inner, s->inner_key_len, s->enc);
        assert_true(asprintf(&json, "{\"EncryptedInnerKey\":\"%s\",\"EncryptionParams\":"
                             "{\"BlockMode\":\"%s\",\"BlockPadding\":\"%s\",\"Cipher\":\"%s\","
                             "\"KeySizeInBits\":%d,\"Iv\":\"%s\"},\"AuthenticationData\":\"%s\","
                             "\"Jwt\":\"%s\",\"FutureField\":{\"x\":[1]}}",
                             key_b64, s->block_mode, s->padding, s->cipher, s->key_bits, iv_b64,
                             tag_b64, ct_b64) > 0);
        free(ct);
        free(ct_b64);
        free(tag_b64);
        free(iv_b64);
        free(key_b64);
        return json;
}

/* The HTTP body {"token": base64url(envelope)}. */
static char *seal_response(const struct seal *s)
{
        char *env = seal_envelope(s), *tok = enc(env, strlen(env), B64_URL), *body = NULL;

        assert_true(asprintf(&body, "{\"token\":\"%s\"}", tok) > 0);
        free(env);
        free(tok);
        return body;
}

/* Parse the response for s and open it with s->key; returns the result. */
static int open_seal(const struct seal *s, const uint8_t *key, size_t keylen, char **ret_jwt,
                     struct err *e)
{
        char *body = seal_response(s), *jwt = NULL;
        struct envelope *env = NULL;
        size_t len = 0;
        int r;

        r = envelope_parse_response(body, strlen(body), &env, e);
        free(body);
        if (r < 0) {
                assert_null(env);
                return r;
        }
        r = envelope_open(env, key, keylen, &jwt, &len, e);
        envelope_free(env);
        if (r == 0) {
                assert_int_equal(strlen(jwt), len);
                *ret_jwt = jwt;
        } else {
                assert_null(jwt);
        }
        return r;
}

#define assert_reason(e, needle) do {                                           \
                if (!strstr((e).msg, (needle)))                                 \
                        fail_msg("reason '%s' lacks '%s'", (e).msg, (needle));  \
        } while (0)

static void test_round_trip(void **state)
{
        static const size_t lens[] = { 16, 24, 32 };
        struct err e = { "" };
        size_t i;

        (void) state;
        for (i = 0; i < 3; i++) {
                struct seal s = seal_default();
                char *jwt = NULL;

                s.keylen = lens[i];
                s.key_bits = (int) lens[i] * 8;
                assert_int_equal(open_seal(&s, key256, lens[i], &jwt, &e), 0);
                assert_string_equal(jwt, JWT);
                free(jwt);
        }
}

static void test_encodings(void **state)
{
        struct seal s = seal_default();
        struct envelope *env = NULL;
        struct err e = { "" };
        char *jwt = NULL, *json;
        size_t n = 0;
        const uint8_t *k;

        (void) state;
        /* base64url without padding in every field */
        s.enc = B64_URL;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), 0);
        assert_string_equal(jwt, JWT);
        free(jwt);
        /* a 257-byte inner key with a leading zero is stripped to 256 */
        s = seal_default();
        s.inner_key_len = 257;
        json = seal_envelope(&s);
        assert_int_equal(envelope_parse(json, strlen(json), &env, &e), 0);
        k = envelope_get0_encrypted_key(env, &n);
        assert_int_equal(n, 256);
        assert_int_equal(k[0], 0xa5);
        assert_int_equal(envelope_key_bits(env), 256);
        envelope_free(env);
        free(json);
}

static void test_auth_failures(void **state)
{
        struct seal s = seal_default();
        uint8_t other[32];
        struct err e = { "" };
        char *jwt = NULL;

        (void) state;
        s.flip_tag = true;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EKEYREJECTED);
        assert_reason(e, "authentication");
        s = seal_default();
        s.aad = "Transport Key\n";
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EKEYREJECTED);
        s.aad = "";
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EKEYREJECTED);
        s = seal_default();
        memcpy(other, key256, 32);
        other[0] ^= 0x80;
        assert_int_equal(open_seal(&s, other, 32, &jwt, &e), -EKEYREJECTED);
}

static void test_key_size(void **state)
{
        struct seal s = seal_default();
        struct err e = { "" };
        char *jwt = NULL;

        (void) state;
        /* the key length must match KeySizeInBits */
        assert_int_equal(open_seal(&s, key256, 16, &jwt, &e), -EINVAL);
        assert_reason(e, "16 bytes");
        s.keylen = 16;
        s.key_bits = 256;       /* sealed with AES-128 but claims 256 */
        assert_int_equal(open_seal(&s, key256, 16, &jwt, &e), -EINVAL);
        s = seal_default();
        s.key_bits = 512;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        assert_reason(e, "KeySizeInBits");
        s.key_bits = 0;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
}

static void test_bad_params(void **state)
{
        static const uint8_t iv16[16] = { 1 };
        struct seal s = seal_default();
        struct err e = { "" };
        char *jwt = NULL;

        (void) state;
        s.iv = iv16;
        s.ivlen = 16;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        assert_reason(e, "'Iv' is 16 bytes");
        s.ivlen = 8;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        s = seal_default();
        s.block_mode = "ChainingModeCBC";
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        assert_reason(e, "BlockMode");
        s = seal_default();
        s.padding = "None";
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        s = seal_default();
        s.cipher = "aes";
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        s = seal_default();
        s.inner_key_len = 255;
        assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), -EBADMSG);
        assert_reason(e, "EncryptedInnerKey");
}

static void test_not_jwt(void **state)
{
        static const char *const bad[] = {
                "hello world", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "a.b.c\n", "a.b=.c",
                "{\"alg\":\"none\"}",
        };
        struct err e = { "" };
        size_t i;

        (void) state;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct seal s = seal_default();
                char *jwt = NULL;

                s.plaintext = bad[i];
                if (open_seal(&s, key256, 32, &jwt, &e) != -EBADMSG)
                        fail_msg("plaintext '%s' accepted", bad[i]);
                assert_reason(e, "not a compact JWS");
        }
}

static int parse_env(const char *json, struct err *e)
{
        struct envelope *env = NULL;
        int r = envelope_parse(json, strlen(json), &env, e);

        if (r == 0)
                assert_non_null(env);
        else
                assert_null(env);
        envelope_free(env);
        return r;
}

/* Replace the first occurrence of from in the default envelope by to. */
static int parse_edited(const char *from, const char *to, struct err *e)
{
        struct seal s = seal_default();
        char *json = seal_envelope(&s), *p = strstr(json, from), *ed = NULL;
        int r;

        assert_non_null(p);
        assert_true(asprintf(&ed, "%.*s%s%s", (int) (p - json), json, to, p + strlen(from)) > 0);
        r = parse_env(ed, e);
        free(ed);
        free(json);
        return r;
}

static void test_missing_and_ill_typed(void **state)
{
        static const char *const members[] = {
                "\"EncryptedInnerKey\"", "\"EncryptionParams\"", "\"AuthenticationData\"",
                "\"Jwt\"", "\"BlockMode\"", "\"BlockPadding\"", "\"Cipher\"", "\"KeySizeInBits\"",
                "\"Iv\"",
        };
        struct err e = { "" };
        size_t i;

        (void) state;
        for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
                char renamed[64];

                (void) snprintf(renamed, sizeof(renamed), "\"X%s", members[i] + 1);
                if (parse_edited(members[i], renamed, &e) != -EBADMSG)
                        fail_msg("missing %s accepted", members[i]);
                assert_reason(e, "missing");
        }
        assert_int_equal(parse_edited("\"Jwt\":\"", "\"Jwt\":1,\"x\":\"", &e), -EBADMSG);
        assert_reason(e, "'Jwt' is not a string");
        assert_int_equal(parse_edited("\"EncryptionParams\":{", "\"EncryptionParams\":[],\"y\":{", &e),
                         -EBADMSG);
        assert_int_equal(parse_edited("\"KeySizeInBits\":256", "\"KeySizeInBits\":256.0", &e),
                         -EBADMSG);
        assert_int_equal(parse_edited("\"KeySizeInBits\":256", "\"KeySizeInBits\":\"256\"", &e),
                         -EBADMSG);
        assert_int_equal(parse_edited("\"Cipher\":\"AES\"", "\"Cipher\":null", &e), -EBADMSG);
        /* duplicates */
        assert_int_equal(parse_edited("\"Cipher\":\"AES\"", "\"Cipher\":\"AES\",\"Cipher\":\"AES\"",
                                      &e), -EBADMSG);
        assert_reason(e, "duplicate");
        /* empty ciphertext */
        assert_int_equal(parse_edited("\"Jwt\":\"", "\"Jwt\":\"\",\"z\":\"", &e), -EBADMSG);
        assert_int_equal(parse_env("[]", &e), -EBADMSG);
        assert_int_equal(parse_env("", &e), -EBADMSG);
}

static void test_bad_base64(void **state)
{
        struct err e = { "" };

        (void) state;
        assert_int_equal(parse_edited("\"Jwt\":\"", "\"Jwt\":\" ", &e), -EBADMSG);
        assert_reason(e, "'Jwt' is not valid base64");
        assert_int_equal(parse_edited("\"Iv\":\"", "\"Iv\":\"*", &e), -EBADMSG);
        assert_int_equal(parse_edited("\"AuthenticationData\":\"", "\"AuthenticationData\":\"A", &e),
                         -EBADMSG);
        /* mixing the two alphabets */
        assert_int_equal(parse_edited("\"Jwt\":\"", "\"Jwt\":\"-+AA", &e), -EBADMSG);
}

static void test_response(void **state)
{
        struct seal s = seal_default();
        struct envelope *env = NULL;
        struct err e = { "" };
        char *json = seal_envelope(&s), *b64, *body = NULL;
        size_t len;

        (void) state;
        assert_int_equal(envelope_parse_response("{}", 2, &env, &e), -EBADMSG);
        assert_int_equal(envelope_parse_response("{\"token\":5}", 11, &env, &e), -EBADMSG);
        assert_int_equal(envelope_parse_response("[\"token\"]", 9, &env, &e), -EBADMSG);
        assert_int_equal(envelope_parse_response("{\"token\":\"@@@\"}", 15, &env, &e), -EBADMSG);
        assert_reason(e, "base64url");
        assert_int_equal(envelope_parse_response("{\"token\":\"e30\"}", 15, &env, &e), -EBADMSG);
        assert_reason(e, "missing");
        /* base64url with '=' padding (Python's urlsafe_b64encode) and std */
        len = strlen(json);
        json = realloc(json, len + 3);
        assert_non_null(json);
        while (strlen(json) % 3 != 1) {
                /* make the padded encoding end with "==" */
                memmove(json + 1, json, strlen(json) + 1);
                json[0] = ' ';
        }
        for (int v = 0; v < 2; v++) {
                b64 = enc(json, strlen(json), v == 0 ? B64_URL : B64_STD);
                assert_true(asprintf(&body, "{\"token\":\"%s%s\",\"extra\":true}", b64,
                                     v == 0 ? "==" : "") > 0);
                assert_int_equal(envelope_parse_response(body, strlen(body), &env, &e), 0);
                env = envelope_free(env);
                free(body);
                free(b64);
        }
        free(json);
        /* oversized */
        body = malloc(ENVELOPE_RESPONSE_MAX_BYTES + 1);
        memset(body, ' ', ENVELOPE_RESPONSE_MAX_BYTES + 1);
        assert_int_equal(envelope_parse_response(body, ENVELOPE_RESPONSE_MAX_BYTES + 1, &env, &e),
                         -E2BIG);
        assert_int_equal(envelope_parse(body, ENVELOPE_RESPONSE_MAX_BYTES + 1, &env, &e), -E2BIG);
        free(body);
        assert_int_equal(envelope_parse_response(NULL, 0, &env, &e), -EINVAL);
}

static void test_oversized_ciphertext(void **state)
{
        struct seal s = seal_default();
        struct err e = { "" };
        char *pt = malloc(JWT_MAX_BYTES + 2), *json;

        (void) state;
        memset(pt, 'A', JWT_MAX_BYTES + 1);
        pt[1] = '.';
        pt[3] = '.';
        pt[JWT_MAX_BYTES + 1] = '\0';
        s.plaintext = pt;
        json = seal_envelope(&s);
        assert_int_equal(parse_env(json, &e), -E2BIG);
        assert_reason(e, "'Jwt'");
        free(json);
        /* exactly JWT_MAX_BYTES opens */
        pt[JWT_MAX_BYTES] = '\0';
        {
                char *jwt = NULL;

                assert_int_equal(open_seal(&s, key256, 32, &jwt, &e), 0);
                assert_int_equal(strlen(jwt), JWT_MAX_BYTES);
                free(jwt);
        }
        free(pt);
}

static void test_null_args(void **state)
{
        struct seal s = seal_default();
        struct envelope *env = NULL;
        char *json = seal_envelope(&s), *jwt = NULL;
        size_t len = 0;

        (void) state;
        assert_null(envelope_free(NULL));
        assert_null(envelope_get0_encrypted_key(NULL, &len));
        assert_int_equal(envelope_key_bits(NULL), 0);
        assert_int_equal(envelope_parse(json, strlen(json), &env, NULL), 0);
        assert_int_equal(envelope_open(NULL, key256, 32, &jwt, &len, NULL), -EINVAL);
        assert_int_equal(envelope_open(env, NULL, 32, &jwt, &len, NULL), -EINVAL);
        assert_int_equal(envelope_open(env, key256, 32, NULL, &len, NULL), -EINVAL);
        envelope_free(env);
        free(json);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_encodings),
                cmocka_unit_test(test_auth_failures),
                cmocka_unit_test(test_key_size),
                cmocka_unit_test(test_bad_params),
                cmocka_unit_test(test_not_jwt),
                cmocka_unit_test(test_missing_and_ill_typed),
                cmocka_unit_test(test_bad_base64),
                cmocka_unit_test(test_response),
                cmocka_unit_test(test_oversized_ciphertext),
                cmocka_unit_test(test_null_args),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
