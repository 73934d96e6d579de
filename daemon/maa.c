/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "maa"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/maa.h"
#include "daemon/xalloc.h"
#include "proto/b64.h"

#define JSON_OUT_FLAGS  (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Messages are cut to their buffer on purpose: format through vsnprintf so
 * that the truncation is not reported as a mistake. */
static void msgf(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void msgf(char *dst, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(dst, len, fmt, ap);
        va_end(ap);
}

static const char *const isolation_table[_MAA_ISOLATION_MAX] = {
        [MAA_ISOLATION_SEVSNP] = "SevSnp",
        [MAA_ISOLATION_TDX] = "Tdx",
};

const char *maa_isolation_to_string(enum maa_isolation i)
{
        return i >= 0 && i < _MAA_ISOLATION_MAX ? isolation_table[i] : NULL;
}

static const char *const result_table[_MAA_RESULT_MAX] = {
        [MAA_OK] = "ok",
        [MAA_RETRY] = "retry",
        [MAA_REFUSED] = "refused",
        [MAA_CONFIG_ERROR] = "config-error",
};

const char *maa_result_to_string(enum maa_result r)
{
        return r >= 0 && r < _MAA_RESULT_MAX ? result_table[r] : NULL;
}

static const char *const route_table[_MAA_ROUTE_MAX] = {
        [MAA_ROUTE_AZURE_GUEST] = "AzureGuest",
        [MAA_ROUTE_SEVSNP_VM] = "SevSnpVm",
        [MAA_ROUTE_TDX_VM] = "TdxVm",
};

static const char *const route_api_version[_MAA_ROUTE_MAX] = {
        [MAA_ROUTE_AZURE_GUEST] = MAA_API_VERSION_AZURE_GUEST,
        [MAA_ROUTE_SEVSNP_VM] = MAA_API_VERSION_SEVSNP_VM,
        [MAA_ROUTE_TDX_VM] = MAA_API_VERSION_TDX_VM,
};

const char *maa_route_to_string(enum maa_route r)
{
        return r >= 0 && r < _MAA_ROUTE_MAX ? route_table[r] : NULL;
}

/* ---- JSON building helpers ------------------------------------------- */

/* obj[key] = base64(data) in variant v. Returns 0 or -ENOMEM. */
static int set_b64(json_t *obj, const char *key, const void *data, size_t len, enum b64_variant v)
{
        char *s = b64_encode(len ? data : "", len, v);
        int r;

        if (!s)
                return -ENOMEM;
        r = json_object_set_new(obj, key, json_string(s)) < 0 ? -ENOMEM : 0;
        free(s);
        return r;
}

/* obj[key] = new value (stolen). Returns 0 or -ENOMEM. */
static int set_new(json_t *obj, const char *key, json_t *value)
{
        return json_object_set_new(obj, key, value) < 0 ? -ENOMEM : 0;
}

/* Serialise root (borrowed) compactly, keys in insertion order. */
static int dump(const json_t *root, char **ret)
{
        char *s = json_dumps(root, JSON_OUT_FLAGS);

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int check_blob(struct err *e, const char *name, struct maa_bytes b, size_t min, size_t max)
{
        if (b.len > 0 && !b.data)
                return err_set(e, -EINVAL, "%s: length %zu without data", name, b.len);
        if (b.len < min)
                return err_set(e, -EINVAL, min == 1 ? "%s is missing" : "%s is too short (%zu < %zu bytes)",
                               name, b.len, min);
        if (b.len > max)
                return err_set(e, -E2BIG, "%s is too large (%zu > %zu bytes)", name, b.len, max);
        return 0;
}

static int check_exact(struct err *e, const char *name, struct maa_bytes b, size_t size)
{
        if (!b.data || b.len != size)
                return err_set(e, -EINVAL, "%s must be exactly %zu bytes, not %zu", name, size, b.len);
        return 0;
}

/* ---- AzureGuest -------------------------------------------------------- */

static int guest_validate(const struct maa_guest_evidence *ev, struct err *e)
{
        const struct {
                const char *name;
                struct maa_bytes b;
        } tpm[] = {
                { "AikCert", ev->ak_cert },
                { "AikPub", ev->ak_pub },
                { "PcrQuote", ev->quote },
                { "PcrSignature", ev->quote_sig },
                { "EncKeyPub", ev->enc_key_pub },
                { "EncKeyCertifyInfo", ev->enc_key_certify },
                { "EncKeyCertifyInfoSignature", ev->enc_key_certify_sig },
        };
        int r;

        if (!ev->os_distro || !*ev->os_distro || strlen(ev->os_distro) > 256)
                return err_set(e, -EINVAL, "OSDistro (os-release NAME) is missing or longer than 256 bytes");
        r = check_blob(e, "TcgLogs", ev->tcg_log, 0, MAA_EVIDENCE_FIELD_MAX_BYTES);
        if (r < 0)
                return r;
        if (ev->n_client_payload > MAA_CLIENT_PAYLOAD_MAX || (ev->n_client_payload && !ev->client_payload))
                return err_set(e, -E2BIG, "ClientPayload has more than %d entries", MAA_CLIENT_PAYLOAD_MAX);
        for (size_t i = 0; i < ev->n_client_payload; i++) {
                const struct maa_kv *kv = &ev->client_payload[i];

                if (!kv->key || !*kv->key || !kv->value)
                        return err_set(e, -EINVAL, "ClientPayload entry %zu has no key or value", i);
                if (kv->value_len > MAA_CLIENT_PAYLOAD_VALUE_MAX_BYTES)
                        return err_set(e, -E2BIG, "ClientPayload '%s' is longer than %d bytes", kv->key,
                                       MAA_CLIENT_PAYLOAD_VALUE_MAX_BYTES);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(ev->client_payload[j].key, kv->key) == 0)
                                return err_set(e, -EINVAL, "ClientPayload key '%s' appears twice", kv->key);
        }
        for (size_t i = 0; i < sizeof(tpm) / sizeof(tpm[0]); i++) {
                r = check_blob(e, tpm[i].name, tpm[i].b, 1, MAA_TPM_BLOB_MAX_BYTES);
                if (r < 0)
                        return r;
        }
        if (ev->n_pcrs == 0 || ev->n_pcrs > 24 || !ev->pcrs)
                return err_set(e, -EINVAL, "PCRs: %zu entries (need 1..24)", ev->n_pcrs);
        for (size_t i = 0; i < ev->n_pcrs; i++)
                if (ev->pcrs[i].index > 23 || (i > 0 && ev->pcrs[i].index <= ev->pcrs[i - 1].index))
                        return err_set(e, -EINVAL, "PCRs: indices must be 0..23 and strictly ascending");
        switch (ev->isolation) {
        case MAA_ISOLATION_SEVSNP:
                r = check_exact(e, "SnpReport", ev->snp_report, MAA_SNP_REPORT_SIZE);
                if (r == 0)
                        r = check_blob(e, "VcekCertChain", ev->vcek_chain_pem, 1, MAA_VCEK_CHAIN_MAX_BYTES);
                break;
        case MAA_ISOLATION_TDX:
                r = check_blob(e, "TD quote", ev->td_quote, 1, MAA_EVIDENCE_FIELD_MAX_BYTES);
                break;
        default:
                return err_set(e, -EINVAL, "unknown isolation type %d", (int) ev->isolation);
        }
        if (r < 0)
                return r;
        return check_blob(e, "RunTimeData (runtime claims)", ev->runtime_claims, 1,
                          MAA_EVIDENCE_FIELD_MAX_BYTES);
}

static int guest_tpm_info(const struct maa_guest_evidence *ev, json_t **ret)
{
        json_t *tpm = json_object(), *set = json_array(), *pcrs = json_array();
        int r = -ENOMEM;

        if (!tpm || !set || !pcrs)
                goto out;
        for (size_t i = 0; i < ev->n_pcrs; i++) {
                json_t *p = json_object();

                if (!p || json_array_append_new(set, json_integer(ev->pcrs[i].index)) < 0 ||
                    json_array_append_new(pcrs, p) < 0 ||
                    set_new(p, "Index", json_integer(ev->pcrs[i].index)) < 0 ||
                    set_b64(p, "Digest", ev->pcrs[i].digest, sizeof(ev->pcrs[i].digest), B64_STD) < 0)
                        goto out;
        }
        if (set_b64(tpm, "AikCert", ev->ak_cert.data, ev->ak_cert.len, B64_STD) < 0 ||
            set_b64(tpm, "AikPub", ev->ak_pub.data, ev->ak_pub.len, B64_STD) < 0 ||
            set_b64(tpm, "PcrQuote", ev->quote.data, ev->quote.len, B64_STD) < 0 ||
            set_b64(tpm, "PcrSignature", ev->quote_sig.data, ev->quote_sig.len, B64_STD) < 0 ||
            set_new(tpm, "PcrSet", json_incref(set)) < 0 ||
            set_new(tpm, "PCRs", json_incref(pcrs)) < 0 ||
            set_b64(tpm, "EncKeyPub", ev->enc_key_pub.data, ev->enc_key_pub.len, B64_STD) < 0 ||
            set_b64(tpm, "EncKeyCertifyInfo", ev->enc_key_certify.data, ev->enc_key_certify.len,
                    B64_STD) < 0 ||
            set_b64(tpm, "EncKeyCertifyInfoSignature", ev->enc_key_certify_sig.data,
                    ev->enc_key_certify_sig.len, B64_STD) < 0)
                goto out;
        *ret = tpm;
        tpm = NULL;
        r = 0;
out:
        json_decref(tpm);
        json_decref(set);
        json_decref(pcrs);
        return r;
}

/* SNP Proof: std base64 of {"SnpReport": base64url, "VcekCertChain": std base64(PEM)}. */
static int guest_snp_proof(const struct maa_guest_evidence *ev, json_t *evidence)
{
        json_t *proof = json_object();
        char *s = NULL;
        int r = -ENOMEM;

        if (!proof ||
            set_b64(proof, "SnpReport", ev->snp_report.data, ev->snp_report.len, B64_URL) < 0 ||
            set_b64(proof, "VcekCertChain", ev->vcek_chain_pem.data, ev->vcek_chain_pem.len, B64_STD) < 0)
                goto out;
        r = dump(proof, &s);
        if (r == 0)
                r = set_b64(evidence, "Proof", s, strlen(s), B64_STD);
out:
        free(s);
        json_decref(proof);
        return r;
}

static int guest_isolation_info(const struct maa_guest_evidence *ev, json_t **ret)
{
        json_t *iso = json_object(), *evidence = json_object();
        int r = -ENOMEM;

        if (!iso || !evidence ||
            set_new(iso, "Type", json_string(maa_isolation_to_string(ev->isolation))) < 0)
                goto out;
        if (ev->isolation == MAA_ISOLATION_SEVSNP)
                r = guest_snp_proof(ev, evidence);
        else
                r = set_b64(evidence, "Proof", ev->td_quote.data, ev->td_quote.len, B64_STD);
        if (r < 0)
                goto out;
        r = -ENOMEM;
        if (set_b64(evidence, "RunTimeData", ev->runtime_claims.data, ev->runtime_claims.len, B64_STD) < 0 ||
            set_new(iso, "Evidence", json_incref(evidence)) < 0)
                goto out;
        *ret = iso;
        iso = NULL;
        r = 0;
out:
        json_decref(iso);
        json_decref(evidence);
        return r;
}

int maa_build_guest_attestation_info(const struct maa_guest_evidence *ev, char **ret_json,
                                     struct err *e)
{
        json_t *root = NULL, *payload = NULL, *tpm = NULL, *iso = NULL;
        const char *os_type, *os_build;
        char *s = NULL;
        int r;

        if (!ev || !ret_json)
                return err_set(e, -EINVAL, "no evidence");
        r = guest_validate(ev, e);
        if (r < 0)
                return r;
        os_type = ev->os_type ? ev->os_type : "Linux";
        os_build = ev->os_build ? ev->os_build : "NotApplication";

        r = -ENOMEM;
        root = json_object();
        payload = json_object();
        if (!root || !payload)
                goto out;
        for (size_t i = 0; i < ev->n_client_payload; i++) {
                const struct maa_kv *kv = &ev->client_payload[i];
                if (set_b64(payload, kv->key, kv->value, kv->value_len, B64_STD) < 0) {
                        r = err_set(e, -EINVAL, "ClientPayload key '%s' is not valid UTF-8",
                                    ev->client_payload[i].key);
                        goto out;
                }
        }
        r = guest_tpm_info(ev, &tpm);
        if (r == 0)
                r = guest_isolation_info(ev, &iso);
        if (r < 0)
                goto out;
        r = -ENOMEM;
        if (set_new(root, "AttestationProtocolVersion", json_string("2.0")) < 0 ||
            set_b64(root, "OSType", os_type, strlen(os_type), B64_STD) < 0 ||
            set_b64(root, "OSDistro", ev->os_distro, strlen(ev->os_distro), B64_STD) < 0 ||
            set_new(root, "OSVersionMajor", json_integer(ev->os_version_major)) < 0 ||
            set_new(root, "OSVersionMinor", json_integer(ev->os_version_minor)) < 0 ||
            set_b64(root, "OSBuild", os_build, strlen(os_build), B64_STD) < 0 ||
            set_b64(root, "TcgLogs", ev->tcg_log.data, ev->tcg_log.len, B64_STD) < 0 ||
            set_new(root, "ClientPayload", json_incref(payload)) < 0 ||
            set_new(root, "TpmInfo", json_incref(tpm)) < 0 ||
            set_new(root, "IsolationInfo", json_incref(iso)) < 0)
                goto out;
        r = dump(root, &s);
        if (r < 0)
                goto out;
        if (strlen(s) > MAA_REQUEST_MAX_BYTES / 2) {
                r = err_set(e, -E2BIG, "AttestationInfo would be %zu bytes (limit %d)", strlen(s),
                            MAA_REQUEST_MAX_BYTES / 2);
                goto out;
        }
        *ret_json = s;
        s = NULL;
out:
        if (r == -ENOMEM)
                (void) err_set(e, r, "out of memory building the AzureGuest request");
        free(s);
        json_decref(root);
        json_decref(payload);
        json_decref(tpm);
        json_decref(iso);
        return r;
}

int maa_build_guest_request(const struct maa_guest_evidence *ev, char **ret_body, struct err *e)
{
        json_t *root = NULL;
        char *inner = NULL, *body = NULL;
        int r;

        if (!ret_body)
                return err_set(e, -EINVAL, "no output");
        r = maa_build_guest_attestation_info(ev, &inner, e);
        if (r < 0)
                return r;
        root = json_object();
        r = root ? set_b64(root, "AttestationInfo", inner, strlen(inner), B64_URL) : -ENOMEM;
        if (r == 0)
                r = dump(root, &body);
        if (r < 0) {
                (void) err_set(e, r, "out of memory building the AzureGuest request");
                goto out;
        }
        *ret_body = body;
out:
        free(inner);
        json_decref(root);
        return r;
}

/* ---- SevSnpVm / TdxVm -------------------------------------------------- */

/* {"<key>": base64url(evidence), "runtimeData": {...}, "nonce"?} */
static int platform_request(const struct maa_platform_evidence *ev, const char *key,
                            const char *evidence, size_t evidence_len, char **ret_body, struct err *e)
{
        json_t *root = json_object(), *rt = json_object();
        char *body = NULL;
        int r = -ENOMEM;

        if (!root || !rt ||
            set_b64(root, key, evidence, evidence_len, B64_URL) < 0 ||
            set_b64(rt, "data", ev->runtime_claims.data, ev->runtime_claims.len, B64_URL) < 0 ||
            set_new(rt, "dataType", json_string("JSON")) < 0 ||
            set_new(root, "runtimeData", json_incref(rt)) < 0)
                goto out;
        if (ev->nonce && set_new(root, "nonce", json_string(ev->nonce)) < 0) {
                r = err_set(e, -EINVAL, "nonce is not valid UTF-8");
                goto out;
        }
        r = dump(root, &body);
        if (r < 0)
                goto out;
        *ret_body = body;
out:
        if (r == -ENOMEM)
                (void) err_set(e, r, "out of memory building the %s request", key);
        json_decref(root);
        json_decref(rt);
        return r;
}

static int platform_validate(const struct maa_platform_evidence *ev, char **ret_body, struct err *e)
{
        int r;

        if (!ev || !ret_body)
                return err_set(e, -EINVAL, "no evidence");
        r = check_blob(e, "runtimeData", ev->runtime_claims, 1, MAA_EVIDENCE_FIELD_MAX_BYTES);
        if (r < 0)
                return r;
        if (ev->nonce && strlen(ev->nonce) > MAA_NONCE_MAX_BYTES)
                return err_set(e, -E2BIG, "nonce is longer than %d bytes", MAA_NONCE_MAX_BYTES);
        return 0;
}

int maa_build_snp_request(const struct maa_platform_evidence *ev, char **ret_body, struct err *e)
{
        json_t *report = NULL;
        char *s = NULL;
        int r;

        r = platform_validate(ev, ret_body, e);
        if (r == 0)
                r = check_exact(e, "SnpReport", ev->snp_report, MAA_SNP_REPORT_SIZE);
        if (r == 0)
                r = check_blob(e, "VcekCertChain", ev->vcek_chain_pem, 1, MAA_VCEK_CHAIN_MAX_BYTES);
        if (r < 0)
                return r;
        r = -ENOMEM;
        report = json_object();
        if (!report ||
            set_b64(report, "SnpReport", ev->snp_report.data, ev->snp_report.len, B64_URL) < 0 ||
            set_b64(report, "VcekCertChain", ev->vcek_chain_pem.data, ev->vcek_chain_pem.len, B64_URL) < 0 ||
            dump(report, &s) < 0) {
                (void) err_set(e, r, "out of memory building the SevSnpVm request");
                goto out;
        }
        r = platform_request(ev, "report", s, strlen(s), ret_body, e);
out:
        free(s);
        json_decref(report);
        return r;
}

int maa_build_tdx_request(const struct maa_platform_evidence *ev, char **ret_body, struct err *e)
{
        int r;

        r = platform_validate(ev, ret_body, e);
        if (r == 0)
                r = check_blob(e, "TD quote", ev->td_quote, 1, MAA_EVIDENCE_FIELD_MAX_BYTES);
        if (r < 0)
                return r;
        return platform_request(ev, "quote", (const char *) ev->td_quote.data, ev->td_quote.len,
                                ret_body, e);
}

/* ---- os-release --------------------------------------------------------- */

/*
 * One shell-style word starting at text[*pos]: concatenated bare, '…' and
 * "…" segments, ending at unquoted whitespace or end of line. The
 * decoded value goes to out (truncated to outlen-1, flagged via *trunc).
 */
static int os_release_word(const char *text, size_t len, size_t *pos, char *out, size_t outlen,
                           bool *trunc)
{
        size_t i = *pos, o = 0;
        char quote = 0;

#define PUT(ch) do { if (o + 1 < outlen) out[o++] = (ch); else *trunc = true; } while (0)
        while (i < len) {
                char ch = text[i];

                if (quote == '\'') {
                        if (ch == '\'')
                                quote = 0;
                        else
                                PUT(ch);
                        i++;
                } else if (quote == '"') {
                        if (ch == '"') {
                                quote = 0;
                                i++;
                        } else if (ch == '\\' && i + 1 < len && strchr("\"\\$`\n", text[i + 1])) {
                                if (text[i + 1] != '\n')
                                        PUT(text[i + 1]);
                                i += 2;
                        } else {
                                PUT(ch);
                                i++;
                        }
                } else if (ch == '\'' || ch == '"') {
                        quote = ch;
                        i++;
                } else if (ch == '\\' && i + 1 < len) {
                        if (text[i + 1] != '\n')
                                PUT(text[i + 1]);
                        i += 2;
                } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
                        break;
                } else {
                        PUT(ch);
                        i++;
                }
        }
#undef PUT
        out[o] = '\0';
        *pos = i;
        return quote ? -EBADMSG : 0;
}

