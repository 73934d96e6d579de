/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_COMMANDS_H
#define ATTESTD_CLIENT_COMMANDS_H

/*
 * attestctl subcommands. Each takes argv with argv[0] = the subcommand
 * word and returns the process exit status:
 *   0 trusted / success, 1 untrusted / invalid, 2 unknown or timed out,
 *   3 daemon unreachable, 64+ sysexits (usage, input, software errors).
 */

/* inspect-evidence.c: live evidence from the TPM; 0 consistent, 1 missing or
 * inconsistent, 3 TPM unreachable. */
int inspect_evidence_main(int argc, char **argv);

#endif
