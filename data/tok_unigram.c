/* tok_unigram.c — the Unigram model of tokenizer.json (sentencepiece
 * unigram, XLM-R). As the `tokenizers` library: best path over the pieces
 * of the vocabulary (sum of piece scores, double precision), each
 * position extended by every piece that starts there, a character no
 * one-character piece covers becomes unk with score min_score - 10; ties
 * keep the path found first (the earlier start). Adjacent unks are fused
 * into one. A piece string not in the vocabulary (fused unks) becomes its
 * <0xXX> byte pieces with byte_fallback, else unk. */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0

/* The score the library computes with. tokenizer.json files are written
 * by the library (serde_json + ryu: the shortest decimal that reads back
 * as the score) and read back by serde_json, whose default float parsing is
 * not correctly rounded: it takes the decimal digits as an integer, rounds
 * that to a double, and multiplies or divides once by a power of ten (two
 * roundings), so about a quarter of the scores of a trained file come out
 * one ulp away from strtod's value. Ties between segmentations then go the
 * library's way only with the library's values, so they are rebuilt here:
 * the shortest round-trip digits of x (what the file holds), then serde's
 * arithmetic. */
static double serde_f64(double x) {
    if (x == 0 || !isfinite(x)) return x;
    char buf[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    const char *p = buf;
    int neg = *p == '-';
    if (neg) p++;
    uint64_t sig = 0;
    int ndig = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') { sig = sig * 10 + (uint64_t)(*p - '0'); ndig++; }
    int exponent = (*p == 'e' ? atoi(p + 1) : 0) - (ndig - 1);
    double f = (double)sig;
    for (;;) {
        int k = exponent < 0 ? -exponent : exponent;
        if (k <= 308) {
            char pw[16];
            snprintf(pw, sizeof pw, "1e%d", k);
            double pow10 = strtod(pw, NULL);   /* the table's literal 1eK, correctly rounded */
            if (exponent >= 0) f *= pow10;
            else f /= pow10;
            break;
        }
        if (f == 0 || exponent >= 0) break;
        f /= 1e308;
        exponent += 308;
    }
    return neg ? -f : f;
}

int tk_unigram_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen) {
    out->type = TKMODEL_UNIGRAM;
    out->unk = -1;
    json_t *v = json_object_get(m, "vocab");
    if (!json_is_array(v) || !json_array_size(v)) {
        seterr(err, errlen, "%s: model Unigram: \"vocab\" is %s", name,
               !v ? "missing" : json_is_array(v) ? "empty" : "not a list");
        return -1;
    }
    size_t n = json_array_size(v);
    if (n >= (1u << 22)) {
        seterr(err, errlen, "%s: model Unigram: %zu pieces is too many", name, n);
        return -1;
    }
    out->scores = xmalloc(n * sizeof *out->scores);
    out->min_score = INFINITY;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        json_t *t = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || !json_is_string(t) || !json_is_number(sc)) {
            seterr(err, errlen, "%s: model Unigram: vocab[%zu] is not [piece, score]", name, i);
            return -1;
        }
        if (tk_model_set_vocab(out, json_string_value(t), json_string_length(t), (int)i, name, err, errlen))
            return -1;
        out->scores[i] = json_is_real(sc) ? serde_f64(json_real_value(sc)) : json_number_value(sc);
        if (out->scores[i] < out->min_score) out->min_score = out->scores[i];
    }
    json_t *u = json_object_get(m, "unk_id");
    if (json_is_integer(u)) {
        json_int_t k = json_integer_value(u);
        if (k < 0 || (size_t)k >= n) {
            seterr(err, errlen, "%s: model Unigram: unk_id %lld is not in the vocabulary", name, (long long)k);
            return -1;
        }
        out->unk = (int)k;
    }
    out->byte_fallback = json_is_true(json_object_get(m, "byte_fallback"));
    return 0;
}

typedef struct {
    double score;
    size_t start;
    int id;
    int set;
} Best;

static void emit(const TkModel *m, const char *s, size_t a, size_t b, TkPieceVec *out) {
    int id = tkmap_get(&m->vocab, s + a, b - a);
    if (id >= 0) { tkpv_push(out, id, a, b); return; }
    if (m->byte_fallback) {
        size_t first = out->n;
        for (size_t q = a; q < b; q++) {
            char bt[8];
            snprintf(bt, sizeof bt, "<0x%02X>", (unsigned char)s[q]);
            int bid = tkmap_get(&m->vocab, bt, 6);
            if (bid < 0) { out->n = first; break; }
            tkpv_push(out, bid, a, b);
        }
        if (out->n > first) return;
    }
    if (m->unk >= 0) tkpv_push(out, m->unk, a, b);
}

void tk_unigram_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out) {
    if (!n) return;
    static __thread Best *best = NULL;
    static __thread size_t bcap = 0;
    static __thread size_t *stk = NULL;
    TK_ON_THREAD_EXIT(tk_release_ptr, &best);
    TK_ON_THREAD_EXIT(tk_release_ptr, &stk);
    if (bcap < n + 1) {
        bcap = n + 1;
        best = xrealloc(best, bcap * sizeof *best);
        stk = xrealloc(stk, 2 * bcap * sizeof *stk);
    }
    for (size_t i = 0; i <= n; i++) best[i].set = 0;
    best[0].score = 0;
    best[0].set = 1;
    double unk_score = m->min_score - UNK_PENALTY;
    size_t pos = 0;
    while (pos < n) {
        int32_t c;
        size_t mblen = (size_t)tk_utf8_dec((const unsigned char *)s + pos, n - pos, &c);
        double here = best[pos].score;
        int single = 0;
        size_t lim = n - pos < m->vocab.max_key ? n - pos : m->vocab.max_key;
        uint64_t h = TK_FNV_OFFSET;   /* prefixes hashed in one sweep */
        for (size_t len = 1; len <= lim; len++) {
            h = TK_FNV_STEP(h, s[pos + len - 1]);
            if (pos + len < n && ((unsigned char)s[pos + len] & 0xC0) == 0x80) continue;   /* not a boundary */
            int id = tkmap_get_h(&m->vocab, s + pos, len, h);
            if (id >= 0) {
                double cand = m->scores[id] + here;
                Best *t = &best[pos + len];
                if (!t->set || cand > t->score) *t = (Best){cand, pos, id, 1};
                if (len == mblen) single = 1;
            }
        }
        if (!single) {
            Best *t = &best[pos + mblen];
            double cand = unk_score + here;
            if (!t->set || cand > t->score) *t = (Best){cand, pos, m->unk, 1};
        }
        pos += mblen;
    }
    /* back from the end: (start, end) of each piece, unks fused */
    size_t ns = 0, end = n;
    size_t unk_end = 0;
    int in_unk = 0;
    while (end > 0) {
        Best *b = &best[end];
        if (m->unk >= 0 && b->id == m->unk) {
            if (!in_unk) { unk_end = end; in_unk = 1; }
        } else {
            if (in_unk) { stk[ns++] = end; stk[ns++] = unk_end; in_unk = 0; }
            stk[ns++] = b->start;
            stk[ns++] = end;
        }
        end = b->start;
    }
    if (in_unk) { stk[ns++] = 0; stk[ns++] = unk_end; }
    while (ns) {
        ns -= 2;
        emit(m, s, stk[ns], stk[ns + 1], out);
    }
}
