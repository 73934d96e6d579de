/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_DEFAULTS_H
#define ATTESTD_DAEMON_DEFAULTS_H

/*
 * Every default and every bound on a user-controllable resource, in one
 * place. FOO_DEFAULT is what an absent setting means; FOO_MIN/FOO_MAX bound
 * what a configuration may ask for or what input may carry.
 */

/* files */
#define CONFIG_FILE_DEFAULT             SYSCONFDIR "/attestd/attestd.json"
#define CONFIG_FILE_MAX_BYTES           (256 * 1024)
#define CONFIG_DEPTH_MAX                8
#define DIAG_ERRORS_MAX                 100     /* messages kept per document */

/* tpm */
#define TPM_TCTI_DEFAULT                "device:/dev/tpmrm0"
#define TPM_PCR_MASK_DEFAULT            0x000000ffu     /* PCRs 0-7, sha256 */
#define TPM_EVENT_LOG_DEFAULT           "/sys/kernel/security/tpm0/binary_bios_measurements"
#define TPM_FRESH_REPORT_TIMEOUT_MS_DEFAULT 10000
#define TPM_FRESH_REPORT_TIMEOUT_MS_MIN 100
#define TPM_FRESH_REPORT_TIMEOUT_MS_MAX 120000
#define TPM_FRESH_REPORT_BACKOFF_MS_INITIAL 20  /* first pause between report reads */
#define TPM_FRESH_REPORT_BACKOFF_MS_MAX 250     /* pauses double up to this */
#define TPM_NV_READ_MAX_BYTES           16384   /* largest NV index we read */
#define TPM_NV_BUFFER_MAX_FALLBACK      512     /* chunk size if the TPM does not say */
#define TPM_RETRY_MAX                   3       /* RETRY/YIELDED/TESTING/LOCKOUT */
#define TPM_RETRY_DELAY_MS              50      /* doubled per retry */
#define TPM_QUOTE_ATTEMPTS              2       /* quote again when PCRs moved */
#define TPM_PCR_READ_ATTEMPTS           3       /* update counter moved mid-read */
#define TPM_DECRYPT_CIPHERTEXT_MAX      256     /* RSA-2048 */
#define TPM_QUALIFYING_DATA_MAX         64      /* sizeof(TPMU_HA) */

/* maa */
#define MAA_ENDPOINT_DEFAULT            "https://sharedeus2.eus2.attest.azure.net"
#define MAA_CONNECT_TIMEOUT_MS_DEFAULT  5000
#define MAA_TIMEOUT_MS_DEFAULT          30000
#define MAA_TIMEOUT_MS_MIN              100
#define MAA_TIMEOUT_MS_MAX              300000
#define MAA_CLOCK_SKEW_S_DEFAULT        60
#define MAA_CLOCK_SKEW_S_MAX            600
/* One attestation retries a retryable MAA failure (transport, 408, 429, 5xx)
 * this many times in all, with full-jitter backoff, never sooner than
 * Retry-After; the refresh schedule backs off further between attestations. */
#define MAA_ATTEMPTS_MAX                3
#define MAA_RETRY_BACKOFF_MS            1000
#define MAA_RETRY_BACKOFF_MAX_MS        8000

/* maa wire protocol (daemon/maa.c) */
#define MAA_API_VERSION_AZURE_GUEST     "2020-10-01"
#define MAA_API_VERSION_SEVSNP_VM       "2022-08-01"
#define MAA_API_VERSION_TDX_VM          "2023-04-01-preview"
#define MAA_RESPONSE_MAX_BYTES          (1024 * 1024)   /* attest and /certs answers */
#define MAA_TOKEN_MAX_BYTES             (512 * 1024)
#define MAA_REQUEST_MAX_BYTES           (8 * 1024 * 1024)
#define MAA_EVIDENCE_FIELD_MAX_BYTES    (1024 * 1024)   /* TCG log, runtime claims, quotes */
#define MAA_VCEK_CHAIN_MAX_BYTES        (64 * 1024)
#define MAA_TPM_BLOB_MAX_BYTES          4096            /* TPM2B_PUBLIC, TPMS_ATTEST, signatures, AK cert */
#define MAA_CLIENT_PAYLOAD_MAX          32              /* ClientPayload entries */
#define MAA_CLIENT_PAYLOAD_VALUE_MAX_BYTES 4096
#define MAA_NONCE_MAX_BYTES             1024            /* platform-mode "nonce" string */
#define MAA_OS_RELEASE_MAX_BYTES        (64 * 1024)
#define MAA_OS_DISTRO_DEFAULT           "Linux"         /* os-release(5) default for NAME */
#define MAA_ERROR_DETAIL_MAX_CHARS      200             /* of MAA's error text quoted in messages */

