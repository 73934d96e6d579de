/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/diag.h"
#include "daemon/policy.h"
#include "daemon/verdict.h"

static json_t *load_json(const char *rel)
{
        const char *top = getenv("top_srcdir");
        char path[4096];
        json_t *j;

        (void) snprintf(path, sizeof(path), "%s/%s", top ? top : ".", rel);
        j = json_load_file(path, 0, NULL);
        assert_non_null(j);
        return j;
}

static struct policy *load_policy(const char *rel)
{
        const char *top = getenv("top_srcdir");
        struct diag_list errs = {};
        struct policy *p = NULL;
        char path[4096];

        (void) snprintf(path, sizeof(path), "%s/%s", top ? top : ".", rel);
        assert_int_equal(policy_load(path, &p, &errs), 0);
        return p;
}

static void test_strings(void **state)
{
        static const char *const codes[] = {
                "policy-failed", "maa-refused", "maa-unreachable", "token-invalid", "token-expired",
                "tpm-error", "evidence-invalid", "no-verdict-yet", "too-old",
        };

        assert_string_equal(verdict_state_to_string(VERDICT_UNKNOWN), "unknown");
        assert_string_equal(verdict_state_to_string(VERDICT_TRUSTED), "trusted");
        assert_string_equal(verdict_state_to_string(VERDICT_UNTRUSTED), "untrusted");
        assert_null(verdict_state_to_string(_VERDICT_STATE_MAX));
        assert_int_equal(verdict_state_from_string("untrusted"), VERDICT_UNTRUSTED);
        assert_int_equal(verdict_state_from_string("Trusted"), _VERDICT_STATE_INVALID);
        assert_int_equal(verdict_state_from_string(NULL), _VERDICT_STATE_INVALID);
        for (int i = 0; i < _VERDICT_CODE_MAX; i++) {
                assert_string_equal(verdict_code_to_string(i), codes[i]);
                assert_int_equal(verdict_code_from_string(codes[i]), i);
        }
        assert_int_equal(verdict_code_from_string("nope"), _VERDICT_CODE_INVALID);
}

/* attestd's verdict for the real AzureGuest token, as the API will serve it. */
static void test_from_guest_claims(void **state)
{
        struct policy *p = load_policy("proto/policy-guest.json");
        json_t *claims = load_json("tests/data/claims-azureguest-aks-2022.json"), *doc = NULL, *token;
        struct policy_result *res = NULL;
        struct verdict *v = NULL;
        const time_t now = 1662584687 + 100;

        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_int_equal(verdict_from_claims(p, res, claims, now, &v), 0);
        assert_int_equal(v->state, VERDICT_TRUSTED);
        assert_string_equal(v->attestation_type, "sevsnpvm");
        assert_string_equal(v->vm_id, "D3FD4B09-37A3-40D5-8F2A-EA80762213CC");
        assert_int_equal(verdict_to_json(v, now, true, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "trusted");
        assert_string_equal(json_string_value(json_object_get(doc, "message")),
                            "Trusted: the token verified and every rule of policy 'azure-cvm-guest-default' passes.");
        assert_int_equal(json_array_size(json_object_get(doc, "reasons")), 0);
        assert_true(json_is_false(json_object_get(doc, "stale")));
        assert_int_equal(json_integer_value(json_object_get(doc, "age_seconds")), 100);
        assert_string_equal(json_string_value(json_object_get(doc, "attested_at")), "2022-09-07T21:04:47Z");
        assert_string_equal(json_string_value(json_object_get(doc, "expires_at")), "2022-09-08T05:04:47Z");
        assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "policy"), "name")),
                            "azure-cvm-guest-default");
        assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "policy"), "sha256")),
                            policy_get_sha256(p));
        token = json_object_get(doc, "token");
        assert_string_equal(json_string_value(json_object_get(token, "iss")), "https://sharedwus.wus.attest.azure.net");
        assert_string_equal(json_string_value(json_object_get(token, "jti")),
                            "a241cac19aae204ef52e39c2d6b5d2c70e1e2c1aeac4ad9bf86aa1781267adc4");
        assert_int_equal(json_integer_value(json_object_get(token, "iat")), 1662584687);
        assert_int_equal(json_integer_value(json_object_get(token, "exp")), 1662613487);
        json_decref(doc);
        /* without token fields */
        assert_int_equal(verdict_to_json(v, now, false, &doc), 0);
        assert_null(json_object_get(doc, "token"));
        json_decref(doc);
        verdict_free(v);
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
}

