/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attestctl's command table, built twice:
 *  - attestctl (and attestctl-static): the online commands only, linked
 *    against libc and jansson so that `attestctl verdict` starts in well
 *    under a millisecond; an offline command is handed to attestctl-tools
 *    with execv, unchanged;
 *  - attestctl-tools (-DATTESTCTL_FULL): every command in process, linked
 *    with the daemon's parsers and their libraries (OpenSSL, tpm2-tss, ...).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "client/commands.h"
#ifdef ATTESTCTL_FULL
#include "daemon/log.h"
#define OFFLINE(fn) fn
#else
#define OFFLINE(fn) NULL        /* run by attestctl-tools */
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
        /* offline tools */
        { "inspect", "hcl", OFFLINE(inspect_hcl_main), "FILE [--json]: decode an Azure HCL report" },
        { "inspect", "eventlog", OFFLINE(inspect_eventlog_main),
          "FILE [--json]: decode and replay a TCG event log" },
        { "inspect", "token", OFFLINE(inspect_token_main), "decode an MAA token without verifying it" },
        { NULL, "verify-token", OFFLINE(verify_token_main), "verify an MAA token against a pinned JWKS" },
        { "inspect", "evidence", OFFLINE(inspect_evidence_main),
          "[--config FILE] [--json]: live TPM evidence (HCL report, AK, AK cert, PCRs), checked" },
        { "audit", "verify", OFFLINE(audit_verify_main), "check the hash chain of audit log files" },
        { "policy", "eval", OFFLINE(policy_eval_main), "evaluate a policy against claims, offline" },
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

#ifndef ATTESTCTL_FULL
/*
 * Hand an offline command to attestctl-tools: the one beside this
 * executable (a build tree, a relocated install), else the installed one.
 */
static int run_tools(const struct command *c, char **argv)
{
        char self[PATH_MAX], path[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char *slash;

        if (n > 0) {
                self[n] = '\0';
                slash = strrchr(self, '/');
                if (slash && (size_t) snprintf(path, sizeof(path), "%.*s/attestctl-tools",
                                               (int) (slash - self), self) < sizeof(path) &&
                    access(path, X_OK) == 0)
                        execv(path, argv);
        }
        execv(ATTESTCTL_TOOLS, argv);
        fprintf(stderr, "attestctl: '%s%s%s' is an offline tool of attestctl-tools, "
                "which cannot be run (%s: %s); install attestd's full package\n",
                c->group ? c->group : "", c->group ? " " : "", c->name, ATTESTCTL_TOOLS,
                strerror(errno));
        return EX_UNAVAILABLE;
}
#endif

static int run(const struct command *c, int argc, char **argv, int skip)
{
#ifndef ATTESTCTL_FULL
        if (!c->run)
                return run_tools(c, argv);
#endif
        return c->run(argc - skip, argv + skip);
}

int main(int argc, char **argv)
{
#ifdef ATTESTCTL_FULL
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
                                return run(c, argc, argv, 2);
                } else if (strcmp(argv[1], c->name) == 0) {
                        return run(c, argc, argv, 1);
                }
        }
        fprintf(stderr, "attestctl: unknown command '%s%s%s' (see 'attestctl help')\n", argv[1],
                argc >= 3 ? " " : "", argc >= 3 ? argv[2] : "");
        return EX_USAGE;
}
