/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/defaults.h"
#include "daemon/diag.h"
#include "daemon/policy.h"
#include "daemon/xalloc.h"
#include "proto/jsonptr.h"

struct cond {
        char *claim;            /* JSON pointer */
        enum policy_op op;
        json_t *operand;        /* owned reference */
        regex_t re;             /* POLICY_OP_MATCHES only */
        bool has_re;
};

struct rule {
        char *id;
        char *description;
        struct cond test;
        struct cond when;
        bool has_when;
};

struct policy {
        char *name;
        int64_t version;
        struct rule *rules;
        size_t n_rules;
        char sha256[SHA256_HEX_LEN + 1];
};

static const char *const op_table[_POLICY_OP_MAX] = {
        [POLICY_OP_EQUALS] = "equals",
        [POLICY_OP_NOT_EQUALS] = "not_equals",
        [POLICY_OP_IN] = "in",
        [POLICY_OP_NOT_IN] = "not_in",
        [POLICY_OP_GTE] = "gte",
        [POLICY_OP_LTE] = "lte",
        [POLICY_OP_MATCHES] = "matches",
        [POLICY_OP_EXISTS] = "exists",
        [POLICY_OP_CONTAINS] = "contains",
};

static const char *const outcome_table[_POLICY_OUTCOME_MAX] = {
        [POLICY_OUTCOME_PASS] = "pass",
        [POLICY_OUTCOME_FAIL] = "fail",
        [POLICY_OUTCOME_SKIP] = "skip",
};

const char *policy_op_to_string(enum policy_op op)
{
        return op >= 0 && op < _POLICY_OP_MAX ? op_table[op] : NULL;
}

enum policy_op policy_op_from_string(const char *s)
{
        for (int i = 0; s && i < _POLICY_OP_MAX; i++)
                if (strcmp(s, op_table[i]) == 0)
                        return i;
        return _POLICY_OP_INVALID;
}

const char *policy_outcome_to_string(enum policy_outcome o)
{
        return o >= 0 && o < _POLICY_OUTCOME_MAX ? outcome_table[o] : NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void cond_done(struct cond *c)
{
        free(c->claim);
        json_decref(c->operand);
        if (c->has_re)
                regfree(&c->re);
        *c = (struct cond) {};
}

struct policy *policy_free(struct policy *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++) {
                free(p->rules[i].id);
                free(p->rules[i].description);
                cond_done(&p->rules[i].test);
                cond_done(&p->rules[i].when);
        }
        free(p->rules);
        free(p->name);
        free(p);
        return NULL;
}

const char *policy_get_name(const struct policy *p)
{
        return p->name;
}

const char *policy_get_sha256(const struct policy *p)
{
        return p->sha256;
}

int64_t policy_get_version(const struct policy *p)
{
        return p->version;
}

size_t policy_get_n_rules(const struct policy *p)
{
        return p->n_rules;
}

/* ---- loading ------------------------------------------------------------ */

/*
 * Bound what regcomp() will build: back-references (exponential matching)
 * are refused, and the pattern's size with every {m,n} expanded (glibc
 * copies the repeated atom) must stay below POLICY_REGEX_EXPANDED_MAX.
 */