/* Leading decimal digits of s as an unsigned (at most 9 digits), or 0. */
static unsigned leading_number(const char *s, const char **end)
{
        unsigned v = 0;
        int n = 0;

        while (isdigit((unsigned char) *s) && n < 9) {
                v = v * 10 + (unsigned) (*s - '0');
                s++;
                n++;
        }
        if (isdigit((unsigned char) *s))
                v = 0;          /* absurdly long: not a version */
        *end = s;
        return v;
}

int maa_os_info_parse(const char *text, size_t len, struct maa_os_info *ret, struct err *e)
{
        char name[257] = "", version[65] = "";
        bool have_name = false, trunc = false;
        unsigned major = 0, minor = 0, line = 1;
        size_t i = 0;
        const char *p;

        if (!text || !ret)
                return err_set(e, -EINVAL, "no os-release text");
        if (len > MAA_OS_RELEASE_MAX_BYTES)
                return err_set(e, -E2BIG, "os-release is larger than %d bytes", MAA_OS_RELEASE_MAX_BYTES);
        if (memchr(text, '\0', len))
                return err_set(e, -EBADMSG, "os-release contains a NUL byte");

        while (i < len) {
                char key[64], value[257];
                size_t k = 0, start;

                while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
                        i++;
                if (i < len && (isalpha((unsigned char) text[i]) || text[i] == '_')) {
                        start = i;
                        while (i < len && (isalnum((unsigned char) text[i]) || text[i] == '_'))
                                i++;
                        k = i - start;
                        if (k < sizeof(key) && i < len && text[i] == '=') {
                                memcpy(key, text + start, k);
                                key[k] = '\0';
                                i++;
                                trunc = false;
                                if (os_release_word(text, len, &i, value, sizeof(value), &trunc) < 0)
                                        return err_set(e, -EBADMSG,
                                                       "os-release line %u: unterminated quote", line);
                                if (strcmp(key, "NAME") == 0) {
                                        if (trunc)
                                                return err_set(e, -E2BIG, "os-release line %u: NAME is longer than 256 bytes", line);
                                        memcpy(name, value, sizeof(name));
                                        have_name = value[0] != '\0';
                                } else if (strcmp(key, "VERSION_ID") == 0) {
                                        msgf(version, sizeof(version), "%s", value);
                                }
                        }
                }
                /* anything else on the line (comments, junk) is ignored */
                while (i < len && text[i] != '\n')
                        i++;
                if (i < len) {
                        i++;
                        line++;
                }
        }

        major = leading_number(version, &p);
        if (p != version && *p == '.')
                minor = leading_number(p + 1, &p);
        ret->distro = xstrdup(have_name ? name : MAA_OS_DISTRO_DEFAULT);
        ret->major = major;
        ret->minor = minor;
        return 0;
}

