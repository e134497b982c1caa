/* fsutil.c — atomic file replacement (streaming, and temporary name +
 * rename for writers that open by name), mkdir -p, whole-file reads. */
#include "util/fsutil.h"
#include "util/errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>


/* The folder holding path ("." for a bare name), newly allocated. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    while (n > 0 && path[n - 1] == '/') n--;   /* "a//b" -> "a" */
    if (n == 0) return strdup("/");
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

int fs_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc;
    do { rc = fsync(fd); } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno == EINVAL) rc = 0;   /* folder fsync unsupported here */
    int saved = errno;
    close(fd);
    errno = saved;
    return rc ? -1 : 0;
}

/* ---- temporary name + rename, shared by both writers ---- */

int fs_temp_path(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen) {
    if (!path || !*path) {
        seterr(err, errlen, "(empty path): cannot write a file without a name");
        return -1;
    }
    int n = snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= tmplen) {
        seterr(err, errlen, "%s: path too long for a temporary name (%zu bytes at most)", path,
               tmplen > 20 ? tmplen - 20 : 0);
        if (tmplen) tmp[0] = '\0';
        return -1;
    }
    return 0;
}

void fs_temp_discard(const char *tmp) {
    if (tmp && *tmp) unlink(tmp);
}

/* rename tmp over path, then fsync the folder. A failed rename removes tmp;
 * after a successful rename there is no temporary left to remove. */
