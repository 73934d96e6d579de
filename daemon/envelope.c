/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "daemon/defaults.h"
#include "daemon/envelope.h"
#include "proto/b64.h"

#define ENVELOPE_IV_BYTES       12
#define ENVELOPE_TAG_BYTES      16

static const char envelope_aad[] = "Transport Key";

struct envelope {
        uint8_t *inner_key;
        size_t inner_key_len;
        unsigned key_bits;
        uint8_t iv[ENVELOPE_IV_BYTES];
        uint8_t tag[ENVELOPE_TAG_BYTES];
        uint8_t *ciphertext;
        size_t ciphertext_len;
};

struct envelope *envelope_free(struct envelope *env)
{
        if (!env)
                return NULL;
        free(env->inner_key);
        free(env->ciphertext);
        free(env);
        return NULL;
}

/* Upper bound of the base64 length of n bytes (with padding). */
#define B64_LEN(n) (((size_t) (n) + 2) / 3 * 4)

/* Decode s as std base64 (padded) or base64url (with or without padding). */
static int decode_b64(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
        int r;

        r = b64_decode(s, len, B64_ANY, ret, ret_len);
        if (r != -EINVAL || len % 4 != 0 || len == 0 || s[len - 1] != '=')
                return r;
        /* base64url with padding */
        len -= s[len - 2] == '=' ? 2 : 1;
        return b64_decode(s, len, B64_URL, ret, ret_len);
}

