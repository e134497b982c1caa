/* tokenizer_json.c — the Tok type (data/tokenizer_json.h): a vocab.txt
 * tokenizer (data/tokenizer.c) or a tokenizer.json one, whose pipeline is
 * the `tokenizers` library's:
 *
 *   added tokens (normalized: false) split out of the raw text
 *   -> normalizer (tok_normalize.c) on each remaining segment
 *   -> added tokens (normalized: true) split out of the normalized text
 *   -> pre-tokenizer (tok_pretokenize.c)
 *   -> model on each pre-token (tok_wordpiece.c, tok_bpe.c, tok_unigram.c)
 *   -> truncation and the post-processor's template (tok_post_process).
 *
 * Every byte carries the index of the whitespace-separated word of the
 * input it came from, which gives each piece its word (tokenizer_json.h). */
#include "data/tokenizer_json.h"
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

typedef struct {
    char *content;
    size_t len;
    int id;
    int special, lstrip, rstrip, single_word, normalized;
} Added;

typedef struct {
    int kind;        /* 0: special token, 1: sequence A, 2: sequence B */
    int type_id;
    int *ids;
    int nids;
} TplItem;

typedef struct {
    TplItem *v;
    int n;
} Tpl;

struct Tok {
    TokKind kind;
    Tokenizer *wp;
    int own_wp;
    /* tokenizer.json */
    TkModel model;
    TkNorm norm;
    int has_norm;
    TkPre pre;
    int has_pre;
    Added *added;
    int nadded;
    int n_norm_added;    /* how many have normalized: true */
    unsigned char added_first[2][256];   /* [normalized][byte]: some added token starts with it */
    TkMap added_map;     /* content -> id */
    int has_post;
    Tpl single, pair;
    int nvocab;
    int cls, sep, pad, unk, mask;
    uint64_t hash;
};

/* ---------------------------------------------------------------- TokEnc */

static void enc_reserve(TokEnc *e, size_t n) {
    if (e->len + n <= e->cap) return;
    size_t nc = e->cap ? e->cap * 2 : 64;
    while (nc < e->len + n) nc *= 2;
    e->ids = xrealloc(e->ids, nc * sizeof *e->ids);
    e->type_ids = xrealloc(e->type_ids, nc * sizeof *e->type_ids);
    e->words = xrealloc(e->words, nc * sizeof *e->words);
    e->seq = xrealloc(e->seq, nc * sizeof *e->seq);
    e->flags = xrealloc(e->flags, nc);
    e->cap = nc;
}

static void enc_push(TokEnc *e, int id, int type_id, int word, int seq, unsigned flags) {
    enc_reserve(e, 1);
    e->ids[e->len] = id;
    e->type_ids[e->len] = type_id;
    e->words[e->len] = word;
    e->seq[e->len] = seq;
    e->flags[e->len++] = (unsigned char)flags;
}

void tok_enc_clear(TokEnc *e) { e->len = 0; }

void tok_enc_push(TokEnc *e, int id, int type_id, int word, int seq, unsigned flags) {
    enc_push(e, id, type_id, word, seq, flags);
}

void tok_enc_free(TokEnc *e) {
    free(e->ids);
    free(e->type_ids);
    free(e->words);
    free(e->seq);
    free(e->flags);
    memset(e, 0, sizeof *e);
}

size_t tok_utf8_invalid_at(const char *s, size_t n) { return tk_utf8_check(s, n, 0); }

/* --------------------------------------------------------------- queries */

TokKind tok_kind(const Tok *t) { return t->kind; }

const char *tok_kind_name(TokKind k) {
    switch (k) {
    case TOK_KIND_VOCAB_TXT: return "vocab.txt WordPiece";
    case TOK_KIND_WORDPIECE: return "tokenizer.json WordPiece";
    case TOK_KIND_BPE: return "tokenizer.json BPE";
    case TOK_KIND_UNIGRAM: return "tokenizer.json Unigram";
    }
    return "?";
}

Tokenizer *tok_vocab_tokenizer(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? t->wp : NULL; }

int tok_vocab_size(const Tok *t) {
    return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_vocab_size(t->wp) : t->nvocab;
}

int tok_token_id(const Tok *t, const char *token) {
    if (t->kind == TOK_KIND_VOCAB_TXT) return tokenizer_token_id(t->wp, token);
    size_t n = strlen(token);
    int id = tkmap_get(&t->added_map, token, n);
    return id >= 0 ? id : tkmap_get(&t->model.vocab, token, n);
}

