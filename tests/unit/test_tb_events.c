/* test_tb_events.c — trainer/train/tb_events.c: CRC-32C against published
 * vectors, the event file read back here independently (TFRecord framing
 * parsed by hand, both CRCs checked with a bit-at-a-time CRC written in this
 * file, each Event decoded by protobuf-c's unpack), one record compared with
 * protobuf wire bytes written out by hand, and the error paths. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "trainer/train/proto/tb_event.pb-c.h"
#include "trainer/train/tb_events.h"

/* Reference CRC-32C, one bit at a time (no table shared with the code under
 * test). */
static uint32_t ref_crc32c(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t ref_mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_crc(void) {
    /* the check value of CRC-32C */
    CHECKF(tb_crc32c("123456789", 9) == 0xe3069283u, "0x%08x", tb_crc32c("123456789", 9));
    CHECK(ref_crc32c((const uint8_t *)"123456789", 9) == 0xe3069283u);
    CHECK(tb_crc32c("", 0) == 0);
    /* RFC 3720 appendix B.4 (iSCSI): 32 bytes of 0x00, of 0xff, 0..31 */
    uint8_t b[32];
    memset(b, 0, sizeof b);
    CHECKF(tb_crc32c(b, 32) == 0x8a9136aau, "zeros: 0x%08x", tb_crc32c(b, 32));
    memset(b, 0xff, sizeof b);
    CHECKF(tb_crc32c(b, 32) == 0x62a8ab43u, "ones: 0x%08x", tb_crc32c(b, 32));
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    CHECKF(tb_crc32c(b, 32) == 0x46dd794eu, "incrementing: 0x%08x", tb_crc32c(b, 32));
    /* random buffers of every length up to 300 against the bitwise CRC */
    uint64_t st = 20;
    uint8_t r[300];
    for (size_t i = 0; i < sizeof r; i++) r[i] = (uint8_t)test_rand_u64(&st);
    int bad = 0;
    for (size_t n = 0; n <= sizeof r; n++) bad += tb_crc32c(r, n) != ref_crc32c(r, n);
    CHECKF(bad == 0, "%d lengths differ from the bitwise CRC", bad);
    /* mask: rotate right by 15, add 0xa282ead8 (worked by hand:
     * 0xe3069283 rotated is 0x2507c60d) */
    CHECK(tb_mask_crc(0) == 0xa282ead8u);
    CHECKF(tb_mask_crc(0xe3069283u) == 0xc78ab0e5u, "0x%08x", tb_mask_crc(0xe3069283u));
}

typedef struct {
    uint8_t *data;
    size_t len;
} Rec;

/* Splits a TFRecord file into records, checking both CRCs of each. Returns
 * the number of records (at most max), -1 on a framing or CRC error (said
 * on stderr unless quiet). */
static int read_records(const char *path, Rec *recs, int max, uint8_t **file_out, int quiet) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    *file_out = buf;
    if (got != (size_t)sz) return -1;
    size_t off = 0;
    int n = 0;
    while (off < (size_t)sz) {
        if ((size_t)sz - off < 12 || n == max) return -1;
        uint64_t len = get_le64(buf + off);
        uint32_t lcrc = get_le32(buf + off + 8);
        if (lcrc != ref_mask(ref_crc32c(buf + off, 8))) {
            if (!quiet) fprintf(stderr, "record %d: length CRC mismatch\n", n);
            return -1;
        }
        if ((size_t)sz - off - 12 < len + 4) return -1;
        uint32_t dcrc = get_le32(buf + off + 12 + len);
        if (dcrc != ref_mask(ref_crc32c(buf + off + 12, len))) {
            if (!quiet) fprintf(stderr, "record %d: data CRC mismatch\n", n);
            return -1;
        }
        recs[n].data = buf + off + 12;
        recs[n].len = (size_t)len;
        n++;
        off += 12 + len + 4;
    }
    return n;
}

