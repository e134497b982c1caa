/* test_fsutil.c — util/fsutil.c: the temporary-name + rename pair for
 * writers that open files by name (fs_temp_path, fs_commit_rename,
 * fs_temp_discard) and the streaming writer (fs_atomic_begin/write/commit/
 * abort): contents in place, old file untouched and no temporary left on
 * failure, messages naming the path. (fs_write_atomic, fs_mkdir_p and
 * fs_read_file are checked in test_safetensors.c.) */
#include "testutil.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static void join(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

/* Files under g_dir whose name holds ".tmp." (leftover temporaries). */
static int temp_files_left(void) {
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int file_equals(const char *path, const char *want) {
    size_t n = 0;
    char err[512];
    char *s = fs_read_file(path, &n, err, sizeof err);
    int ok = s && n == strlen(want) && memcmp(s, want, n) == 0;
    free(s);
    return ok;
}

static int write_plain(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_temp_path(void) {
    char path[512], tmp[600], want[600], err[1024] = "";
    join(path, sizeof path, "a.h5");
    CHECKF(fs_temp_path(path, tmp, sizeof tmp, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "%s.tmp.%ld", path, (long)getpid());
    CHECKF(strcmp(tmp, want) == 0, "%s", tmp);   /* beside path: same folder */
    char small[8];
    CHECK(fs_temp_path(path, small, sizeof small, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "too long"), "%s", err);
    CHECK(small[0] == '\0');
    CHECK(fs_temp_path("", tmp, sizeof tmp, err, sizeof err) == -1);
    CHECKF(strstr(err, "empty path"), "%s", err);
}

static void test_commit_rename(void) {
    char path[512], tmp[600], err[1024] = "";
    /* a new file */
    join(path, sizeof path, "new.txt");
    CHECK(fs_temp_path(path, tmp, sizeof tmp, err, sizeof err) == 0);
    CHECK(write_plain(tmp, "first") == 0);
    CHECKF(fs_commit_rename(tmp, path, err, sizeof err) == 0, "%s", err);
    CHECK(file_equals(path, "first"));
    CHECK(access(tmp, F_OK) != 0);
    /* replacing an existing one */
    CHECK(write_plain(tmp, "second") == 0);
    CHECKF(fs_commit_rename(tmp, path, err, sizeof err) == 0, "%s", err);
    CHECK(file_equals(path, "second"));
    CHECK(temp_files_left() == 0);

    /* rename fails (the target is a non-empty folder): temporary removed,
     * folder and its contents untouched, message names the target */
    char inner[600];
    join(path, sizeof path, "adir");
    snprintf(inner, sizeof inner, "%s/x", path);
    CHECK(fs_mkdir_p(path, err, sizeof err) == 0);
    CHECK(write_plain(inner, "kept") == 0);
    CHECK(fs_temp_path(path, tmp, sizeof tmp, err, sizeof err) == 0);
    CHECK(write_plain(tmp, "data") == 0);
    CHECK(fs_commit_rename(tmp, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "renam"), "%s", err);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(file_equals(inner, "kept"));
    CHECK(temp_files_left() == 0);

    /* the temporary was never written: an error naming the target */
    join(path, sizeof path, "never.txt");
    CHECK(fs_temp_path(path, tmp, sizeof tmp, err, sizeof err) == 0);
    CHECK(fs_commit_rename(tmp, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    CHECK(access(path, F_OK) != 0);

    /* discard: removes the temporary; a missing one or "" is fine */
    CHECK(write_plain(tmp, "junk") == 0);
    fs_temp_discard(tmp);
    CHECK(access(tmp, F_OK) != 0);
    fs_temp_discard(tmp);
    fs_temp_discard("");
    fs_temp_discard(NULL);
    CHECK(temp_files_left() == 0);
}

static void test_streaming(void) {
    char path[512], err[1024] = "";
    FsAtomicFile a;
    join(path, sizeof path, "stream.bin");
    CHECKF(fs_atomic_begin(&a, path, err, sizeof err) == 0, "%s", err);
    CHECK(temp_files_left() == 1);
    CHECK(access(path, F_OK) != 0);   /* nothing under the name until commit */
    CHECK(fs_atomic_write(&a, "ab", 2, err, sizeof err) == 0);
    CHECK(fs_atomic_write(&a, "", 0, err, sizeof err) == 0);
    CHECK(fs_atomic_write(&a, "cd", 2, err, sizeof err) == 0);
    CHECKF(fs_atomic_commit(&a, err, sizeof err) == 0, "%s", err);
    CHECK(file_equals(path, "abcd"));
    CHECK(temp_files_left() == 0);

    /* abort: the old file stays, the temporary goes; abort twice is safe */
    CHECK(fs_atomic_begin(&a, path, err, sizeof err) == 0);
    CHECK(fs_atomic_write(&a, "zz", 2, err, sizeof err) == 0);
    fs_atomic_abort(&a);
    fs_atomic_abort(&a);
    CHECK(file_equals(path, "abcd"));
    CHECK(temp_files_left() == 0);
    /* a write after abort is refused */
    CHECK(fs_atomic_write(&a, "x", 1, err, sizeof err) == -1);

    /* begin in a missing folder names the path, leaves nothing */
    join(path, sizeof path, "no/such/file");
    CHECK(fs_atomic_begin(&a, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    fs_atomic_abort(&a);
}

static void cleanup(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_fsutil_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_temp_path();
    test_commit_rename();
    test_streaming();
    cleanup();
    return test_finish("test_fsutil");
}
