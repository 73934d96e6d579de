/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "daemon/defaults.h"
#include "daemon/jose.h"
#include "proto/b64.h"

struct jwk {
        char *kid;              /* NULL if the entry had none */
        char *skip_reason;      /* NULL if usable */
        EVP_PKEY *pkey;         /* NULL if skipped before loading a key */
        unsigned bits;
};

struct jose_jwks {
        struct jwk *keys;
        size_t n_keys;
        size_t n_usable;
};

struct jose_token {
        char *raw;              /* NUL-terminated copy of the compact JWS */
        size_t raw_len;
        size_t signing_input_len;       /* length of "header.payload" */
        uint8_t *sig;
        size_t sig_len;
        json_t *header;
        json_t *claims;
};

/* ---- helpers ---- */

static int decode_json_object(const uint8_t *buf, size_t len, const char *what,
                              json_t **ret, struct err *e)
{
        json_error_t jerr;
        json_t *v;

        v = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!v)
                return err_set(e, -EBADMSG, "%s is not valid JSON: %s (line %d, column %d)",
                               what, jerr.text, jerr.line, jerr.column);
        if (!json_is_object(v)) {
                json_decref(v);
                return err_set(e, -EBADMSG, "%s is not a JSON object", what);
        }
        *ret = v;
        return 0;
}

/* An optional string member: 0 (and *ret, possibly NULL if absent) or
 * -EBADMSG if present with another type. */
static int get_opt_string(const json_t *obj, const char *key, const char *what,
                          const char **ret, struct err *e)
{
        json_t *v = json_object_get(obj, key);

        if (!v) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return err_set(e, -EBADMSG, "%s '%s' is not a string", what, key);
        *ret = json_string_value(v);
        return 0;
}

/* ---- JWKS ---- */

static void jwk_done(struct jwk *k)
{
        free(k->kid);
        free(k->skip_reason);
        EVP_PKEY_free(k->pkey);
}

struct jose_jwks *jose_jwks_free(struct jose_jwks *jwks)
{
        size_t i;

        if (!jwks)
                return NULL;
        for (i = 0; i < jwks->n_keys; i++)
                jwk_done(&jwks->keys[i]);
        free(jwks->keys);
        free(jwks);
        return NULL;
}

static int jwk_skip(struct jwk *k, const char *reason)
{
        k->skip_reason = strdup(reason);
        return k->skip_reason ? 0 : -ENOMEM;
}

/* Compare the JWK member n or e (base64url big-endian) with the key's. */
static int check_rsa_param(const json_t *entry, const char *member, const char *param,
                           const EVP_PKEY *pkey, struct err *e)
{
        const char *s = json_string_value(json_object_get(entry, member));
        BIGNUM *want = NULL, *have = NULL;
        uint8_t *bin = NULL;
        size_t bin_len = 0;
        int r;

        r = b64_decode(s, strlen(s), B64_URL, &bin, &bin_len);
        if (r == -ENOMEM)
                goto out;
        if (r < 0 || bin_len == 0) {
                r = err_set(e, -EBADMSG, "'%s' is not valid base64url", member);
                goto out;
        }
        if (bin_len > JWT_RSA_BITS_MAX / 8) {
                r = err_set(e, -E2BIG, "'%s' is longer than %d bytes", member,
                            JWT_RSA_BITS_MAX / 8);
                goto out;
        }
        want = BN_bin2bn(bin, (int) bin_len, NULL);
        if (!want || EVP_PKEY_get_bn_param(pkey, param, &have) != 1) {
                r = err_set(e, -ENOMEM, "cannot read RSA parameter '%s'", member);
                goto out;
        }
        if (BN_cmp(want, have) != 0) {
                r = err_set(e, -EBADMSG, "'%s' does not match the key in x5c[0]", member);
                goto out;
        }
        r = 0;
out:
        BN_free(want);
        BN_free(have);
        free(bin);
        return r;
}