static void test_from_platform_claims(void **state)
{
        struct policy *p = load_policy("proto/policy-platform.json");
        json_t *claims = load_json("tests/data/claims-sevsnpvm-testinstance.json"), *doc = NULL;
        struct policy_result *res = NULL;
        struct verdict *v = NULL;

        json_object_set_new(claims, "x-ms-runtime",
                            json_pack("{s{ss}}", "vm-configuration", "vmUniqueId", "11111111-2222-3333-4444-555555555555"));
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_int_equal(verdict_from_claims(p, res, claims, 1744085700, &v), 0);
        assert_int_equal(v->state, VERDICT_UNTRUSTED);
        assert_string_equal(v->attestation_type, "sevsnpvm");
        assert_string_equal(v->vm_id, "11111111-2222-3333-4444-555555555555");
        assert_int_equal(verdict_to_json(v, 1744085700, false, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "untrusted");
        assert_string_equal(json_string_value(json_object_get(doc, "message")),
                            "Untrusted: azure-compliant: Microsoft deems the host a compliant confidential VM host "
                            "\xe2\x80\x94 expected /x-ms-compliance-status to equal \"azure-compliant-cvm\", "
                            "found nothing (the claim is missing).");
        assert_true(json_equal(json_object_get(doc, "reasons"), res->reasons));
        assert_int_equal(json_integer_value(json_object_get(doc, "age_seconds")), 0);
        json_decref(doc);
        verdict_free(v);
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
}

static void test_non_policy_reasons(void **state)
{
        struct verdict *v = verdict_new();
        json_t *doc = NULL, *expected;

        assert_int_equal(verdict_to_json(v, 1000, true, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "message")), "Unknown: no reason was recorded.");
        assert_true(json_is_null(json_object_get(doc, "age_seconds")));
        assert_true(json_is_null(json_object_get(doc, "attested_at")));
        assert_true(json_is_null(json_object_get(doc, "policy")));
        assert_true(json_is_null(json_object_get(json_object_get(doc, "token"), "jti")));
        json_decref(doc);

        assert_int_equal(verdict_add_reason(v, VERDICT_CODE_MAA_REFUSED, "MAA refused the evidence: %s", "HTTP 400"), 0);
        assert_int_equal(verdict_add_reason(v, VERDICT_CODE_TPM_ERROR, "the TPM is gone"), 0);
        assert_int_equal(verdict_add_reason(v, _VERDICT_CODE_MAX, "x"), -EINVAL);
        v->state = VERDICT_UNTRUSTED;
        expected = json_loads("[{\"code\": \"maa-refused\", \"rule\": null, \"claim\": null, \"expected\": null,"
                              "  \"actual\": null, \"message\": \"MAA refused the evidence: HTTP 400\"},"
                              " {\"code\": \"tpm-error\", \"rule\": null, \"claim\": null, \"expected\": null,"
                              "  \"actual\": null, \"message\": \"the TPM is gone\"}]", 0, NULL);
        assert_true(json_equal(v->reasons, expected));
        json_decref(expected);
        assert_int_equal(verdict_to_json(v, 1000, false, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "message")),
                            "Untrusted: MAA refused the evidence: HTTP 400 (and 1 more reason).");
        json_decref(doc);
        verdict_free(v);
}

static void test_max_age_and_stale(void **state)
{
        struct verdict *v = verdict_new(), *c = NULL;
        json_t *doc = NULL, *reason;

        v->state = VERDICT_TRUSTED;
        v->attested_at = 1000;
        v->policy.name = strdup("p");
        v->stale = true;
        assert_int_equal(verdict_to_json(v, 1300, false, &doc), 0);
        assert_string_equal(json_string_value(json_object_get(doc, "message")),
                            "Trusted: the token verified and every rule of policy 'p' passes "
                            "(stale: the last refresh failed; attested 300 s ago).");
        assert_true(json_is_true(json_object_get(doc, "stale")));
        json_decref(doc);

        assert_int_equal(verdict_dup(v, &c), 0);
        assert_int_equal(verdict_apply_max_age(c, 1300, 300), 0);
        assert_int_equal(c->state, VERDICT_TRUSTED);
        assert_int_equal(verdict_apply_max_age(c, 1300, 299), 1);
        assert_int_equal(c->state, VERDICT_UNKNOWN);
        reason = json_array_get(c->reasons, 0);
        assert_string_equal(json_string_value(json_object_get(reason, "code")), "too-old");
        assert_string_equal(json_string_value(json_object_get(reason, "message")),
                            "the trusted verdict is 300 s old, more than the max_age of 299 s asked for");
        /* the original is untouched */
        assert_int_equal(v->state, VERDICT_TRUSTED);
        assert_int_equal(json_array_size(v->reasons), 0);
        /* never widens: an untrusted or unknown verdict stays as it is */
        assert_int_equal(verdict_apply_max_age(c, 5000, 1), 0);
        assert_int_equal(json_array_size(c->reasons), 1);
        verdict_free(c);
        verdict_free(v);
}

static void test_rfc3339_bounds(void **state)
{
        struct verdict *v = verdict_new();
        json_t *doc = NULL;

        v->attested_at = (time_t) 253402300800LL;      /* year 10000: not representable */
        v->expires_at = 1;
        assert_int_equal(verdict_to_json(v, 0, false, &doc), 0);
        assert_true(json_is_null(json_object_get(doc, "attested_at")));
        assert_string_equal(json_string_value(json_object_get(doc, "expires_at")), "1970-01-01T00:00:01Z");
        json_decref(doc);
        verdict_free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_from_guest_claims),
                cmocka_unit_test(test_from_platform_claims),
                cmocka_unit_test(test_non_policy_reasons),
                cmocka_unit_test(test_max_age_and_stale),
                cmocka_unit_test(test_rfc3339_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