const char *tok_id_token(const Tok *t, int id) {
    if (t->kind == TOK_KIND_VOCAB_TXT) return tokenizer_id_token(t->wp, id);
    if (id < 0) return NULL;
    for (int i = 0; i < t->nadded; i++) if (t->added[i].id == id) return t->added[i].content;
    return id < t->model.nvocab ? t->model.id_tok[id] : NULL;
}

int tok_cls_id(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_cls_id(t->wp) : t->cls; }
int tok_sep_id(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_sep_id(t->wp) : t->sep; }
int tok_pad_id(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_pad_id(t->wp) : t->pad; }
int tok_unk_id(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_unk_id(t->wp) : t->unk; }
int tok_mask_id(const Tok *t) { return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_mask_id(t->wp) : t->mask; }
uint64_t tok_vocab_hash(const Tok *t) {
    return t->kind == TOK_KIND_VOCAB_TXT ? tokenizer_vocab_hash(t->wp) : t->hash;
}

static int tpl_specials(const Tpl *p) {
    int n = 0;
    for (int i = 0; i < p->n; i++) if (p->v[i].kind == 0) n += p->v[i].nids;
    return n;
}

int tok_num_special(const Tok *t, int pair) {
    if (t->kind == TOK_KIND_VOCAB_TXT) {
        if (tokenizer_cls_id(t->wp) < 0 || tokenizer_sep_id(t->wp) < 0) return 0;
        return pair ? 3 : 2;
    }
    if (!t->has_post) return 0;
    return tpl_specials(pair ? &t->pair : &t->single);
}

/* ------------------------------------------------------------- freeing */

static void tpl_free(Tpl *p) {
    for (int i = 0; i < p->n; i++) free(p->v[i].ids);
    free(p->v);
    memset(p, 0, sizeof *p);
}

void tok_free(Tok *t) {
    if (!t) return;
    if (t->own_wp) tokenizer_free(t->wp);
    tk_model_free(&t->model);
    if (t->has_norm) tk_norm_free(&t->norm);
    if (t->has_pre) tk_pre_free(&t->pre);
    for (int i = 0; i < t->nadded; i++) free(t->added[i].content);
    free(t->added);
    tkmap_free(&t->added_map);
    tpl_free(&t->single);
    tpl_free(&t->pair);
    free(t);
}

/* ------------------------------------------------------------ vocab.txt */

Tok *tok_from_vocab(Tokenizer *wp, int own) {
    Tok *t = xmalloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->kind = TOK_KIND_VOCAB_TXT;
    t->wp = wp;
    t->own_wp = own;
    return t;
}

/* tokenizer.c's word ends: space \t \n \r, Zs, U+2028, U+2029 */
static int vocab_ws(int32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    if (c < 128) return 0;
    return c == 0x2028 || c == 0x2029 || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

static int vocab_encode(const Tok *t, const char *text, size_t len, TokEnc *out, char *err, size_t errlen) {
    size_t bad = tk_utf8_check(text, len, 0);
    if (bad != (size_t)-1) {
        seterr(err, errlen, "invalid UTF-8 at byte %zu", bad);
        return -1;
    }
    IntVec ids = {0};
    size_t i = 0;
    int word = 0;
    while (i < len) {
        int32_t c;
        int k = tk_utf8_dec((const unsigned char *)text + i, len - i, &c);
        if (vocab_ws(c)) { i += (size_t)k; continue; }
        size_t a = i;
        while (i < len) {
            k = tk_utf8_dec((const unsigned char *)text + i, len - i, &c);
            if (vocab_ws(c)) break;
            i += (size_t)k;
        }
        ids.len = 0;
        size_t b2;
        if (tokenizer_encode(t->wp, text + a, i - a, &ids, &b2)) {   /* cannot happen: checked above */
            seterr(err, errlen, "invalid UTF-8 at byte %zu", a + b2);
            intvec_free(&ids);
            return -1;
        }
        for (size_t q = 0; q < ids.len; q++) enc_push(out, ids.data[q], 0, word, 0, q == 0 ? TOK_FIRST : 0);
        word++;
    }
    intvec_free(&ids);
    return 0;
}

/* ---------------------------------------------------------- added tokens */

static int is_word_char(int32_t c) { return c == '_' || tk_is_alnum(c); }

static int32_t last_cp(const char *s, size_t n) {
    if (!n) return -1;
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    int32_t c;
    tk_utf8_dec((const unsigned char *)s + i, n - i, &c);
    return c;
}

typedef struct {
    int id;              /* -1: text */
    size_t a, b;
    int special;
} Seg;
typedef struct {
    Seg *v;
    size_t n, cap;
} Segs;
static void segs_push(Segs *s, int id, size_t a, size_t b, int special) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (Seg){id, a, b, special};
}

