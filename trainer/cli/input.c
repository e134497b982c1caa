/* input.c — lines_read (input.h). */
#include "trainer/cli/input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

int input_encode_sentence(const Tok *tok, const char *s, size_t n, int max_len, IntVec *out, int *dropped,
                          size_t *bad) {
    out->len = 0;
    Tokenizer *wp = tok_vocab_tokenizer(tok);
    if (wp) return tokenizer_encode_sentence(wp, s, n, max_len, out, dropped, bad);
    *bad = tok_utf8_invalid_at(s, n);
    if (*bad != (size_t)-1) return -1;
    static __thread TokEnc pieces, framed;
    char err[256];
    pieces.len = 0;
    if (tok_encode_text(tok, s, n, &pieces, err, sizeof err)) {
        *bad = 0;
        return -1;
    }
    tok_post_process(tok, &pieces, NULL, max_len, &framed);
    int kept = 0;
    for (size_t i = 0; i < framed.len; i++) {
        kept += framed.seq[i] == 0;
        intvec_push(out, framed.ids[i]);
    }
    *dropped = (int)pieces.len - kept;
    if (!out->len) intvec_push(out, tok_unk_id(tok) >= 0 ? tok_unk_id(tok) : 0); /* no template, empty line */
    return 0;
}

void input_note_tokenizer(const char *cmd, const char *file, int vocab_txt_unused) {
    if (vocab_txt_unused)
        fprintf(stderr, "mtbert %s: tokenizer %s (the vocab.txt beside it is not used)\n", cmd, file);
}

int lines_read(const char *cmd, const char *path, Lines *L) {
    memset(L, 0, sizeof *L);
    int from_stdin = !path || !*path || !strcmp(path, "-");
    FILE *in = from_stdin ? stdin : fopen(path, "rb");
    const char *name = from_stdin ? "<stdin>" : path;
    if (!in) {
        fprintf(stderr, "mtbert %s: %s: %s\n", cmd, name, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&buf, &cap, in)) >= 0) {
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
        size_t nul = strlen(buf);
        if (nul < (size_t)len) {
            fprintf(stderr, "mtbert %s: %s:%zu: NUL byte at byte %zu\n", cmd, name, L->n + 1, nul);
            rc = -1;
            break;
        }
        if (L->n == L->cap) {
            L->cap = L->cap ? 2 * L->cap : 1024;
            L->lines = xrealloc(L->lines, L->cap * sizeof(char *));
        }
        L->lines[L->n] = xmalloc((size_t)len + 1);
        memcpy(L->lines[L->n++], buf, (size_t)len + 1);
    }
    if (!rc && ferror(in)) {
        fprintf(stderr, "mtbert %s: %s: read error: %s\n", cmd, name, strerror(errno));
        rc = -1;
    }
    free(buf);
    if (!from_stdin) fclose(in);
    if (rc) lines_free(L);
    return rc;
}

void lines_free(Lines *L) {
    for (size_t i = 0; i < L->n; i++) free(L->lines[i]);
    free(L->lines);
    memset(L, 0, sizeof *L);
}
