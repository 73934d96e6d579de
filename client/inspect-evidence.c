/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attestctl inspect evidence [--config FILE] [--json]
 *
 * Reads the attestation evidence live from the TPM named by the config
 * (tpm.tcti; /etc/attestd/attestd.json, or the built-in defaults when that
 * file does not exist) through the daemon's own TPM module, summarizes it
 * and runs the consistency checks of the table below.
 * Exit: 0 consistent, 1 evidence missing or inconsistent, 3 TPM unreachable,
 * 64+ usage/config errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "client/commands.h"
#include "daemon/config.h"
#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/eventlog.h"
#include "daemon/file.h"
#include "daemon/hcl.h"
#include "daemon/tpm.h"
#include "proto/err.h"
#include "proto/hex.h"

#define EXIT_INCONSISTENT 1
#define EXIT_TPM_UNREACHABLE 3

/* What was read from the TPM. A failed read leaves its blob empty and its
 * error in *_err. */
struct evidence {
        struct tpm_blob hcl, ak_pub, ak_cert;
        char hcl_err[TPM_MESSAGE_MAX], ak_pub_err[TPM_MESSAGE_MAX], ak_cert_err[TPM_MESSAGE_MAX];
        struct tpm_pcrs pcrs;
        char pcrs_err[TPM_MESSAGE_MAX];
        TPM2B_PUBLIC ak;        /* unmarshaled ak_pub */
        X509 *cert;             /* parsed ak_cert */
        struct hcl_report *report;      /* parsed hcl */
        struct err report_err;
        const char *event_log_path;
        struct eventlog *log;
        struct err log_err;
};

/*
 * Consistency checks over the evidence, run in order. A check returns 1
 * (pass), 0 (fail) or -1 (cannot run: evidence missing) and writes a one-line
 * detail.
 */
struct evidence_check {
        const char *name;
        int (*run)(const struct evidence *ev, char *detail, size_t size);
};

static bool ak_modulus(const struct evidence *ev, const uint8_t **ret, size_t *ret_len)
{
        if (!ev->ak_pub.data || ev->ak.publicArea.type != TPM2_ALG_RSA)
                return false;
        *ret = ev->ak.publicArea.unique.rsa.buffer;
        *ret_len = ev->ak.publicArea.unique.rsa.size;
        return true;
}

static int check_ak_cert_key(const struct evidence *ev, char *detail, size_t size)
{
        BIGNUM *n = NULL;
        const uint8_t *mod;
        uint8_t *cert_mod = NULL;
        size_t mod_len;
        int r;

        if (!ev->cert || !ak_modulus(ev, &mod, &mod_len)) {
                snprintf(detail, size, "needs both the AK and its certificate");
                return -1;
        }
        if (EVP_PKEY_get_bn_param(X509_get0_pubkey(ev->cert), "n", &n) != 1) {
                snprintf(detail, size, "the AK certificate does not hold an RSA key");
                return 0;
        }
        cert_mod = OPENSSL_malloc(mod_len);
        r = cert_mod && BN_num_bytes(n) == (int) mod_len &&
            BN_bn2binpad(n, cert_mod, (int) mod_len) == (int) mod_len &&
            memcmp(cert_mod, mod, mod_len) == 0;
        snprintf(detail, size, r ? "the AK certificate certifies the AK at 0x%08x"
                                 : "the AK certificate is for another key than the AK at 0x%08x",
                 TPM_AK_HANDLE);
        OPENSSL_free(cert_mod);
        BN_free(n);
        return r;
}

static int check_hcl_report(const struct evidence *ev, char *detail, size_t size)
{
        if (!ev->hcl.data) {
                snprintf(detail, size, "no HCL report");
                return -1;
        }
        if (!ev->report) {
                snprintf(detail, size, "NV 0x%08x: %s", TPM_NV_HCL_REPORT, ev->report_err.msg);
                return 0;
        }
        if (!hcl_report_binding_ok(ev->report)) {
                snprintf(detail, size, "the hardware report's report_data is not the %s of the runtime claims",
                         hcl_hash_type_to_string(hcl_report_hash_type(ev->report)));
                return 0;
        }
        snprintf(detail, size, "%s report, runtime claims bound by %s",
                 hcl_report_type_to_string(hcl_report_type(ev->report)),
                 hcl_hash_type_to_string(hcl_report_hash_type(ev->report)));
        return 1;
}

