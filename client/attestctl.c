/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "client/commands.h"
#ifndef ATTESTCTL_STATIC
#include "daemon/log.h"
#endif

struct command {
        const char *group;      /* first word, or NULL for one-word commands */
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
};

static const struct command commands[] = {
        { NULL, "verdict", online_verdict_main, "print the node's verdict (exit 0 trusted, 1 untrusted, 2 unknown)" },
        { NULL, "wait", online_wait_main, "wait until the node is trusted (init-container gate)" },
        { NULL, "token", online_token_main, "print the current MAA token (authorized callers)" },
        { NULL, "attest", online_attest_main, "fresh attestation bound to --nonce (authorized callers)" },
        { NULL, "status", online_status_main, "print the daemon's state" },
#ifndef ATTESTCTL_STATIC
        /* offline tools: not in the static init-container build */
        { "inspect", "hcl", inspect_hcl_main, "FILE [--json]: decode an Azure HCL report" },
        { "inspect", "eventlog", inspect_eventlog_main, "FILE [--json]: decode and replay a TCG event log" },
        { "inspect", "token", inspect_token_main, "decode an MAA token without verifying it" },
        { NULL, "verify-token", verify_token_main, "verify an MAA token against a pinned JWKS" },
        { "inspect", "evidence", inspect_evidence_main,
          "[--config FILE] [--json]: live TPM evidence (HCL report, AK, AK cert, PCRs), checked" },
        { "audit", "verify", audit_verify_main, "check the hash chain of audit log files" },
        { "policy", "eval", policy_eval_main, "evaluate a policy against claims, offline" },
#endif
        {}
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: attestctl COMMAND [ARGS]\n\nCommands:\n");
        for (const struct command *c = commands; c->name; c++)
                fprintf(f, "  %s%s%-*s %s\n", c->group ? c->group : "", c->group ? " " : "",
                        c->group ? (int) (22 - strlen(c->group) - 1) : 22, c->name, c->summary);
        fprintf(f, "  %-22s %s\n  %-22s %s\n", "help", "show this help", "version", "show the version");
}

int main(int argc, char **argv)
{
#ifndef ATTESTCTL_STATIC
        log_setup(LOG_TARGET_TEXT, LOG_WARNING);
#endif
        if (argc < 2) {
                usage(stderr);
                return EX_USAGE;
        }
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(stdout);
                return EX_OK;
        }
        if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
                printf("attestctl %s\n", PACKAGE_VERSION);
                return EX_OK;
        }
        for (const struct command *c = commands; c->name; c++) {
                if (c->group) {
                        if (strcmp(argv[1], c->group) == 0 && argc >= 3 && strcmp(argv[2], c->name) == 0)
                                return c->run(argc - 2, argv + 2);
                } else if (strcmp(argv[1], c->name) == 0) {
                        return c->run(argc - 1, argv + 1);
                }
        }
        fprintf(stderr, "attestctl: unknown command '%s%s%s' (see 'attestctl help')\n", argv[1],
                argc >= 3 ? " " : "", argc >= 3 ? argv[2] : "");
        return EX_USAGE;
}
