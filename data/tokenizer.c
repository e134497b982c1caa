/* tokenizer.c — BERT BasicTokenizer + WordPiece, streaming over UTF-8.
 *
 * The original tokenizer runs several passes over Python strings (clean,
 * space out CJK, split on whitespace, lower + NFD + drop Mn per token, split
 * on punctuation, WordPiece per word). Here one pass decodes each code point
 * and routes it straight into the current word, so no intermediate strings
 * exist. Words are bounded: a word over 100 code points is [UNK] whatever it
 * holds, so a fixed 100-code-point buffer on the stack is enough and the hot
 * path allocates nothing but the growth of the output vector.
 *
 * Details that make it exact:
 *  - Python's str.lower() maps U+03A3 to final sigma U+03C2 depending on the
 *    (whitespace-delimited) token around it; see final_sigma().
 *  - NFD reorders runs of combining marks by combining class. Only non-Mn
 *    marks survive accent stripping, so only those are kept and stably sorted
 *    (pending[] below).
 *  - WordPiece steps back one code point at a time, as Python slices strings
 *    by code point.
 *  - Python's split() also splits on U+2028/U+2029, which BERT's cleaning
 *    does not treat as whitespace; they end a token here too. */
#include "data/tokenizer.h"
#include "util/errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_DEFAULT_CHARS 100      /* max_input_chars_per_word, see tokenizer.h */
#define WP_CAP TOKENIZER_MAX_WORD_CHARS_LIMIT
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

typedef struct {
    uint64_t hash;   /* FNV-1a 64 of the token's bytes */
    int32_t id;      /* -1: empty slot */
    uint32_t len;
} Slot;

struct Tokenizer {
    int n;                 /* vocabulary size */
    int lower;
    char *blob;            /* all tokens, each NUL-terminated */
    size_t *off;           /* token i starts at blob + off[i] */
    uint32_t *len;
    Slot *slots;
    uint64_t mask;
    int shift;             /* 64 - log2(capacity) */
    int max_first;         /* longest token, bytes */
    int max_cont;          /* longest "##" token body, bytes */
    uint64_t h_cont;       /* FNV state after hashing "##" */
    int max_chars;         /* longer words are [UNK] */
    int cls, sep, pad, unk, mask_id;
    uint64_t vocab_hash;
};

/* ---------------------------------------------------------------- IntVec */

void intvec_push(IntVec *v, int x) {
    if (v->len == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        int *p = realloc(v->data, nc * sizeof *p);
        if (!p) {
            fprintf(stderr, "mtbert: out of memory (%zu ints)\n", nc);
            abort();
        }
        v->data = p;
        v->cap = nc;
    }
    v->data[v->len++] = x;
}

void intvec_free(IntVec *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the valid UTF-8 sequence at s[i] (code point in *cp), or 0 when
 * it is invalid: truncated, overlong, a surrogate, above U+10FFFF or a lone
 * continuation byte. */
static inline int utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned b = s[i];
    size_t left = n - i;
    if (b < 0x80) { *cp = b; return 1; }
    if (b < 0xC2) return 0;
    if (b < 0xE0) {
        if (left < 2 || (s[i + 1] & 0xC0) != 0x80) return 0;
        *cp = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
        return 2;
    }
    if (b < 0xF0) {
        if (left < 3) return 0;
        unsigned c1 = s[i + 1], c2 = s[i + 2];
        unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        if (c1 < lo || c1 > hi || (c2 & 0xC0) != 0x80) return 0;
        *cp = ((b & 0x0Fu) << 12) | ((c1 & 0x3Fu) << 6) | (c2 & 0x3Fu);
        return 3;
    }
    if (b < 0xF5) {
        if (left < 4) return 0;
        unsigned c1 = s[i + 1], c2 = s[i + 2], c3 = s[i + 3];
        unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        if (c1 < lo || c1 > hi || (c2 & 0xC0) != 0x80 || (c3 & 0xC0) != 0x80) return 0;
        *cp = ((b & 0x07u) << 18) | ((c1 & 0x3Fu) << 12) | ((c2 & 0x3Fu) << 6) | (c3 & 0x3Fu);
        return 4;
    }
    return 0;
}

static inline int utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------ character classes */

enum { A_WORD, A_UPPER, A_SPACE, A_SKIP, A_PUNCT };

