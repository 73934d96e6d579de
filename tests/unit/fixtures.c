/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "daemon/file.h"
#include "tests/unit/fixtures.h"

bool fixture_load(const char *name, uint8_t **buf, size_t *len)
{
        const char *dir = getenv("ATTESTD_FIXTURES");
        struct err e = { "" };
        struct stat st;
        char path[4096];

        if (!dir || !*dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return false;
        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (file_read_all(path, 1 << 22, buf, len, &e) < 0)
                fail_msg("%s", e.msg);
        return true;
}

void put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}
