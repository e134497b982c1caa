/* manifest.c — shard manifests (see manifest.h and docs/data-format.md). */
#include "data/manifest.h"
#include "util/errmsg.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "-iiiii-of-nnnnn.h5" at the end of a name of length n: its start, or -1 */
static long set_suffix(const char *name, size_t n) {
    static const char pat[] = "-ddddd-of-ddddd.h5";
    size_t k = sizeof pat - 1;
    if (n <= k) return -1;
    const char *s = name + n - k;
    for (size_t i = 0; i < k; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return -1;
    }
    return (long)(n - k);
}

void manifest_path_for(const char *shard_path, char *buf, size_t n) {
    const char *b = base_name(shard_path);
    size_t dirlen = (size_t)(b - shard_path), blen = strlen(b);
    long cut = set_suffix(b, blen);
    size_t keep = cut >= 0 ? (size_t)cut : blen > 3 && !strcmp(b + blen - 3, ".h5") ? blen - 3 : blen;
    snprintf(buf, n, "%.*s%.*s%s", (int)dirlen, shard_path, (int)keep, b, MANIFEST_SUFFIX);
}

int manifest_hash_file(const char *path, int64_t *size, char hex[33], char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    size_t cap = (size_t)4 << 20;
    unsigned char *buf = malloc(cap);
    XXH3_state_t *st = XXH3_createState();
    int rc = -1;
    if (!buf || !st || XXH3_128bits_reset(st) == XXH_ERROR) {
        seterr(err, errlen, "%s: out of memory for the checksum", path);
        goto out;
    }
    int64_t total = 0;
    for (;;) {
        ssize_t got = read(fd, buf, cap);
        if (got < 0) {
            if (errno == EINTR) continue;
            seterr(err, errlen, "%s: read error: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0) break;
        XXH3_128bits_update(st, buf, (size_t)got);
        total += got;
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
    *size = total;
    rc = 0;
out:
    XXH3_freeState(st);
    free(buf);
    close(fd);
    return rc;
}

int manifest_write(const char *manifest_path, const char *const *files, int n, char *err, size_t errlen) {
    size_t cap = 256, len = 0;
    char *text = malloc(cap);
    if (!text) {
        seterr(err, errlen, "%s: out of memory", manifest_path);
        return -1;
    }
    len = (size_t)snprintf(text, cap, "%s\n# file\tbytes\tXXH3-128 (hex, as `xxhsum -H2` prints it)\n",
                           MANIFEST_MAGIC);
    for (int i = 0; i < n; i++) {
        const char *b = base_name(files[i]);
        if (!*b || strchr(b, '\t') || strchr(b, '\n') || strchr(b, '\r')) {
            seterr(err, errlen, "%s: the file name cannot go into a manifest (empty, or a tab or newline in it)",
                   files[i]);
            free(text);
            return -1;
        }
        int64_t size;
        char hex[33];
        if (manifest_hash_file(files[i], &size, hex, err, errlen)) {
            free(text);
            return -1;
        }
        size_t need = strlen(b) + 64;
        if (len + need > cap) {
            cap = (len + need) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                seterr(err, errlen, "%s: out of memory", manifest_path);
                return -1;
            }
            text = t;
        }
        len += (size_t)snprintf(text + len, cap - len, "%s\t%lld\t%s\n", b, (long long)size, hex);
    }
    int rc = fs_write_atomic(manifest_path, text, len, err, errlen);
    free(text);
    return rc;
}

void manifest_free(Manifest *m) {
    for (int i = 0; i < m->n; i++) free(m->e[i].name);
    free(m->e);
    free(m->path);
    memset(m, 0, sizeof *m);
}

const ManifestEntry *manifest_find(const Manifest *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].name, name)) return &m->e[i];
    return NULL;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int manifest_parse(Manifest *m, const char *path, const char *text, size_t len, char *err, size_t errlen) {
    static const char expect[] = "expected FILE<TAB>BYTES<TAB>32 hex digits";
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path) goto oom;
    const char *nul = memchr(text, 0, len);
    if (nul) {
        long line = 1;
        for (const char *p = text; p < nul; p++) line += *p == '\n';
        seterr(err, errlen, "%s:%ld: NUL byte (not a manifest)", path, line);
        goto fail;
    }
    size_t pos = 0;
    long line = 0;
    int cap = 0;
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t L = nl ? (size_t)(nl - s) : len - pos;
        pos += L + (nl ? 1 : 0);
        line++;
        if (L && s[L - 1] == '\r') L--;
        if (line == 1) {
            if (L != strlen(MANIFEST_MAGIC) || memcmp(s, MANIFEST_MAGIC, L)) {
                seterr(err, errlen, "%s:1: not a shard manifest (expected the first line '%s')", path,
                       MANIFEST_MAGIC);
                goto fail;
            }
            continue;
        }
        if (L == 0 || s[0] == '#') continue;
        const char *t1 = memchr(s, '\t', L);
        const char *t2 = t1 ? memchr(t1 + 1, '\t', L - (size_t)(t1 + 1 - s)) : NULL;
        if (!t1 || !t2 || t1 == s) {
            seterr(err, errlen, "%s:%ld: %s", path, line, expect);
            goto fail;
        }
        size_t nlen = (size_t)(t1 - s);
        if (memchr(s, '/', nlen)) {
            seterr(err, errlen, "%s:%ld: file name with a '/' (a manifest lists files of its own folder)", path, line);
            goto fail;
        }
        const char *d = t1 + 1;
        int64_t size = 0;
        if (d == t2 || t2 - d > 18) {
            seterr(err, errlen, "%s:%ld: size is not a number of bytes (%s)", path, line, expect);
            goto fail;
        }
        for (; d < t2; d++) {
            if (*d < '0' || *d > '9') {
                seterr(err, errlen, "%s:%ld: size is not a number of bytes (%s)", path, line, expect);
                goto fail;
            }
            size = size * 10 + (*d - '0');
        }
        const char *h = t2 + 1;
        size_t hlen = L - (size_t)(h - s);
        int ok = hlen == 32;
        for (size_t i = 0; ok && i < 32; i++) ok = is_hex(h[i]);
        if (!ok) {
            seterr(err, errlen, "%s:%ld: checksum is not 32 hex digits (%s)", path, line, expect);
            goto fail;
        }
        char *name = strndup(s, nlen);
        if (!name) goto oom;
        if (manifest_find(m, name)) {
            seterr(err, errlen, "%s:%ld: '%s' is listed twice", path, line, name);
            free(name);
            goto fail;
        }
        if (m->n == cap) {
            cap = cap ? 2 * cap : 8;
            ManifestEntry *e = realloc(m->e, (size_t)cap * sizeof *e);
            if (!e) {
                free(name);
                goto oom;
            }
            m->e = e;
        }
        ManifestEntry *e = &m->e[m->n++];
        e->name = name;
        e->size = size;
        for (int i = 0; i < 32; i++) e->hex[i] = (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] - 'A' + 'a' : h[i]);
        e->hex[32] = 0;
    }
    if (line == 0) {
        seterr(err, errlen, "%s: empty file (not a shard manifest)", path);
        goto fail;
    }
    return 0;
