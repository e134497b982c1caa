/* input.h — reading the sentences of encode and predict: one UTF-8 line a
 * sentence (\n or \r\n), from a file or stdin. A NUL byte inside a line is
 * an error "FILE:LINE: NUL byte at byte N" (text never contains NUL; a cut
 * line would be a silent wrong answer). */
#ifndef MTBERT_INPUT_H
#define MTBERT_INPUT_H

#include <stddef.h>

typedef struct {
    char **lines;
    size_t n, cap;
} Lines;

/* Reads every line of `path` (NULL or "-": stdin). 0, or -1 after printing
 * "mtbert CMD: ..." to stderr. */
int lines_read(const char *cmd, const char *path, Lines *L);
void lines_free(Lines *L);
/* The name to print for an input path. */
static inline const char *input_name(const char *path) { return path && *path ? path : "<stdin>"; }

#endif
