/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TPM module: one ESYS context owned by one worker thread, requests queued
 * and serialized, completions handed back to the event loop via an eventfd.
 * See tpm.h for the contract.
 */
#define LOG_MODULE "tpm"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/tpm-decode.h"
#include "daemon/tpm-priv.h"
#include "daemon/tpm.h"
#include "daemon/xalloc.h"
#include "proto/err.h"

/* The ephemeral key's attributes (AZURE-PROTOCOL.md §9): 0x00020432. */
#define EPHEMERAL_KEY_ATTRIBUTES                                                \
        (TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
         TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA)
#define USER_DATA_NV_ATTRIBUTES                                                 \
        (TPMA_NV_OWNERWRITE | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD)

struct tpm_req {
        struct tpm_req *next;
        struct tpm *tpm;
        tpm_exec_fn fn;
        void *arg;
        tpm_cb cb;
        void *userdata;
        TSS2_RC rc;                     /* last failed TSS call of this attempt */
        struct tpm_result res;

        /* arguments of the built-in requests (copied at submission) */
        uint32_t handle;
        uint32_t mask;
        uint8_t buf[TPM_DECRYPT_CIPHERTEXT_MAX];
        size_t buf_len;
        tpm_report_predicate predicate;
        void *predicate_userdata;
        unsigned timeout_ms;
};

struct ephemeral_key {
        ESYS_TR handle;                 /* ESYS_TR_NONE: no key */
        uint32_t mask;
        uint8_t policy[TPM_DIGEST_SIZE];
        uint8_t pub[sizeof(TPM2B_PUBLIC)];
        size_t pub_len;
        TPM2B_NAME name;                /* what TPM2_Certify must name */
};

struct tpm {
        struct event_base *base;        /* borrowed */
        struct event *done_ev;
        int efd;
        char *tcti_conf;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct tpm_req *pending, **pending_tail;        /* under lock */
        struct tpm_req *done, **done_tail;              /* under lock */
        bool stopping;                                  /* under lock */

        /* owned by the worker once it runs */
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        struct ephemeral_key key;

        /* probed by tpm_new(), constant afterwards */
        unsigned nv_buffer_max;
        char manufacturer[5];
};

/* ---- error codes --------------------------------------------------------- */

/* The TPM-layer part of rc (resource-manager layer codes are TPM codes). */
static bool rc_tpm_base(TSS2_RC rc, TSS2_RC *ret)
{
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

        if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
                return false;
        rc &= 0xffff;
        /* format-one codes carry a parameter/handle/session number in 8..11 */
        *ret = (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) : rc;
        return true;
}

enum tpm_rc_kind tpm_rc_kind(TSS2_RC rc)
{
        TSS2_RC base, layer = rc & TSS2_RC_LAYER_MASK;

        if (layer == TSS2_TCTI_RC_LAYER)
                return TPM_RC_KIND_CONNECTION;
        if (layer == TSS2_ESAPI_RC_LAYER) {
                switch (rc) {
                case TSS2_ESYS_RC_IO_ERROR:
                case TSS2_ESYS_RC_MALFORMED_RESPONSE:
                case TSS2_ESYS_RC_INSUFFICIENT_RESPONSE:
                case TSS2_ESYS_RC_BAD_SEQUENCE:
                        return TPM_RC_KIND_CONNECTION;
                default:
                        return TPM_RC_KIND_OTHER;
                }
        }
        if (!rc_tpm_base(rc, &base))
                return TPM_RC_KIND_OTHER;
        switch (base) {
        case TPM2_RC_RETRY:
        case TPM2_RC_YIELDED:
        case TPM2_RC_TESTING:
        case TPM2_RC_LOCKOUT:
        case TPM2_RC_NV_RATE:
                return TPM_RC_KIND_RETRY;
        case TPM2_RC_HANDLE:
        case TPM2_RC_REFERENCE_H0:
        case TPM2_RC_REFERENCE_H1:
        case TPM2_RC_REFERENCE_H2:
                return TPM_RC_KIND_ABSENT;
        default:
                return TPM_RC_KIND_OTHER;
        }
}

int tpm_rc_errno(TSS2_RC rc)
{
        TSS2_RC base;

        if (rc == TSS2_RC_SUCCESS)
                return 0;
        switch (tpm_rc_kind(rc)) {
        case TPM_RC_KIND_CONNECTION:
                return -EIO;
        case TPM_RC_KIND_RETRY:
                return -EBUSY;
        case TPM_RC_KIND_ABSENT:
                return -ENXIO;
        case TPM_RC_KIND_OTHER:
                break;
        }
        if ((rc & TSS2_RC_LAYER_MASK) == TSS2_ESAPI_RC_LAYER) {
                if ((rc & 0xffff) == TSS2_BASE_RC_MEMORY)
                        return -ENOMEM;
                if ((rc & 0xffff) == TSS2_BASE_RC_BAD_VALUE ||
                    (rc & 0xffff) == TSS2_BASE_RC_BAD_REFERENCE)
                        return -EINVAL;
                return -EPROTO;
        }
        if (!rc_tpm_base(rc, &base))
                return -EIO;    /* TCTI loader, MU, ...: the TPM stack is broken */
        switch (base) {
        case TPM2_RC_AUTH_FAIL:
        case TPM2_RC_BAD_AUTH:
        case TPM2_RC_NV_AUTHORIZATION:
        case TPM2_RC_POLICY_FAIL:
        case TPM2_RC_PCR_CHANGED:
        case TPM2_RC_AUTH_UNAVAILABLE:
        case TPM2_RC_HIERARCHY:
        case TPM2_RC_DISABLED:
                return -EACCES;
        case TPM2_RC_OBJECT_MEMORY:
        case TPM2_RC_SESSION_MEMORY:
        case TPM2_RC_OBJECT_HANDLES:
        case TPM2_RC_SESSION_HANDLES:
        case TPM2_RC_NV_SPACE:
                return -ENOSPC;
        case TPM2_RC_NV_UNINITIALIZED:
                return -ENODATA;
        case TPM2_RC_FAILURE:
        case TPM2_RC_INITIALIZE:
                return -EIO;
        default:
                return -EPROTO;
        }
}