static int regex_check(const char *re, char *why, size_t whylen)
{
        size_t cur[33] = { 0 }, last[33] = { 0 };
        int depth = 0;
        bool repeated = false;  /* the previous token was a repetition */

        for (const char *p = re; *p; p++) {
                size_t atom = 1, factor = 1;

                switch (*p) {
                case '\\':
                        if (p[1] >= '1' && p[1] <= '9') {
                                (void) snprintf(why, whylen, "back-references such as '\\%c' are not allowed", p[1]);
                                return -EINVAL;
                        }
                        if (p[1])
                                p++;
                        break;
                case '[':
                        p++;
                        if (*p == '^')
                                p++;
                        if (*p == ']')
                                p++;
                        while (*p && *p != ']') {
                                if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
                                        char close = p[1];
                                        p += 2;
                                        while (*p && !(*p == close && p[1] == ']'))
                                                p++;
                                        if (*p)
                                                p++;
                                }
                                if (*p)
                                        p++;
                        }
                        if (!*p) {
                                (void) snprintf(why, whylen, "unterminated bracket expression");
                                return -EINVAL;
                        }
                        break;
                case '(':
                        if (depth == 32) {
                                (void) snprintf(why, whylen, "groups nested more than 32 deep");
                                return -EINVAL;
                        }
                        depth++;
                        cur[depth] = last[depth] = 0;
                        repeated = false;
                        continue;
                case ')':
                        if (depth == 0)
                                break;
                        atom = cur[depth] + 2;
                        depth--;
                        break;
                case '|':
                        repeated = false;
                        continue;
                case '*':
                case '+':
                case '?':
                case '{': {
                        unsigned long bound = 0, n;
                        char *end;

                        if (*p == '{' && (p[1] < '0' || p[1] > '9'))
                                break;
                        if (repeated) {
                                /* glibc copies the operand tree per operator: "a++++" is exponential */
                                (void) snprintf(why, whylen, "repetition operators may not follow one another");
                                return -EINVAL;
                        }
                        repeated = true;
                        if (*p != '{') {
                                factor = *p == '+' ? 2 : 1;     /* "a+" is built as "aa*" */
                                goto multiply;
                        }
                        for (const char *q = p + 1; *q >= '0' && *q <= '9'; q = end + (*end == ',')) {
                                n = strtoul(q, &end, 10);
                                if (n > POLICY_REGEX_REPEAT_MAX) {
                                        (void) snprintf(why, whylen, "repetition bound %lu is more than %d",
                                                        n, POLICY_REGEX_REPEAT_MAX);
                                        return -EINVAL;
                                }
                                bound = n > bound ? n : bound;
                                p = end - 1;
                        }
                        factor = bound ? bound : 1;
                multiply:
                        cur[depth] -= last[depth];
                        last[depth] *= factor;
                        cur[depth] += last[depth];
                        if (cur[depth] > POLICY_REGEX_EXPANDED_MAX)
                                goto too_big;
                        continue;
                }
                default:
                        break;
                }
                repeated = false;
                last[depth] = atom;
                cur[depth] += atom;
                if (cur[depth] > POLICY_REGEX_EXPANDED_MAX)
                        goto too_big;
        }
        return 0;
too_big:
        (void) snprintf(why, whylen, "the pattern expands to more than %d elements", POLICY_REGEX_EXPANDED_MAX);
        return -EINVAL;
}

struct loader {
        struct diag d;
        const char *label;      /* "rule 'ID'" or "rule #I" */
};

static bool id_ok(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
                        return false;
        return true;
}

/* A string member: returns it (borrowed) or NULL after reporting. */
static const char *get_string(struct loader *l, json_t *v, const char *ptr, size_t max)
{
        const char *s;

        if (!json_is_string(v)) {
                diag_at(&l->d, ptr, "%s: expected a string", l->label);
                return NULL;
        }
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v) || s[0] == '\0' || strlen(s) > max) {
                diag_at(&l->d, ptr, "%s: must be a non-empty string of at most %zu bytes without NUL",
                        l->label, max);
                return NULL;
        }
        return s;
}

static void load_operand(struct loader *l, struct cond *c, json_t *v, const char *ptr)
{
        switch (c->op) {
        case POLICY_OP_EQUALS:
        case POLICY_OP_NOT_EQUALS:
        case POLICY_OP_CONTAINS:
                break;
        case POLICY_OP_IN:
        case POLICY_OP_NOT_IN:
                if (!json_is_array(v) || json_array_size(v) == 0 ||
                    json_array_size(v) > POLICY_OPERAND_ITEMS_MAX) {
                        diag_at(&l->d, ptr, "%s: '%s' takes a non-empty array of at most %d values",
                                l->label, op_table[c->op], POLICY_OPERAND_ITEMS_MAX);
                        return;
                }
                break;
        case POLICY_OP_GTE:
        case POLICY_OP_LTE:
                if (!json_is_number(v)) {
                        diag_at(&l->d, ptr, "%s: '%s' takes a number", l->label, op_table[c->op]);
                        return;
                }
                break;
        case POLICY_OP_EXISTS:
                if (!json_is_boolean(v)) {
                        diag_at(&l->d, ptr, "%s: 'exists' takes true or false", l->label);
                        return;
                }
                break;
        case POLICY_OP_MATCHES: {
                const char *s = get_string(l, v, ptr, POLICY_REGEX_MAX);
                char why[160];
                int r;

                if (!s)
                        return;
                if (regex_check(s, why, sizeof(why)) < 0) {
                        diag_at(&l->d, ptr, "%s: pattern refused: %s", l->label, why);
                        return;
                }
                r = regcomp(&c->re, s, REG_EXTENDED | REG_NOSUB);
                if (r != 0) {
                        regerror(r, &c->re, why, sizeof(why));
                        diag_at(&l->d, ptr, "%s: invalid extended regular expression: %s", l->label, why);
                        return;
                }
                c->has_re = true;
                break;
        }
        default:
                return;
        }
        c->operand = json_incref(v);
}

