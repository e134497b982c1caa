/* logbook.c — one record to metrics.jsonl and TensorBoard (logbook.h). */
#include "trainer/train/logbook.h"

#include <math.h>
#include <string.h>

void logrec_begin(LogRecord *r, const char *event, long step) {
    r->event = event;
    r->step = step;
    r->text_key = r->text = NULL;
    r->n = 0;
}

int logrec_add(LogRecord *r, const char *key, double v, LogFormat fmt) {
    size_t len = strlen(key);
    if (r->n >= LOG_MAX_FIELDS || len >= LOG_KEY_LEN) return -1;
    memcpy(r->key[r->n], key, len + 1);
    r->value[r->n] = v;
    r->fmt[r->n] = (unsigned char)fmt;
    r->n++;
    return 0;
}

void logrec_text(LogRecord *r, const char *key, const char *text) {
    r->text_key = key;
    r->text = text;
}

/* ---- metrics.jsonl ---- */

static void jsonl_field(FILE *f, const char *key, double v, LogFormat fmt) {
    switch (fmt) {
    case LOG_F1: fprintf(f, ", \"%s\": %.1f", key, v); break;
    case LOG_INT: fprintf(f, ", \"%s\": %ld", key, (long)v); break;
    case LOG_G:
    default:
        if (isfinite(v)) fprintf(f, ", \"%s\": %.6g", key, v);
        else fprintf(f, ", \"%s\": \"%.6g\"", key, v);
        break;
    }
}

static void write_jsonl(FILE *f, const LogRecord *r) {
    fprintf(f, "{\"event\": \"%s\", \"step\": %ld", r->event, r->step);
    if (r->text_key) fprintf(f, ", \"%s\": \"%s\"", r->text_key, r->text);
    for (int i = 0; i < r->n; i++) jsonl_field(f, r->key[i], r->value[i], (LogFormat)r->fmt[i]);
    fprintf(f, "}\n");
    fflush(f);
}

/* ---- TensorBoard ---- */

void tblog_open(TbLog *tb, const char *run_dir, long resumed_step) {
    char err[1024];
    tb->warned = 0;
    tb->w = tb_open(run_dir, err, sizeof err);
    if (!tb->w) {
        fprintf(stderr, "mtbert: warning: no TensorBoard log (logging.tensorboard): %s\n", err);
        return;
    }
    if (tb_session_start(tb->w, resumed_step + 1, 0) || tb_flush(tb->w)) {
        fprintf(stderr, "mtbert: warning: TensorBoard log stopped: %s\n", tb_error(tb->w));
        tb->warned = 1;
        tb_close(tb->w);
        tb->w = NULL;
    }
}

void tblog_close(TbLog *tb) {
    tb_close(tb->w);
    tb->w = NULL;
}

/* tags "EVENT/KEY" (and "EVENT/TEXT" = 1 for the text field) */
static void write_tb(TbLog *tb, const LogRecord *r) {
    static char names[LOG_MAX_FIELDS + 1][LOG_KEY_LEN + 32];
    const char *tags[LOG_MAX_FIELDS + 1];
    float values[LOG_MAX_FIELDS + 1];
    size_t n = 0;
    if (r->text_key) {
        snprintf(names[n], sizeof names[n], "%s/%s", r->event, r->text);
        values[n++] = 1.0f;
    }
    for (int i = 0; i < r->n; i++) {
        snprintf(names[n], sizeof names[n], "%s/%s", r->event, r->key[i]);
        values[n++] = (float)r->value[i];
    }
    for (size_t i = 0; i < n; i++) tags[i] = names[i];
    if (tb_scalars(tb->w, r->step, 0, n, tags, values) || tb_flush(tb->w)) {
        if (!tb->warned)
            fprintf(stderr, "mtbert: warning: TensorBoard log stopped (training goes on): %s\n", tb_error(tb->w));
        tb->warned = 1;
        tb_close(tb->w);
        tb->w = NULL;
    }
}

void logbook_write(FILE *jsonl, TbLog *tb, const LogRecord *r) {
    if (jsonl) write_jsonl(jsonl, r);
    if (tb && tb->w) write_tb(tb, r);
}