/* Load the RSA key of x5c[0] into k and check the x5c array. */
static int jwk_load_x5c(struct jwk *k, const json_t *entry, const json_t *x5c, struct err *e)
{
        const unsigned char *p;
        uint8_t *der = NULL;
        size_t der_len = 0, i;
        X509 *cert = NULL;
        json_t *v;
        int r = 0;

        if (!json_is_array(x5c) || json_array_size(x5c) == 0)
                return err_set(e, -EBADMSG, "'x5c' is not a non-empty array");
        if (json_array_size(x5c) > JWKS_X5C_CHAIN_MAX)
                return err_set(e, -E2BIG, "'x5c' has more than %d certificates",
                               JWKS_X5C_CHAIN_MAX);
        json_array_foreach(x5c, i, v) {
                const char *s = json_string_value(v);

                if (!s) {
                        r = err_set(e, -EBADMSG, "x5c[%zu] is not a string", i);
                        goto out;
                }
                if (json_string_length(v) > (JWKS_CERT_MAX_BYTES + 2) / 3 * 4) {
                        r = err_set(e, -E2BIG, "x5c[%zu] is larger than %d bytes",
                                    i, JWKS_CERT_MAX_BYTES);
                        goto out;
                }
                free(der);
                der = NULL;
                r = b64_decode(s, json_string_length(v), B64_STD, &der, &der_len);
                if (r == -ENOMEM)
                        goto out;
                if (r < 0 || der_len == 0) {
                        r = err_set(e, -EBADMSG, "x5c[%zu] is not valid base64", i);
                        goto out;
                }
                if (i > 0)
                        continue;
                p = der;
                cert = d2i_X509(NULL, &p, (long) der_len);
                if (!cert || p != der + der_len) {
                        r = err_set(e, -EBADMSG, "x5c[0] is not a DER X.509 certificate");
                        goto out;
                }
                k->pkey = X509_get_pubkey(cert);
                if (!k->pkey || !EVP_PKEY_is_a(k->pkey, "RSA")) {
                        r = err_set(e, -EBADMSG, "x5c[0] does not hold an RSA public key");
                        goto out;
                }
        }
        k->bits = (unsigned) EVP_PKEY_get_bits(k->pkey);
        if (json_object_get(entry, "n") || json_object_get(entry, "e")) {
                if (!json_is_string(json_object_get(entry, "n")) ||
                    !json_is_string(json_object_get(entry, "e"))) {
                        r = err_set(e, -EBADMSG, "'n' and 'e' must both be strings");
                        goto out;
                }
                r = check_rsa_param(entry, "n", OSSL_PKEY_PARAM_RSA_N, k->pkey, e);
                if (r < 0)
                        goto out;
                r = check_rsa_param(entry, "e", OSSL_PKEY_PARAM_RSA_E, k->pkey, e);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        X509_free(cert);
        free(der);
        ERR_clear_error();
        return r;
}

/* Fill k from one element of "keys". Fails only on malformed entries;
 * unsupported ones get a skip reason. */
static int jwk_parse(struct jwk *k, const json_t *entry, struct err *e)
{
        const char *kty = NULL, *kid = NULL, *alg = NULL, *use = NULL;
        char reason[128];
        json_t *x5c;
        int r;

        if (!json_is_object(entry))
                return err_set(e, -EBADMSG, "not a JSON object");
        if ((r = get_opt_string(entry, "kty", "member", &kty, e)) < 0 ||
            (r = get_opt_string(entry, "kid", "member", &kid, e)) < 0 ||
            (r = get_opt_string(entry, "alg", "member", &alg, e)) < 0 ||
            (r = get_opt_string(entry, "use", "member", &use, e)) < 0)
                return r;
        if (!kty)
                return err_set(e, -EBADMSG, "no 'kty'");
        if (kid && *kid) {
                if (strlen(kid) > JWKS_KID_MAX)
                        return err_set(e, -E2BIG, "'kid' is longer than %d bytes", JWKS_KID_MAX);
                k->kid = strdup(kid);
                if (!k->kid)
                        return -ENOMEM;
        }
        x5c = json_object_get(entry, "x5c");
        if (strcmp(kty, "RSA") != 0) {
                (void) snprintf(reason, sizeof(reason), "kty '%.32s' is not supported", kty);
                return jwk_skip(k, reason);
        }
        if (!k->kid)
                return jwk_skip(k, "no kid");
        if (alg && strcmp(alg, "RS256") != 0) {
                (void) snprintf(reason, sizeof(reason), "alg '%.32s' is not RS256", alg);
                return jwk_skip(k, reason);
        }
        if (use && strcmp(use, "sig") != 0) {
                (void) snprintf(reason, sizeof(reason), "use '%.32s' is not sig", use);
                return jwk_skip(k, reason);
        }
        if (!x5c)
                return jwk_skip(k, "no x5c certificate");
        r = jwk_load_x5c(k, entry, x5c, e);
        if (r < 0)
                return r;
        if (k->bits < JWT_RSA_BITS_MIN || k->bits > JWT_RSA_BITS_MAX) {
                (void) snprintf(reason, sizeof(reason),
                                "RSA key of %u bits is outside %d..%d bits",
                                k->bits, JWT_RSA_BITS_MIN, JWT_RSA_BITS_MAX);
                return jwk_skip(k, reason);
        }
        return 0;
}

static const struct jwk *jwks_find(const struct jose_jwks *jwks, const char *kid)
{
        size_t i;

        for (i = 0; i < jwks->n_keys; i++)
                if (jwks->keys[i].kid && strcmp(jwks->keys[i].kid, kid) == 0)
                        return &jwks->keys[i];
        return NULL;
}

int jose_jwks_parse(const char *json, size_t len, struct jose_jwks **ret, struct err *e)
{
        struct jose_jwks *jwks = NULL;
        json_t *root = NULL, *keys, *entry;
        size_t i, n;
        int r;

        if (!json || !ret)
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > JWKS_MAX_BYTES)
                return err_set(e, -E2BIG, "JWKS is larger than %d bytes", JWKS_MAX_BYTES);
        r = decode_json_object((const uint8_t *) json, len, "JWKS", &root, e);
        if (r < 0)
                return r;
        keys = json_object_get(root, "keys");
        if (!json_is_array(keys)) {
                r = err_set(e, -EBADMSG, "JWKS has no 'keys' array");
                goto out;
        }
        n = json_array_size(keys);
        if (n == 0) {
                r = err_set(e, -EBADMSG, "JWKS 'keys' is empty");
                goto out;
        }
        if (n > JWKS_KEYS_MAX) {
                r = err_set(e, -E2BIG, "JWKS has more than %d keys", JWKS_KEYS_MAX);
                goto out;
        }
        jwks = calloc(1, sizeof(*jwks));
        if (!jwks || !(jwks->keys = calloc(n, sizeof(*jwks->keys)))) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(keys, i, entry) {
                struct jwk *k = &jwks->keys[i];

                jwks->n_keys = i + 1;
                r = jwk_parse(k, entry, e);
                if (r < 0) {
                        if (r == -ENOMEM)
                                (void) err_set(e, r, "out of memory");
                        r = err_prefix(e, r, "JWKS key %zu", i);
                        goto out;
                }
                if (k->kid && jwks_find(jwks, k->kid) != k) {
                        r = err_set(e, -EBADMSG, "JWKS key %zu: duplicate kid '%s'", i, k->kid);
                        goto out;
                }
                if (!k->skip_reason)
                        jwks->n_usable++;
        }
        if (jwks->n_usable == 0) {
                r = err_set(e, -EBADMSG, "JWKS has no usable RS256 key (key 0: %s)",
                            jwks->keys[0].skip_reason);
                goto out;
        }
        *ret = jwks;
        jwks = NULL;
        r = 0;
out:
        jose_jwks_free(jwks);
        json_decref(root);
        return r;
}

