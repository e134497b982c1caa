#include "trainer/cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_not_available("train");
}