static int read_bounded(const char *path, char **ret, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        buf = xmalloc(MAA_OS_RELEASE_MAX_BYTES + 1);
        for (;;) {
                ssize_t n = read(fd, buf + len, MAA_OS_RELEASE_MAX_BYTES + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > MAA_OS_RELEASE_MAX_BYTES) {
                        r = -E2BIG;
                        break;
                }
        }
        (void) close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int maa_os_info_load(const char *path, struct maa_os_info *ret, struct err *e)
{
        static const char *const std_paths[] = { "/etc/os-release", "/usr/lib/os-release" };
        char *text = NULL;
        size_t len = 0;
        int r = -ENOENT;

        if (path) {
                r = read_bounded(path, &text, &len);
        } else {
                for (size_t i = 0; i < 2 && r == -ENOENT; i++) {
                        path = std_paths[i];
                        r = read_bounded(path, &text, &len);
                }
        }
        if (r < 0)
                return err_set(e, r, "cannot read OS information from '%s': %s%s", path, strerror(-r),
                               r == -ENOENT ? " (OSDistro/OSVersion need an os-release file)" : "");
        r = maa_os_info_parse(text, len, ret, e);
        if (r < 0)
                (void) err_prefix(e, r, "%s", path);
        free(text);
        return r;
}

void maa_os_info_done(struct maa_os_info *info)
{
        if (!info)
                return;
        free(info->distro);
        info->distro = NULL;
}

/* ---- response classification ------------------------------------------ */

/* Strictly parse a bounded JSON object. */
static json_t *load_object(const char *body, size_t len)
{
        json_error_t jerr;
        json_t *root;

        if (!body || len == 0 || len > MAA_RESPONSE_MAX_BYTES)
                return NULL;
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (root && !json_is_object(root)) {
                json_decref(root);
                return NULL;
        }
        return root;
}

/* Escaped, truncated copy of untrusted text (at most len bytes of src). */
static void quote_text(char *dst, size_t dstlen, const char *src, size_t len)
{
        char tmp[MAA_ERROR_DETAIL_MAX_CHARS + 1];
        size_t n = len < MAA_ERROR_DETAIL_MAX_CHARS ? len : MAA_ERROR_DETAIL_MAX_CHARS;

        for (size_t i = 0; i < n; i++)
                tmp[i] = src[i] ? src[i] : ' ';
        tmp[n] = '\0';
        log_sanitize(dst, dstlen, tmp);
        if (n < len && strlen(dst) + 4 < dstlen)
                strcat(dst, "...");
}

/* "code: message" from {"error":{"code","message"}} or {"Error":{"Code","Message"}},
 * else the body itself (escaped, truncated), else "no error details". */
static void error_details(const char *body, size_t len, char *dst, size_t dstlen)
{
        json_t *root = load_object(body, len), *err;
        const char *code = NULL, *msg = NULL;

        err = root ? json_object_get(root, "error") : NULL;
        if (json_is_object(err)) {
                code = json_string_value(json_object_get(err, "code"));
                msg = json_string_value(json_object_get(err, "message"));
        } else if (root && json_is_object(err = json_object_get(root, "Error"))) {
                code = json_string_value(json_object_get(err, "Code"));
                msg = json_string_value(json_object_get(err, "Message"));
        }
        if (code || msg) {
                char qc[MAA_ERROR_DETAIL_MAX_CHARS + 8] = "", qm[MAA_ERROR_DETAIL_MAX_CHARS + 8] = "";

                if (code)
                        quote_text(qc, sizeof(qc), code, strlen(code));
                if (msg)
                        quote_text(qm, sizeof(qm), msg, strlen(msg));
                msgf(dst, dstlen, "%s%s%s", code ? qc : "", code && msg ? ": " : "", msg ? qm : "");
        } else if (body && len > 0) {
                char q[2 * MAA_ERROR_DETAIL_MAX_CHARS];

                quote_text(q, sizeof(q), body, len);
                msgf(dst, dstlen, "body '%s'", q);
        } else {
                msgf(dst, dstlen, "no error details");
        }
        json_decref(root);
}

static bool token_charset_ok(const char *s)
{
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("-_.=", *s))
                        return false;
        return true;
}

