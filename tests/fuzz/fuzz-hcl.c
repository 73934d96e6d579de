/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/hcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct hcl_report *r = NULL;
        json_t *j = NULL;
        size_t len = 0;

        if (hcl_parse(data, size, &r, NULL) < 0)
                return 0;
        if (hcl_report_to_json(r, &j) == 0) {
                char *s = json_dumps(j, JSON_COMPACT);

                free(s);
                json_decref(j);
        }
        (void) hcl_report_get0_hw_report(r, &len);
        (void) hcl_report_get0_runtime_data(r, &len);
        (void) hcl_report_get0_user_data(r);
        (void) hcl_report_get0_ek(r);
        hcl_report_free(r);
        return 0;
}