/* imds */
#define IMDS_ENDPOINT_DEFAULT           "http://169.254.169.254"
#define IMDS_TIMEOUT_MS_DEFAULT         5000
#define IMDS_CONNECT_TIMEOUT_MS_MAX     2000            /* link-local: connecting is instant or never */
#define IMDS_RESPONSE_MAX_BYTES         (128 * 1024)
#define IMDS_TDQUOTE_MAX_BYTES          (64 * 1024)
#define IMDS_TDQUOTE_MIN_BYTES          636             /* v4 header 48 + TD report body 584 + sig len 4 */
#define IMDS_VCEK_CACHE_S_DEFAULT       3600            /* THIM answer without cacheControl */
#define IMDS_VCEK_CACHE_S_MAX           (7 * 86400)

/* http client (daemon/http.c) */
#define HTTP_TIMEOUT_MS_MAX             600000
#define HTTP_RESPONSE_MAX_BYTES_MAX     (64 * 1024 * 1024)
#define HTTP_URL_MAX_BYTES              4096
#define HTTP_HEADERS_MAX                32
#define HTTP_TRANSFERS_MAX              128             /* in flight per client */
#define HTTP_MAXCONNECTS                4               /* idle connections kept for reuse */
#define HTTP_RETRY_AFTER_MAX_S          3600
#define HTTP_CA_CACHE_S                 300             /* curl's parsed-CA-file cache lifetime */

/* local api */
#define API_SOCKET_DEFAULT              "/run/attestd/attestd.sock"
#define API_SOCKET_MODE_DEFAULT         0666
#define API_MAX_CONNECTIONS_DEFAULT     256
#define API_MAX_CONNECTIONS_MAX         65536
#define API_MAX_HEADER_BYTES_DEFAULT    8192
#define API_MAX_HEADER_BYTES_MIN        1024
#define API_MAX_HEADER_BYTES_MAX        65536
#define API_MAX_BODY_BYTES_DEFAULT      4096
#define API_MAX_BODY_BYTES_MIN          256
#define API_MAX_BODY_BYTES_MAX          65536
#define API_REQUEST_TIMEOUT_MS_DEFAULT  5000
#define API_REQUEST_TIMEOUT_MS_MIN      100
#define API_REQUEST_TIMEOUT_MS_MAX      600000
#define API_RATE_PER_S_DEFAULT          5.0
#define API_RATE_BURST_DEFAULT          20
#define API_RATE_BURST_MAX              100000
#define API_ATTEST_BATCH_DEFAULT        16
#define API_ATTEST_BATCH_MAX            64
#define API_ID_LIST_MAX                 64
#define API_LISTEN_BACKLOG              128
#define API_ATTEST_BATCH_WINDOW_MS      25      /* an idle daemon starts once callers pause this long */
#define API_ATTEST_BATCH_MAX_WAIT_MS    250     /* ... or once the first has waited this long */
#define API_ATTEST_QUEUE_MAX            256     /* fresh-attest callers waiting, beyond: 503 */
#define API_IDLE_TIMEOUT_MS             30000   /* a kept-alive connection with no request is closed */
#define API_URI_MAX                     2048    /* longer request targets get 414 */
#define API_MAX_AGE_S_MAX               315360000L      /* ?max_age= at most 10 years */
#define API_NONCE_MIN_BYTES             1
#define API_NONCE_MAX_BYTES             64
#define API_RATE_TABLE_MAX              1024    /* per-uid token buckets kept */
#define API_PEER_GROUPS_MAX             64      /* supplementary groups read with SO_PEERGROUPS */
#define API_CGROUP_FILE_MAX             16384   /* bytes of /proc/PID/cgroup read */

/* metrics */
#define METRICS_SERIES_MAX              64      /* label combinations per family */
#define METRICS_LABELS_MAX              2       /* label names per family */
#define METRICS_LABEL_VALUE_MAX         64      /* bytes per label value */
#define METRICS_BUCKETS_MAX             16

/* sd_notify */
#define NOTIFY_STATUS_MAX               256

/* daemon core */
#define CORE_DRAIN_TIMEOUT_MS           5000    /* SIGTERM: wait this long for a run in flight */
#define CORE_CLOCK_CHECK_INTERVAL_S     5       /* suspend/resume detection tick */
#define CORE_SUSPEND_THRESHOLD_S        2       /* BOOTTIME ran ahead of MONOTONIC by this: resumed */

