/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_CLIENT_H
#define ATTESTD_CLIENT_H

/*
 * libattestd-client: talk to the local attestd over its unix socket.
 *
 * Small and dependency-light (libc + jansson) so that it links statically
 * into a FROM-scratch init-container binary. Every call is bounded: one
 * deadline per call (default 5 s, attestd_client_set_timeout()), responses
 * at most ATTESTD_RESPONSE_MAX bytes. Functions return 0 or a negative
 * errno; attestd_strerror() turns it into a sentence:
 *   -ENOENT, -ECONNREFUSED  the daemon is not running (no socket / nobody listens)
 *   -EACCES                 the socket exists but this user may not connect
 *   -ETIMEDOUT              no complete answer before the deadline
 *   -EBADMSG                the answer is not the HTTP/JSON the API promises
 *   -EMSGSIZE               the answer exceeds ATTESTD_RESPONSE_MAX
 *   -EPERM                  the daemon refused: this caller is not authorized
 *   -EAGAIN                 the daemon rate-limited this caller
 *   -ENODATA                the daemon has no token to hand out
 */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define ATTESTD_SOCKET_DEFAULT  "/run/attestd/attestd.sock"
#define ATTESTD_SOCKET_ENV      "ATTESTD_SOCKET"
#define ATTESTD_RESPONSE_MAX    (1024 * 1024)
#define ATTESTD_TIMEOUT_MS_DEFAULT 5000

enum attestd_verdict {
        ATTESTD_VERDICT_UNKNOWN,
        ATTESTD_VERDICT_TRUSTED,
        ATTESTD_VERDICT_UNTRUSTED,
};

const char *attestd_verdict_to_string(enum attestd_verdict v);

struct attestd_client;

/* socket_path: NULL means $ATTESTD_SOCKET, else ATTESTD_SOCKET_DEFAULT (copied).
 * [out] ret: callee-allocated; free with attestd_client_free(). */
int attestd_client_new(const char *socket_path, struct attestd_client **ret);
struct attestd_client *attestd_client_free(struct attestd_client *c);
void attestd_client_set_timeout(struct attestd_client *c, unsigned timeout_ms);
const char *attestd_client_get_socket(const struct attestd_client *c);   /* borrowed */

/* One raw exchange: HTTP status and the body parsed as JSON. */
struct attestd_response {
        int status;
        json_t *json;           /* owned; NULL when the body is not JSON */
        char *body;             /* owned, NUL-terminated */
        size_t body_len;
};
void attestd_response_done(struct attestd_response *r);
int attestd_request(struct attestd_client *c, const char *method, const char *path,
                    const char *body, struct attestd_response *ret);

/* GET /v1/verdict[?max_age=S] (max_age < 0: none). *ret_doc (optional) is
 * the verdict document (new reference). */
int attestd_get_verdict(struct attestd_client *c, long max_age, enum attestd_verdict *ret,
                        json_t **ret_doc);

/* GET /v1/token. [out] *ret_jwt callee-allocated (free()). */
int attestd_get_token(struct attestd_client *c, char **ret_jwt);

/* POST /v1/attest {"nonce": nonce_b64}. [out] the verdict and the whole
 * answer (including "token" when trusted). */
int attestd_attest(struct attestd_client *c, const char *nonce_b64, enum attestd_verdict *ret,
                   json_t **ret_doc);

/* GET /v1/status. */
int attestd_get_status(struct attestd_client *c, json_t **ret);

/*
 * Wait until the verdict is trusted, for at most timeout_ms: retries with
 * backoff (100 ms doubling to 2 s) while the daemon is unreachable or the
 * verdict is unknown; an untrusted verdict ends the wait at once.
 * Returns 0 with *ret set (trusted or untrusted), -ETIMEDOUT (then *ret is
 * the last verdict seen, unknown if none) or another error.
 */
int attestd_wait(struct attestd_client *c, unsigned timeout_ms, long max_age,
                 enum attestd_verdict *ret, json_t **ret_doc);

const char *attestd_strerror(int r);

#endif
