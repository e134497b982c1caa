/* errmsg.h — the one way functions hand an error message to their caller:
 * printf-style into a caller's buffer (NULL or size 0: nothing written). */
#ifndef MTBERT_ERRMSG_H
#define MTBERT_ERRMSG_H

#include <stddef.h>

void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
