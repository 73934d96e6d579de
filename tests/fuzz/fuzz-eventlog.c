/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t zero[EVENTLOG_DIGEST_MAX];
        const uint8_t *tpm[EVENTLOG_PCRS];
        uint8_t pcrs[EVENTLOG_PCRS][EVENTLOG_DIGEST_MAX];
        struct eventlog *log = NULL;
        struct err e;
        json_t *j = NULL;
        bool sb;

        if (eventlog_parse(data, size, &log, NULL) < 0)
                return 0;
        for (size_t i = 0; i < EVENTLOG_PCRS; i++)
                tpm[i] = zero;
        for (size_t b = 0; b < log->n_banks; b++) {
                (void) eventlog_replay(log, log->banks[b].alg, pcrs);
                (void) eventlog_compare(log, log->banks[b].alg, tpm, 0xffffff, NULL, &e);
        }
        (void) eventlog_secure_boot(log, &sb);
        if (eventlog_to_json(log, &j) == 0) {
                char *s = json_dumps(j, JSON_COMPACT);

                free(s);
                json_decref(j);
        }
        eventlog_free(log);
        return 0;
}
