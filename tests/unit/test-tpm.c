/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the TPM module without a TPM: PolicyPCR digest against
 * values computed by tpm2-tools, the TSS2_RC mapping, argument
 * validation, and the worker machinery (ordering, completion on the loop
 * thread, retries, reconnect, cancel) with the TCTI/ESYS entry points that
 * tpm_new() uses replaced by -Wl,--wrap mocks.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "daemon/tpm-priv.h"
#include "daemon/tpm.h"
#include "proto/err.h"
#include "proto/hex.h"

/* ---- mocks --------------------------------------------------------------- */

static TSS2_RC mock_tcti_rc, mock_startup_rc;
static unsigned mock_tcti_inits;
static int mock_tcti_ctx, mock_esys_ctx;

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx)
{
        mock_tcti_inits++;
        if (mock_tcti_rc)
                return mock_tcti_rc;
        *ctx = (TSS2_TCTI_CONTEXT *) &mock_tcti_ctx;
        return TSS2_RC_SUCCESS;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx)
{
        *ctx = NULL;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti,
                               TSS2_ABI_VERSION *abi);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti,
                               TSS2_ABI_VERSION *abi)
{
        *esys = (ESYS_CONTEXT *) &mock_esys_ctx;
        return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys)
{
        *esys = NULL;
}

TSS2_RC __wrap_Esys_Startup(ESYS_CONTEXT *esys, TPM2_SU su);
TSS2_RC __wrap_Esys_Startup(ESYS_CONTEXT *esys, TPM2_SU su)
{
        return mock_startup_rc;
}

TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
                                  TPMS_CAPABILITY_DATA **data);
TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
                                  TPMS_CAPABILITY_DATA **data)
{
        TPMS_CAPABILITY_DATA *d = calloc(1, sizeof(*d));

        assert_non_null(d);
        d->capability = cap;
        *more = TPM2_NO;
        *data = d;
        if (cap == TPM2_CAP_HANDLES)
                return TSS2_RC_SUCCESS;         /* no transient objects left over */
        assert_int_equal(cap, TPM2_CAP_TPM_PROPERTIES);
        d->data.tpmProperties.count = 1;
        d->data.tpmProperties.tpmProperty[0].property = prop;
        d->data.tpmProperties.tpmProperty[0].value =
                prop == TPM2_PT_MANUFACTURER ? 0x49424d00 /* "IBM" */ : 1024;
        *more = TPM2_NO;
        *data = d;
        return TSS2_RC_SUCCESS;
}

static void reset_mocks(void)
{
        mock_tcti_rc = mock_startup_rc = TSS2_RC_SUCCESS;
        mock_tcti_inits = 0;
}

/* ---- PolicyPCR -------------------------------------------------------------- */

static void check_policy(uint32_t mask, const char *expected_hex, unsigned distinct)
{
        struct tpm_pcrs pcrs = { .mask = mask };
        uint8_t digest[32], policy[32];
        char hex[65];
        unsigned k = 0;

        /* the k-th selected PCR holds 32 bytes of value k (or zeros) */
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (mask & (1u << i))
                        memset(pcrs.digest[i], distinct ? (int) k++ : 0, 32);
        assert_int_equal(tpm_pcrs_digest(&pcrs, digest), 0);
        assert_int_equal(tpm_policy_pcr_digest(mask, digest, policy), 0);
        hex_encode_into(hex, policy, 32);
        assert_string_equal(hex, expected_hex);
}

/* Expected values from tpm2_startauthsession (trial) + tpm2_policypcr -f. */
static void test_policy_pcr_digest(void **state)
{
        check_policy(0xff, "9a72c2e06a93c453a86efb47532e9c7a91dcab018e675919910c58d6a1a5aa78", 0);
        check_policy(0xff, "e462a408fc612a382ece306cfe8dd198f7002fb345a0309dd1118130b3b6f0bf", 1);
        check_policy((1u << 0) | (1u << 2) | (1u << 10) | (1u << 23),
                     "f69a49e611f0033abaae5f6fe4ba3de2475928d41eea42ab2f5b82d2e8ef7fe0", 1);
}

