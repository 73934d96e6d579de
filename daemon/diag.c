/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/file.h"
#include "daemon/xalloc.h"

/* ---- the message list ------------------------------------------------ */

void diag_list_done(struct diag_list *errs)
{
        if (!errs)
                return;
        for (size_t i = 0; i < errs->n; i++)
                free(errs->msgs[i]);
        free(errs->msgs);
        errs->msgs = NULL;
        errs->n = 0;
}

void diag_add(struct diag_list *errs, const char *name, int line, int col, const char *fmt, ...)
{
        char msg[512], *s;
        va_list ap;
        size_t len;

        if (!errs || errs->n > DIAG_ERRORS_MAX)
                return;
        if (errs->n == DIAG_ERRORS_MAX) {
                (void) snprintf(msg, sizeof(msg), "more than %d errors, the rest are not shown",
                                DIAG_ERRORS_MAX);
                line = 0;
        } else {
                va_start(ap, fmt);
                (void) vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        len = strlen(name) + strlen(msg) + 32;
        s = xmalloc(len);
        if (line > 0)
                (void) snprintf(s, len, "%s:%d:%d: %s", name, line, col, msg);
        else
                (void) snprintf(s, len, "%s: %s", name, msg);
        errs->msgs = xreallocarray(errs->msgs, errs->n + 1, sizeof(char *));
        errs->msgs[errs->n++] = s;
}

/* ---- member positions -------------------------------------------------
 * jansson does not keep source positions of values, so a second, small
 * scanner walks the (already validated) text and records where each member
 * starts, by JSON pointer. */

struct diag_pos {
        char *ptr;
        int line, col;
};

struct scanner {
        const char *s;
        size_t len, i;
        int line, col;
        struct diag_pos *pos;
        size_t n_pos, cap_pos;
        int depth, max_depth;
};

static int sc_peek(struct scanner *sc)
{
        return sc->i < sc->len ? (unsigned char) sc->s[sc->i] : -1;
}

static void sc_advance(struct scanner *sc)
{
        if (sc->i >= sc->len)
                return;
        if (sc->s[sc->i] == '\n') {
                sc->line++;
                sc->col = 1;
        } else {
                sc->col++;
        }
        sc->i++;
}

static void sc_ws(struct scanner *sc)
{
        while (sc_peek(sc) == ' ' || sc_peek(sc) == '\t' || sc_peek(sc) == '\n' || sc_peek(sc) == '\r')
                sc_advance(sc);
}

static void sc_record(struct scanner *sc, const char *ptr, int line, int col)
{
        if (sc->n_pos == sc->cap_pos) {
                sc->cap_pos = sc->cap_pos ? 2 * sc->cap_pos : 64;
                sc->pos = xreallocarray(sc->pos, sc->cap_pos, sizeof(struct diag_pos));
        }
        sc->pos[sc->n_pos++] = (struct diag_pos) { xstrdup(ptr), line, col };
}

/* Reads a string token; appends its (RFC 6901 escaped) text to out. */
static void sc_string(struct scanner *sc, char *out, size_t outlen)
{
        size_t o = strlen(out);

        sc_advance(sc);         /* opening quote */
        while (sc_peek(sc) >= 0 && sc_peek(sc) != '"') {
                int c = sc_peek(sc);
                if (c == '\\') {
                        sc_advance(sc);
                        c = sc_peek(sc);
                }
                if (o + 3 < outlen) {
                        if (c == '~') {
                                out[o++] = '~';
                                out[o++] = '0';
                        } else if (c == '/') {
                                out[o++] = '~';
                                out[o++] = '1';
                        } else {
                                out[o++] = (char) c;
                        }
                }
                sc_advance(sc);
        }
        out[o] = '\0';
        sc_advance(sc);         /* closing quote */
}

static void sc_value(struct scanner *sc, char *path, size_t pathlen);

static void sc_container(struct scanner *sc, char *path, size_t pathlen, bool object)
{
        size_t base = strlen(path);
        unsigned idx = 0;

        sc_advance(sc);
        if (++sc->depth > sc->max_depth) {
                sc->i = sc->len;
                return;
        }
        for (;;) {
                int line, col;

                sc_ws(sc);
                if (sc_peek(sc) < 0 || sc_peek(sc) == (object ? '}' : ']'))
                        break;
                line = sc->line;
                col = sc->col;
                path[base] = '\0';
                if (base + 2 < pathlen)
                        strcat(path, "/");
                if (object) {
                        sc_string(sc, path, pathlen);
                        sc_ws(sc);
                        sc_advance(sc); /* ':' */
                } else {
                        (void) snprintf(path + strlen(path), pathlen - strlen(path), "%u", idx++);
                }
                sc_record(sc, path, line, col);
                sc_ws(sc);
                sc_value(sc, path, pathlen);
                sc_ws(sc);
                if (sc_peek(sc) == ',')
                        sc_advance(sc);
        }
        path[base] = '\0';
        sc->depth--;
        sc_advance(sc);
}

static void sc_value(struct scanner *sc, char *path, size_t pathlen)
{
        int c = sc_peek(sc);

        if (c == '{' || c == '[') {
                sc_container(sc, path, pathlen, c == '{');
        } else if (c == '"') {
                char junk[8] = "";
                sc_string(sc, junk, sizeof(junk));
        } else {
                /* a scalar; always consume a byte, so that text jansson
                 * accepted up to a NUL cannot stall the scan */
                do
                        sc_advance(sc);
                while (sc_peek(sc) > 0 && !strchr(",}] \t\r\n", sc_peek(sc)));
        }
}

void diag_init(struct diag *d, const char *name, const char *text, size_t len, int max_depth,
               struct diag_list *errs)
{
        struct scanner sc = { .s = text, .len = len, .line = 1, .col = 1, .max_depth = max_depth };
        char path[1024] = "";

        sc_ws(&sc);
        sc_value(&sc, path, sizeof(path));
        *d = (struct diag) { .name = name, .errs = errs, .pos = sc.pos, .n_pos = sc.n_pos };
}

void diag_done(struct diag *d)
{
        for (size_t i = 0; i < d->n_pos; i++)
                free(d->pos[i].ptr);
        free(d->pos);
        d->pos = NULL;
        d->n_pos = 0;
}

void diag_at(struct diag *d, const char *ptr, const char *fmt, ...)
{
        int line = 0, col = 0;
        char msg[400];
        va_list ap;

        for (size_t i = 0; i < d->n_pos; i++)
                if (strcmp(d->pos[i].ptr, ptr) == 0) {
                        line = d->pos[i].line;
                        col = d->pos[i].col;
                        break;
                }
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        diag_add(d->errs, d->name, line, col, "%s: %s", ptr, msg);
        d->n_errors++;
}

int diag_parse_object(const char *text, size_t len, size_t max, const char *name, const char *what,
                      json_t **ret, struct diag_list *errs)
{
        json_error_t jerr;
        json_t *root;

        if (len > max) {
                diag_add(errs, name, 0, 0, "the %s is %zu bytes, more than the %zu allowed", what, len, max);
                return -E2BIG;
        }
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                diag_add(errs, name, jerr.line, jerr.column, "%s", jerr.text);
                return -EINVAL;
        }
        if (!json_is_object(root)) {
                diag_add(errs, name, 1, 1, "the %s must be a JSON object", what);
                json_decref(root);
                return -EINVAL;
        }
        *ret = root;
        return 0;
}

/* ---- bounded file reading ---------------------------------------------- */

int diag_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct diag_list *errs)
{
        uint8_t *buf = NULL;
        struct stat st;
        struct err e = {};
        size_t len;
        int r;

        /* stat first: say "not a regular file" or give the size, before reading */
        if (stat(path, &st) < 0) {
                r = -errno;
                diag_add(errs, path, 0, 0, "cannot open: %s", strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                diag_add(errs, path, 0, 0, "not a regular file");
                return -EINVAL;
        }
        if ((unsigned long long) st.st_size > max) {
                diag_add(errs, path, 0, 0, "file is %lld bytes, more than the %zu allowed",
                         (long long) st.st_size, max);
                return -EFBIG;
        }
        r = file_read_all(path, max, &buf, &len, &e);
        if (r < 0) {
                diag_add(errs, path, 0, 0, "%s", e.msg);
                return r == -E2BIG ? -EFBIG : r;
        }
        *ret = (char *) buf;
        *ret_len = len;
        return 0;
}
