/* run_dir.h — the run directory's guard rails (rank 0 calls these):
 *
 * - one run at a time: an exclusive flock(2) on RUN_DIR/.lock, held for the
 *   whole run (released by the kernel when the process ends, however it
 *   ends); the file holds the holder's PID and host, so a second run is
 *   refused naming them;
 * - no fresh run over an old one: a run with checkpoint.resume: none into a
 *   non-empty folder is refused, naming the folder and what is in it,
 *   unless checkpoint.overwrite: true, which first removes what an earlier
 *   run wrote there (config.yaml, metrics.jsonl, curves.svg, latest, best,
 *   step-NNNNNNN/, .step-NNNNNNN.tmp/, TensorBoard event files) and leaves
 *   anything else alone;
 * - on resume, metrics.jsonl keeps only the records up to the resumed step
 *   (rewritten under a temporary name and renamed). */
#ifndef MTBERT_RUN_DIR_H
#define MTBERT_RUN_DIR_H

#include <stddef.h>

/* Create `dir` if needed and take the lock. 0, or -1 with a message in err
 * (another run holds it: its PID and host are named). Idempotent for the
 * same dir within one process. */
int run_dir_lock(const char *dir, char *err, size_t errlen);
/* Release the lock (also done by the kernel at exit). */
void run_dir_unlock(void);

/* A fresh run is about to start in `dir`. 0 when the folder is empty (the
 * lock file aside) or overwrite is set; -1 with a message naming the folder
 * and up to a few of its entries otherwise. Nothing is removed here. */
int run_dir_check_fresh(const char *dir, int overwrite, char *err, size_t errlen);
/* Remove what an earlier run wrote in `dir` (the list above); anything
 * else stays. The names of entries left alone go to `kept` (may be NULL).
 * 0, or -1 with a message naming the entry that could not be removed. */
int run_dir_clear(const char *dir, char *kept, size_t keptlen, char *err, size_t errlen);
/* Remove leftover .step-*.tmp folders of crashed saves and .step-*.old
 * folders of interrupted replacements (call with the lock held). Returns
 * how many were removed. */
int run_dir_remove_temps(const char *dir);

/* Keep the records of the metrics log at `path` whose "step" is at most
 * `step` (records without a step too); drop the others and any line that
 * is not a JSON object (a line cut short by a crash). The file is rewritten
 * atomically, and only when something is dropped. A missing file is fine.
 * *dropped (may be NULL) receives the number of lines dropped. 0 or -1. */
int run_dir_truncate_metrics(const char *path, long step, long *dropped, char *err, size_t errlen);

/* rm -rf: 0, or -1 (errno set) when something could not be removed. */
int run_dir_rm_rf(const char *path);

#endif

/* ---- the two moments of trainer_setup (collective: every rank calls them,
 * rank 0 does the work, all return the same) ---- */
#include "trainer/train/train.h"

/* Before anything is loaded: take the lock; for a fresh run
 * (checkpoint.resume: none) check that the folder is empty or overwrite
 * is set; remove temporaries of crashed saves. 0, or 2 (messages printed). */
int run_dir_begin(const Config *cfg, Comm *comm);
/* After resume, before the first step: clear an earlier run (fresh run with
 * checkpoint.overwrite), write config.yaml, cut metrics.jsonl back to the
 * resumed step and open it for appending (t->jsonl). 0, or 1 (printed). */
int run_dir_start(Trainer *t);
