/* tok_bpe.c — the BPE model of tokenizer.json (byte-level for RoBERTa and
 * GPT-2, whose pre-tokenizer has already mapped bytes to characters).
 * As the `tokenizers` library: each character a symbol (with
 * continuing_subword_prefix after the first, end_of_word_suffix on the
 * last; missing ones through byte_fallback <0xXX> pieces, else unk, fused
 * when fuse_unk, else dropped), then the adjacent pair of lowest merge rank
 * is merged, leftmost first, until no pair has a rank. ignore_merges: a
 * pre-token that is itself in the vocabulary is that one token. */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

#define EMPTY UINT64_MAX

static void merge_put(TkModel *m, size_t *n, uint64_t key, int rank, int id) {
    if ((*n + 1) * 2 > m->mcap) {
        size_t nc = m->mcap ? m->mcap * 2 : 1024;
        TkMerge *t = xmalloc(nc * sizeof *t);
        for (size_t i = 0; i < nc; i++) t[i].key = EMPTY;
        for (size_t i = 0; i < m->mcap; i++) {
            if (m->merges[i].key == EMPTY) continue;
            size_t j = (m->merges[i].key * 0x9E3779B97F4A7C15ULL) >> 20 & (nc - 1);
            while (t[j].key != EMPTY) j = (j + 1) & (nc - 1);
            t[j] = m->merges[i];
        }
        free(m->merges);
        m->merges = t;
        m->mcap = nc;
    }
    size_t j = (key * 0x9E3779B97F4A7C15ULL) >> 20 & (m->mcap - 1);
    while (m->merges[j].key != EMPTY && m->merges[j].key != key) j = (j + 1) & (m->mcap - 1);
    if (m->merges[j].key == EMPTY) (*n)++;
    m->merges[j] = (TkMerge){key, rank, id};
}

static const TkMerge *merge_get(const TkModel *m, int a, int b) {
    if (!m->mcap) return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t j = (key * 0x9E3779B97F4A7C15ULL) >> 20 & (m->mcap - 1);
    while (m->merges[j].key != EMPTY) {
        if (m->merges[j].key == key) return &m->merges[j];
        j = (j + 1) & (m->mcap - 1);
    }
    return NULL;
}

static char *opt_str(json_t *m, const char *key, size_t *len) {
    json_t *v = json_object_get(m, key);
    if (!json_is_string(v) || !json_string_length(v)) { *len = 0; return NULL; }
    *len = json_string_length(v);
    char *s = xmalloc(*len + 1);
    memcpy(s, json_string_value(v), *len + 1);
    return s;
}

