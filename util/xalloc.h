/* xalloc.h — allocation that ends the process with a message when memory
 * runs out (host buffers of the data pipeline, whose sizes come from
 * validated inputs). */
#ifndef MTBERT_XALLOC_H
#define MTBERT_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "mtbert: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static inline void *xmalloc(size_t n) { return xrealloc(NULL, n); }

static inline char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

#endif