/* Class of each ASCII byte under BERT's rules: W word character, U upper
 * case letter, S whitespace, K removed control character, P punctuation
 * (33-47, 58-64, 91-96, 123-126). */
#define W A_WORD
#define U A_UPPER
#define S A_SPACE
#define K A_SKIP
#define P A_PUNCT
static const unsigned char ascii_class[128] = {
    K, K, K, K, K, K, K, K, K, S, S, K, K, S, K, K,
    K, K, K, K, K, K, K, K, K, K, K, K, K, K, K, K,
    S, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
    W, W, W, W, W, W, W, W, W, W, P, P, P, P, P, P,
    P, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
    U, U, U, U, U, U, U, U, U, U, U, P, P, P, P, P,
    P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
    W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, K,
};
#undef W
#undef U
#undef S
#undef K
#undef P

static inline int is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static inline int is_punct(uint32_t cp, int cat) {
    if (cp < 128) return ascii_class[cp] == A_PUNCT;
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* Removed by BERT's _clean_text: NUL, U+FFFD and Cc/Cf except \t \n \r. */
static inline int is_removed(uint32_t cp, int cat) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return 0;
    return cp == 0 || cp == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF;
}

/* A token boundary: BERT whitespace (space, \t \n \r, Zs), the line and
 * paragraph separators Python's split() also breaks on, or a CJK ideograph
 * (BERT puts spaces around those). */
static inline int is_boundary(uint32_t cp, int cat) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UTF8PROC_CATEGORY_ZS ||
           cp == 0x2028 || cp == 0x2029 || is_cjk(cp);
}

/* Unicode Case_Ignorable, as Python's str.lower() uses it: Mn Me Cf Lm Sk
 * plus Word_Break MidLetter, MidNumLet and Single_Quote. */
static int is_case_ignorable(uint32_t cp) {
    int cat = utf8proc_get_property((utf8proc_int32_t)cp)->category;
    if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
        cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK)
        return 1;
    static const uint32_t extra[] = {0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019,
                                     0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
        if (cp == extra[k]) return 1;
    return 0;
}

/* Unicode Cased: Lu Ll Lt, Other_Uppercase/Other_Lowercase (letters with a
 * case mapping such as Ⓐ or Ⅻ, and ª º and the squared letters 🄰..🆉 without
 * one; the Lm ones are case-ignorable and never asked about). */
