/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "daemon/eventlog.h"
#include "proto/hex.h"

#define SPEC_ID_SIGNATURE       "Spec ID Event03"       /* + NUL = 16 bytes */
#define STARTUP_LOCALITY_SIG    "StartupLocality"       /* + NUL = 16 bytes */
#define SIG_LEN                 16
#define TCG_PCR_EVENT_HDR       32      /* pcr, type, sha1[20], size */
#define SPEC_ID_FIXED           24      /* signature .. numberOfAlgorithms */
#define IMAGE_LOAD_EVENT_SIZE   32
#define VARIABLE_DATA_HDR       32      /* GUID, name length, data length */

/* EFI_GLOBAL_VARIABLE 8be4df61-93ca-11d2-aa0d-00e098032b8c, as stored. */
static const uint8_t efi_global_variable[16] = {
        0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
        0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c,
};

static const struct {
        uint32_t type;
        const char *name;
} event_types[] = {
        { 0x00000000, "EV_PREBOOT_CERT" },
        { 0x00000001, "EV_POST_CODE" },
        { 0x00000002, "EV_UNUSED" },
        { 0x00000003, "EV_NO_ACTION" },
        { 0x00000004, "EV_SEPARATOR" },
        { 0x00000005, "EV_ACTION" },
        { 0x00000006, "EV_EVENT_TAG" },
        { 0x00000007, "EV_S_CRTM_CONTENTS" },
        { 0x00000008, "EV_S_CRTM_VERSION" },
        { 0x00000009, "EV_CPU_MICROCODE" },
        { 0x0000000a, "EV_PLATFORM_CONFIG_FLAGS" },
        { 0x0000000b, "EV_TABLE_OF_DEVICES" },
        { 0x0000000c, "EV_COMPACT_HASH" },
        { 0x0000000d, "EV_IPL" },
        { 0x0000000e, "EV_IPL_PARTITION_DATA" },
        { 0x0000000f, "EV_NONHOST_CODE" },
        { 0x00000010, "EV_NONHOST_CONFIG" },
        { 0x00000011, "EV_NONHOST_INFO" },
        { 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
        { 0x00000013, "EV_POST_CODE2" },
        { 0x80000000, "EV_EFI_EVENT_BASE" },
        { 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
        { 0x80000002, "EV_EFI_VARIABLE_BOOT" },
        { 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
        { 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
        { 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
        { 0x80000006, "EV_EFI_GPT_EVENT" },
        { 0x80000007, "EV_EFI_ACTION" },
        { 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
        { 0x80000009, "EV_EFI_HANDOFF_TABLES" },
        { 0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
        { 0x8000000b, "EV_EFI_HANDOFF_TABLES2" },
        { 0x8000000c, "EV_EFI_VARIABLE_BOOT2" },
        { 0x8000000d, "EV_EFI_GPT_EVENT2" },
        { 0x80000010, "EV_EFI_HCRTM_EVENT" },
        { 0x800000e0, "EV_EFI_VARIABLE_AUTHORITY" },
        { 0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
        { 0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
        { 0x800000e3, "EV_EFI_SPDM_DEVICE_POLICY" },
        { 0x800000e4, "EV_EFI_SPDM_DEVICE_AUTHORITY" },
};

enum {
        EV_POST_CODE = 0x00000001,
        EV_ACTION = 0x00000005,
        EV_S_CRTM_VERSION = 0x00000008,
        EV_IPL = 0x0000000d,
        EV_EFI_VARIABLE_BOOT = 0x80000002,
        EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003,
        EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004,
        EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005,
        EV_EFI_ACTION = 0x80000007,
        EV_EFI_VARIABLE_BOOT2 = 0x8000000c,
        EV_EFI_VARIABLE_AUTHORITY = 0x800000e0,
};

static uint16_t le16(const uint8_t *p)
{
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

const char *eventlog_alg_to_string(uint16_t alg)
{
        switch (alg) {
        case EVENTLOG_ALG_SHA1:
                return "sha1";
        case EVENTLOG_ALG_SHA256:
                return "sha256";
        case EVENTLOG_ALG_SHA384:
                return "sha384";
        case EVENTLOG_ALG_SHA512:
                return "sha512";
        case EVENTLOG_ALG_SM3_256:
                return "sm3_256";
        default:
                return NULL;
        }
}

/* Digest size of a known algorithm, 0 for unknown ones. */
static size_t alg_size(uint16_t alg)
{
        switch (alg) {
        case EVENTLOG_ALG_SHA1:
                return 20;
        case EVENTLOG_ALG_SHA256:
        case EVENTLOG_ALG_SM3_256:
                return 32;
        case EVENTLOG_ALG_SHA384:
                return 48;
        case EVENTLOG_ALG_SHA512:
                return 64;
        default:
                return 0;
        }
}

static const EVP_MD *alg_md(uint16_t alg)
{
        switch (alg) {
        case EVENTLOG_ALG_SHA1:
                return EVP_sha1();
        case EVENTLOG_ALG_SHA256:
                return EVP_sha256();
        case EVENTLOG_ALG_SHA384:
                return EVP_sha384();
        case EVENTLOG_ALG_SHA512:
                return EVP_sha512();
#ifndef OPENSSL_NO_SM3
        case EVENTLOG_ALG_SM3_256:
                return EVP_sm3();
#endif
        default:
                return NULL;
        }
}

const char *eventlog_event_type_to_string(uint32_t type)
{
        for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
                if (event_types[i].type == type)
                        return event_types[i].name;
        return NULL;
}

static const struct eventlog_bank *find_bank(const struct eventlog *log, uint16_t alg)
{
        for (size_t i = 0; i < log->n_banks; i++)
                if (log->banks[i].alg == alg)
                        return &log->banks[i];
        return NULL;
}

size_t eventlog_bank_size(const struct eventlog *log, uint16_t alg)
{
        const struct eventlog_bank *b = find_bank(log, alg);

        return b ? b->size : 0;
}

static int parse_spec_id(struct eventlog *log, const uint8_t *d, uint32_t len, struct err *e)
{
        uint32_t n;
        size_t off;

        if (len < SPEC_ID_FIXED || memcmp(d, SPEC_ID_SIGNATURE, SIG_LEN) != 0)
                return err_set(e, -EBADMSG,
                               "event 0 at offset 0: not a crypto-agile log (no \"Spec ID Event03\" signature)");
        log->platform_class = le32(d + 16);
        log->spec_version_minor = d[20];
        log->spec_version_major = d[21];
        log->spec_errata = d[22];
        log->uintn_size = d[23];
        if (len < SPEC_ID_FIXED + 4)
                return err_set(e, -EBADMSG, "event 0 at offset 0: Spec ID event truncated at numberOfAlgorithms");
        n = le32(d + SPEC_ID_FIXED);
        if (n == 0 || n > EVENTLOG_DIGESTS_MAX)
                return err_set(e, -EBADMSG, "event 0 at offset 0: numberOfAlgorithms %" PRIu32 " not in 1..%d",
                               n, EVENTLOG_DIGESTS_MAX);
        off = SPEC_ID_FIXED + 4;
        if ((size_t) len < off + 4 * (size_t) n + 1)
                return err_set(e, -EBADMSG,
                               "event 0 at offset 0: Spec ID event of %" PRIu32 " bytes too short for %" PRIu32
                               " algorithms", len, n);
        for (uint32_t i = 0; i < n; i++, off += 4) {
                uint16_t alg = le16(d + off), size = le16(d + off + 2);
                size_t want = alg_size(alg);

                if (find_bank(log, alg))
                        return err_set(e, -EBADMSG, "event 0 at offset 0: algorithm 0x%04x declared twice", alg);
                if ((want && size != want) || size == 0 || size > EVENTLOG_DIGEST_MAX)
                        return err_set(e, -EBADMSG, "event 0 at offset 0: algorithm 0x%04x has digest size %u",
                                       alg, size);
                log->banks[log->n_banks].alg = alg;
                log->banks[log->n_banks].size = size;
                log->n_banks++;
        }
        if ((size_t) len < off + 1 + d[off])
                return err_set(e, -EBADMSG, "event 0 at offset 0: vendorInfoSize %u exceeds the Spec ID event",
                               d[off]);
        return 0;
}

static int add_event(struct eventlog *log, size_t *alloc, struct eventlog_event **ret, size_t offset,
                     struct err *e)
{
        struct eventlog_event *ev;

        if (log->n_events >= EVENTLOG_EVENTS_MAX)
                return err_set(e, -E2BIG, "event %zu at offset %zu: more than %d events", log->n_events,
                               offset, EVENTLOG_EVENTS_MAX);
        if (log->n_events == *alloc) {
                size_t n = *alloc ? *alloc * 2 : 64;
                struct eventlog_event *p;

                if (n > EVENTLOG_EVENTS_MAX)
                        n = EVENTLOG_EVENTS_MAX;
                p = realloc(log->events, n * sizeof(*p));
                if (!p)
                        return err_set(e, -ENOMEM, "out of memory");
                log->events = p;
                *alloc = n;
        }
        ev = &log->events[log->n_events++];
        memset(ev, 0, sizeof(*ev));
        ev->offset = offset;
        *ret = ev;
        return 0;
}

static int check_event_data(size_t idx, size_t evoff, const uint8_t *p, size_t left, uint32_t *ret_size,
                            struct err *e)
{
        uint32_t size;

        if (left < 4)
                return err_set(e, -EBADMSG, "event %zu at offset %zu: truncated before eventSize", idx, evoff);
        size = le32(p);
        if (size > EVENTLOG_EVENT_SIZE_MAX)
                return err_set(e, -E2BIG, "event %zu at offset %zu: eventSize %" PRIu32 " exceeds the maximum %d",
                               idx, evoff, size, EVENTLOG_EVENT_SIZE_MAX);
        if (size > left - 4)
                return err_set(e, -EBADMSG,
                               "event %zu at offset %zu: eventSize %" PRIu32 " exceeds the %zu bytes left",
                               idx, evoff, size, left - 4);
        *ret_size = size;
        return 0;
}

static int parse_first(struct eventlog *log, size_t *alloc, size_t *pos, struct err *e)
{
        const uint8_t *p = log->raw;
        struct eventlog_event *ev;
        uint32_t size;
        int r;

        if (log->raw_len < TCG_PCR_EVENT_HDR)
                return err_set(e, -EBADMSG, "event 0 at offset 0: truncated (%zu bytes, header needs %d)",
                               log->raw_len, TCG_PCR_EVENT_HDR);
        r = check_event_data(0, 0, p + 28, log->raw_len - 28, &size, e);
        if (r < 0)
                return r;
        if (le32(p + 4) != EVENTLOG_EV_NO_ACTION)
                return err_set(e, -EBADMSG, "event 0 at offset 0: type 0x%08" PRIx32 ", expected EV_NO_ACTION "
                               "(not a crypto-agile log)", le32(p + 4));
        r = parse_spec_id(log, p + TCG_PCR_EVENT_HDR, size, e);
        if (r < 0)
                return r;
        r = add_event(log, alloc, &ev, 0, e);
        if (r < 0)
                return r;
        ev->pcr = le32(p);
        ev->type = EVENTLOG_EV_NO_ACTION;
        ev->n_digests = 1;
        ev->digests[0].alg = EVENTLOG_ALG_SHA1;
        ev->digests[0].size = 20;
        ev->digests[0].digest = p + 8;
        ev->data = p + TCG_PCR_EVENT_HDR;
        ev->data_len = size;
        *pos = TCG_PCR_EVENT_HDR + (size_t) size;
        return 0;
}

static bool is_startup_locality(const struct eventlog_event *ev)
{
        return ev->type == EVENTLOG_EV_NO_ACTION && ev->pcr == 0 && ev->data_len >= SIG_LEN + 1 &&
               memcmp(ev->data, STARTUP_LOCALITY_SIG, SIG_LEN) == 0;
}

static int parse_digests(struct eventlog *log, struct eventlog_event *ev, size_t idx, size_t *pos, struct err *e)
{
        const uint8_t *p = log->raw;
        uint32_t count;

        if (log->raw_len - *pos < 4)
                return err_set(e, -EBADMSG, "event %zu at offset %zu: truncated before the digest count",
                               idx, ev->offset);
        count = le32(p + *pos);
        if (count != log->n_banks)
                return err_set(e, -EBADMSG,
                               "event %zu at offset %zu: %" PRIu32 " digests, the Spec ID event declares %zu banks",
                               idx, ev->offset, count, log->n_banks);
        *pos += 4;
        for (uint32_t i = 0; i < count; i++) {
                const struct eventlog_bank *b;
                uint16_t alg;

                if (log->raw_len - *pos < 2)
                        return err_set(e, -EBADMSG, "event %zu at offset %zu: truncated in digest %" PRIu32,
                                       idx, ev->offset, i);
                alg = le16(p + *pos);
                b = find_bank(log, alg);
                if (!b)
                        return err_set(e, -EBADMSG,
                                       "event %zu at offset %zu: digest algorithm 0x%04x not declared in the "
                                       "Spec ID event", idx, ev->offset, alg);
                for (uint32_t j = 0; j < i; j++)
                        if (ev->digests[j].alg == alg)
                                return err_set(e, -EBADMSG, "event %zu at offset %zu: two digests for 0x%04x",
                                               idx, ev->offset, alg);
                *pos += 2;
                if (log->raw_len - *pos < b->size)
                        return err_set(e, -EBADMSG, "event %zu at offset %zu: truncated in the 0x%04x digest",
                                       idx, ev->offset, alg);
                ev->digests[i].alg = alg;
                ev->digests[i].size = b->size;
                ev->digests[i].digest = p + *pos;
                *pos += b->size;
        }
        ev->n_digests = count;
        return 0;
}

static int parse_event2(struct eventlog *log, size_t *alloc, size_t *pos, struct err *e)
{
        const uint8_t *p = log->raw;
        struct eventlog_event *ev;
        size_t idx = log->n_events;
        uint32_t size;
        int r;

        r = add_event(log, alloc, &ev, *pos, e);
        if (r < 0)
                return r;
        if (log->raw_len - *pos < 8)
                return err_set(e, -EBADMSG, "event %zu at offset %zu: truncated in the event header", idx, *pos);
        ev->pcr = le32(p + *pos);
        ev->type = le32(p + *pos + 4);
        if (ev->pcr >= EVENTLOG_PCRS)
                return err_set(e, -EBADMSG, "event %zu at offset %zu: PCR index %" PRIu32 " out of range",
                               idx, *pos, ev->pcr);
        *pos += 8;
        r = parse_digests(log, ev, idx, pos, e);
        if (r < 0)
                return r;
        r = check_event_data(idx, ev->offset, p + *pos, log->raw_len - *pos, &size, e);
        if (r < 0)
                return r;
        *pos += 4;
        ev->data = p + *pos;
        ev->data_len = size;
        *pos += size;
        if (is_startup_locality(ev)) {
                log->has_startup_locality = true;
                log->startup_locality = ev->data[SIG_LEN];
        }
        if (ev->type != EVENTLOG_EV_NO_ACTION)
                log->pcr_mask |= UINT32_C(1) << ev->pcr;
        return 0;
}

int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **ret, struct err *e)
{
        struct eventlog *log = NULL;
        size_t alloc = 0, pos = 0;
        int r;

        if (!ret || (!buf && len))
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > EVENTLOG_SIZE_MAX)
                return err_set(e, -E2BIG, "event log is %zu bytes, more than the maximum %d", len,
                               EVENTLOG_SIZE_MAX);
        log = calloc(1, sizeof(*log));
        if (!log)
                return err_set(e, -ENOMEM, "out of memory");
        log->raw = malloc(len ? len : 1);
        if (!log->raw) {
                r = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        if (len)
                memcpy(log->raw, buf, len);
        log->raw_len = len;
        r = parse_first(log, &alloc, &pos, e);
        if (r < 0)
                goto out;
        while (pos < len) {
                r = parse_event2(log, &alloc, &pos, e);
                if (r < 0)
                        goto out;
        }
        *ret = log;
        log = NULL;
out:
        eventlog_free(log);
        return r;
}

struct eventlog *eventlog_free(struct eventlog *log)
{
        if (!log)
                return NULL;
        free(log->events);
        free(log->raw);
        free(log);
        return NULL;
}

static const struct eventlog_digest *event_digest(const struct eventlog_event *ev, uint16_t alg)
{
        for (uint32_t i = 0; i < ev->n_digests; i++)
                if (ev->digests[i].alg == alg)
                        return &ev->digests[i];
        return NULL;
}

int eventlog_replay(const struct eventlog *log, uint16_t alg, uint8_t pcrs[EVENTLOG_PCRS][EVENTLOG_DIGEST_MAX])
{
        const struct eventlog_bank *b = find_bank(log, alg);
        const EVP_MD *md = alg_md(alg);
        EVP_MD_CTX *ctx = NULL;
        int r = 0;

        if (!b)
                return -ENOENT;
        if (!md)
                return -EOPNOTSUPP;
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        memset(pcrs, 0, EVENTLOG_PCRS * EVENTLOG_DIGEST_MAX);
        if (log->has_startup_locality)
                pcrs[0][b->size - 1] = log->startup_locality;
        for (size_t i = 1; i < log->n_events; i++) {
                const struct eventlog_event *ev = &log->events[i];
                const struct eventlog_digest *d;

                if (ev->type == EVENTLOG_EV_NO_ACTION)
                        continue;
                d = event_digest(ev, alg);
                if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
                    EVP_DigestUpdate(ctx, pcrs[ev->pcr], b->size) != 1 ||
                    EVP_DigestUpdate(ctx, d->digest, d->size) != 1 ||
                    EVP_DigestFinal_ex(ctx, pcrs[ev->pcr], NULL) != 1) {
                        r = -ENOMEM;
                        break;
                }
        }
        EVP_MD_CTX_free(ctx);
        return r;
}

static const struct eventlog_event *last_event_for(const struct eventlog *log, uint32_t pcr, size_t *ret_idx)
{
        for (size_t i = log->n_events; i-- > 1;) {
                const struct eventlog_event *ev = &log->events[i];

                if (ev->pcr == pcr && ev->type != EVENTLOG_EV_NO_ACTION) {
                        *ret_idx = i;
                        return ev;
                }
        }
        return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
        size_t used = strlen(buf);
        va_list ap;

        if (used + 1 >= size)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(buf + used, size - used, fmt, ap);
        va_end(ap);
}

int eventlog_compare(const struct eventlog *log, uint16_t alg, const uint8_t *const tpm_pcrs[EVENTLOG_PCRS],
                     uint32_t mask, uint32_t *ret_mismatch, struct err *e)
{
        uint8_t pcrs[EVENTLOG_PCRS][EVENTLOG_DIGEST_MAX];
        const char *name = eventlog_alg_to_string(alg);
        char msg[ERR_MSG_MAX] = "";
        uint32_t bad = 0;
        size_t size;
        int r;

        r = eventlog_replay(log, alg, pcrs);
        if (r == -ENOENT)
                return err_set(e, r, "the event log has no bank for algorithm 0x%04x", alg);
        if (r == -EOPNOTSUPP)
                return err_set(e, r, "cannot replay algorithm 0x%04x", alg);
        if (r < 0)
                return err_set(e, r, "replaying the event log failed");
        for (uint32_t i = 0; i < EVENTLOG_PCRS; i++)
                if (mask & (UINT32_C(1) << i) && !tpm_pcrs[i])
                        return err_set(e, -EINVAL, "no TPM value given for PCR %" PRIu32, i);
        size = eventlog_bank_size(log, alg);
        for (uint32_t i = 0; i < EVENTLOG_PCRS; i++) {
                char want[2 * EVENTLOG_DIGEST_MAX + 1], got[2 * EVENTLOG_DIGEST_MAX + 1];
                const struct eventlog_event *ev;
                size_t idx = 0;

                if (!(mask & (UINT32_C(1) << i)) || memcmp(pcrs[i], tpm_pcrs[i], size) == 0)
                        continue;
                bad |= UINT32_C(1) << i;
                hex_encode_into(want, pcrs[i], size);
                hex_encode_into(got, tpm_pcrs[i], size);
                append(msg, sizeof(msg), "%sPCR %" PRIu32 ": log %.16s..., TPM %.16s...", bad == (UINT32_C(1) << i) ?
                       "" : "; ", i, want, got);
                ev = last_event_for(log, i, &idx);
                if (ev) {
                        const char *t = eventlog_event_type_to_string(ev->type);

                        append(msg, sizeof(msg), " (last extended by event %zu %s at offset %zu)", idx,
                               t ? t : "(unknown type)", ev->offset);
                } else {
                        append(msg, sizeof(msg), " (no event extends it)");
                }
        }
        if (ret_mismatch)
                *ret_mismatch = bad;
        if (bad)
                return err_set(e, -EBADMSG, "%s PCRs do not match the event log: %s", name ? name : "?", msg);
        return 0;
}

/* UTF-16LE code units p[0..units) up to the first NUL to UTF-8. Fails on
 * unpaired surrogates and, if printable_only, on anything but printable
 * ASCII (so that binary data is not mistaken for text). */
static int utf16_to_utf8(const uint8_t *p, size_t units, bool printable_only, char **ret)
{
        char *out, *o;

        if (units > SIZE_MAX / 4 - 1)
                return -E2BIG;
        out = malloc(units * 3 + 1);
        if (!out)
                return -ENOMEM;
        o = out;
        for (size_t i = 0; i < units; i++) {
                uint32_t c = le16(p + 2 * i);

                if (c == 0)
                        break;
                if (c >= 0xdc00 && c <= 0xdfff)
                        goto bad;
                if (c >= 0xd800 && c <= 0xdbff) {
                        uint32_t lo;

                        if (i + 1 >= units)
                                goto bad;
                        lo = le16(p + 2 * (i + 1));
                        if (lo < 0xdc00 || lo > 0xdfff)
                                goto bad;
                        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                        i++;
                }
                if (printable_only && (c < 0x20 || c > 0x7e))
                        goto bad;
                if (c < 0x80) {
                        *o++ = (char) c;
                } else if (c < 0x800) {
                        *o++ = (char) (0xc0 | c >> 6);
                        *o++ = (char) (0x80 | (c & 0x3f));
                } else if (c < 0x10000) {
                        *o++ = (char) (0xe0 | c >> 12);
                        *o++ = (char) (0x80 | ((c >> 6) & 0x3f));
                        *o++ = (char) (0x80 | (c & 0x3f));
                } else {
                        *o++ = (char) (0xf0 | c >> 18);
                        *o++ = (char) (0x80 | ((c >> 12) & 0x3f));
                        *o++ = (char) (0x80 | ((c >> 6) & 0x3f));
                        *o++ = (char) (0x80 | (c & 0x3f));
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
bad:
        free(out);
        return -EBADMSG;
}

/* Printable ASCII (trailing NULs stripped) as a JSON string, else NULL. */
static json_t *ascii_string(const uint8_t *p, size_t len)
{
        while (len && p[len - 1] == 0)
                len--;
        if (!len)
                return NULL;
        for (size_t i = 0; i < len; i++)
                if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
                        return NULL;
        return json_stringn((const char *) p, len);
}

static json_t *utf16_string(const uint8_t *p, size_t len)
{
        char *s = NULL;
        json_t *v;

        if (len < 2 || (len % 2 && p[len - 1]) || le16(p) == 0 || utf16_to_utf8(p, len / 2, true, &s) < 0)
                return NULL;
        v = json_string(s);
        free(s);
        return v;
}

/* "0x" and width hex digits. */
static json_t *hex_string(int width, uint64_t v)
{
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "0x%0*" PRIx64, width, v);
        return json_string(buf);
}

static json_t *one_key(const char *key, json_t *v)
{
        json_t *o;

        if (!v)
                return NULL;
        o = json_object();
        if (!o || json_object_set_new(o, key, v) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static void guid_to_string(const uint8_t *g, char out[37])
{
        (void) snprintf(out, 37, "%08" PRIx32 "-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        le32(g), le16(g + 4), le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* UEFI_VARIABLE_DATA: bounds-checked views of name and value. */
struct efi_var {
        const uint8_t *guid;
        const uint8_t *name;
        size_t name_units;
        const uint8_t *value;
        size_t value_len;
};

static bool parse_efi_var(const struct eventlog_event *ev, struct efi_var *v)
{
        uint64_t name_len, data_len;
        size_t left;

        if (ev->data_len < VARIABLE_DATA_HDR)
                return false;
        name_len = le64(ev->data + 16);
        data_len = le64(ev->data + 24);
        left = ev->data_len - VARIABLE_DATA_HDR;
        if (name_len > left / 2 || data_len > left - 2 * name_len)
                return false;
        v->guid = ev->data;
        v->name = ev->data + VARIABLE_DATA_HDR;
        v->name_units = (size_t) name_len;
        v->value = v->name + 2 * name_len;
        v->value_len = (size_t) data_len;
        return true;
}

static bool efi_var_is(const struct efi_var *v, const uint8_t guid[16], const char *name)
{
        size_t n = strlen(name);

        if (memcmp(v->guid, guid, 16) != 0 || v->name_units != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (le16(v->name + 2 * i) != (uint8_t) name[i])
                        return false;
        return true;
}

static json_t *decode_efi_var(const struct eventlog_event *ev)
{
        struct efi_var v;
        char guid[37], *name = NULL;
        json_t *o;
        int r = 0;

        if (!parse_efi_var(ev, &v) || utf16_to_utf8(v.name, v.name_units, false, &name) < 0)
                return NULL;
        guid_to_string(v.guid, guid);
        o = json_object();
        if (!o) {
                free(name);
                return NULL;
        }
        r |= json_object_set_new(o, "guid", json_string(guid));
        r |= json_object_set_new(o, "name", json_string(name));
        r |= json_object_set_new(o, "data_len", json_integer((json_int_t) v.value_len));
        if (efi_var_is(&v, efi_global_variable, "SecureBoot"))
                r |= json_object_set_new(o, "value", json_integer(v.value_len ? v.value[0] : 0));
        free(name);
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *decode_image_load(const struct eventlog_event *ev)
{
        const uint8_t *d = ev->data;
        json_t *o;
        int r = 0;

        if (ev->data_len < IMAGE_LOAD_EVENT_SIZE)
                return NULL;
        o = json_object();
        if (!o)
                return NULL;
        r |= json_object_set_new(o, "image_location", hex_string(16, le64(d)));
        r |= json_object_set_new(o, "image_length", json_integer((json_int_t) (le64(d + 8) & INT64_MAX)));
        r |= json_object_set_new(o, "link_time_address", hex_string(16, le64(d + 16)));
        r |= json_object_set_new(o, "device_path_len", json_integer((json_int_t) (le64(d + 24) & INT64_MAX)));
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *decode_spec_id(const struct eventlog *log)
{
        json_t *o = json_object(), *algs = json_array();
        char ver[16];
        int r = 0;

        if (!o || !algs) {
                json_decref(o);
                json_decref(algs);
                return NULL;
        }
        for (size_t i = 0; i < log->n_banks; i++) {
                const char *n = eventlog_alg_to_string(log->banks[i].alg);
                char id[8];
                json_t *a = json_object();

                (void) snprintf(id, sizeof(id), "0x%04x", log->banks[i].alg);
                if (!a || json_array_append_new(algs, a) < 0) {
                        r = -1;
                        continue;
                }
                r |= json_object_set_new(a, "alg", json_string(n ? n : id));
                r |= json_object_set_new(a, "digest_size", json_integer(log->banks[i].size));
        }
        (void) snprintf(ver, sizeof(ver), "%u.%u.%u", log->spec_version_major, log->spec_version_minor,
                        log->spec_errata);
        r |= json_object_set_new(o, "signature", json_string(SPEC_ID_SIGNATURE));
        r |= json_object_set_new(o, "platform_class", json_integer(log->platform_class));
        r |= json_object_set_new(o, "spec_version", json_string(ver));
        r |= json_object_set_new(o, "uintn_size", json_integer(log->uintn_size));
        r |= json_object_set_new(o, "algorithms", algs);
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Decoded event data for the types we understand, NULL otherwise. */
static json_t *decode_data(const struct eventlog *log, size_t idx)
{
        const struct eventlog_event *ev = &log->events[idx];
        uint32_t t = ev->type;

        if (idx == 0)
                return decode_spec_id(log);
        switch (t) {
        case EVENTLOG_EV_NO_ACTION:
                if (is_startup_locality(ev))
                        return one_key("startup_locality", json_integer(ev->data[SIG_LEN]));
                return NULL;
        case EVENTLOG_EV_SEPARATOR:
                if (ev->data_len != 4)
                        return NULL;
                return one_key("value", hex_string(8, le32(ev->data)));
        case EV_S_CRTM_VERSION:
                return one_key("version", utf16_string(ev->data, ev->data_len));
        case EV_POST_CODE:
        case EV_ACTION:
        case EV_EFI_ACTION:
                return one_key("string", ascii_string(ev->data, ev->data_len));
        case EV_IPL: {
                json_t *s = ascii_string(ev->data, ev->data_len);

                return one_key("string", s ? s : utf16_string(ev->data, ev->data_len));
        }
        case EVENTLOG_EV_EFI_VARIABLE_DRIVER_CONFIG:
        case EV_EFI_VARIABLE_BOOT:
        case EV_EFI_VARIABLE_BOOT2:
        case EV_EFI_VARIABLE_AUTHORITY:
                return decode_efi_var(ev);
        case EV_EFI_BOOT_SERVICES_APPLICATION:
        case EV_EFI_BOOT_SERVICES_DRIVER:
        case EV_EFI_RUNTIME_SERVICES_DRIVER:
                return decode_image_load(ev);
        default:
                return NULL;
        }
}

int eventlog_secure_boot(const struct eventlog *log, bool *ret_enabled)
{
        for (size_t i = log->n_events; i-- > 1;) {
                const struct eventlog_event *ev = &log->events[i];
                struct efi_var v;

                if (ev->type != EVENTLOG_EV_EFI_VARIABLE_DRIVER_CONFIG || ev->pcr != 7 ||
                    !parse_efi_var(ev, &v) || !efi_var_is(&v, efi_global_variable, "SecureBoot"))
                        continue;
                *ret_enabled = v.value_len >= 1 && v.value[0] == 1;
                return 0;
        }
        return -ENOENT;
}

static json_t *json_hex(const void *p, size_t len)
{
        char *s = hex_encode(p, len, false);
        json_t *v;

        if (!s)
                return NULL;
        v = json_string(s);
        free(s);
        return v;
}

static const char *bank_name(uint16_t alg, char buf[8])
{
        const char *n = eventlog_alg_to_string(alg);

        if (n)
                return n;
        (void) snprintf(buf, 8, "0x%04x", alg);
        return buf;
}

static json_t *event_to_json(const struct eventlog *log, size_t idx)
{
        const struct eventlog_event *ev = &log->events[idx];
        const char *tname = eventlog_event_type_to_string(ev->type);
        json_t *o = json_object(), *digests = json_object(), *data;
        char tbuf[16];
        int r = 0;

        if (!o || !digests) {
                json_decref(o);
                json_decref(digests);
                return NULL;
        }
        if (!tname) {
                (void) snprintf(tbuf, sizeof(tbuf), "0x%08" PRIx32, ev->type);
                tname = tbuf;
        }
        for (uint32_t i = 0; i < ev->n_digests; i++) {
                char nbuf[8];

                r |= json_object_set_new(digests, bank_name(ev->digests[i].alg, nbuf),
                                         json_hex(ev->digests[i].digest, ev->digests[i].size));
        }
        r |= json_object_set_new(o, "pcr", json_integer(ev->pcr));
        r |= json_object_set_new(o, "type", json_string(tname));
        r |= json_object_set_new(o, "digests", digests);
        data = decode_data(log, idx);
        if (data)
                r |= json_object_set_new(o, "data", data);
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static int pcrs_to_json(const struct eventlog *log, json_t *out)
{
        uint8_t pcrs[EVENTLOG_PCRS][EVENTLOG_DIGEST_MAX];

        for (size_t b = 0; b < log->n_banks; b++) {
                const char *name = eventlog_alg_to_string(log->banks[b].alg);
                json_t *bank;
                int r;

                r = eventlog_replay(log, log->banks[b].alg, pcrs);
                if (r == -EOPNOTSUPP)
                        continue;
                if (r < 0)
                        return r;
                bank = json_object();
                if (!bank || json_object_set_new(out, name, bank) < 0)
                        return -ENOMEM;
                for (uint32_t i = 0; i < EVENTLOG_PCRS; i++) {
                        char key[4];

                        if (!(log->pcr_mask & (UINT32_C(1) << i)))
                                continue;
                        (void) snprintf(key, sizeof(key), "%" PRIu32, i);
                        if (json_object_set_new(bank, key, json_hex(pcrs[i], log->banks[b].size)) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

int eventlog_to_json(const struct eventlog *log, json_t **ret)
{
        json_t *o = json_object(), *events = json_array(), *pcrs = json_object();
        int r = 0;

        if (!o || !events || !pcrs) {
                json_decref(o);
                json_decref(events);
                json_decref(pcrs);
                return -ENOMEM;
        }
        if (json_object_set_new(o, "events", events) < 0 || json_object_set_new(o, "pcrs", pcrs) < 0) {
                json_decref(o);
                return -ENOMEM;
        }
        for (size_t i = 0; i < log->n_events && r == 0; i++) {
                json_t *ev = event_to_json(log, i);

                if (!ev || json_array_append_new(events, ev) < 0)
                        r = -ENOMEM;
        }
        if (r == 0)
                r = pcrs_to_json(log, pcrs);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}
