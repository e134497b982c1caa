/* checkpoint.h — run_dir/step-NNNNNNN/ checkpoints that resume exactly.
 *
 * A checkpoint is a model folder (model_dir_save: Hugging Face +
 * sentence-transformers layout, heads beside it) plus optimizer.safetensors
 * (AdamW moments, flat, and the step count), trainer_state.json (step,
 * loader positions, best metric, skipped steps) and config.yaml. It is
 * written under a temporary name, flushed, and renamed (replacing a folder
 * of the same name, swapped in atomically where the file system can); then
 * the `latest` file (also replaced atomically) names it. A crash at any
 * moment leaves `latest` on a complete checkpoint, though maybe not the
 * newest: resume goes by the folders, `latest` is a pointer for people and
 * tools. */
#ifndef MTBERT_CHECKPOINT_H
#define MTBERT_CHECKPOINT_H

#include <stddef.h>

#include "trainer/train/train.h"

/* Rank 0 writes; other ranks wait at a barrier. Applies keep_last/keep_best. */
int checkpoint_save(Trainer *t, char *err, size_t errlen);

/* checkpoint.resume: "none", "auto" (continue from the newest complete
 * checkpoint folder of the run directory when there is one, whether or not
 * `latest` names it; `latest` is corrected when stale) or a checkpoint folder. Loads weights, optimizer and trainer state,
 * checking that the checkpoint matches the model shape and task set. */
int checkpoint_maybe_resume(Trainer *t, char *err, size_t errlen);

/* The newest complete checkpoint of run_dir: a step-NNNNNNN folder with
 * every file a save writes and a trainer_state.json whose step is NNNNNNN.
 * Its folder name goes to `name`, its step to *step. 0 when found, 1 when
 * there is none. */
int checkpoint_find_newest(const char *run_dir, char *name, size_t namelen, long *step);

/* Load a checkpoint folder into t (used by resume and by `eval`). */
int checkpoint_load(Trainer *t, const char *dir, int with_optimizer, char *err, size_t errlen);

/* Parse and check trainer_state.json text against this run (task names,
 * world size, number of data sources); fills st (step, loader positions,
 * best metric, skipped steps). Errors name `path` and the field. */
int checkpoint_parse_state(const char *text, const char *path, const char *const *task_names, int ntasks,
                           int world, int nsources, TrainState *st, char *err, size_t errlen);

/* Test hook: MTBERT_FAULT_AT=<stage> makes checkpoint_save exit(3) at that
 * stage (model, optimizer, state, rename, latest), simulating a crash. */

#endif
