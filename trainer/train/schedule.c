#include "trainer/train/schedule.h"

#include <math.h>

double schedule_factor(DecayKind kind, long step, long warmup, long total) {
    if (step < warmup) return (double)step / (double)(warmup > 0 ? warmup : 1);
    if (kind == DECAY_CONSTANT) return 1.0;
    double span = (double)(total - warmup);
    double progress = span > 0 ? (double)(step - warmup) / span : 1.0;
    if (progress > 1.0) progress = 1.0;
    if (kind == DECAY_LINEAR) return fmax(0.0, 1.0 - progress);
    return fmax(0.0, 0.5 * (1.0 + cos(M_PI * progress)));
}
