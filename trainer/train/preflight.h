/* preflight.h — start-up checks of a run, made before it allocates or
 * writes anything (trainer_setup calls them):
 *
 * - the launcher: torchrun-style variables (WORLD_SIZE, RANK) that MPI does
 *   not confirm mean N independent one-process runs (Open MPI singletons)
 *   writing one run directory: refused;
 * - the ranks agree: every rank hashes its resolved configuration (the
 *   dump config_write_resolved writes, key by key) and the shard files its
 *   training paths expand to (names and sizes); min and max of the hashes
 *   are all-reduced, and on a difference every rank stops with a message
 *   naming the first differing key, rank 0's value and the ranks that
 *   differ (a different shape corrupted the all-reduce, different steps
 *   hung, a different lr silently diverged);
 * - memory: the bytes the model needs for (batch, seq) (model_alloc_bytes,
 *   plus the optimizer state) against what the node has available, per
 *   rank on the node, on the CPU backend. */
#ifndef MTBERT_PREFLIGHT_H
#define MTBERT_PREFLIGHT_H

#include <stddef.h>

#include "comm/comm.h"
#include "trainer/config/config.h"
#include "kernels/ops.h"

/* 0, or -1 after printing why (every rank that sees the mismatch). Not
 * collective: a process that MPI says is alone has nobody to tell. */
int preflight_launcher(const Comm *comm);

/* Collective. 0 when every rank resolved the same configuration and shard
 * lists; -1 on every rank otherwise (messages printed). */
int preflight_ranks_agree(const Config *cfg, Comm *comm);

/* Collective, after the model is built: every rank has the same parameter
 * table (count of tensors and of floats) and batch shape, whatever its
 * model folder or shards said. 0, or -1 on every rank (the ranks that
 * differ from rank 0 say how). */
int preflight_same_model(Comm *comm, int ntensors, size_t nparams, int maxB, int maxT);

/* Bytes of memory available to this process: MemAvailable from
 * /proc/meminfo, lowered to the cgroup's limit less its usage when there
 * is one. 0 when unknown. */
size_t preflight_mem_available(void);

/* Collective. Refuse a batch whose model (parameters, gradients, optimizer
 * state when training, activations for maxB x maxT) cannot fit: 0, or -1 on
 * every rank with a message "needs X GiB, Y GiB available" (printed by the
 * ranks that cannot fit). Only on the CPU backend (host memory); `what`
 * says which sizes are checked ("at least" before the shards are opened). */
int preflight_memory(const Config *cfg, const ModelConfig *mc, const Ops *ops, Comm *comm, int maxB, int maxT,
                     int for_training, const char *what);

/* Collective: has any rank received a stop signal (stop_signal.h)? Set-up
 * asks between its long steps, so that SIGTERM during a minutes-long
 * set-up stops it. 1 (rank 0 said so, naming `after`), or 0. */
int preflight_stop_requested(Comm *comm, const char *after);

#endif
