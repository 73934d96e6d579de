/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: compact JWS parse + RS256 verification against a fixed
 * test JWKS (a throwaway RSA-2048 key made for these seeds; see
 * corpus/README.md), at a fixed time, with and without a nonce.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_jwks[] =
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"fuzzkey\",\"use\":\"sig\",\"alg\":\"RS256\",\"x5c\":[\""
        "MIIDLzCCAhegAwIBAgIUb9fvjxY/9kEZjAcze2sYknD++zgwDQYJKoZIhvcNAQELBQAwJjEkMCIGA1UE"
        "AwwbaHR0cHM6Ly9mdXp6LmF0dGVzdC5leGFtcGxlMCAXDTI2MTEyNDIyNTMyMVoYDzIxMjYxMDMxMjI1"
        "MzIxWjAmMSQwIgYDVQQDDBtodHRwczovL2Z1enouYXR0ZXN0LmV4YW1wbGUwggEiMA0GCSqGSIb3DQEB"
        "AQUAA4IBDwAwggEKAoIBAQDWEfnTDb9McJ876pHFrN0gUtoSvRUnBIberzS0jpEONuPCUqVYFnj4LjvB"
        "OfHLuvQU0Mp6F2EMpMkscthLaitNIdeP7VfKBj+mVOwOrI/WkRtVd3p7qoftcZ/E96CRq86FGY5xPXrp"
        "8Wyjvq0KYHadHllzNQY+LN7e+ANa+h6uxZcsFifvkmtXlAbFqwKML+H7Y5JvYyLpZpt3T+94o5R1UUM6"
        "Ugspzr1nObXss0yP9/Zi1qeZ4Fxi+P0baA/Ri1p/RbbnLQ/qazwn/MaKsI9C50SWEzlHdsvFTWOGjn5y"
        "qWr9J5M3S1dAFPVYRRSZBzmNARjy38CVYnhFCenrnkRBAgMBAAGjUzBRMB0GA1UdDgQWBBRsuNmSsXea"
        "cd8MTf5CBe9wNQQBizAfBgNVHSMEGDAWgBRsuNmSsXeacd8MTf5CBe9wNQQBizAPBgNVHRMBAf8EBTAD"
        "AQH/MA0GCSqGSIb3DQEBCwUAA4IBAQAByXedyxbAqkuBQg6PUY0ApXwooUYHZImPnltuZTiJ1LML5fUJ"
        "+HaJmxdTTEX7K20aC0ToSzXo9R1HojXguCT9KmnL9Hk9SLsH6tAeLrzpqx8DT51OnYGhAuEDL9t1dm9d"
        "5l3rMX/E8/ciP/LcvsCN8vC3cRedJCpgiFHc0463bhEEYTQYMplmBxJ2CLnOeRe03l5hVEmPtsJYKORa"
        "GapMcKdQJ1S/H0PgcROopKwouPFLcuc0ylFYie9YGNoAjrJ4Xx/arKTFXOy2UrfmzRxu6v7ob56uCOXr"
        "FnMKiF/BypiUCc+9GEHrJ2RK87iF3x9kkFFkD/wLftL7aoOB1mjs"
        "\"]},{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\"}]}";

static struct jose_jwks *jwks;

/* Invariants of a token that decoded: its raw text is the input. */
static void check_token(const struct jose_token *t, const uint8_t *data, size_t size)
{
        size_t len = 0;
        const char *raw = jose_token_get0_raw(t, &len);
        int64_t v;

        if (len != size || memcmp(raw, data, size) != 0 || !jose_token_get0_alg(t) ||
            !jose_token_get0_header(t) || !jose_token_get0_claims(t))
                abort();
        (void) jose_token_get0_kid(t);
        (void) jose_token_get0_iss(t);
        (void) jose_token_get0_jti(t);
        (void) jose_token_get_iat(t, &v);
        (void) jose_token_get_nbf(t, &v);
        (void) jose_token_get_exp(t, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const nonces[] = { NULL, "bm9uY2U=" };
        struct jose_token *t = NULL;
        struct err e;
        int decoded;
        size_t i;

        if (!jwks && jose_jwks_parse(fuzz_jwks, strlen(fuzz_jwks), &jwks, NULL) < 0)
                abort();
        decoded = jose_decode_unverified((const char *) data, size, &t, &e) == 0;
        if (decoded)
                check_token(t, data, size);
        t = jose_token_free(t);
        for (i = 0; i < sizeof(nonces) / sizeof(nonces[0]); i++) {
                struct jose_verify_opts o = {
                        .issuer = "https://fuzz.attest.example",
                        .now = 1700000100, .skew = 60, .nonce = nonces[i],
                };

                if (jose_verify((const char *) data, size, jwks, &o, &t, &e) == 0) {
                        /* whatever verifies must also decode */
                        if (!decoded)
                                abort();
                        check_token(t, data, size);
                        t = jose_token_free(t);
                }
        }
        return 0;
}
