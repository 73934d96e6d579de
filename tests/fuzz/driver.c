/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replays a fuzz target's corpus when the build is not a libFuzzer build,
 * so every corpus file is a regression test under `make check`. The corpus
 * is $FUZZ_CORPUS_DIR/<name> where the program is called fuzz-<name>, or
 * the files and directories given as arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;

        if (!f) {
                fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (len == cap) {
                        uint8_t *n;
                        cap = cap ? cap * 2 : 4096;
                        n = realloc(buf, cap);
                        if (!n) {
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = n;
                }
                size_t got = fread(buf + len, 1, cap - len, f);
                if (got == 0)
                        break;
                len += got;
        }
        fclose(f);
        (void) LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        return 0;
}

static int run_path(const char *path, unsigned *count)
{
        struct stat st;
        struct dirent **ents;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "cannot stat %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return run_file(path);
        }
        n = scandir(path, &ents, NULL, alphasort);
        if (n < 0)
                return -1;
        for (int i = 0; i < n; i++) {
                char sub[4096];
                if (ents[i]->d_name[0] != '.' && strcmp(ents[i]->d_name, "README.md") != 0) {
                        (void) snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
                        if (run_path(sub, count) < 0)
                                r = -1;
                }
                free(ents[i]);
        }
        free(ents);
        return r;
}

int main(int argc, char **argv)
{
        unsigned count = 0;
        int r = 0;

        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        if (run_path(argv[i], &count) < 0)
                                r = 1;
        } else {
                const char *dir = getenv("FUZZ_CORPUS_DIR");
                char *name = basename(argv[0]);
                char path[4096];

                if (strncmp(name, "fuzz-", 5) == 0)
                        name += 5;
                if (!dir) {
                        fprintf(stderr, "FUZZ_CORPUS_DIR is not set\n");
                        return 77;
                }
                (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
                if (run_path(path, &count) < 0)
                        r = 1;
        }
        printf("%u corpus inputs replayed\n", count);
        return r;
}