/* 200: {"token": string}. Sets o->token or explains why not. */
static int extract_token(const char *body, size_t len, struct maa_outcome *o)
{
        json_t *root = load_object(body, len);
        const char *tok;
        int r = 0;

        tok = json_string_value(root ? json_object_get(root, "token") : NULL);
        if (!root)
                msgf(o->message, sizeof(o->message),
                                "MAA answered 200 with a body that is not a JSON object (%zu bytes)", len);
        else if (!tok)
                msgf(o->message, sizeof(o->message),
                                "MAA answered 200 without a \"token\" string");
        else if (!*tok || strlen(tok) > MAA_TOKEN_MAX_BYTES || !token_charset_ok(tok))
                msgf(o->message, sizeof(o->message),
                                "MAA answered 200 with a malformed token (%zu bytes)", strlen(tok));
        else {
                o->token = strdup(tok);
                if (!o->token)
                        r = -ENOMEM;
                else
                        msgf(o->message, sizeof(o->message), "MAA issued a token (%zu bytes)",
                                        strlen(tok));
        }
        json_decref(root);
        return r;
}

int maa_classify(int error, const char *error_message, long status, const char *body,
                 size_t body_len, int64_t retry_after_s, struct maa_outcome *ret)
{
        char details[ERR_MSG_MAX - 192];      /* leaves room for the fixed text */
        int r = 0;

        *ret = (struct maa_outcome) {
                .status = error ? 0 : status,
                .error = error,
                .retry_after_s = retry_after_s,
        };
        if (!body)
                body_len = 0;
        if (error) {
                ret->result = MAA_RETRY;
                msgf(ret->message, sizeof(ret->message), "MAA request failed: %s",
                                error_message && *error_message ? error_message : strerror(-error));
                return 0;
        }
        if (status == 200) {
                r = extract_token(body, body_len, ret);
                ret->result = ret->token ? MAA_OK : MAA_RETRY;
                return r;
        }
        error_details(body, body_len, details, sizeof(details));
        if (status == 400) {
                ret->result = MAA_REFUSED;
                msgf(ret->message, sizeof(ret->message),
                                "MAA refused the evidence (HTTP 400): %s", details);
        } else if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
                ret->result = MAA_RETRY;
                msgf(ret->message, sizeof(ret->message), "MAA is unavailable (HTTP %ld): %s",
                                status, details);
        } else if ((status >= 400 && status <= 499) || (status >= 300 && status <= 399)) {
                ret->result = MAA_CONFIG_ERROR;
                msgf(ret->message, sizeof(ret->message),
                                "MAA rejected the request (HTTP %ld%s): check maa.endpoint / api-version / "
                                "authorization: %s", status,
                                status < 400 ? ", redirects are not followed" : "", details);
        } else {
                ret->result = MAA_RETRY;
                msgf(ret->message, sizeof(ret->message), "unexpected HTTP %ld from MAA: %s",
                                status, details);
        }
        return 0;
}