static const char *rc_hint(TSS2_RC rc, uint32_t handle)
{
        TSS2_RC base;

        switch (tpm_rc_kind(rc)) {
        case TPM_RC_KIND_CONNECTION:
                return "lost the connection to the TPM (it will be reopened on the next request)";
        case TPM_RC_KIND_ABSENT:
                switch (handle) {
                case TPM_NV_HCL_REPORT:
                case TPM_NV_AK_CERT:
                        return "this is not an Azure confidential VM, or the TCTI points at the wrong TPM";
                case TPM_AK_HANDLE:
                        return "no vTPM attestation key: not an Azure CVM/Trusted Launch VM";
                default:
                        return "the handle does not exist or is not loaded";
                }
        case TPM_RC_KIND_RETRY:
                if (rc_tpm_base(rc, &base) && base == TPM2_RC_LOCKOUT)
                        return "the TPM is in dictionary-attack lockout; wait for the lockout to expire";
                return "the TPM stayed busy (self test, rate limit or retry) after several attempts";
        case TPM_RC_KIND_OTHER:
                break;
        }
        if (!rc_tpm_base(rc, &base))
                return NULL;
        switch (base) {
        case TPM2_RC_AUTH_FAIL:
        case TPM2_RC_BAD_AUTH:
        case TPM2_RC_NV_AUTHORIZATION:
                return "authorization failed: attestd uses the empty owner password; "
                       "is an owner password set?";
        case TPM2_RC_POLICY_FAIL:
        case TPM2_RC_PCR_CHANGED:
                return "the PCR values changed since the ephemeral key was created";
        case TPM2_RC_OBJECT_MEMORY:
        case TPM2_RC_SESSION_MEMORY:
        case TPM2_RC_OBJECT_HANDLES:
        case TPM2_RC_SESSION_HANDLES:
                return "the TPM is out of object or session slots: another client holds them "
                       "(use a resource manager such as /dev/tpmrm0)";
        case TPM2_RC_NV_SPACE:
                return "the TPM has no NV space left";
        case TPM2_RC_NV_UNINITIALIZED:
                return "the NV index is defined but was never written";
        case TPM2_RC_HIERARCHY:
        case TPM2_RC_DISABLED:
                return "the hierarchy is disabled";
        case TPM2_RC_FAILURE:
                return "the TPM is in failure mode";
        case TPM2_RC_INITIALIZE:
                return "the TPM was not started";
        default:
                return NULL;
        }
}

int tpm_rc_format(char *buf, size_t size, TSS2_RC rc, uint32_t handle, const char *what)
{
        const char *hint = rc_hint(rc, handle);

        (void) snprintf(buf, size, "%s: %s (0x%08x)%s%s", what, Tss2_RC_Decode(rc), rc,
                        hint ? ": " : "", hint ? hint : "");
        return tpm_rc_errno(rc);
}

int tpm_req_fail_rc(struct tpm_req *req, TSS2_RC rc, uint32_t handle, const char *fmt, ...)
{
        char what[TPM_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        req->rc = rc;
        return tpm_rc_format(req->res.message, sizeof(req->res.message), rc, handle, what);
}

int tpm_req_fail(struct tpm_req *req, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(req->res.message, sizeof(req->res.message), fmt, ap);
        va_end(ap);
        return r;
}

/* ---- pure helpers -------------------------------------------------------- */

void tpm_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->count = 1;
        ret->pcrSelections[0].hash = TPM2_ALG_SHA256;
        ret->pcrSelections[0].sizeofSelect = 3;
        ret->pcrSelections[0].pcrSelect[0] = mask & 0xff;
        ret->pcrSelections[0].pcrSelect[1] = (mask >> 8) & 0xff;
        ret->pcrSelections[0].pcrSelect[2] = (mask >> 16) & 0xff;
}

static int sha256(const void *p, size_t n, uint8_t ret[TPM_DIGEST_SIZE])
{
        return EVP_Digest(p, n, ret, NULL, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
}

int tpm_pcrs_digest(const struct tpm_pcrs *pcrs, uint8_t ret[TPM_DIGEST_SIZE])
{
        uint8_t buf[TPM_PCR_COUNT * TPM_DIGEST_SIZE];
        size_t n = 0;

        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (pcrs->mask & (1u << i)) {
                        memcpy(buf + n, pcrs->digest[i], TPM_DIGEST_SIZE);
                        n += TPM_DIGEST_SIZE;
                }
        return sha256(buf, n, ret);
}

int tpm_policy_pcr_digest(uint32_t mask, const uint8_t pcr_digest[TPM_DIGEST_SIZE],
                          uint8_t ret[TPM_DIGEST_SIZE])
{
        uint8_t buf[TPM_DIGEST_SIZE + 4 + sizeof(TPML_PCR_SELECTION) + TPM_DIGEST_SIZE];
        TPML_PCR_SELECTION sel;
        size_t off = TPM_DIGEST_SIZE;

        memset(buf, 0, TPM_DIGEST_SIZE);        /* the empty policy */
        if (Tss2_MU_TPM2_CC_Marshal(TPM2_CC_PolicyPCR, buf, sizeof(buf), &off) != 0)
                return -EINVAL;
        tpm_pcr_selection(mask, &sel);
        if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, buf, sizeof(buf), &off) != 0)
                return -EINVAL;
        memcpy(buf + off, pcr_digest, TPM_DIGEST_SIZE);
        off += TPM_DIGEST_SIZE;
        return sha256(buf, off, ret);
}

static bool mask_valid(uint32_t mask)
{
        return mask != 0 && mask < (1u << TPM_PCR_COUNT);
}

/* ---- results --------------------------------------------------------------- */

static void blob_done(struct tpm_blob *b, bool wipe)
{
        if (wipe)
                freezero(b->data, b->len);
        else
                free(b->data);
        b->data = NULL;
        b->len = 0;
}

void tpm_result_done(struct tpm_result *res)
{
        if (!res)
                return;
        blob_done(&res->data, res->secret);
        blob_done(&res->attest, false);
        blob_done(&res->signature, false);
}

void tpm_blob_take(struct tpm_blob *b, uint8_t **ret_data, size_t *ret_len)
{
        *ret_data = b->data;
        *ret_len = b->len;
        b->data = NULL;
        b->len = 0;
}

static int blob_set(struct tpm_blob *b, const void *p, size_t n)
{
        b->data = malloc(n ? n : 1);
        if (!b->data)
                return -ENOMEM;
        memcpy(b->data, p, n);
        b->len = n;
        return 0;
}

/* ---- connection (worker thread, or tpm_new() before the worker runs) ------- */

static void disconnect(struct tpm *tpm, bool flush_key)
{
        if (tpm->esys && flush_key && tpm->key.handle != ESYS_TR_NONE)
                (void) Esys_FlushContext(tpm->esys, tpm->key.handle);
        tpm->key.handle = ESYS_TR_NONE;
        Esys_Finalize(&tpm->esys);
        Tss2_TctiLdr_Finalize(&tpm->tcti);
}

static int get_property(ESYS_CONTEXT *esys, TPM2_PT pt, uint32_t *ret, TSS2_RC *ret_rc)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        TSS2_RC rc;
        int r = -ENOENT;

        rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                TPM2_CAP_TPM_PROPERTIES, pt, 1, &more, &cap);
        if (rc != TSS2_RC_SUCCESS) {
                *ret_rc = rc;
                return tpm_rc_errno(rc);
        }
        if (cap->data.tpmProperties.count == 1 &&
            cap->data.tpmProperties.tpmProperty[0].property == pt) {
                *ret = cap->data.tpmProperties.tpmProperty[0].value;
                r = 0;
        }
        Esys_Free(cap);
        return r;
}

/*
 * Flush transient objects left in the TPM. Under a resource manager
 * (/dev/tpmrm0, the default) a new connection sees none. Without one, a
 * previous instance that was killed leaves its keys loaded, and after a few
 * crashes every object slot is taken and no attestation can load its key
 * again. Nothing else may use a TPM without a resource manager at the same
 * time anyway, so what is left over is ours.
 */
