/* fuzz_sweep — the sweep file through `mtbert sweep expand`: the input is
 * SWEEP.yaml, written beside a small valid base config (base.yaml) in a
 * per-process folder; the expansion's output folder is removed after each
 * input. */
#include <fcntl.h>
#include <ftw.h>

#include "fuzz_common.h"
#include "trainer/cli/cli.h"

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static const char base_yaml[] =
    "model: {vocab_size: 100, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32,\n"
    "        max_position_embeddings: 32}\n"
    "tasks:\n  - {name: topic, type: sentence_classification, num_labels: 3}\n"
    "data: {max_len: 32}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;
    char dir[256], path[300], out[300];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mtbert-fuzz-sweep-%d", t && *t ? t : "/tmp", (int)getpid());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/base.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(base_yaml, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    snprintf(out, sizeof out, "%s/out", dir);
    /* quiet: the command's messages are not what is fuzzed */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    char *argv[] = {"sweep", "expand", path, "--out", out, NULL};
    cmd_sweep(5, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    nftw(out, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