static int check_hcl_ak(const struct evidence *ev, char *detail, size_t size)
{
        const struct hcl_rsa_key *k;
        const uint8_t *mod;
        size_t mod_len;

        if (!ev->report || !ak_modulus(ev, &mod, &mod_len)) {
                snprintf(detail, size, "needs the parsed HCL report and the AK");
                return -1;
        }
        k = hcl_report_get0_ak(ev->report);
        if (!k->present || k->n_len != mod_len || memcmp(k->n, mod, mod_len) != 0) {
                snprintf(detail, size, "HCLAkPub in the hardware-signed report is not the AK at 0x%08x",
                         TPM_AK_HANDLE);
                return 0;
        }
        snprintf(detail, size, "HCLAkPub is the AK at 0x%08x", TPM_AK_HANDLE);
        return 1;
}

static int check_eventlog(const struct evidence *ev, char *detail, size_t size)
{
        const uint8_t *pcrs[EVENTLOG_PCRS] = {};
        struct err e = {};
        uint32_t mismatch = 0;
        int r;

        if (!ev->log || ev->pcrs_err[0]) {
                snprintf(detail, size, "%s", !ev->log ? ev->log_err.msg : "needs the PCR values");
                return ev->log || !ev->log_err.msg[0] ? -1 : 0;
        }
        for (unsigned i = 0; i < EVENTLOG_PCRS && i < TPM_PCR_COUNT; i++)
                if (ev->pcrs.mask & (1u << i))
                        pcrs[i] = ev->pcrs.digest[i];
        r = eventlog_compare(ev->log, TPM2_ALG_SHA256, pcrs, ev->pcrs.mask, &mismatch, &e);
        if (r < 0) {
                snprintf(detail, size, "%s", e.msg);
                return 0;
        }
        snprintf(detail, size, "'%s' replays to the TPM's sha256 PCRs", ev->event_log_path);
        return 1;
}

static const struct evidence_check checks[] = {
        { "hcl-report", check_hcl_report },
        { "hcl-ak-matches-ak", check_hcl_ak },
        { "ak-cert-matches-ak", check_ak_cert_key },
        { "eventlog-replays", check_eventlog },
};

/* ---- reading --------------------------------------------------------------- */

/* Run one request synchronously; keep data in *blob or the error in err.
 * Returns the request's result. */
static int fetch(struct tpm *tpm, int (*start)(struct tpm *, tpm_cb, void *),
                 struct tpm_blob *blob, char err[TPM_MESSAGE_MAX])
{
        struct tpm_sync s = {};
        int r;