void maa_outcome_done(struct maa_outcome *o)
{
        if (!o)
                return;
        free(o->token);
        o->token = NULL;
}

/* ---- IMDS --------------------------------------------------------------- */

static int dup_string_field(json_t *root, const char *key, size_t max, char **ret, struct err *e)
{
        const char *s = json_string_value(json_object_get(root, key));
        size_t n;

        if (!s)
                return err_set(e, -EBADMSG, "THIM answer has no \"%s\" string", key);
        n = strlen(s);
        if (n == 0 || n > max)
                return err_set(e, n ? -E2BIG : -EBADMSG, "THIM \"%s\" has a bad length (%zu)", key, n);
        *ret = xstrdup(s);
        return 0;
}

static int parse_cache_control(json_t *v, int64_t *ret, struct err *e)
{
        int64_t s = 0;

        if (!v) {
                *ret = IMDS_VCEK_CACHE_S_DEFAULT;
                return 0;
        }
        if (json_is_integer(v)) {
                s = json_integer_value(v);
                if (s < 0)
                        return err_set(e, -EBADMSG, "THIM \"cacheControl\" is negative");
        } else if (json_is_string(v)) {
                const char *p = json_string_value(v);

                if (!*p)
                        return err_set(e, -EBADMSG, "THIM \"cacheControl\" is empty");
                for (; *p; p++) {
                        if (!isdigit((unsigned char) *p))
                                return err_set(e, -EBADMSG, "THIM \"cacheControl\" is not a number of seconds");
                        if (s <= IMDS_VCEK_CACHE_S_MAX)
                                s = s * 10 + (*p - '0');
                }
        } else {
                return err_set(e, -EBADMSG, "THIM \"cacheControl\" is neither a string nor a number");
        }
        *ret = s > IMDS_VCEK_CACHE_S_MAX ? IMDS_VCEK_CACHE_S_MAX : s;
        return 0;
}

