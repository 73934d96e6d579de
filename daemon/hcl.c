/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/sha.h>

#include "daemon/defaults.h"
#include "daemon/hcl.h"
#include "proto/b64.h"
#include "proto/hex.h"

/* Runtime header fields, relative to HCL_RUNTIME_HEADER_OFFSET. */
#define RT_DATA_SIZE            0
#define RT_VERSION              4
#define RT_REPORT_TYPE          8
#define RT_HASH_TYPE            12
#define RT_VARIABLE_DATA_SIZE   16

#define RT_REPORT_TYPE_VBS      1
#define RT_REPORT_TYPE_TVM      3

struct hcl_report {
        uint32_t version;
        uint32_t report_size;
        uint32_t request_type;
        enum hcl_report_type type;
        enum hcl_hash_type hash_type;

        uint8_t hw[HCL_HW_REPORT_SIZE];
        size_t hw_len;
        struct hcl_snp_report snp;
        struct hcl_tdx_report tdx;

        uint8_t *runtime;               /* raw runtime claims */
        size_t runtime_len;
        json_t *claims;

        struct hcl_rsa_key ak;
        struct hcl_rsa_key ek;
        bool has_user_data;
        uint8_t user_data[HCL_USER_DATA_SIZE];
        int secure_boot;
        int tpm_enabled;
        int console_enabled;
        const char *vm_unique_id;       /* borrowed from claims */

        bool binding_ok;
};

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

const char *hcl_report_type_to_string(enum hcl_report_type t)
{
        switch (t) {
        case HCL_REPORT_TYPE_SNP:
                return "snp";
        case HCL_REPORT_TYPE_TDX:
                return "tdx";
        }
        return "unknown";
}

const char *hcl_hash_type_to_string(enum hcl_hash_type t)
{
        switch (t) {
        case HCL_HASH_SHA256:
                return "sha256";
        case HCL_HASH_SHA384:
                return "sha384";
        case HCL_HASH_SHA512:
                return "sha512";
        }
        return "unknown";
}

static const EVP_MD *hash_md(enum hcl_hash_type t)
{
        switch (t) {
        case HCL_HASH_SHA256:
                return EVP_sha256();
        case HCL_HASH_SHA384:
                return EVP_sha384();
        case HCL_HASH_SHA512:
                return EVP_sha512();
        }
        return NULL;
}

static void parse_snp(struct hcl_report *r, const uint8_t *p)
{
        struct hcl_snp_report *s = &r->snp;

        s->version = le32(p + 0x00);
        s->guest_svn = le32(p + 0x04);
        s->policy = le64(p + 0x08);
        memcpy(s->family_id, p + 0x10, sizeof(s->family_id));
        memcpy(s->image_id, p + 0x20, sizeof(s->image_id));
        s->vmpl = le32(p + 0x30);
        s->signature_algo = le32(p + 0x34);
        s->current_tcb = le64(p + 0x38);
        s->platform_info = le64(p + 0x40);
        memcpy(s->report_data, p + 0x50, sizeof(s->report_data));
        memcpy(s->measurement, p + 0x90, sizeof(s->measurement));
        memcpy(s->host_data, p + 0xC0, sizeof(s->host_data));
        memcpy(s->id_key_digest, p + 0xE0, sizeof(s->id_key_digest));
        memcpy(s->author_key_digest, p + 0x110, sizeof(s->author_key_digest));
        memcpy(s->report_id, p + 0x140, sizeof(s->report_id));
        memcpy(s->report_id_ma, p + 0x160, sizeof(s->report_id_ma));
        s->reported_tcb = le64(p + 0x180);
        memcpy(s->chip_id, p + 0x1A0, sizeof(s->chip_id));
        s->committed_tcb = le64(p + 0x1E0);
        s->launch_tcb = le64(p + 0x1F0);
        memcpy(s->sig_r, p + 0x2A0, sizeof(s->sig_r));
        memcpy(s->sig_s, p + 0x2E8, sizeof(s->sig_s));
        memcpy(r->hw, p, HCL_SNP_REPORT_SIZE);
        r->hw_len = HCL_SNP_REPORT_SIZE;
}

