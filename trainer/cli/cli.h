/* cli.h — the subcommands of the mtbert binary. Each returns the process
 * exit code: 0 success, 1 runtime failure, 2 bad usage or bad input. */
#ifndef MTBERT_CLI_H
#define MTBERT_CLI_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_retrieve(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* For commands that are planned but not in this build: says so, exit 2. */
int cli_not_available(const char *command);

#endif
