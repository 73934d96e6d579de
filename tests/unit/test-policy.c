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
#include "proto/b64.h"
#include "proto/jsonptr.h"

static const char *srcdir(void)
{
        const char *s = getenv("top_srcdir");
        return s ? s : ".";
}

static json_t *load_json(const char *rel)
{
        char path[4096];
        json_error_t jerr;
        json_t *j;

        (void) snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
        j = json_load_file(path, 0, &jerr);
        if (!j)
                fail_msg("cannot load %s: %s", path, jerr.text);
        return j;
}

static struct policy *load_policy(const char *rel)
{
        char path[4096];
        struct diag_list errs = {};
        struct policy *p = NULL;

        (void) snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
        assert_int_equal(policy_load(path, &p, &errs), 0);
        assert_int_equal(errs.n, 0);
        return p;
}

static struct policy *parse_ok(const char *text)
{
        struct diag_list errs = {};
        struct policy *p = NULL;

        if (policy_parse(text, strlen(text), "t.json", &p, &errs) < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        print_error("%s\n", errs.msgs[i]);
                fail_msg("policy did not load");
        }
        diag_list_done(&errs);
        return p;
}

/* One rule {"id": "r", "description": "d", <body>} against claims; the outcome. */
static enum policy_outcome eval_rule(const char *body, const char *claims_text, json_t **ret_reasons)
{
        char text[4096];
        struct policy *p;
        struct policy_result *res = NULL;
        json_t *claims = json_loads(claims_text, JSON_ALLOW_NUL, NULL);
        enum policy_outcome o;

        assert_non_null(claims);
        (void) snprintf(text, sizeof(text),
                        "{\"name\": \"t\", \"version\": 1, \"rules\": [{\"id\": \"r\", \"description\": \"d\", %s}]}",
                        body);
        p = parse_ok(text);
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_int_equal(res->n_pass + res->n_fail + res->n_skip, 1);
        assert_int_equal(json_array_size(res->rules), 1);
        assert_int_equal(json_array_size(res->reasons), res->n_fail);
        assert_true(res->pass == (res->n_fail == 0));
        o = res->n_pass ? POLICY_OUTCOME_PASS : res->n_fail ? POLICY_OUTCOME_FAIL : POLICY_OUTCOME_SKIP;
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->rules, 0), "outcome")),
                            policy_outcome_to_string(o));
        if (ret_reasons)
                *ret_reasons = json_incref(res->reasons);
        policy_result_free(res);
        policy_free(p);
        json_decref(claims);
        return o;
}

#define PASS POLICY_OUTCOME_PASS
#define FAIL POLICY_OUTCOME_FAIL
#define SKIP POLICY_OUTCOME_SKIP

static const char claims_doc[] =
        "{\"b\": true, \"f\": false, \"i\": 5, \"r\": 5.0, \"s\": \"sevsnpvm\", \"ts\": \"true\","
        " \"n\": null, \"o\": {\"k\": [1, 2]}, \"a\": [\"x\", 3, true], \"e\": \"\"}";

static void test_equals(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/b\", \"equals\": true", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/f\", \"equals\": true", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/ts\", \"equals\": true", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/b\", \"equals\": \"true\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"equals\": 5", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"equals\": 5.0", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/r\", \"equals\": 5", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/o\", \"equals\": {\"k\": [1, 2]}", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/o\", \"equals\": {\"k\": [2, 1]}", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/n\", \"equals\": null", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"equals\": null", claims_doc, NULL), FAIL);
}

static void test_not_equals(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"not_equals\": \"tdxvm\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"not_equals\": \"sevsnpvm\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"not_equals\": 5.0", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"not_equals\": 1", claims_doc, NULL), FAIL);
}

static void test_in_not_in(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"in\": [\"sevsnpvm\", \"tdxvm\"]", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"in\": [\"tdxvm\"]", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"in\": [5.0, \"5\"]", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"in\": [1]", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"not_in\": [\"tdxvm\"]", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"not_in\": [\"a\", \"sevsnpvm\"]", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"not_in\": [1]", claims_doc, NULL), FAIL);
}