/*
 * Read the claim and the one operator of a condition at obj (pointer base).
 * For a rule, "id", "description" and "when" are left to the caller.
 */
static void load_cond(struct loader *l, json_t *obj, const char *base, bool is_when, struct cond *c)
{
        const char *key, *first_op = NULL;
        bool have_claim = false;
        json_t *v;
        char ptr[POLICY_POINTER_MAX + 64];
        unsigned n_ops = 0;

        c->op = _POLICY_OP_INVALID;
        json_object_foreach(obj, key, v) {
                enum policy_op op = policy_op_from_string(key);

                (void) snprintf(ptr, sizeof(ptr), "%s/%s", base, key);
                if (op >= 0) {
                        if (n_ops++ == 0) {
                                first_op = key;
                                c->op = op;
                                load_operand(l, c, v, ptr);
                        } else {
                                diag_at(&l->d, ptr, "%s: more than one operator ('%s' and '%s'); "
                                        "write one rule per check", l->label, first_op, key);
                        }
                } else if (strcmp(key, "claim") == 0) {
                        const char *s = get_string(l, v, ptr, POLICY_POINTER_MAX);
                        struct err e = {};

                        have_claim = true;
                        if (s && jsonptr_validate(s, &e) < 0)
                                diag_at(&l->d, ptr, "%s: '%s' is not a JSON pointer: %s", l->label, s, e.msg);
                        else if (s)
                                c->claim = xstrdup(s);
                } else if (is_when || (strcmp(key, "id") != 0 && strcmp(key, "description") != 0 &&
                                       strcmp(key, "when") != 0)) {
                        diag_at(&l->d, ptr, "%s: unknown key '%s'%s", l->label, key,
                                is_when ? " in 'when' (it takes 'claim' and one operator)" : "");
                }
        }
        if (!have_claim)
                diag_at(&l->d, base, "%s: %s'claim' is missing", l->label, is_when ? "'when': " : "");
        if (n_ops == 0)
                diag_at(&l->d, base, "%s: %sno operator (one of equals, not_equals, in, not_in, gte, lte, "
                        "matches, exists, contains)", l->label, is_when ? "'when': " : "");
}