size_t jose_jwks_count(const struct jose_jwks *jwks)
{
        return jwks ? jwks->n_keys : 0;
}

size_t jose_jwks_usable_count(const struct jose_jwks *jwks)
{
        return jwks ? jwks->n_usable : 0;
}

const char *jose_jwks_get0_kid(const struct jose_jwks *jwks, size_t i)
{
        return jwks && i < jwks->n_keys ? jwks->keys[i].kid : NULL;
}

const char *jose_jwks_get0_skip_reason(const struct jose_jwks *jwks, size_t i)
{
        return jwks && i < jwks->n_keys ? jwks->keys[i].skip_reason : NULL;
}

unsigned jose_jwks_key_bits(const struct jose_jwks *jwks, size_t i)
{
        return jwks && i < jwks->n_keys ? jwks->keys[i].bits : 0;
}

/* ---- tokens ---- */

struct jose_token *jose_token_free(struct jose_token *t)
{
        if (!t)
                return NULL;
        free(t->raw);
        free(t->sig);
        json_decref(t->header);
        json_decref(t->claims);
        free(t);
        return NULL;
}

static int decode_part(const char *s, size_t len, const char *what,
                       uint8_t **ret, size_t *ret_len, struct err *e)
{
        int r;

        if (len == 0)
                return err_set(e, -EBADMSG, "JWS %s is empty", what);
        r = b64_decode(s, len, B64_URL, ret, ret_len);
        if (r == -ENOMEM)
                return err_set(e, r, "out of memory");
        if (r < 0)
                return err_set(e, -EBADMSG, "JWS %s is not valid unpadded base64url", what);
        return 0;
}

