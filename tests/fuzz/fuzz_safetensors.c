/* fuzz_safetensors — st_open (header JSON, dtypes, shapes, offsets) on a
 * temporary file, then st_read_f32 / st_read_i32 of every tensor and the
 * metadata lookup. */
#include "fuzz_common.h"
#include "trainer/store/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    const char *path = fuzz_tmpfile(data, size, ".safetensors");
    StFile f;
    char err[1024];
    if (st_open(&f, path, err, sizeof err) == 0) {
        for (int i = 0; i < f.ntensors; i++) {
            const StTensor *t = &f.tensors[i];
            if (t->numel < 0 || t->end < t->begin || t->end > f.data_len) abort();
            if (t->numel > (1 << 22)) continue;
            float *fo = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
            int *io = malloc(sizeof(int) * (size_t)(t->numel ? t->numel : 1));
            (void)st_read_f32(&f, t, fo, err, sizeof err);
            (void)st_read_i32(&f, t, io, err, sizeof err);
            free(fo);
            free(io);
            if (st_find(&f, t->name) == NULL) abort();
        }
        free(st_metadata_get(&f, "config"));
        st_close(&f);
    }
    unlink(path);
    return 0;
}
