/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_EVENTLOG_H
#define ATTESTD_DAEMON_EVENTLOG_H

/*
 * TCG PC Client crypto-agile event log (binary_bios_measurements).
 *
 * The first event is a SHA1-format TCG_PCR_EVENT carrying the
 * "Spec ID Event03" TCG_EfiSpecIdEvent, which declares the hash banks and
 * their digest sizes; every later event is a TCG_PCR_EVENT2 that must carry
 * exactly one digest per declared bank. eventlog_parse() is pure and
 * bounded (daemon/defaults.h EVENTLOG_*_MAX); errors name the event index
 * (the Spec ID event is event 0, as tpm2_eventlog counts) and its byte
 * offset.
 *
 * Replay: EV_NO_ACTION events are never extended; a "StartupLocality"
 * EV_NO_ACTION event on PCR 0 sets PCR 0's initial value to 00..0L.
 * Digests are replayed as logged, never recomputed from the event data.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/defaults.h"
#include "proto/err.h"

#define EVENTLOG_PCRS           24
#define EVENTLOG_DIGEST_MAX     64      /* largest digest (SHA-512) */

/* TPM_ALG_ID values of the banks this module can replay. */
enum {
        EVENTLOG_ALG_SHA1 = 0x0004,
        EVENTLOG_ALG_SHA256 = 0x000b,
        EVENTLOG_ALG_SHA384 = 0x000c,
        EVENTLOG_ALG_SHA512 = 0x000d,
        EVENTLOG_ALG_SM3_256 = 0x0012,
};

/* Event types used by callers. */
enum {
        EVENTLOG_EV_NO_ACTION = 0x00000003,
        EVENTLOG_EV_SEPARATOR = 0x00000004,
        EVENTLOG_EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001,
};

struct eventlog_bank {
        uint16_t alg;
        uint16_t size;
};

struct eventlog_digest {
        uint16_t alg;
        uint16_t size;
        const uint8_t *digest;          /* borrowed from the log */
};

struct eventlog_event {
        size_t offset;                  /* of the event in the log */
        uint32_t pcr;
        uint32_t type;
        uint32_t n_digests;
        struct eventlog_digest digests[EVENTLOG_DIGESTS_MAX];
        const uint8_t *data;            /* borrowed from the log */
        uint32_t data_len;
};

struct eventlog {
        uint8_t *raw;                   /* private copy of the log */
        size_t raw_len;

        /* Spec ID Event03 */
        uint32_t platform_class;
        uint8_t spec_version_major;
        uint8_t spec_version_minor;
        uint8_t spec_errata;
        uint8_t uintn_size;
        size_t n_banks;
        struct eventlog_bank banks[EVENTLOG_DIGESTS_MAX];

        bool has_startup_locality;
        uint8_t startup_locality;
        uint32_t pcr_mask;              /* PCRs extended by any event */

        size_t n_events;                /* events[0] is the Spec ID event */
        struct eventlog_event *events;
};

/* Parse buf[0..len) (borrowed; copied). *ret is callee-allocated, free with
 * eventlog_free(). Returns 0, -EBADMSG (malformed), -E2BIG (over a bound)
 * or -ENOMEM. */
int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret, struct err *e);

/* Accepts NULL; returns NULL. */
struct eventlog *eventlog_free(struct eventlog *log);

/* "sha1", "sha256", "sha384", "sha512", "sm3_256" or NULL (static). */
const char *eventlog_alg_to_string(uint16_t alg);
/* TCG name ("EV_SEPARATOR", ...) or NULL for unknown types (static). */
const char *eventlog_event_type_to_string(uint32_t type);

/* Digest size of bank alg in this log, or 0 when the log has no such bank. */
size_t eventlog_bank_size(const struct eventlog *log, uint16_t alg);

/* Replay bank alg into pcrs (every PCR, digest-size bytes of each row are
 * meaningful). Returns 0, -ENOENT (no such bank in the log) or
 * -EOPNOTSUPP (bank alg cannot be hashed here). */
int eventlog_replay(const struct eventlog *log, uint16_t alg, uint8_t pcrs[EVENTLOG_PCRS][EVENTLOG_DIGEST_MAX]);

/* Compare the replayed bank alg with tpm_pcrs[i] (borrowed, digest-size
 * bytes each; only read for the PCRs in mask). Returns 0 when every PCR in
 * mask matches, -EBADMSG on a mismatch with a message naming each bad PCR,
 * both values and the last event that extended it, -ENOENT/-EOPNOTSUPP as
 * eventlog_replay(). *ret_mismatch (may be NULL) gets the mask of PCRs that
 * differ. */
int eventlog_compare(const struct eventlog *log, uint16_t alg, const uint8_t *const tpm_pcrs[EVENTLOG_PCRS],
                     uint32_t mask, uint32_t *ret_mismatch, struct err *e);

/* Whether the log measures SecureBoot enabled: the value of the last
 * EV_EFI_VARIABLE_DRIVER_CONFIG event for EFI_GLOBAL_VARIABLE "SecureBoot"
 * in PCR 7 (an empty value counts as disabled). Returns 0 and writes
 * *ret_enabled, or -ENOENT when the variable is not measured. */
int eventlog_secure_boot(const struct eventlog *log, bool *ret_enabled);

/* Build the `attestctl inspect eventlog --json` document. *ret is a new
 * reference (json_decref()). Returns 0 or -ENOMEM. */
int eventlog_to_json(const struct eventlog *log, json_t **ret);

#endif
