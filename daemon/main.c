/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "main"
#include <stdio.h>
#include <sysexits.h>

#include "daemon/cli.h"
#include "daemon/config.h"
#include "daemon/core.h"
#include "daemon/diag.h"
#include "daemon/defaults.h"
#include "daemon/oneshot.h"

int main(int argc, char **argv)
{
        struct cli_args args = CLI_ARGS_INIT_DEFAULT;
        struct diag_list errs = {};
        struct config *cfg = NULL;
        int r;

        r = cli_parse(argc, argv, &args);
        if (r != 0)
                return r > 0 ? EX_OK : EX_USAGE;
        log_setup(args.log_target >= 0 ? args.log_target : LOG_TARGET_AUTO,
                  args.log_level >= 0 ? args.log_level : LOG_INFO);

        r = config_load(args.config_path, &cfg, &errs);
        if (r < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        fprintf(stderr, "%s\n", errs.msgs[i]);
                diag_list_done(&errs);
                return EX_CONFIG;
        }
        if (args.check_config) {
                printf("configuration OK\n");
                config_free(cfg);
                return EX_OK;
        }
        if (args.once) {
                log_setup(args.log_target >= 0 ? args.log_target : cfg->log_format,
                          args.log_level >= 0 ? args.log_level : cfg->log_level);
                r = oneshot_run(cfg, args.with_token);
                config_free(cfg);
                return r;
        }
        log_setup(args.log_target >= 0 ? args.log_target : cfg->log_format,
                  args.log_level >= 0 ? args.log_level : cfg->log_level);
        return core_main(args.config_path, cfg, &args);
}
