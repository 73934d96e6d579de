/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_ENVELOPE_H
#define ATTESTD_DAEMON_ENVELOPE_H

/*
 * The sealed MAA AzureGuest response (AZURE-PROTOCOL.md §4). Pure: never
 * logs; errors are -errno plus a human message in struct err (may be NULL).
 *
 *   HTTP body:  {"token": "<base64url(envelope JSON)>"}
 *   envelope:   {"EncryptedInnerKey": b64 (RSA-2048 ciphertext of the AES key),
 *                "EncryptionParams": {"BlockMode": "ChainingModeGCM",
 *                        "BlockPadding": "PKCS7", "Cipher": "AES",
 *                        "KeySizeInBits": 128|192|256, "Iv": b64 (12 bytes)},
 *                "AuthenticationData": b64 (16-byte GCM tag),
 *                "Jwt": b64 (AES-GCM ciphertext of the compact JWS)}
 *
 * Every base64 field is decoded as std base64 (padded) or base64url (with or
 * without padding). Members not listed are tolerated (MAA may add some);
 * listed members that are missing, ill-typed or out of range are errors, as
 * are duplicate member names.
 *
 * Error contract:
 *   -EINVAL       bad arguments; AES key length does not match KeySizeInBits
 *   -E2BIG        body larger than ENVELOPE_RESPONSE_MAX_BYTES, or ciphertext
 *                 larger than JWT_MAX_BYTES
 *   -EBADMSG      malformed body/envelope, or plaintext that is not a
 *                 compact JWS
 *   -EKEYREJECTED GCM authentication failed (wrong key, IV, tag or AAD, or
 *                 tampered ciphertext)
 *   -ENOMEM       out of memory
 */

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

struct envelope;

/* Parse the HTTP body {"token": "…"} and the envelope inside it.
 * [in] body: body[0..len), need not be NUL-terminated.
 * [out] ret: callee-allocated; free with envelope_free(). */
int envelope_parse_response(const char *body, size_t len, struct envelope **ret,
                            struct err *e);

/* Parse the envelope JSON itself (the decoded "token"). Same contract. */
int envelope_parse(const char *json, size_t len, struct envelope **ret, struct err *e);

/* Accepts NULL; returns NULL. */
struct envelope *envelope_free(struct envelope *env);

/* The RSA ciphertext of the AES key to unwrap with the TPM ephemeral key:
 * ENVELOPE_INNER_KEY_BYTES bytes (a leading 0x00 of a 257-byte encoding is
 * already stripped). Borrowed, valid while env lives. */
const uint8_t *envelope_get0_encrypted_key(const struct envelope *env, size_t *ret_len);

/* KeySizeInBits: 128, 192 or 256. */
unsigned envelope_key_bits(const struct envelope *env);

/*
 * AES-GCM-decrypt the token with the unwrapped key (AAD "Transport Key").
 * [in] aes_key: keylen bytes, borrowed; keylen * 8 must equal
 * envelope_key_bits(). The caller owns and wipes it; the cipher context's
 * copy is wiped here.
 * [out] ret_jwt: NUL-terminated compact JWS (callee-allocated; free());
 * *ret_len its length without the NUL. Written only on success.
 */
int envelope_open(const struct envelope *env, const uint8_t *aes_key, size_t keylen,
                  char **ret_jwt, size_t *ret_len, struct err *e);

#endif
