/* run_dir.c — see run_dir.h. */
#include "trainer/train/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

#define LOCK_NAME ".lock"

static int lock_fd = -1;
static char lock_dir[2048];

int run_dir_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            if (run_dir_rm_rf(sub)) rc = -1;
        }
        closedir(d);
        if (rmdir(path) && errno != ENOENT) return -1;
        return rc;
    }
    return unlink(path) && errno != ENOENT ? -1 : 0;
}

int run_dir_lock(const char *dir, char *err, size_t errlen) {
    if (lock_fd >= 0 && !strcmp(lock_dir, dir)) return 0;
    if (fs_mkdir_p(dir, err, errlen)) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open the run directory's lock file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* the holder writes "PID HOST" right after it gets the lock */
            char buf[512] = "";
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = 0;
            buf[strcspn(buf, "\r\n")] = 0;
            long pid = 0;
            char host[256] = "";
            int got = sscanf(buf, "%ld %255s", &pid, host);
            if (got >= 1 && pid > 0)
                snprintf(err, errlen, "%s: in use by another training run (PID %ld%s%s holds %s); wait for it to "
                         "end, or give this run another train.run_dir", dir, pid, got == 2 ? " on " : "",
                         got == 2 ? host : "", path);
            else
                snprintf(err, errlen, "%s: in use by another training run (it holds %s; PID not yet written); wait "
                         "for it to end, or give this run another train.run_dir", dir, path);
        } else {
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        }
        close(fd);
        return -1;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "?");
    char line[384];
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (lock_fd >= 0) close(lock_fd);
    lock_fd = fd;
    snprintf(lock_dir, sizeof lock_dir, "%s", dir);
    return 0;
}

void run_dir_unlock(void) {
    if (lock_fd < 0) return;
    close(lock_fd); /* releases the flock; the file (and its PID) stays: harmless */
    lock_fd = -1;
    lock_dir[0] = 0;
}

/* name, or name.tmp.PID (fs_write_atomic's temporary) */
static int is_name_or_tmp(const char *n, const char *base) {
    size_t b = strlen(base);
    return !strncmp(n, base, b) && (n[b] == 0 || !strncmp(n + b, ".tmp.", 5));
}

/* What a training run writes into its run directory. */
static int written_by_a_run(const char *n) {
    static const char *files[] = {"config.yaml", "metrics.jsonl", "curves.svg", "latest", "best"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (is_name_or_tmp(n, files[i])) return 1;
    long s;
    char tail;
    if (sscanf(n, "step-%ld%c", &s, &tail) == 1 && s >= 0) return 1;
    if (!strncmp(n, ".step-", 6)) return 1;
    if (!strncmp(n, "events.out.tfevents.", 20)) return 1;
    return !strcmp(n, LOCK_NAME);
}

int run_dir_check_fresh(const char *dir, int overwrite, char *err, size_t errlen) {
    if (overwrite) return 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), -1);
    char list[640] = "";
    int n = 0;
    struct dirent *e;
    /* pass 0: everything but TensorBoard event files (one per run and
     * resume), pass 1: those, so that they are named only when fewer than 6
     * other entries are there */
    for (int pass = 0; pass < 2; pass++) {
        rewinddir(d);
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, LOCK_NAME)) continue;
            int is_event_file = !strncmp(e->d_name, "events.out.tfevents.", 20);
            if (is_event_file != pass) continue;
            if (n < 6) {
                size_t u = strlen(list);
                snprintf(list + u, sizeof list - u, "%s%.80s%s", n ? ", " : "", e->d_name,
                         e->d_type == DT_DIR ? "/" : "");
            }
            n++;
        }
    }
    closedir(d);
    if (!n) return 0;
    if (n > 6) {
        size_t u = strlen(list);
        snprintf(list + u, sizeof list - u, " and %d more", n - 6);
    }
    snprintf(err, errlen, "%s: the run directory is not empty (%s): a fresh run (checkpoint.resume: none) would "
             "mix with or delete what is there. Continue that run with --set checkpoint.resume=auto, start over "
             "with --set checkpoint.overwrite=true (removes the earlier run's files first), or choose another "
             "train.run_dir", dir, list);
    return -1;
}

int run_dir_clear(const char *dir, char *kept, size_t keptlen, char *err, size_t errlen) {
    if (kept && keptlen) kept[0] = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0, nkept = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, LOCK_NAME)) continue;
        if (!written_by_a_run(n)) {
            if (kept && keptlen) {
                size_t u = strlen(kept);
                if (nkept < 6) snprintf(kept + u, keptlen - u, "%s%.80s", nkept ? ", " : "", n);
                else if (nkept == 6) snprintf(kept + u, keptlen - u, ", ...");
            }
            nkept++;
            continue;
        }
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, n);
        if (run_dir_rm_rf(p)) {
            snprintf(err, errlen, "%s: cannot remove (checkpoint.overwrite): %s", p, strerror(errno));
            rc = -1;
            break;
        }
    }
    closedir(d);
    fs_fsync_dir(dir);
    return rc;
}