/* The names of the "events.out.tfevents.*" files in dir, sorted; their count. */
static int find_event_files(const char *dir, char names[][256], int max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "events.out.tfevents.", 20) && n < max)
            snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    /* name order */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], 256);
                memcpy(names[i], names[j], 256);
                memcpy(names[j], t, 256);
            }
    return n;
}

static double wall_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

typedef struct {
    const char *tag;
    long step;
    float value;
    double wall;
} Want;

static void test_write_read(void) {
    char dir[] = "/tmp/mtbert-test-tb-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char run[300];
    snprintf(run, sizeof run, "%s/run/sub", dir); /* created by tb_open */
    char err[512] = "";
    double t_before = wall_now();
    TbWriter *w = tb_open(run, err, sizeof err);
    CHECKF(w != NULL, "%s", err);
    if (!w) return;
    CHECK(strstr(tb_path(w), run) == tb_path(w));
    CHECK(tb_error(w)[0] == '\0');

    Want want[] = {
        {"loss", 5, 0.25f, 1.5},          /* the hand-encoded record below */
        {"loss", 10, 1.75f, 1700000000.25},
        {"lr", 10, 3e-5f, 1700000000.25},
        {"grad_norm", 10, 0.0f, 1700000000.25}, /* a zero still carries simple_value */
        {"loss/topic", 20, -2.5f, 1700000001.0},
        {"eval/topic.accuracy", 1234567890123L, 0.875f, 1700000002.0}, /* > 2^31 */
    };
    int nw = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < nw; i++)
        CHECK(tb_scalar(w, want[i].tag, want[i].step, want[i].wall, want[i].value) == 0);
    /* one event with three values */
    const char *tags[] = {"eval/a", "eval/b", "eval/c"};
    const float vals[] = {1.0f, NAN, INFINITY};
    CHECK(tb_scalars(w, 30, 1700000003.0, 3, tags, vals) == 0);
    CHECK(tb_scalars(w, 31, 0, 0, NULL, NULL) == 0); /* nothing */
    /* wall time 0: now */
    CHECK(tb_scalar(w, "tokens_per_s", 40, 0, 12345.5f) == 0);
    /* bad tag: refused, named, and the writer carries on */
    CHECK(tb_scalar(w, "", 41, 1.0, 1.0f) == -1);
    CHECK(strstr(tb_error(w), tb_path(w)) != NULL);
    CHECK(tb_flush(w) == 0);
    double t_after = wall_now();

    /* the file is complete after tb_flush, before tb_close */
    char names[4][256];
    int nf = find_event_files(run, names, 4);
    CHECKF(nf == 1, "%d event files", nf);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", run, names[0]);
    CHECKF(!strcmp(path, tb_path(w)), "%s vs %s", path, tb_path(w));
    /* events.out.tfevents.<10 digits>.<host> */
    const char *p = names[0] + 20;
    int digits = 0;
    while (p[digits] >= '0' && p[digits] <= '9') digits++;
    CHECK(digits == 10 && p[10] == '.' && p[11] != '\0');
    long long tname = atoll(p);
    CHECK(tname >= (long long)t_before - 1 && tname <= (long long)t_after + 1);
    tb_close(w);

    Rec recs[32];
    uint8_t *file = NULL;
    int nr = read_records(path, recs, 32, &file, 0);
    CHECKF(nr == 1 + nw + 1 + 1, "%d records", nr);
    if (nr != 1 + nw + 1 + 1) {
        free(file);
        return;
    }
    /* record 0: file_version */
    Tbevent__Event *ev = tbevent__event__unpack(NULL, recs[0].len, recs[0].data);
    CHECK(ev != NULL);
    if (ev) {
        CHECK(ev->what_case == TBEVENT__EVENT__WHAT_FILE_VERSION);
        CHECK(ev->what_case == TBEVENT__EVENT__WHAT_FILE_VERSION && !strcmp(ev->file_version, "brain.Event:2"));
        CHECK(ev->wall_time >= t_before - 1 && ev->wall_time <= t_after + 1);
        CHECK(ev->step == 0);
        tbevent__event__free_unpacked(ev, NULL);
    }
    /* wire bytes of Event{wall_time 1.5, step 5, summary{value{tag "loss",
     * simple_value 0.25}}}, written out by hand:
     *   09 <1.5 as little-endian double> 10 05 2a 0d
     *     0a 0b  0a 04 'l' 'o' 's' 's'  15 <0.25f little-endian> */
    static const uint8_t wire[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x05, 0x2a, 0x0d,
                                   0x0a, 0x0b, 0x0a, 0x04, 'l', 'o', 's', 's', 0x15, 0, 0, 0x80, 0x3e};
    CHECKF(recs[1].len == sizeof wire, "%zu bytes", recs[1].len);
    CHECK(recs[1].len == sizeof wire && !memcmp(recs[1].data, wire, sizeof wire));
    for (int i = 0; i < nw; i++) {
        ev = tbevent__event__unpack(NULL, recs[1 + i].len, recs[1 + i].data);
        CHECKF(ev != NULL, "record %d", 1 + i);
        if (!ev) continue;
        CHECK(ev->what_case == TBEVENT__EVENT__WHAT_SUMMARY);
        if (ev->what_case == TBEVENT__EVENT__WHAT_SUMMARY) {
            CHECKF(ev->step == want[i].step, "record %d: step %lld", 1 + i, (long long)ev->step);
            CHECK(ev->wall_time == want[i].wall);
            CHECK(ev->summary->n_value == 1);
            Tbevent__Summary__Value *v = ev->summary->value[0];
            CHECKF(!strcmp(v->tag, want[i].tag), "record %d: tag %s", 1 + i, v->tag);
            CHECK(v->value_case == TBEVENT__SUMMARY__VALUE__VALUE_SIMPLE_VALUE);
            CHECKF(v->simple_value == want[i].value, "record %d: %g", 1 + i, v->simple_value);
        }
        tbevent__event__free_unpacked(ev, NULL);
    }
    ev = tbevent__event__unpack(NULL, recs[1 + nw].len, recs[1 + nw].data);
    CHECK(ev != NULL);
    if (ev) {
        CHECK(ev->what_case == TBEVENT__EVENT__WHAT_SUMMARY && ev->step == 30 &&
              ev->wall_time == 1700000003.0);
        if (ev->what_case == TBEVENT__EVENT__WHAT_SUMMARY && ev->summary->n_value == 3) {
            Tbevent__Summary__Value **v = ev->summary->value;
            CHECK(!strcmp(v[0]->tag, "eval/a") && v[0]->simple_value == 1.0f);
            CHECK(!strcmp(v[1]->tag, "eval/b") && isnan(v[1]->simple_value));
            CHECK(!strcmp(v[2]->tag, "eval/c") && isinf(v[2]->simple_value) && v[2]->simple_value > 0);
        } else {
            CHECK(!"three values");
        }
        tbevent__event__free_unpacked(ev, NULL);
    }
    ev = tbevent__event__unpack(NULL, recs[2 + nw].len, recs[2 + nw].data);
    CHECK(ev != NULL);
    if (ev) {
        CHECK(ev->step == 40 && ev->wall_time >= t_before - 1 && ev->wall_time <= t_after + 1);
        CHECK(ev->what_case == TBEVENT__EVENT__WHAT_SUMMARY && ev->summary->n_value == 1 &&
              !strcmp(ev->summary->value[0]->tag, "tokens_per_s") &&
              ev->summary->value[0]->simple_value == 12345.5f);
        tbevent__event__free_unpacked(ev, NULL);
    }
    free(file);

    /* a damaged byte is caught by the reader above (the test can fail) */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 12 + 3, SEEK_SET); /* inside record 0's data */
        fputc('X', f);
        fclose(f);
        nr = read_records(path, recs, 32, &file, 1);
        CHECK(nr == -1);
        free(file);
    }

    /* a second writer in the same folder gets its own file; the first stays */
    struct stat st0;
    CHECK(stat(path, &st0) == 0);
    TbWriter *w2 = tb_open(run, err, sizeof err);
    CHECKF(w2 != NULL, "%s", err);
    if (w2) {
        CHECK(strcmp(tb_path(w2), path) != 0);
        CHECK(tb_scalar(w2, "loss", 50, 0, 1.0f) == 0);
        tb_close(w2);
    }
    nf = find_event_files(run, names, 4);
    CHECKF(nf == 2, "%d event files", nf);
    struct stat st1;
    CHECK(stat(path, &st1) == 0 && st1.st_size == st0.st_size);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* tb_session_start: Event{wall_time 2.0, step 26, session_log{status START}},
 * wire bytes written out by hand: 09 <2.0 double> 10 1a 3a 02 08 01 */
