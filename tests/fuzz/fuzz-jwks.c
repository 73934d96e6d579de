/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: JWKS parsing (x5c certificates, n/e agreement, skips). */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/defaults.h"
#include "daemon/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct jose_jwks *jwks = NULL;
        size_t i, usable = 0;

        if (jose_jwks_parse((const char *) data, size, &jwks, NULL) < 0)
                return 0;
        if (jose_jwks_count(jwks) == 0 || jose_jwks_count(jwks) > JWKS_KEYS_MAX)
                abort();
        for (i = 0; i < jose_jwks_count(jwks); i++) {
                if (!jose_jwks_get0_skip_reason(jwks, i)) {
                        /* a usable key has a kid and an allowed size */
                        if (!jose_jwks_get0_kid(jwks, i) ||
                            jose_jwks_key_bits(jwks, i) < JWT_RSA_BITS_MIN ||
                            jose_jwks_key_bits(jwks, i) > JWT_RSA_BITS_MAX)
                                abort();
                        usable++;
                }
        }
        if (usable == 0 || usable != jose_jwks_usable_count(jwks))
                abort();
        jose_jwks_free(jwks);
        return 0;
}