static void test_gte_lte(void **state)
{
        json_t *reasons = NULL;

        assert_int_equal(eval_rule("\"claim\": \"/i\", \"gte\": 5", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"gte\": 6", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"gte\": 4.5", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/r\", \"gte\": 5", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/r\", \"lte\": 4", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"lte\": 5", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"lte\": -1", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"lte\": 1", claims_doc, NULL), FAIL);
        /* type mismatch: a string that looks like a number is not a number */
        assert_int_equal(eval_rule("\"claim\": \"/ts\", \"gte\": 0", claims_doc, &reasons), FAIL);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(reasons, 0), "message")),
                               "found \"true\", which is a string, not a number"));
        json_decref(reasons);
        assert_int_equal(eval_rule("\"claim\": \"/b\", \"lte\": 1", claims_doc, NULL), FAIL);
}

static void test_matches(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"matches\": \"^(sevsnp|tdx)vm$\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"matches\": \"snp\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"matches\": \"^snp$\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"matches\": \"^[a-z]{8}$\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"matches\": \"5\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"matches\": \".*\"", claims_doc, NULL), FAIL);
        /* a string holding a NUL byte never matches */
        assert_int_equal(eval_rule("\"claim\": \"/z\", \"matches\": \"^a\"", "{\"z\": \"a\\u0000b\"}", NULL), FAIL);
}

static void test_exists(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/n\", \"exists\": true", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"exists\": true", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"exists\": false", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/b\", \"exists\": false", claims_doc, NULL), FAIL);
}

static void test_contains(void **state)
{
        assert_int_equal(eval_rule("\"claim\": \"/a\", \"contains\": \"x\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/a\", \"contains\": 3", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/a\", \"contains\": 3.0", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/a\", \"contains\": \"y\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"contains\": \"snp\"", claims_doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"contains\": \"tdx\"", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"contains\": 1", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/i\", \"contains\": 5", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"claim\": \"/missing\", \"contains\": 5", claims_doc, NULL), FAIL);
}

static void test_when(void **state)
{
        static const char rule[] = "\"when\": {\"claim\": \"/s\", \"equals\": \"sevsnpvm\"}, "
                                   "\"claim\": \"/f\", \"equals\": %s";
        char body[256];

        (void) snprintf(body, sizeof(body), rule, "false");
        assert_int_equal(eval_rule(body, claims_doc, NULL), PASS);
        (void) snprintf(body, sizeof(body), rule, "true");
        assert_int_equal(eval_rule(body, claims_doc, NULL), FAIL);
        /* the condition does not hold: skipped, even though the check would fail */
        assert_int_equal(eval_rule("\"when\": {\"claim\": \"/s\", \"equals\": \"tdxvm\"}, "
                                   "\"claim\": \"/f\", \"equals\": true", claims_doc, NULL), SKIP);
        /* its claim is missing: skipped */
        assert_int_equal(eval_rule("\"when\": {\"claim\": \"/nope\", \"not_equals\": 1}, "
                                   "\"claim\": \"/f\", \"equals\": true", claims_doc, NULL), SKIP);
        /* exists: false in a when holds for a missing claim */
        assert_int_equal(eval_rule("\"when\": {\"claim\": \"/nope\", \"exists\": false}, "
                                   "\"claim\": \"/f\", \"equals\": true", claims_doc, NULL), FAIL);
        assert_int_equal(eval_rule("\"when\": {\"claim\": \"/i\", \"gte\": 3}, "
                                   "\"claim\": \"/a/2\", \"equals\": true", claims_doc, NULL), PASS);
}

static void test_pointers(void **state)
{
        static const char doc[] = "{\"a/b\": {\"m~n\": 1, \"\": 2}, \"arr\": [10, 20], \"01\": {\"0\": 3}}";

        assert_int_equal(eval_rule("\"claim\": \"/a~1b/m~0n\", \"equals\": 1", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/a~1b/\", \"equals\": 2", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/1\", \"equals\": 20", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/0\", \"equals\": 10", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/01/0\", \"equals\": 3", doc, NULL), PASS);
        /* leading zeros, '-', out of range, non-numbers and scalars resolve to nothing */
        assert_int_equal(eval_rule("\"claim\": \"/arr/01\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/-\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/2\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/x\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/0/x\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/arr/99999999999999999999999\", \"exists\": false", doc, NULL), PASS);
        assert_int_equal(eval_rule("\"claim\": \"/a~1b/m~1n\", \"exists\": false", doc, NULL), PASS);
}

