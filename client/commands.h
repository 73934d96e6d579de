/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_COMMANDS_H
#define ATTESTD_CLIENT_COMMANDS_H

/*
 * attestctl subcommands. Each takes argv with argv[0] = the subcommand
 * word and returns the process exit status. The exit codes are stable:
 */
#define ATTESTCTL_EXIT_OK               0       /* trusted / success */
#define ATTESTCTL_EXIT_UNTRUSTED        1       /* untrusted / invalid */
#define ATTESTCTL_EXIT_UNKNOWN          2       /* unknown, or timed out */
#define ATTESTCTL_EXIT_UNREACHABLE      3       /* the daemon cannot be reached */
/* 64 and up: sysexits (EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOPERM, ...) */

/* client/online.c: talk to the daemon */
int online_verdict_main(int argc, char **argv);
int online_wait_main(int argc, char **argv);
int online_token_main(int argc, char **argv);
int online_attest_main(int argc, char **argv);
int online_status_main(int argc, char **argv);

/* attestctl inspect hcl FILE [--json] (client/inspect-hcl.c) */
int inspect_hcl_main(int argc, char **argv);

/* attestctl inspect eventlog FILE [--json] (client/inspect-eventlog.c) */
int inspect_eventlog_main(int argc, char **argv);

/* client/inspect-token.c: attestctl inspect token FILE [--json] */
int inspect_token_main(int argc, char **argv);
/* client/verify-token.c: attestctl verify-token --jwks F --issuer URL ... FILE */
int verify_token_main(int argc, char **argv);
/* inspect-evidence.c: live evidence from the TPM; 0 consistent, 1 missing or
 * inconsistent, 3 TPM unreachable. */
int inspect_evidence_main(int argc, char **argv);

/* attestctl policy eval --policy FILE --claims FILE [--json] (client/policy-eval.c) */
int policy_eval_main(int argc, char **argv);

/* attestctl audit verify FILE... (client/audit-verify.c) */
int audit_verify_main(int argc, char **argv);

#endif
