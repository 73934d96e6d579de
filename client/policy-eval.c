/* SPDX-License-Identifier: BSD-3-Clause */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "client/commands.h"
#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/policy.h"
#include "daemon/verdict.h"
#include "proto/b64.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: attestctl policy eval --policy FILE --claims FILE [--json]\n\n"
                "Evaluate a policy against token claims, offline. --claims takes a JSON object\n"
                "or a compact JWT (its payload is decoded WITHOUT verifying the signature).\n"
                "Exit status: 0 trusted, 1 untrusted, 64 usage, 65 bad policy or claims,\n"
                "66 a file cannot be read.\n");
}

/* Claims from a JSON object or a compact JWS. Returns an exit status. */
static int load_claims(const char *path, json_t **ret)
{
        struct diag_list errs = {};
        char *buf = NULL, *s, *dot1, *dot2;
        uint8_t *payload = NULL;
        size_t len = 0, plen = 0;
        json_error_t jerr;
        json_t *claims = NULL;
        int r, status = EX_DATAERR;

        r = diag_read_file(path, POLICY_CLAIMS_FILE_MAX_BYTES, &buf, &len, &errs);
        if (r < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        fprintf(stderr, "attestctl: %s\n", errs.msgs[i]);
                diag_list_done(&errs);
                return r == -EFBIG || r == -EINVAL ? EX_DATAERR : EX_NOINPUT;
        }
        s = buf;
        while (len > 0 && strchr(" \t\r\n", s[len - 1]))
                s[--len] = '\0';
        while (*s && strchr(" \t\r\n", *s))
                s++, len--;
        if (s[0] == '{') {
                claims = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
                if (!claims) {
                        fprintf(stderr, "attestctl: %s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
                        goto out;
                }
        } else {
                dot1 = memchr(s, '.', len);
                dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - s)) : NULL;
                if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - s))) {
                        fprintf(stderr, "attestctl: %s: neither a JSON object nor a compact JWT "
                                "(header.payload.signature)\n", path);
                        goto out;
                }
                if (b64_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), B64_URL, &payload, &plen) < 0) {
                        fprintf(stderr, "attestctl: %s: the JWT payload is not base64url\n", path);
                        goto out;
                }
                fprintf(stderr, "attestctl: note: %s is a JWT; its payload was decoded WITHOUT verifying "
                        "the signature, issuer or expiry\n", path);
                claims = json_loadb((const char *) payload, plen, JSON_REJECT_DUPLICATES, &jerr);
                if (!claims) {
                        fprintf(stderr, "attestctl: %s: JWT payload: %s (column %d)\n", path, jerr.text, jerr.column);
                        goto out;
                }
        }
        if (!json_is_object(claims)) {
                fprintf(stderr, "attestctl: %s: the claims must be a JSON object\n", path);
                goto out;
        }
        *ret = claims;
        claims = NULL;
        status = EX_OK;
out:
        json_decref(claims);
        free(payload);
        free(buf);
        return status;
}

static void print_human(const struct policy *p, const struct policy_result *res)
{
        size_t i, f = 0;
        json_t *o;

        printf("policy '%s' version %lld, sha256 %s\n", policy_get_name(p),
               (long long) policy_get_version(p), policy_get_sha256(p));
        json_array_foreach(res->rules, i, o) {
                const char *outcome = json_string_value(json_object_get(o, "outcome"));

                if (strcmp(outcome, "fail") == 0)
                        printf("  FAIL %s\n", json_string_value(json_object_get(json_array_get(res->reasons, f++),
                                                                                 "message")));
                else
                        printf("  %s %s\n", strcmp(outcome, "pass") == 0 ? "pass" : "skip",
                               json_string_value(json_object_get(o, "rule")));
        }
        printf("%s: %zu passed, %zu failed, %zu skipped\n", res->pass ? "trusted" : "untrusted",
               res->n_pass, res->n_fail, res->n_skip);
}

int policy_eval_main(int argc, char **argv)
{
        static const struct option options[] = {
                { "policy", required_argument, NULL, 'p' },
                { "claims", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *policy_path = NULL, *claims_path = NULL;
        struct diag_list errs = {};
        struct policy *p = NULL;
        struct policy_result *res = NULL;
        struct verdict *v = NULL;
        json_t *claims = NULL, *doc = NULL;
        bool json = false;
        int c, r, status;

        optind = 0;
        while ((c = getopt_long(argc, argv, "p:c:jh", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        policy_path = optarg;
                        break;
                case 'c':
                        claims_path = optarg;
                        break;
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
        if (!policy_path || !claims_path || optind != argc) {
                usage(stderr);
                return EX_USAGE;
        }
        r = policy_load(policy_path, &p, &errs);
        if (r < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        fprintf(stderr, "%s\n", errs.msgs[i]);
                diag_list_done(&errs);
                return r == -ENOENT || r == -EACCES ? EX_NOINPUT : EX_DATAERR;
        }
        status = load_claims(claims_path, &claims);
        if (status != EX_OK)
                goto out;
        r = policy_eval(p, claims, &res);
        if (r >= 0 && json)
                r = verdict_from_claims(p, res, claims, time(NULL), &v);
        if (r >= 0 && json)
                r = verdict_to_json(v, time(NULL), false, &doc);
        if (r < 0) {
                fprintf(stderr, "attestctl: evaluation failed: %s\n", strerror(-r));
                status = EX_SOFTWARE;
                goto out;
        }
        if (json) {
                if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
                        status = EX_IOERR;
                        goto out;
                }
                putchar('\n');
        } else {
                print_human(p, res);
        }
        status = res->pass ? 0 : 1;
out:
        json_decref(doc);
        verdict_free(v);
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
        return status;
}