static int is_cased(uint32_t cp) {
    int cat = utf8proc_get_property((utf8proc_int32_t)cp)->category;
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return 1;
    if (cp == 0xAA || cp == 0xBA || (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
        (cp >= 0x1F170 && cp <= 0x1F189))
        return 1;
    utf8proc_int32_t c = (utf8proc_int32_t)cp;
    return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

/* Python: U+03A3 lowers to U+03C2 when preceded by a cased character and
 * not followed by one (case-ignorable characters skipped on both sides),
 * within the string being lowered: BERT lowers each whitespace token after
 * cleaning, so removed characters are skipped and boundaries end the scan.
 * The look-behind state is carried from one sigma to the next in `sc`, so a
 * token full of sigmas costs linear, not quadratic, time. */
typedef struct {
    size_t tok;     /* token the state belongs to (its start offset) */
    size_t pos;     /* scanned up to here */
    int cased;      /* the last non-case-ignorable character was cased */
} SigmaScan;

static int final_sigma(const unsigned char *s, size_t n, SigmaScan *sc, size_t tok, size_t at, size_t after) {
    uint32_t cp;
    if (sc->tok != tok || sc->pos > at) {
        sc->tok = tok;
        sc->pos = tok;
        sc->cased = 0;
    }
    for (size_t i = sc->pos; i < at;) {
        int l = utf8_decode(s, n, i, &cp);
        if (!l) break;  /* cannot happen: already decoded */
        i += (size_t)l;
        int cat = utf8proc_get_property((utf8proc_int32_t)cp)->category;
        if (is_removed(cp, cat) || is_case_ignorable(cp)) continue;
        sc->cased = is_cased(cp);
    }
    sc->pos = at;
    if (!sc->cased) return 0;
    for (size_t i = after; i < n;) {
        int l = utf8_decode(s, n, i, &cp);
        if (!l) return 1;  /* the caller stops there with an error anyway */
        i += (size_t)l;
        int cat = utf8proc_get_property((utf8proc_int32_t)cp)->category;
        if (is_removed(cp, cat)) continue;
        if (is_boundary(cp, cat)) return 1;
        if (is_case_ignorable(cp)) continue;
        return !is_cased(cp);
    }
    return 1;
}

/* ------------------------------------------------------------ hash table */

static inline uint64_t slot_of(const Tokenizer *t, uint64_t h) {
    return ((h ^ (h >> 29)) * 0x9E3779B97F4A7C15ULL) >> t->shift;
}

static inline uint64_t fnv_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

/* id of the token whose bytes are `pre` (0 or 2 bytes: "##") followed by
 * s[0..n), hashing to h; -1 if absent. */
static inline int table_find(const Tokenizer *t, uint64_t h, int pre, const char *s, size_t n) {
    uint64_t k = slot_of(t, h);
    uint32_t full = (uint32_t)(n + (size_t)pre);
    for (;;) {
        const Slot *sl = &t->slots[k];
        if (sl->id < 0) return -1;
        if (sl->hash == h && sl->len == full) {
            const char *tk = t->blob + t->off[sl->id];
            if ((!pre || (tk[0] == '#' && tk[1] == '#')) && memcmp(tk + pre, s, n) == 0) return sl->id;
        }
        k = (k + 1) & t->mask;
    }
}

/* ---------------------------------------------------------------- loading */

Tokenizer *tokenizer_load(const char *vocab_path, int do_lower_case, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    FILE *f = fopen(vocab_path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open vocabulary: %s", vocab_path, strerror(errno));
        return NULL;
    }
    Tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        fclose(f);
        seterr(err, errlen, "%s: out of memory", vocab_path);
        return NULL;
    }
    size_t bcap = 1 << 16, blen = 0, ncap = 1024;
    t->blob = malloc(bcap);
    t->off = malloc(ncap * sizeof *t->off);
    t->len = malloc(ncap * sizeof *t->len);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    long lineno = 0;
    int ok = t->blob && t->off && t->len;
    uint64_t vh = FNV_OFFSET;
    while (ok && (got = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t L = (size_t)got;
        while (L > 0 && (line[L - 1] == '\n' || line[L - 1] == '\r')) L--;
        for (size_t i = 0; i < L;) {
            uint32_t cp;
            int l = utf8_decode((const unsigned char *)line, L, i, &cp);
            if (!l || cp == 0) {
                seterr(err, errlen, "%s:%ld: %s at byte %zu", vocab_path, lineno,
                       l ? "NUL character" : "invalid UTF-8", i);
                ok = 0;
                break;
            }
            i += (size_t)l;
        }
        if (!ok) break;
        if (t->n == 0x7FFFFFFE) {
            seterr(err, errlen, "%s:%ld: too many tokens", vocab_path, lineno);
            ok = 0;
            break;
        }
        if ((size_t)t->n == ncap) {
            ncap *= 2;
            size_t *o = realloc(t->off, ncap * sizeof *o);
            if (o) t->off = o;
            uint32_t *ln = realloc(t->len, ncap * sizeof *ln);
            if (ln) t->len = ln;
            if (!o || !ln) { ok = 0; seterr(err, errlen, "%s:%ld: out of memory", vocab_path, lineno); break; }
        }
        while (blen + L + 1 > bcap) bcap *= 2;
        char *nb = realloc(t->blob, bcap);
        if (!nb) { ok = 0; seterr(err, errlen, "%s:%ld: out of memory", vocab_path, lineno); break; }
        t->blob = nb;
        memcpy(t->blob + blen, line, L);
        t->blob[blen + L] = 0;
        t->off[t->n] = blen;
        t->len[t->n] = (uint32_t)L;
        blen += L + 1;
        t->n++;
        /* the hash of the vocabulary: every token followed by '\n' */
        vh = fnv_bytes(vh, line, L);
        vh = (vh ^ '\n') * FNV_PRIME;
    }
    if (ok && ferror(f)) {
        seterr(err, errlen, "%s: read error after line %ld: %s", vocab_path, lineno, strerror(errno));
        ok = 0;
    }
    if (ok && t->n == 0) {
        seterr(err, errlen, "%s: empty vocabulary (no tokens)", vocab_path);
        ok = 0;
    }
    free(line);
    fclose(f);
    if (!ok) {
        if (err && errlen && !err[0]) seterr(err, errlen, "%s: out of memory", vocab_path);
        tokenizer_free(t);
        return NULL;
    }
    t->vocab_hash = vh;
    t->lower = do_lower_case ? 1 : 0;
    t->max_chars = WP_DEFAULT_CHARS;

    size_t cap = 16;
    int bits = 4;
    while (cap < (size_t)t->n * 2) { cap *= 2; bits++; }
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) {
        seterr(err, errlen, "%s: out of memory", vocab_path);
        tokenizer_free(t);
        return NULL;
    }
    for (size_t k = 0; k < cap; k++) t->slots[k].id = -1;
    t->mask = cap - 1;
    t->shift = 64 - bits;
    t->h_cont = fnv_bytes(FNV_OFFSET, "##", 2);
    for (int i = 0; i < t->n; i++) {
        const char *tk = t->blob + t->off[i];
        uint32_t L = t->len[i];
        uint64_t h = fnv_bytes(FNV_OFFSET, tk, L);
        uint64_t k = slot_of(t, h);
        /* a duplicate token maps to its last line, as in BERT's load_vocab */
        while (t->slots[k].id >= 0) {
            const Slot *sl = &t->slots[k];
            if (sl->hash == h && sl->len == L && memcmp(t->blob + t->off[sl->id], tk, L) == 0) break;
            k = (k + 1) & t->mask;
        }
        t->slots[k] = (Slot){h, i, L};
        if ((int)L > t->max_first) t->max_first = (int)L;
        if (L >= 2 && tk[0] == '#' && tk[1] == '#' && (int)L - 2 > t->max_cont) t->max_cont = (int)L - 2;
    }
    t->cls = tokenizer_token_id(t, "[CLS]");
    t->sep = tokenizer_token_id(t, "[SEP]");
    t->pad = tokenizer_token_id(t, "[PAD]");
    t->unk = tokenizer_token_id(t, "[UNK]");
    t->mask_id = tokenizer_token_id(t, "[MASK]");
    return t;
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->blob);
    free(tok->off);
    free(tok->len);
    free(tok->slots);
    free(tok);
}

