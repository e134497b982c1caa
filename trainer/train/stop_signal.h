/* stop_signal.h — stop training cleanly on SIGTERM, SIGUSR1 or SIGINT.
 *
 * The first such signal only records itself (and says so on stderr); the
 * training loop polls it once per step, the ranks agree on it through the
 * per-step flag all-reduce, and every rank stops after the same step and
 * saves a checkpoint (trainer_run returns TRAIN_STOPPED). A second signal
 * restores the default action and re-raises it: the process ends at once.
 *
 * Schedulers: Slurm's `--signal=B:USR1@120` warns the batch script, which
 * forwards the signal to srun (launch/slurm/train.sbatch); `scancel` and
 * preemption send SIGTERM; Open MPI's mpirun forwards SIGUSR1 and SIGTERM. */
#ifndef MTBERT_STOP_SIGNAL_H
#define MTBERT_STOP_SIGNAL_H

/* trainer_run's return value when it stopped early on a signal after saving
 * a checkpoint (also the process exit status of `mtbert train` then) */
enum { TRAIN_STOPPED = 3 };

/* install the handlers (idempotent) */
void stop_signal_install(void);
/* the signal number received, or 0 */
int stop_signal_pending(void);

#endif
