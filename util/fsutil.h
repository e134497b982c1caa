/* fsutil.h — small file-system helpers shared by everything that writes
 * results: atomic replacement of a file (temporary name in the same folder,
 * fsync, rename, fsync of the folder) from a buffer, from a stream of
 * pieces, or for writers that open the file by name (HDF5, stdio);
 * mkdir -p; whole-file reads.
 *
 * Error messages start with the path concerned, then what failed, then
 * strerror: "out/model.safetensors: writing out/model.safetensors.tmp.42:
 * No space left on device". */
#ifndef MTBERT_FSUTIL_H
#define MTBERT_FSUTIL_H

#include <stddef.h>

/* Replace path with exactly len bytes of data, atomically: readers see
 * either the old file or the complete new one, and on any failure an
 * existing file is left untouched and the temporary file is removed.
 * Returns 0, or -1 with a message in err. */
int fs_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* fsync a folder so that a rename or create inside it is durable.
 * Returns 0, or -1 with errno set. File systems that cannot fsync a
 * folder (EINVAL) count as success. */
int fs_fsync_dir(const char *dir);

/* Create a folder and any missing parents (like mkdir -p). An existing
 * folder is fine; an existing non-folder is an error naming it. */
int fs_mkdir_p(const char *path, char *err, size_t errlen);

/* Read a whole file into newly allocated memory with a NUL appended (not
 * counted in *len; len may be NULL). NULL with a message naming the path. */
char *fs_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* For writers that create the file by name themselves (HDF5's H5Fcreate,
 * stdio's fopen): the same guarantee as fs_write_atomic in two steps.
 *   char tmp[4096];
 *   if (fs_temp_path(path, tmp, sizeof tmp, err, errlen)) return -1;
 *   ... create and write tmp, close it; on failure: fs_temp_discard(tmp) ...
 *   return fs_commit_rename(tmp, path, err, errlen);
 * fs_temp_path writes path + ".tmp.<pid>" (the name fs_atomic_begin uses,
 * in the same folder, so the rename stays on one file system); -1 with a
 * message when it does not fit in tmplen. fs_commit_rename makes the closed
 * file durable (fsync), renames it over path, then fsyncs the folder; when
 * the fsync or rename fails it removes tmp, so the old path is untouched
 * and nothing is left behind. A failed folder fsync returns -1 with the new
 * file already in place. Messages name path first, then tmp. */
int fs_temp_path(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen);
int fs_commit_rename(const char *tmp, const char *path, char *err, size_t errlen);
/* Remove a temporary file after a failed write (a missing one is fine). */
void fs_temp_discard(const char *tmp);

/* Streaming form of fs_write_atomic for output built piece by piece:
 *   FsAtomicFile a;
 *   if (fs_atomic_begin(&a, path, err, errlen)) return -1;
 *   if (fs_atomic_write(&a, buf, n, err, errlen)) return -1;   // repeat
 *   return fs_atomic_commit(&a, err, errlen);
 * A failed write or commit has already removed the temporary file; a caller
 * that gives up for its own reasons calls fs_atomic_abort (safe to call
 * more than once, and after a failure). */
typedef struct {
    char *path;   /* target */
    char *tmp;    /* path + ".tmp.<pid>" */
    int fd;       /* -1 when closed */
} FsAtomicFile;

int fs_atomic_begin(FsAtomicFile *a, const char *path, char *err, size_t errlen);
int fs_atomic_write(FsAtomicFile *a, const void *data, size_t len, char *err, size_t errlen);
int fs_atomic_commit(FsAtomicFile *a, char *err, size_t errlen);
void fs_atomic_abort(FsAtomicFile *a);

#endif
