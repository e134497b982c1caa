/* tok_model.c — the vocabulary shared by the three tokenizer.json models
 * (token -> id map and id -> token table). */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <string.h>

#define TK_MAX_ID (1 << 22)   /* ids beyond this are refused (a hostile file could ask for any size) */

int tk_model_set_vocab(TkModel *md, const char *tok, size_t len, int id, const char *name,
                       char *err, size_t errlen) {
    if (id < 0 || id >= TK_MAX_ID) {
        seterr(err, errlen, "%s: model vocab: id %d of \"%.40s\" is out of range (0..%d)", name, id, tok,
               TK_MAX_ID - 1);
        return -1;
    }
    if (id >= md->id_tok_cap) {
        int nc = md->id_tok_cap ? md->id_tok_cap : 256;
        while (nc <= id) nc *= 2;
        md->id_tok = xrealloc(md->id_tok, (size_t)nc * sizeof *md->id_tok);
        memset(md->id_tok + md->id_tok_cap, 0, (size_t)(nc - md->id_tok_cap) * sizeof *md->id_tok);
        md->id_tok_cap = nc;
    }
    if (id >= md->nvocab) md->nvocab = id + 1;
    tkmap_put(&md->vocab, tok, len, id);
    free(md->id_tok[id]);
    md->id_tok[id] = xmalloc(len + 1);
    memcpy(md->id_tok[id], tok, len);
    md->id_tok[id][len] = 0;
    return 0;
}

void tk_model_free(TkModel *m) {
    tkmap_free(&m->vocab);
    for (int i = 0; i < m->id_tok_cap; i++) free(m->id_tok[i]);
    free(m->id_tok);
    free(m->prefix);
    free(m->suffix);
    free(m->merges);
    free(m->scores);
    memset(m, 0, sizeof *m);
}