int tokenizer_vocab_size(const Tokenizer *tok) { return tok->n; }
int tokenizer_do_lower_case(const Tokenizer *tok) { return tok->lower; }
int tokenizer_cls_id(const Tokenizer *tok) { return tok->cls; }
int tokenizer_sep_id(const Tokenizer *tok) { return tok->sep; }
int tokenizer_pad_id(const Tokenizer *tok) { return tok->pad; }
int tokenizer_unk_id(const Tokenizer *tok) { return tok->unk; }
int tokenizer_mask_id(const Tokenizer *tok) { return tok->mask_id; }
uint64_t tokenizer_vocab_hash(const Tokenizer *tok) { return tok->vocab_hash; }
int tokenizer_max_word_chars(const Tokenizer *tok) { return tok->max_chars; }

int tokenizer_set_max_word_chars(Tokenizer *tok, int n) {
    if (n < 1 || n > TOKENIZER_MAX_WORD_CHARS_LIMIT) return -1;
    tok->max_chars = n;
    return 0;
}

int tokenizer_token_id(const Tokenizer *tok, const char *token) {
    if (!tok->slots) return -1;
    size_t n = strlen(token);
    return table_find(tok, fnv_bytes(FNV_OFFSET, token, n), 0, token, n);
}

const char *tokenizer_id_token(const Tokenizer *tok, int id) {
    if (id < 0 || id >= tok->n) return NULL;
    return tok->blob + tok->off[id];
}

/* --------------------------------------------------------------- encoding */

typedef struct {
    int ncp;                              /* code points, may exceed the cap */
    int max;                              /* the tokenizer's word limit */
    uint16_t cpoff[WP_CAP + 1];           /* byte offset of each code point end */
    char buf[WP_CAP * 4 + 4];
} Word;

/* Combining marks (non-Mn, combining class > 0) waiting for NFD's
 * canonical ordering; more than a word's worth only means the word is
 * [UNK], so a bounded buffer is exact. */
typedef struct {
    int n;
    uint32_t cp[WP_CAP + 1];
    uint8_t ccc[WP_CAP + 1];
} Pending;

