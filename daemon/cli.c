/* SPDX-License-Identifier: BSD-3-Clause */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "daemon/cli.h"
#include "daemon/defaults.h"

static void usage(FILE *f, const char *prog)
{
        fprintf(f,
                "Usage: %s [OPTIONS]\n"
                "Node-local attestation daemon for Azure confidential VMs.\n\n"
                "  -c, --config FILE     configuration file (default %s)\n"
                "  -n, --check-config    parse and validate the configuration and the policy, then exit\n"
                "      --once            attest once (no cache, no API), print the verdict and exit:\n"
                "                        0 trusted, 1 untrusted, 2 unknown\n"
                "      --with-token      with --once: include the verified MAA token in the output\n"
                "  -l, --log-level LVL   error, warning, notice, info or debug (overrides the config)\n"
                "  -L, --log-format FMT  auto, text, json or journal (overrides the config)\n"
                "  -h, --help            show this help\n"
                "  -V, --version         show the version\n",
                prog, CONFIG_FILE_DEFAULT);
}

int cli_parse(int argc, char **argv, struct cli_args *args)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 'n' },
                { "once", no_argument, NULL, 'O' },
                { "with-token", no_argument, NULL, 'T' },
                { "log-level", required_argument, NULL, 'l' },
                { "log-format", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:nl:L:hV", opts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        args->config_path = optarg;
                        break;
                case 'n':
                        args->check_config = true;
                        break;
                case 'O':
                        args->once = true;
                        break;
                case 'T':
                        args->with_token = true;
                        break;
                case 'l':
                        args->log_level = log_level_from_string(optarg);
                        if (args->log_level < 0) {
                                fprintf(stderr, "%s: invalid log level '%s'\n", argv[0], optarg);
                                return -EINVAL;
                        }
                        break;
                case 'L':
                        args->log_target = log_target_from_string(optarg);
                        if (args->log_target < 0) {
                                fprintf(stderr, "%s: invalid log format '%s'\n", argv[0], optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        return 1;
                case 'V':
                        printf("attestd %s\n", PACKAGE_VERSION);
                        return 1;
                default:
                        usage(stderr, argv[0]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
                return -EINVAL;
        }
        return 0;
}
