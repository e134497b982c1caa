/* test_run_dir.c — the run directory's guard rails (trainer/train/run_dir.h)
 * one function at a time:
 * - run_dir_truncate_metrics: keeps records with step <= S and records
 *   without a step, drops later ones, a line that is not a JSON object and
 *   a last line without its newline; leaves the file untouched (same inode)
 *   when nothing is dropped; a missing file is fine;
 * - run_dir_check_fresh: an empty folder (or one holding only .lock) and a
 *   missing one pass; otherwise the message names the folder, lists entries
 *   (at most 6, then "and N more") and the way out; overwrite passes;
 * - run_dir_clear: removes a run's files (and their .tmp.PID temporaries,
 *   step folders, .step-*.tmp, event files), keeps and names other files;
 * - run_dir_lock: a second process is refused naming the holder's PID; the
 *   lock is free again after run_dir_unlock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "trainer/train/run_dir.h"

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static char *get(const char *path) {
    static char buf[8192];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void test_truncate(const char *dir) {
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    long dropped = -1;
    CHECK(run_dir_truncate_metrics(p, 5, &dropped, err, sizeof err) == 0 && dropped == 0); /* no file */
    put(p, "{\"event\": \"train\", \"step\": 4, \"loss\": 1.5}\n"
           "{\"event\": \"eval\", \"step\": 5, \"topic.loss\": \"nan\"}\n"
           "{\"event\": \"note\"}\n"
           "{\"event\": \"train\", \"step\": 6, \"loss\": 1.2}\n"
           "not json at all\n"
           "{\"event\": \"train\", \"step\": 3, \"loss\": 1.7}\n"
           "{\"event\": \"train\", \"step\": 7, \"lo");
    CHECK(run_dir_truncate_metrics(p, 5, &dropped, err, sizeof err) == 0);
    CHECKF(dropped == 3, "dropped %ld, expected 3 (step 6, the non-JSON line, the cut line)", dropped);
    const char *want = "{\"event\": \"train\", \"step\": 4, \"loss\": 1.5}\n"
                       "{\"event\": \"eval\", \"step\": 5, \"topic.loss\": \"nan\"}\n"
                       "{\"event\": \"note\"}\n"
                       "{\"event\": \"train\", \"step\": 3, \"loss\": 1.7}\n";
    char *got = get(p);
    CHECKF(got && !strcmp(got, want), "after truncation:\n%s", got ? got : "(missing)");
    /* nothing to drop: the file is not rewritten */
    struct stat a, b;
    stat(p, &a);
    CHECK(run_dir_truncate_metrics(p, 100, &dropped, err, sizeof err) == 0 && dropped == 0);
    stat(p, &b);
    CHECK(a.st_ino == b.st_ino);
    /* step 0: every stepped record goes */
    CHECK(run_dir_truncate_metrics(p, 0, &dropped, err, sizeof err) == 0 && dropped == 3);
    got = get(p);
    CHECKF(got && !strcmp(got, "{\"event\": \"note\"}\n"), "after truncation to 0: %s", got ? got : "(missing)");
    unlink(p);
}

static void test_fresh_and_clear(const char *base) {
    char d[1024], p[1200], err[2048], kept[600];
    snprintf(d, sizeof d, "%s/run", base);
    CHECK(run_dir_check_fresh(d, 0, err, sizeof err) == 0); /* missing */
    mkdir(d, 0755);
    CHECK(run_dir_check_fresh(d, 0, err, sizeof err) == 0); /* empty */
    snprintf(p, sizeof p, "%s/.lock", d);
    put(p, "1 host\n");
    CHECK(run_dir_check_fresh(d, 0, err, sizeof err) == 0); /* only the lock */
    const char *files[] = {"config.yaml", "metrics.jsonl", "curves.svg", "latest", "best", "config.yaml.tmp.77",
                           "events.out.tfevents.1700000000.node1", "notes.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        put(p, "x\n");
    }
    const char *dirs[] = {"step-0000006", "step-0000012", ".step-0000018.tmp", "mydata"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, dirs[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/%s/f", d, dirs[i]);
        put(p, "y\n");
    }
    CHECK(run_dir_check_fresh(d, 0, err, sizeof err) == -1);
    CHECKF(strstr(err, d) && strstr(err, "not empty") && strstr(err, "and 6 more") &&
           strstr(err, "checkpoint.resume=auto") && strstr(err, "checkpoint.overwrite=true"), "message: %s", err);
    CHECK(run_dir_check_fresh(d, 1, err, sizeof err) == 0);
    CHECK(run_dir_clear(d, kept, sizeof kept, err, sizeof err) == 0);
    for (size_t i = 0; i + 1 < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        CHECKF(!exists(p), "%s survived the clear", files[i]);
    }
    for (size_t i = 0; i + 1 < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, dirs[i]);
        CHECKF(!exists(p), "%s/ survived the clear", dirs[i]);
    }
    snprintf(p, sizeof p, "%s/notes.txt", d);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/mydata/f", d);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/.lock", d);
    CHECK(exists(p));
    CHECKF(strstr(kept, "notes.txt") && strstr(kept, "mydata"), "kept: %s", kept);
}

static void test_lock(const char *base) {
    char d[1024], err[2048];
    snprintf(d, sizeof d, "%s/locked", base);
    CHECKF(run_dir_lock(d, err, sizeof err) == 0, "%s", err);
    CHECK(run_dir_lock(d, err, sizeof err) == 0); /* the same process again: fine */
    char want[64];
    snprintf(want, sizeof want, "(PID %ld", (long)getpid());
    int fds[2];
    if (pipe(fds)) { CHECK(0); return; }
    pid_t c = fork();
    if (c == 0) {
        close(fds[0]);
        run_dir_unlock(); /* the child's copy of the descriptor: the parent's lock stands */
        char e[2048] = "";
        int rc = run_dir_lock(d, e, sizeof e);
        char out[2100];
        int n = snprintf(out, sizeof out, "%d %s", rc, e);
        ssize_t w = write(fds[1], out, (size_t)n);
        (void)w;
        _exit(0);
    }
    close(fds[1]);
    char got[2100] = "";
    ssize_t n = read(fds[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = 0;
    close(fds[0]);
    waitpid(c, NULL, 0);
    CHECKF(!strncmp(got, "-1 ", 3) && strstr(got, "in use by another training run") && strstr(got, want),
           "a second process: %s", got);
    run_dir_unlock();
    c = fork();
    if (c == 0) _exit(run_dir_lock(d, err, sizeof err) == 0 ? 0 : 1); /* unlocked in the parent: no copy */
    int status = 0;
    waitpid(c, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    char base[] = "/tmp/test_run_dir_XXXXXX";
    if (!mkdtemp(base)) return test_skip("mkdtemp failed");
    test_truncate(base);
    test_fresh_and_clear(base);
    test_lock(base);
    run_dir_rm_rf(base);
    return test_finish("test_run_dir");
}
