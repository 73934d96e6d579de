/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attestctl inspect token FILE [--json]: decode an MAA token without
 * verifying it. Exit 0 when it decodes, 65 (EX_DATAERR) when it is not a
 * well-formed JWS/JWT, 66 (EX_NOINPUT) when FILE cannot be read, 64 on
 * usage errors.
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

/* Print s with control characters escaped: token contents are untrusted. */
static void print_escaped(const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c < 0x20 || c == 0x7f)
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
}

static void print_field(const char *label, const char *value)
{
        if (!value)
                return;
        printf("%-18s ", label);
        print_escaped(value);
        putchar('\n');
}

static const char *member_string(const json_t *obj, const char *key)
{
        return json_string_value(json_object_get(obj, key));
}

static void print_time(const char *label, int (*get)(const struct jose_token *, int64_t *),
                       const struct jose_token *t)
{
        int64_t v = 0;
        char buf[64];
        struct tm tm;
        time_t tt;
        int r;

        r = get(t, &v);
        if (r == -ENODATA)
                return;
        printf("%-18s ", label);
        tt = (time_t) v;
        if (r < 0 || !gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                printf("(not a valid time)\n");
        else
                printf("%s (%" PRId64 ")\n", buf, v);
}

static void print_human(const char *path, const struct jose_token *t)
{
        const json_t *h = jose_token_get0_header(t), *c = jose_token_get0_claims(t);
        const json_t *tee = json_object_get(c, "x-ms-isolation-tee");
        const json_t *payload = json_object_get(json_object_get(c, "x-ms-runtime"), "client-payload");
        const char *type = member_string(c, "x-ms-attestation-type"), *tee_type, *compliance;
        int64_t iat = 0, exp = 0;
        const char *key;
        json_t *v;

        /* AzureGuest tokens nest the TEE claims; SevSnpVm/TdxVm ones do not */
        tee_type = tee ? member_string(tee, "x-ms-attestation-type") : type;
        compliance = member_string(tee ? tee : c, "x-ms-compliance-status");

        printf("%-18s ", "Token:");
        print_escaped(path);
        printf(" (signature NOT verified)\n");
        print_field("Algorithm:", jose_token_get0_alg(t));
        print_field("Key ID:", jose_token_get0_kid(t));
        print_field("Key URL (jku):", member_string(h, "jku"));
        print_field("Issuer:", jose_token_get0_iss(t));
        print_time("Issued at:", jose_token_get_iat, t);
        print_time("Not before:", jose_token_get_nbf, t);
        print_time("Expires:", jose_token_get_exp, t);
        if (jose_token_get_iat(t, &iat) == 0 && jose_token_get_exp(t, &exp) == 0 && exp >= iat)
                printf("%-18s %" PRId64 "h%02" PRId64 "m\n", "Lifetime:",
                       (exp - iat) / 3600, (exp - iat) % 3600 / 60);
        print_field("Token ID (jti):", jose_token_get0_jti(t));
        print_field("Attestation type:", type);
        print_field("TEE type:", tee_type);
        print_field("Compliance:", compliance);
        if (json_is_boolean(json_object_get(c, "secureboot")))
                print_field("Secure Boot:", json_is_true(json_object_get(c, "secureboot")) ?
                            "true" : "false");
        print_field("VM ID:", member_string(c, "x-ms-azurevm-vmid"));
        print_field("OS:", member_string(c, "x-ms-azurevm-osdistro"));
        print_field("Policy hash:", member_string(c, "x-ms-policy-hash"));
        json_object_foreach((json_t *) payload, key, v) {
                printf("%-18s ", "Client payload:");
                print_escaped(key);
                putchar('=');
                print_escaped(json_is_string(v) ? json_string_value(v) : "(not a string)");
                putchar('\n');
        }
}

static int print_json(const struct jose_token *t)
{
        json_t *out = json_pack("{sOsO}", "header", jose_token_get0_header(t),
                                "claims", jose_token_get0_claims(t));
        int r;

        if (!out)
                return EX_SOFTWARE;
        r = json_dumpf(out, stdout, JSON_INDENT(2));
        json_decref(out);
        if (r < 0)
                return EX_IOERR;
        putchar('\n');
        return EX_OK;
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: attestctl inspect token [--json] FILE\n"
                "Decode an MAA token (JWT) without verifying its signature.\n"
                "  --json   print {\"header\": {...}, \"claims\": {...}}\n");
}

int inspect_token_main(int argc, char **argv)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct jose_token *t = NULL;
        struct err e = { "" };
        bool json = false;
        char *buf = NULL;
        size_t len = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EX_OK;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (optind != argc - 1) {
                usage(stderr);
                return EX_USAGE;
        }
        r = token_file_read(argv[optind], JWT_MAX_BYTES, true, &buf, &len);
        if (r == -E2BIG) {
                fprintf(stderr, "attestctl: '%s' is larger than %d bytes\n", argv[optind],
                        JWT_MAX_BYTES);
                return EX_DATAERR;
        }
        if (r < 0) {
                fprintf(stderr, "attestctl: cannot read '%s': %s\n", argv[optind], strerror(-r));
                return EX_NOINPUT;
        }
        r = jose_decode_unverified(buf, len, &t, &e);
        free(buf);
        if (r < 0) {
                fprintf(stderr, "attestctl: '%s' is not a valid token: %s\n", argv[optind], e.msg);
                return EX_DATAERR;
        }
        if (json)
                r = print_json(t);
        else {
                print_human(argv[optind], t);
                r = EX_OK;
        }
        jose_token_free(t);
        return r;
}