static void test_pcr_selection(void **state)
{
        TPML_PCR_SELECTION sel;

        tpm_pcr_selection(0x800405, &sel);
        assert_int_equal(sel.count, 1);
        assert_int_equal(sel.pcrSelections[0].hash, TPM2_ALG_SHA256);
        assert_int_equal(sel.pcrSelections[0].sizeofSelect, 3);
        assert_int_equal(sel.pcrSelections[0].pcrSelect[0], 0x05);
        assert_int_equal(sel.pcrSelections[0].pcrSelect[1], 0x04);
        assert_int_equal(sel.pcrSelections[0].pcrSelect[2], 0x80);
}

/* ---- error mapping ----------------------------------------------------------- */

struct rc_case {
        TSS2_RC rc;
        uint32_t handle;
        int err;
        enum tpm_rc_kind kind;
        const char *hint;
};

static void test_rc_mapping(void **state)
{
        static const struct rc_case cases[] = {
                { 0x0000018b, TPM_NV_HCL_REPORT, -ENXIO, TPM_RC_KIND_ABSENT,
                  "not an Azure confidential VM, or the TCTI points at the wrong TPM" },
                { 0x0000018b, TPM_NV_AK_CERT, -ENXIO, TPM_RC_KIND_ABSENT, "not an Azure" },
                { 0x0000018b, TPM_AK_HANDLE, -ENXIO, TPM_RC_KIND_ABSENT,
                  "no vTPM attestation key: not an Azure CVM/Trusted Launch VM" },
                { 0x0000018b, 0x01500000, -ENXIO, TPM_RC_KIND_ABSENT, "does not exist" },
                { 0x00000910, 0, -ENXIO, TPM_RC_KIND_ABSENT, "not loaded" },
                { TSS2_TCTI_RC_IO_ERROR, 0, -EIO, TPM_RC_KIND_CONNECTION,
                  "lost the connection to the TPM" },
                { TSS2_TCTI_RC_NO_CONNECTION, 0, -EIO, TPM_RC_KIND_CONNECTION, "lost the connection" },
                { TSS2_ESYS_RC_MALFORMED_RESPONSE, 0, -EIO, TPM_RC_KIND_CONNECTION, "lost" },
                { TPM2_RC_RETRY, 0, -EBUSY, TPM_RC_KIND_RETRY, "busy" },
                { TPM2_RC_YIELDED, 0, -EBUSY, TPM_RC_KIND_RETRY, "busy" },
                { TPM2_RC_TESTING, 0, -EBUSY, TPM_RC_KIND_RETRY, "busy" },
                { TPM2_RC_LOCKOUT, 0, -EBUSY, TPM_RC_KIND_RETRY, "dictionary-attack lockout" },
                /* resource-manager layer carries TPM codes */
                { TSS2_RESMGR_TPM_RC_LAYER | TPM2_RC_RETRY, 0, -EBUSY, TPM_RC_KIND_RETRY, "busy" },
                { TPM2_RC_POLICY_FAIL | TPM2_RC_S | TPM2_RC_1, 0, -EACCES, TPM_RC_KIND_OTHER,
                  "PCR values changed since the ephemeral key was created" },
                { TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, 0, -EACCES, TPM_RC_KIND_OTHER,
                  "owner password" },
                { TPM2_RC_NV_AUTHORIZATION, 0, -EACCES, TPM_RC_KIND_OTHER, "owner password" },
                { TPM2_RC_OBJECT_MEMORY, 0, -ENOSPC, TPM_RC_KIND_OTHER, "resource manager" },
                { TPM2_RC_NV_UNINITIALIZED, 0, -ENODATA, TPM_RC_KIND_OTHER, "never written" },
                { TPM2_RC_FAILURE, 0, -EIO, TPM_RC_KIND_OTHER, "failure mode" },
                { TPM2_RC_VALUE | TPM2_RC_P | TPM2_RC_1, 0, -EPROTO, TPM_RC_KIND_OTHER, NULL },
                { TSS2_ESYS_RC_MEMORY, 0, -ENOMEM, TPM_RC_KIND_OTHER, NULL },
                { TSS2_ESYS_RC_BAD_REFERENCE, 0, -EINVAL, TPM_RC_KIND_OTHER, NULL },
        };
        char msg[TPM_MESSAGE_MAX], raw[16];

        assert_int_equal(tpm_rc_errno(TSS2_RC_SUCCESS), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct rc_case *c = &cases[i];

                assert_int_equal(tpm_rc_kind(c->rc), c->kind);
                assert_int_equal(tpm_rc_format(msg, sizeof(msg), c->rc, c->handle, "doing X"), c->err);
                /* the operation, the decoded code and the raw code, never the number alone */
                assert_true(strncmp(msg, "doing X: ", 9) == 0);
                snprintf(raw, sizeof(raw), "(0x%08x)", c->rc);
                assert_non_null(strstr(msg, raw));
                assert_true(strlen(msg) > strlen("doing X: ") + strlen(raw) + 2);
                if (c->hint)
                        assert_non_null(strstr(msg, c->hint));
        }
}

