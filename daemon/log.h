/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_LOG_H
#define ATTESTD_DAEMON_LOG_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <syslog.h>

/*
 * Logging for the daemon and attestctl. Three backends share one API:
 * plain text on stderr (foreground), JSON lines on stderr (containers) and
 * the systemd journal (when $JOURNAL_STREAM names our stderr).
 *
 * Every .c that logs defines LOG_MODULE before including this header.
 * Messages may use %m (the errno of the call, or -r for the *_errno forms).
 * Calls below the current level cost one comparison: nothing is formatted.
 * Logging preserves errno. Control characters are escaped, and anything
 * shaped like a compact JWS (a bearer token) is replaced by "[redacted-jwt]"
 * so that a token never reaches a log by accident.
 */

enum log_target {
        LOG_TARGET_AUTO,        /* journal if $JOURNAL_STREAM matches, else text */
        LOG_TARGET_TEXT,
        LOG_TARGET_JSON,
        LOG_TARGET_JOURNAL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
};

const char *log_target_to_string(enum log_target t);
enum log_target log_target_from_string(const char *s);
const char *log_level_to_string(int level);
int log_level_from_string(const char *s);       /* LOG_ERR..LOG_DEBUG or -EINVAL */

/* Select the backend and the maximum level (LOG_ERR..LOG_DEBUG). AUTO is
 * resolved here, once. */
void log_setup(enum log_target target, int max_level);
enum log_target log_get_target(void);
int log_get_max_level(void);
void log_set_max_level(int level);

int log_internal(int level, int error, const char *module, const char *file,
                 int line, const char *func, const char *fmt, ...)
        __attribute__((format(printf, 7, 8)));

/*
 * A structured event with a stable MESSAGE_ID (a 128-bit id in hex) and
 * extra "KEY=value" fields (NULL-terminated array; keys upper-case). Goes to
 * the journal as fields, to JSON lines as members, to text as key=value.
 */
void log_event(int level, const char *module, const char *message_id,
               const char *const *fields, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#ifndef LOG_MODULE
#define LOG_MODULE "attestd"
#endif

#define log_full_errno(level, error, ...)                                       \
        ({                                                                      \
                int _l = (level), _e = (error);                                 \
                _l <= log_get_max_level()                                       \
                        ? log_internal(_l, _e, LOG_MODULE, __FILE__, __LINE__,  \
                                       __func__, __VA_ARGS__)                   \
                        : -abs(_e);                                             \
        })

#define log_debug(...)          (void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)           (void) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)         (void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)        (void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)          (void) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

/* These return the (negative) error so that `return log_error_errno(r, …);` works. */
#define log_debug_errno(r, ...)   log_full_errno(LOG_DEBUG, r, __VA_ARGS__)
#define log_info_errno(r, ...)    log_full_errno(LOG_INFO, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, r, __VA_ARGS__)
#define log_error_errno(r, ...)   log_full_errno(LOG_ERR, r, __VA_ARGS__)

/* Redact JWS-shaped substrings and escape control characters of src into
 * dst (always NUL-terminated, truncated with "..." when too long).
 * Exposed for tests and for callers that echo untrusted strings. */
void log_sanitize(char *dst, size_t dstlen, const char *src);

/* True when s contains something shaped like a compact JWS (what
 * log_sanitize() redacts). Lets writers of persistent records (the audit
 * log) refuse a bearer token instead of storing it. */
bool log_has_jws(const char *s);

#endif