static void flush_stale_transients(ESYS_CONTEXT *esys)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        unsigned flushed = 0;

        if (Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                               TPM2_TRANSIENT_FIRST, TPM2_MAX_CAP_HANDLES, &more, &cap) != TSS2_RC_SUCCESS)
                return;
        for (uint32_t i = 0; i < cap->data.handles.count; i++) {
                ESYS_TR tr = ESYS_TR_NONE;
                if (Esys_TR_FromTPMPublic(esys, cap->data.handles.handle[i], ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, &tr) == TSS2_RC_SUCCESS &&
                    Esys_FlushContext(esys, tr) == TSS2_RC_SUCCESS)
                        flushed++;
        }
        Esys_Free(cap);
        if (flushed)
                log_warning("Flushed %u transient object(s) a previous client left in the TPM (no resource "
                            "manager in front of it?)", flushed);
}

/* Open TCTI + ESYS, start the TPM, probe it. On failure everything opened
 * is closed again and msg says why. */
static int connect_tpm(struct tpm *tpm, char *msg, size_t msglen)
{
        TSS2_RC rc;
        uint32_t v;
        int r;

        rc = Tss2_TctiLdr_Initialize(tpm->tcti_conf, &tpm->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                (void) snprintf(msg, msglen, "cannot open the TPM: %s (0x%08x): no TPM answers "
                                "there (no device, or the simulator is not running)",
                                Tss2_RC_Decode(rc), rc);
                r = -EIO;       /* whatever the layer: the TPM is unreachable */
                goto fail;
        }
        rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                (void) tpm_rc_format(msg, msglen, rc, 0, "cannot initialise ESYS");
                r = -EIO;
                goto fail;
        }
        rc = Esys_Startup(tpm->esys, TPM2_SU_CLEAR);
        if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
                if (tpm_rc_kind(rc) == TPM_RC_KIND_CONNECTION)
                        (void) snprintf(msg, msglen, "TPM2_Startup: %s (0x%08x): the TPM closed "
                                        "the connection", Tss2_RC_Decode(rc), rc);
                else
                        (void) tpm_rc_format(msg, msglen, rc, 0, "TPM2_Startup");
                r = tpm_rc_errno(rc);
                goto fail;
        }
        rc = TSS2_RC_SUCCESS;
        r = get_property(tpm->esys, TPM2_PT_MANUFACTURER, &v, &rc);
        if (r < 0) {
                if (rc)
                        (void) tpm_rc_format(msg, msglen, rc, 0, "GetCapability(MANUFACTURER)");
                else
                        (void) snprintf(msg, msglen, "the TPM does not report its manufacturer");
                goto fail;
        }
        for (int i = 0; i < 4; i++) {
                char c = (char) (v >> (24 - 8 * i));
                tpm->manufacturer[i] = (c >= 0x21 && c <= 0x7e) ? c : '\0';
        }
        tpm->manufacturer[4] = '\0';
        r = get_property(tpm->esys, TPM2_PT_NV_BUFFER_MAX, &v, &rc);
        if (r == -ENOENT || (r >= 0 && (v == 0 || v > TPM2_MAX_NV_BUFFER_SIZE)))
                v = TPM_NV_BUFFER_MAX_FALLBACK;
        else if (r < 0) {
                (void) tpm_rc_format(msg, msglen, rc, 0, "GetCapability(NV_BUFFER_MAX)");
                goto fail;
        }
        tpm->nv_buffer_max = v;
        flush_stale_transients(tpm->esys);
        return 0;
fail:
        disconnect(tpm, false);
        return r;
}

/* ---- worker ------------------------------------------------------------------ */

/* Sleep ms on the worker; -ECANCELED as soon as tpm_free() starts. */
static int worker_sleep(struct tpm *tpm, unsigned ms)
{
        struct timespec until;
        int r = 0;

        (void) clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&tpm->lock);
        while (!tpm->stopping)
                if (pthread_cond_timedwait(&tpm->cond, &tpm->lock, &until) == ETIMEDOUT)
                        break;
        if (tpm->stopping)
                r = -ECANCELED;
        pthread_mutex_unlock(&tpm->lock);
        return r;
}