oom:
    seterr(err, errlen, "%s: out of memory", path);
fail:
    manifest_free(m);
    return -1;
}

int manifest_load(Manifest *m, const char *path, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    size_t len;
    char *text = fs_read_file(path, &len, err, errlen);
    if (!text) return -1;
    int rc = manifest_parse(m, path, text, len, err, errlen);
    free(text);
    return rc;
}

static const char HINT[] = "re-run mtbert prepare";

int manifest_verify(const Manifest *m, const char *file, char *err, size_t errlen) {
    const ManifestEntry *e = manifest_find(m, base_name(file));
    if (!e) {
        seterr(err, errlen, "%s: not listed in the manifest %s (a file from another prepare run? %s)", file, m->path,
               HINT);
        return -1;
    }
    struct stat st;
    if (stat(file, &st) != 0) {
        seterr(err, errlen, "%s: cannot open: %s (listed in the manifest %s)", file, strerror(errno), m->path);
        return -1;
    }
    if ((int64_t)st.st_size != e->size) {
        seterr(err, errlen, "%s: %lld bytes, the manifest %s says %lld (truncated or replaced since prepare; %s)", file,
               (long long)st.st_size, m->path, (long long)e->size, HINT);
        return -1;
    }
    int64_t size;
    char hex[33];
    if (manifest_hash_file(file, &size, hex, err, errlen)) return -1;
    if (size != e->size || strcmp(hex, e->hex)) {
        seterr(err, errlen,
               "%s: XXH3-128 checksum %s does not match the manifest %s (%s): the file is damaged or was changed "
               "after prepare; %s",
               file, hex, m->path, e->hex, HINT);
        return -1;
    }
    return 0;
}

int manifest_verify_files(const char *const *files, int n, char *err, size_t errlen) {
    Manifest *ms = calloc((size_t)(n ? n : 1), sizeof *ms);
    int nm = 0, rc = -1;
    if (!ms) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char mp[4096];
        if (access(files[i], F_OK) != 0) { /* a wrong name, before talk of manifests */
            seterr(err, errlen, "%s: cannot open: %s", files[i], strerror(errno));
            goto out;
        }
        manifest_path_for(files[i], mp, sizeof mp);
        int k = 0;
        while (k < nm && strcmp(ms[k].path, mp)) k++;
        if (k == nm) {
            if (access(mp, F_OK) != 0 && errno == ENOENT) {
                /* the set's files as a glob, or the one file of another name */
                char set[4096];
                const char *b = base_name(files[i]);
                if (set_suffix(b, strlen(b)) >= 0)
                    snprintf(set, sizeof set, "%.*s-*.h5", (int)(strlen(mp) - strlen(MANIFEST_SUFFIX)), mp);
                else
                    snprintf(set, sizeof set, "%s", files[i]);
                seterr(err, errlen,
                       "%s: the shard has no manifest %s (sets prepared before manifests existed have none): %s, or "
                       "record the shards as they are now with `mtbert prepare --write-manifest %s` (only for "
                       "shards you trust)",
                       files[i], mp, HINT, set);
                goto out;
            }
            if (manifest_load(&ms[nm], mp, err, errlen)) goto out;
            nm++;
        }
        if (manifest_verify(&ms[k], files[i], err, errlen)) goto out;
    }
    /* every file a used manifest lists must be there (given or not: the
     * loader says which shard of the set is missing from the list) */
    for (int k = 0; k < nm; k++) {
        const char *mb = base_name(ms[k].path);
        size_t dirlen = (size_t)(mb - ms[k].path);
        for (int j = 0; j < ms[k].n; j++) {
            char p[4096];
            snprintf(p, sizeof p, "%.*s%s", (int)dirlen, ms[k].path, ms[k].e[j].name);
            if (access(p, F_OK) != 0) {
                seterr(err, errlen, "%s: listed in the manifest %s but missing: %s", p, ms[k].path, strerror(errno));
                goto out;
            }
        }
    }
    rc = 0;
out:
    for (int k = 0; k < nm; k++) manifest_free(&ms[k]);
    free(ms);
    return rc;
}
