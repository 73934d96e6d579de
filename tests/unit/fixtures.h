/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_TESTS_UNIT_FIXTURES_H
#define ATTESTD_TESTS_UNIT_FIXTURES_H

/* Helpers shared by unit tests that read ../shared/fixtures (through
 * $ATTESTD_FIXTURES, see the fixtures README for provenance). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read fixture NAME (a path relative to the fixtures directory) into *buf
 * (callee-allocated, free()). Returns false when $ATTESTD_FIXTURES is unset
 * or not a directory; fails the test when the file cannot be read. */
bool fixture_load(const char *name, uint8_t **buf, size_t *len);

/* Load a fixture or skip() the current test. */
#define LOAD_FIXTURE(name, buf, len)                                            \
        do {                                                                    \
                if (!fixture_load((name), (buf), (len)))                        \
                        skip();                                                 \
        } while (0)

/* Store v little-endian at p. */
void put_le32(uint8_t *p, uint32_t v);

#endif
