/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_COMMANDS_H
#define ATTESTD_CLIENT_COMMANDS_H

/*
 * attestctl subcommands. Each takes argv with argv[0] = the subcommand
 * word and returns the process exit status:
 *   0 trusted / success, 1 untrusted / invalid, 2 unknown or timed out,
 *   3 daemon unreachable, 64+ sysexits (usage, input, software errors).
 */

/* client/inspect-token.c: attestctl inspect token FILE [--json] */
int inspect_token_main(int argc, char **argv);
/* client/verify-token.c: attestctl verify-token --jwks F --issuer URL ... FILE */
int verify_token_main(int argc, char **argv);

#endif