static void run_req(struct tpm *tpm, struct tpm_req *req)
{
        struct timespec t0, t1;
        int r = 0;

        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned attempt = 0;; attempt++) {
                tpm_result_done(&req->res);
                req->res.message[0] = '\0';
                req->rc = TSS2_RC_SUCCESS;
                if (!tpm->esys) {
                        char msg[TPM_MESSAGE_MAX - 32];

                        r = connect_tpm(tpm, msg, sizeof(msg));
                        if (r < 0) {
                                (void) snprintf(req->res.message, sizeof(req->res.message),
                                                "cannot reconnect to the TPM: %s", msg);
                                break;
                        }
                        log_debug("reconnected to the TPM via '%s'", tpm->tcti_conf);
                }
                r = req->fn(req);
                if (r >= 0)
                        break;
                if (req->rc && tpm_rc_kind(req->rc) == TPM_RC_KIND_CONNECTION) {
                        /* the ephemeral key died with the connection */
                        disconnect(tpm, false);
                        r = -EIO;
                        break;
                }
                if (!req->rc || tpm_rc_kind(req->rc) != TPM_RC_KIND_RETRY ||
                    attempt + 1 >= TPM_RETRY_MAX)
                        break;
                if (worker_sleep(tpm, TPM_RETRY_DELAY_MS << attempt) < 0)
                        break;
        }
        if (r < 0) {
                tpm_result_done(&req->res);
                req->res.secret = false;
                if (!req->res.message[0])
                        (void) snprintf(req->res.message, sizeof(req->res.message), "%s",
                                        strerror(-r));
        }
        req->res.r = r < 0 ? r : 0;
        (void) clock_gettime(CLOCK_MONOTONIC, &t1);
        req->res.seconds = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void *worker_main(void *p)
{
        struct tpm *tpm = p;
        struct tpm_req *req;
        uint64_t one = 1;

        for (;;) {
                pthread_mutex_lock(&tpm->lock);
                while (!tpm->pending && !tpm->stopping)
                        pthread_cond_wait(&tpm->cond, &tpm->lock);
                if (tpm->stopping) {
                        pthread_mutex_unlock(&tpm->lock);
                        break;
                }
                req = tpm->pending;
                tpm->pending = req->next;
                if (!tpm->pending)
                        tpm->pending_tail = &tpm->pending;
                req->next = NULL;
                pthread_mutex_unlock(&tpm->lock);

                run_req(tpm, req);

                pthread_mutex_lock(&tpm->lock);
                *tpm->done_tail = req;
                tpm->done_tail = &req->next;
                pthread_mutex_unlock(&tpm->lock);
                if (write(tpm->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                        log_error("cannot wake the event loop: %m");
        }
        disconnect(tpm, true);
        return NULL;
}

/* ---- loop side --------------------------------------------------------------- */

static void req_free(struct tpm_req *req)
{
        tpm_result_done(&req->res);
        explicit_bzero(req->buf, sizeof(req->buf));
        free(req);
}

static void deliver(struct tpm_req *list, int cancel)
{
        while (list) {
                struct tpm_req *next = list->next;

                if (cancel) {
                        tpm_result_done(&list->res);
                        list->res.r = cancel;
                        (void) snprintf(list->res.message, sizeof(list->res.message),
                                        "the TPM module shut down before the request completed");
                }
                list->cb(&list->res, list->userdata);
                req_free(list);
                list = next;
        }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
        struct tpm *tpm = arg;
        struct tpm_req *list;
        uint64_t n;

        if (read(tpm->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                log_error("cannot read the TPM completion eventfd: %m");
        pthread_mutex_lock(&tpm->lock);
        list = tpm->done;
        tpm->done = NULL;
        tpm->done_tail = &tpm->done;
        pthread_mutex_unlock(&tpm->lock);
        deliver(list, 0);
}

ESYS_CONTEXT *tpm_req_esys(struct tpm_req *req)
{
        return req->tpm->esys;
}

void *tpm_req_arg(struct tpm_req *req)
{
        return req->arg;
}

struct tpm_result *tpm_req_result(struct tpm_req *req)
{
        return &req->res;
}

/* ---- lifecycle ----------------------------------------------------------------- */

int tpm_new(struct event_base *base, const char *tcti_conf, struct tpm **ret, struct err *err)
{
        struct tpm *tpm = NULL;
        char msg[TPM_MESSAGE_MAX];
        sigset_t all, saved;
        int r;

        if (!base || !tcti_conf || !*tcti_conf || !ret)
                return err_set(err, -EINVAL, "tpm_new: missing event base or TCTI");
        /* We decode and report every TSS error ourselves (see tpm.h). */
        (void) setenv("TSS2_LOG", "all+NONE", 0);

        tpm = xcalloc(1, sizeof(*tpm));
        tpm->base = base;
        tpm->efd = -1;
        tpm->key.handle = ESYS_TR_NONE;
        tpm->pending_tail = &tpm->pending;
        tpm->done_tail = &tpm->done;
        pthread_mutex_init(&tpm->lock, NULL);
        pthread_cond_init(&tpm->cond, NULL);
        tpm->tcti_conf = xstrdup(tcti_conf);

        tpm->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (tpm->efd < 0) {
                r = err_set(err, -errno, "eventfd: %s", strerror(errno));
                goto fail;
        }
        tpm->done_ev = event_new(base, tpm->efd, EV_READ | EV_PERSIST, on_done, tpm);
        if (!tpm->done_ev || event_add(tpm->done_ev, NULL) < 0) {
                r = err_set(err, -ENOMEM, "cannot add the TPM completion event");
                goto fail;
        }
        r = connect_tpm(tpm, msg, sizeof(msg));
        if (r < 0) {
                r = err_set(err, r, "TPM '%s': %s", tcti_conf, msg);
                goto fail;
        }
        /* The worker takes no signals (they belong to the loop thread), and a
         * write to a TPM socket that went away gives it EPIPE, not SIGPIPE. */
        (void) sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = -pthread_create(&tpm->thread, NULL, worker_main, tpm);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0) {
                r = err_set(err, r, "cannot start the TPM worker thread: %s", strerror(-r));
                goto fail;
        }
        tpm->thread_started = true;
        *ret = tpm;
        return 0;
fail:
        tpm_free(tpm);
        return r;
}

struct tpm *tpm_free(struct tpm *tpm)
{
        struct tpm_req *pending, *done;

        if (!tpm)
                return NULL;
        pthread_mutex_lock(&tpm->lock);
        tpm->stopping = true;
        pthread_cond_broadcast(&tpm->cond);
        pthread_mutex_unlock(&tpm->lock);
        if (tpm->thread_started)
                (void) pthread_join(tpm->thread, NULL);
        else
                disconnect(tpm, true);

        /* the worker is gone: no locking needed any more */
        done = tpm->done;
        pending = tpm->pending;
        tpm->done = tpm->pending = NULL;
        deliver(done, -ECANCELED);
        deliver(pending, -ECANCELED);

        event_free(tpm->done_ev);
        if (tpm->efd >= 0)
                (void) close(tpm->efd);
        pthread_cond_destroy(&tpm->cond);
        pthread_mutex_destroy(&tpm->lock);
        free(tpm->tcti_conf);
        free(tpm);
        return NULL;
}

const char *tpm_get_manufacturer(const struct tpm *tpm)
{
        return tpm->manufacturer;
}

unsigned tpm_get_nv_buffer_max(const struct tpm *tpm)
{
        return tpm->nv_buffer_max;
}

/* ---- synchronous use ----------------------------------------------------------- */

void tpm_sync_cb(struct tpm_result *res, void *userdata)
{
        struct tpm_sync *s = userdata;

        s->res = *res;          /* moves the buffers */
        res->data = res->attest = res->signature = (struct tpm_blob) {};
        s->done = true;
}

int tpm_sync_wait(struct tpm *tpm, struct tpm_sync *s)
{
        while (!s->done)
                if (event_base_loop(tpm->base, EVLOOP_ONCE) < 0)
                        return -EIO;
        return s->res.r;
}

/* ---- building blocks (worker thread) ------------------------------------------- */

static int tr_from_handle(struct tpm_req *req, uint32_t handle, const char *what, ESYS_TR *ret)
{
        TSS2_RC rc;

        rc = Esys_TR_FromTPMPublic(req->tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, ret);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_req_fail_rc(req, rc, handle, "%s 0x%08x", what, handle);
        return 0;
}

static void tr_close(struct tpm_req *req, ESYS_TR *tr)
{
        if (*tr != ESYS_TR_NONE)
                (void) Esys_TR_Close(req->tpm->esys, tr);
        *tr = ESYS_TR_NONE;
}

static void flush(struct tpm_req *req, ESYS_TR *tr)
{
        if (*tr != ESYS_TR_NONE && Esys_FlushContext(req->tpm->esys, *tr) != TSS2_RC_SUCCESS)
                (void) Esys_TR_Close(req->tpm->esys, tr);
        *tr = ESYS_TR_NONE;
}

/* Read all of NV index into *out (owner auth, or the index's own auth
 * when the index does not allow owner reads). */
static int nv_read_all(struct tpm_req *req, uint32_t index, struct tpm_blob *out)
{
        ESYS_CONTEXT *esys = req->tpm->esys;
        TPM2B_NV_PUBLIC *pub = NULL;
        TPM2B_MAX_NV_BUFFER *chunk = NULL;
        ESYS_TR nv = ESYS_TR_NONE, auth;
        uint8_t *buf = NULL;
        size_t size, off;
        bool owner_read;
        struct err e = {};
        TSS2_RC rc;
        int r;

        r = tr_from_handle(req, index, "NV index", &nv);
        if (r < 0)
                goto out;
        rc = Esys_NV_ReadPublic(esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, index, "NV_ReadPublic 0x%08x", index);
                goto out;
        }
        r = tpm_decode_nv_public(&pub->nvPublic, index, &size, &owner_read, &e);
        if (r < 0) {
                r = tpm_req_fail(req, r, "NV index 0x%08x %s", index, e.msg);
                goto out;
        }
        auth = owner_read ? ESYS_TR_RH_OWNER : nv;
        buf = malloc(size);
        if (!buf) {
                r = tpm_req_fail(req, -ENOMEM, "out of memory reading NV index 0x%08x", index);
                goto out;
        }
        for (off = 0; off < size; off += chunk->size) {
                UINT16 n = (UINT16) (size - off < req->tpm->nv_buffer_max ?
                                     size - off : req->tpm->nv_buffer_max);

                Esys_Free(chunk);
                chunk = NULL;
                rc = Esys_NV_Read(esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
                                  (UINT16) off, &chunk);
                if (rc != TSS2_RC_SUCCESS) {
                        r = tpm_req_fail_rc(req, rc, index,
                                            "NV_Read 0x%08x (%u bytes at offset %zu)", index, n,
                                            off);
                        goto out;
                }
                if (chunk->size != n) {
                        r = tpm_req_fail(req, -EPROTO,
                                         "NV_Read 0x%08x returned %u bytes instead of %u",
                                         index, chunk->size, n);
                        goto out;
                }
                memcpy(buf + off, chunk->buffer, n);
        }
        out->data = buf;
        out->len = size;
        buf = NULL;
        r = 0;
out:
        free(buf);
        Esys_Free(chunk);
        Esys_Free(pub);
        tr_close(req, &nv);
        return r;
}

/* Read the sha256 PCRs of mask (PCR_Read returns at most 8 per call), all
 * under one update counter. */
static int pcrs_read(struct tpm_req *req, uint32_t mask, struct tpm_pcrs *out)
{
        ESYS_CONTEXT *esys = req->tpm->esys;
        TPML_PCR_SELECTION sel, *sel_out = NULL;
        TPML_DIGEST *values = NULL;
        struct tpm_pcrs pcrs;
        UINT32 counter, first_counter = 0;
        uint32_t remaining;
        struct err e = {};
        TSS2_RC rc;
        int r = 0;

        for (unsigned attempt = 0; attempt < TPM_PCR_READ_ATTEMPTS; attempt++) {
                memset(&pcrs, 0, sizeof(pcrs));
                pcrs.mask = mask;
                remaining = mask;
                for (bool first = true; remaining; first = false) {
                        uint32_t got = 0;

                        tpm_pcr_selection(remaining, &sel);
                        rc = Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                                           &counter, &sel_out, &values);
                        if (rc != TSS2_RC_SUCCESS)
                                return tpm_req_fail_rc(req, rc, 0,
                                                       "PCR_Read sha256 mask 0x%06x", remaining);
                        if (first)
                                first_counter = counter;
                        r = tpm_decode_pcr_read(sel_out, values, remaining, &pcrs, &got, &e);
                        if (r < 0) {
                                r = tpm_req_fail(req, r, "PCR_Read sha256 mask 0x%06x returned "
                                                 "a malformed answer: %s", remaining, e.msg);
                                goto out;
                        }
                        Esys_Free(sel_out);
                        Esys_Free(values);
                        sel_out = NULL;
                        values = NULL;
                        remaining &= ~got;
                        if (counter != first_counter)
                                break;
                }
                if (!remaining && counter == first_counter) {
                        *out = pcrs;
                        return 0;
                }
        }
        r = tpm_req_fail(req, -EAGAIN, "the PCRs kept changing while being read");
out:
        Esys_Free(sel_out);
        Esys_Free(values);
        return r;
}

static int take_signature(struct tpm_req *req, const TPMT_SIGNATURE *sig, const char *what)
{
        const uint8_t *raw;
        struct err e = {};
        size_t len;
        int r;

        r = tpm_decode_signature(sig, &raw, &len, &e);
        if (r < 0)
                return tpm_req_fail(req, r, "%s: %s", what, e.msg);
        return blob_set(&req->res.signature, raw, len);
}

/* ---- requests (worker thread) -------------------------------------------------- */

static int exec_read_nv(struct tpm_req *req)
{
        return nv_read_all(req, req->handle, &req->res.data);
}

static int exec_read_ak_cert(struct tpm_req *req)
{
        struct err e = {};
        size_t len;
        int r;

        r = nv_read_all(req, TPM_NV_AK_CERT, &req->res.data);
        if (r < 0)
                return r;
        r = tpm_decode_der_sequence_len(req->res.data.data, req->res.data.len, &len, &e);
        if (r < 0)
                return tpm_req_fail(req, r, "AK certificate in NV 0x%08x: %s", TPM_NV_AK_CERT,
                                    e.msg);
        req->res.data.len = len;
        return 0;
}

static int exec_read_ak_pub(struct tpm_req *req)
{
        TPM2B_PUBLIC *pub = NULL;
        uint8_t buf[sizeof(TPM2B_PUBLIC)];
        ESYS_TR ak = ESYS_TR_NONE;
        size_t off = 0;
        TSS2_RC rc;
        int r;

        r = tr_from_handle(req, TPM_AK_HANDLE, "attestation key", &ak);
        if (r < 0)
                goto out;
        rc = Esys_ReadPublic(req->tpm->esys, ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                             &pub, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, TPM_AK_HANDLE, "ReadPublic 0x%08x", TPM_AK_HANDLE);
                goto out;
        }
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "marshaling the AK public area");
                goto out;
        }
        r = blob_set(&req->res.data, buf, off);