static void test_jsonptr(void **state)
{
        json_t *doc = json_loads("{\"~\": {\"/\": [1, {\"\": 7}]}}", 0, NULL), *v = NULL;
        struct err e = {};

        assert_int_equal(jsonptr_get(doc, "", &v), 0);
        assert_ptr_equal(v, doc);
        assert_int_equal(jsonptr_get(doc, "/~0/~1/1/", &v), 0);
        assert_int_equal(json_integer_value(v), 7);
        assert_int_equal(jsonptr_get(doc, "/~0/~1/2", &v), -ENOENT);
        assert_int_equal(jsonptr_get(doc, "~0", &v), -EINVAL);
        assert_int_equal(jsonptr_validate("/a~2", &e), -EINVAL);
        assert_non_null(strstr(e.msg, "'~' at offset 2"));
        assert_int_equal(jsonptr_validate("/a~", &e), -EINVAL);
        assert_int_equal(jsonptr_validate("a", &e), -EINVAL);
        assert_int_equal(jsonptr_validate("/a~0~1", &e), 0);
        json_decref(doc);
}

static bool has(const struct diag_list *errs, const char *needle)
{
        for (size_t i = 0; i < errs->n; i++)
                if (strstr(errs->msgs[i], needle))
                        return true;
        return false;
}