/* split s[0..n) on the added tokens with normalized == want_norm
 * (leftmost-longest, then single_word / lstrip / rstrip as tokenizers) */
static void split_added(const Tok *t, const char *s, size_t n, int want_norm, Segs *out) {
    out->n = 0;
    size_t start_off = 0, pos = 0;
    while (pos < n) {
        /* leftmost position with a match, longest token there */
        size_t ms = n;
        int best = -1;
        for (size_t i = pos; i < n && best < 0; i++) {
            if (!t->added_first[want_norm][(unsigned char)s[i]]) continue;
            for (int k = 0; k < t->nadded; k++) {
                const Added *a = &t->added[k];
                if (a->normalized != want_norm || !a->len || a->len > n - i) continue;
                if ((unsigned char)a->content[0] != (unsigned char)s[i] || memcmp(a->content, s + i, a->len)) continue;
                if (best < 0 || a->len > t->added[best].len) best = k;
            }
            if (best >= 0) ms = i;
        }
        if (best < 0) break;
        const Added *a = &t->added[best];
        size_t start = ms, stop = ms + a->len;
        pos = stop;
        if (a->single_word) {
            int32_t before = last_cp(s, start), after;
            if (stop < n) tk_utf8_dec((const unsigned char *)s + stop, n - stop, &after);
            else after = -1;
            if ((before >= 0 && is_word_char(before)) || (after >= 0 && is_word_char(after))) continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            for (;;) {
                int32_t c = last_cp(s, ns);
                if (c < 0 || !tk_is_whitespace(c)) break;
                char b[4];
                ns -= (size_t)tk_utf8_enc(c, b);
            }
            start = ns > start_off ? ns : start_off;
        }
        if (a->rstrip) {
            while (stop < n) {
                int32_t c;
                int k = tk_utf8_dec((const unsigned char *)s + stop, n - stop, &c);
                if (!tk_is_whitespace(c)) break;
                stop += (size_t)k;
            }
            pos = stop;
        }
        if (start_off < start) segs_push(out, -1, start_off, start, 0);
        segs_push(out, a->id, start, stop, a->special);
        start_off = stop;
    }
    if (start_off < n) segs_push(out, -1, start_off, n, 0);
}

/* --------------------------------------------------------------- encode */

typedef struct {
    TkCps cps;
    TkStr str;
    TkPieces pcs, scratch;
    TkPieceVec pv;
    Segs raw, norm;
    int *wbyte;
    size_t wcap;
} Scratch;

static __thread Scratch S;

static void release_scratch(void *p) {
    Scratch *s = p;
    tkcps_free(&s->cps);
    tkstr_free(&s->str);
    tkpieces_free(&s->pcs);
    tkpieces_free(&s->scratch);
    free(s->pv.v);
    free(s->raw.v);
    free(s->norm.v);
    free(s->wbyte);
    memset(s, 0, sizeof *s);
}
static void release_enc(void *e) { tok_enc_free(e); }

/* pieces of one pre-token -> out, with words */
static void model_pieces(const Tok *t, const char *s, const int *w, size_t n, int *prev_word, TokEnc *out) {
    S.pv.n = 0;
    switch (t->model.type) {
    case TKMODEL_WORDPIECE: tk_wordpiece_tokenize(&t->model, s, n, &S.pv); break;
    case TKMODEL_BPE: tk_bpe_tokenize(&t->model, s, n, &S.pv); break;
    case TKMODEL_UNIGRAM: tk_unigram_tokenize(&t->model, s, n, &S.pv); break;
    }
    for (size_t k = 0; k < S.pv.n; k++) {
        const TkPiece *p = &S.pv.v[k];
        int word = -1;
        for (size_t q = p->start; q < p->end && word < 0; q++) word = w[q];
        for (size_t q = p->end; q < n && word < 0; q++) word = w[q];
        unsigned fl = 0;
        if (word >= 0 && word != *prev_word) fl = TOK_FIRST;
        if (word >= 0) *prev_word = word;
        enc_push(out, p->id, 0, word, 0, fl);
    }
}