out:
        Esys_Free(pub);
        tr_close(req, &ak);
        return r;
}

static int exec_read_pcrs(struct tpm_req *req)
{
        return pcrs_read(req, req->mask, &req->res.pcrs);
}

static int exec_quote(struct tpm_req *req)
{
        const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        TPM2B_DATA qualifying = { .size = (UINT16) req->buf_len };
        TPM2B_ATTEST *quoted = NULL;
        TPMT_SIGNATURE *sig = NULL;
        ESYS_TR ak = ESYS_TR_NONE;
        TPML_PCR_SELECTION sel;
        uint8_t digest[TPM_DIGEST_SIZE], quoted_digest[TPM_DIGEST_SIZE];
        struct err e = {};
        TSS2_RC rc;
        int r;

        memcpy(qualifying.buffer, req->buf, req->buf_len);
        tpm_pcr_selection(req->mask, &sel);
        r = tr_from_handle(req, TPM_AK_HANDLE, "attestation key", &ak);
        if (r < 0)
                goto out;
        for (unsigned attempt = 0;; attempt++) {
                Esys_Free(quoted);
                Esys_Free(sig);
                quoted = NULL;
                sig = NULL;
                rc = Esys_Quote(req->tpm->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &qualifying, &scheme, &sel, &quoted, &sig);
                if (rc != TSS2_RC_SUCCESS) {
                        r = tpm_req_fail_rc(req, rc, TPM_AK_HANDLE,
                                            "Quote by 0x%08x over sha256 mask 0x%06x",
                                            TPM_AK_HANDLE, req->mask);
                        goto out;
                }
                r = pcrs_read(req, req->mask, &req->res.pcrs);
                if (r < 0)
                        goto out;
                r = tpm_decode_quote(quoted->attestationData, quoted->size, req->mask, req->buf,
                                     req->buf_len, quoted_digest, &e);
                if (r < 0) {
                        r = tpm_req_fail(req, r, "the TPM returned a malformed quote: %s", e.msg);
                        goto out;
                }
                r = tpm_pcrs_digest(&req->res.pcrs, digest);
                if (r < 0)
                        goto out;
                if (memcmp(digest, quoted_digest, TPM_DIGEST_SIZE) == 0)
                        break;
                if (attempt + 1 >= TPM_QUOTE_ATTEMPTS) {
                        r = tpm_req_fail(req, -EAGAIN,
                                         "the PCRs changed between quote and read %u times",
                                         TPM_QUOTE_ATTEMPTS);
                        goto out;
                }
                log_debug("PCRs changed between quote and read, quoting again");
        }
        r = blob_set(&req->res.attest, quoted->attestationData, quoted->size);
        if (r >= 0)
                r = take_signature(req, sig, "Quote");
out:
        Esys_Free(quoted);
        Esys_Free(sig);
        tr_close(req, &ak);
        return r;
}

