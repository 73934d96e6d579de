/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "client/inspect.h"
#include "daemon/file.h"

int inspect_parse_args(int argc, char **argv, const char *usage, struct inspect_args *ret)
{
        struct inspect_args a = { NULL, false };

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        a.json = true;
                } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        fputs(usage, stdout);
                        return EX_OK;
                } else if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "attestctl: unknown option '%s'\n%s", argv[i], usage);
                        return EX_USAGE;
                } else if (a.path) {
                        fprintf(stderr, "attestctl: more than one FILE given\n%s", usage);
                        return EX_USAGE;
                } else {
                        a.path = argv[i];
                }
        }
        if (!a.path) {
                fprintf(stderr, "attestctl: no FILE given\n%s", usage);
                return EX_USAGE;
        }
        *ret = a;
        return -1;
}

int inspect_read(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        struct err e = { "" };
        int r;

        r = file_read_all(path, max, ret, ret_len, &e);
        if (r == -E2BIG) {
                fprintf(stderr, "attestctl: %s\n", e.msg);
                return EX_DATAERR;
        }
        if (r < 0) {
                fprintf(stderr, "attestctl: %s\n", e.msg);
                return r == -ENOMEM ? EX_OSERR : EX_NOINPUT;
        }
        return 0;
}

int inspect_print_json(json_t *j)
{
        if (json_dumpf(j, stdout, JSON_INDENT(2)) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
                fprintf(stderr, "attestctl: cannot write to stdout\n");
                return EX_IOERR;
        }
        return EX_OK;
}