/* Split, decode and check the structure of a compact JWS. */
static int token_parse(const char *jws, size_t len, struct jose_token **ret, struct err *e)
{
        const char *dot1, *dot2;
        struct jose_token *t = NULL;
        uint8_t *buf = NULL;
        size_t buf_len = 0;
        const char *alg = NULL, *kid = NULL;
        int r;

        if (!jws || !ret)
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > JWT_MAX_BYTES)
                return err_set(e, -E2BIG, "token is larger than %d bytes", JWT_MAX_BYTES);
        dot1 = memchr(jws, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - jws)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - jws)))
                return err_set(e, -EBADMSG, "token does not have exactly three dot-separated parts");

        t = calloc(1, sizeof(*t));
        if (!t || !(t->raw = malloc(len + 1))) {
                r = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        memcpy(t->raw, jws, len);
        t->raw[len] = '\0';
        t->raw_len = len;
        t->signing_input_len = (size_t) (dot2 - jws);

        r = decode_part(jws, (size_t) (dot1 - jws), "header", &buf, &buf_len, e);
        if (r < 0)
                goto out;
        r = decode_json_object(buf, buf_len, "JWS header", &t->header, e);
        if (r < 0)
                goto out;
        free(buf);
        buf = NULL;
        r = decode_part(dot1 + 1, (size_t) (dot2 - dot1 - 1), "payload", &buf, &buf_len, e);
        if (r < 0)
                goto out;
        r = decode_json_object(buf, buf_len, "JWT claims", &t->claims, e);
        if (r < 0)
                goto out;
        r = decode_part(dot2 + 1, len - (size_t) (dot2 + 1 - jws), "signature",
                        &t->sig, &t->sig_len, e);
        if (r < 0)
                goto out;

        r = get_opt_string(t->header, "alg", "header", &alg, e);
        if (r < 0)
                goto out;
        if (!alg) {
                r = err_set(e, -EBADMSG, "header has no 'alg'");
                goto out;
        }
        r = get_opt_string(t->header, "kid", "header", &kid, e);
        if (r < 0)
                goto out;
        *ret = t;
        t = NULL;
out:
        free(buf);
        jose_token_free(t);
        return r;
}

