/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_COMMANDS_H
#define ATTESTD_CLIENT_COMMANDS_H

/*
 * attestctl subcommands. Each takes argv with argv[0] = the subcommand
 * word and returns the process exit status:
 *   0 trusted / success, 1 untrusted / invalid, 2 unknown or timed out,
 *   3 daemon unreachable, 64+ sysexits (usage, input, software errors).
 */

/* attestctl policy eval --policy FILE --claims FILE [--json] (client/policy-eval.c) */
int policy_eval_main(int argc, char **argv);

/* attestctl audit verify FILE... (client/audit-verify.c) */
int audit_verify_main(int argc, char **argv);

#endif