static void test_session_start(void) {
    char dir[] = "/tmp/mtbert-test-tb-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512];
    TbWriter *w = tb_open(dir, err, sizeof err);
    CHECKF(w != NULL, "%s", err);
    if (!w) return;
    CHECK(tb_session_start(w, 26, 2.0) == 0);
    CHECK(tb_scalar(w, "loss", 26, 3.0, 0.5f) == 0);
    char path[600];
    snprintf(path, sizeof path, "%s", tb_path(w));
    tb_close(w);
    Rec recs[8];
    uint8_t *file = NULL;
    int nr = read_records(path, recs, 8, &file, 0);
    CHECKF(nr == 3, "%d records", nr);
    if (nr == 3) {
        static const uint8_t wire[] = {0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0x1a, 0x3a, 0x02, 0x08, 0x01};
        CHECKF(recs[1].len == sizeof wire, "%zu bytes", recs[1].len);
        CHECK(recs[1].len == sizeof wire && !memcmp(recs[1].data, wire, sizeof wire));
        Tbevent__Event *ev = tbevent__event__unpack(NULL, recs[1].len, recs[1].data);
        CHECK(ev && ev->what_case == TBEVENT__EVENT__WHAT_SESSION_LOG &&
              ev->session_log->status == TBEVENT__SESSION_LOG__SESSION_STATUS__START && ev->step == 26);
        if (ev) tbevent__event__free_unpacked(ev, NULL);
    }
    free(file);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_errors(void) {
    char dir[] = "/tmp/mtbert-test-tb-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char file[300], under[320], err[512];
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    /* the run folder is a file */
    err[0] = '\0';
    CHECK(tb_open(file, err, sizeof err) == NULL);
    CHECKF(strstr(err, file) != NULL, "%s", err);
    /* below a file */
    snprintf(under, sizeof under, "%s/sub", file);
    err[0] = '\0';
    CHECK(tb_open(under, err, sizeof err) == NULL);
    CHECKF(strstr(err, "plain") != NULL, "%s", err);
    /* a folder without write permission (root writes anyway: not checked) */
    char ro[320];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    CHECK(mkdir(ro, 0500) == 0);
    if (geteuid() != 0) {
        err[0] = '\0';
        CHECK(tb_open(ro, err, sizeof err) == NULL);
        CHECKF(strstr(err, ro) != NULL && strstr(err, "events.out.tfevents.") != NULL, "%s", err);
    }
    /* /proc refuses new files even to root */
    err[0] = '\0';
    TbWriter *w = tb_open("/proc/self", err, sizeof err);
    CHECK(w == NULL);
    CHECKF(strstr(err, "/proc/self/events.out.tfevents.") != NULL, "%s", err);
    tb_close(w);
    CHECK(tb_open("", err, sizeof err) == NULL);
    /* NULL writer */
    CHECK(tb_scalar(NULL, "x", 1, 1, 1) == -1);
    CHECK(tb_flush(NULL) == -1);
    tb_close(NULL);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* MTBERT_TB_KEEP=DIR: writes a sample run folder into DIR, an event file and
 * the metrics.jsonl lines the trainer would log beside it, for
 * tests/reference/check_tensorboard.py --compare (not a check by itself). */
static void write_sample_run(const char *dir) {
    char err[512];
    TbWriter *w = tb_open(dir, err, sizeof err);
    CHECKF(w != NULL, "%s", err);
    if (!w) return;
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *j = fopen(path, "w");
    CHECKF(j != NULL, "%s", path);
    if (!j) {
        tb_close(w);
        return;
    }
    double t0 = wall_now();
    for (long step = 5; step <= 40; step += 5) {
        float loss_topic = 1.2f / (float)(1 + step / 5), loss_ner = 2.0f / (float)(1 + step / 10);
        float loss = loss_topic + 0.5f * loss_ner;
        float lr = 5e-5f * (float)step / 40.0f, gnorm = 3.0f / (float)step, tps = 20000.0f + (float)step;
        const char *tags[] = {"train/loss", "train/loss.topic", "train/loss.ner", "train/lr",
                              "train/grad_norm", "train/tokens_per_s"};
        const float vals[] = {loss, loss_topic, loss_ner, lr, gnorm, tps};
        CHECK(tb_scalars(w, step, t0 + (double)step, 6, tags, vals) == 0);
        fprintf(j, "{\"event\": \"train\", \"step\": %ld, \"loss\": %.6g, \"loss.topic\": %.6g, "
                   "\"loss.ner\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.1f, "
                   "\"nonfinite_skipped\": 0}\n",
                step, loss, loss_topic, loss_ner, lr, gnorm, tps);
        if (step % 20 == 0) {
            float acc = 0.5f + (float)step / 100.0f, f1 = 0.4f + (float)step / 120.0f;
            CHECK(tb_scalar(w, "eval/topic.accuracy", step, t0 + step + 0.5, acc) == 0);
            CHECK(tb_scalar(w, "eval/ner.f1", step, t0 + step + 0.5, f1) == 0);
            fprintf(j, "{\"event\": \"eval\", \"step\": %ld, \"topic.accuracy\": %.6g, \"ner.f1\": %.6g}\n",
                    step, acc, f1);
        }
        CHECK(tb_flush(w) == 0);
    }
    CHECK(fclose(j) == 0);
    fprintf(stderr, "test_tb_events: sample run in %s (%s)\n", dir, tb_path(w));
    tb_close(w);
}

/* A write error (here: the file-size limit, EFBIG) is reported with the
 * path and is sticky. Runs in a child so
 * that the limit stays there. */
static void test_write_error(void) {
    char dir[] = "/tmp/mtbert-test-tb-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        char err[512];
        signal(SIGXFSZ, SIG_IGN);
        TbWriter *w = tb_open(dir, err, sizeof err);
        if (!w) _exit(10);
        struct rlimit rl = {4096, 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(11);
        int rc = 0, k;
        for (k = 0; k < 10000 && rc == 0; k++) {
            rc = tb_scalar(w, "loss", k, 1.0, (float)k);
            if (rc == 0) rc = tb_flush(w);
        }
        if (rc != -1) bad |= 1;
        if (!strstr(tb_error(w), tb_path(w)) || !strstr(tb_error(w), "write failed")) bad |= 2;
        fprintf(stderr, "test_tb_events: expected error after %d scalars: %s\n", k, tb_error(w));
        if (tb_scalar(w, "loss", 1, 1.0, 1.0f) != -1 || tb_flush(w) != -1) bad |= 4;
        tb_close(w);
        _exit(bad);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    test_crc();
    test_write_error();
    test_write_read();
    test_session_start();
    test_errors();
    const char *keep = getenv("MTBERT_TB_KEEP");
    if (keep && *keep) write_sample_run(keep);
    return test_finish("test_tb_events");
}
