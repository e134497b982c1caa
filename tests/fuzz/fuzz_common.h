/* fuzz_common.h — helpers shared by the libFuzzer targets (tests/fuzz/).
 * Inputs that the code under test reads from a path are written to a
 * per-process temporary file first. */
#ifndef MTBERT_FUZZ_COMMON_H
#define MTBERT_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to a temporary file named with `suffix` and returns its path
 * (static buffer, reused by every call of the process). */
static const char *fuzz_tmpfile(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mtbert-fuzz-%d%s", dir && *dir ? dir : "/tmp", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return path;
}
#endif
