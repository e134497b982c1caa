/* fuzz_config — the YAML run configuration: config_load on arbitrary bytes
 * (the file), with and without a --set override taken from the input's
 * last line. */
#include "fuzz_common.h"
#include "trainer/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    const char *path = fuzz_tmpfile(data, size, ".yaml");
    FILE *devnull = fopen("/dev/null", "w");
    Config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (config_load(&cfg, path, NULL, 0, devnull) == 0) config_free(&cfg);
    /* the last line (after the last '\n'), if any, as a --set override */
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl) {
        const uint8_t *last = data + size;
        while (last > data && last[-1] != '\n') last--;
        size_t n = (size_t)(data + size - last);
        char *ov = malloc(n + 1);
        memcpy(ov, last, n);
        ov[n] = 0;
        const char *ovs[1] = {ov};
        memset(&cfg, 0, sizeof cfg);
        if (config_load(&cfg, path, ovs, 1, devnull) == 0) config_free(&cfg);
        free(ov);
    }
    fclose(devnull);
    unlink(path);
    return 0;
}