void imds_vcek_done(struct imds_vcek *v)
{
        if (!v)
                return;
        free(v->vcek_cert);
        free(v->certificate_chain);
        free(v->chain_pem);
        *v = (struct imds_vcek) { 0 };
}

int imds_parse_thim(const char *body, size_t len, struct imds_vcek *ret, struct err *e)
{
        struct imds_vcek v = { 0 };
        json_t *root = NULL;
        const char *tcbm;
        size_t n1, n2;
        int r;

        if (!ret)
                return err_set(e, -EINVAL, "no output");
        if (len > IMDS_RESPONSE_MAX_BYTES)
                return err_set(e, -E2BIG, "THIM answer is larger than %d bytes", IMDS_RESPONSE_MAX_BYTES);
        root = load_object(body, len);
        if (!root)
                return err_set(e, -EBADMSG, "THIM answer is not a JSON object (or has duplicate keys)");
        r = dup_string_field(root, "vcekCert", MAA_VCEK_CHAIN_MAX_BYTES, &v.vcek_cert, e);
        if (r == 0)
                r = dup_string_field(root, "certificateChain", MAA_VCEK_CHAIN_MAX_BYTES,
                                     &v.certificate_chain, e);
        if (r < 0)
                goto out;
        if (!strstr(v.vcek_cert, "-----BEGIN CERTIFICATE-----") ||
            !strstr(v.certificate_chain, "-----BEGIN CERTIFICATE-----")) {
                r = err_set(e, -EBADMSG, "THIM \"vcekCert\"/\"certificateChain\" hold no PEM certificate");
                goto out;
        }
        tcbm = json_string_value(json_object_get(root, "tcbm"));
        if (!tcbm || strlen(tcbm) != 16 || strspn(tcbm, "0123456789abcdefABCDEF") != 16) {
                r = err_set(e, -EBADMSG, "THIM \"tcbm\" is not 16 hex digits");
                goto out;
        }
        v.tcbm = strtoull(tcbm, NULL, 16);
        r = parse_cache_control(json_object_get(root, "cacheControl"), &v.cache_s, e);
        if (r < 0)
                goto out;
        n1 = strlen(v.vcek_cert);
        n2 = strlen(v.certificate_chain);
        if (n1 + n2 + 1 > MAA_VCEK_CHAIN_MAX_BYTES) {
                r = err_set(e, -E2BIG, "THIM certificates exceed %d bytes", MAA_VCEK_CHAIN_MAX_BYTES);
                goto out;
        }
        v.chain_pem = xmalloc(n1 + n2 + 2);
        memcpy(v.chain_pem, v.vcek_cert, n1);
        if (v.vcek_cert[n1 - 1] != '\n')
                v.chain_pem[n1++] = '\n';
        memcpy(v.chain_pem + n1, v.certificate_chain, n2 + 1);
        *ret = v;
        v = (struct imds_vcek) { 0 };
out:
        imds_vcek_done(&v);
        json_decref(root);
        return r;
}

int imds_build_tdquote_request(const uint8_t *td_report, size_t len, char **ret_body, struct err *e)
{
        json_t *root;
        char *body = NULL;
        int r;

        if (!ret_body)
                return err_set(e, -EINVAL, "no output");
        r = check_exact(e, "TD report", (struct maa_bytes) { td_report, len }, MAA_TD_REPORT_SIZE);
        if (r < 0)
                return r;
        root = json_object();
        r = root ? set_b64(root, "report", td_report, len, B64_URL) : -ENOMEM;
        if (r == 0)
                r = dump(root, &body);
        json_decref(root);
        if (r < 0)
                return err_set(e, r, "out of memory building the TD quote request");
        *ret_body = body;
        return 0;
}

/* Decode base64 in either alphabet, padded or not (as the Azure SDK accepts),
 * but never a mix of both alphabets. */
static int decode_any_b64(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s), pad = 0;
        bool std = strpbrk(s, "+/") != NULL, url = strpbrk(s, "-_") != NULL;
        char *t;
        int r;

        if (std && url)
                return -EINVAL;
        while (n > 0 && s[n - 1] == '=' && pad < 2) {
                n--;
                pad++;
        }
        if (pad > 0 && (n + pad) % 4 != 0)
                return -EINVAL;
        t = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
                t[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
        t[n] = '\0';
        r = b64_decode(t, n, B64_URL, ret, ret_len);
        free(t);
        return r;
}