int jose_decode_unverified(const char *jws, size_t len, struct jose_token **ret,
                           struct err *e)
{
        return token_parse(jws, len, ret, e);
}

/* A time claim: 0, -ENODATA (absent) or -EBADMSG. */
static int claim_time(const json_t *claims, const char *name, int64_t *ret, struct err *e)
{
        json_t *v = json_object_get(claims, name);
        json_int_t x;

        if (!v)
                return err_set(e, -ENODATA, "claim '%s' is missing", name);
        if (!json_is_integer(v))
                return err_set(e, -EBADMSG, "claim '%s' is not an integer", name);
        x = json_integer_value(v);
        if (x < 0 || x > JWT_TIME_MAX)
                return err_set(e, -EBADMSG, "claim '%s' (%" JSON_INTEGER_FORMAT
                               ") is outside 0..%lld", name, x, JWT_TIME_MAX);
        *ret = (int64_t) x;
        return 0;
}

static int verify_signature(const struct jose_token *t, const struct jwk *k, struct err *e)
{
        EVP_MD_CTX *md = NULL;
        EVP_PKEY_CTX *pctx = NULL;
        int r;

        if ((size_t) EVP_PKEY_get_size(k->pkey) != t->sig_len)
                return err_set(e, -EPERM, "signature is %zu bytes, key '%s' needs %d",
                               t->sig_len, k->kid, EVP_PKEY_get_size(k->pkey));
        md = EVP_MD_CTX_new();
        if (!md) {
                r = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, k->pkey) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
                r = err_set(e, -ENOMEM, "cannot set up RS256 verification");
                goto out;
        }
        r = EVP_DigestVerify(md, t->sig, t->sig_len, (const unsigned char *) t->raw,
                             t->signing_input_len);
        if (r != 1) {
                r = err_set(e, -EPERM, "RS256 signature does not verify with key '%s'", k->kid);
                goto out;
        }
        r = 0;
out:
        EVP_MD_CTX_free(md);
        ERR_clear_error();
        return r;
}

static int check_nonce(const json_t *claims, const char *nonce, struct err *e)
{
        json_t *payload, *v;
        const char *key;

        payload = json_object_get(json_object_get(claims, "x-ms-runtime"), "client-payload");
        if (!json_is_object(payload))
                return err_set(e, -EPERM, "nonce expected but the token has no "
                               "x-ms-runtime.client-payload object");
        json_object_foreach(payload, key, v)
                if (json_is_string(v) && strcmp(json_string_value(v), nonce) == 0)
                        return 0;
        return err_set(e, -EPERM, "no x-ms-runtime.client-payload value equals the expected nonce");
}

static int check_claims(const json_t *claims, const struct jose_verify_opts *o, struct err *e)
{
        int64_t exp = 0, nbf = 0, iat = 0, now = (int64_t) o->now, skew = o->skew;
        const char *iss = NULL;
        int r;

        r = get_opt_string(claims, "iss", "claim", &iss, e);
        if (r < 0)
                return r;
        if (!iss)
                return err_set(e, -EBADMSG, "claim 'iss' is missing");
        if (strcmp(iss, o->issuer) != 0)
                return err_set(e, -EPERM, "issuer '%.200s' is not the pinned '%.200s'",
                               iss, o->issuer);
        if ((r = claim_time(claims, "exp", &exp, e)) < 0 ||
            (r = claim_time(claims, "nbf", &nbf, e)) < 0 ||
            (r = claim_time(claims, "iat", &iat, e)) < 0)
                return r == -ENODATA ? -EBADMSG : r;
        if (nbf > exp || iat > exp)
                return err_set(e, -EBADMSG, "nbf (%" PRId64 ") or iat (%" PRId64
                               ") is after exp (%" PRId64 ")", nbf, iat, exp);
        if (now >= exp + skew)
                return err_set(e, -EKEYEXPIRED, "token expired at %" PRId64 " (now %" PRId64
                               ", skew %" PRId64 " s)", exp, now, skew);
        if (now < nbf - skew)
                return err_set(e, -ETIME, "token not valid before %" PRId64 " (now %" PRId64
                               ", skew %" PRId64 " s)", nbf, now, skew);
        if (iat - skew > now)   /* not now + skew: now is the caller's, unbounded */
                return err_set(e, -ETIME, "token issued in the future at %" PRId64
                               " (now %" PRId64 ", skew %" PRId64 " s)", iat, now, skew);
        if (o->nonce)
                return check_nonce(claims, o->nonce, e);
        return 0;
}