/* The base64 string member obj.name, decoded, of at most max bytes. */
static int get_b64(const json_t *obj, const char *name, size_t max,
                   uint8_t **ret, size_t *ret_len, struct err *e)
{
        json_t *v = json_object_get(obj, name);
        uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        if (!v)
                return err_set(e, -EBADMSG, "'%s' is missing", name);
        if (!json_is_string(v))
                return err_set(e, -EBADMSG, "'%s' is not a string", name);
        if (json_string_length(v) > B64_LEN(max))
                return err_set(e, -E2BIG, "'%s' is longer than %zu bytes", name, max);
        r = decode_b64(json_string_value(v), json_string_length(v), &buf, &len);
        if (r == -ENOMEM)
                return err_set(e, r, "out of memory");
        if (r < 0)
                return err_set(e, -EBADMSG, "'%s' is not valid base64", name);
        if (len > max) {
                free(buf);
                return err_set(e, -E2BIG, "'%s' is longer than %zu bytes", name, max);
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* A fixed-size base64 member decoded into out. */
static int get_b64_exact(const json_t *obj, const char *name, uint8_t *out, size_t n,
                         struct err *e)
{
        uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        /* decode a little more than n so that a wrong size is reported as such */
        r = get_b64(obj, name, 4 * n, &buf, &len, e);
        if (r < 0)
                return r;
        if (len != n) {
                free(buf);
                return err_set(e, -EBADMSG, "'%s' is %zu bytes, expected %zu", name, len, n);
        }
        memcpy(out, buf, n);
        free(buf);
        return 0;
}

static int expect_string(const json_t *obj, const char *name, const char *want, struct err *e)
{
        json_t *v = json_object_get(obj, name);

        if (!v)
                return err_set(e, -EBADMSG, "'%s' is missing", name);
        if (!json_is_string(v))
                return err_set(e, -EBADMSG, "'%s' is not a string", name);
        if (strcmp(json_string_value(v), want) != 0)
                return err_set(e, -EBADMSG, "'%s' is '%.32s', expected '%s'",
                               name, json_string_value(v), want);
        return 0;
}

static int parse_params(const json_t *p, struct envelope *env, struct err *e)
{
        json_t *bits;
        int r;

        if (!json_is_object(p))
                return err_set(e, -EBADMSG, "'EncryptionParams' is %s",
                               p ? "not an object" : "missing");
        if ((r = expect_string(p, "BlockMode", "ChainingModeGCM", e)) < 0 ||
            (r = expect_string(p, "BlockPadding", "PKCS7", e)) < 0 ||
            (r = expect_string(p, "Cipher", "AES", e)) < 0)
                return err_prefix(e, r, "EncryptionParams");
        bits = json_object_get(p, "KeySizeInBits");
        if (!json_is_integer(bits))
                return err_set(e, -EBADMSG, "EncryptionParams: 'KeySizeInBits' is %s",
                               bits ? "not an integer" : "missing");
        switch (json_integer_value(bits)) {
        case 128:
        case 192:
        case 256:
                env->key_bits = (unsigned) json_integer_value(bits);
                break;
        default:
                return err_set(e, -EBADMSG, "EncryptionParams: 'KeySizeInBits' %" JSON_INTEGER_FORMAT
                               " is not 128, 192 or 256", json_integer_value(bits));
        }
        r = get_b64_exact(p, "Iv", env->iv, sizeof(env->iv), e);
        if (r < 0)
                return err_prefix(e, r, "EncryptionParams");
        return 0;
}

static int parse_object(const json_t *root, struct envelope **ret, struct err *e)
{
        struct envelope *env = NULL;
        int r;

        if (!json_is_object(root))
                return err_set(e, -EBADMSG, "envelope is not a JSON object");
        env = calloc(1, sizeof(*env));
        if (!env)
                return err_set(e, -ENOMEM, "out of memory");
        r = get_b64(root, "EncryptedInnerKey", ENVELOPE_INNER_KEY_BYTES + 1,
                    &env->inner_key, &env->inner_key_len, e);
        if (r < 0)
                goto out;
        if (env->inner_key_len == ENVELOPE_INNER_KEY_BYTES + 1 && env->inner_key[0] == 0) {
                memmove(env->inner_key, env->inner_key + 1, ENVELOPE_INNER_KEY_BYTES);
                env->inner_key_len--;
        }
        if (env->inner_key_len != ENVELOPE_INNER_KEY_BYTES) {
                r = err_set(e, -EBADMSG, "'EncryptedInnerKey' is %zu bytes, expected %d",
                            env->inner_key_len, ENVELOPE_INNER_KEY_BYTES);
                goto out;
        }
        r = parse_params(json_object_get(root, "EncryptionParams"), env, e);
        if (r < 0)
                goto out;
        r = get_b64_exact(root, "AuthenticationData", env->tag, sizeof(env->tag), e);
        if (r < 0)
                goto out;
        r = get_b64(root, "Jwt", JWT_MAX_BYTES, &env->ciphertext, &env->ciphertext_len, e);
        if (r < 0)
                goto out;
        if (env->ciphertext_len == 0) {
                r = err_set(e, -EBADMSG, "'Jwt' is empty");
                goto out;
        }
        *ret = env;
        env = NULL;
out:
        envelope_free(env);
        return r;
}

static int load_object(const char *buf, size_t len, const char *what, json_t **ret,
                       struct err *e)
{
        json_error_t jerr;

        *ret = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!*ret)
                return err_set(e, -EBADMSG, "%s is not valid JSON: %s (line %d, column %d)",
                               what, jerr.text, jerr.line, jerr.column);
        return 0;
}

int envelope_parse(const char *json, size_t len, struct envelope **ret, struct err *e)
{
        json_t *root = NULL;
        int r;

        if (!json || !ret)
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > ENVELOPE_RESPONSE_MAX_BYTES)
                return err_set(e, -E2BIG, "envelope is larger than %d bytes",
                               ENVELOPE_RESPONSE_MAX_BYTES);
        r = load_object(json, len, "envelope", &root, e);
        if (r < 0)
                return r;
        r = parse_object(root, ret, e);
        json_decref(root);
        return r;
}

int envelope_parse_response(const char *body, size_t len, struct envelope **ret,
                            struct err *e)
{
        json_t *root = NULL, *token;
        uint8_t *inner = NULL;
        size_t inner_len = 0;
        int r;

