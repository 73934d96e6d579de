/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "daemon/log.h"

#define LOG_LINE_MAX 4096

static enum log_target log_target = LOG_TARGET_TEXT;
static int log_max_level = LOG_INFO;

static const char *const target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_TEXT] = "text",
        [LOG_TARGET_JSON] = "json",
        [LOG_TARGET_JOURNAL] = "journal",
};

static const char *const level_table[LOG_DEBUG + 1] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

const char *log_target_to_string(enum log_target t)
{
        if (t < 0 || t >= _LOG_TARGET_MAX)
                return NULL;
        return target_table[t];
}

enum log_target log_target_from_string(const char *s)
{
        for (int i = 0; s && i < _LOG_TARGET_MAX; i++)
                if (strcmp(s, target_table[i]) == 0)
                        return i;
        return _LOG_TARGET_INVALID;
}

const char *log_level_to_string(int level)
{
        if (level < 0 || level > LOG_DEBUG)
                return NULL;
        return level_table[level];
}

int log_level_from_string(const char *s)
{
        for (int i = LOG_ERR; s && i <= LOG_DEBUG; i++)
                if (strcmp(s, level_table[i]) == 0)
                        return i;
        return -EINVAL;
}

/* True when stderr is the stream systemd connected to the journal. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(enum log_target target, int max_level)
{
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_TEXT;
        log_target = target;
        log_set_max_level(max_level);
}

enum log_target log_get_target(void)
{
        return log_target;
}

int log_get_max_level(void)
{
        return log_max_level;
}

void log_set_max_level(int level)
{
        if (level < LOG_ERR)
                level = LOG_ERR;
        if (level > LOG_DEBUG)
                level = LOG_DEBUG;
        log_max_level = level;
}

static bool is_b64url(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

/* Length of a compact JWS starting at s ("eyJ" header '.' payload '.' sig),
 * or 0 when s does not start one. */
static size_t jws_span(const char *s)
{
        size_t i = 0;
        int dots = 0;

        if (strncmp(s, "eyJ", 3) != 0)
                return 0;
        for (;;) {
                while (is_b64url(s[i]))
                        i++;
                if (s[i] != '.' || dots == 2)
                        break;
                dots++;
                i++;
        }
        return dots == 2 ? i : 0;
}

bool log_has_jws(const char *s)
{
        for (const char *p = s; *p; p++)
                if (jws_span(p) > 0)
                        return true;
        return false;
}

void log_sanitize(char *dst, size_t dstlen, const char *src)
{
        static const char redacted[] = "[redacted-jwt]";
        size_t o = 0;

        if (dstlen == 0)
                return;
        for (const char *p = src; *p; p++) {
                char esc[8];
                const char *piece;
                size_t n, skip;

                if ((skip = jws_span(p)) > 0) {
                        piece = redacted;
                        n = sizeof(redacted) - 1;
                        p += skip - 1;
                } else if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                        if (*p == '\n')
                                piece = "\\n";
                        else if (*p == '\t')
                                piece = "\\t";
                        else if (*p == '\r')
                                piece = "\\r";
                        else {
                                (void) snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char) *p);
                                piece = esc;
                        }
                        n = strlen(piece);
                } else {
                        piece = p;
                        n = 1;
                }
                if (o + n + 4 > dstlen) {
                        if (dstlen >= 4) {
                                o = o + 3 < dstlen ? o : dstlen - 4;
                                memcpy(dst + o, "...", 3);
                                o += 3;
                        }
                        break;
                }
                memcpy(dst + o, piece, n);
                o += n;
        }
        dst[o < dstlen ? o : dstlen - 1] = '\0';
}