/* The PolicyPCR digest for pcr_digest over mask, from a trial session,
 * cross-checked against the software computation. */
static int trial_policy_pcr(struct tpm_req *req, uint32_t mask,
                            const uint8_t pcr_digest[TPM_DIGEST_SIZE],
                            uint8_t ret[TPM_DIGEST_SIZE])
{
        const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        ESYS_CONTEXT *esys = req->tpm->esys;
        TPM2B_DIGEST pcrs = { .size = TPM_DIGEST_SIZE }, *policy = NULL;
        uint8_t expected[TPM_DIGEST_SIZE];
        ESYS_TR session = ESYS_TR_NONE;
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;
        int r;

        memcpy(pcrs.buffer, pcr_digest, TPM_DIGEST_SIZE);
        tpm_pcr_selection(mask, &sel);
        rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, NULL, TPM2_SE_TRIAL, &sym, TPM2_ALG_SHA256,
                                   &session);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "StartAuthSession(trial)");
                goto out;
        }
        rc = Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcrs, &sel);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "PolicyPCR(trial, sha256 mask 0x%06x)", mask);
                goto out;
        }
        rc = Esys_PolicyGetDigest(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &policy);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "PolicyGetDigest");
                goto out;
        }
        r = tpm_policy_pcr_digest(mask, pcr_digest, expected);
        if (r < 0)
                goto out;
        if (policy->size != TPM_DIGEST_SIZE || memcmp(policy->buffer, expected, TPM_DIGEST_SIZE)) {
                r = tpm_req_fail(req, -EPROTO, "the TPM computed an unexpected PolicyPCR digest");
                goto out;
        }
        memcpy(ret, expected, TPM_DIGEST_SIZE);
out:
        Esys_Free(policy);
        flush(req, &session);
        return r;
}

static int create_ephemeral_key(struct tpm_req *req, uint32_t mask,
                                const uint8_t policy[TPM_DIGEST_SIZE])
{
        struct ephemeral_key *key = &req->tpm->key;
        const TPM2B_SENSITIVE_CREATE sensitive = {};
        const TPM2B_DATA outside = {};
        const TPML_PCR_SELECTION creation_pcr = {};
        TPM2B_PUBLIC tmpl = {
                .publicArea = {
                        .type = TPM2_ALG_RSA,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = EPHEMERAL_KEY_ATTRIBUTES,
                        .authPolicy = { .size = TPM_DIGEST_SIZE },
                        .parameters.rsaDetail = {
                                .symmetric = { .algorithm = TPM2_ALG_NULL },
                                .scheme = { .scheme = TPM2_ALG_NULL },
                                .keyBits = 2048,
                                .exponent = 0,
                        },
                },
        };
        TPM2B_PUBLIC *pub = NULL;
        TPM2B_NAME *name = NULL;
        ESYS_TR handle = ESYS_TR_NONE;
        struct err e = {};
        size_t off = 0;
        TSS2_RC rc;
        int r;

        memcpy(tmpl.publicArea.authPolicy.buffer, policy, TPM_DIGEST_SIZE);
        flush(req, &key->handle);
        rc = Esys_CreatePrimary(req->tpm->esys, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creation_pcr,
                                &handle, &pub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "CreatePrimary(ephemeral RSA key, NULL hierarchy)");
                goto out;
        }
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, key->pub, sizeof(key->pub), &off);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "marshaling the ephemeral key");
                goto out;
        }
        r = tpm_decode_key_public(key->pub, off, EPHEMERAL_KEY_ATTRIBUTES, policy, &e);
        if (r < 0) {
                r = tpm_req_fail(req, r, "the TPM created the ephemeral key with other "
                                 "attributes or policy than asked for: %s", e.msg);
                goto out;
        }
        rc = Esys_TR_GetName(req->tpm->esys, handle, &name);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "naming the ephemeral key");
                goto out;
        }
        key->name = *name;
        key->pub_len = off;
        key->mask = mask;
        memcpy(key->policy, policy, TPM_DIGEST_SIZE);
        key->handle = handle;
        handle = ESYS_TR_NONE;
        r = 0;
out:
        flush(req, &handle);
        Esys_Free(pub);
        Esys_Free(name);
        return r;
}

/* TPM2_Certify of the kept key by the AK. Returns 1 (and forgets the key
 * without flushing: the handle may now be another client's object) when
 * the key is no longer the one we made, as after a TPM reset. */
static int certify_key(struct tpm_req *req, ESYS_TR ak)
{
        struct ephemeral_key *key = &req->tpm->key;
        const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        const TPM2B_DATA qualifying = {};
        TPM2B_ATTEST *certify = NULL;
        TPMT_SIGNATURE *sig = NULL;
        TPM2B_NAME certified;
        struct err e = {};
        TSS2_RC rc;
        int r;

        rc = Esys_Certify(req->tpm->esys, key->handle, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
                          ESYS_TR_NONE, &qualifying, &scheme, &certify, &sig);
        if (rc != TSS2_RC_SUCCESS && tpm_rc_kind(rc) == TPM_RC_KIND_ABSENT &&
            (rc & TPM2_RC_N_MASK) != TPM2_RC_2) {
                r = 1;
                goto stale;
        }
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, TPM_AK_HANDLE,
                                    "Certify of the ephemeral key by 0x%08x", TPM_AK_HANDLE);
                goto out;
        }
        r = tpm_decode_certify(certify->attestationData, certify->size, &certified, &e);
        if (r < 0) {
                r = tpm_req_fail(req, r, "the TPM returned a malformed certification: %s", e.msg);
                goto out;
        }
        if (certified.size != key->name.size ||
            memcmp(certified.name, key->name.name, key->name.size) != 0) {
                r = 1;
                goto stale;
        }
        r = blob_set(&req->res.data, key->pub, key->pub_len);
        if (r >= 0)
                r = blob_set(&req->res.attest, certify->attestationData, certify->size);
        if (r >= 0)
                r = take_signature(req, sig, "Certify");
        goto out;
stale:
        log_debug("the ephemeral key is gone (TPM reset?), creating a new one");
        tr_close(req, &key->handle);