        r = start(tpm, tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        if (r >= 0)
                tpm_blob_take(&s.res.data, &blob->data, &blob->len);
        else
                snprintf(err, TPM_MESSAGE_MAX, "%s", s.res.message[0] ? s.res.message : strerror(-r));
        tpm_result_done(&s.res);
        return r;
}

static int read_evidence(struct tpm *tpm, uint32_t mask, struct evidence *ev)
{
        struct tpm_sync s = {};
        int r, worst = 0;

        r = fetch(tpm, tpm_read_hcl_report_async, &ev->hcl, ev->hcl_err);
        if (r >= 0)
                (void) hcl_parse(ev->hcl.data, ev->hcl.len, &ev->report, &ev->report_err);
        worst = r < 0 ? r : worst;
        r = fetch(tpm, tpm_read_ak_pub_async, &ev->ak_pub, ev->ak_pub_err);
        if (r >= 0) {
                size_t off = 0;

                if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ev->ak_pub.data, ev->ak_pub.len, &off,
                                                   &ev->ak) != TSS2_RC_SUCCESS) {
                        snprintf(ev->ak_pub_err, TPM_MESSAGE_MAX, "cannot parse the AK public area");
                        r = -EBADMSG;
                }
        }
        worst = r < 0 && worst != -EIO ? r : worst;
        r = fetch(tpm, tpm_read_ak_cert_async, &ev->ak_cert, ev->ak_cert_err);
        if (r >= 0) {
                const unsigned char *p = ev->ak_cert.data;

                ev->cert = d2i_X509(NULL, &p, (long) ev->ak_cert.len);
                if (!ev->cert) {
                        snprintf(ev->ak_cert_err, TPM_MESSAGE_MAX,
                                 "NV 0x%08x does not hold an X.509 certificate", TPM_NV_AK_CERT);
                        r = -EBADMSG;
                }
        }
        worst = r < 0 && worst != -EIO ? r : worst;
        r = tpm_read_pcrs_async(tpm, mask, tpm_sync_cb, &s);
        if (r >= 0)
                r = tpm_sync_wait(tpm, &s);
        if (r >= 0)
                ev->pcrs = s.res.pcrs;
        else
                snprintf(ev->pcrs_err, TPM_MESSAGE_MAX, "%s", s.res.message);
        tpm_result_done(&s.res);
        worst = r < 0 && worst != -EIO ? r : worst;
        return worst;
}

/* ---- output ------------------------------------------------------------------ */

static char *name_string(const X509_NAME *n)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *s = NULL, *p;
        long len;

        if (b && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
                len = BIO_get_mem_data(b, &p);
                s = strndup(p, (size_t) len);
        }
        BIO_free(b);
        return s;
}

static char *time_string(const ASN1_TIME *t)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *s = NULL, *p;
        long len;

        if (b && ASN1_TIME_print(b, t) == 1) {
                len = BIO_get_mem_data(b, &p);
                s = strndup(p, (size_t) len);
        }
        BIO_free(b);
        return s;
}

