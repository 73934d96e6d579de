/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What libattestd-client reads from the daemon: the input is the whole
 * HTTP answer (status line, headers, body), parsed as the client does,
 * then interpreted as the answer of each endpoint. Also checks that
 * reading it in two parts agrees with reading it at once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client-response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void interpret(const struct attestd_response *resp)
{
        enum attestd_verdict v = ATTESTD_VERDICT_UNKNOWN;
        json_t *doc = NULL;
        char *jwt = NULL;

        if (client_response_verdict(resp, &v, &doc) == 0) {
                if ((resp->status == 200) != (v == ATTESTD_VERDICT_TRUSTED) || doc != resp->json)
                        abort();
                json_decref(doc);
        }
        doc = NULL;
        if (client_response_attest(resp, &v, &doc) == 0)
                json_decref(doc);
        if (client_response_token(resp, &jwt) == 0) {
                if (resp->status != 200)
                        abort();
                free(jwt);
        }
        doc = NULL;
        if (client_response_status(resp, &doc) == 0) {
                if (!json_is_object(doc))
                        abort();
                json_decref(doc);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *) data;
        struct attestd_response full = {}, closed = {}, part = {};
        int r_full, r_closed, r_part;
        size_t cut = size / 2;

        /* the whole answer, with the connection still open and then closed */
        r_full = client_response_parse(buf, size, false, &full);
        r_closed = client_response_parse(buf, size, true, &closed);
        if (r_closed == 0 || (r_full != 0 && r_full != r_closed))
                abort();
        if (r_full == 1 && (full.body_len != closed.body_len ||
                            memcmp(full.body, closed.body, full.body_len) != 0))
                abort();
        if (r_closed == 1) {
                if (closed.body_len > size || closed.body[closed.body_len] != '\0' ||
                    closed.status < 100 || closed.status > 599)
                        abort();
                interpret(&closed);
        }

        /* the first half only: a verdict then must hold for the whole */
        r_part = client_response_parse(buf, cut, false, &part);
        if (r_part < 0 && r_part != -ENOMEM && r_part != r_full)
                abort();
        if (r_part == 1 && (r_full != 1 || part.body_len != full.body_len ||
                            memcmp(part.body, full.body, part.body_len) != 0))
                abort();

        attestd_response_done(&full);
        attestd_response_done(&closed);
        attestd_response_done(&part);
        return 0;
}