int imds_parse_tdquote(const char *body, size_t len, uint8_t **ret_quote, size_t *ret_len,
                       struct err *e)
{
        json_t *root = NULL;
        const char *s;
        uint8_t *q = NULL;
        size_t qlen = 0;
        int r;

        if (!ret_quote || !ret_len)
                return err_set(e, -EINVAL, "no output");
        if (len > IMDS_RESPONSE_MAX_BYTES)
                return err_set(e, -E2BIG, "TD quote answer is larger than %d bytes", IMDS_RESPONSE_MAX_BYTES);
        root = load_object(body, len);
        s = json_string_value(root ? json_object_get(root, "quote") : NULL);
        if (!s) {
                r = err_set(e, -EBADMSG, "TD quote answer has no \"quote\" string");
                goto out;
        }
        if (strlen(s) > IMDS_TDQUOTE_MAX_BYTES / 3 * 4 + 4) {
                r = err_set(e, -E2BIG, "TD quote is larger than %d bytes", IMDS_TDQUOTE_MAX_BYTES);
                goto out;
        }
        r = decode_any_b64(s, &q, &qlen);
        if (r < 0) {
                r = err_set(e, r == -ENOMEM ? r : -EBADMSG, "TD quote is not valid base64");
                goto out;
        }
        if (qlen < IMDS_TDQUOTE_MIN_BYTES || qlen > IMDS_TDQUOTE_MAX_BYTES) {
                r = err_set(e, -EBADMSG, "TD quote has %zu bytes (expected %d..%d)", qlen,
                            IMDS_TDQUOTE_MIN_BYTES, IMDS_TDQUOTE_MAX_BYTES);
                goto out;
        }
        *ret_quote = q;
        *ret_len = qlen;
        q = NULL;
out:
        free(q);
        json_decref(root);
        return r;
}

int maa_snp_reported_tcb(const uint8_t *report, size_t len, uint64_t *ret)
{
        uint64_t v = 0;

        if (!report || len != MAA_SNP_REPORT_SIZE || !ret)
                return -EINVAL;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | report[0x180 + i];
        *ret = v;
        return 0;
}

void imds_vcek_cache_put(struct imds_vcek_cache *c, struct imds_vcek *vcek, uint64_t now_s)
{
        imds_vcek_done(&c->vcek);
        c->vcek = *vcek;
        *vcek = (struct imds_vcek) { 0 };
        c->expires_s = now_s + (uint64_t) c->vcek.cache_s;
        c->valid = true;
}

const struct imds_vcek *imds_vcek_cache_get(struct imds_vcek_cache *c, uint64_t reported_tcb,
                                            uint64_t now_s)
{
        if (!c->valid)
                return NULL;
        if (now_s >= c->expires_s || c->vcek.tcbm != reported_tcb) {
                imds_vcek_cache_done(c);
                return NULL;
        }
        return &c->vcek;
}

void imds_vcek_cache_done(struct imds_vcek_cache *c)
{
        if (!c)
                return;
        imds_vcek_done(&c->vcek);
        c->valid = false;
        c->expires_s = 0;
}

/* ---- async calls ---------------------------------------------------------- */

enum call_kind {
        CALL_ATTEST,
        CALL_JWKS,
        CALL_VCEK,
        CALL_TDQUOTE,
};

struct maa_call {
        enum call_kind kind;
        struct http_transfer *transfer;
        union {
                maa_attest_cb attest;
                http_done_cb raw;
                imds_vcek_cb vcek;
                imds_tdquote_cb tdquote;
        } cb;
        void *userdata;
};

#define USER_AGENT "User-Agent: attestd/" PACKAGE_VERSION

static char *join_url(const char *endpoint, const char *path)
{
        size_t n = strlen(endpoint);
        char *url;

        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        if (n + strlen(path) > HTTP_URL_MAX_BYTES)
                return NULL;
        url = xmalloc(n + strlen(path) + 1);
        memcpy(url, endpoint, n);
        strcpy(url + n, path);
        return url;
}

/* IMDS status → -errno + message. */
static int imds_status(const struct http_response *resp, const char *what, char *msg, size_t msglen)
{
        if (resp->error) {
                msgf(msg, msglen, "IMDS %s request failed: %s", what, resp->error_message);
                return resp->error;
        }
        if (resp->status == 200)
                return 0;
        msgf(msg, msglen, "IMDS %s answered HTTP %ld%s", what, resp->status,
                        resp->status == 404 ? " (not an Azure confidential VM, or IMDS route missing)" : "");
        if (resp->status == 404)
                return -ENOENT;
        if (resp->status == 408 || resp->status == 429 || (resp->status >= 500 && resp->status <= 599))
                return -EAGAIN;
        return -EPROTO;
}

static void call_done(struct http_response *resp, void *userdata)
{
        struct maa_call *call = userdata;
        char msg[ERR_MSG_MAX];
        struct err e = { "" };
        int r;

        switch (call->kind) {
        case CALL_ATTEST: {
                struct maa_outcome o;

                if (maa_classify(resp->error, resp->error_message, resp->status, resp->body,
                                 resp->body_len, resp->retry_after_s, &o) < 0) {
                        o.result = MAA_RETRY;
                        o.error = -ENOMEM;
                        msgf(o.message, sizeof(o.message), "out of memory reading the MAA answer");
                }
                call->cb.attest(&o, call->userdata);
                maa_outcome_done(&o);
                break;
        }
        case CALL_JWKS:
                call->cb.raw(resp, call->userdata);
                break;
        case CALL_VCEK: {
                struct imds_vcek v = { 0 };

                r = imds_status(resp, "THIM", msg, sizeof(msg));
                if (r == 0) {
                        r = imds_parse_thim(resp->body, resp->body_len, &v, &e);
                        if (r < 0)
                                msgf(msg, sizeof(msg), "IMDS THIM answer: %s", e.msg);
                        else
                                msgf(msg, sizeof(msg), "VCEK for TCB %016llx",
                                                (unsigned long long) v.tcbm);
                }
                call->cb.vcek(r, msg, r == 0 ? &v : NULL, call->userdata);
                break;
        }
        case CALL_TDQUOTE: {
                uint8_t *q = NULL;
                size_t qlen = 0;

                r = imds_status(resp, "TD quote", msg, sizeof(msg));
                if (r == 0) {
                        r = imds_parse_tdquote(resp->body, resp->body_len, &q, &qlen, &e);
                        if (r < 0)
                                msgf(msg, sizeof(msg), "IMDS TD quote answer: %s", e.msg);
                        else
                                msgf(msg, sizeof(msg), "TD quote of %zu bytes", qlen);
                }
                call->cb.tdquote(r, msg, q, qlen, call->userdata);
                break;
        }
        }
        free(call);
}

