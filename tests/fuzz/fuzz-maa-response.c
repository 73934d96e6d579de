/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Everything daemon/maa.c and daemon/http.c read from the network: MAA
 * answers (classification and token extraction for each status class),
 * IMDS THIM and TD quote answers, Retry-After values, and os-release text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/maa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const long statuses[] = { 200, 400, 401, 429, 503, 302 };
        const char *body = (const char *) data;
        struct maa_os_info os = { 0 };
        struct imds_vcek v = { 0 };
        uint8_t *quote = NULL;
        size_t quote_len = 0;
        int64_t s;
        char *z;

        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
                struct maa_outcome o;

                if (maa_classify(0, NULL, statuses[i], body, size, -1, &o) == 0) {
                        if ((o.result == MAA_OK) != (o.token != NULL))
                                abort();
                        if (strlen(o.message) >= sizeof(o.message))
                                abort();
                        maa_outcome_done(&o);
                }
        }
        if (imds_parse_thim(body, size, &v, NULL) == 0) {
                if (!v.chain_pem || strlen(v.chain_pem) != strlen(v.vcek_cert) + strlen(v.certificate_chain) +
                                                            (v.vcek_cert[strlen(v.vcek_cert) - 1] != '\n'))
                        abort();
                imds_vcek_done(&v);
        }
        if (imds_parse_tdquote(body, size, &quote, &quote_len, NULL) == 0)
                free(quote);
        if (maa_os_info_parse(body, size, &os, NULL) == 0)
                maa_os_info_done(&os);

        /* header values are NUL-terminated strings */
        z = malloc(size + 1);
        if (!z)
                return 0;
        memcpy(z, data, size);
        z[size] = '\0';
        if (http_parse_retry_after(z, 1700000000, &s) == 0 && (s < 0 || s > 3600))
                abort();
        free(z);
        return 0;
}
