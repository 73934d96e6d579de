/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_CLI_H
#define ATTESTD_DAEMON_CLI_H

#include <stdbool.h>

#include "daemon/log.h"

struct cli_args {
        const char *config_path;        /* borrowed from argv or the default */
        bool check_config;
        bool once;                      /* one attestation, print the verdict, exit */
        bool with_token;                /* --once: print the token too */
        int log_level;                  /* -1: from the config */
        enum log_target log_target;     /* _LOG_TARGET_INVALID: from the config */
};

#define CLI_ARGS_INIT_DEFAULT                                   \
        {                                                       \
                .config_path = CONFIG_FILE_DEFAULT,             \
                .log_level = -1,                                \
                .log_target = _LOG_TARGET_INVALID,              \
        }

/* Returns 1 when the program should exit successfully (--help, --version),
 * 0 to go on, -EINVAL on a usage error (already reported on stderr). */
int cli_parse(int argc, char **argv, struct cli_args *args);

#endif