static void test_load_errors_collected(void **state)
{
        static const char text[] =
                "{\n"
                "  \"name\": \"bad\",\n"
                "  \"version\": -1,\n"
                "  \"extra\": 1,\n"
                "  \"rules\": [\n"
                "    {\"id\": \"Bad_Id\", \"description\": \"d\", \"claim\": \"/a\", \"equals\": 1},\n"
                "    {\"id\": \"dup\", \"description\": \"d\", \"claim\": \"/a\", \"equals\": 1},\n"
                "    {\"id\": \"dup\", \"description\": \"d\", \"claim\": \"/a\", \"equals\": 1, \"in\": [1]},\n"
                "    {\"id\": \"no-op\", \"description\": \"d\", \"claim\": \"/a\"},\n"
                "    {\"id\": \"unknown-key\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": true, \"equal\": 1},\n"
                "    {\"id\": \"bad-ptr\", \"description\": \"d\", \"claim\": \"a/b\", \"exists\": true},\n"
                "    {\"id\": \"bad-escape\", \"description\": \"d\", \"claim\": \"/a~2\", \"exists\": true},\n"
                "    {\"id\": \"in-not-array\", \"description\": \"d\", \"claim\": \"/a\", \"in\": 1},\n"
                "    {\"id\": \"in-empty\", \"description\": \"d\", \"claim\": \"/a\", \"not_in\": []},\n"
                "    {\"id\": \"gte-string\", \"description\": \"d\", \"claim\": \"/a\", \"gte\": \"1\"},\n"
                "    {\"id\": \"bad-regex\", \"description\": \"d\", \"claim\": \"/a\", \"matches\": \"(\"},\n"
                "    {\"id\": \"backref\", \"description\": \"d\", \"claim\": \"/a\", \"matches\": \"(a)\\\\1\"},\n"
                "    {\"id\": \"huge-repeat\", \"description\": \"d\", \"claim\": \"/a\", \"matches\": \"a{1000}\"},\n"
                "    {\"id\": \"nested-repeat\", \"description\": \"d\", \"claim\": \"/a\", \"matches\": \"((a{200}){200}){200}\"},\n"
                "    {\"id\": \"exists-string\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": \"yes\"},\n"
                "    {\"id\": \"no-description\", \"claim\": \"/a\", \"exists\": true},\n"
                "    {\"description\": \"d\", \"claim\": \"/a\", \"exists\": true},\n"
                "    {\"id\": \"no-claim\", \"description\": \"d\", \"exists\": true},\n"
                "    {\"id\": \"when-bad\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": true,\n"
                "     \"when\": {\"claim\": \"/b\", \"equals\": 1, \"description\": \"x\"}},\n"
                "    {\"id\": \"when-no-op\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": true,\n"
                "     \"when\": {\"claim\": \"/b\"}},\n"
                "    {\"id\": \"when-scalar\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": true, \"when\": 1},\n"
                "    {\"id\": \"root-ptr\", \"description\": \"d\", \"claim\": \"\", \"exists\": true},\n"
                "    {\"id\": \"\", \"description\": 5, \"claim\": 1, \"exists\": true},\n"
                "    7\n"
                "  ]\n"
                "}\n";
        struct diag_list errs = {};
        struct policy *p = NULL;

        assert_int_equal(policy_parse(text, strlen(text), "bad.json", &p, &errs), -EINVAL);
        assert_null(p);
        for (size_t i = 0; i < errs.n; i++)
                print_message("%s\n", errs.msgs[i]);
        assert_true(has(&errs, "bad.json:3:3: /version: policy: 'version' takes a non-negative integer"));
        assert_true(has(&errs, "bad.json:4:3: /extra: policy: unknown key 'extra'"));
        assert_true(has(&errs, "bad.json:6:6: /rules/0/id: rule #0: id 'Bad_Id' may only use a-z, 0-9 and '-'"));
        assert_true(has(&errs, "/rules/2/id: rule #2: id 'dup' is already used by rule #1"));
        assert_true(has(&errs, "/rules/2/in: rule 'dup': more than one operator ('equals' and 'in')"));
        assert_true(has(&errs, "/rules/3: rule 'no-op': no operator"));
        assert_true(has(&errs, "/rules/4/equal: rule 'unknown-key': unknown key 'equal'"));
        assert_true(has(&errs, "/rules/5/claim: rule 'bad-ptr': 'a/b' is not a JSON pointer"));
        assert_true(has(&errs, "/rules/6/claim: rule 'bad-escape': '/a~2' is not a JSON pointer"));
        assert_true(has(&errs, "/rules/7/in: rule 'in-not-array': 'in' takes a non-empty array"));
        assert_true(has(&errs, "/rules/8/not_in: rule 'in-empty': 'not_in' takes a non-empty array"));
        assert_true(has(&errs, "/rules/9/gte: rule 'gte-string': 'gte' takes a number"));
        assert_true(has(&errs, "/rules/10/matches: rule 'bad-regex': invalid extended regular expression"));
        assert_true(has(&errs, "/rules/11/matches: rule 'backref': pattern refused: back-references"));
        assert_true(has(&errs, "/rules/12/matches: rule 'huge-repeat': pattern refused: repetition bound 1000"));
        assert_true(has(&errs, "/rules/13/matches: rule 'nested-repeat': pattern refused: the pattern expands"));
        assert_true(has(&errs, "/rules/14/exists: rule 'exists-string': 'exists' takes true or false"));
        assert_true(has(&errs, "/rules/15: rule 'no-description': 'description' is missing"));
        assert_true(has(&errs, "/rules/16: rule #16: 'id' is missing"));
        assert_true(has(&errs, "/rules/17: rule 'no-claim': 'claim' is missing"));
        assert_true(has(&errs, "/rules/18/when/description: rule 'when-bad': unknown key 'description' in 'when'"));
        assert_true(has(&errs, "/rules/19/when: rule 'when-no-op': 'when': no operator"));
        assert_true(has(&errs, "/rules/20/when: rule 'when-scalar': 'when' takes an object"));
        assert_true(has(&errs, "/rules/21/claim: rule 'root-ptr': must be a non-empty string"));
        assert_true(has(&errs, "/rules/22/id: rule #22: must be a non-empty string"));
        assert_true(has(&errs, "/rules/22/description: rule #22: expected a string"));
        assert_true(has(&errs, "/rules/22/claim: rule #22: expected a string"));
        assert_true(has(&errs, "/rules/23: rule #23: expected an object"));
        diag_list_done(&errs);
}

