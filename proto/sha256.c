/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto/hex.h"
#include "proto/sha256.h"

int sha256_hex(const void *data, size_t len, char ret[static SHA256_HEX_LEN + 1])
{
        unsigned char md[32];
        unsigned int md_len = 0;

        if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md))
                return -EIO;
        hex_encode_into(ret, md, sizeof(md));
        return 0;
}

bool sha256_hex_valid(const char *s)
{
        size_t i;

        for (i = 0; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == SHA256_HEX_LEN;
}
