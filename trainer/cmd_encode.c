#include "trainer/cli.h"

int cmd_encode(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_not_available("encode");
}