static int pretok_and_model(const Tok *t, const TkStr *str, size_t a, size_t b, int at_start, int *prev_word,
                            TokEnc *out, char *err, size_t errlen) {
    tkpieces_clear(&S.pcs);
    tkpieces_add(&S.pcs, str, a, b - a, at_start);
    if (t->has_pre && S.pcs.n && tk_pre_apply(&t->pre, &S.pcs, &S.scratch)) {
        seterr(err, errlen, "pre-tokenizer: pattern matching failed");
        return -1;
    }
    for (size_t i = 0; i < S.pcs.n; i++) {
        TkSpan sp = S.pcs.sp[i];
        model_pieces(t, S.pcs.buf.s + sp.off, S.pcs.buf.w + sp.off, sp.len, prev_word, out);
    }
    return 0;
}

int tok_encode_text(const Tok *t, const char *text, size_t len, TokEnc *out, char *err, size_t errlen) {
    if (t->kind == TOK_KIND_VOCAB_TXT) {
        size_t keep = out->len;
        int rc = vocab_encode(t, text, len, out, err, errlen);
        if (rc) out->len = keep;
        return rc;
    }
    size_t bad = tk_utf8_check(text, len, 0);
    if (bad != (size_t)-1) {
        seterr(err, errlen, "invalid UTF-8 at byte %zu", bad);
        return -1;
    }
    TK_ON_THREAD_EXIT(release_scratch, &S);
    size_t keep = out->len;
    /* word index of each byte */
    if (S.wcap < len + 1) {
        S.wcap = len + 1;
        S.wbyte = xrealloc(S.wbyte, S.wcap * sizeof *S.wbyte);
    }
    int word = -1, in_word = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        int k = tk_utf8_dec((const unsigned char *)text + i, len - i, &c);
        int ws = tk_is_whitespace(c);
        if (!ws && !in_word) word++;
        in_word = !ws;
        for (int q = 0; q < k; q++) S.wbyte[i + (size_t)q] = ws ? -1 : word;
        i += (size_t)k;
    }
    int prev_word = -1;
    split_added(t, text, len, 0, &S.raw);
    for (size_t si = 0; si < S.raw.n; si++) {
        Seg g = S.raw.v[si];
        if (g.id >= 0) {
            enc_push(out, g.id, 0, -1, 0, g.special ? TOK_SPECIAL : 0);
            continue;
        }
        S.cps.n = 0;
        for (size_t i = g.a; i < g.b;) {
            int32_t c;
            int k = tk_utf8_dec((const unsigned char *)text + i, g.b - i, &c);
            tkcps_push(&S.cps, c, TK_W(S.wbyte[i]) | (i == 0 ? TK_FROM_FIRST : 0));
            i += (size_t)k;
        }
        if (t->has_norm) tk_norm_apply(&t->norm, &S.cps);
        S.str.len = 0;
        for (size_t i = 0; i < S.cps.n; i++) tkstr_push_cp(&S.str, S.cps.c[i], TK_W_WORD(S.cps.w[i]));
        if (!S.str.len) continue;
        int at_start = (S.cps.w[0] & TK_FROM_FIRST) != 0;
        if (!t->n_norm_added) {
            if (pretok_and_model(t, &S.str, 0, S.str.len, at_start, &prev_word, out, err, errlen)) goto fail;
            continue;
        }
        split_added(t, S.str.s, S.str.len, 1, &S.norm);
        for (size_t k = 0; k < S.norm.n; k++) {
            Seg h = S.norm.v[k];
            if (h.id >= 0) enc_push(out, h.id, 0, -1, 0, h.special ? TOK_SPECIAL : 0);
            else if (pretok_and_model(t, &S.str, h.a, h.b, at_start && h.a == 0, &prev_word, out, err, errlen))
                goto fail;
        }
    }
    return 0;
fail:
    out->len = keep;
    return -1;
}

/* ------------------------------------------------------- post-processor */

static void copy_seq(TokEnc *out, const TokEnc *e, size_t n, int type_id, int seq) {
    enc_reserve(out, n);
    for (size_t i = 0; i < n; i++) enc_push(out, e->ids[i], type_id, e->words[i], seq, e->flags[i]);
}

