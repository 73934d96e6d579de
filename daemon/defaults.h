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

/* maa */
#define MAA_ENDPOINT_DEFAULT            "https://sharedeus2.eus2.attest.azure.net"
#define MAA_CONNECT_TIMEOUT_MS_DEFAULT  5000
#define MAA_TIMEOUT_MS_DEFAULT          30000
#define MAA_TIMEOUT_MS_MIN              100
#define MAA_TIMEOUT_MS_MAX              300000
#define MAA_CLOCK_SKEW_S_DEFAULT        60
#define MAA_CLOCK_SKEW_S_MAX            600

/* imds */
#define IMDS_ENDPOINT_DEFAULT           "http://169.254.169.254"
#define IMDS_TIMEOUT_MS_DEFAULT         5000

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

#endif
