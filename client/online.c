/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The attestctl commands that talk to the daemon. They use only
 * libattestd-client, jansson and libc, so that they also build into the
 * static attestctl for init containers.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "attestd/client.h"
#include "client/commands.h"

struct online_opts {
        const char *socket;
        bool json;
        unsigned timeout_ms;    /* per request, or the whole wait */
        long max_age;
        const char *nonce;
};

/* "250ms", "5s", "2m", "1h" or plain seconds. Returns -EINVAL when malformed. */
static int parse_duration_ms(const char *s, unsigned *ret)
{
        char *end;
        double v, mult;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        if (*end == '\0' || strcmp(end, "s") == 0)
                mult = 1000;
        else if (strcmp(end, "ms") == 0)
                mult = 1;
        else if (strcmp(end, "m") == 0)
                mult = 60000;
        else if (strcmp(end, "h") == 0)
                mult = 3600000;
        else
                return -EINVAL;
        if (v * mult > 86400000.0 * 7)
                return -EINVAL;
        *ret = (unsigned) (v * mult);
        return 0;
}

static int parse_opts(int argc, char **argv, struct online_opts *o, bool want_wait, bool want_nonce)
{
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "max-age", required_argument, NULL, 'a' },
                { "nonce", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        o->max_age = -1;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "s:jt:a:n:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 't':
                        if (parse_duration_ms(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0) {
                                fprintf(stderr, "attestctl %s: invalid duration '%s' (e.g. 30s, 500ms, 2m)\n",
                                        argv[0], optarg);
                                return EX_USAGE;
                        }
                        break;
                case 'a': {
                        char *end;
                        errno = 0;
                        o->max_age = strtol(optarg, &end, 10);
                        if (errno || *end || o->max_age < 0) {
                                fprintf(stderr, "attestctl %s: invalid --max-age '%s' (seconds)\n", argv[0], optarg);
                                return EX_USAGE;
                        }
                        break;
                }
                case 'n':
                        if (!want_nonce)
                                goto usage;
                        o->nonce = optarg;
                        break;
                case 'h':
                default:
                        goto usage;
                }
        }
        if (optind != argc || (want_nonce && !o->nonce))
                goto usage;
        (void) want_wait;
        return 0;
usage:
        fprintf(stderr, "Usage: attestctl %s [--socket PATH] [--json]%s%s%s\n", argv[0],
                want_wait ? " [--timeout DURATION] [--max-age SECONDS]" : " [--timeout DURATION]",
                strcmp(argv[0], "verdict") == 0 ? " [--max-age SECONDS]" : "",
                want_nonce ? " --nonce BASE64" : "");
        return EX_USAGE;
}

static int connect_client(const struct online_opts *o, struct attestd_client **ret)
{
        int r = attestd_client_new(o->socket, ret);

        if (r < 0) {
                fprintf(stderr, "attestctl: %s\n", attestd_strerror(r));
                return EX_USAGE;
        }
        return 0;
}

/* Parse the options and make the client. Returns 0 or an exit status. */
static int open_client(int argc, char **argv, struct online_opts *o, bool want_wait, bool want_nonce,
                       struct attestd_client **ret)
{
        int r;

        if ((r = parse_opts(argc, argv, o, want_wait, want_nonce)) != 0 || (r = connect_client(o, ret)) != 0)
                return r;
        if (o->timeout_ms && !want_wait)
                attestd_client_set_timeout(*ret, o->timeout_ms);
        return 0;
}

static int exit_for_error(const struct attestd_client *c, int r)
{
        fprintf(stderr, "attestctl: %s: %s\n", attestd_client_get_socket(c), attestd_strerror(r));
        switch (r) {
        case -ENOENT:
        case -ECONNREFUSED:
        case -EACCES:
        case -ECONNRESET:
                return ATTESTCTL_EXIT_UNREACHABLE;
        case -ETIMEDOUT:
                return ATTESTCTL_EXIT_UNKNOWN;
        case -EPERM:
                return EX_NOPERM;
        default:
                return ATTESTCTL_EXIT_UNKNOWN;
        }
}

static void print_json(json_t *doc)
{
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        if (s) {
                puts(s);
                free(s);
        }
}

static int verdict_exit(enum attestd_verdict v)
{
        return v == ATTESTD_VERDICT_TRUSTED ? 0 : v == ATTESTD_VERDICT_UNTRUSTED ? ATTESTCTL_EXIT_UNTRUSTED
                                                                                : ATTESTCTL_EXIT_UNKNOWN;
}