static int parse_tdx(struct hcl_report *r, const uint8_t *p, struct err *e)
{
        struct hcl_tdx_report *t = &r->tdx;

        for (size_t i = HCL_TDX_REPORT_SIZE; i < HCL_HW_REPORT_SIZE; i++)
                if (p[i])
                        return err_set(e, -EBADMSG,
                                       "HCL TDX report: padding byte at offset %zu is 0x%02x, expected 0",
                                       HCL_HW_REPORT_OFFSET + i, p[i]);
        memcpy(t->report_type, p, sizeof(t->report_type));
        memcpy(t->report_data, p + 128, sizeof(t->report_data));
        memcpy(t->tee_tcb_info, p + 256, sizeof(t->tee_tcb_info));
        t->td_attributes = le64(p + 512);
        t->xfam = le64(p + 520);
        memcpy(t->mrtd, p + 528, sizeof(t->mrtd));
        memcpy(t->mrconfigid, p + 576, sizeof(t->mrconfigid));
        memcpy(t->mrowner, p + 624, sizeof(t->mrowner));
        memcpy(t->mrownerconfig, p + 672, sizeof(t->mrownerconfig));
        for (size_t i = 0; i < 4; i++)
                memcpy(t->rtmr[i], p + 720 + 48 * i, sizeof(t->rtmr[i]));
        memcpy(r->hw, p, HCL_TDX_REPORT_SIZE);
        r->hw_len = HCL_TDX_REPORT_SIZE;
        return 0;
}

static int decode_b64url_field(json_t *jwk, const char *field, const char *kid,
                               uint8_t *out, size_t max, size_t *ret_len, struct err *e)
{
        json_t *v = json_object_get(jwk, field);
        uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        if (!json_is_string(v))
                return err_set(e, -EBADMSG, "runtime claims: key '%s' has no string '%s'", kid, field);
        r = b64_decode(json_string_value(v), json_string_length(v), B64_URL, &buf, &len);
        if (r == -ENOMEM)
                return err_set(e, r, "out of memory");
        if (r < 0)
                return err_set(e, -EBADMSG, "runtime claims: key '%s' field '%s' is not valid base64url",
                               kid, field);
        if (len == 0 || len > max) {
                free(buf);
                return err_set(e, -EBADMSG, "runtime claims: key '%s' field '%s' is %zu bytes, expected 1..%zu",
                               kid, field, len, max);
        }
        memcpy(out, buf, len);
        free(buf);
        *ret_len = len;
        return 0;
}

static int parse_jwk(json_t *jwk, const char *kid, struct hcl_rsa_key *key, struct err *e)
{
        json_t *kty = json_object_get(jwk, "kty");
        int r;

        if (key->present)
                return err_set(e, -EBADMSG, "runtime claims: key '%s' appears twice", kid);
        if (!json_is_string(kty) || strcmp(json_string_value(kty), "RSA") != 0)
                return err_set(e, -EBADMSG, "runtime claims: key '%s' is not an RSA key (kty)", kid);
        r = decode_b64url_field(jwk, "n", kid, key->n, sizeof(key->n), &key->n_len, e);
        if (r < 0)
                return r;
        r = decode_b64url_field(jwk, "e", kid, key->e, sizeof(key->e), &key->e_len, e);
        if (r < 0)
                return r;
        key->present = true;
        return 0;
}

