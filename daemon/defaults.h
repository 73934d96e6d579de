/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_DEFAULTS_H
#define ATTESTD_DAEMON_DEFAULTS_H

/* --- JOSE (daemon/jose.c) --- */
/* Compact JWS, without any trailing newline. Real MAA tokens are 2-10 KiB. */
#define JWT_MAX_BYTES                   (64 * 1024)
/* Largest accepted clock skew (seconds) and the default for jose_verify. */
#define JWT_CLOCK_SKEW_DEFAULT          60
#define JWT_CLOCK_SKEW_MAX              3600
/* exp/nbf/iat beyond 9999-12-31T23:59:59Z are absurd. */
#define JWT_TIME_MAX                    253402300799LL
/* RSA modulus bounds for signing keys (the upper bound caps verify cost). */
#define JWT_RSA_BITS_MIN                2048
#define JWT_RSA_BITS_MAX                8192
/* JWKS document, keys per set, kid length, x5c chain length and cert size. */
#define JWKS_MAX_BYTES                  (256 * 1024)
#define JWKS_KEYS_MAX                   32
#define JWKS_KID_MAX                    256
#define JWKS_X5C_CHAIN_MAX              8
#define JWKS_CERT_MAX_BYTES             (16 * 1024)

/* --- Sealed AzureGuest response (daemon/envelope.c) --- */
/* The HTTP body {"token": "<base64url(envelope JSON)>"}. */
#define ENVELOPE_RESPONSE_MAX_BYTES     (256 * 1024)
/* RSA-2048 ciphertext of the inner AES key (257 with a leading 0x00). */
#define ENVELOPE_INNER_KEY_BYTES        256

#endif
