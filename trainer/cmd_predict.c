#include "trainer/cli.h"

int cmd_predict(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_not_available("predict");
}
