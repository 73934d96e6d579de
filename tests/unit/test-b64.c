/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/b64.h"
#include "proto/hex.h"

static void check_decode(const char *in, enum b64_variant v, const char *expect)
{
        uint8_t *out = NULL;
        size_t len = 0;

        assert_int_equal(b64_decode(in, strlen(in), v, &out, &len), 0);
        assert_int_equal(len, strlen(expect));
        assert_memory_equal(out, expect, len);
        free(out);
}

static void check_reject(const char *in, enum b64_variant v)
{
        uint8_t *out = NULL;
        size_t len = 0;

        assert_int_equal(b64_decode(in, strlen(in), v, &out, &len), -EINVAL);
        assert_null(out);
}

/* RFC 4648 section 10 vectors, both variants. */
static void test_rfc4648_vectors(void **state)
{
        static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        static const char *const std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };

        for (size_t i = 0; i < 7; i++) {
                char *e = b64_encode(plain[i], strlen(plain[i]), B64_STD);
                assert_string_equal(e, std[i]);
                free(e);
                e = b64_encode(plain[i], strlen(plain[i]), B64_URL);
                assert_string_equal(e, url[i]);
                free(e);
                check_decode(std[i], B64_STD, plain[i]);
                check_decode(url[i], B64_URL, plain[i]);
                check_decode(std[i], B64_ANY, plain[i]);
                check_decode(url[i], B64_ANY, plain[i]);
        }
}

/* Ensure that every malformed form is rejected, so each string has one decoding. */
static void test_strictness(void **state)
{
        check_reject("Zg", B64_STD);            /* padding required */
        check_reject("Zg==", B64_URL);          /* padding forbidden */
        check_reject("Zh==", B64_STD);          /* non-zero unused bits */
        check_reject("Zm9=", B64_STD);
        check_reject("Zh", B64_URL);
        check_reject("Z", B64_URL);             /* impossible length */
        check_reject("Zm9v\n", B64_STD);        /* whitespace */
        check_reject("Zm 9v", B64_ANY);
        check_reject("a+b/", B64_URL);          /* wrong alphabet */
        check_reject("a-b_", B64_STD);
        check_reject("Zg=a", B64_STD);          /* padding in the middle */
        check_reject("=Zg=", B64_STD);
        check_reject("Zm9vY===", B64_STD);
        check_reject("Zg=", B64_ANY);
        check_reject("a-b/", B64_ANY);          /* mixed alphabets */
}

static void test_binary_roundtrip(void **state)
{
        uint8_t buf[256], *out;
        size_t len;

        for (int i = 0; i < 256; i++)
                buf[i] = (uint8_t) (255 - i);
        for (size_t n = 0; n <= sizeof(buf); n += 7) {
                for (int v = B64_STD; v <= B64_URL; v++) {
                        char *e = b64_encode(buf, n, v);
                        assert_non_null(e);
                        assert_int_equal(b64_decode(e, strlen(e), v, &out, &len), 0);
                        assert_int_equal(len, n);
                        assert_memory_equal(out, buf, n);
                        free(out);
                        free(e);
                }
        }
        assert_null(b64_encode("x", 1, B64_ANY));
}

static void test_hex(void **state)
{
        uint8_t *out;
        size_t len;
        char *h = hex_encode("\x00\xab\xff", 3, false);

        assert_string_equal(h, "00abff");
        free(h);
        h = hex_encode("\x00\xab\xff", 3, true);
        assert_string_equal(h, "00ABFF");
        free(h);
        assert_int_equal(hex_decode("00AbfF", 6, &out, &len), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(out, "\x00\xab\xff", 3);
        free(out);
        assert_int_equal(hex_decode("abc", 3, &out, &len), -EINVAL);
        assert_int_equal(hex_decode("zz", 2, &out, &len), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc4648_vectors),
                cmocka_unit_test(test_strictness),
                cmocka_unit_test(test_binary_roundtrip),
                cmocka_unit_test(test_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