int tk_bpe_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen) {
    out->type = TKMODEL_BPE;
    out->unk = -1;
    json_t *v = json_object_get(m, "vocab");
    if (!json_is_object(v)) {
        seterr(err, errlen, "%s: model BPE: \"vocab\" is %s", name, v ? "not an object" : "missing");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_integer(val)) {
            seterr(err, errlen, "%s: model BPE: vocab[\"%.40s\"] is not an integer", name, key);
            return -1;
        }
        json_int_t id = json_integer_value(val);
        if (tk_model_set_vocab(out, key, strlen(key), id < 0 || id > 0x7fffffff ? -1 : (int)id, name, err, errlen))
            return -1;
    }
    json_t *u = json_object_get(m, "unk_token");
    if (json_is_string(u)) {
        out->unk = tkmap_get(&out->vocab, json_string_value(u), json_string_length(u));
        if (out->unk < 0) {
            seterr(err, errlen, "%s: model BPE: unk_token \"%.40s\" is not in the vocabulary", name,
                   json_string_value(u));
            return -1;
        }
    }
    out->prefix = opt_str(m, "continuing_subword_prefix", &out->prefix_len);
    out->suffix = opt_str(m, "end_of_word_suffix", &out->suffix_len);
    out->fuse_unk = json_is_true(json_object_get(m, "fuse_unk"));
    out->byte_fallback = json_is_true(json_object_get(m, "byte_fallback"));
    out->ignore_merges = json_is_true(json_object_get(m, "ignore_merges"));
    json_t *mg = json_object_get(m, "merges");
    if (!json_is_array(mg)) {
        seterr(err, errlen, "%s: model BPE: \"merges\" is %s", name, mg ? "not a list" : "missing");
        return -1;
    }
    size_t nm = 0;
    char *buf = NULL;
    size_t bcap = 0;
    for (size_t r = 0; r < json_array_size(mg); r++) {
        json_t *e = json_array_get(mg, r);
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(e)) {   /* "a b" (older files) */
            a = json_string_value(e);
            const char *sp = strchr(a, ' ');
            if (!sp) {
                seterr(err, errlen, "%s: model BPE: merges[%zu] \"%.40s\" is not two tokens", name, r, a);
                free(buf);
                return -1;
            }
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = json_string_length(e) - al - 1;
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            a = json_string_value(json_array_get(e, 0));
            al = json_string_length(json_array_get(e, 0));
            b = json_string_value(json_array_get(e, 1));
            bl = json_string_length(json_array_get(e, 1));
        } else {
            seterr(err, errlen, "%s: model BPE: merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", name, r);
            free(buf);
            return -1;
        }
        int ia = tkmap_get(&out->vocab, a, al), ib = tkmap_get(&out->vocab, b, bl);
        size_t skip = out->prefix_len <= bl ? out->prefix_len : bl;
        if (bcap < al + bl + 1) {
            bcap = (al + bl + 1) * 2;
            buf = xrealloc(buf, bcap);
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b + skip, bl - skip);
        int in = tkmap_get(&out->vocab, buf, al + bl - skip);
        if (ia < 0 || ib < 0 || in < 0) {
            seterr(err, errlen, "%s: model BPE: merges[%zu]: \"%.*s\" is not in the vocabulary", name, r,
                   ia < 0 ? (int)(al > 40 ? 40 : al) : ib < 0 ? (int)(bl > 40 ? 40 : bl) : (int)((al + bl - skip) > 40 ? 40 : al + bl - skip),
                   ia < 0 ? a : ib < 0 ? b : buf);
            free(buf);
            return -1;
        }
        merge_put(out, &nm, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (int)r, in);
    }
    free(buf);
    return 0;
}

typedef struct {
    int id;
    size_t a, b;
} Sym;

/* Merging with a heap of candidate pairs ordered by (rank, position), as
 * the library does, so that a long pre-token costs O(n log n): an entry
 * whose pair has changed since it was pushed is skipped when it comes up.
 * Merged-away symbols get id -1. */
typedef struct {
    int32_t rank;
    int32_t pos;
    int32_t id;
} Cand;

static int cand_less(const Cand *x, const Cand *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(Cand **h, size_t *n, size_t *cap, Cand c) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *h = xrealloc(*h, *cap * sizeof **h);
    }
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &(*h)[p])) break;
        (*h)[i] = (*h)[p];
        i = p;
    }
    (*h)[i] = c;
}

