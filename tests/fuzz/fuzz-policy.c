/* SPDX-License-Identifier: BSD-3-Clause */
/* Load arbitrary bytes as a policy and evaluate it against the claims of a
 * real AzureGuest token (abridged). */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/diag.h"
#include "daemon/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char claims_text[] =
        "{\"exp\": 1662613487, \"iat\": 1662584687, \"iss\": \"https://sharedwus.wus.attest.azure.net\","
        " \"secureboot\": true, \"x-ms-attestation-type\": \"azurevm\","
        " \"x-ms-azurevm-attested-pcrs\": [0, 1, 2, 3, 4, 5, 6, 7], \"x-ms-azurevm-hvci-policy\": 0,"
        " \"x-ms-azurevm-osversion-major\": 18, \"x-ms-azurevm-vmid\": \"D3FD4B09-37A3-40D5-8F2A-EA80762213CC\","
        " \"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"sevsnpvm\","
        "  \"x-ms-compliance-status\": \"azure-compliant-cvm\", \"x-ms-sevsnpvm-is-debuggable\": false,"
        "  \"x-ms-sevsnpvm-microcode-svn\": 93, \"x-ms-sevsnpvm-snpfw-svn\": 6.5,"
        "  \"x-ms-runtime\": {\"vm-configuration\": {\"secure-boot\": true, \"vmUniqueId\": \"D3FD\"}}},"
        " \"a/b\": {\"m~n\": [null, {\"\": \"x\\u0000y\"}]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static json_t *claims;
        struct diag_list errs = {};
        struct policy *p = NULL;
        struct policy_result *res = NULL;

        if (!claims)
                claims = json_loads(claims_text, JSON_ALLOW_NUL, NULL);
        if (policy_parse((const char *) data, size, "fuzz", &p, &errs) == 0) {
                if (policy_eval(p, claims, &res) < 0)
                        abort();
                if (res->n_pass + res->n_fail + res->n_skip != policy_get_n_rules(p) ||
                    json_array_size(res->reasons) != res->n_fail)
                        abort();
                policy_result_free(res);
                policy_free(p);
        } else if (errs.n == 0) {
                abort();        /* a refused policy always says why */
        }
        diag_list_done(&errs);
        return 0;
}