int run_dir_remove_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s;
        char tail[8];
        /* .step-N.tmp/ (a save cut short), .step-N.old/ (a replaced folder not yet deleted) */
        if (sscanf(e->d_name, ".step-%ld%7s", &s, tail) == 2 && (!strncmp(tail, ".tmp", 4) || !strcmp(tail, ".old"))) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (!run_dir_rm_rf(p)) n++;
        }
    }
    closedir(d);
    return n;
}

int run_dir_truncate_metrics(const char *path, long step, long *dropped, char *err, size_t errlen) {
    if (dropped) *dropped = 0;
    size_t len;
    char e2[512];
    char *text = fs_read_file(path, &len, e2, sizeof e2);
    if (!text) {
        struct stat st;
        if (stat(path, &st) && errno == ENOENT) return 0;
        snprintf(err, errlen, "%s", e2);
        return -1;
    }
    char *out = malloc(len + 1);
    if (!out) {
        free(text);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t o = 0;
    long nd = 0;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        int keep = 0;
        if (nl) { /* a last line without its newline was cut short */
            json_error_t je;
            json_t *o1 = json_loadb(p, l, 0, &je);
            if (json_is_object(o1)) {
                json_t *s = json_object_get(o1, "step");
                keep = !s || !json_is_integer(s) || json_integer_value(s) <= step;
            }
            json_decref(o1);
        } else if (l == 0) {
            keep = 1;
        }
        if (keep) {
            memcpy(out + o, p, l);
            o += l;
            if (nl) out[o++] = '\n';
        } else {
            nd++;
        }
        p += l + (nl ? 1 : 0);
    }
    int rc = 0;
    if (nd) rc = fs_write_atomic(path, out, o, err, errlen);
    if (dropped) *dropped = nd;
    free(out);
    free(text);
    return rc;
}

/* ------------------------------------------------- trainer_setup's moments */

static int is_fresh(const Config *cfg) {
    return !cfg->checkpoint.resume || !strcmp(cfg->checkpoint.resume, "none");
}

int run_dir_begin(const Config *cfg, Comm *comm) {
    int bad = 0;
    if (comm->rank == 0) {
        char err[2048];
        const char *dir = cfg->train.run_dir;
        if (run_dir_lock(dir, err, sizeof err) ||
            (is_fresh(cfg) && run_dir_check_fresh(dir, cfg->checkpoint.overwrite, err, sizeof err))) {
            fprintf(stderr, "mtbert: %s\n", err);
            bad = 1;
        } else {
            int n = run_dir_remove_temps(dir);
            if (n) fprintf(stderr, "mtbert: %s: removed %d temporary folder%s of an interrupted save\n", dir, n,
                           n == 1 ? "" : "s");
        }
    }
    comm_allreduce_max_int(comm, &bad, 1);
    return bad ? 2 : 0;
}

int run_dir_start(Trainer *t) {
    const Config *cfg = t->cfg;
    int bad = 0;
    if (t->comm->rank == 0) {
        char err[2048], path[1200];
        const char *dir = cfg->train.run_dir;
        if (is_fresh(cfg) && cfg->checkpoint.overwrite) {
            char kept[600];
            if (run_dir_clear(dir, kept, sizeof kept, err, sizeof err)) bad = 1;
            else fprintf(stderr, "mtbert: checkpoint.overwrite: removed the earlier run's files from %s%s%s%s\n", dir,
                         kept[0] ? " (left alone: " : "", kept, kept[0] ? ")" : "");
        }
        snprintf(path, sizeof path, "%s/config.yaml", dir);
        if (!bad && config_write_resolved(cfg, path, err, sizeof err)) bad = 1;
        snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
        long dropped = 0;
        if (!bad && run_dir_truncate_metrics(path, t->st.step, &dropped, err, sizeof err)) bad = 1;
        if (!bad && dropped && t->st.step > 0)
            fprintf(stderr, "mtbert: %s: dropped %ld record%s logged after step %ld (redone from the checkpoint)\n",
                    path, dropped, dropped == 1 ? "" : "s", t->st.step);
        if (!bad && cfg->logging.jsonl) {
            t->jsonl = fopen(path, "a");
            if (!t->jsonl) {
                snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
                bad = 1;
            }
        }
        if (bad) fprintf(stderr, "mtbert: %s\n", err);
        /* a new event file, also on resume (never appended to) */
        if (!bad && cfg->logging.tensorboard) tblog_open(&t->tb, dir, t->st.step);
    }
    comm_allreduce_max_int(t->comm, &bad, 1);
    return bad ? 1 : 0;
}
