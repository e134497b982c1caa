/* test_parity.c — the C model on the CPU backend against the PyTorch
 * fixtures (tests/unit/fixture_parity.c has the comparisons). */
#include "fixture_parity.h"
#include "testutil.h"

int main(void) {
    parity_run_all(ops_cpu());
    return test_finish("test_parity");
}
