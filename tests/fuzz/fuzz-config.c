/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/config.h"
#include "daemon/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct diag_list errs = {};
        struct config *c = NULL;

        if (config_parse((const char *) data, size, "fuzz", &c, &errs) == 0)
                config_free(c);
        diag_list_done(&errs);
        return 0;
}
