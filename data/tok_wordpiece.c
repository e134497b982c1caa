/* tok_wordpiece.c — the WordPiece model of tokenizer.json, as the
 * `tokenizers` library: a pre-token of more than max_input_chars_per_word
 * code points is unk; otherwise greedy longest match from the left,
 * pieces after the first looked up with continuing_subword_prefix, the
 * candidate shortened one code point at a time; a pre-token with an
 * unmatched remainder is a single unk. */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <string.h>

int tk_wordpiece_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen) {
    out->type = TKMODEL_WORDPIECE;
    json_t *v = json_object_get(m, "vocab");
    if (!json_is_object(v)) {
        seterr(err, errlen, "%s: model WordPiece: \"vocab\" is %s", name, v ? "not an object" : "missing");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_integer(val)) {
            seterr(err, errlen, "%s: model WordPiece: vocab[\"%.40s\"] is not an integer", name, key);
            return -1;
        }
        json_int_t id = json_integer_value(val);
        if (tk_model_set_vocab(out, key, strlen(key), id < 0 || id > 0x7fffffff ? -1 : (int)id, name, err, errlen))
            return -1;
    }
    const char *unk = tk_json_str(m, "unk_token", "model WordPiece", name, err, errlen);
    if (!unk) return -1;
    out->unk = tkmap_get(&out->vocab, unk, strlen(unk));
    if (out->unk < 0) {
        seterr(err, errlen, "%s: model WordPiece: unk_token \"%.40s\" is not in the vocabulary", name, unk);
        return -1;
    }
    json_t *p = json_object_get(m, "continuing_subword_prefix");
    const char *pre = json_is_string(p) ? json_string_value(p) : "##";
    out->prefix_len = strlen(pre);
    out->prefix = xmalloc(out->prefix_len + 1);
    memcpy(out->prefix, pre, out->prefix_len + 1);
    json_t *mc = json_object_get(m, "max_input_chars_per_word");
    out->max_chars = json_is_integer(mc) ? (int)(json_integer_value(mc) > 1 << 30 ? 1 << 30 : json_integer_value(mc)) : 100;
    return 0;
}

void tk_wordpiece_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out) {
    size_t nchars = 0;
    for (size_t i = 0; i < n; i++) nchars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (nchars > (size_t)(m->max_chars < 0 ? 0 : m->max_chars)) {
        tkpv_push(out, m->unk, 0, n);
        return;
    }
    static __thread char *key = NULL;
    static __thread size_t kcap = 0;
    if (kcap < n + m->prefix_len + 1) {
        kcap = n + m->prefix_len + 1;
        key = xrealloc(key, kcap);
    }
    size_t first = out->n;
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        int id = -1;
        size_t pl = start > 0 ? m->prefix_len : 0;
        memcpy(key, m->prefix, pl);
        while (start < end) {
            size_t kl = pl + (end - start);
            if (kl <= m->vocab.max_key) {
                memcpy(key + pl, s + start, end - start);
                id = tkmap_get(&m->vocab, key, kl);
                if (id >= 0) break;
            }
            do end--; while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->n = first;
            tkpv_push(out, m->unk, 0, n);
            return;
        }
        tkpv_push(out, id, start, end);
        start = end;
    }
}
