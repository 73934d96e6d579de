/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attestctl verify-token --jwks FILE --issuer URL [--at UNIXTIME]
 *                        [--nonce VALUE] [--skew S] [--json] FILE
 * Verify an MAA token offline against a pinned JWKS, exactly as the daemon
 * does (daemon/jose.c). Exit 0 when valid; 1 when invalid (reason on
 * stderr); 65 (EX_DATAERR) when the JWKS is not usable; 66 (EX_NOINPUT) when
 * a file cannot be read; 64 (EX_USAGE) on usage errors.
 * --json prints {"valid": bool, "reason": string|null, "claims": {...}|null}.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "client/commands.h"
#include "client/token-file.h"
#include "daemon/defaults.h"
#include "daemon/jose.h"

struct verify_args {
        const char *jwks_path;
        const char *token_path;
        bool json;
        struct jose_verify_opts opts;
};

/* A decimal integer in [0, max], the whole string. */
static int parse_int(const char *s, long long max, long long *ret)
{
        char *end = NULL;
        long long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: attestctl verify-token --jwks FILE --issuer URL [--at UNIXTIME]\n"
                "                              [--nonce VALUE] [--skew S] [--json] FILE\n"
                "Verify an MAA token (RS256 JWT) against a pinned JWKS.\n"
                "  --jwks FILE      the issuer's signing keys (GET <issuer>/certs)\n"
                "  --issuer URL     expected 'iss', compared exactly\n"
                "  --at UNIXTIME    verify as of this time instead of now\n"
                "  --nonce VALUE    require a x-ms-runtime.client-payload value equal to VALUE\n"
                "  --skew S         allowed clock skew in seconds (default %d, at most %d)\n"
                "  --json           print {\"valid\", \"reason\", \"claims\"}\n"
                "Exit status: 0 valid, 1 invalid, 64 usage, 65 bad JWKS, 66 unreadable file.\n",
                MAA_CLOCK_SKEW_S_DEFAULT, MAA_CLOCK_SKEW_S_MAX);
}

/* Returns -1 to go on, or the exit status (EX_OK after --help, EX_USAGE). */
static int parse_args(int argc, char **argv, struct verify_args *a)
{
        static const struct option options[] = {
                { "jwks", required_argument, NULL, 'k' },
                { "issuer", required_argument, NULL, 'i' },
                { "at", required_argument, NULL, 'a' },
                { "nonce", required_argument, NULL, 'n' },
                { "skew", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        long long v = 0;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'k':
                        a->jwks_path = optarg;
                        break;
                case 'i':
                        a->opts.issuer = optarg;
                        break;
                case 'a':
                        if (parse_int(optarg, JWT_TIME_MAX, &v) < 0) {
                                fprintf(stderr, "attestctl: --at wants a UNIX time, got '%s'\n", optarg);
                                return EX_USAGE;
                        }
                        a->opts.now = (time_t) v;
                        break;
                case 'n':
                        a->opts.nonce = optarg;
                        break;
                case 's':
                        if (parse_int(optarg, MAA_CLOCK_SKEW_S_MAX, &v) < 0) {
                                fprintf(stderr, "attestctl: --skew wants 0..%d seconds, got '%s'\n",
                                        MAA_CLOCK_SKEW_S_MAX, optarg);
                                return EX_USAGE;
                        }
                        a->opts.skew = (unsigned) v;
                        break;
                case 'j':
                        a->json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EX_OK;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (!a->jwks_path || !a->opts.issuer || optind != argc - 1) {
                fprintf(stderr, "attestctl: verify-token needs --jwks, --issuer and one token FILE\n");
                usage(stderr);
                return EX_USAGE;
        }
        a->token_path = argv[optind];
        return -1;
}

/* Print the outcome; returns the exit status. claims may be NULL. */
static int report(const struct verify_args *a, int status, const char *reason, json_t *claims)
{
        json_t *out;

        if (status != EX_OK)
                fprintf(stderr, "attestctl: %s%s\n", status == ATTESTCTL_EXIT_UNTRUSTED ? "invalid token: " : "", reason);
        if (!a->json) {
                if (status == EX_OK)
                        printf("valid\n");
                return status;
        }
        out = json_pack("{sbss?sO?}", "valid", status == EX_OK, "reason", reason, "claims", claims);
        if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) < 0) {
                json_decref(out);
                return EX_SOFTWARE;
        }
        putchar('\n');
        json_decref(out);
        return status;
}

/* Read path into *ret; on failure print why and return the exit status. */
static int read_input(const struct verify_args *a, const char *what, const char *path, size_t max,
                      bool strip, char **ret, size_t *ret_len)
{
        char reason[512];
        int r;

        r = token_file_read(path, max, strip, ret, ret_len);
        if (r == 0)
                return EX_OK;
        if (r == -E2BIG) {
                (void) snprintf(reason, sizeof(reason), "%s '%s' is larger than %zu bytes",
                                what, path, max);
                /* an oversized token is an invalid token; an oversized JWKS a bad JWKS */
                return report(a, strip ? ATTESTCTL_EXIT_UNTRUSTED : EX_DATAERR, reason, NULL);
        }
        fprintf(stderr, "attestctl: cannot read %s '%s': %s\n", what, path, strerror(-r));
        return EX_NOINPUT;
}

int verify_token_main(int argc, char **argv)
{
        struct verify_args a = {
                .opts = { .now = time(NULL), .skew = MAA_CLOCK_SKEW_S_DEFAULT },
        };
        struct jose_jwks *jwks = NULL;
        struct jose_token *t = NULL;
        char *jwks_buf = NULL, *tok = NULL, reason[ERR_MSG_MAX + 16];
        size_t jwks_len = 0, tok_len = 0;
        struct err e = { "" };
        int r;

        r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        r = read_input(&a, "JWKS", a.jwks_path, JWKS_MAX_BYTES, false, &jwks_buf, &jwks_len);
        if (r != EX_OK)
                goto out;
        r = read_input(&a, "token", a.token_path, JWT_MAX_BYTES, true, &tok, &tok_len);
        if (r != EX_OK)
                goto out;
        if (jose_jwks_parse(jwks_buf, jwks_len, &jwks, &e) < 0) {
                (void) snprintf(reason, sizeof(reason), "JWKS: %s", e.msg);
                r = report(&a, EX_DATAERR, reason, NULL);
                goto out;
        }
        if (jose_verify(tok, tok_len, jwks, &a.opts, &t, &e) < 0)
                r = report(&a, ATTESTCTL_EXIT_UNTRUSTED, e.msg, NULL);
        else
                r = report(&a, EX_OK, NULL, jose_token_get0_claims(t));
out:
        jose_token_free(t);
        jose_jwks_free(jwks);
        free(jwks_buf);
        free(tok);
        return r;
}