int tok_post_process(const Tok *t, const TokEnc *a, const TokEnc *b, int max_len, TokEnc *out) {
    out->len = 0;
    /* the templates; vocab.txt: [CLS] A [SEP] (B:1 [SEP]:1) */
    TplItem vi[5];
    int cls_sep[2];
    Tpl vt = {vi, 0};
    const Tpl *tp = NULL;
    if (t->kind == TOK_KIND_VOCAB_TXT) {
        cls_sep[0] = tokenizer_cls_id(t->wp);
        cls_sep[1] = tokenizer_sep_id(t->wp);
        if (cls_sep[0] >= 0 && cls_sep[1] >= 0) {
            vi[vt.n++] = (TplItem){0, 0, &cls_sep[0], 1};
            vi[vt.n++] = (TplItem){1, 0, NULL, 0};
            vi[vt.n++] = (TplItem){0, 0, &cls_sep[1], 1};
            if (b) {
                vi[vt.n++] = (TplItem){2, 1, NULL, 0};
                vi[vt.n++] = (TplItem){0, 1, &cls_sep[1], 1};
            }
            tp = &vt;
        }
    } else if (t->has_post) {
        tp = b ? &t->pair : &t->single;
    }
    size_t na = a->len, nb = b ? b->len : 0;
    if (max_len > 0) {
        long total = (long)max_len - (tp ? tpl_specials(tp) : 0);
        if (total < 0) total = 0;
        size_t tl = (size_t)total;
        if (!b) {
            if (na > tl) na = tl;
        } else if (na + nb > tl) {
            size_t n1 = na, n2 = nb;
            int swap = n1 > n2;
            if (swap) { size_t x = n1; n1 = n2; n2 = x; }
            if (n1 > tl) n2 = n1;
            else n2 = n2 < tl - n1 ? n2 : tl - n1;   /* the longer one gives way first */
            if (n2 < n1) n2 = n1;
            if (n1 + n2 > tl) { n1 = tl / 2; n2 = n1 + tl % 2; }
            if (swap) { size_t x = n1; n1 = n2; n2 = x; }
            if (n1 < na) na = n1;
            if (n2 < nb) nb = n2;
        }
    }
    if (!tp) {
        copy_seq(out, a, na, 0, 0);
        if (b) copy_seq(out, b, nb, 1, 1);
        return 0;
    }
    for (int i = 0; i < tp->n; i++) {
        const TplItem *it = &tp->v[i];
        if (it->kind == 0) {
            for (int k = 0; k < it->nids; k++) enc_push(out, it->ids[k], it->type_id, -1, -1, TOK_SPECIAL);
        } else if (it->kind == 1) {
            copy_seq(out, a, na, it->type_id, 0);
        } else if (b) {
            copy_seq(out, b, nb, it->type_id, 1);
        }
    }
    return 0;
}

int tok_encode(const Tok *t, const char *text, size_t len, int max_len, TokEnc *out, char *err, size_t errlen) {
    static __thread TokEnc ea;
    TK_ON_THREAD_EXIT(release_enc, &ea);
    ea.len = 0;
    if (tok_encode_text(t, text, len, &ea, err, errlen)) return -1;
    return tok_post_process(t, &ea, NULL, max_len, out);
}

int tok_encode_pair(const Tok *t, const char *a, size_t alen, const char *b, size_t blen, int max_len,
                    TokEnc *out, char *err, size_t errlen) {
    static __thread TokEnc ea, eb;
    TK_ON_THREAD_EXIT(release_enc, &ea);
    TK_ON_THREAD_EXIT(release_enc, &eb);
    ea.len = eb.len = 0;
    char e2[256];
    if (tok_encode_text(t, a, alen, &ea, e2, sizeof e2)) {
        seterr(err, errlen, "first sequence: %s", e2);
        return -1;
    }
    if (tok_encode_text(t, b, blen, &eb, e2, sizeof e2)) {
        seterr(err, errlen, "second sequence: %s", e2);
        return -1;
    }
    for (size_t i = 0; i < eb.len; i++) eb.seq[i] = 1;
    return tok_post_process(t, &ea, &eb, max_len, out);
}

/* ----------------------------------------------------------------- load */

