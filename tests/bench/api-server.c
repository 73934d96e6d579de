/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's local API with a core that holds a fixed, cached verdict:
 * what GET /v1/verdict costs in the API layer itself (routing, accounting,
 * JSON encoding, metrics). Usage: api-server SOCKET_PATH
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/api.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "tests/bench/verdict-doc.h"

static json_t *doc;

static int b_verdict(void *ud, long max_age, json_t **ret)
{
        *ret = json_incref(doc);
        return 200;
}

static int b_token(void *ud, const struct api_caller *c, char **ret)
{
        return -ENODATA;
}

static int b_attest(void *ud, const struct api_caller *c, const uint8_t *n, size_t l, api_reply_fn d, void *du)
{
        return -EBUSY;
}

static int b_refresh(void *ud, const struct api_caller *c)
{
        return -EALREADY;
}

static json_t *b_status(void *ud)
{
        return json_pack("{s:s}", "state", "bench");
}

static bool b_ready(void *ud)
{
        return true;
}

static const struct api_ops ops = {
        .verdict = b_verdict, .token = b_token, .attest = b_attest,
        .refresh = b_refresh, .status = b_status, .ready = b_ready,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
        event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
        struct event_base *base = NULL;
        struct config *cfg = NULL;
        struct metrics *m = NULL;
        struct api *api = NULL;
        struct event *sig = NULL;
        int r = 1;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        log_setup(LOG_TARGET_TEXT, LOG_WARNING);
        doc = json_loads(BENCH_VERDICT_DOC, 0, NULL);
        base = event_base_new();
        cfg = config_new_default();
        m = metrics_new();
        if (!doc || !base || !cfg)
                goto out;
        free(cfg->api.socket);
        cfg->api.socket = strdup(argv[1]);
        cfg->api.max_connections = 1024;
        if (api_new(base, cfg, &ops, NULL, m, &api) < 0 || api_listen_path(api) < 0)
                goto out;
        sig = evsignal_new(base, SIGTERM, on_signal, base);
        if (!sig || event_add(sig, NULL) < 0)
                goto out;
        event_base_dispatch(base);
        r = 0;
out:
        if (sig)
                event_free(sig);
        api_free(api);
        if (base)
                event_base_free(base);
        metrics_free(m);
        config_free(cfg);
        json_decref(doc);
        return r;
}