static int call_start(struct http_client *http, const struct http_request *req, struct maa_call *call,
                      struct maa_call **ret_call)
{
        int r = http_request_start(http, req, call_done, call, &call->transfer);

        if (r < 0) {
                free(call);
                return r;
        }
        if (ret_call)
                *ret_call = call;
        return 0;
}

static struct maa_call *call_new(enum call_kind kind, void *userdata)
{
        struct maa_call *call = xcalloc(1, sizeof(*call));

        call->kind = kind;
        call->userdata = userdata;
        return call;
}

static void maa_request_init(struct http_request *req, const struct config *cfg, const char *url,
                             const char *const *headers)
{
        *req = (struct http_request) {
                .url = url,
                .headers = headers,
                .ca_file = cfg->maa.ca_file,
                .connect_timeout_ms = cfg->maa.connect_timeout_ms,
                .timeout_ms = cfg->maa.timeout_ms,
                .max_response_bytes = MAA_RESPONSE_MAX_BYTES,
        };
}

static void imds_request_init(struct http_request *req, const struct config *cfg, const char *url,
                              const char *const *headers)
{
        unsigned t = cfg->imds.timeout_ms;

        *req = (struct http_request) {
                .url = url,
                .headers = headers,
                .connect_timeout_ms = t < IMDS_CONNECT_TIMEOUT_MS_MAX ? t : IMDS_CONNECT_TIMEOUT_MS_MAX,
                .timeout_ms = t,
                .max_response_bytes = IMDS_RESPONSE_MAX_BYTES,
                .no_proxy = true,
        };
}

int maa_attest_start(struct http_client *http, const struct config *cfg, enum maa_route route,
                     const char *body, maa_attest_cb cb, void *userdata, struct maa_call **ret_call)
{
        static const char *const headers[] = {
                "Content-Type: application/json", "Accept: application/json", USER_AGENT, NULL,
        };
        struct http_request req;
        struct maa_call *call;
        char path[128], *url;
        int r;

        if (!http || !cfg || !body || !cb || !maa_route_to_string(route))
                return -EINVAL;
        msgf(path, sizeof(path), "/attest/%s?api-version=%s", route_table[route],
                        route_api_version[route]);
        url = join_url(cfg->maa.endpoint, path);
        if (!url)
                return -EINVAL;
        maa_request_init(&req, cfg, url, headers);
        req.method = HTTP_POST;
        req.body = body;
        req.body_len = strlen(body);
        call = call_new(CALL_ATTEST, userdata);
        call->cb.attest = cb;
        r = call_start(http, &req, call, ret_call);
        free(url);
        return r;
}

int maa_get_jwks_start(struct http_client *http, const struct config *cfg, http_done_cb cb,
                       void *userdata, struct maa_call **ret_call)
{
        static const char *const headers[] = { "Accept: application/json", USER_AGENT, NULL };
        struct http_request req;
        struct maa_call *call;
        char *url;
        int r;

        if (!http || !cfg || !cb)
                return -EINVAL;
        url = join_url(cfg->maa.endpoint, "/certs");
        if (!url)
                return -EINVAL;
        maa_request_init(&req, cfg, url, headers);
        req.method = HTTP_GET;
        call = call_new(CALL_JWKS, userdata);
        call->cb.raw = cb;
        r = call_start(http, &req, call, ret_call);
        free(url);
        return r;
}

int imds_get_vcek_start(struct http_client *http, const struct config *cfg, imds_vcek_cb cb,
                        void *userdata, struct maa_call **ret_call)
{
        static const char *const headers[] = { "Metadata: true", "Accept: application/json", USER_AGENT, NULL };
        struct http_request req;
        struct maa_call *call;
        char *url;
        int r;

        if (!http || !cfg || !cb)
                return -EINVAL;
        url = join_url(cfg->imds.endpoint, "/metadata/THIM/amd/certification");
        if (!url)
                return -EINVAL;
        imds_request_init(&req, cfg, url, headers);
        req.method = HTTP_GET;
        call = call_new(CALL_VCEK, userdata);
        call->cb.vcek = cb;
        r = call_start(http, &req, call, ret_call);
        free(url);
        return r;
}

int imds_get_tdquote_start(struct http_client *http, const struct config *cfg,
                           const uint8_t *td_report, size_t td_report_len, imds_tdquote_cb cb,
                           void *userdata, struct maa_call **ret_call)
{
        static const char *const headers[] = {
                "Metadata: true", "Content-Type: application/json", "Accept: application/json",
                USER_AGENT, NULL,
        };
        struct http_request req;
        struct maa_call *call;
        char *url = NULL, *body = NULL;
        int r;

        if (!http || !cfg || !cb)
                return -EINVAL;
        r = imds_build_tdquote_request(td_report, td_report_len, &body, NULL);
        if (r < 0)
                return r;
        url = join_url(cfg->imds.endpoint, "/acc/tdquote");
        if (!url) {
                free(body);
                return -EINVAL;
        }
        imds_request_init(&req, cfg, url, headers);
        req.method = HTTP_POST;
        req.body = body;
        req.body_len = strlen(body);
        call = call_new(CALL_TDQUOTE, userdata);
        call->cb.tdquote = cb;
        r = call_start(http, &req, call, ret_call);
        free(url);
        free(body);
        return r;
}

void maa_call_cancel(struct maa_call *call)
{
        if (!call)
                return;
        http_transfer_cancel(call->transfer);
        free(call);
}