static void load_rule(struct loader *l, struct policy *p, json_t *obj, size_t idx)
{
        struct rule *rule = &p->rules[idx];
        char base[64], ptr[128], label[POLICY_NAME_MAX + 16];
        json_t *v;

        (void) snprintf(base, sizeof(base), "/rules/%zu", idx);
        (void) snprintf(label, sizeof(label), "rule #%zu", idx);
        l->label = label;
        if (!json_is_object(obj)) {
                diag_at(&l->d, base, "%s: expected an object", label);
                return;
        }
        (void) snprintf(ptr, sizeof(ptr), "%s/id", base);
        v = json_object_get(obj, "id");
        if (!v) {
                diag_at(&l->d, base, "%s: 'id' is missing", label);
        } else {
                const char *id = get_string(l, v, ptr, POLICY_NAME_MAX);
                if (id && !id_ok(id)) {
                        diag_at(&l->d, ptr, "%s: id '%s' may only use a-z, 0-9 and '-'", label, id);
                } else if (id) {
                        for (size_t i = 0; i < idx; i++)
                                if (p->rules[i].id && strcmp(p->rules[i].id, id) == 0)
                                        diag_at(&l->d, ptr, "%s: id '%s' is already used by rule #%zu",
                                                label, id, i);
                        rule->id = xstrdup(id);
                        (void) snprintf(label, sizeof(label), "rule '%s'", id);
                }
        }
        (void) snprintf(ptr, sizeof(ptr), "%s/description", base);
        v = json_object_get(obj, "description");
        if (!v) {
                diag_at(&l->d, base, "%s: 'description' is missing", label);
        } else {
                const char *s = get_string(l, v, ptr, POLICY_DESCRIPTION_MAX);
                if (s)
                        rule->description = xstrdup(s);
        }
        load_cond(l, obj, base, false, &rule->test);
        v = json_object_get(obj, "when");
        if (v) {
                (void) snprintf(ptr, sizeof(ptr), "%s/when", base);
                if (!json_is_object(v))
                        diag_at(&l->d, ptr, "%s: 'when' takes an object {\"claim\": …, <operator>: …}", label);
                else
                        load_cond(l, v, ptr, true, &rule->when);
                rule->has_when = true;
        }
}

int policy_parse(const char *text, size_t len, const char *name, struct policy **ret,
                 struct diag_list *errs)
{
        struct loader l = { .label = "policy" };
        struct policy *p = NULL;
        json_t *root = NULL, *v;
        const char *key;
        int r;

        r = diag_parse_object(text, len, POLICY_FILE_MAX_BYTES, name, "policy", &root, errs);
        if (r < 0)
                return r;
        diag_init(&l.d, name, text, len, POLICY_DEPTH_MAX, errs);
        p = xcalloc(1, sizeof(*p));
        json_object_foreach(root, key, v) {
                char ptr[POLICY_NAME_MAX + 8];

                (void) snprintf(ptr, sizeof(ptr), "/%s", key);
                if (strcmp(key, "name") == 0) {
                        const char *s = get_string(&l, v, ptr, POLICY_NAME_MAX);
                        if (s)
                                p->name = xstrdup(s);
                } else if (strcmp(key, "version") == 0) {
                        if (!json_is_integer(v) || json_integer_value(v) < 0)
                                diag_at(&l.d, ptr, "policy: 'version' takes a non-negative integer");
                        else
                                p->version = json_integer_value(v);
                } else if (strcmp(key, "rules") == 0) {
                        size_t n = json_is_array(v) ? json_array_size(v) : 0;
                        if (n == 0 || n > POLICY_RULES_MAX) {
                                diag_at(&l.d, ptr, "policy: 'rules' takes an array of 1 to %d rules",
                                        POLICY_RULES_MAX);
                                continue;
                        }
                        p->rules = xcalloc(n, sizeof(struct rule));
                        p->n_rules = n;
                        for (size_t i = 0; i < n; i++)
                                load_rule(&l, p, json_array_get(v, i), i);
                        l.label = "policy";
                } else {
                        diag_at(&l.d, ptr, "policy: unknown key '%s' (known: name, version, rules)", key);
                }
        }
        if (!json_object_get(root, "name"))
                diag_at(&l.d, "", "policy: 'name' is missing");
        if (!json_object_get(root, "version"))
                diag_at(&l.d, "", "policy: 'version' is missing");
        if (!json_object_get(root, "rules"))
                diag_at(&l.d, "", "policy: 'rules' is missing");
        if (l.d.n_errors > 0) {
                r = -EINVAL;
                goto out;
        }
        r = sha256_hex(text, len, p->sha256);
        if (r < 0) {
                diag_add(errs, name, 0, 0, "cannot hash the policy: %s", strerror(-r));
                goto out;
        }
        *ret = p;
        p = NULL;
        r = 0;
out:
        diag_done(&l.d);
        policy_free(p);
        json_decref(root);
        return r;
}

int policy_load(const char *path, struct policy **ret, struct diag_list *errs)
{
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = diag_read_file(path, POLICY_FILE_MAX_BYTES, &buf, &len, errs);
        if (r < 0)
                return r;
        r = policy_parse(buf, len, path, ret, errs);
        free(buf);
        return r;
}

