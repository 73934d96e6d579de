/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_HCL_H
#define ATTESTD_DAEMON_HCL_H

/*
 * Azure vTPM "HCL report" (NV index 0x01400001): a 32-byte header, the
 * hardware report (AMD SEV-SNP attestation report or Intel TDX TD report),
 * the IGVM request-data header and the runtime claims JSON whose hash is
 * bound into the hardware report's report_data.
 *
 * hcl_parse() is pure and bounded: it never logs, it copies what it keeps,
 * and every error comes back as -errno plus a message in struct err that
 * names the field, its offset and the offending value.
 *
 * Layout decisions (see AZURE-PROTOCOL.md §2 and §8):
 * - The header's ReportSize is informational (real reports hold
 *   1236 + VariableDataSize, the docs say 1184/1024). It is recorded and
 *   only rejected when it claims more bytes than the buffer holds, which
 *   means the buffer was truncated.
 * - The runtime header's DataSize must equal 20 + VariableDataSize and the
 *   runtime claims must fit in the buffer; bytes after them (NV padding)
 *   are ignored.
 * - The runtime claims must be a JSON object (duplicate keys rejected) with
 *   a "keys" array holding an RSA "HCLAkPub" JWK; "HCLEkPub",
 *   "vm-configuration" and "user-data" are optional.
 * - A report whose report_data does not match the runtime claims still
 *   parses: binding_ok says whether it matched, callers must check it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/defaults.h"
#include "proto/err.h"

#define HCL_HEADER_SIZE                 32
#define HCL_HW_REPORT_OFFSET            32
#define HCL_HW_REPORT_SIZE              1184    /* union of SNP and TDX */
#define HCL_SNP_REPORT_SIZE             1184
#define HCL_TDX_REPORT_SIZE             1024
#define HCL_RUNTIME_HEADER_OFFSET       1216
#define HCL_RUNTIME_HEADER_SIZE         20
#define HCL_RUNTIME_DATA_OFFSET         1236
#define HCL_SNP_SIGNED_SIZE             0x2A0
#define HCL_USER_DATA_SIZE              64
#define HCL_REPORT_DATA_SIZE            64

#define HCL_SIGNATURE                   0x414C4348u     /* "HCLA" */

enum hcl_report_type {
        HCL_REPORT_TYPE_SNP = 2,
        HCL_REPORT_TYPE_TDX = 4,
};

enum hcl_hash_type {
        HCL_HASH_SHA256 = 1,
        HCL_HASH_SHA384 = 2,
        HCL_HASH_SHA512 = 3,
};

/* AMD SEV-SNP ATTESTATION_REPORT fields (offsets relative to the report). */
struct hcl_snp_report {
        uint32_t version;               /* 0x00 */
        uint32_t guest_svn;             /* 0x04 */
        uint64_t policy;                /* 0x08 */
        uint8_t family_id[16];          /* 0x10 */
        uint8_t image_id[16];           /* 0x20 */
        uint32_t vmpl;                  /* 0x30 */
        uint32_t signature_algo;        /* 0x34 */
        uint64_t current_tcb;           /* 0x38 */
        uint64_t platform_info;         /* 0x40 */
        uint8_t report_data[64];        /* 0x50 */
        uint8_t measurement[48];        /* 0x90 */
        uint8_t host_data[32];          /* 0xC0 */
        uint8_t id_key_digest[48];      /* 0xE0 */
        uint8_t author_key_digest[48];  /* 0x110 */
        uint8_t report_id[32];          /* 0x140 */
        uint8_t report_id_ma[32];       /* 0x160 */
        uint64_t reported_tcb;          /* 0x180 */
        uint8_t chip_id[64];            /* 0x1A0 */
        uint64_t committed_tcb;         /* 0x1E0 */
        uint64_t launch_tcb;            /* 0x1F0 */
        uint8_t sig_r[72];              /* 0x2A0, little-endian */
        uint8_t sig_s[72];              /* 0x2E8, little-endian */
};

/* Intel TDX TDREPORT fields (offsets relative to the TD report). */
struct hcl_tdx_report {
        uint8_t report_type[4];         /* 0 */
        uint8_t report_data[64];        /* 128 */
        uint8_t tee_tcb_info[239];      /* 256 */
        uint64_t td_attributes;         /* 512 */
        uint64_t xfam;                  /* 520 */
        uint8_t mrtd[48];               /* 528 */
        uint8_t mrconfigid[48];         /* 576 */
        uint8_t mrowner[48];            /* 624 */
        uint8_t mrownerconfig[48];      /* 672 */
        uint8_t rtmr[4][48];            /* 720 */
};