static void timestamp(char *buf, size_t len)
{
        struct timespec ts;
        struct tm tm;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        (void) gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void write_record(int level, const char *module, const char *file, int line,
                         const char *func, const char *message_id,
                         const char *const *fields, const char *msg)
{
        char ts[40];

        switch (log_target) {
        case LOG_TARGET_JOURNAL: {
                /* MESSAGE, PRIORITY, module, code location, id, and up to 16 fields */
                struct iovec iov[24];
                char *bufs[24];
                int n = 0;

                if (asprintf(&bufs[n++], "MESSAGE=%s", msg) < 0 ||
                    asprintf(&bufs[n++], "PRIORITY=%d", level) < 0 ||
                    asprintf(&bufs[n++], "ATTESTD_MODULE=%s", module) < 0 ||
                    asprintf(&bufs[n++], "CODE_FILE=%s", file ? file : "") < 0 ||
                    asprintf(&bufs[n++], "CODE_LINE=%d", line) < 0 ||
                    asprintf(&bufs[n++], "CODE_FUNC=%s", func ? func : "") < 0 ||
                    asprintf(&bufs[n++], "MESSAGE_ID=%s", message_id ? message_id : "") < 0) {
                        n--;
                        goto journal_out;
                }
                for (int i = 0; fields && fields[i] && n < 23; i++)
                        if (asprintf(&bufs[n++], "%s", fields[i]) < 0) {
                                n--;
                                goto journal_out;
                        }
                for (int i = 0; i < n; i++) {
                        iov[i].iov_base = bufs[i];
                        iov[i].iov_len = strlen(bufs[i]);
                }
                /* an empty MESSAGE_ID= is not sent */
                if (!message_id) {
                        free(bufs[6]);
                        memmove(&bufs[6], &bufs[7], sizeof(bufs[0]) * (size_t) (n - 7));
                        memmove(&iov[6], &iov[7], sizeof(iov[0]) * (size_t) (n - 7));
                        n--;
                }
                (void) sd_journal_sendv(iov, n);
        journal_out:
                for (int i = 0; i < n; i++)
                        free(bufs[i]);
                return;
        }
        case LOG_TARGET_JSON: {
                json_t *o = json_object();
                char *s;

                if (!o)
                        return;
                timestamp(ts, sizeof(ts));
                (void) json_object_set_new(o, "time", json_string(ts));
                (void) json_object_set_new(o, "level", json_string(log_level_to_string(level)));
                (void) json_object_set_new(o, "module", json_string(module));
                (void) json_object_set_new(o, "message", json_string(msg));
                if (message_id)
                        (void) json_object_set_new(o, "message_id", json_string(message_id));
                if (log_max_level >= LOG_DEBUG && file) {
                        (void) json_object_set_new(o, "file", json_string(file));
                        (void) json_object_set_new(o, "line", json_integer(line));
                        (void) json_object_set_new(o, "func", json_string(func));
                }
                for (int i = 0; fields && fields[i]; i++) {
                        const char *eq = strchr(fields[i], '=');
                        char key[64], val[LOG_LINE_MAX];

                        if (!eq || (size_t) (eq - fields[i]) >= sizeof(key))
                                continue;
                        for (size_t k = 0; k < (size_t) (eq - fields[i]); k++)
                                key[k] = (char) (fields[i][k] >= 'A' && fields[i][k] <= 'Z'
                                                 ? fields[i][k] - 'A' + 'a' : fields[i][k]);
                        key[eq - fields[i]] = '\0';
                        log_sanitize(val, sizeof(val), eq + 1);
                        (void) json_object_set_new(o, key, json_string(val));
                }
                s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
                json_decref(o);
                if (s) {
                        (void) fprintf(stderr, "%s\n", s);
                        free(s);
                }
                return;
        }
        default: {
                char extra[LOG_LINE_MAX] = "";
                size_t o = 0;

                for (int i = 0; fields && fields[i] && o + 2 < sizeof(extra); i++) {
                        char val[512];
                        log_sanitize(val, sizeof(val), fields[i]);
                        int w = snprintf(extra + o, sizeof(extra) - o, " %s", val);
                        if (w < 0)
                                break;
                        o += (size_t) w;
                }
                if (log_max_level >= LOG_DEBUG && file)
                        (void) fprintf(stderr, "%s: %s: %s (%s:%d %s)%s\n", log_level_to_string(level),
                                       module, msg, file, line, func, extra);
                else
                        (void) fprintf(stderr, "%s: %s: %s%s\n", log_level_to_string(level), module,
                                       msg, extra);
                return;
        }
        }
}

static void vlog(int level, int error, const char *module, const char *file, int line,
                 const char *func, const char *message_id, const char *const *fields,
                 const char *fmt, va_list ap) __attribute__((format(printf, 9, 0)));

static void vlog(int level, int error, const char *module, const char *file, int line,
                 const char *func, const char *message_id, const char *const *fields,
                 const char *fmt, va_list ap)
{
        char raw[LOG_LINE_MAX], msg[LOG_LINE_MAX];

        if (error != 0)
                errno = abs(error);
        (void) vsnprintf(raw, sizeof(raw), fmt, ap);
        log_sanitize(msg, sizeof(msg), raw);
        write_record(level, module, file, line, func, message_id, fields, msg);
}

int log_internal(int level, int error, const char *module, const char *file, int line,
                 const char *func, const char *fmt, ...)
{
        int saved_errno = errno;
        va_list ap;

        if (level <= log_max_level) {
                va_start(ap, fmt);
                vlog(level, error, module, file, line, func, NULL, NULL, fmt, ap);
                va_end(ap);
        }
        errno = saved_errno;
        return -abs(error);
}

void log_event(int level, const char *module, const char *message_id,
               const char *const *fields, const char *fmt, ...)
{
        int saved_errno = errno;
        va_list ap;

        if (level <= log_max_level) {
                va_start(ap, fmt);
                vlog(level, 0, module, NULL, 0, NULL, message_id, fields, fmt, ap);
                va_end(ap);
        }
        errno = saved_errno;
}