static inline void word_add(Word *w, uint32_t cp) {
    if (w->ncp < w->max) {
        int b = w->cpoff[w->ncp];
        b += utf8_encode(cp, w->buf + b);
        w->cpoff[++w->ncp] = (uint16_t)b;
    } else {
        w->ncp = w->max + 1;
    }
}

static inline void push_unk(const Tokenizer *t, IntVec *ids) {
    /* a vocabulary without [UNK] cannot represent the word: it is dropped */
    if (t->unk >= 0) intvec_push(ids, t->unk);
}

/* Greedy longest-match-first WordPiece over the word, then reset it. The
 * hashes of all prefixes from `start` are computed in one forward sweep, so
 * each candidate end costs one probe, not a rehash. */
static void word_end(const Tokenizer *t, Word *w, IntVec *ids) {
    int n = w->ncp;
    if (n == 0) return;
    w->ncp = 0;
    if (n > w->max) { push_unk(t, ids); return; }
    size_t mark = ids->len;
    uint64_t hp[WP_CAP + 1];
    int start = 0;
    while (start < n) {
        int sb = w->cpoff[start];
        int pre = start ? 2 : 0;
        int maxb = start ? t->max_cont : t->max_first;
        uint64_t h = start ? t->h_cont : FNV_OFFSET;
        int last = start, bpos = sb;
        for (int k = start + 1; k <= n; k++) {
            int eb = w->cpoff[k];
            if (eb - sb > maxb) break;
            for (; bpos < eb; bpos++) h = (h ^ (unsigned char)w->buf[bpos]) * FNV_PRIME;
            hp[k] = h;
            last = k;
        }
        int end = last, id = -1;
        for (; end > start; end--) {
            id = table_find(t, hp[end], pre, w->buf + sb, (size_t)(w->cpoff[end] - sb));
            if (id >= 0) break;
        }
        if (id < 0) {
            ids->len = mark;
            push_unk(t, ids);
            return;
        }
        intvec_push(ids, id);
        start = end;
    }
}

static inline void pending_flush(Pending *p, Word *w) {
    /* stable insertion sort by combining class, as NFD's canonical order */
    for (int i = 1; i < p->n; i++) {
        uint32_t c = p->cp[i];
        uint8_t k = p->ccc[i];
        int j = i - 1;
        while (j >= 0 && p->ccc[j] > k) {
            p->cp[j + 1] = p->cp[j];
            p->ccc[j + 1] = p->ccc[j];
            j--;
        }
        p->cp[j + 1] = c;
        p->ccc[j + 1] = k;
    }
    for (int i = 0; i < p->n; i++) word_add(w, p->cp[i]);
    p->n = 0;
}

/* One normalized code point (after lowercasing and decomposition) into the
 * current word: punctuation becomes a word of its own. */
static inline void put_char(const Tokenizer *t, Word *w, Pending *p, IntVec *ids, uint32_t cp, int cat) {
    if (p->n) pending_flush(p, w);
    if (is_punct(cp, cat)) {
        word_end(t, w, ids);
        word_add(w, cp);
        word_end(t, w, ids);
    } else {
        word_add(w, cp);
    }
}

/* Lowercase (given) code point -> canonical decomposition, Mn dropped. */
static void put_lowered(const Tokenizer *t, Word *w, Pending *p, IntVec *ids, uint32_t lc) {
    utf8proc_int32_t dec[32];
    int last_bc = 0;
    utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)lc, dec, 32, UTF8PROC_DECOMPOSE, &last_bc);
    if (nd < 0 || nd > 32) { dec[0] = (utf8proc_int32_t)lc; nd = 1; }
    for (utf8proc_ssize_t k = 0; k < nd; k++) {
        uint32_t d = (uint32_t)dec[k];
        const utf8proc_property_t *pr = utf8proc_get_property(dec[k]);
        if (pr->category == UTF8PROC_CATEGORY_MN) {
            /* dropped, but an Mn of class 0 still ends a reordering run */
            if (!pr->combining_class && p->n) pending_flush(p, w);
            continue;
        }
        if (pr->combining_class) {
            if (p->n <= w->max) {
                p->cp[p->n] = d;
                p->ccc[p->n] = (uint8_t)pr->combining_class;
                p->n++;
            } else {
                w->ncp = w->max + 1;  /* the word is over-long whatever the order */
            }
            continue;
        }
        put_char(t, w, p, ids, d, pr->category);
    }
}

