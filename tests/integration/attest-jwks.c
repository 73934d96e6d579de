/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JWKS caching and key rotation in one long-lived attester, against the sim
 * (env from tests/integration/attest-jwks.sh): the first run fetches the
 * keys; a later run reuses them; after the emulator rotates its key a run
 * refetches once and succeeds; a token naming an unknown kid right after a
 * fetch does not refetch again (rate limit) and fails closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/attest.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/tpm.h"
#include "proto/err.h"

struct ctx {
        struct event_base *base;
        enum attest_status status;
        char code[32];
};

static void done(struct attest_outcome *o, void *userdata)
{
        struct ctx *c = userdata;

        c->status = o->status;
        snprintf(c->code, sizeof(c->code), "%s", o->code);
        if (o->status != ATTEST_OK)
                printf("  outcome %s: %s\n", o->code, o->message);
        (void) event_base_loopbreak(c->base);
}

static int run(struct attester *a, struct ctx *c)
{
        c->status = _ATTEST_STATUS_MAX;
        if (attester_run(a, NULL, done, c) < 0)
                return -1;
        if (c->status == _ATTEST_STATUS_MAX)
                (void) event_base_dispatch(c->base);
        return c->status;
}

/* GET /certs requests the emulator recorded */
static int certs_fetches(const char *log)
{
        char *line = NULL;
        size_t cap = 0;
        int n = 0;
        FILE *f;

        usleep(300 * 1000);     /* the emulator records a request after answering it */
        f = fopen(log, "r");
        if (!f)
                return 0;       /* nothing recorded yet */
        while (getline(&line, &cap, f) > 0)
                if (strstr(line, "\"method\": \"GET\", \"path\": \"/certs\""))
                        n++;
        free(line);
        fclose(f);
        return n;
}

static int sim(const char *args)
{
        char cmd[1024];

        snprintf(cmd, sizeof(cmd), "\"%s\" %s --dir \"%s\" >/dev/null", getenv("SIM"), args, getenv("SIMDIR"));
        return system(cmd);
}

#define CHECK(cond, ...)                                                        \
        do {                                                                    \
                if (cond) {                                                     \
                        printf("ok   " __VA_ARGS__);                            \
                        printf("\n");                                           \
                } else {                                                        \
                        printf("FAIL " __VA_ARGS__);                            \
                        printf("\n");                                           \
                        failures++;                                             \
                }                                                               \
        } while (0)

int main(void)
{
        const char *cfgpath = getenv("ATTESTD_SIM_CONFIG"), *reqlog = getenv("ATTESTD_SIM_REQUESTS");
        struct diag_list errs = {};
        struct config *cfg = NULL;
        struct http_client *http = NULL;
        struct attester *a = NULL;
        struct tpm *tpm = NULL;
        struct ctx c = {};
        struct err e = {};
        int failures = 0, n0, n;

        if (!cfgpath || !reqlog || !getenv("SIM") || !getenv("SIMDIR"))
                return 77;
        log_setup(LOG_TARGET_TEXT, LOG_WARNING);
        if (config_load(cfgpath, &cfg, &errs) < 0)
                return 1;
        c.base = event_base_new();
        if (!c.base || tpm_new(c.base, cfg->tpm.tcti, &tpm, &e) < 0 ||
            http_client_new(c.base, &http) < 0 || attester_new(c.base, cfg, tpm, http, &a) < 0) {
                printf("setup failed: %s\n", e.msg);
                return 1;
        }
        n0 = certs_fetches(reqlog);
        CHECK(run(a, &c) == ATTEST_OK, "first attestation verified");
        n = certs_fetches(reqlog);
        CHECK(n == n0 + 1, "the keys were fetched once (%d)", n - n0);
        CHECK(run(a, &c) == ATTEST_OK, "second attestation verified");
        n = certs_fetches(reqlog);
        CHECK(n == n0 + 1, "the cached keys were reused (%d fetches)", n - n0);

        /* a token naming an unknown kid right after the fetch: no refetch */
        sim("fault unknown-kid --count 1");
        CHECK(run(a, &c) == ATTEST_ERROR && strcmp(c.code, "token-invalid") == 0,
              "unknown kid within the refetch interval fails closed");
        n = certs_fetches(reqlog);
        CHECK(n == n0 + 1, "and does not refetch the keys (%d fetches)", n - n0);

        /* rotation after the interval: one refetch, then success */
        sim("fault key-rotation --drop-old");
        sleep(JWKS_REFETCH_MIN_INTERVAL_S + 1);
        CHECK(run(a, &c) == ATTEST_OK, "after key rotation the token verifies");
        n = certs_fetches(reqlog);
        CHECK(n == n0 + 2, "with exactly one refetch (%d)", n - n0);

        attester_free(a);
        http_client_free(http);
        tpm_free(tpm);
        event_base_free(c.base);
        config_free(cfg);
        printf("%d failure(s)\n", failures);
        return failures ? 1 : 0;
}
