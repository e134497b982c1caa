/* safetensors.h — read and write the safetensors format
 * (8-byte little-endian header length, JSON header, raw little-endian data).
 * Reading converts F32, F16 and BF16 to float; I32 and I64 to int. */
#ifndef MTBERT_SAFETENSORS_H
#define MTBERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64, ST_OTHER } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    char dtype_name[8];      /* as written in the file, e.g. "F32" */
    int ndim;
    int64_t shape[8];
    int64_t numel;
    size_t begin, end;       /* byte range within the data section */
} StTensor;

typedef struct {
    char *path;
    int ntensors;
    StTensor *tensors;
    char *metadata_json;     /* the "__metadata__" object as JSON text, or NULL */
    unsigned char *data;     /* the data section (whole file read or mapped) */
    size_t data_len;
    void *map_base; size_t map_len;   /* internal */
} StFile;

/* Open and validate a file: header JSON, dtypes, shapes, offsets within
 * the file, no overlaps. On failure returns -1 with a message naming the
 * file and the tensor or field at fault in err. */
int st_open(StFile *f, const char *path, char *err, size_t errlen);
void st_close(StFile *f);
/* The tensor of that name, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);
/* Copy a tensor's values as float (F32/F16/BF16) into out[numel]. -1 with
 * a message if the dtype is not a float type. */
int st_read_f32(const StFile *f, const StTensor *t, float *out, char *err, size_t errlen);
/* Copy a tensor's values as int (I32/I64, range-checked) into out[numel]. */
int st_read_i32(const StFile *f, const StTensor *t, int *out, char *err, size_t errlen);
/* Value of a string entry in __metadata__, newly allocated, or NULL. */
char *st_metadata_get(const StFile *f, const char *key);

/* Writing: collect tensors, then write atomically (temporary name in the
 * same folder, fsync, rename), so a failure never damages an existing file. */
typedef struct {
    const char *name;
    StDtype dtype;          /* ST_F32 or ST_I32 */
    int ndim;
    int64_t shape[8];
    const void *data;       /* host memory, numel elements of dtype */
} StWriteTensor;

/* metadata: NULL or pairs {key, value, key, value, ..., NULL}.
 * Tensors are written in the order given. Returns 0, or -1 with err
 * naming the path and what failed (e.g. "No space left on device"). */
int st_write(const char *path, const StWriteTensor *tensors, int ntensors,
             const char *const *metadata, char *err, size_t errlen);

#endif