int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, IntVec *ids, size_t *bad_offset) {
    const unsigned char *s = (const unsigned char *)text;
    const int lower = tok->lower;
    size_t mark0 = ids->len;
    size_t tok_start = 0;   /* where the current whitespace token began */
    SigmaScan sigma = {(size_t)-1, 0, 0};
    Word w;
    Pending p;
    w.ncp = 0;
    w.max = tok->max_chars;
    w.cpoff[0] = 0;
    p.n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned b = s[i];
        if (b < 0x80) {
            i++;
            switch (ascii_class[b]) {
            case A_WORD:
                if (p.n) pending_flush(&p, &w);
                if (w.ncp < w.max) {
                    int o = w.cpoff[w.ncp];
                    w.buf[o] = (char)b;
                    w.cpoff[++w.ncp] = (uint16_t)(o + 1);
                } else {
                    w.ncp = w.max + 1;
                }
                break;
            case A_UPPER:
                if (p.n) pending_flush(&p, &w);
                if (w.ncp < w.max) {
                    int o = w.cpoff[w.ncp];
                    w.buf[o] = (char)(lower ? b + 32 : b);
                    w.cpoff[++w.ncp] = (uint16_t)(o + 1);
                } else {
                    w.ncp = w.max + 1;
                }
                break;
            case A_SPACE:
                if (p.n) pending_flush(&p, &w);
                word_end(tok, &w, ids);
                tok_start = i;
                break;
            case A_PUNCT: {
                if (p.n) pending_flush(&p, &w);
                word_end(tok, &w, ids);
                char c = (char)b;
                int id = table_find(tok, (FNV_OFFSET ^ b) * FNV_PRIME, 0, &c, 1);
                if (id >= 0) intvec_push(ids, id);
                else push_unk(tok, ids);
                break;
            }
            default: /* A_SKIP */
                break;
            }
            continue;
        }
        uint32_t cp;
        int l = utf8_decode(s, len, i, &cp);
        if (!l) {
            if (bad_offset) *bad_offset = i;
            ids->len = mark0;
            return -1;
        }
        size_t at = i;
        i += (size_t)l;
        int cat = utf8proc_get_property((utf8proc_int32_t)cp)->category;
        if (is_removed(cp, cat)) continue;
        if (is_boundary(cp, cat)) {
            if (p.n) pending_flush(&p, &w);
            word_end(tok, &w, ids);
            tok_start = i;
            if (is_cjk(cp)) {
                if (lower) put_lowered(tok, &w, &p, ids, cp);
                else word_add(&w, cp);
                if (p.n) pending_flush(&p, &w);
                word_end(tok, &w, ids);
            }
            continue;
        }
        if (!lower) {
            put_char(tok, &w, &p, ids, cp, cat);
            continue;
        }
        uint32_t lc;
        if (cp == 0x3A3) lc = final_sigma(s, len, &sigma, tok_start, at, i) ? 0x3C2 : 0x3C3;
        else if (cp == 0x130) lc = 'i';  /* Python: "i" + U+0307, an Mn that is stripped */
        else lc = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        put_lowered(tok, &w, &p, ids, lc);
    }
    if (p.n) pending_flush(&p, &w);
    word_end(tok, &w, ids);
    return 0;
}

int tokenizer_frame(const Tokenizer *tok, const int *pieces, int n, int max_len, IntVec *out, int *dropped) {
    int keep = n < max_len - 2 ? n : max_len - 2;
    if (keep < 0) keep = 0;
    if (dropped) *dropped = n - keep;
    out->len = 0;
    intvec_push(out, tokenizer_cls_id(tok));
    for (int i = 0; i < keep; i++) intvec_push(out, pieces[i]);
    intvec_push(out, tokenizer_sep_id(tok));
    return (int)out->len;
}

int tokenizer_encode_sentence(const Tokenizer *tok, const char *text, size_t len, int max_len, IntVec *out,
                              int *dropped, size_t *bad_offset) {
    IntVec pieces = {0};
    if (tokenizer_encode(tok, text, len, &pieces, bad_offset)) {
        intvec_free(&pieces);
        return -1;
    }
    tokenizer_frame(tok, pieces.data, (int)pieces.len, max_len, out, dropped);
    intvec_free(&pieces);
    return 0;
}
