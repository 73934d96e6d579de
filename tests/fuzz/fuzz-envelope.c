/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the sealed AzureGuest response ({"token": …} and the
 * envelope JSON), opened with a fixed AES key (bytes 0x00..0x1f, truncated
 * to KeySizeInBits) so that seeds sealed with it reach the plaintext checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_open(const struct envelope *env)
{
        uint8_t key[32];
        size_t i, len = 0, klen = 0;
        char *jwt = NULL;

        for (i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t) i;
        (void) envelope_get0_encrypted_key(env, &klen);
        if (klen != 256)
                abort();
        if (envelope_open(env, key, envelope_key_bits(env) / 8, &jwt, &len, NULL) == 0) {
                if (strlen(jwt) != len)
                        abort();
                free(jwt);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct envelope *env = NULL;

        if (envelope_parse_response((const char *) data, size, &env, NULL) == 0) {
                try_open(env);
                env = envelope_free(env);
        }
        if (envelope_parse((const char *) data, size, &env, NULL) == 0) {
                try_open(env);
                envelope_free(env);
        }
        return 0;
}
