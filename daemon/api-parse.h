/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_API_PARSE_H
#define ATTESTD_DAEMON_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

/*
 * The pure half of the local API: the route table and the strict parsers
 * for request targets, query strings and request bodies. No I/O, no
 * logging, fuzzed (tests/fuzz/fuzz-api.c).
 */

enum api_route {
        API_ROUTE_VERDICT,
        API_ROUTE_TOKEN,
        API_ROUTE_ATTEST,
        API_ROUTE_STATUS,
        API_ROUTE_REFRESH,
        API_ROUTE_HEALTHZ,
        API_ROUTE_READYZ,
        API_ROUTE_METRICS,
        _API_ROUTE_MAX,
        _API_ROUTE_INVALID = -22,
};

enum api_scope {
        API_SCOPE_PUBLIC,       /* anyone who can reach the socket */
        API_SCOPE_TOKEN,        /* root, api.token_uids, api.token_gids */
        API_SCOPE_ROOT,         /* uid 0 */
};

enum api_method {
        API_METHOD_GET,
        API_METHOD_POST,
};

struct api_route_info {
        const char *path;
        const char *name;       /* metrics label */
        enum api_method method;
        enum api_scope scope;
        bool rate_limited;
        bool has_query;         /* accepts ?max_age= */
};

/* [out] borrowed static entry, NULL for an invalid route. */
const struct api_route_info *api_route_info(enum api_route r);

/* The metrics label for requests that matched no route. */
#define API_ROUTE_NAME_OTHER "other"

/*
 * Match a raw (not percent-decoded) request path exactly. -EINVAL (400):
 * not absolute, empty segments ("//"), dot segments, percent escapes,
 * bytes outside printable ASCII, longer than API_URI_MAX. -ENOENT (404): a
 * well-formed path that is not a route.
 */
int api_parse_route(const char *path, enum api_route *ret, struct err *e);

/*
 * Parse the raw query string (NULL or "" when absent) for route r. Only
 * the verdict route takes a parameter, max_age: decimal digits, at most
 * API_MAX_AGE_S_MAX, once. Anything else is -EINVAL. *ret_max_age is -1
 * when absent.
 */
int api_parse_query(enum api_route r, const char *query, long *ret_max_age, struct err *e);

/*
 * Parse a POST /v1/attest body: exactly {"nonce": "<standard base64 of
 * API_NONCE_MIN_BYTES..API_NONCE_MAX_BYTES bytes>"}; duplicate or unknown
 * keys, trailing data and other types are -EINVAL. nonce must hold
 * API_NONCE_MAX_BYTES.
 */
int api_parse_attest_body(const char *body, size_t len, uint8_t *nonce, size_t *ret_nonce_len,
                          struct err *e);

/* Is a Content-Type header value application/json (parameters allowed)? */
bool api_parse_is_json_content_type(const char *value);

#endif