static json_t *describe(const struct evidence *ev, uint32_t mask, bool *ret_ok)
{
        json_t *o = json_object(), *pcrs = json_object(), *results = json_array();
        const uint8_t *mod;
        size_t mod_len;
        bool ok = true;

        if (ev->report)
                json_object_set_new(o, "hcl_report", json_pack("{s:I, s:s, s:i, s:b, s:s?, s:b}", "size",
                                    (json_int_t) ev->hcl.len, "type",
                                    hcl_report_type_to_string(hcl_report_type(ev->report)),
                                    "version", (int) hcl_report_header_version(ev->report),
                                    "binding_ok", hcl_report_binding_ok(ev->report),
                                    "vm_id", hcl_report_vm_unique_id(ev->report),
                                    "secure_boot", hcl_report_vm_secure_boot(ev->report) > 0));
        else if (ev->hcl.data)
                json_object_set_new(o, "hcl_report", json_pack("{s:I, s:s}", "size",
                                    (json_int_t) ev->hcl.len, "error", ev->report_err.msg));
        else
                json_object_set_new(o, "hcl_report", json_pack("{s:s}", "error", ev->hcl_err));

        if (ak_modulus(ev, &mod, &mod_len)) {
                uint8_t fp[32];
                char hex[65];

                EVP_Digest(mod, mod_len, fp, NULL, EVP_sha256(), NULL);
                hex_encode_into(hex, fp, sizeof(fp));
                json_object_set_new(o, "ak", json_pack("{s:s, s:i, s:s}", "handle", "0x81000003",
                                                       "bits", (int) mod_len * 8,
                                                       "modulus_sha256", hex));
        } else {
                json_object_set_new(o, "ak", json_pack("{s:s}", "error", ev->ak_pub_err[0] ?
                                                       ev->ak_pub_err : "the AK is not an RSA key"));
        }

        if (ev->cert) {
                char *subject = name_string(X509_get_subject_name(ev->cert));
                char *issuer = name_string(X509_get_issuer_name(ev->cert));
                char *nb = time_string(X509_get0_notBefore(ev->cert));
                char *na = time_string(X509_get0_notAfter(ev->cert));

                json_object_set_new(o, "ak_cert", json_pack("{s:I, s:s?, s:s?, s:s?, s:s?}",
                                    "size", (json_int_t) ev->ak_cert.len, "subject", subject,
                                    "issuer", issuer, "not_before", nb, "not_after", na));
                free(subject);
                free(issuer);
                free(nb);
                free(na);
        } else {
                json_object_set_new(o, "ak_cert", json_pack("{s:s}", "error", ev->ak_cert_err));
        }

        if (ev->pcrs_err[0])
                json_object_set_new(pcrs, "error", json_string(ev->pcrs_err));
        else
                for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                        if (mask & (1u << i)) {
                                char key[4], hex[65];

                                snprintf(key, sizeof(key), "%u", i);
                                hex_encode_into(hex, ev->pcrs.digest[i], TPM_DIGEST_SIZE);
                                json_object_set_new(pcrs, key, json_string(hex));
                        }
        json_object_set_new(o, "pcrs_sha256", pcrs);
        if (ev->log)
                json_object_set_new(o, "event_log", json_pack("{s:s, s:b}", "path", ev->event_log_path,
                                                              "sha256_bank", eventlog_bank_size(ev->log, TPM2_ALG_SHA256) > 0));
        else
                json_object_set_new(o, "event_log", json_pack("{s:s, s:s}", "path", ev->event_log_path,
                                                              "error", ev->log_err.msg));

        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
                char detail[256];
                int r = checks[i].run(ev, detail, sizeof(detail));

                json_array_append_new(results, json_pack("{s:s, s:s, s:s}", "name", checks[i].name,
                                      "result", r > 0 ? "pass" : r == 0 ? "fail" : "skipped",
                                      "detail", detail));
                if (r <= 0)
                        ok = false;
        }
        json_object_set_new(o, "checks", results);
        if (!ev->report || !ev->ak_pub.data || !ev->cert || ev->pcrs_err[0] || !ev->log)
                ok = false;
        json_object_set_new(o, "consistent", json_boolean(ok));
        *ret_ok = ok;
        return o;
}

static void print_text(json_t *o)
{
        json_t *v, *c;
        const char *k;
        size_t i;

        v = json_object_get(o, "hcl_report");
        if (json_object_get(v, "error"))
                printf("HCL report:   ERROR %s\n", json_string_value(json_object_get(v, "error")));
        else
                printf("HCL report:   %lld bytes, %s, header v%lld, VM %s, secure boot %s\n",
                       (long long) json_integer_value(json_object_get(v, "size")),
                       json_string_value(json_object_get(v, "type")),
                       (long long) json_integer_value(json_object_get(v, "version")),
                       json_string_value(json_object_get(v, "vm_id")) ? json_string_value(json_object_get(v, "vm_id")) : "?",
                       json_is_true(json_object_get(v, "secure_boot")) ? "on" : "off");
        v = json_object_get(o, "ak");
        if (json_object_get(v, "error"))
                printf("AK:           ERROR %s\n", json_string_value(json_object_get(v, "error")));
        else
                printf("AK:           0x81000003 RSA-%lld, modulus SHA-256 %s\n",
                       (long long) json_integer_value(json_object_get(v, "bits")),
                       json_string_value(json_object_get(v, "modulus_sha256")));
        v = json_object_get(o, "ak_cert");
        if (json_object_get(v, "error"))
                printf("AK cert:      ERROR %s\n", json_string_value(json_object_get(v, "error")));
        else
                printf("AK cert:      subject %s\n              issuer  %s\n"
                       "              valid   %s .. %s\n",
                       json_string_value(json_object_get(v, "subject")),
                       json_string_value(json_object_get(v, "issuer")),
                       json_string_value(json_object_get(v, "not_before")),
                       json_string_value(json_object_get(v, "not_after")));
        printf("PCRs sha256:\n");
        json_object_foreach(json_object_get(o, "pcrs_sha256"), k, v)
                printf("  %-5s %s\n", k, json_string_value(v));
        v = json_object_get(o, "event_log");
        printf("Event log:    %s%s%s\n", json_string_value(json_object_get(v, "path")),
               json_object_get(v, "error") ? ": ERROR " : "",
               json_object_get(v, "error") ? json_string_value(json_object_get(v, "error")) : "");
        printf("Checks:\n");
        json_array_foreach(json_object_get(o, "checks"), i, c)
                printf("  %-22s %-7s %s\n", json_string_value(json_object_get(c, "name")),
                       json_string_value(json_object_get(c, "result")),
                       json_string_value(json_object_get(c, "detail")));
        printf("Evidence:     %s\n", json_is_true(json_object_get(o, "consistent")) ?
               "consistent" : "INCONSISTENT");
}

