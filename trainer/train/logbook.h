/* logbook.h — the run's records (rank 0) on one path to both logs:
 *
 *   metrics.jsonl   one JSON line {"event": E, "step": S, key: value, ...}
 *                   per record, each number in the format its field asks
 *                   for (LogFormat; a non-finite LOG_G value is quoted, as
 *                   JSON has no NaN);
 *   TensorBoard     when enabled (logging.tensorboard), every number of the
 *                   record as a scalar tagged "E/key" at step S (the jsonl
 *                   key verbatim: "train/loss.ner", "eval/ner.entity_f1"),
 *                   all of one record in one event; the text field, when
 *                   there is one, becomes the scalar "E/TEXT" = 1 (an
 *                   unfreeze record {"group": "backbone"} is
 *                   "unfreeze/backbone" = 1 at its step).
 *
 * The jsonl FILE stays the caller's (Trainer.jsonl, opened by run_dir_start,
 * closed by cmd_train / trainer_free); the TensorBoard writer belongs to the
 * TbLog (tblog_open / tblog_close).
 *
 *     LogRecord r;
 *     logrec_begin(&r, "train", step);
 *     logrec_add(&r, "loss", loss, LOG_G);
 *     logrec_add(&r, "tokens_per_s", tps, LOG_F1);
 *     logbook_write(t->jsonl, &t->tb, &r);   // either may be off (NULL / closed)
 */
#ifndef MTBERT_LOGBOOK_H
#define MTBERT_LOGBOOK_H

#include <stdio.h>

#include "trainer/train/tb_events.h"

#define LOG_MAX_FIELDS 160 /* >= MAX_METRICS (128) and 2 * MAX_TASKS + 8 */
#define LOG_KEY_LEN 128    /* >= a MetricSet name (MAX_NAME + 32) */

/* How a number is written to metrics.jsonl. */
typedef enum {
    LOG_G,    /* %.6g; a non-finite value as a string: "nan" */
    LOG_F1,   /* %.1f, never quoted (tokens_per_s) */
    LOG_INT,  /* %ld of the value (a count: nonfinite_skipped) */
} LogFormat;

typedef struct {
    const char *event;              /* "train", "eval", "unfreeze" */
    long step;
    const char *text_key, *text;    /* one string field (written first), or NULL */
    int n;
    char key[LOG_MAX_FIELDS][LOG_KEY_LEN];
    double value[LOG_MAX_FIELDS];
    unsigned char fmt[LOG_MAX_FIELDS];
} LogRecord;

/* The TensorBoard side: NULL w when off, or closed after a write error. */
typedef struct {
    TbWriter *w;
    int warned;
} TbLog;

void logrec_begin(LogRecord *r, const char *event, long step);
/* A number field; the key is copied. Returns 0, or -1 when the record is
 * full or the key too long (nothing added: callers size records so that
 * this cannot happen, see LOG_MAX_FIELDS). */
int logrec_add(LogRecord *r, const char *key, double v, LogFormat fmt);
/* The string field (not copied: it must outlive logbook_write). */
void logrec_text(LogRecord *r, const char *key, const char *text);

/* Opens a new event file in run_dir (never appends: tb_open) and writes the
 * SessionLog START at resumed_step + 1, so that TensorBoard drops the older
 * files' points from there on, as metrics.jsonl is cut back to resumed_step
 * (0 for a fresh run: START at 1, which drops nothing unless the folder holds
 * the files of an earlier attempt that saved no checkpoint). On failure: a warning on stderr, tb->w stays NULL, training goes
 * on without TensorBoard. */
void tblog_open(TbLog *tb, const char *run_dir, long resumed_step);
void tblog_close(TbLog *tb);

/* Writes r to metrics.jsonl (when jsonl is not NULL; flushed) and to
 * TensorBoard (when tb->w; flushed). A TensorBoard write error is reported
 * once on stderr, that log is closed and the run goes on. */
void logbook_write(FILE *jsonl, TbLog *tb, const LogRecord *r);

#endif