static void test_load_errors_document(void **state)
{
        static const struct {
                const char *text, *needle;
                int r;
        } cases[] = {
                { "", "t.json:1:0:", -EINVAL },
                { "[1]", "the policy must be a JSON object", -EINVAL },
                { "{\"name\": \"a\", \"name\": \"b\"}", "duplicate", -EINVAL },
                { "{}", "'name' is missing", -EINVAL },
                { "{}", "'version' is missing", -EINVAL },
                { "{}", "'rules' is missing", -EINVAL },
                { "{\"name\": \"n\", \"version\": 1, \"rules\": []}", "'rules' takes an array of 1 to", -EINVAL },
                { "{\"name\": \"\", \"version\": 1.5, \"rules\": {}}", "/name: policy: must be a non-empty string", -EINVAL },
                { "{\"name\": \"n\", \"version\": 1, \"rules\": [{\"id\": \"r\", \"description\": \"d\", "
                  "\"claim\": \"/a\", \"matches\": \"ab++\"}]}", "repetition operators may not follow one another", -EINVAL },
                { "{\"name\": \"n\", \"version\": 1, \"rules\": [{\"id\": \"r\", \"description\": \"d\", "
                  "\"claim\": \"/a\", \"matches\": \"((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)\"}]}", "the pattern expands", -EINVAL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct diag_list errs = {};
                struct policy *p = NULL;

                assert_int_equal(policy_parse(cases[i].text, strlen(cases[i].text), "t.json", &p, &errs), cases[i].r);
                if (!has(&errs, cases[i].needle)) {
                        for (size_t k = 0; k < errs.n; k++)
                                print_error("%s\n", errs.msgs[k]);
                        fail_msg("case %zu: no error containing '%s'", i, cases[i].needle);
                }
                diag_list_done(&errs);
        }
}

static void test_load_bounds(void **state)
{
        struct diag_list errs = {};
        struct policy *p = NULL;
        size_t cap = 2 * 1024 * 1024, n;
        char *text = malloc(cap);

        /* too many rules */
        n = (size_t) snprintf(text, cap, "{\"name\": \"n\", \"version\": 1, \"rules\": [");
        for (int i = 0; i <= 256; i++)
                n += (size_t) snprintf(text + n, cap - n, "%s{\"id\": \"r%d\", \"description\": \"d\", \"claim\": \"/a\", \"exists\": true}",
                                       i ? "," : "", i);
        n += (size_t) snprintf(text + n, cap - n, "]}");
        assert_int_equal(policy_parse(text, n, "t.json", &p, &errs), -EINVAL);
        assert_true(has(&errs, "'rules' takes an array of 1 to 256 rules"));
        diag_list_done(&errs);
        /* too big a document */
        memset(text, ' ', cap);
        assert_int_equal(policy_parse(text, cap, "t.json", &p, &errs), -E2BIG);
        assert_true(has(&errs, "more than the 262144 allowed"));
        diag_list_done(&errs);
        /* too long a pointer */
        n = (size_t) snprintf(text, cap, "{\"name\": \"n\", \"version\": 1, \"rules\": [{\"id\": \"r\", \"description\": \"d\", \"claim\": \"/");
        memset(text + n, 'a', 600);
        n += 600;
        n += (size_t) snprintf(text + n, cap - n, "\", \"exists\": true}]}");
        assert_int_equal(policy_parse(text, n, "t.json", &p, &errs), -EINVAL);
        assert_true(has(&errs, "must be a non-empty string of at most 512 bytes"));
        diag_list_done(&errs);
        /* the number of messages is bounded */
        n = (size_t) snprintf(text, cap, "{\"name\": \"n\", \"version\": 1, \"rules\": [");
        for (int i = 0; i < 200; i++)
                n += (size_t) snprintf(text + n, cap - n, "%s{\"id\": \"x\"}", i ? "," : "");
        n += (size_t) snprintf(text + n, cap - n, "]}");
        assert_int_equal(policy_parse(text, n, "t.json", &p, &errs), -EINVAL);
        assert_int_equal(errs.n, 101);
        assert_true(has(&errs, "more than 100 errors"));
        diag_list_done(&errs);
        free(text);
}

static void test_sha256_and_accessors(void **state)
{
        static const char text[] =
                "{\"name\":\"n\",\"version\":1,\"rules\":[{\"id\":\"a\",\"description\":\"d\",\"claim\":\"/x\",\"exists\":true}]}";
        struct policy *p = parse_ok(text);

        assert_string_equal(policy_get_sha256(p), "8e9181c0832303554ff76ddf36d0ec5f0468f4761c539900ba54b559ace7b91c");
        assert_string_equal(policy_get_name(p), "n");
        assert_int_equal(policy_get_version(p), 1);
        assert_int_equal(policy_get_n_rules(p), 1);
        policy_free(p);
        p = load_policy("proto/policy-guest.json");
        assert_string_equal(policy_get_sha256(p), "aa42b6401c5aaa8f2e86f2deba80f8504646201e926565e6a8d41229fe4bc2ad");
        policy_free(p);
        assert_string_equal(policy_op_to_string(POLICY_OP_NOT_IN), "not_in");
        assert_int_equal(policy_op_from_string("contains"), POLICY_OP_CONTAINS);
        assert_int_equal(policy_op_from_string("equal"), _POLICY_OP_INVALID);
        assert_null(policy_op_to_string(_POLICY_OP_MAX));
}

/* The exact reason shape, for the example in the design brief. */
static void test_reason_shape(void **state)
{
        struct policy *p = load_policy("proto/policy-guest.json");
        json_t *claims = load_json("tests/data/claims-azureguest-aks-2022.json"), *expected;
        struct policy_result *res = NULL;

        json_object_set_new(claims, "secureboot", json_false());
        json_object_del(json_object_get(claims, "x-ms-isolation-tee"), "x-ms-compliance-status");
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_false(res->pass);
        assert_int_equal(res->n_fail, 2);
        expected = json_loads(
                "[{\"code\": \"policy-failed\", \"rule\": \"azure-compliant\","
                "  \"claim\": \"/x-ms-isolation-tee/x-ms-compliance-status\","
                "  \"expected\": {\"equals\": \"azure-compliant-cvm\"}, \"actual\": null,"
                "  \"message\": \"azure-compliant: Microsoft deems the host a compliant confidential VM host \xe2\x80\x94 "
                "expected /x-ms-isolation-tee/x-ms-compliance-status to equal \\\"azure-compliant-cvm\\\", "
                "found nothing (the claim is missing)\"},"
                " {\"code\": \"policy-failed\", \"rule\": \"secure-boot\", \"claim\": \"/secureboot\","
                "  \"expected\": {\"equals\": true}, \"actual\": false,"
                "  \"message\": \"secure-boot: UEFI Secure Boot is on \xe2\x80\x94 expected /secureboot to equal true, found false\"}]",
                0, NULL);
        assert_non_null(expected);
        assert_true(json_equal(res->reasons, expected));
        /* key order is part of the shape */
        {
                const char *order[] = { "code", "rule", "claim", "expected", "actual", "message" };
                void *it = json_object_iter(json_array_get(res->reasons, 0));
                for (size_t i = 0; i < 6; i++, it = json_object_iter_next(json_array_get(res->reasons, 0), it))
                        assert_string_equal(json_object_iter_key(it), order[i]);
                assert_null(it);
        }
        json_decref(expected);
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
}

static void test_long_values_cut_in_message(void **state)
{
        json_t *reasons = NULL;
        char claims[1024] = "{\"s\": \"";

        memset(claims + 7, 'x', 600);
        strcpy(claims + 607, "\"}");
        assert_int_equal(eval_rule("\"claim\": \"/s\", \"equals\": \"y\"", claims, &reasons), FAIL);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(reasons, 0), "message")), "..."));
        assert_int_equal(json_string_length(json_object_get(json_array_get(reasons, 0), "actual")), 600);
        json_decref(reasons);
        /* JSON text just past the cut (161 and 162 bytes) */
        for (size_t extra = 1; extra <= 2; extra++) {
                memset(claims, 0, sizeof(claims));
                strcpy(claims, "{\"s\": \"");
                memset(claims + 7, 'x', 158 + extra);
                strcat(claims, "\"}");
                assert_int_equal(eval_rule("\"claim\": \"/s\", \"equals\": \"y\"", claims, &reasons), FAIL);
                assert_non_null(strstr(json_string_value(json_object_get(json_array_get(reasons, 0), "message")),
                                       "found \"xxxxxxxx"));
                assert_non_null(strstr(json_string_value(json_object_get(json_array_get(reasons, 0), "message")), "x..."));
                json_decref(reasons);
        }
}