int jose_verify(const char *jws, size_t len, const struct jose_jwks *keys,
                const struct jose_verify_opts *opts, struct jose_token **ret,
                struct err *e)
{
        struct jose_token *t = NULL;
        const struct jwk *k;
        const char *alg = NULL, *kid = NULL;
        int r;

        if (!keys || !opts || !opts->issuer || opts->skew > MAA_CLOCK_SKEW_S_MAX)
                return err_set(e, -EINVAL, "invalid verification options");
        r = token_parse(jws, len, &t, e);
        if (r < 0)
                goto out;
        /* algorithm and header policy first, before any key is touched */
        alg = jose_token_get0_alg(t);
        if (strcmp(alg, "RS256") != 0) {
                r = err_set(e, -EPERM, "alg '%.32s' is not allowed (only RS256)", alg);
                goto out;
        }
        if (json_object_get(t->header, "crit")) {
                r = err_set(e, -EPERM, "header has 'crit'; no critical extension is supported");
                goto out;
        }
        kid = jose_token_get0_kid(t);
        if (!kid || !*kid) {
                r = err_set(e, -EBADMSG, "header has no 'kid'");
                goto out;
        }
        k = jwks_find(keys, kid);
        if (!k) {
                r = err_set(e, -ENOKEY, "kid '%.64s' is not in the JWKS", kid);
                goto out;
        }
        if (k->skip_reason) {
                r = err_set(e, -EPERM, "JWKS key '%.64s' is unusable: %s", kid, k->skip_reason);
                goto out;
        }
        r = verify_signature(t, k, e);
        if (r < 0)
                goto out;
        r = check_claims(t->claims, opts, e);
        if (r < 0)
                goto out;
        if (ret) {
                *ret = t;
                t = NULL;
        }
out:
        jose_token_free(t);
        return r;
}

json_t *jose_token_get0_header(const struct jose_token *t)
{
        return t ? t->header : NULL;
}

json_t *jose_token_get0_claims(const struct jose_token *t)
{
        return t ? t->claims : NULL;
}

const char *jose_token_get0_raw(const struct jose_token *t, size_t *ret_len)
{
        if (!t)
                return NULL;
        if (ret_len)
                *ret_len = t->raw_len;
        return t->raw;
}

const char *jose_token_get0_alg(const struct jose_token *t)
{
        return t ? json_string_value(json_object_get(t->header, "alg")) : NULL;
}

const char *jose_token_get0_kid(const struct jose_token *t)
{
        return t ? json_string_value(json_object_get(t->header, "kid")) : NULL;
}

const char *jose_token_get0_iss(const struct jose_token *t)
{
        return t ? json_string_value(json_object_get(t->claims, "iss")) : NULL;
}

const char *jose_token_get0_jti(const struct jose_token *t)
{
        return t ? json_string_value(json_object_get(t->claims, "jti")) : NULL;
}

int jose_token_get_iat(const struct jose_token *t, int64_t *ret)
{
        return t ? claim_time(t->claims, "iat", ret, NULL) : -EINVAL;
}

int jose_token_get_nbf(const struct jose_token *t, int64_t *ret)
{
        return t ? claim_time(t->claims, "nbf", ret, NULL) : -EINVAL;
}

int jose_token_get_exp(const struct jose_token *t, int64_t *ret)
{
        return t ? claim_time(t->claims, "exp", ret, NULL) : -EINVAL;
}