/* audit */
#define AUDIT_FILE_DEFAULT              LOCALSTATEDIR "/lib/attestd/audit.jsonl"
#define AUDIT_ROTATE_BYTES_DEFAULT      (16ull * 1024 * 1024)
#define AUDIT_ROTATE_BYTES_MIN          4096ull
#define AUDIT_ROTATE_BYTES_MAX          (1ull << 40)
#define AUDIT_KEEP_DEFAULT              10      /* rotated files kept: .1 .. .N */
#define AUDIT_KEEP_MIN                  1
#define AUDIT_KEEP_MAX                  1000
#define AUDIT_RECORD_MAX_BYTES          (64 * 1024)     /* one line, newline included */
#define AUDIT_FILE_MODE                 0640

/* policy */
#define POLICY_FILE_DEFAULT             SYSCONFDIR "/attestd/policy.json"
#define POLICY_FILE_MAX_BYTES           (256 * 1024)
#define POLICY_DEPTH_MAX                16      /* JSON nesting of the document */
#define POLICY_RULES_MAX                256
#define POLICY_NAME_MAX                 128     /* name, rule id (bytes) */
#define POLICY_DESCRIPTION_MAX          512
#define POLICY_POINTER_MAX              512     /* JSON pointer (bytes) */
#define POLICY_OPERAND_ITEMS_MAX        256     /* elements of an in/not_in array */
#define POLICY_REGEX_MAX                512     /* pattern length (bytes) */
#define POLICY_REGEX_EXPANDED_MAX       4096    /* pattern size with {m,n} repeats expanded */
#define POLICY_REGEX_REPEAT_MAX         255     /* largest bound in {m,n} */
#define POLICY_CLAIMS_FILE_MAX_BYTES    (1024 * 1024)   /* attestctl policy eval --claims */
#define POLICY_MESSAGE_VALUE_MAX        160     /* JSON text of a value quoted in a message */

/* refresh schedule */
#define REFRESH_FRACTION_DEFAULT        0.5
#define REFRESH_JITTER_DEFAULT          0.1
#define REFRESH_BACKOFF_INITIAL_MS_DEFAULT 1000
#define REFRESH_BACKOFF_MAX_MS_DEFAULT  300000
#define REFRESH_BACKOFF_MS_MIN          10
#define REFRESH_BACKOFF_MS_MAX          86400000

/* hcl report: NV 0x01400001: the NV index is 2600 bytes today (2048 on
 * older hosts); accept anything up to this many bytes. */
#define HCL_REPORT_MAX                  8192
/* Largest RSA modulus accepted in the runtime claims JWKs (bytes, 4096-bit). */
#define HCL_RSA_MODULUS_MAX             512
/* Largest RSA public exponent accepted in the runtime claims JWKs (bytes). */
#define HCL_RSA_EXPONENT_MAX            8

/* event log: TCG PC Client event log (binary_bios_measurements). */
#define EVENTLOG_SIZE_MAX               (4 * 1024 * 1024)
#define EVENTLOG_EVENTS_MAX             8192
#define EVENTLOG_EVENT_SIZE_MAX         (1024 * 1024)
/* Hash algorithms in the Spec ID event and digests per event. */
#define EVENTLOG_DIGESTS_MAX            8

/* jose: MAA tokens and JWKS (clock skew: MAA_CLOCK_SKEW_S_*) */
/* Compact JWS, without any trailing newline. Real MAA tokens are 2-10 KiB. */
#define JWT_MAX_BYTES                   (64 * 1024)
/* exp/nbf/iat beyond 9999-12-31T23:59:59Z are absurd. */
#define JWT_TIME_MAX                    253402300799LL
/* RSA modulus bounds for signing keys (the upper bound caps verify cost). */
#define JWT_RSA_BITS_MIN                2048
#define JWT_RSA_BITS_MAX                8192
/* JWKS document, keys per set, kid length, x5c chain length and cert size. */
#define JWKS_MAX_BYTES                  (256 * 1024)
#define JWKS_KEYS_MAX                   32
#define JWKS_KID_MAX                    256
#define JWKS_X5C_CHAIN_MAX              8
/* a token naming an unknown key refetches the JWKS at most this often */
#define JWKS_REFETCH_MIN_INTERVAL_S     10
#define JWKS_CERT_MAX_BYTES             (16 * 1024)

/* envelope: the sealed AzureGuest response */
/* The HTTP body {"token": "<base64url(envelope JSON)>"}. */
#define ENVELOPE_RESPONSE_MAX_BYTES     (256 * 1024)
/* RSA-2048 ciphertext of the inner AES key (257 with a leading 0x00). */
#define ENVELOPE_INNER_KEY_BYTES        256

#endif
