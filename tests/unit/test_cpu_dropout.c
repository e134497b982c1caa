/* test_cpu_dropout.c — the CPU backend's dropout multipliers (the vector
 * Philox paths of cpu_elementwise.c) against the scalar definition
 * philox_uniform(seed, i) >= p, element by element, for starts that are
 * and are not multiples of 4, lengths around the 64-element vector blocks,
 * and counters whose low 32 bits wrap inside a block. */
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"
#include "testutil.h"

int main(void) {
    static const uint64_t starts[] = {0, 1, 3, 4, 63, 64, 1000, 4096 * 256 + 5,
                                      (0xffffffffull - 20) * 4, (0xffffffffull - 3) * 4 + 2,
                                      0x123456789abcull};
    static const size_t lens[] = {1, 5, 63, 64, 65, 127, 128, 200, 1000};
    static const float ps[] = {0.1f, 0.5f, 0.9f};
    float *mult = malloc(sizeof(float) * 1000);
    int bad = 0;
    for (size_t a = 0; a < sizeof starts / sizeof starts[0]; a++)
        for (size_t b = 0; b < sizeof lens / sizeof lens[0]; b++)
            for (size_t c = 0; c < 3; c++) {
                uint64_t seed = 0x9e3779b97f4a7c15ull * (a + 1) + b;
                float p = ps[c], s = 1.0f / (1.0f - p);
                cpu_dropout_mult(mult, seed, starts[a], lens[b], p);
                for (size_t k = 0; k < lens[b]; k++) {
                    float want = philox_uniform(seed, starts[a] + k) >= p ? s : 0.0f;
                    if (mult[k] != want && bad++ < 5)
                        CHECKF(0, "start %llu len %zu p %g element %zu: %g, want %g",
                               (unsigned long long)starts[a], lens[b], p, k, mult[k], want);
                }
            }
    CHECKF(bad == 0, "%d multipliers differ from philox_uniform", bad);
    free(mult);
    return test_finish("test_cpu_dropout");
}
