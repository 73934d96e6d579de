/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_CLIENT_RESPONSE_H
#define ATTESTD_CLIENT_CLIENT_RESPONSE_H

/*
 * The part of libattestd-client that reads the daemon's answers: the HTTP
 * response and the JSON in it. Pure (no socket, no I/O, no global state)
 * so that tests/fuzz/fuzz-client.c can feed it anything. Private to the
 * library: not installed, and not exported (the library exports attestd_*
 * only). The public attestd_response_done() lives in client-response.c
 * too, next to the parser whose results it releases.
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "attestd/client.h"

/*
 * Parse the answer held in buf[0..len): "HTTP/1.0 NNN" or "HTTP/1.1 NNN"
 * (NNN in 100..599), headers up to an empty line, then a body of exactly
 * Content-Length bytes (anything after it is ignored) or, without
 * Content-Length, everything up to the close. Transfer-Encoding is refused
 * (the API always sends a length). The body is parsed as JSON, duplicate
 * keys refused; a body that is not JSON is not an error (json is NULL).
 *   buf: [in] borrowed; need not be NUL-terminated.
 *   eof: whether the daemon closed the connection after these bytes.
 *   ret: [out] on 1: status, body (NUL-terminated), body_len, json;
 *        release with attestd_response_done().
 * Returns 1 when buf holds a complete answer, 0 when more bytes are needed
 * (never when eof), -EBADMSG (not such an answer, or cut short by the
 * close), -EMSGSIZE (a body larger than ATTESTD_RESPONSE_MAX) or -ENOMEM.
 */
int client_response_parse(const char *buf, size_t len, bool eof, struct attestd_response *ret);

/*
 * What an answer means, per endpoint. resp: [in] borrowed, from
 * client_response_parse(). Each returns 0 or the -errno that the matching
 * attestd_*() call returns (see attestd/client.h); out parameters are
 * written only on 0.
 */

/* GET /v1/verdict: 200 trusted, 403 untrusted, 503 unknown; the body's
 * "verdict" must agree with the status. *ret_doc (optional): a new
 * reference to the document. */
int client_response_verdict(const struct attestd_response *resp, enum attestd_verdict *ret,
                            json_t **ret_doc);

/* POST /v1/attest: -EINVAL for 400 (a bad nonce), else as a verdict. */
int client_response_attest(const struct attestd_response *resp, enum attestd_verdict *ret,
                           json_t **ret_doc);

/* GET /v1/token: *ret_jwt = the "token" of a 200 (callee-allocated, free()). */
int client_response_token(const struct attestd_response *resp, char **ret_jwt);

/* GET /v1/status: *ret = a new reference to the status object of a 200. */
int client_response_status(const struct attestd_response *resp, json_t **ret);

#endif