out:
        Esys_Free(certify);
        Esys_Free(sig);
        return r;
}

static int exec_ephemeral_key(struct tpm_req *req)
{
        struct ephemeral_key *key = &req->tpm->key;
        uint8_t pcr_digest[TPM_DIGEST_SIZE], policy[TPM_DIGEST_SIZE];
        ESYS_TR ak = ESYS_TR_NONE;
        int r;

        r = pcrs_read(req, req->mask, &req->res.pcrs);
        if (r < 0)
                goto out;
        r = tpm_pcrs_digest(&req->res.pcrs, pcr_digest);
        if (r < 0)
                goto out;
        r = trial_policy_pcr(req, req->mask, pcr_digest, policy);
        if (r < 0)
                goto out;
        r = tr_from_handle(req, TPM_AK_HANDLE, "attestation key", &ak);
        if (r < 0)
                goto out;
        /* a kept key that turns out stale is replaced once */
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                if (key->handle == ESYS_TR_NONE || key->mask != req->mask ||
                    memcmp(key->policy, policy, TPM_DIGEST_SIZE) != 0) {
                        r = create_ephemeral_key(req, req->mask, policy);
                        if (r < 0)
                                goto out;
                        req->res.key_created = true;
                }
                r = certify_key(req, ak);
                if (r <= 0)
                        goto out;
        }
        r = tpm_req_fail(req, -EPROTO, "the ephemeral key vanished right after its creation");
out:
        tr_close(req, &ak);
        return r;
}

static int exec_rsa_decrypt(struct tpm_req *req)
{
        struct ephemeral_key *key = &req->tpm->key;
        ESYS_CONTEXT *esys = req->tpm->esys;
        const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        const TPMT_RSA_DECRYPT scheme = { .scheme = TPM2_ALG_RSAES };
        const TPM2B_DIGEST current = {};        /* empty: the TPM uses the current values */
        const TPM2B_DATA label = {};
        TPM2B_PUBLIC_KEY_RSA ciphertext = { .size = (UINT16) req->buf_len };
        TPM2B_PUBLIC_KEY_RSA *plain = NULL;
        ESYS_TR session = ESYS_TR_NONE;
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;
        int r;

        if (key->handle == ESYS_TR_NONE)
                return tpm_req_fail(req, -ENOKEY, "RSA_Decrypt: there is no ephemeral key "
                                    "(none was created, or it was lost when the TPM connection "
                                    "was reset)");
        memcpy(ciphertext.buffer, req->buf, req->buf_len);
        tpm_pcr_selection(key->mask, &sel);
        rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
                                   &session);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "StartAuthSession(policy)");
                goto out;
        }
        rc = Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, 0, "PolicyPCR(sha256 mask 0x%06x)", key->mask);
                goto out;
        }
        rc = Esys_RSA_Decrypt(esys, key->handle, session, ESYS_TR_NONE, ESYS_TR_NONE, &ciphertext,
                              &scheme, &label, &plain);
        if (rc != TSS2_RC_SUCCESS) {
                TSS2_RC base = 0;

                /* libtpms answers a padding failure with TPM_RC_FAILURE */
                if (rc_tpm_base(rc, &base) && (base == TPM2_RC_VALUE || base == TPM2_RC_SIZE ||
                                               base == TPM2_RC_FAILURE)) {
                        req->rc = rc;
                        r = tpm_req_fail(req, -EBADMSG,
                                         "RSA_Decrypt with the ephemeral key: %s (0x%08x): the "
                                         "ciphertext was not encrypted to this key, or is "
                                         "corrupted", Tss2_RC_Decode(rc), rc);
                } else
                        r = tpm_req_fail_rc(req, rc, 0, "RSA_Decrypt with the ephemeral key");
                if (tpm_rc_kind(rc) == TPM_RC_KIND_ABSENT)
                        tr_close(req, &key->handle);    /* gone: TPM reset */
                goto out;
        }
        req->res.secret = true;
        r = blob_set(&req->res.data, plain->buffer, plain->size);
out:
        if (plain)
                explicit_bzero(plain, sizeof(*plain));
        Esys_Free(plain);
        explicit_bzero(&ciphertext, sizeof(ciphertext));
        flush(req, &session);
        return r;
}

/* Whether NV index exists, asked without touching it (no TSS error log). */
static int nv_exists(struct tpm_req *req, uint32_t index, bool *ret)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        TSS2_RC rc;

        rc = Esys_GetCapability(req->tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                TPM2_CAP_HANDLES, index, 1, &more, &cap);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_req_fail_rc(req, rc, 0, "GetCapability(handles 0x%08x)", index);
        *ret = cap->data.handles.count >= 1 && cap->data.handles.handle[0] == index;
        Esys_Free(cap);
        return 0;
}

/* Make NV 0x01400002 a 64-byte index and write user data to it. */
static int write_user_data(struct tpm_req *req)
{
        ESYS_CONTEXT *esys = req->tpm->esys;
        const TPM2B_AUTH auth = {};
        const TPM2B_NV_PUBLIC pub = {
                .nvPublic = {
                        .nvIndex = TPM_NV_USER_DATA,
                        .nameAlg = TPM2_ALG_SHA256,
                        .attributes = USER_DATA_NV_ATTRIBUTES,
                        .dataSize = TPM_USER_DATA_SIZE,
                },
        };
        TPM2B_MAX_NV_BUFFER data = { .size = TPM_USER_DATA_SIZE };
        TPM2B_NV_PUBLIC *cur = NULL;
        ESYS_TR nv = ESYS_TR_NONE;
        bool exists = false;
        TSS2_RC rc;
        int r;

        r = nv_exists(req, TPM_NV_USER_DATA, &exists);
        if (r < 0)
                goto out;
        if (exists) {
                r = tr_from_handle(req, TPM_NV_USER_DATA, "NV index", &nv);
                if (r < 0)
                        goto out;
                rc = Esys_NV_ReadPublic(esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &cur,
                                        NULL);
                if (rc != TSS2_RC_SUCCESS) {
                        r = tpm_req_fail_rc(req, rc, TPM_NV_USER_DATA, "NV_ReadPublic 0x%08x",
                                            TPM_NV_USER_DATA);
                        goto out;
                }
                if (cur->nvPublic.dataSize != TPM_USER_DATA_SIZE) {
                        log_debug("NV 0x%08x has %u bytes, redefining it with %d",
                                  TPM_NV_USER_DATA, cur->nvPublic.dataSize, TPM_USER_DATA_SIZE);
                        rc = Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
                                                   ESYS_TR_NONE, ESYS_TR_NONE);
                        if (rc != TSS2_RC_SUCCESS) {
                                r = tpm_req_fail_rc(req, rc, TPM_NV_USER_DATA,
                                                    "NV_UndefineSpace 0x%08x", TPM_NV_USER_DATA);
                                goto out;
                        }
                        nv = ESYS_TR_NONE;      /* ESYS dropped it */
                }
        }
        if (nv == ESYS_TR_NONE) {
                rc = Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                         ESYS_TR_NONE, &auth, &pub, &nv);
                if (rc != TSS2_RC_SUCCESS) {
                        r = tpm_req_fail_rc(req, rc, TPM_NV_USER_DATA, "NV_DefineSpace 0x%08x",
                                            TPM_NV_USER_DATA);
                        goto out;
                }
        }
        memcpy(data.buffer, req->buf, TPM_USER_DATA_SIZE);
        rc = Esys_NV_Write(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &data, 0);
        if (rc != TSS2_RC_SUCCESS) {
                r = tpm_req_fail_rc(req, rc, TPM_NV_USER_DATA, "NV_Write 0x%08x",
                                    TPM_NV_USER_DATA);
                goto out;
        }
        r = 0;
