/* tb_events.h — TensorBoard event files: scalar summaries written the way
 * TensorFlow's summary writer writes them, readable by `tensorboard --logdir`
 * and tensorboard.backend.event_processing.
 *
 * A file is a sequence of TFRecord records, each
 *     uint64 length (little endian)
 *     uint32 masked CRC-32C of the 8 length bytes
 *     length bytes of data: one serialised tensorflow.Event
 *     uint32 masked CRC-32C of the data
 * with mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first record is
 * an Event whose file_version is "brain.Event:2"; every further record is an
 * Event{wall_time, step, summary: Summary{value: [Value{tag, simple_value}]}}
 * or, from tb_session_start, Event{wall_time, step, session_log{START}}.
 * The messages are serialised by protobuf-c from trainer/train/proto/
 * tb_event.proto (the needed subset of event.proto / summary.proto).
 *
 * Use (rank 0 only, beside metrics.jsonl):
 *     TbWriter *tb = tb_open(run_dir, err, sizeof err);   // NULL: err says why
 *     if (resumed_from_step > 0) tb_session_start(tb, resumed_from_step + 1, 0);
 *     tb_scalar(tb, "loss", step, 0, loss);               // 0 wall time = now
 *     tb_scalar(tb, "lr", step, 0, lr);
 *     tb_flush(tb);                                       // once per log line
 *     ...
 *     tb_close(tb);                                       // flushes; NULL is fine
 * A write error is sticky: that call and every later one return -1 and
 * write nothing, and tb_error() gives the message (naming the file), so a
 * caller can warn once and carry on training. Tests provoke one with
 * MTBERT_TB_FAULT_AFTER=N in the environment of tb_open: the file_version
 * record and N more are written, then every write fails (ENOSPC's message,
 * naming the variable). */
#ifndef MTBERT_TB_EVENTS_H
#define MTBERT_TB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct TbWriter TbWriter;

/* Creates run_dir when missing (like mkdir -p) and a new event file in it,
 * events.out.tfevents.<unix seconds, 10 digits>.<host name> (".1", ".2", ...
 * appended when that name already exists, e.g. a resume within the same
 * second: an existing file is never truncated or appended to; TensorBoard
 * reads every events file of a folder, in name order), and writes the
 * file_version record. Returns NULL with a message naming the path in err. */
TbWriter *tb_open(const char *run_dir, char *err, size_t n);

/* Appends one scalar event. wall_time is seconds since the epoch; <= 0 (or
 * not finite) means now. Non-finite values are written as they are
 * (TensorBoard shows NaN/inf). tag must be non-empty. 0, or -1 on a write
 * error or a bad argument (message in tb_error). Buffered: see tb_flush. */
int tb_scalar(TbWriter *w, const char *tag, long step, double wall_time, float value);

/* Several scalars of one step in one event (one record; what TensorBoard
 * reads is the same as n tb_scalar calls). n = 0 writes nothing. */
int tb_scalars(TbWriter *w, long step, double wall_time, size_t n, const char *const *tags,
               const float *values);

/* Marks a (re)start: a SessionLog START event at `step`. TensorBoard then
 * discards every event it has read so far (from this run's older event
 * files) whose step is >= step. A run resumed from a checkpoint of step S
 * calls tb_session_start(w, S + 1, 0) right after tb_open, so that the
 * curves hold the old run up to S and the resumed run after it, not both
 * where they overlap; a fresh run may call it with 1 or not at all. */
int tb_session_start(TbWriter *w, long step, double wall_time);

/* Hands buffered records to the OS, so that a running TensorBoard sees them.
 * 0, or -1 (message in tb_error). */
int tb_flush(TbWriter *w);

/* Flushes, closes and frees. NULL is a no-op. A caller that wants to know
 * whether the last records reached the file calls tb_flush first. */
void tb_close(TbWriter *w);

/* The event file's path; the last error ("" when none). */
const char *tb_path(const TbWriter *w);
const char *tb_error(const TbWriter *w);

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78, initial value and
 * final xor 0xffffffff) of n bytes, and TFRecord's masked form of a CRC.
 * crc32c("123456789") = 0xe3069283. */
uint32_t tb_crc32c(const void *data, size_t n);
uint32_t tb_mask_crc(uint32_t crc);

#endif