/* Human summary of a verdict document. */
static void print_verdict(enum attestd_verdict v, json_t *doc)
{
        const char *msg = json_string_value(json_object_get(doc, "message"));
        json_t *reasons = json_object_get(doc, "reasons"), *r;
        size_t i;

        printf("%s%s", attestd_verdict_to_string(v),
               json_is_true(json_object_get(doc, "stale")) ? " (stale)" : "");
        if (json_is_integer(json_object_get(doc, "age_seconds")))
                printf(", age %llds", (long long) json_integer_value(json_object_get(doc, "age_seconds")));
        if (json_is_string(json_object_get(doc, "expires_at")))
                printf(", expires %s", json_string_value(json_object_get(doc, "expires_at")));
        printf("\n");
        if (msg)
                printf("  %s\n", msg);
        json_array_foreach(reasons, i, r) {
                const char *m = json_string_value(json_object_get(r, "message"));
                printf("  - %s\n", m ? m : "(no message)");
        }
}

int online_verdict_main(int argc, char **argv)
{
        struct online_opts o = {};
        struct attestd_client *c = NULL;
        enum attestd_verdict v;
        json_t *doc = NULL;
        int r;

        if ((r = open_client(argc, argv, &o, false, false, &c)) != 0)
                return r;
        r = attestd_get_verdict(c, o.max_age, &v, &doc);
        if (r < 0) {
                r = exit_for_error(c, r);
        } else {
                if (o.json)
                        print_json(doc);
                else
                        print_verdict(v, doc);
                r = verdict_exit(v);
        }
        json_decref(doc);
        attestd_client_free(c);
        return r;
}

int online_wait_main(int argc, char **argv)
{
        struct online_opts o = {};
        struct attestd_client *c = NULL;
        enum attestd_verdict v;
        json_t *doc = NULL;
        int r;

        if ((r = open_client(argc, argv, &o, true, false, &c)) != 0)
                return r;
        r = attestd_wait(c, o.timeout_ms ? o.timeout_ms : 60000, o.max_age, &v, &doc);
        if (r < 0 && r != -ETIMEDOUT) {
                r = exit_for_error(c, r);
        } else {
                if (r == -ETIMEDOUT)
                        fprintf(stderr, "attestctl wait: no trusted verdict within the timeout (last: %s)\n",
                                attestd_verdict_to_string(v));
                if (doc && o.json)
                        print_json(doc);
                else if (doc)
                        print_verdict(v, doc);
                r = r == -ETIMEDOUT ? ATTESTCTL_EXIT_UNKNOWN : verdict_exit(v);
        }
        json_decref(doc);
        attestd_client_free(c);
        return r;
}

int online_token_main(int argc, char **argv)
{
        struct online_opts o = {};
        struct attestd_client *c = NULL;
        char *jwt = NULL;
        int r;

        if ((r = open_client(argc, argv, &o, false, false, &c)) != 0)
                return r;
        r = attestd_get_token(c, &jwt);
        if (r < 0) {
                r = exit_for_error(c, r);
        } else {
                if (o.json)
                        printf("{\"token\": \"%s\"}\n", jwt);     /* base64url and dots only */
                else
                        puts(jwt);
                free(jwt);
        }
        attestd_client_free(c);
        return r;
}

int online_attest_main(int argc, char **argv)
{
        struct online_opts o = {};
        struct attestd_client *c = NULL;
        enum attestd_verdict v;
        json_t *doc = NULL;
        int r;

        if ((r = open_client(argc, argv, &o, false, true, &c)) != 0)
                return r;
        if (!o.timeout_ms)
                attestd_client_set_timeout(c, 60000);   /* a fresh attestation takes seconds */
        r = attestd_attest(c, o.nonce, &v, &doc);
        if (r == -EINVAL) {
                fprintf(stderr, "attestctl attest: the daemon rejected the nonce (base64 of 1-64 bytes)\n");
                r = EX_USAGE;
        } else if (r < 0) {
                r = exit_for_error(c, r);
        } else {
                if (o.json)
                        print_json(doc);
                else {
                        const char *tok = json_string_value(json_object_get(doc, "token"));
                        print_verdict(v, doc);
                        if (tok)
                                puts(tok);
                }
                r = verdict_exit(v);
        }
        json_decref(doc);
        attestd_client_free(c);
        return r;
}

int online_status_main(int argc, char **argv)
{
        struct online_opts o = {};
        struct attestd_client *c = NULL;
        json_t *doc = NULL;
        int r;

        if ((r = open_client(argc, argv, &o, false, false, &c)) != 0)
                return r;
        r = attestd_get_status(c, &doc);
        if (r < 0) {
                r = exit_for_error(c, r);
        } else {
                if (o.json) {
                        print_json(doc);
                } else {
                        const char *k;
                        json_t *v;
                        json_object_foreach(doc, k, v) {
                                char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                                printf("%-24s %s\n", k, s ? s : json_string_value(v));
                                free(s);
                        }
                }
                r = 0;
        }
        json_decref(doc);
        attestd_client_free(c);
        return r;
}
