/* fuzz_shard_raw — shard_read_header (and a small shard_read_range) on an
 * arbitrary file, with no manifest in front: libhdf5 itself parses the
 * corrupt bytes. HDF5 is large and slow on corrupt files, so inputs are
 * capped at 64 KiB. libhdf5 1.10 has its own memory errors on such files
 * (tests/fuzz/corpus/shard_raw/regress-uaf-bitflip.h5 is one): findings
 * inside libhdf5 are not ours, which is why this target is not in the CI
 * smoke run; fuzz_shard (the verified path the loader takes) is.
 * Run it by name: bash tests/fuzz/run_fuzz.sh shard_raw */
#include "fuzz_common.h"
#include "data/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    const char *path = fuzz_tmpfile(data, size, ".h5");
    ShardData d;
    memset(&d, 0, sizeof d);
    char err[1024];
    if (shard_read_header(path, &d, err, sizeof err) == 0) {
        int64_t hi = d.n < 4 ? d.n : 4;
        if (hi > 0) (void)shard_read_range(path, &d, 0, hi, err, sizeof err);
    }
    shard_data_free(&d);
    unlink(path);
    return 0;
}
