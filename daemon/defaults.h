/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_DEFAULTS_H
#define ATTESTD_DAEMON_DEFAULTS_H

/* HCL report (NV 0x01400001): the NV index is 2600 bytes today (2048 on
 * older hosts); accept anything up to this many bytes. */
#define HCL_REPORT_MAX                  8192
/* Largest RSA modulus accepted in the runtime claims JWKs (bytes, 4096-bit). */
#define HCL_RSA_MODULUS_MAX             512
/* Largest RSA public exponent accepted in the runtime claims JWKs (bytes). */
#define HCL_RSA_EXPONENT_MAX            8

/* TCG PC Client event log (binary_bios_measurements). */
#define EVENTLOG_SIZE_MAX               (4 * 1024 * 1024)
#define EVENTLOG_EVENTS_MAX             8192
#define EVENTLOG_EVENT_SIZE_MAX         (1024 * 1024)
/* Hash algorithms in the Spec ID event and digests per event. */
#define EVENTLOG_DIGESTS_MAX            8

#endif
