/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "client/commands.h"
#include "client/inspect.h"
#include "daemon/defaults.h"
#include "daemon/eventlog.h"

/* Human-readable listing built from the JSON document, so that both forms
 * always show the same decoding. */
static void print_summary(const struct eventlog *log, json_t *doc)
{
        json_t *events = json_object_get(doc, "events"), *pcrs = json_object_get(doc, "pcrs");
        json_t *ev, *bank;
        const char *name;
        bool sb = false;
        size_t i;
        int r;

        printf("Event log: %zu events (Spec ID Event03, spec %u.%u.%u), banks:", log->n_events,
               log->spec_version_major, log->spec_version_minor, log->spec_errata);
        for (i = 0; i < log->n_banks; i++) {
                const char *n = eventlog_alg_to_string(log->banks[i].alg);

                if (n)
                        printf(" %s", n);
                else
                        printf(" 0x%04x", log->banks[i].alg);
        }
        printf("\n");
        json_array_foreach(events, i, ev) {
                json_t *data = json_object_get(ev, "data");
                char *d = data ? json_dumps(data, JSON_COMPACT) : NULL;

                printf("%4zu  PCR %2" JSON_INTEGER_FORMAT "  %-34s %s\n", i,
                       json_integer_value(json_object_get(ev, "pcr")),
                       json_string_value(json_object_get(ev, "type")), d ? d : "");
                free(d);
        }
        json_object_foreach(pcrs, name, bank) {
                const char *k;
                json_t *v;

                printf("PCRs (%s):\n", name);
                json_object_foreach(bank, k, v)
                        printf("  %2s: %s\n", k, json_string_value(v));
        }
        r = eventlog_secure_boot(log, &sb);
        printf("SecureBoot: %s\n", r < 0 ? "not measured" : sb ? "enabled" : "disabled");
}

int inspect_eventlog_main(int argc, char **argv)
{
        struct eventlog *log = NULL;
        struct inspect_args args;
        struct err e = { "" };
        json_t *doc = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int ret;

        ret = inspect_parse_args(argc, argv, "Usage: attestctl inspect eventlog FILE [--json]\n"
                                 "Parse and replay a TCG PC Client event log (binary_bios_measurements).\n",
                                 &args);
        if (ret >= 0)
                return ret;
        ret = inspect_read(args.path, EVENTLOG_SIZE_MAX, &buf, &len);
        if (ret)
                return ret;
        if (eventlog_parse(buf, len, &log, &e) < 0) {
                fprintf(stderr, "attestctl: %s: %s\n", args.path, e.msg);
                ret = EX_DATAERR;
                goto out;
        }
        if (eventlog_to_json(log, &doc) < 0) {
                fprintf(stderr, "attestctl: out of memory\n");
                ret = EX_SOFTWARE;
                goto out;
        }
        if (args.json) {
                ret = inspect_print_json(doc);
        } else {
                print_summary(log, doc);
                ret = EX_OK;
        }
out:
        json_decref(doc);
        eventlog_free(log);
        free(buf);
        return ret;
}