static Cand heap_pop(Cand *h, size_t *n) {
    Cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const Cand *mv = &last;
        if (l < *n && cand_less(&h[l], mv)) { m = l; mv = &h[l]; }
        if (r < *n && cand_less(&h[r], mv)) { m = r; }
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static void merge_all(const TkModel *m, Sym *sym, size_t ns) {
    static __thread int32_t *nxt = NULL, *prv = NULL;
    static __thread size_t lcap = 0;
    static __thread Cand *h = NULL;
    static __thread size_t hcap = 0;
    TK_ON_THREAD_EXIT(tk_release_ptr, &nxt);
    TK_ON_THREAD_EXIT(tk_release_ptr, &prv);
    TK_ON_THREAD_EXIT(tk_release_ptr, &h);
    if (lcap < ns) {
        lcap = ns;
        nxt = xrealloc(nxt, lcap * sizeof *nxt);
        prv = xrealloc(prv, lcap * sizeof *prv);
    }
    size_t hn = 0;
    for (size_t q = 0; q < ns; q++) {
        nxt[q] = q + 1 < ns ? (int32_t)q + 1 : -1;
        prv[q] = (int32_t)q - 1;
        if (q + 1 < ns) {
            const TkMerge *mg = merge_get(m, sym[q].id, sym[q + 1].id);
            if (mg) heap_push(&h, &hn, &hcap, (Cand){mg->rank, (int32_t)q, mg->id});
        }
    }
    while (hn) {
        Cand c = heap_pop(h, &hn);
        int32_t p = c.pos, q = nxt[p];
        if (sym[p].id < 0 || q < 0) continue;
        const TkMerge *mg = merge_get(m, sym[p].id, sym[q].id);
        if (!mg || mg->id != c.id || mg->rank != c.rank) continue;
        sym[p].id = c.id;
        sym[p].b = sym[q].b;
        sym[q].id = -1;
        nxt[p] = nxt[q];
        if (nxt[q] >= 0) prv[nxt[q]] = p;
        if (prv[p] >= 0) {
            const TkMerge *l = merge_get(m, sym[prv[p]].id, sym[p].id);
            if (l) heap_push(&h, &hn, &hcap, (Cand){l->rank, prv[p], l->id});
        }
        if (nxt[p] >= 0) {
            const TkMerge *r = merge_get(m, sym[p].id, sym[nxt[p]].id);
            if (r) heap_push(&h, &hn, &hcap, (Cand){r->rank, p, r->id});
        }
    }
}

void tk_bpe_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out) {
    if (m->ignore_merges) {
        int id = tkmap_get(&m->vocab, s, n);
        if (id >= 0) { tkpv_push(out, id, 0, n); return; }
    }
    static __thread Sym *sym = NULL;
    static __thread size_t scap = 0;
    static __thread char *key = NULL;
    static __thread size_t kcap = 0;
    TK_ON_THREAD_EXIT(tk_release_ptr, &sym);
    TK_ON_THREAD_EXIT(tk_release_ptr, &key);
    if (scap < n + 1) {
        scap = n + 1;
        sym = xrealloc(sym, scap * sizeof *sym);
    }
    size_t need = n + m->prefix_len + m->suffix_len + 16;
    if (kcap < need) {
        kcap = need;
        key = xrealloc(key, kcap);
    }
    size_t ns = 0;
    int unk_on = 0;
    Sym unk = {0, 0, 0};
    size_t i = 0;
    while (i < n) {
        int32_t c;
        size_t k = (size_t)tk_utf8_dec((const unsigned char *)s + i, n - i, &c);
        size_t kl = 0;
        if (i > 0 && m->prefix_len) { memcpy(key, m->prefix, m->prefix_len); kl = m->prefix_len; }
        memcpy(key + kl, s + i, k);
        kl += k;
        if (i + k == n && m->suffix_len) { memcpy(key + kl, m->suffix, m->suffix_len); kl += m->suffix_len; }
        int id = tkmap_get(&m->vocab, key, kl);
        if (id >= 0) {
            if (unk_on) { sym[ns++] = unk; unk_on = 0; }
            sym[ns++] = (Sym){id, i, i + k};
        } else {
            int done = 0;
            if (m->byte_fallback) {
                int ids[64];
                size_t nb = kl < 64 ? kl : 0;
                for (size_t q = 0; q < nb; q++) {
                    char bt[8];
                    snprintf(bt, sizeof bt, "<0x%02X>", (unsigned char)key[q]);
                    ids[q] = tkmap_get(&m->vocab, bt, 6);
                    if (ids[q] < 0) { nb = 0; break; }
                }
                if (nb) {
                    if (ns + nb > scap) {
                        scap = ns + nb + n;
                        sym = xrealloc(sym, scap * sizeof *sym);
                    }
                    for (size_t q = 0; q < nb; q++) sym[ns++] = (Sym){ids[q], i, i + k};
                    done = 1;
                }
            }
            if (!done && m->unk >= 0) {
                if (unk_on && m->fuse_unk) unk.b = i + k;
                else {
                    if (unk_on) sym[ns++] = unk;
                    unk = (Sym){m->unk, i, i + k};
                    unk_on = 1;
                }
            }
        }
        if (ns + 2 > scap) {
            scap = scap * 2 + 8;
            sym = xrealloc(sym, scap * sizeof *sym);
        }
        i += k;
    }
    if (unk_on) sym[ns++] = unk;
    if (ns > 1) merge_all(m, sym, ns);
    for (size_t q = 0; q < ns; q++)
        if (sym[q].id >= 0) tkpv_push(out, sym[q].id, sym[q].a, sym[q].b);
}
