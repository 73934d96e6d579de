/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_TESTS_BENCH_VERDICT_DOC_H
#define ATTESTD_TESTS_BENCH_VERDICT_DOC_H

/* A representative ~400-byte verdict document served by both benchmarks. */
#define BENCH_VERDICT_DOC                                                                       \
        "{\"verdict\":\"trusted\",\"stale\":false,\"age_seconds\":42,"                          \
        "\"attestation_type\":\"sevsnpvm\",\"issuer\":\"https://sharedeus2.eus2.attest.azure.net\"," \
        "\"token_exp\":1767225600,\"token_iat\":1767196800,\"last_refresh\":1767196800,"          \
        "\"next_refresh\":1767211200,\"policy_sha256\":"                                          \
        "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","                  \
        "\"reasons\":[],\"message\":\"all 6 policy rules passed\",\"node\":\"aks-cvm-0\"}"

#endif