/* An RSA public key from the runtime claims (big-endian n and e). */
struct hcl_rsa_key {
        bool present;
        uint8_t n[HCL_RSA_MODULUS_MAX];
        size_t n_len;
        uint8_t e[HCL_RSA_EXPONENT_MAX];
        size_t e_len;
};

struct hcl_report;

/* Parse buf[0..len). On success *ret (callee-allocated; free with
 * hcl_report_free()) is written. buf is borrowed and not kept.
 * Returns 0, -EBADMSG (malformed), -E2BIG (over HCL_REPORT_MAX),
 * -EPROTONOSUPPORT (VBS/TVM/unknown report or hash type) or -ENOMEM. */
int hcl_parse(const uint8_t *buf, size_t len, struct hcl_report **ret, struct err *e);

/* Accepts NULL; returns NULL. */
struct hcl_report *hcl_report_free(struct hcl_report *r);

enum hcl_report_type hcl_report_type(const struct hcl_report *r);
enum hcl_hash_type hcl_report_hash_type(const struct hcl_report *r);
/* "snp"/"tdx" and "sha256"/"sha384"/"sha512" (static strings). */
const char *hcl_report_type_to_string(enum hcl_report_type t);
const char *hcl_hash_type_to_string(enum hcl_hash_type t);

/* Header fields. */
uint32_t hcl_report_header_version(const struct hcl_report *r);
uint32_t hcl_report_header_report_size(const struct hcl_report *r);
uint32_t hcl_report_header_request_type(const struct hcl_report *r);

/* True when report_data[0..hashlen) = Hash(runtime claims bytes) and the
 * rest of report_data is zero. */
bool hcl_report_binding_ok(const struct hcl_report *r);

/* (borrowed; valid while r lives) The hardware-report fields; NULL when the
 * report is of the other type. */
const struct hcl_snp_report *hcl_report_get0_snp(const struct hcl_report *r);
const struct hcl_tdx_report *hcl_report_get0_tdx(const struct hcl_report *r);

/* (borrowed) The raw hardware report: 1184 bytes (SNP) or 1024 (TDX). */
const uint8_t *hcl_report_get0_hw_report(const struct hcl_report *r, size_t *ret_len);

/* (borrowed) The runtime claims exactly as stored (not NUL-terminated). */
const uint8_t *hcl_report_get0_runtime_data(const struct hcl_report *r, size_t *ret_len);

/* (borrowed) The parsed runtime claims object. */
json_t *hcl_report_get0_runtime_json(const struct hcl_report *r);

/* (borrowed) The report_data (64 bytes) of the hardware report. */
const uint8_t *hcl_report_get0_report_data(const struct hcl_report *r);

/* (borrowed) HCLAkPub (always present) and HCLEkPub (NULL when absent). */
const struct hcl_rsa_key *hcl_report_get0_ak(const struct hcl_report *r);
const struct hcl_rsa_key *hcl_report_get0_ek(const struct hcl_report *r);

/* (borrowed) The 64 user-data bytes, or NULL when the claims have none. */
const uint8_t *hcl_report_get0_user_data(const struct hcl_report *r);

/* vm-configuration booleans: 1/0, or -ENOENT when not in the claims. */
int hcl_report_vm_secure_boot(const struct hcl_report *r);
int hcl_report_vm_tpm_enabled(const struct hcl_report *r);
int hcl_report_vm_console_enabled(const struct hcl_report *r);
/* (borrowed) vm-configuration.vmUniqueId, or NULL. */
const char *hcl_report_vm_unique_id(const struct hcl_report *r);

/* Verify the SNP report signature (ECDSA P-384 with SHA-384 over bytes
 * [0, 0x2A0) of the report) with vcek_pub (borrowed). Returns 0, -EINVAL
 * (not an SNP report, wrong key type), -EBADMSG (bad signature encoding or
 * signature does not verify) or -ENOMEM. */
int hcl_snp_signature_verify(const struct hcl_report *r, EVP_PKEY *vcek_pub, struct err *e);

/* Build the `attestctl inspect hcl --json` document. *ret is a new
 * reference (json_decref()). Returns 0 or -ENOMEM. */
int hcl_report_to_json(const struct hcl_report *r, json_t **ret);

#endif
