/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_JOSE_H
#define ATTESTD_DAEMON_JOSE_H

/*
 * JWS (compact serialization) / JWT verification against a pinned JWKS, for
 * Microsoft Azure Attestation tokens. Pure: never logs, never does I/O;
 * errors are -errno plus a human message in struct err (may be NULL).
 *
 * Profile (AZURE-PROTOCOL.md §6):
 *   - exactly three non-empty base64url parts (no padding, no whitespace,
 *     no stray characters, zero unused bits), at most JWT_MAX_BYTES;
 *   - header and payload are JSON objects without duplicate member names;
 *   - alg must be "RS256" (RSASSA-PKCS1-v1_5 with SHA-256, 2048..8192-bit
 *     key); the alg check happens before any key is looked up;
 *   - a "crit" header is rejected; "jku"/"x5u"/"jwk"/"x5c" header members are
 *     ignored: the key is chosen only by "kid" from the caller's pinned JWKS;
 *   - exp, nbf and iat are required non-negative JSON integers.
 *
 * Trimming: these functions take the exact token bytes. A token read from a
 * file may end with a newline; stripping it is the file reader's business
 * (client/token-file.c), never the verifier's: inside the daemon the token
 * comes out of AES-GCM and any extra byte there is an error.
 *
 * Error contract of jose_verify() (what the daemon acts on):
 *   -EINVAL      bad arguments (NULL pointers, no issuer, skew too large)
 *   -E2BIG       token larger than JWT_MAX_BYTES
 *   -EBADMSG     malformed: structure, base64url, JSON, missing or ill-typed
 *                header members or claims (kid, iss, exp, nbf, iat)
 *   -ENOKEY      the header's kid is not in the JWKS (refetch the JWKS)
 *   -EPERM       rejected: alg other than RS256, crit present, key unusable
 *                (listed but skipped in the JWKS), bad signature, issuer
 *                mismatch, nonce absent or mismatched
 *   -EKEYEXPIRED now >= exp + skew
 *   -ETIME       not yet valid: now < nbf - skew, or iat > now + skew
 *                (points at a clock problem rather than a stale token)
 *   -ENOMEM      out of memory
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "proto/err.h"

struct jose_jwks;
struct jose_token;

/* ---- JWKS ---- */

/*
 * Parse a JWKS document {"keys":[{"kty":"RSA","kid":…,"x5c":[…]},…]}.
 * The public key of an RSA entry comes from x5c[0] (std base64 DER X.509);
 * if n/e are present too they must equal the certificate's. Entries that
 * cannot serve RS256 (other kty, no kid, no x5c, alg other than RS256, use
 * other than "sig", RSA key outside 2048..8192 bits) are kept as "skipped"
 * with a reason instead of failing the set. Malformed entries, duplicate
 * kids, or a set without any usable key fail the whole set.
 * Returns 0, -EBADMSG, -E2BIG (over JWKS_MAX_BYTES / JWKS_KEYS_MAX /
 * JWKS_CERT_MAX_BYTES / JWKS_X5C_CHAIN_MAX), -EINVAL or -ENOMEM.
 * [in] json: json[0..len), need not be NUL-terminated.
 * [out] ret: callee-allocated; free with jose_jwks_free().
 */
int jose_jwks_parse(const char *json, size_t len, struct jose_jwks **ret, struct err *e);

/* Accepts NULL; returns NULL. */
struct jose_jwks *jose_jwks_free(struct jose_jwks *jwks);

/* Number of entries (usable and skipped), and of usable keys. */
size_t jose_jwks_count(const struct jose_jwks *jwks);
size_t jose_jwks_usable_count(const struct jose_jwks *jwks);

/* Entry i < jose_jwks_count(): kid (borrowed; NULL if the entry had none),
 * why the entry was skipped (borrowed; NULL if usable), RSA key size in
 * bits (0 if no RSA key was loaded). */
const char *jose_jwks_get0_kid(const struct jose_jwks *jwks, size_t i);
const char *jose_jwks_get0_skip_reason(const struct jose_jwks *jwks, size_t i);
unsigned jose_jwks_key_bits(const struct jose_jwks *jwks, size_t i);

/* ---- tokens ---- */

struct jose_verify_opts {
        const char *issuer;     /* [in] required: exact match of "iss" */
        time_t now;             /* the current time (injectable) */
        unsigned skew;          /* allowed clock skew, <= MAA_CLOCK_SKEW_S_MAX */
        const char *nonce;      /* [in] optional: some string value of
                                 * x-ms-runtime.client-payload must equal it */
};

/*
 * Verify the compact JWS jws[0..len) (see the error contract above).
 * [in] keys: the pinned JWKS (borrowed).
 * [out] ret: may be NULL; on success the decoded token (callee-allocated;
 * free with jose_token_free()).
 */
int jose_verify(const char *jws, size_t len, const struct jose_jwks *keys,
                const struct jose_verify_opts *opts, struct jose_token **ret,
                struct err *e);

/*
 * Decode without verifying (attestctl inspect token). As strict as
 * jose_verify() about structure, base64url and JSON, and requires a string
 * "alg"; does not look at the algorithm, keys, claims or times.
 * Returns 0, -EINVAL, -E2BIG, -EBADMSG or -ENOMEM.
 * [out] ret: callee-allocated; free with jose_token_free().
 */
int jose_decode_unverified(const char *jws, size_t len, struct jose_token **ret,
                           struct err *e);

/* Accepts NULL; returns NULL. */
struct jose_token *jose_token_free(struct jose_token *t);

/* Borrowed, valid while t lives. */
json_t *jose_token_get0_header(const struct jose_token *t);
json_t *jose_token_get0_claims(const struct jose_token *t);
/* The compact token (NUL-terminated); *ret_len (may be NULL) its length. */
const char *jose_token_get0_raw(const struct jose_token *t, size_t *ret_len);
/* Header "alg"/"kid", claims "iss"/"jti": borrowed strings, NULL if absent
 * or not a string. */
const char *jose_token_get0_alg(const struct jose_token *t);
const char *jose_token_get0_kid(const struct jose_token *t);
const char *jose_token_get0_iss(const struct jose_token *t);
const char *jose_token_get0_jti(const struct jose_token *t);
/* Claims "iat"/"nbf"/"exp": 0 and *ret set, or -ENODATA if absent, -EBADMSG
 * if not an integer in [0, JWT_TIME_MAX]. Always 0 for verified tokens. */
int jose_token_get_iat(const struct jose_token *t, int64_t *ret);
int jose_token_get_nbf(const struct jose_token *t, int64_t *ret);
int jose_token_get_exp(const struct jose_token *t, int64_t *ret);

#endif