        if (!body || !ret)
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > ENVELOPE_RESPONSE_MAX_BYTES)
                return err_set(e, -E2BIG, "response is larger than %d bytes",
                               ENVELOPE_RESPONSE_MAX_BYTES);
        r = load_object(body, len, "response", &root, e);
        if (r < 0)
                return r;
        token = json_object_get(root, "token");
        if (!json_is_object(root) || !json_is_string(token)) {
                r = err_set(e, -EBADMSG, "response has no 'token' string");
                goto out;
        }
        r = decode_b64(json_string_value(token), json_string_length(token), &inner, &inner_len);
        if (r < 0) {
                r = err_set(e, r == -ENOMEM ? r : -EBADMSG,
                            "response 'token' is not valid base64url");
                goto out;
        }
        r = envelope_parse((const char *) inner, inner_len, ret, e);
out:
        free(inner);
        json_decref(root);
        return r;
}

const uint8_t *envelope_get0_encrypted_key(const struct envelope *env, size_t *ret_len)
{
        if (!env)
                return NULL;
        if (ret_len)
                *ret_len = env->inner_key_len;
        return env->inner_key;
}

unsigned envelope_key_bits(const struct envelope *env)
{
        return env ? env->key_bits : 0;
}

/* A compact JWS: base64url characters and exactly two dots, no empty part. */
static bool is_compact_jws(const uint8_t *p, size_t len)
{
        size_t i, dots = 0, part = 0;

        for (i = 0; i < len; i++) {
                uint8_t c = p[i];

                if (c == '.') {
                        if (part == 0)
                                return false;
                        dots++;
                        part = 0;
                } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_') {
                        part++;
                } else {
                        return false;
                }
        }
        return dots == 2 && part > 0;
}

int envelope_open(const struct envelope *env, const uint8_t *aes_key, size_t keylen,
                  char **ret_jwt, size_t *ret_len, struct err *e)
{
        const EVP_CIPHER *cipher;
        EVP_CIPHER_CTX *ctx = NULL;
        uint8_t *out = NULL;
        int n = 0, fin = 0, r;

        if (!env || !aes_key || !ret_jwt || !ret_len)
                return err_set(e, -EINVAL, "invalid arguments");
        if (keylen != env->key_bits / 8)
                return err_set(e, -EINVAL, "AES key is %zu bytes, envelope says %u bits",
                               keylen, env->key_bits);
        cipher = env->key_bits == 128 ? EVP_aes_128_gcm() :
                 env->key_bits == 192 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
        out = malloc(env->ciphertext_len + 1);
        ctx = EVP_CIPHER_CTX_new();
        if (!out || !ctx) {
                r = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        if (EVP_DecryptInit_ex(ctx, cipher, NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ENVELOPE_IV_BYTES, NULL) != 1 ||
            EVP_DecryptInit_ex(ctx, NULL, NULL, aes_key, env->iv) != 1 ||
            EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *) envelope_aad,
                              (int) strlen(envelope_aad)) != 1 ||
            EVP_DecryptUpdate(ctx, out, &n, env->ciphertext, (int) env->ciphertext_len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENVELOPE_TAG_BYTES,
                                (void *) env->tag) != 1) {
                r = err_set(e, -ENOMEM, "cannot set up AES-GCM decryption");
                goto out;
        }
        if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1) {
                r = err_set(e, -EKEYREJECTED, "AES-GCM authentication of the token failed");
                goto out;
        }
        n += fin;
        if (!is_compact_jws(out, (size_t) n)) {
                r = err_set(e, -EBADMSG, "decrypted token is not a compact JWS");
                goto out;
        }
        out[n] = '\0';
        *ret_jwt = (char *) out;
        *ret_len = (size_t) n;
        out = NULL;
        r = 0;
out:
        if (out) {
                OPENSSL_cleanse(out, env->ciphertext_len);
                free(out);
        }
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        return r;
}