/* ---- main ----------------------------------------------------------------------- */

static int load_config(const char *path, struct config **ret)
{
        struct diag_list errs = {};
        int r;

        if (!path && access(CONFIG_FILE_DEFAULT, F_OK) < 0) {
                *ret = config_new_default();
                return 0;
        }
        r = config_load(path ? path : CONFIG_FILE_DEFAULT, ret, &errs);
        for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "attestctl: %s\n", errs.msgs[i]);
        if (r < 0 && errs.n == 0)
                fprintf(stderr, "attestctl: cannot load '%s': %s\n",
                        path ? path : CONFIG_FILE_DEFAULT, strerror(-r));
        diag_list_done(&errs);
        return r;
}

int inspect_evidence_main(int argc, char **argv)
{
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct event_base *base = NULL;
        struct config *cfg = NULL;
        struct evidence ev = {};
        struct tpm *tpm = NULL;
        const char *config_path = NULL;
        json_t *out = NULL;
        struct err e = {};
        bool json = false, ok = false;
        int c, r, ret = EX_SOFTWARE;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:jh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        printf("Usage: attestctl inspect evidence [--config FILE] [--json]\n");
                        return EX_OK;
                default:
                        return EX_USAGE;
                }
        if (optind != argc) {
                fprintf(stderr, "attestctl: unexpected argument '%s'\n", argv[optind]);
                return EX_USAGE;
        }
        signal(SIGPIPE, SIG_IGN);
        if (load_config(config_path, &cfg) < 0)
                return EX_CONFIG;
        base = event_base_new();
        if (!base)
                goto out;
        r = tpm_new(base, cfg->tpm.tcti, &tpm, &e);
        if (r < 0) {
                fprintf(stderr, "attestctl: cannot reach the TPM: %s\n", e.msg);
                ret = EXIT_TPM_UNREACHABLE;
                goto out;
        }
        r = read_evidence(tpm, cfg->tpm.pcr_mask, &ev);
        if (r == -EIO) {
                fprintf(stderr, "attestctl: lost the TPM while reading evidence\n");
                ret = EXIT_TPM_UNREACHABLE;
                goto out;
        }
        ev.event_log_path = cfg->tpm.event_log;
        {
                uint8_t *buf = NULL;
                size_t len = 0;

                if (file_read_all(cfg->tpm.event_log, EVENTLOG_SIZE_MAX, &buf, &len, &ev.log_err) >= 0)
                        (void) eventlog_parse(buf, len, &ev.log, &ev.log_err);
                free(buf);
        }
        out = describe(&ev, cfg->tpm.pcr_mask, &ok);
        if (json) {
                char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

                if (s)
                        puts(s);
                free(s);
        } else {
                print_text(out);
        }
        ret = ok ? EX_OK : EXIT_INCONSISTENT;
out:
        json_decref(out);
        X509_free(ev.cert);
        hcl_report_free(ev.report);
        eventlog_free(ev.log);
        free(ev.hcl.data);
        free(ev.ak_pub.data);
        free(ev.ak_cert.data);
        tpm_free(tpm);
        if (base)
                event_base_free(base);
        config_free(cfg);
        return ret;
}