/* ---- lifecycle and validation with mocked TCTI/ESYS ---------------------------- */

static void test_new_errors(void **state)
{
        struct event_base *base = event_base_new();
        struct tpm *tpm = NULL;
        struct err e = {};

        reset_mocks();
        assert_int_equal(tpm_new(NULL, "swtpm", &tpm, &e), -EINVAL);
        assert_int_equal(tpm_new(base, "", &tpm, &e), -EINVAL);
        assert_int_equal(tpm_new(base, NULL, &tpm, NULL), -EINVAL);

        mock_tcti_rc = TSS2_TCTI_RC_IO_ERROR;
        assert_int_equal(tpm_new(base, "swtpm:port=1", &tpm, &e), -EIO);
        assert_non_null(strstr(e.msg, "'swtpm:port=1'"));
        assert_non_null(strstr(e.msg, "cannot open the TPM"));
        assert_null(tpm);

        reset_mocks();
        mock_startup_rc = TPM2_RC_FAILURE;
        assert_int_equal(tpm_new(base, "swtpm", &tpm, &e), -EIO);
        assert_non_null(strstr(e.msg, "TPM2_Startup"));
        assert_non_null(strstr(e.msg, "failure mode"));
        assert_null(tpm);
        event_base_free(base);
}

static void test_new_ok_and_validation(void **state)
{
        struct event_base *base = event_base_new();
        const uint8_t data[TPM_USER_DATA_SIZE] = {}, big[300] = {};
        struct tpm *tpm = NULL;
        struct err e = {};

        reset_mocks();
        mock_startup_rc = TPM2_RC_INITIALIZE;   /* already started: fine */
        assert_int_equal(tpm_new(base, "swtpm", &tpm, &e), 0);
        assert_string_equal(tpm_get_manufacturer(tpm), "IBM");
        assert_int_equal(tpm_get_nv_buffer_max(tpm), 1024);

        assert_int_equal(tpm_read_pcrs_async(tpm, 0, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_read_pcrs_async(tpm, 1u << 24, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_read_pcrs_async(tpm, 0xff, NULL, NULL), -EINVAL);
        assert_int_equal(tpm_read_pcrs_async(NULL, 0xff, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_quote_async(tpm, 0, NULL, 0, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_quote_async(tpm, 0xff, big, 65, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_quote_async(tpm, 0xff, NULL, 4, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_ephemeral_key_async(tpm, 0, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_rsa_decrypt_async(tpm, big, 0, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_rsa_decrypt_async(tpm, big, 257, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_rsa_decrypt_async(tpm, NULL, 256, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_read_nv_async(tpm, 0x81000003, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_read_nv_async(NULL, TPM_NV_HCL_REPORT, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_read_ak_pub_async(tpm, NULL, NULL), -EINVAL);
        assert_int_equal(tpm_fresh_report_async(tpm, data, NULL, NULL, 1000, tpm_sync_cb, NULL),
                         -EINVAL);
        assert_int_equal(tpm_fresh_report_async(tpm, NULL, (tpm_report_predicate) 1, NULL, 1000,
                                                tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_fresh_report_async(tpm, data, (tpm_report_predicate) 1, NULL, 10,
                                                tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_fresh_report_async(tpm, data, (tpm_report_predicate) 1, NULL,
                                                1000000, tpm_sync_cb, NULL), -EINVAL);
        assert_int_equal(tpm_exec_async(tpm, NULL, NULL, tpm_sync_cb, NULL), -EINVAL);
        assert_null(tpm_free(tpm));
        assert_null(tpm_free(NULL));
        event_base_free(base);
}

/* ---- the worker machinery --------------------------------------------------------- */

struct job {
        unsigned calls;
        int fail_times;         /* fail this many times ... */
        TSS2_RC rc;             /* ... with this code */
        pthread_t ran_on;
};

static int exec_job(struct tpm_req *req)
{
        struct job *j = tpm_req_arg(req);

        j->ran_on = pthread_self();
        if ((int) j->calls++ < j->fail_times)
                return tpm_req_fail_rc(req, j->rc, 0, "job");
        return 0;
}

struct order {
        unsigned seen[4], n;
        pthread_t cb_thread;
};

static void order_cb(struct tpm_result *res, void *userdata)
{
        struct order *o = userdata;

        o->cb_thread = pthread_self();
        o->seen[o->n++] = (unsigned) res->r;
}

static void test_worker(void **state)
{
        struct event_base *base = event_base_new();
        struct job busy = { .fail_times = 2, .rc = TPM2_RC_RETRY };
        struct job lockout = { .fail_times = 99, .rc = TPM2_RC_LOCKOUT };
        struct job io = { .fail_times = 1, .rc = TSS2_TCTI_RC_IO_ERROR };
        struct job plain = {};
        struct tpm_sync s = {};
        struct tpm *tpm = NULL;
        struct order o = {};

        reset_mocks();
        assert_int_equal(tpm_new(base, "swtpm", &tpm, NULL), 0);
        assert_int_equal(mock_tcti_inits, 1);

        /* retried while busy, then success; runs on the worker, completes on the loop */
        assert_int_equal(tpm_exec_async(tpm, exec_job, &busy, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), 0);
        assert_int_equal(busy.calls, 3);
        assert_false(pthread_equal(busy.ran_on, pthread_self()));
        tpm_result_done(&s.res);

        /* lockout that does not clear: bounded retries, clear message */
        s = (struct tpm_sync) {};
        assert_int_equal(tpm_exec_async(tpm, exec_job, &lockout, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), -EBUSY);
        assert_int_equal(lockout.calls, 3);
        assert_non_null(strstr(s.res.message, "lockout"));
        tpm_result_done(&s.res);

        /* connection lost: -EIO, and the next request reconnects */
        s = (struct tpm_sync) {};
        assert_int_equal(tpm_exec_async(tpm, exec_job, &io, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), -EIO);
        assert_non_null(strstr(s.res.message, "lost the connection"));
        assert_int_equal(mock_tcti_inits, 1);
        tpm_result_done(&s.res);
        s = (struct tpm_sync) {};
        assert_int_equal(tpm_exec_async(tpm, exec_job, &plain, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), 0);
        assert_int_equal(mock_tcti_inits, 2);

        /* the TPM cannot be reopened: -EIO with the reason */
        mock_tcti_rc = TSS2_TCTI_RC_IO_ERROR;
        io.calls = 0;
        s = (struct tpm_sync) {};
        assert_int_equal(tpm_exec_async(tpm, exec_job, &io, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), -EIO);
        s = (struct tpm_sync) {};
        plain.calls = 0;
        assert_int_equal(tpm_exec_async(tpm, exec_job, &plain, tpm_sync_cb, &s), 0);
        assert_int_equal(tpm_sync_wait(tpm, &s), -EIO);
        assert_non_null(strstr(s.res.message, "cannot open the TPM"));
        assert_int_equal(plain.calls, 0);
        mock_tcti_rc = TSS2_RC_SUCCESS;

        /* completions in submission order, on this thread; tpm_free cancels
         * whatever was not delivered yet */
        plain.calls = 0;
        for (int i = 0; i < 4; i++)
                assert_int_equal(tpm_exec_async(tpm, exec_job, &plain, order_cb, &o), 0);
        tpm = tpm_free(tpm);
        assert_int_equal(o.n, 4);
        assert_true(pthread_equal(o.cb_thread, pthread_self()));
        for (int i = 0; i < 4; i++)
                assert_true(o.seen[i] == 0 || o.seen[i] == (unsigned) -ECANCELED);
        event_base_free(base);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_pcr_digest),
                cmocka_unit_test(test_pcr_selection),
                cmocka_unit_test(test_rc_mapping),
                cmocka_unit_test(test_new_errors),
                cmocka_unit_test(test_new_ok_and_validation),
                cmocka_unit_test(test_worker),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