/* ---- evaluation --------------------------------------------------------- */

struct policy_result *policy_result_free(struct policy_result *r)
{
        if (!r)
                return NULL;
        json_decref(r->reasons);
        json_decref(r->rules);
        free(r);
        return NULL;
}

static const char *type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

/* Numeric comparison of two JSON numbers: <0, 0, >0. */
static int number_cmp(const json_t *a, const json_t *b)
{
        if (json_is_integer(a) && json_is_integer(b)) {
                json_int_t x = json_integer_value(a), y = json_integer_value(b);
                return (x > y) - (x < y);
        }
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
}

static bool array_has(const json_t *arr, const json_t *v)
{
        size_t i;
        json_t *e;

        json_array_foreach(arr, i, e)
                if (json_equal(e, v))
                        return true;
        return false;
}

/*
 * Does condition c hold for actual (NULL: the claim is missing)? When it
 * fails because the claim has the wrong type, *mismatch says what was wanted.
 */
static bool cond_holds(const struct cond *c, json_t *actual, const char **mismatch)
{
        *mismatch = NULL;
        if (c->op == POLICY_OP_EXISTS)
                return json_is_true(c->operand) == (actual != NULL);
        if (!actual)
                return false;
        switch (c->op) {
        case POLICY_OP_EQUALS:
                return json_equal(actual, c->operand);
        case POLICY_OP_NOT_EQUALS:
                return !json_equal(actual, c->operand);
        case POLICY_OP_IN:
                return array_has(c->operand, actual);
        case POLICY_OP_NOT_IN:
                return !array_has(c->operand, actual);
        case POLICY_OP_GTE:
        case POLICY_OP_LTE:
                if (!json_is_number(actual)) {
                        *mismatch = "a number";
                        return false;
                }
                return c->op == POLICY_OP_GTE ? number_cmp(actual, c->operand) >= 0
                                              : number_cmp(actual, c->operand) <= 0;
        case POLICY_OP_MATCHES:
                if (!json_is_string(actual) ||
                    strlen(json_string_value(actual)) != json_string_length(actual)) {
                        *mismatch = "a string without NUL bytes";
                        return false;
                }
                return regexec(&c->re, json_string_value(actual), 0, NULL, 0) == 0;
        case POLICY_OP_CONTAINS:
                if (json_is_array(actual))
                        return array_has(actual, c->operand);
                if (json_is_string(actual) && json_is_string(c->operand))
                        return memmem(json_string_value(actual), json_string_length(actual),
                                      json_string_value(c->operand), json_string_length(c->operand)) != NULL;
                *mismatch = json_is_string(c->operand) ? "an array or a string" : "an array";
                return false;
        default:
                return false;
        }
}

/* Compact JSON text of v, cut to POLICY_MESSAGE_VALUE_MAX bytes (callee-allocated). */
static char *value_text(const json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t n;

        if (!s)
                return xstrdup("(unprintable)");
        n = strlen(s);
        if (n > POLICY_MESSAGE_VALUE_MAX) {
                char *cut;

                n = POLICY_MESSAGE_VALUE_MAX;
                while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                        n--;    /* do not cut a UTF-8 sequence */
                cut = xmalloc(n + 4);
                memcpy(cut, s, n);
                memcpy(cut + n, "...", 4);
                free(s);
                s = cut;
        }
        return s;
}