static int load_added(Tok *t, json_t *arr, const char *name, char *err, size_t errlen) {
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) {
        seterr(err, errlen, "%s: \"added_tokens\" is not a list", name);
        return -1;
    }
    size_t n = json_array_size(arr);
    t->added = xmalloc((n + 1) * sizeof *t->added);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *c = json_object_get(e, "content"), *id = json_object_get(e, "id");
        if (!json_is_string(c) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (1 << 22)) {
            seterr(err, errlen, "%s: added_tokens[%zu]: needs \"content\" (string) and \"id\" (0..%d)", name, i,
                   (1 << 22) - 1);
            return -1;
        }
        Added *a = &t->added[t->nadded++];
        a->len = json_string_length(c);
        a->content = xmalloc(a->len + 1);
        memcpy(a->content, json_string_value(c), a->len + 1);
        a->id = (int)json_integer_value(id);
        a->special = json_is_true(json_object_get(e, "special"));
        a->lstrip = json_is_true(json_object_get(e, "lstrip"));
        a->rstrip = json_is_true(json_object_get(e, "rstrip"));
        a->single_word = json_is_true(json_object_get(e, "single_word"));
        json_t *nz = json_object_get(e, "normalized");
        a->normalized = json_is_boolean(nz) ? json_is_true(nz) : !a->special;
        t->n_norm_added += a->normalized;
        if (a->len) t->added_first[a->normalized][(unsigned char)a->content[0]] = 1;
        tkmap_put(&t->added_map, a->content, a->len, a->id);
    }
    return 0;
}

/* one special token of a template: its ids from special_tokens */
static int tpl_special(json_t *specials, const char *tname, TplItem *it, const char *name, char *err, size_t errlen) {
    json_t *sp = json_object_get(specials, tname);
    json_t *ids = json_object_get(sp, "ids");
    if (!json_is_array(ids) || !json_array_size(ids) || json_array_size(ids) > 64) {
        seterr(err, errlen, "%s: post_processor: special token \"%.40s\" has no \"ids\" in special_tokens", name, tname);
        return -1;
    }
    it->nids = (int)json_array_size(ids);
    it->ids = xmalloc((size_t)it->nids * sizeof *it->ids);
    for (int k = 0; k < it->nids; k++) {
        json_t *v = json_array_get(ids, (size_t)k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 22)) {
            seterr(err, errlen, "%s: post_processor: special token \"%.40s\": bad id", name, tname);
            return -1;
        }
        it->ids[k] = (int)json_integer_value(v);
    }
    return 0;
}

static int load_template(json_t *arr, json_t *specials, Tpl *out, const char *which, const char *name, char *err,
                         size_t errlen) {
    if (!json_is_array(arr)) {
        seterr(err, errlen, "%s: post_processor TemplateProcessing: \"%s\" is not a list", name, which);
        return -1;
    }
    size_t n = json_array_size(arr);
    out->v = xmalloc((n + 1) * sizeof *out->v);
    memset(out->v, 0, (n + 1) * sizeof *out->v);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *s = json_object_get(e, "SpecialToken"), *q = json_object_get(e, "Sequence");
        json_t *o = s ? s : q;
        json_t *id = json_object_get(o, "id"), *ty = json_object_get(o, "type_id");
        if (!json_is_object(o) || !json_is_string(id)) {
            seterr(err, errlen, "%s: post_processor TemplateProcessing: %s[%zu] is neither SpecialToken nor Sequence",
                   name, which, i);
            return -1;
        }
        TplItem *it = &out->v[out->n++];
        it->type_id = json_is_integer(ty) ? (int)json_integer_value(ty) : 0;
        if (s) {
            it->kind = 0;
            if (tpl_special(specials, json_string_value(id), it, name, err, errlen)) return -1;
        } else {
            const char *w = json_string_value(id);
            if (strcmp(w, "A") && strcmp(w, "B")) {
                seterr(err, errlen, "%s: post_processor TemplateProcessing: sequence \"%.20s\" is not A or B", name, w);
                return -1;
            }
            it->kind = w[0] == 'A' ? 1 : 2;
        }
    }
    return 0;
}

/* ["[CLS]", 101] */
static int tuple_id(json_t *o, const char *key, int *id, const char *name, char *err, size_t errlen) {
    json_t *v = json_object_get(o, key);
    json_t *x = json_array_get(v, 1);
    if (!json_is_array(v) || !json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= (1 << 22)) {
        seterr(err, errlen, "%s: post_processor: \"%s\" is not [token, id]", name, key);
        return -1;
    }
    *id = (int)json_integer_value(x);
    return 0;
}

