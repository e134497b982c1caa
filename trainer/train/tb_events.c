/* tb_events.c — TensorBoard event files (see tb_events.h): protobuf-c
 * serialises the Event messages, this file adds the TFRecord framing. */
#include "trainer/train/tb_events.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "trainer/train/proto/tb_event.pb-c.h"
#include "util/errmsg.h"
#include "util/fsutil.h"

struct TbWriter {
    char *path;
    FILE *f;
    uint8_t *buf; /* one record: 12-byte header, data, 4-byte footer */
    size_t cap;
    int failed;   /* sticky: a write failed, nothing more is written */
    long nrec;    /* records written */
    long fault_after; /* MTBERT_TB_FAULT_AFTER=N (tests): after the file_version
                       * record and N more, every write fails; -1: off */
    char err[512];
};

/* ---- CRC-32C: one 256-entry table, built once ---- */

static uint32_t crc_table[256];
static once_flag crc_once = ONCE_FLAG_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t tb_crc32c(const void *data, size_t n) {
    call_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t tb_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- writing ---- */

static void fail(TbWriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(TbWriter *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

static double now_wall(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* Packs ev into one framed record and hands it to stdio. */
static int write_event(TbWriter *w, const Tbevent__Event *ev) {
    if (w->failed) return -1;
    size_t len = tbevent__event__get_packed_size(ev);
    size_t need = 12 + len + 4;
    if (need > w->cap) {
        uint8_t *nb = realloc(w->buf, need);
        if (!nb) {
            fail(w, "%s: out of memory for a %zu-byte record", w->path, need);
            w->failed = 1;
            return -1;
        }
        w->buf = nb;
        w->cap = need;
    }
    uint8_t *b = w->buf;
    put_le64(b, (uint64_t)len);
    put_le32(b + 8, tb_mask_crc(tb_crc32c(b, 8)));
    size_t packed = tbevent__event__pack(ev, b + 12);
    if (packed != len) {
        fail(w, "%s: protobuf-c packed %zu bytes, expected %zu", w->path, packed, len);
        w->failed = 1;
        return -1;
    }
    put_le32(b + 12 + len, tb_mask_crc(tb_crc32c(b + 12, len)));
    if (w->fault_after >= 0 && w->nrec > w->fault_after) {
        fail(w, "%s: write failed: %s (MTBERT_TB_FAULT_AFTER=%ld)", w->path, strerror(ENOSPC), w->fault_after);
        w->failed = 1;
        return -1;
    }
    if (fwrite(b, 1, need, w->f) != need) {
        fail(w, "%s: write failed: %s", w->path, strerror(errno));
        w->failed = 1;
        return -1;
    }
    w->nrec++;
    return 0;
}

/* Creates the file under an unused name: base, base.1, base.2, ... */
static FILE *create_unique(const char *base, char **path_out, char *err, size_t n) {
    size_t cap = strlen(base) + 16;
    char *path = malloc(cap);
    if (!path) {
        seterr(err, n, "%s: out of memory", base);
        return NULL;
    }
    for (int k = 0; k < 1000; k++) {
        if (k == 0) snprintf(path, cap, "%s", base);
        else snprintf(path, cap, "%s.%d", base, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            seterr(err, n, "%s: cannot create the TensorBoard event file: %s", path, strerror(errno));
            free(path);
            return NULL;
        }
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            seterr(err, n, "%s: fdopen: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            free(path);
            return NULL;
        }
        *path_out = path;
        return f;
    }
    seterr(err, n, "%s: every name up to .999 exists already", base);
    free(path);
    return NULL;
}

TbWriter *tb_open(const char *run_dir, char *err, size_t n) {
    if (!run_dir || !*run_dir) {
        seterr(err, n, "TensorBoard event file: empty run folder name");
        return NULL;
    }
    if (fs_mkdir_p(run_dir, err, n)) return NULL;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++) /* keep the name one path component */
        if (*p == '/' || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) *p = '_';
    size_t blen = strlen(run_dir) + strlen(host) + 64;
    char *base = malloc(blen);
    TbWriter *w = calloc(1, sizeof *w);
    if (!base || !w) {
        seterr(err, n, "%s: out of memory", run_dir);
        free(base);
        free(w);
        return NULL;
    }
    const char *fa = getenv("MTBERT_TB_FAULT_AFTER");
    w->fault_after = fa && *fa ? strtol(fa, NULL, 10) : -1;
    double t0 = now_wall();
    snprintf(base, blen, "%s/events.out.tfevents.%010lld.%s", run_dir, (long long)t0, host);
    w->f = create_unique(base, &w->path, err, n);
    free(base);
    if (!w->f) {
        free(w);
        return NULL;
    }
    Tbevent__Event ev = TBEVENT__EVENT__INIT;
    ev.wall_time = t0;
    ev.step = 0;
    ev.what_case = TBEVENT__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)"brain.Event:2";
    if (write_event(w, &ev) || tb_flush(w)) {
        seterr(err, n, "%s", w->err);
        fclose(w->f);
        unlink(w->path);
        free(w->path);
        free(w->buf);
        free(w);
        return NULL;
    }
    return w;
}

int tb_scalars(TbWriter *w, long step, double wall_time, size_t n, const char *const *tags,
               const float *values) {
    if (!w) return -1;
    if (w->failed) return -1;
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!tags[i] || !tags[i][0]) {
            fail(w, "%s: scalar %zu of step %ld has no tag", w->path, i, step);
            return -1;
        }
    Tbevent__Summary__Value one[8];
    Tbevent__Summary__Value *onep[8];
    Tbevent__Summary__Value *vals = n <= 8 ? one : malloc(n * sizeof *vals);
    Tbevent__Summary__Value **valp = n <= 8 ? onep : malloc(n * sizeof *valp);
    if (!vals || !valp) {
        if (vals != one) free(vals);
        if (valp != onep) free(valp);
        fail(w, "%s: out of memory", w->path);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        tbevent__summary__value__init(&vals[i]);
        vals[i].tag = (char *)tags[i];
        vals[i].value_case = TBEVENT__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        vals[i].simple_value = values[i];
        valp[i] = &vals[i];
    }
    Tbevent__Summary sum = TBEVENT__SUMMARY__INIT;
    sum.n_value = n;
    sum.value = valp;
    Tbevent__Event ev = TBEVENT__EVENT__INIT;
    ev.wall_time = (isfinite(wall_time) && wall_time > 0) ? wall_time : now_wall();
    ev.step = step;
    ev.what_case = TBEVENT__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    int rc = write_event(w, &ev);
    if (vals != one) free(vals);
    if (valp != onep) free(valp);
    return rc;
}

int tb_scalar(TbWriter *w, const char *tag, long step, double wall_time, float value) {
    return tb_scalars(w, step, wall_time, 1, &tag, &value);
}

int tb_session_start(TbWriter *w, long step, double wall_time) {
    if (!w) return -1;
    Tbevent__SessionLog log = TBEVENT__SESSION_LOG__INIT;
    log.status = TBEVENT__SESSION_LOG__SESSION_STATUS__START;
    Tbevent__Event ev = TBEVENT__EVENT__INIT;
    ev.wall_time = (isfinite(wall_time) && wall_time > 0) ? wall_time : now_wall();
    ev.step = step;
    ev.what_case = TBEVENT__EVENT__WHAT_SESSION_LOG;
    ev.session_log = &log;
    return write_event(w, &ev);
}

int tb_flush(TbWriter *w) {
    if (!w) return -1;
    if (w->failed) return -1;
    if (fflush(w->f) != 0) {
        fail(w, "%s: write failed: %s", w->path, strerror(errno));
        w->failed = 1;
        return -1;
    }
    return 0;
}

void tb_close(TbWriter *w) {
    if (!w) return;
    fclose(w->f);
    free(w->path);
    free(w->buf);
    free(w);
}

const char *tb_path(const TbWriter *w) { return w ? w->path : ""; }

const char *tb_error(const TbWriter *w) { return w ? w->err : ""; }
