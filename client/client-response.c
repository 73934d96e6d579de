/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading the daemon's answers; see client-response.h. No I/O.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client-response.h"

void attestd_response_done(struct attestd_response *r)
{
        if (!r)
                return;
        json_decref(r->json);
        free(r->body);
        memset(r, 0, sizeof(*r));
}

/* The value of a Content-Length header, p..eol: blanks, digits, blanks.
 * Never reads past eol. */
static int parse_content_length(const char *p, const char *eol, long *ret)
{
        const char *digits;
        long v = 0;

        while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
        for (digits = p; p < eol && *p >= '0' && *p <= '9'; p++) {
                if (v > (LONG_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (*p - '0');
        }
        if (p == digits)
                return -EBADMSG;
        while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
        if (p != eol)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Parse "HTTP/1.x NNN ...\r\nheaders\r\n\r\n". Returns header length, 0 if
 * incomplete, or -EBADMSG. */
static long parse_head(const char *buf, size_t len, int *ret_status, long *ret_clen)
{
        const char *end = NULL, *line;
        long clen = -1;
        int status;

        for (size_t i = 0; i + 3 < len; i++)
                if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
                        end = buf + i;
                        break;
                }
        if (!end)
                return 0;
        if (len < 12 || (strncmp(buf, "HTTP/1.1 ", 9) != 0 && strncmp(buf, "HTTP/1.0 ", 9) != 0))
                return -EBADMSG;
        if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
            buf[11] > '9')
                return -EBADMSG;
        status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
        for (line = memchr(buf, '\n', (size_t) (end - buf)); line && line < end;
             line = memchr(line, '\n', (size_t) (end - line))) {
                line++;
                if ((size_t) (end - line) > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
                        /* the line ends before "\r\n"; the last one's is at end */
                        const char *eol = memchr(line, '\n', (size_t) (end + 2 - line));
                        long v;

                        if (eol[-1] == '\r')
                                eol--;
                        if (parse_content_length(line + 15, eol, &v) < 0 ||
                            (clen >= 0 && v != clen))
                                return -EBADMSG;
                        clen = v;
                } else if ((size_t) (end - line) > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
                        return -EBADMSG;        /* the API always sends a length */
                }
        }
        *ret_status = status;
        *ret_clen = clen;
        return (long) (end - buf) + 4;
}

int client_response_parse(const char *buf, size_t len, bool eof, struct attestd_response *ret)
{
        struct attestd_response resp = {};
        long head, clen = -1;
        int status = 0;

        head = parse_head(buf, len, &status, &clen);
        if (head < 0)
                return -EBADMSG;
        if (head > 0 && clen > ATTESTD_RESPONSE_MAX)
                return -EMSGSIZE;
        if (head == 0 || clen < 0 || len < (size_t) head + (size_t) clen) {
                /* incomplete; at the close, complete only if the length was not promised */
                if (!eof)
                        return 0;
                if (head == 0 || clen >= 0)
                        return -EBADMSG;
        }
        if (len - (size_t) head > ATTESTD_RESPONSE_MAX)
                return -EMSGSIZE;
        resp.status = status;
        resp.body_len = clen >= 0 ? (size_t) clen : len - (size_t) head;
        resp.body = malloc(resp.body_len + 1);
        if (!resp.body)
                return -ENOMEM;
        memcpy(resp.body, buf + head, resp.body_len);
        resp.body[resp.body_len] = '\0';
        resp.json = json_loadb(resp.body, resp.body_len, JSON_REJECT_DUPLICATES, NULL);
        *ret = resp;
        return 1;
}

static enum attestd_verdict verdict_of(const json_t *doc)
{
        const char *s = json_string_value(json_object_get(doc, "verdict"));

        if (s && strcmp(s, "trusted") == 0)
                return ATTESTD_VERDICT_TRUSTED;
        if (s && strcmp(s, "untrusted") == 0)
                return ATTESTD_VERDICT_UNTRUSTED;
        return ATTESTD_VERDICT_UNKNOWN;
}

/* Map an API error status to an errno. */
static int status_error(int status)
{
        switch (status) {
        case 401:
        case 403:
                return -EPERM;
        case 404:
                return -ENODATA;
        case 429:
                return -EAGAIN;
        default:
                return status >= 500 ? -EIO : -EBADMSG;
        }
}

int client_response_verdict(const struct attestd_response *resp, enum attestd_verdict *ret,
                            json_t **ret_doc)
{
        enum attestd_verdict v;

        if (!json_is_object(resp->json) || !json_object_get(resp->json, "verdict"))
                return status_error(resp->status);
        v = verdict_of(resp->json);
        if ((resp->status == 200) != (v == ATTESTD_VERDICT_TRUSTED))
                return -EBADMSG;
        *ret = v;
        if (ret_doc)
                *ret_doc = json_incref(resp->json);
        return 0;
}

int client_response_attest(const struct attestd_response *resp, enum attestd_verdict *ret,
                           json_t **ret_doc)
{
        if (resp->status == 400)
                return -EINVAL;
        return client_response_verdict(resp, ret, ret_doc);
}

int client_response_token(const struct attestd_response *resp, char **ret_jwt)
{
        const char *tok = json_string_value(json_object_get(resp->json, "token"));
        char *jwt;

        if (resp->status != 200)
                return resp->status == 503 ? -ENODATA : status_error(resp->status);
        if (!tok)
                return -EBADMSG;
        jwt = strdup(tok);
        if (!jwt)
                return -ENOMEM;
        *ret_jwt = jwt;
        return 0;
}

int client_response_status(const struct attestd_response *resp, json_t **ret)
{
        if (resp->status != 200)
                return status_error(resp->status);
        if (!json_is_object(resp->json))
                return -EBADMSG;
        *ret = json_incref(resp->json);
        return 0;
}
