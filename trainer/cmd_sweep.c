#include "trainer/cli.h"

int cmd_sweep(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_not_available("sweep");
}