static void test_guest_default_vs_real_token(void **state)
{
        struct policy *p = load_policy("proto/policy-guest.json");
        json_t *claims = load_json("tests/data/claims-azureguest-aks-2022.json");
        struct policy_result *res = NULL;

        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_true(res->pass);
        assert_int_equal(res->n_pass, 5);
        assert_int_equal(res->n_skip, 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->rules, 5), "rule")), "tdx-not-debuggable");
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->rules, 5), "outcome")), "skip");
        assert_int_equal(json_array_size(res->reasons), 0);
        policy_result_free(res);
        /* the same token made debuggable fails exactly that rule */
        json_object_set_new(json_object_get(claims, "x-ms-isolation-tee"), "x-ms-sevsnpvm-is-debuggable", json_true());
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_false(res->pass);
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->reasons, 0), "rule")),
                            "snp-not-debuggable");
        policy_result_free(res);
        /* a TDX guest: the SNP rule is skipped, the TDX one applies */
        json_object_set_new(json_object_get(claims, "x-ms-isolation-tee"), "x-ms-attestation-type", json_string("tdxvm"));
        json_object_set_new(json_object_get(claims, "x-ms-isolation-tee"), "tdx_td_attributes_debug", json_false());
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_true(res->pass);
        assert_int_equal(res->n_skip, 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->rules, 4), "outcome")), "skip");
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
}