out:
        Esys_Free(cur);
        tr_close(req, &nv);
        return r;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int exec_fresh_report(struct tpm_req *req)
{
        uint64_t start = now_ms(), deadline = start + req->timeout_ms, now;
        unsigned delay = TPM_FRESH_REPORT_BACKOFF_MS_INITIAL, reads = 0;
        int r;

        r = write_user_data(req);
        if (r < 0)
                return r;
        for (;;) {
                tpm_result_done(&req->res);
                r = nv_read_all(req, TPM_NV_HCL_REPORT, &req->res.data);
                if (r < 0)
                        return r;
                reads++;
                if (req->predicate(req->res.data.data, req->res.data.len, req->buf,
                                   req->predicate_userdata)) {
                        log_debug("fresh HCL report after %u reads, %llu ms", reads,
                                  (unsigned long long) (now_ms() - start));
                        return 0;
                }
                now = now_ms();
                if (now >= deadline)
                        break;
                r = worker_sleep(req->tpm, (unsigned) (deadline - now < delay ? deadline - now : delay));
                if (r < 0)
                        return tpm_req_fail(req, r, "fresh report: cancelled");
                delay = delay * 2 > TPM_FRESH_REPORT_BACKOFF_MS_MAX ?
                        TPM_FRESH_REPORT_BACKOFF_MS_MAX : delay * 2;
        }
        return tpm_req_fail(req, -ETIMEDOUT,
                            "the HCL report (NV 0x%08x) did not carry the user data written to "
                            "NV 0x%08x after %u ms (%u reads): the paravisor ignores the write "
                            "(not an Azure confidential VM?) or the host is stuck",
                            TPM_NV_HCL_REPORT, TPM_NV_USER_DATA, req->timeout_ms, reads);
}

/* ---- public requests ------------------------------------------------------------ */

/* Queue a request whose arguments are in the template args. */
static int submit(struct tpm *tpm, tpm_exec_fn fn, const struct tpm_req *args, tpm_cb cb,
                  void *userdata)
{
        struct tpm_req *req;

        if (!tpm || !fn || !cb)
                return -EINVAL;
        req = xcalloc(1, sizeof(*req));
        *req = *args;
        req->tpm = tpm;
        req->fn = fn;
        req->cb = cb;
        req->userdata = userdata;

        pthread_mutex_lock(&tpm->lock);
        if (tpm->stopping) {
                pthread_mutex_unlock(&tpm->lock);
                req_free(req);
                return -ESHUTDOWN;
        }
        *tpm->pending_tail = req;
        tpm->pending_tail = &req->next;
        pthread_cond_signal(&tpm->cond);
        pthread_mutex_unlock(&tpm->lock);
        return 0;
}

int tpm_exec_async(struct tpm *tpm, tpm_exec_fn fn, void *arg, tpm_cb cb, void *userdata)
{
        return submit(tpm, fn, &(struct tpm_req) { .arg = arg }, cb, userdata);
}

int tpm_read_nv_async(struct tpm *tpm, uint32_t nv_index, tpm_cb cb, void *userdata)
{
        if ((nv_index >> TPM2_HR_SHIFT) != TPM2_HT_NV_INDEX)
                return -EINVAL;
        return submit(tpm, exec_read_nv, &(struct tpm_req) { .handle = nv_index }, cb, userdata);
}

int tpm_read_hcl_report_async(struct tpm *tpm, tpm_cb cb, void *userdata)
{
        return tpm_read_nv_async(tpm, TPM_NV_HCL_REPORT, cb, userdata);
}

int tpm_read_ak_pub_async(struct tpm *tpm, tpm_cb cb, void *userdata)
{
        return submit(tpm, exec_read_ak_pub, &(struct tpm_req) {}, cb, userdata);
}

int tpm_read_ak_cert_async(struct tpm *tpm, tpm_cb cb, void *userdata)
{
        return submit(tpm, exec_read_ak_cert, &(struct tpm_req) {}, cb, userdata);
}

int tpm_read_pcrs_async(struct tpm *tpm, uint32_t mask, tpm_cb cb, void *userdata)
{
        if (!mask_valid(mask))
                return -EINVAL;
        return submit(tpm, exec_read_pcrs, &(struct tpm_req) { .mask = mask }, cb, userdata);
}

int tpm_quote_async(struct tpm *tpm, uint32_t mask, const uint8_t *qualifying,
                    size_t qualifying_len, tpm_cb cb, void *userdata)
{
        struct tpm_req args = { .mask = mask, .buf_len = qualifying_len };

        if (!mask_valid(mask) || qualifying_len > TPM_QUALIFYING_DATA_MAX ||
            (qualifying_len && !qualifying))
                return -EINVAL;
        if (qualifying_len)
                memcpy(args.buf, qualifying, qualifying_len);
        return submit(tpm, exec_quote, &args, cb, userdata);
}

int tpm_ephemeral_key_async(struct tpm *tpm, uint32_t mask, tpm_cb cb, void *userdata)
{
        if (!mask_valid(mask))
                return -EINVAL;
        return submit(tpm, exec_ephemeral_key, &(struct tpm_req) { .mask = mask }, cb, userdata);
}

int tpm_rsa_decrypt_async(struct tpm *tpm, const uint8_t *ciphertext, size_t len, tpm_cb cb,
                          void *userdata)
{
        struct tpm_req args = { .buf_len = len };

        if (!ciphertext || len == 0 || len > TPM_DECRYPT_CIPHERTEXT_MAX)
                return -EINVAL;
        memcpy(args.buf, ciphertext, len);
        return submit(tpm, exec_rsa_decrypt, &args, cb, userdata);
}

int tpm_fresh_report_async(struct tpm *tpm, const uint8_t user_data[TPM_USER_DATA_SIZE],
                           tpm_report_predicate predicate, void *predicate_userdata,
                           unsigned timeout_ms, tpm_cb cb, void *userdata)
{
        struct tpm_req args = {
                .buf_len = TPM_USER_DATA_SIZE,
                .predicate = predicate,
                .predicate_userdata = predicate_userdata,
                .timeout_ms = timeout_ms,
        };

        if (!user_data || !predicate || timeout_ms < TPM_FRESH_REPORT_TIMEOUT_MS_MIN ||
            timeout_ms > TPM_FRESH_REPORT_TIMEOUT_MS_MAX)
                return -EINVAL;
        memcpy(args.buf, user_data, TPM_USER_DATA_SIZE);
        return submit(tpm, exec_fresh_report, &args, cb, userdata);
}
