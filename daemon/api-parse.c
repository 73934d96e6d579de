/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "daemon/api-parse.h"
#include "daemon/defaults.h"
#include "daemon/xalloc.h"
#include "proto/b64.h"

static const struct api_route_info routes[_API_ROUTE_MAX] = {
        [API_ROUTE_VERDICT] = { "/v1/verdict", "verdict", API_METHOD_GET, API_SCOPE_PUBLIC, false, true },
        [API_ROUTE_TOKEN] = { "/v1/token", "token", API_METHOD_GET, API_SCOPE_TOKEN, true, false },
        [API_ROUTE_ATTEST] = { "/v1/attest", "attest", API_METHOD_POST, API_SCOPE_TOKEN, true, false },
        [API_ROUTE_STATUS] = { "/v1/status", "status", API_METHOD_GET, API_SCOPE_PUBLIC, false, false },
        [API_ROUTE_REFRESH] = { "/v1/refresh", "refresh", API_METHOD_POST, API_SCOPE_ROOT, true, false },
        [API_ROUTE_HEALTHZ] = { "/healthz", "healthz", API_METHOD_GET, API_SCOPE_PUBLIC, false, false },
        [API_ROUTE_READYZ] = { "/readyz", "readyz", API_METHOD_GET, API_SCOPE_PUBLIC, false, false },
        [API_ROUTE_METRICS] = { "/metrics", "metrics", API_METHOD_GET, API_SCOPE_PUBLIC, false, false },
};

const struct api_route_info *api_route_info(enum api_route r)
{
        return r >= 0 && r < _API_ROUTE_MAX ? &routes[r] : NULL;
}

int api_parse_route(const char *path, enum api_route *ret, struct err *e)
{
        size_t len;

        if (!path || path[0] != '/')
                return err_set(e, -EINVAL, "the request target must be an absolute path");
        len = strlen(path);
        if (len > API_URI_MAX)
                return err_set(e, -EINVAL, "the request path is longer than %d bytes", API_URI_MAX);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) path[i];
                if (c <= 0x20 || c >= 0x7f)
                        return err_set(e, -EINVAL, "the request path contains a byte outside printable ASCII");
                if (c == '%')
                        return err_set(e, -EINVAL, "percent escapes are not accepted in the request path");
                if (c == '/' && i + 1 < len && path[i + 1] == '/')
                        return err_set(e, -EINVAL, "empty path segments are not accepted");
                if (c == '/' && path[i + 1] == '.' &&
                    (path[i + 2] == '/' || path[i + 2] == '\0' ||
                     (path[i + 2] == '.' && (path[i + 3] == '/' || path[i + 3] == '\0'))))
                        return err_set(e, -EINVAL, "dot segments are not accepted in the request path");
        }
        for (int r = 0; r < _API_ROUTE_MAX; r++)
                if (strcmp(path, routes[r].path) == 0) {
                        *ret = (enum api_route) r;
                        return 0;
                }
        return err_set(e, -ENOENT, "no such resource");
}

static int parse_max_age(const char *v, size_t n, long *ret, struct err *e)
{
        long x = 0;

        if (n == 0 || n > 10)
                return err_set(e, -EINVAL, "max_age must be a number of seconds (0..%ld)", API_MAX_AGE_S_MAX);
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return err_set(e, -EINVAL, "max_age must be a non-negative integer");
                x = x * 10 + (v[i] - '0');
        }
        if (x > API_MAX_AGE_S_MAX)
                return err_set(e, -EINVAL, "max_age may not exceed %ld seconds", API_MAX_AGE_S_MAX);
        *ret = x;
        return 0;
}

int api_parse_query(enum api_route r, const char *query, long *ret_max_age, struct err *e)
{
        long max_age = -1;
        const char *p = query;

        if (r < 0 || r >= _API_ROUTE_MAX)
                return err_set(e, -EINVAL, "invalid route");
        if (!query || !*query) {
                *ret_max_age = -1;
                return 0;
        }
        if (!routes[r].has_query)
                return err_set(e, -EINVAL, "%s takes no query parameters", routes[r].path);
        while (*p) {
                const char *amp = strchr(p, '&');
                size_t n = amp ? (size_t) (amp - p) : strlen(p);
                const char *eq = memchr(p, '=', n);
                int k;

                if (!eq || (size_t) (eq - p) != strlen("max_age") || memcmp(p, "max_age", 7) != 0)
                        return err_set(e, -EINVAL, "unknown query parameter (only max_age is accepted)");
                if (max_age >= 0)
                        return err_set(e, -EINVAL, "max_age given more than once");
                k = parse_max_age(eq + 1, n - (size_t) (eq + 1 - p), &max_age, e);
                if (k < 0)
                        return k;
                if (!amp)
                        break;
                p = amp + 1;
                if (!*p)
                        return err_set(e, -EINVAL, "empty query parameter");
        }
        *ret_max_age = max_age;
        return 0;
}

int api_parse_attest_body(const char *body, size_t len, uint8_t *nonce, size_t *ret_nonce_len,
                          struct err *e)
{
        json_error_t jerr;
        json_t *root = NULL, *v;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        const char *s;
        int r;

        if (len == 0)
                return err_set(e, -EINVAL, "the request body is empty (expected {\"nonce\": \"<base64>\"})");
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return err_set(e, -EINVAL, "the request body is not valid JSON: %s (column %d)", jerr.text,
                               jerr.column);
        if (!json_is_object(root)) {
                r = err_set(e, -EINVAL, "the request body must be a JSON object");
                goto out;
        }
        if (json_object_size(root) != 1 || !(v = json_object_get(root, "nonce"))) {
                r = err_set(e, -EINVAL, "the request body takes exactly one member, \"nonce\"");
                goto out;
        }
        if (!json_is_string(v)) {
                r = err_set(e, -EINVAL, "\"nonce\" must be a base64 string");
                goto out;
        }
        s = json_string_value(v);
        r = b64_decode(s, json_string_length(v), B64_STD, &raw, &raw_len);
        if (r == -ENOMEM)
                goto out;
        if (r < 0) {
                r = err_set(e, -EINVAL, "\"nonce\" is not standard base64 with padding");
                goto out;
        }
        if (raw_len < API_NONCE_MIN_BYTES || raw_len > API_NONCE_MAX_BYTES) {
                r = err_set(e, -EINVAL, "\"nonce\" must decode to %d..%d bytes, not %zu", API_NONCE_MIN_BYTES,
                            API_NONCE_MAX_BYTES, raw_len);
                goto out;
        }
        memcpy(nonce, raw, raw_len);
        *ret_nonce_len = raw_len;
        r = 0;
out:
        if (raw)
                freezero(raw, raw_len);
        json_decref(root);
        return r;
}

bool api_parse_is_json_content_type(const char *value)
{
        size_t n = strlen("application/json");

        if (!value || strncasecmp(value, "application/json", n) != 0)
                return false;
        value += n;
        while (*value == ' ' || *value == '\t')
                value++;
        return *value == '\0' || *value == ';';
}