static char *fail_message(const struct rule *rule, json_t *actual, const char *mismatch)
{
        char *want = value_text(rule->test.operand), *got = actual ? value_text(actual) : NULL;
        char phrase[POLICY_MESSAGE_VALUE_MAX + 64], found[POLICY_MESSAGE_VALUE_MAX + 96], *msg;
        size_t len;

        switch (rule->test.op) {
        case POLICY_OP_EQUALS:
                (void) snprintf(phrase, sizeof(phrase), "equal %s", want);
                break;
        case POLICY_OP_NOT_EQUALS:
                (void) snprintf(phrase, sizeof(phrase), "differ from %s", want);
                break;
        case POLICY_OP_IN:
                (void) snprintf(phrase, sizeof(phrase), "be one of %s", want);
                break;
        case POLICY_OP_NOT_IN:
                (void) snprintf(phrase, sizeof(phrase), "be none of %s", want);
                break;
        case POLICY_OP_GTE:
                (void) snprintf(phrase, sizeof(phrase), "be a number >= %s", want);
                break;
        case POLICY_OP_LTE:
                (void) snprintf(phrase, sizeof(phrase), "be a number <= %s", want);
                break;
        case POLICY_OP_MATCHES:
                (void) snprintf(phrase, sizeof(phrase), "be a string matching %s", want);
                break;
        case POLICY_OP_EXISTS:
                (void) snprintf(phrase, sizeof(phrase), "%s", json_is_true(rule->test.operand) ? "be present" : "be absent");
                break;
        default:
                (void) snprintf(phrase, sizeof(phrase), "contain %s", want);
                break;
        }
        if (!got)
                (void) snprintf(found, sizeof(found), "found nothing (the claim is missing)");
        else if (mismatch)
                (void) snprintf(found, sizeof(found), "found %s, which is %s, not %s", got, type_name(actual), mismatch);
        else
                (void) snprintf(found, sizeof(found), "found %s", got);
        len = strlen(rule->id) + strlen(rule->description) + strlen(rule->test.claim) +
              strlen(phrase) + strlen(found) + 32;
        msg = xmalloc(len);
        (void) snprintf(msg, len, "%s: %s \u2014 expected %s to %s, %s", rule->id, rule->description,
                        rule->test.claim, phrase, found);
        free(want);
        free(got);
        return msg;
}

static int add_reason(json_t *reasons, const struct rule *rule, json_t *actual, const char *mismatch)
{
        json_t *reason, *expected;
        char *msg = fail_message(rule, actual, mismatch);

        expected = json_pack("{sO}", op_table[rule->test.op], rule->test.operand);
        reason = json_pack("{ss, ss, ss, so, so, ss}",
                           "code", "policy-failed",
                           "rule", rule->id,
                           "claim", rule->test.claim,
                           "expected", expected,
                           "actual", actual ? json_deep_copy(actual) : json_null(),
                           "message", msg);
        free(msg);
        if (!reason)
                return -ENOMEM;
        return json_array_append_new(reasons, reason) < 0 ? -ENOMEM : 0;
}

int policy_eval(const struct policy *p, json_t *claims, struct policy_result **ret)
{
        struct policy_result *res = NULL;
        int r;

        if (!json_is_object(claims))
                return -EINVAL;
        res = xcalloc(1, sizeof(*res));
        res->reasons = json_array();
        res->rules = json_array();
        if (!res->reasons || !res->rules) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < p->n_rules; i++) {
                const struct rule *rule = &p->rules[i];
                enum policy_outcome o = POLICY_OUTCOME_PASS;
                const char *mismatch = NULL;
                json_t *actual = NULL;

                if (rule->has_when) {
                        json_t *w = NULL;
                        (void) jsonptr_get(claims, rule->when.claim, &w);
                        if (!cond_holds(&rule->when, w, &mismatch))
                                o = POLICY_OUTCOME_SKIP;
                }
                if (o == POLICY_OUTCOME_PASS) {
                        (void) jsonptr_get(claims, rule->test.claim, &actual);
                        if (!cond_holds(&rule->test, actual, &mismatch)) {
                                o = POLICY_OUTCOME_FAIL;
                                r = add_reason(res->reasons, rule, actual, mismatch);
                                if (r < 0)
                                        goto out;
                        }
                }
                res->n_pass += o == POLICY_OUTCOME_PASS;
                res->n_fail += o == POLICY_OUTCOME_FAIL;
                res->n_skip += o == POLICY_OUTCOME_SKIP;
                if (json_array_append_new(res->rules, json_pack("{ss, ss}", "rule", rule->id,
                                                                "outcome", outcome_table[o])) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        res->pass = res->n_fail == 0;
        *ret = res;
        res = NULL;
        r = 0;
out:
        policy_result_free(res);
        return r;
}