static void tpl_add(Tpl *p, int kind, int type_id, int id) {
    TplItem *it = &p->v[p->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->type_id = type_id;
    if (kind == 0) {
        it->ids = xmalloc(sizeof *it->ids);
        it->ids[0] = id;
        it->nids = 1;
    }
}

static int load_post(Tok *t, json_t *pp, const char *name, char *err, size_t errlen) {
    if (!pp || json_is_null(pp)) return 0;
    const char *ty = tk_json_str(pp, "type", "post_processor", name, err, errlen);
    if (!ty) return -1;
    if (!strcmp(ty, "Sequence")) {   /* e.g. [ByteLevel, TemplateProcessing]: the one that adds tokens */
        json_t *a = json_object_get(pp, "processors");
        if (!json_is_array(a)) {
            seterr(err, errlen, "%s: post_processor Sequence: \"processors\" is not a list", name);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *e = json_array_get(a, i);
            const char *et = tk_json_str(e, "type", "post_processor Sequence", name, err, errlen);
            if (!et) return -1;
            if (!strcmp(et, "ByteLevel")) continue;
            if (t->has_post) {
                seterr(err, errlen, "%s: post_processor Sequence: more than one processor adds tokens", name);
                return -1;
            }
            if (load_post(t, e, name, err, errlen)) return -1;
        }
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) return 0;   /* offsets only */
    t->has_post = 1;
    if (!strcmp(ty, "TemplateProcessing")) {
        json_t *sp = json_object_get(pp, "special_tokens");
        if (load_template(json_object_get(pp, "single"), sp, &t->single, "single", name, err, errlen) ||
            load_template(json_object_get(pp, "pair"), sp, &t->pair, "pair", name, err, errlen))
            return -1;
        return 0;
    }
    int bert = !strcmp(ty, "BertProcessing"), roberta = !strcmp(ty, "RobertaProcessing");
    if (!bert && !roberta) {
        seterr(err, errlen, "%s: post_processor type \"%s\" is not supported", name, ty);
        return -1;
    }
    int cls, sep;
    if (tuple_id(pp, "cls", &cls, name, err, errlen) || tuple_id(pp, "sep", &sep, name, err, errlen)) return -1;
    t->single.v = xmalloc(3 * sizeof(TplItem));
    t->pair.v = xmalloc(6 * sizeof(TplItem));
    tpl_add(&t->single, 0, 0, cls);
    tpl_add(&t->single, 1, 0, 0);
    tpl_add(&t->single, 0, 0, sep);
    tpl_add(&t->pair, 0, 0, cls);
    tpl_add(&t->pair, 1, 0, 0);
    tpl_add(&t->pair, 0, 0, sep);
    if (roberta) {   /* <s> A </s> </s> B </s>, all type 0 */
        tpl_add(&t->pair, 0, 0, sep);
        tpl_add(&t->pair, 2, 0, 0);
        tpl_add(&t->pair, 0, 0, sep);
    } else {         /* [CLS] A [SEP] B:1 [SEP]:1 */
        tpl_add(&t->pair, 2, 1, 0);
        tpl_add(&t->pair, 0, 1, sep);
    }
    return 0;
}

static int first_of(const Tok *t, const char *const *names) {
    for (; *names; names++) {
        int id = tok_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

Tok *tok_from_json(const char *json, size_t len, const char *name, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root) {
        seterr(err, errlen, "%s: not valid JSON: line %d column %d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    Tok *t = xmalloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->cls = t->sep = t->pad = t->unk = t->mask = -1;
    if (!json_is_object(root)) {
        seterr(err, errlen, "%s: not a tokenizer.json (the top level is not an object)", name);
        goto fail;
    }
    json_t *m = json_object_get(root, "model");
    if (!json_is_object(m)) {
        seterr(err, errlen, "%s: \"model\" is %s", name, m ? "not an object" : "missing");
        goto fail;
    }
    json_t *mt = json_object_get(m, "type");
    const char *type;
    if (json_is_string(mt)) type = json_string_value(mt);
    else if (mt) {
        seterr(err, errlen, "%s: model: \"type\" is not a string", name);
        goto fail;
    } else if (json_object_get(m, "merges")) type = "BPE";   /* older files name no type */
    else if (json_is_array(json_object_get(m, "vocab"))) type = "Unigram";
    else if (json_object_get(m, "max_input_chars_per_word") || json_object_get(m, "continuing_subword_prefix"))
        type = "WordPiece";
    else {
        seterr(err, errlen, "%s: model: no \"type\", and its fields name no known model", name);
        goto fail;
    }
    int rc;
    if (!strcmp(type, "WordPiece")) { t->kind = TOK_KIND_WORDPIECE; rc = tk_wordpiece_load(m, &t->model, name, err, errlen); }
    else if (!strcmp(type, "BPE")) { t->kind = TOK_KIND_BPE; rc = tk_bpe_load(m, &t->model, name, err, errlen); }
    else if (!strcmp(type, "Unigram")) { t->kind = TOK_KIND_UNIGRAM; rc = tk_unigram_load(m, &t->model, name, err, errlen); }
    else {
        seterr(err, errlen, "%s: model type \"%s\" is not supported (WordPiece, BPE, Unigram are)", name, type);
        goto fail;
    }
    if (rc) goto fail;
    json_t *nz = json_object_get(root, "normalizer");
    if (nz && !json_is_null(nz)) {
        if (tk_norm_load(nz, &t->norm, name, err, errlen)) goto fail;
        t->has_norm = 1;
    }
    json_t *pt = json_object_get(root, "pre_tokenizer");
    if (pt && !json_is_null(pt)) {
        if (tk_pre_load(pt, &t->pre, name, err, errlen)) goto fail;
        t->has_pre = 1;
    }
    if (load_added(t, json_object_get(root, "added_tokens"), name, err, errlen)) goto fail;
    if (load_post(t, json_object_get(root, "post_processor"), name, err, errlen)) goto fail;
    /* sizes, roles, hash */
    t->nvocab = t->model.nvocab;
    for (int i = 0; i < t->nadded; i++) if (t->added[i].id >= t->nvocab) t->nvocab = t->added[i].id + 1;
    t->unk = t->model.unk;
    for (int k = 0; k < 2; k++) {
        const Tpl *tp = k ? &t->pair : &t->single;
        for (int i = 0; i < tp->n; i++)
            for (int q = 0; q < tp->v[i].nids; q++)
                if (tp->v[i].ids[q] >= t->nvocab) {
                    seterr(err, errlen, "%s: post_processor: special token id %d is outside the vocabulary (%d ids)",
                           name, tp->v[i].ids[q], t->nvocab);
                    goto fail;
                }
    }
    if (t->has_post && t->single.n) {
        for (int i = 0; i < t->single.n; i++)
            if (t->single.v[i].kind == 0) { t->cls = t->single.v[i].ids[0]; break; }
        for (int i = t->single.n; i-- > 0;)
            if (t->single.v[i].kind == 0) { t->sep = t->single.v[i].ids[t->single.v[i].nids - 1]; break; }
    } else {
        static const char *const cls[] = {"[CLS]", "<s>", NULL}, *const sep[] = {"[SEP]", "</s>", NULL};
        t->cls = first_of(t, cls);
        t->sep = first_of(t, sep);
    }
    json_t *pad = json_object_get(json_object_get(root, "padding"), "pad_id");
    static const char *const pads[] = {"[PAD]", "<pad>", NULL}, *const masks[] = {"[MASK]", "<mask>", NULL};
    t->pad = json_is_integer(pad) ? (int)json_integer_value(pad) : first_of(t, pads);
    t->mask = first_of(t, masks);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int id = 0; id < t->nvocab; id++) {
        const char *s = tok_id_token(t, id);
        for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ '\n') * 0x100000001b3ULL;
    }
    t->hash = h;
    json_decref(root);
    return t;
fail:
    json_decref(root);
    tok_free(t);
    return NULL;
}

int tok_resolve(const char *path, char *file, size_t n, int *json, int *unused_vocab, char *err, size_t errlen) {
    struct stat st;
    *json = *unused_vocab = 0;
    if (stat(path, &st)) {
        seterr(err, errlen, "%s: cannot open the tokenizer: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        char vt[4096];
        snprintf(vt, sizeof vt, "%s/vocab.txt", path);
        int have_vocab = stat(vt, &st) == 0;
        snprintf(file, n, "%s/tokenizer.json", path);
        if (stat(file, &st) == 0) {
            *json = 1;
            *unused_vocab = have_vocab;
        } else if (have_vocab) {
            snprintf(file, n, "%s", vt);
        } else {
            seterr(err, errlen, "%s: holds neither tokenizer.json nor vocab.txt", path);
            return -1;
        }
        return 0;
    }
    snprintf(file, n, "%s", path);
    size_t len = strlen(path);
    *json = len >= 5 && !strcmp(path + len - 5, ".json");
    return 0;
}

Tok *tok_open(const char *path, int do_lower_case, char *err, size_t errlen) {
    char file[4096];
    int json, unused;
    if (tok_resolve(path, file, sizeof file, &json, &unused, err, errlen)) return NULL;
    if (!json) {
        Tokenizer *wp = tokenizer_load(file, do_lower_case, err, errlen);
        return wp ? tok_from_vocab(wp, 1) : NULL;
    }
    size_t len;
    char *text = fs_read_file(file, &len, err, errlen);
    if (!text) return NULL;
    Tok *t = tok_from_json(text, len, file, err, errlen);
    free(text);
    return t;
}