static void test_platform_default_vs_real_token(void **state)
{
        struct policy *p = load_policy("proto/policy-platform.json");
        json_t *claims = load_json("tests/data/claims-sevsnpvm-testinstance.json");
        struct policy_result *res = NULL;

        /* The MAA test instance's token has no x-ms-compliance-status: untrusted on that rule alone. */
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_false(res->pass);
        assert_int_equal(res->n_fail, 1);
        assert_int_equal(res->n_pass, 2);
        assert_int_equal(res->n_skip, 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->reasons, 0), "rule")), "azure-compliant");
        assert_true(json_is_null(json_object_get(json_array_get(res->reasons, 0), "actual")));
        policy_result_free(res);
        /* with the claim a production instance adds, it passes */
        json_object_set_new(claims, "x-ms-compliance-status", json_string("azure-compliant-cvm"));
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_true(res->pass);
        policy_result_free(res);
        /* a TDX platform token with the debug attribute set fails */
        json_object_set_new(claims, "x-ms-attestation-type", json_string("tdxvm"));
        json_object_set_new(claims, "tdx_td_attributes_debug", json_true());
        assert_int_equal(policy_eval(p, claims, &res), 0);
        assert_false(res->pass);
        assert_string_equal(json_string_value(json_object_get(json_array_get(res->reasons, 0), "rule")), "tdx-not-debuggable");
        policy_result_free(res);
        json_decref(claims);
        policy_free(p);
}

/* tests/data claims are exactly the fixtures' payloads. */
static void test_data_matches_fixtures(void **state)
{
        static const char *const names[] = { "azureguest-aks-2022", "sevsnpvm-testinstance" };
        const char *dir = getenv("ATTESTD_FIXTURES");

        if (!dir || !*dir)
                skip();
        for (size_t i = 0; i < 2; i++) {
                char path[4096], rel[256], buf[8192], *dot1, *dot2;
                uint8_t *payload = NULL;
                size_t len, plen = 0;
                json_t *a, *b;
                FILE *f;

                (void) snprintf(path, sizeof(path), "%s/maa/%s.jwt", dir, names[i]);
                f = fopen(path, "r");
                if (!f)
                        skip();
                len = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[len] = '\0';
                dot1 = strchr(buf, '.');
                assert_non_null(dot1);
                dot2 = strchr(dot1 + 1, '.');
                assert_non_null(dot2);
                assert_int_equal(b64_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), B64_URL, &payload, &plen), 0);
                a = json_loadb((const char *) payload, plen, 0, NULL);
                (void) snprintf(rel, sizeof(rel), "tests/data/claims-%s.json", names[i]);
                b = load_json(rel);
                assert_true(json_equal(a, b));
                json_decref(a);
                json_decref(b);
                free(payload);
        }
}

static void test_eval_rejects_non_object(void **state)
{
        struct policy *p = load_policy("proto/policy-guest.json");
        struct policy_result *res = NULL;
        json_t *arr = json_array();

        assert_int_equal(policy_eval(p, arr, &res), -EINVAL);
        assert_null(res);
        json_decref(arr);
        policy_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_equals),
                cmocka_unit_test(test_not_equals),
                cmocka_unit_test(test_in_not_in),
                cmocka_unit_test(test_gte_lte),
                cmocka_unit_test(test_matches),
                cmocka_unit_test(test_exists),
                cmocka_unit_test(test_contains),
                cmocka_unit_test(test_when),
                cmocka_unit_test(test_pointers),
                cmocka_unit_test(test_jsonptr),
                cmocka_unit_test(test_load_errors_collected),
                cmocka_unit_test(test_load_errors_document),
                cmocka_unit_test(test_load_bounds),
                cmocka_unit_test(test_sha256_and_accessors),
                cmocka_unit_test(test_reason_shape),
                cmocka_unit_test(test_long_values_cut_in_message),
                cmocka_unit_test(test_guest_default_vs_real_token),
                cmocka_unit_test(test_platform_default_vs_real_token),
                cmocka_unit_test(test_data_matches_fixtures),
                cmocka_unit_test(test_eval_rejects_non_object),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
