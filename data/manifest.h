/* manifest.h — the shard manifest: name, size and XXH3-128 checksum of every
 * shard of a set, written by `mtbert prepare` beside the shards and checked
 * by the loader before libhdf5 opens a shard (docs/data-format.md).
 *
 * A damaged shard (a flipped bit, a truncated copy, a file replaced after
 * prepare) is then a named error instead of whatever libhdf5 does with a
 * corrupt file (1.10 has use-after-frees on some). The set DIR/NAME-*.h5
 * has the manifest DIR/NAME.manifest, a text file:
 *
 *   # mtbert shard manifest 1
 *   # file<TAB>bytes<TAB>XXH3-128 (hex, as `xxhsum -H2` prints it)
 *   NAME-00000-of-00002.h5<TAB>123456<TAB>0123456789abcdef0123456789abcdef
 *   ...
 */
#ifndef MTBERT_MANIFEST_H
#define MTBERT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_SUFFIX ".manifest"
#define MANIFEST_MAGIC "# mtbert shard manifest 1"

typedef struct {
    char *name;   /* file name, no folder */
    int64_t size; /* bytes */
    char hex[33]; /* XXH3-128, 32 lowercase hex digits (canonical, big-endian) */
} ManifestEntry;

typedef struct {
    char *path; /* the manifest file (for messages) */
    int n;
    ManifestEntry *e;
} Manifest;

/* The manifest of a shard: DIR/SET.manifest for DIR/SET-iiiii-of-nnnnn.h5;
 * any other name: the name without ".h5" (or the whole name) + ".manifest". */
void manifest_path_for(const char *shard_path, char *buf, size_t n);

/* Size and XXH3-128 (canonical hex) of a file's bytes, read in one pass. */
int manifest_hash_file(const char *path, int64_t *size, char hex[33], char *err, size_t errlen);

/* Writes the manifest of the given files (all in the manifest's folder)
 * atomically (temporary name, fsync, rename). 0 or -1 + err. */
int manifest_write(const char *manifest_path, const char *const *files, int n, char *err, size_t errlen);

/* Parses manifest text (len bytes; NULs inside are an error). Errors:
 * "PATH:LINE: what (expected ...)". 0 or -1 + err; m is empty on failure. */
int manifest_parse(Manifest *m, const char *path, const char *text, size_t len, char *err, size_t errlen);
int manifest_load(Manifest *m, const char *path, char *err, size_t errlen);
void manifest_free(Manifest *m);
const ManifestEntry *manifest_find(const Manifest *m, const char *name);

/* Checks one file against its entry in m: listed, size, then checksum. */
int manifest_verify(const Manifest *m, const char *file, char *err, size_t errlen);

/* The loader's check, before any shard is opened: each file against the
 * manifest beside it (each manifest read once), and every file a used
 * manifest lists must exist. A set without a manifest is refused, with the
 * way to make one (re-run prepare, or `mtbert prepare --write-manifest`). */
int manifest_verify_files(const char *const *files, int n, char *err, size_t errlen);

#endif