static int rename_into_place(const char *tmp, const char *path, char *err, size_t errlen) {
    if (rename(tmp, path) != 0) {
        seterr(err, errlen, "%s: renaming %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    char *dir = dir_of(path);
    int ret = 0;
    if (!dir) {
        seterr(err, errlen, "%s: out of memory", path);
        ret = -1;
    } else if (fs_fsync_dir(dir) != 0) {
        seterr(err, errlen, "%s: fsync of folder %s: %s", path, dir, strerror(errno));
        ret = -1;
    }
    free(dir);
    return ret;
}

int fs_commit_rename(const char *tmp, const char *path, char *err, size_t errlen) {
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "%s: opening %s for fsync: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int rc;
    do { rc = fsync(fd); } while (rc != 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (rc != 0) {
        seterr(err, errlen, "%s: fsync of %s: %s", path, tmp, strerror(e));
        unlink(tmp);
        return -1;
    }
    return rename_into_place(tmp, path, err, errlen);
}

/* ---- streaming atomic writer ---- */

void fs_atomic_abort(FsAtomicFile *a) {
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->tmp = NULL;
    a->path = NULL;
}

int fs_atomic_begin(FsAtomicFile *a, const char *path, char *err, size_t errlen) {
    a->fd = -1;
    a->tmp = NULL;
    a->path = NULL;
    if (!path || !*path) {
        seterr(err, errlen, "(empty path): cannot write a file without a name");
        return -1;
    }
    size_t n = strlen(path);
    a->path = strdup(path);
    a->tmp = malloc(n + 32);
    if (!a->path || !a->tmp) {
        seterr(err, errlen, "%s: out of memory", path);
        fs_atomic_abort(a);
        return -1;
    }
    fs_temp_path(path, a->tmp, n + 32, NULL, 0);   /* n + 32 always fits */
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (a->fd < 0) {
        seterr(err, errlen, "%s: creating temporary file %s: %s", path, a->tmp, strerror(errno));
        free(a->tmp);   /* nothing was created: do not unlink someone else's file */
        a->tmp = NULL;
        fs_atomic_abort(a);
        return -1;
    }
    return 0;
}

int fs_atomic_write(FsAtomicFile *a, const void *data, size_t len, char *err, size_t errlen) {
    if (a->fd < 0) {
        seterr(err, errlen, "%s: write after the file was closed", a->path ? a->path : "(null)");
        return -1;
    }
    const unsigned char *p = data;
    while (len > 0) {
        /* Linux writes at most about 2 GiB per call; ask for 1 GiB at a time. */
        size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        ssize_t w = write(a->fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            seterr(err, errlen, "%s: writing %s: %s", a->path, a->tmp, strerror(errno));
            fs_atomic_abort(a);
            return -1;
        }
        if (w == 0) {   /* should not happen for regular files; avoid looping forever */
            seterr(err, errlen, "%s: writing %s: %s", a->path, a->tmp, strerror(ENOSPC));
            fs_atomic_abort(a);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fs_atomic_commit(FsAtomicFile *a, char *err, size_t errlen) {
    if (a->fd < 0) {
        seterr(err, errlen, "%s: commit after the file was closed", a->path ? a->path : "(null)");
        fs_atomic_abort(a);
        return -1;
    }
    int rc;
    do { rc = fsync(a->fd); } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        seterr(err, errlen, "%s: fsync of %s: %s", a->path, a->tmp, strerror(errno));
        fs_atomic_abort(a);
        return -1;
    }
    rc = close(a->fd);
    a->fd = -1;
    if (rc != 0) {
        seterr(err, errlen, "%s: closing %s: %s", a->path, a->tmp, strerror(errno));
        fs_atomic_abort(a);
        return -1;
    }
    int ret = rename_into_place(a->tmp, a->path, err, errlen);
    /* Either way there is no temporary left: renamed, or removed. */
    free(a->tmp);
    a->tmp = NULL;
    fs_atomic_abort(a);   /* frees path */
    return ret;
}

int fs_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    FsAtomicFile a;
    if (fs_atomic_begin(&a, path, err, errlen)) return -1;
    if (fs_atomic_write(&a, data, len, err, errlen)) return -1;
    return fs_atomic_commit(&a, err, errlen);
}

/* ---- mkdir -p ---- */

static int mkdir_one(const char *full, const char *p, char *err, size_t errlen) {
    if (mkdir(p, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST || e == EROFS || e == EACCES || e == EPERM) {
        /* An existing folder is fine even where we could not have made it. */
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) return 0;
            if (strcmp(full, p) == 0)
                seterr(err, errlen, "%s: exists and is not a folder", full);
            else
                seterr(err, errlen, "%s: cannot create folder: %s exists and is not a folder", full, p);
            return -1;
        }
    }
    if (strcmp(full, p) == 0)
        seterr(err, errlen, "%s: cannot create folder: %s", full, strerror(e));
    else
        seterr(err, errlen, "%s: cannot create folder %s: %s", full, p, strerror(e));
    return -1;
}

int fs_mkdir_p(const char *path, char *err, size_t errlen) {
    if (!path || !*path) {
        seterr(err, errlen, "(empty path): cannot create a folder without a name");
        return -1;
    }
    char *p = strdup(path);
    if (!p) {
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (p[i] != '/' || p[i - 1] == '/') continue;
        p[i] = '\0';
        rc = mkdir_one(path, p, err, errlen);
        p[i] = '/';
    }
    if (rc == 0) rc = mkdir_one(path, p, err, errlen);
    free(p);
    return rc;
}

/* ---- whole-file read ---- */

char *fs_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    if (len) *len = 0;
    if (!path || !*path) {
        seterr(err, errlen, "(empty path): no file to read");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "%s: is a folder, not a file", path);
        close(fd);
        return NULL;
    }
    /* st_size is only a hint: /proc files say 0, files may grow meanwhile. */
    /* +2: room for the NUL and a 1-byte read that sees end-of-file, so an
     * unchanged file needs no reallocation. */
    size_t cap = (S_ISREG(st.st_mode) && st.st_size > 0) ? (size_t)st.st_size + 2 : 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        seterr(err, errlen, "%s: out of memory (%zu bytes)", path, cap);
        close(fd);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap * 2;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                seterr(err, errlen, "%s: out of memory (%zu bytes)", path, ncap);
                free(buf);
                close(fd);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            seterr(err, errlen, "%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
