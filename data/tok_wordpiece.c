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

/* lookup of prefix[0..pl) + body[0..bl) with its hash h, without building the key */
static int wp_probe(const TkModel *m, const char *body, size_t bl, size_t pl, uint64_t h) {
    const TkMap *mp = &m->vocab;
    size_t len = pl + bl;
    if (!mp->cap || len > mp->max_key) return -1;
    size_t j = h & (mp->cap - 1);
    while (mp->slots[j].val >= 0) {
        const TkSlot *sl = &mp->slots[j];
        if (sl->h == h && sl->len == len && memcmp(mp->pool + sl->off, m->prefix, pl) == 0 &&
            memcmp(mp->pool + sl->off + pl, body, bl) == 0)
            return sl->val;
        j = (j + 1) & (mp->cap - 1);
    }
    return -1;
}

void tk_wordpiece_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out) {
    size_t nchars = 0;
    for (size_t i = 0; i < n; i++) nchars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (nchars > (size_t)(m->max_chars < 0 ? 0 : m->max_chars)) {
        tkpv_push(out, m->unk, 0, n);
        return;
    }
    /* hashes of every candidate (prefix + s[start..end)) in one forward
     * sweep, then probes from the longest end down, one code point at a time */
    static __thread uint64_t *hs = NULL;
    static __thread size_t hcap = 0;
    TK_ON_THREAD_EXIT(tk_release_ptr, &hs);
    if (hcap < n + 1) {
        hcap = n + 1;
        hs = xrealloc(hs, hcap * sizeof *hs);
    }
    uint64_t hp = TK_FNV_OFFSET;
    for (size_t q = 0; q < m->prefix_len; q++) hp = TK_FNV_STEP(hp, m->prefix[q]);
    size_t first = out->n;
    size_t start = 0;
    while (start < n) {
        size_t pl = start > 0 ? m->prefix_len : 0;
        size_t lim = m->vocab.max_key >= pl ? m->vocab.max_key - pl : 0;   /* longest body worth trying */
        size_t stop = n - start > lim ? start + lim : n;
        uint64_t h = start > 0 ? hp : TK_FNV_OFFSET;
        for (size_t q = start; q < stop; q++) {
            h = TK_FNV_STEP(h, s[q]);
            hs[q + 1] = h;
        }
        size_t end = stop;
        /* an end inside a code point is no candidate */
        while (end > start && end < n && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
        int id = -1;
        while (end > start) {
            /* key = prefix + s[start..end): compare against the slot's bytes */
            id = wp_probe(m, s + start, end - start, pl, hs[end]);
            if (id >= 0) break;
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
