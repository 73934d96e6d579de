/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "client/commands.h"
#include "client/inspect.h"
#include "daemon/defaults.h"
#include "daemon/hcl.h"
#include "proto/hex.h"

static void print_hex(const char *label, const void *p, size_t len)
{
        char *s = hex_encode(p, len, false);

        printf("  %-16s %s\n", label, s ? s : "(out of memory)");
        free(s);
}

static const char *tristate(int v)
{
        return v < 0 ? "absent" : v ? "true" : "false";
}

static void print_key(const char *label, const struct hcl_rsa_key *k)
{
        uint64_t e = 0;

        if (!k) {
                printf("  %-16s absent\n", label);
                return;
        }
        for (size_t i = 0; i < k->e_len; i++)
                e = e << 8 | k->e[i];
        printf("  %-16s RSA-%zu, e=%" PRIu64 "\n", label, k->n_len * 8, e);
}

static void print_summary(const struct hcl_report *r)
{
        const struct hcl_snp_report *snp = hcl_report_get0_snp(r);
        const struct hcl_tdx_report *tdx = hcl_report_get0_tdx(r);
        const uint8_t *ud = hcl_report_get0_user_data(r);
        const char *id = hcl_report_vm_unique_id(r);
        size_t rt_len = 0;

        (void) hcl_report_get0_runtime_data(r, &rt_len);
        printf("HCL report: header version %" PRIu32 ", ReportSize %" PRIu32 ", RequestType %" PRIu32 "\n",
               hcl_report_header_version(r), hcl_report_header_report_size(r), hcl_report_header_request_type(r));
        if (snp) {
                printf("Hardware report: AMD SEV-SNP (version %" PRIu32 ", guest_svn %" PRIu32 ", vmpl %" PRIu32
                       ", policy 0x%016" PRIx64 ", reported_tcb 0x%016" PRIx64 ")\n",
                       snp->version, snp->guest_svn, snp->vmpl, snp->policy, snp->reported_tcb);
                print_hex("measurement", snp->measurement, sizeof(snp->measurement));
                print_hex("report_data", snp->report_data, sizeof(snp->report_data));
                print_hex("host_data", snp->host_data, sizeof(snp->host_data));
                print_hex("id_key_digest", snp->id_key_digest, sizeof(snp->id_key_digest));
                print_hex("chip_id", snp->chip_id, sizeof(snp->chip_id));
        } else if (tdx) {
                printf("Hardware report: Intel TDX TD report (td_attributes 0x%016" PRIx64 ", xfam 0x%016" PRIx64
                       ")\n", tdx->td_attributes, tdx->xfam);
                print_hex("mrtd", tdx->mrtd, sizeof(tdx->mrtd));
                print_hex("report_data", tdx->report_data, sizeof(tdx->report_data));
                for (size_t i = 0; i < 4; i++) {
                        char label[8];

                        (void) snprintf(label, sizeof(label), "rtmr%zu", i);
                        print_hex(label, tdx->rtmr[i], sizeof(tdx->rtmr[i]));
                }
        }
        printf("Runtime claims: %zu bytes, report_data hash %s, binding %s\n", rt_len,
               hcl_hash_type_to_string(hcl_report_hash_type(r)),
               hcl_report_binding_ok(r) ? "OK" : "BROKEN (report_data does not match the runtime claims)");
        print_key("HCLAkPub", hcl_report_get0_ak(r));
        print_key("HCLEkPub", hcl_report_get0_ek(r));
        printf("  %-16s %s\n  %-16s %s\n  %-16s %s\n  %-16s %s\n", "secure-boot",
               tristate(hcl_report_vm_secure_boot(r)), "tpm-enabled", tristate(hcl_report_vm_tpm_enabled(r)),
               "console-enabled", tristate(hcl_report_vm_console_enabled(r)), "vmUniqueId", id ? id : "absent");
        if (ud)
                print_hex("user-data", ud, HCL_USER_DATA_SIZE);
        else
                printf("  %-16s absent\n", "user-data");
}

int inspect_hcl_main(int argc, char **argv)
{
        struct hcl_report *r = NULL;
        struct inspect_args args;
        struct err e = { "" };
        uint8_t *buf = NULL;
        size_t len = 0;
        int ret;

        ret = inspect_parse_args(argc, argv, "Usage: attestctl inspect hcl FILE [--json]\n"
                                 "Parse an Azure HCL report (vTPM NV index 0x01400001).\n", &args);
        if (ret >= 0)
                return ret;
        ret = inspect_read(args.path, HCL_REPORT_MAX, &buf, &len);
        if (ret)
                return ret;
        if (hcl_parse(buf, len, &r, &e) < 0) {
                fprintf(stderr, "attestctl: %s: %s\n", args.path, e.msg);
                ret = EX_DATAERR;
                goto out;
        }
        if (args.json) {
                json_t *j = NULL;

                if (hcl_report_to_json(r, &j) < 0) {
                        fprintf(stderr, "attestctl: out of memory\n");
                        ret = EX_SOFTWARE;
                        goto out;
                }
                ret = inspect_print_json(j);
                json_decref(j);
        } else {
                print_summary(r);
                ret = EX_OK;
        }
out:
        hcl_report_free(r);
        free(buf);
        return ret;
}
