/* schedule.h — learning-rate schedules, as Hugging Face's
 * get_{linear,cosine,constant}_schedule_with_warmup: the optimizer step s
 * (0-based) runs with lr x factor(s). */
#ifndef MTBERT_SCHEDULE_H
#define MTBERT_SCHEDULE_H

typedef enum { DECAY_LINEAR = 0, DECAY_COSINE, DECAY_CONSTANT } DecayKind;

/* warmup: s/warmup for s < warmup; then linear: (total-s)/(total-warmup),
 * cosine: 0.5 (1 + cos(pi progress)), constant: 1; never below 0. */
double schedule_factor(DecayKind kind, long step, long warmup, long total);

#endif
