/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "client/commands.h"
#include "daemon/audit.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: attestctl audit verify FILE...\n\n"
                "Check the hash chain of audit log files, oldest first\n"
                "(e.g. audit.jsonl.2 audit.jsonl.1 audit.jsonl).\n"
                "Exit status: 0 intact, 1 broken, 64 usage, 66 a file cannot be read.\n");
}

int audit_verify_main(int argc, char **argv)
{
        struct audit_verify_result res;
        struct err e = {};
        int r;

        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage(stdout);
                return EX_OK;
        }
        if (argc < 2 || argv[1][0] == '-') {
                usage(stderr);
                return EX_USAGE;
        }
        r = audit_verify_files((const char *const *) argv + 1, (size_t) argc - 1, &res, &e);
        if (r < 0) {
                fprintf(stderr, "attestctl: %s\n", e.msg);
                return EX_NOINPUT;
        }
        if (!res.intact) {
                fprintf(stderr, "%s:%" PRIu64 ": chain broken at seq %" PRIu64 ": %s\n",
                        argv[1 + res.bad_file], res.bad_line, res.bad_seq, res.reason);
                fprintf(stderr, "%" PRIu64 " records before it verified", res.n_records);
                if (res.n_records > 0)
                        fprintf(stderr, " (seq %" PRIu64 "..%" PRIu64 ")", res.first_seq, res.last_seq);
                fprintf(stderr, "\n");
                return 1;
        }
        if (res.n_records > 0)
                printf("%" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 ", chain intact\n", res.n_records,
                       res.first_seq, res.last_seq);
        else
                printf("0 records, chain intact\n");
        if (res.first_seq > 1)
                printf("note: the chain starts at seq %" PRIu64 "; earlier records were rotated away\n",
                       res.first_seq);
        if (res.partial_tail)
                printf("note: %s ends in an incomplete line (a write cut short by a crash or a full disk); "
                       "it is not part of the chain and attestd truncates it on start\n", argv[argc - 1]);
        return EX_OK;
}