static int parse_keys(struct hcl_report *rep, struct err *e)
{
        json_t *keys = json_object_get(rep->claims, "keys");
        size_t i;
        json_t *jwk;
        int r;

        if (!json_is_array(keys))
                return err_set(e, -EBADMSG, "runtime claims: \"keys\" is missing or not an array");
        json_array_foreach(keys, i, jwk) {
                json_t *kid = json_object_get(jwk, "kid");
                const char *k;

                if (!json_is_object(jwk) || !json_is_string(kid))
                        return err_set(e, -EBADMSG, "runtime claims: keys[%zu] is not a JWK with a string kid", i);
                k = json_string_value(kid);
                if (strcmp(k, "HCLAkPub") == 0)
                        r = parse_jwk(jwk, k, &rep->ak, e);
                else if (strcmp(k, "HCLEkPub") == 0)
                        r = parse_jwk(jwk, k, &rep->ek, e);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        if (!rep->ak.present)
                return err_set(e, -EBADMSG, "runtime claims: no \"HCLAkPub\" key");
        return 0;
}

static int parse_vm_bool(json_t *cfg, const char *name, int *ret, struct err *e)
{
        json_t *v = json_object_get(cfg, name);

        if (!v) {
                *ret = -ENOENT;
                return 0;
        }
        if (!json_is_boolean(v))
                return err_set(e, -EBADMSG, "runtime claims: vm-configuration.%s is not a boolean", name);
        *ret = json_is_true(v);
        return 0;
}

static int parse_vm_config(struct hcl_report *rep, struct err *e)
{
        json_t *cfg = json_object_get(rep->claims, "vm-configuration");
        json_t *id;
        int r;

        rep->secure_boot = rep->tpm_enabled = rep->console_enabled = -ENOENT;
        if (!cfg)
                return 0;
        if (!json_is_object(cfg))
                return err_set(e, -EBADMSG, "runtime claims: \"vm-configuration\" is not an object");
        r = parse_vm_bool(cfg, "secure-boot", &rep->secure_boot, e);
        if (r < 0)
                return r;
        r = parse_vm_bool(cfg, "tpm-enabled", &rep->tpm_enabled, e);
        if (r < 0)
                return r;
        r = parse_vm_bool(cfg, "console-enabled", &rep->console_enabled, e);
        if (r < 0)
                return r;
        id = json_object_get(cfg, "vmUniqueId");
        if (id && !json_is_string(id))
                return err_set(e, -EBADMSG, "runtime claims: vm-configuration.vmUniqueId is not a string");
        rep->vm_unique_id = json_string_value(id);
        return 0;
}

static int parse_user_data(struct hcl_report *rep, struct err *e)
{
        json_t *ud = json_object_get(rep->claims, "user-data");
        uint8_t *bytes = NULL;
        size_t len = 0;
        int r;

        if (!ud)
                return 0;
        if (!json_is_string(ud) || json_string_length(ud) != 2 * HCL_USER_DATA_SIZE)
                return err_set(e, -EBADMSG, "runtime claims: \"user-data\" is not a string of %d hex characters",
                               2 * HCL_USER_DATA_SIZE);
        r = hex_decode(json_string_value(ud), json_string_length(ud), &bytes, &len);
        if (r == -ENOMEM)
                return err_set(e, r, "out of memory");
        if (r < 0)
                return err_set(e, -EBADMSG, "runtime claims: \"user-data\" is not hexadecimal");
        memcpy(rep->user_data, bytes, HCL_USER_DATA_SIZE);
        free(bytes);
        rep->has_user_data = true;
        return 0;
}

static int parse_claims(struct hcl_report *rep, struct err *e)
{
        json_error_t jerr;
        int r;

        rep->claims = json_loadb((const char *) rep->runtime, rep->runtime_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!rep->claims)
                return err_set(e, -EBADMSG, "runtime claims at offset %d: invalid JSON at byte %d: %s",
                               HCL_RUNTIME_DATA_OFFSET, jerr.position, jerr.text);
        if (!json_is_object(rep->claims))
                return err_set(e, -EBADMSG, "runtime claims at offset %d: not a JSON object",
                               HCL_RUNTIME_DATA_OFFSET);
        r = parse_keys(rep, e);
        if (r < 0)
                return r;
        r = parse_vm_config(rep, e);
        if (r < 0)
                return r;
        return parse_user_data(rep, e);
}

static int check_binding(struct hcl_report *rep, struct err *e)
{
        const uint8_t *rd = hcl_report_get0_report_data(rep);
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;

        if (!EVP_Digest(rep->runtime, rep->runtime_len, md, &md_len, hash_md(rep->hash_type), NULL))
                return err_set(e, -ENOMEM, "hashing the runtime claims failed");
        rep->binding_ok = memcmp(rd, md, md_len) == 0;
        for (size_t i = md_len; i < HCL_REPORT_DATA_SIZE; i++)
                if (rd[i])
                        rep->binding_ok = false;
        return 0;
}

static int parse_header(struct hcl_report *rep, const uint8_t *buf, size_t len, struct err *e)
{
        uint32_t sig;

        if (len < HCL_HEADER_SIZE)
                return err_set(e, -EBADMSG, "HCL report truncated: %zu bytes, the header needs %d",
                               len, HCL_HEADER_SIZE);
        sig = le32(buf);
        if (sig != HCL_SIGNATURE)
                return err_set(e, -EBADMSG,
                               "HCL header: signature 0x%08" PRIx32 " at offset 0, expected 0x%08x (\"HCLA\")",
                               sig, HCL_SIGNATURE);
        rep->version = le32(buf + 4);
        if (rep->version != 1 && rep->version != 2)
                return err_set(e, -EPROTONOSUPPORT,
                               "HCL header: version %" PRIu32 " at offset 4 not supported (1 or 2)", rep->version);
        rep->report_size = le32(buf + 8);
        rep->request_type = le32(buf + 12);
        if (len < HCL_RUNTIME_HEADER_OFFSET)
                return err_set(e, -EBADMSG, "HCL report truncated: %zu bytes, the hardware report ends at %d",
                               len, HCL_RUNTIME_HEADER_OFFSET);
        if (len < HCL_RUNTIME_DATA_OFFSET)
                return err_set(e, -EBADMSG, "HCL report truncated: %zu bytes, the runtime header ends at %d",
                               len, HCL_RUNTIME_DATA_OFFSET);
        if (rep->report_size > len)
                return err_set(e, -EBADMSG,
                               "HCL header: ReportSize %" PRIu32 " at offset 8 exceeds the %zu-byte buffer (truncated?)",
                               rep->report_size, len);
        return 0;
}

static int parse_runtime_header(struct hcl_report *rep, const uint8_t *buf, size_t len, struct err *e)
{
        const uint8_t *rt = buf + HCL_RUNTIME_HEADER_OFFSET;
        uint32_t data_size = le32(rt + RT_DATA_SIZE);
        uint32_t version = le32(rt + RT_VERSION);
        uint32_t type = le32(rt + RT_REPORT_TYPE);
        uint32_t hash = le32(rt + RT_HASH_TYPE);
        uint32_t vds = le32(rt + RT_VARIABLE_DATA_SIZE);
        size_t avail = len - HCL_RUNTIME_DATA_OFFSET;

        if (version != 1 && version != 2)
                return err_set(e, -EPROTONOSUPPORT,
                               "HCL runtime header: Version %" PRIu32 " at offset %d not supported (1 or 2)",
                               version, HCL_RUNTIME_HEADER_OFFSET + RT_VERSION);
        switch (type) {
        case HCL_REPORT_TYPE_SNP:
        case HCL_REPORT_TYPE_TDX:
                rep->type = (enum hcl_report_type) type;
                break;
        case RT_REPORT_TYPE_VBS:
        case RT_REPORT_TYPE_TVM:
                return err_set(e, -EPROTONOSUPPORT,
                               "HCL runtime header: ReportType %" PRIu32 " (%s) at offset %d not supported, "
                               "only 2 (SEV-SNP) and 4 (TDX)",
                               type, type == RT_REPORT_TYPE_VBS ? "VBS" : "TVM",
                               HCL_RUNTIME_HEADER_OFFSET + RT_REPORT_TYPE);
        default:
                return err_set(e, -EPROTONOSUPPORT,
                               "HCL runtime header: unknown ReportType %" PRIu32 " at offset %d",
                               type, HCL_RUNTIME_HEADER_OFFSET + RT_REPORT_TYPE);
        }
        if (hash < HCL_HASH_SHA256 || hash > HCL_HASH_SHA512)
                return err_set(e, -EPROTONOSUPPORT,
                               "HCL runtime header: unknown ReportDataHashType %" PRIu32 " at offset %d (1..3)",
                               hash, HCL_RUNTIME_HEADER_OFFSET + RT_HASH_TYPE);
        rep->hash_type = (enum hcl_hash_type) hash;
        if (vds > avail)
                return err_set(e, -EBADMSG,
                               "HCL runtime header: VariableDataSize %" PRIu32 " at offset %d exceeds the %zu bytes "
                               "left in the %zu-byte buffer",
                               vds, HCL_RUNTIME_HEADER_OFFSET + RT_VARIABLE_DATA_SIZE, avail, len);
        if ((uint64_t) data_size != (uint64_t) vds + HCL_RUNTIME_HEADER_SIZE)
                return err_set(e, -EBADMSG,
                               "HCL runtime header: DataSize %" PRIu32 " at offset %d is not %d + VariableDataSize %"
                               PRIu32, data_size, HCL_RUNTIME_HEADER_OFFSET + RT_DATA_SIZE,
                               HCL_RUNTIME_HEADER_SIZE, vds);
        if (vds == 0)
                return err_set(e, -EBADMSG, "HCL runtime header: VariableDataSize is 0, no runtime claims");
        rep->runtime_len = vds;
        return 0;
}

int hcl_parse(const uint8_t *buf, size_t len, struct hcl_report **ret, struct err *e)
{
        struct hcl_report *rep = NULL;
        int r;

        if (!ret || (!buf && len))
                return err_set(e, -EINVAL, "invalid arguments");
        if (len > HCL_REPORT_MAX)
                return err_set(e, -E2BIG, "HCL report is %zu bytes, more than the maximum %d", len, HCL_REPORT_MAX);
        rep = calloc(1, sizeof(*rep));
        if (!rep)
                return err_set(e, -ENOMEM, "out of memory");
        r = parse_header(rep, buf, len, e);
        if (r < 0)
                goto out;
        r = parse_runtime_header(rep, buf, len, e);
        if (r < 0)
                goto out;
        if (rep->type == HCL_REPORT_TYPE_SNP) {
                parse_snp(rep, buf + HCL_HW_REPORT_OFFSET);
        } else {
                r = parse_tdx(rep, buf + HCL_HW_REPORT_OFFSET, e);
                if (r < 0)
                        goto out;
        }
        rep->runtime = malloc(rep->runtime_len);
        if (!rep->runtime) {
                r = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        memcpy(rep->runtime, buf + HCL_RUNTIME_DATA_OFFSET, rep->runtime_len);
        r = parse_claims(rep, e);
        if (r < 0)
                goto out;
        r = check_binding(rep, e);
        if (r < 0)
                goto out;
        *ret = rep;
        rep = NULL;
out:
        hcl_report_free(rep);
        return r;
}

struct hcl_report *hcl_report_free(struct hcl_report *r)
{
        if (!r)
                return NULL;
        json_decref(r->claims);
        free(r->runtime);
        free(r);
        return NULL;
}

enum hcl_report_type hcl_report_type(const struct hcl_report *r)
{
        return r->type;
}

enum hcl_hash_type hcl_report_hash_type(const struct hcl_report *r)
{
        return r->hash_type;
}

uint32_t hcl_report_header_version(const struct hcl_report *r)
{
        return r->version;
}

uint32_t hcl_report_header_report_size(const struct hcl_report *r)
{
        return r->report_size;
}

uint32_t hcl_report_header_request_type(const struct hcl_report *r)
{
        return r->request_type;
}

bool hcl_report_binding_ok(const struct hcl_report *r)
{
        return r->binding_ok;
}

const struct hcl_snp_report *hcl_report_get0_snp(const struct hcl_report *r)
{
        return r->type == HCL_REPORT_TYPE_SNP ? &r->snp : NULL;
}

const struct hcl_tdx_report *hcl_report_get0_tdx(const struct hcl_report *r)
{
        return r->type == HCL_REPORT_TYPE_TDX ? &r->tdx : NULL;
}

const uint8_t *hcl_report_get0_hw_report(const struct hcl_report *r, size_t *ret_len)
{
        *ret_len = r->hw_len;
        return r->hw;
}

const uint8_t *hcl_report_get0_runtime_data(const struct hcl_report *r, size_t *ret_len)
{
        *ret_len = r->runtime_len;
        return r->runtime;
}

json_t *hcl_report_get0_runtime_json(const struct hcl_report *r)
{
        return r->claims;
}

const uint8_t *hcl_report_get0_report_data(const struct hcl_report *r)
{
        return r->type == HCL_REPORT_TYPE_SNP ? r->snp.report_data : r->tdx.report_data;
}

const struct hcl_rsa_key *hcl_report_get0_ak(const struct hcl_report *r)
{
        return &r->ak;
}

const struct hcl_rsa_key *hcl_report_get0_ek(const struct hcl_report *r)
{
        return r->ek.present ? &r->ek : NULL;
}

const uint8_t *hcl_report_get0_user_data(const struct hcl_report *r)
{
        return r->has_user_data ? r->user_data : NULL;
}

int hcl_report_vm_secure_boot(const struct hcl_report *r)
{
        return r->secure_boot;
}

int hcl_report_vm_tpm_enabled(const struct hcl_report *r)
{
        return r->tpm_enabled;
}

int hcl_report_vm_console_enabled(const struct hcl_report *r)
{
        return r->console_enabled;
}

const char *hcl_report_vm_unique_id(const struct hcl_report *r)
{
        return r->vm_unique_id;
}

/* DER-encode the little-endian R and S of an SNP signature. */
static int snp_signature_der(const struct hcl_snp_report *s, uint8_t **ret, int *ret_len, struct err *e)
{
        ECDSA_SIG *sig = NULL;
        BIGNUM *br = NULL, *bs = NULL;
        uint8_t *der = NULL;
        int der_len, r = -ENOMEM;

        br = BN_lebin2bn(s->sig_r, sizeof(s->sig_r), NULL);
        bs = BN_lebin2bn(s->sig_s, sizeof(s->sig_s), NULL);
        sig = ECDSA_SIG_new();
        if (!br || !bs || !sig) {
                err_set(e, r, "out of memory");
                goto out;
        }
        if (BN_is_zero(br) || BN_is_zero(bs)) {
                r = err_set(e, -EBADMSG, "SNP report: signature R or S at offset 0x2A0 is zero");
                goto out;
        }
        if (!ECDSA_SIG_set0(sig, br, bs)) {
                err_set(e, r, "out of memory");
                goto out;
        }
        br = bs = NULL;
        der_len = i2d_ECDSA_SIG(sig, &der);
        if (der_len <= 0) {
                err_set(e, r, "encoding the SNP signature failed");
                goto out;
        }
        *ret = der;
        *ret_len = der_len;
        r = 0;
out:
        BN_free(br);
        BN_free(bs);
        ECDSA_SIG_free(sig);
        return r;
}

int hcl_snp_signature_verify(const struct hcl_report *r, EVP_PKEY *vcek_pub, struct err *e)
{
        EVP_MD_CTX *ctx = NULL;
        uint8_t *der = NULL;
        int der_len = 0, k, ret;

        if (!r || !vcek_pub)
                return err_set(e, -EINVAL, "invalid arguments");
        if (r->type != HCL_REPORT_TYPE_SNP)
                return err_set(e, -EINVAL, "not an SEV-SNP report");
        if (r->snp.signature_algo != 1)
                return err_set(e, -EBADMSG, "SNP report: signature_algo %" PRIu32 " at offset 0x34, expected 1 "
                               "(ECDSA P-384 with SHA-384)", r->snp.signature_algo);
        if (!EVP_PKEY_is_a(vcek_pub, "EC") || EVP_PKEY_get_bits(vcek_pub) != 384)
                return err_set(e, -EINVAL, "VCEK public key is not an EC P-384 key");
        ret = snp_signature_der(&r->snp, &der, &der_len, e);
        if (ret < 0)
                return ret;
        ctx = EVP_MD_CTX_new();
        if (!ctx) {
                ret = err_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, vcek_pub) != 1) {
                ret = err_set(e, -EINVAL, "cannot initialise ECDSA verification with the VCEK");
                goto out;
        }
        k = EVP_DigestVerify(ctx, der, (size_t) der_len, r->hw, HCL_SNP_SIGNED_SIZE);
        if (k != 1) {
                ret = err_set(e, -EBADMSG, "SNP report signature does not verify with the VCEK");
                goto out;
        }
        ret = 0;
out:
        EVP_MD_CTX_free(ctx);
        OPENSSL_free(der);
        return ret;
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
        if (!v)
                return -ENOMEM;
        return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
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

static json_t *json_u64_hex(uint64_t v)
{
        char buf[sizeof("0x") + 16];

        (void) snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
        return json_string(buf);
}

static json_t *snp_to_json(const struct hcl_snp_report *s)
{
        json_t *o = json_object();
        int r = 0;

        if (!o)
                return NULL;
        r |= set_new(o, "version", json_integer(s->version));
        r |= set_new(o, "guest_svn", json_integer(s->guest_svn));
        r |= set_new(o, "policy", json_u64_hex(s->policy));
        r |= set_new(o, "vmpl", json_integer(s->vmpl));
        r |= set_new(o, "measurement", json_hex(s->measurement, sizeof(s->measurement)));
        r |= set_new(o, "report_data", json_hex(s->report_data, sizeof(s->report_data)));
        r |= set_new(o, "host_data", json_hex(s->host_data, sizeof(s->host_data)));
        r |= set_new(o, "id_key_digest", json_hex(s->id_key_digest, sizeof(s->id_key_digest)));
        r |= set_new(o, "reported_tcb", json_u64_hex(s->reported_tcb));
        r |= set_new(o, "chip_id", json_hex(s->chip_id, sizeof(s->chip_id)));
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *tdx_to_json(const struct hcl_tdx_report *t)
{
        json_t *o = json_object(), *rtmr = json_array();
        int r = 0;

        if (!o || !rtmr) {
                json_decref(o);
                json_decref(rtmr);
                return NULL;
        }
        for (size_t i = 0; i < 4; i++) {
                json_t *v = json_hex(t->rtmr[i], sizeof(t->rtmr[i]));

                if (!v || json_array_append_new(rtmr, v) < 0)
                        r = -ENOMEM;
        }
        r |= set_new(o, "mrtd", json_hex(t->mrtd, sizeof(t->mrtd)));
        r |= set_new(o, "report_data", json_hex(t->report_data, sizeof(t->report_data)));
        r |= set_new(o, "rtmr", rtmr);
        r |= set_new(o, "td_attributes", json_u64_hex(t->td_attributes));
        r |= set_new(o, "xfam", json_u64_hex(t->xfam));
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int hcl_report_to_json(const struct hcl_report *rep, json_t **ret)
{
        json_t *o = NULL, *hdr = NULL;
        uint8_t sha[SHA256_DIGEST_LENGTH];
        int r = 0;

        o = json_object();
        hdr = json_object();
        if (!o || !hdr) {
                json_decref(o);
                json_decref(hdr);
                return -ENOMEM;
        }
        r |= set_new(hdr, "signature", json_string("HCLA"));
        r |= set_new(hdr, "version", json_integer(rep->version));
        r |= set_new(hdr, "report_size", json_integer(rep->report_size));
        r |= set_new(hdr, "request_type", json_integer(rep->request_type));
        r |= set_new(o, "header", hdr);
        r |= set_new(o, "report_type", json_string(hcl_report_type_to_string(rep->type)));
        r |= set_new(o, "hash_type", json_string(hcl_hash_type_to_string(rep->hash_type)));
        r |= set_new(o, "runtime_data", json_incref(rep->claims));
        (void) SHA256(rep->runtime, rep->runtime_len, sha);
        r |= set_new(o, "runtime_data_sha256", json_hex(sha, sizeof(sha)));
        r |= set_new(o, "binding_ok", json_boolean(rep->binding_ok));
        if (rep->type == HCL_REPORT_TYPE_SNP)
                r |= set_new(o, "snp", snp_to_json(&rep->snp));
        else
                r |= set_new(o, "tdx", tdx_to_json(&rep->tdx));
        if (r) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}
