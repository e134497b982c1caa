/* tok_pretokenize.c — tokenizer.json pre-tokenizers (see tok_internal.h).
 *
 * Each pre-tokenizer splits every current piece into spans, "matches" and
 * the text between them, and keeps them according to a behavior, as the
 * `tokenizers` library does: character predicates (whitespace,
 * punctuation, digits, ▁) make one match per character; patterns (PCRE2,
 * UTF + UCP) one match per regex match.
 *
 *  BertPreTokenizer  whitespace removed, then punctuation isolated
 *  Whitespace        \w+|[^\w\s]+ kept (Rust regex classes, spelled out)
 *  WhitespaceSplit   whitespace removed
 *  Punctuation       punctuation, behavior from the file (default isolated)
 *  Digits            numbers isolated (individual_digits) or contiguous
 *  Split             pattern (String or Regex), behavior, invert
 *  ByteLevel         ' ' prepended (add_prefix_space) to each piece not
 *                    starting with one, the GPT-2 pattern (use_regex), then
 *                    every byte -> its GPT-2 code point
 *  Metaspace         ' ' -> replacement, prepended (always / first / never),
 *                    split before each replacement (merged with next)
 *  Sequence          in order */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

pcre2_code *tk_load_pattern(json_t *p, const char *what, const char *name, char *err, size_t errlen);

/* White_Space, as Rust's char::is_whitespace and Oniguruma's \s */
#define WS "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";
/* Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control */
#define RW "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}"
static const char WHITESPACE_PATTERN[] = "[" RW "]+|[^" RW WS "]+";

int32_t tk_byte_char[256];
static pthread_once_t byte_once = PTHREAD_ONCE_INIT;
static void byte_init(void) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        tk_byte_char[b] = keep ? b : 256 + n++;
    }
}
void tk_bytelevel_init(void) { pthread_once(&byte_once, byte_init); }

/* ------------------------------------------------------------ splitting */

typedef struct {
    size_t a, b;
    int match;
} Span;
typedef struct {
    Span *v;
    size_t n, cap;
} Spans;
static void spans_push(Spans *s, size_t a, size_t b, int match) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (Span){a, b, match};
}
static void release_spans(void *p) {
    Spans *s = p;
    free(s->v);
    *s = (Spans){0};
}

/* spans of a piece for a character predicate: one match per character */
static void spans_pred(const char *s, size_t n, int (*pred)(int32_t, const void *), const void *arg,
                       Spans *out) {
    out->n = 0;
    size_t last = 0, i = 0;
    while (i < n) {
        int32_t c;
        int k = tk_utf8_dec((const unsigned char *)s + i, n - i, &c);
        if (pred(c, arg)) {
            if (last < i) spans_push(out, last, i, 0);
            spans_push(out, i, i + (size_t)k, 1);
            last = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (last < n) spans_push(out, last, n, 0);
}

static int spans_regex(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n, int invert,
                       Spans *out) {
    static __thread size_t *m = NULL;
    static __thread size_t mcap = 0;
    TK_ON_THREAD_EXIT(tk_release_ptr, &m);
    size_t nm = 0;
    out->n = 0;
    if (tk_regex_all(re, md, s, n, &m, &nm, &mcap)) return -1;
    size_t last = 0;
    for (size_t k = 0; k < nm; k++) {
        if (last < m[2 * k]) spans_push(out, last, m[2 * k], invert);
        spans_push(out, m[2 * k], m[2 * k + 1], !invert);
        last = m[2 * k + 1];
    }
    if (last < n) spans_push(out, last, n, invert);
    return 0;
}

/* keep spans by behavior; results replace sp (non-match marks dropped) */
static void apply_behavior(Spans *sp, int behavior) {
    size_t o = 0;
    switch (behavior) {
    case TKB_REMOVED:
        for (size_t i = 0; i < sp->n; i++) if (!sp->v[i].match) sp->v[o++] = sp->v[i];
        break;
    case TKB_ISOLATED:
        o = sp->n;
        break;
    case TKB_MERGED_PREV: {
        int prev = 0;
        for (size_t i = 0; i < sp->n; i++) {
            int m = sp->v[i].match;
            if (m && !prev && o > 0) sp->v[o - 1].b = sp->v[i].b;
            else sp->v[o++] = sp->v[i];
            prev = m;
        }
        break;
    }
    case TKB_MERGED_NEXT: {
        /* from the right: a match merges into the piece after it, unless
         * that piece is itself a match */
        int next = 0;
        size_t w = sp->n;   /* results fill v[w..n) from the back */
        for (size_t i = sp->n; i-- > 0;) {
            Span s = sp->v[i];
            if (s.match && !next && w < sp->n) sp->v[w].a = s.a;
            else sp->v[--w] = s;
            next = s.match;
        }
        memmove(sp->v, sp->v + w, (sp->n - w) * sizeof *sp->v);
        o = sp->n - w;
        break;
    }
    case TKB_CONTIGUOUS: {
        int prev = 0;
        for (size_t i = 0; i < sp->n; i++) {
            int m = sp->v[i].match;
            if (m == prev && o > 0) sp->v[o - 1].b = sp->v[i].b;
            else sp->v[o++] = sp->v[i];
            prev = m;
        }
        break;
    }
    }
    sp->n = o;
}

static int pred_ws(int32_t c, const void *a) { (void)a; return tk_is_whitespace(c); }
static int pred_punct(int32_t c, const void *a) { (void)a; return tk_is_bert_punct(c); }
static int pred_numeric(int32_t c, const void *a) {
    (void)a;
    if (c < 128) return c >= '0' && c <= '9';
    int cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

/* split every piece with a predicate and behavior */
static void split_pred(TkPieces *pcs, TkPieces *out, int (*pred)(int32_t, const void *), const void *arg,
                       int behavior) {
    static __thread Spans sp;
    TK_ON_THREAD_EXIT(release_spans, &sp);
    tkpieces_clear(out);
    for (size_t i = 0; i < pcs->n; i++) {
        TkSpan p = pcs->sp[i];
        spans_pred(pcs->buf.s + p.off, p.len, pred, arg, &sp);
        apply_behavior(&sp, behavior);
        for (size_t k = 0; k < sp.n; k++)
            tkpieces_add(out, &pcs->buf, p.off + sp.v[k].a, sp.v[k].b - sp.v[k].a, p.at_start && sp.v[k].a == 0);
    }
}

static int split_regex(TkPieces *pcs, TkPieces *out, const pcre2_code *re, pcre2_match_data *md, int invert,
                       int behavior) {
    static __thread Spans sp;
    TK_ON_THREAD_EXIT(release_spans, &sp);
    tkpieces_clear(out);
    for (size_t i = 0; i < pcs->n; i++) {
        TkSpan p = pcs->sp[i];
        if (spans_regex(re, md, pcs->buf.s + p.off, p.len, invert, &sp)) return -1;
        apply_behavior(&sp, behavior);
        for (size_t k = 0; k < sp.n; k++)
            tkpieces_add(out, &pcs->buf, p.off + sp.v[k].a, sp.v[k].b - sp.v[k].a, p.at_start && sp.v[k].a == 0);
    }
    return 0;
}

static void swap_pieces(TkPieces *a, TkPieces *b) {
    TkPieces t = *a;
    *a = *b;
    *b = t;
}

/* one piece rewritten: copy of src piece with a prefix and a byte map */
static void bytelevel_map(TkPieces *pcs, TkPieces *out) {
    static __thread TkStr t;
    TK_ON_THREAD_EXIT(tk_release_str, &t);
    tkpieces_clear(out);
    for (size_t i = 0; i < pcs->n; i++) {
        TkSpan p = pcs->sp[i];
        t.len = 0;
        for (size_t k = 0; k < p.len; k++)
            tkstr_push_cp(&t, tk_byte_char[(unsigned char)pcs->buf.s[p.off + k]], pcs->buf.w[p.off + k]);
        tkpieces_add(out, &t, 0, t.len, p.at_start);
    }
}

static int pred_repl(int32_t c, const void *a) { return c == *(const int32_t *)a; }

int tk_pre_apply(const TkPre *pre, TkPieces *pcs, TkPieces *scratch) {
    static __thread TkStr t;
    TK_ON_THREAD_EXIT(tk_release_str, &t);
    switch (pre->type) {
    case TKP_BERT:
        split_pred(pcs, scratch, pred_ws, NULL, TKB_REMOVED);
        split_pred(scratch, pcs, pred_punct, NULL, TKB_ISOLATED);
        return 0;
    case TKP_WHITESPACE_SPLIT:
        split_pred(pcs, scratch, pred_ws, NULL, TKB_REMOVED);
        break;
    case TKP_PUNCTUATION:
        split_pred(pcs, scratch, pred_punct, NULL, pre->behavior);
        break;
    case TKP_DIGITS:
        split_pred(pcs, scratch, pred_numeric, NULL, pre->individual_digits ? TKB_ISOLATED : TKB_CONTIGUOUS);
        break;
    case TKP_WHITESPACE:
    case TKP_SPLIT:
        if (split_regex(pcs, scratch, pre->re, pre->md, pre->invert, pre->behavior)) return -1;
        break;
    case TKP_SEQUENCE:
        for (int i = 0; i < pre->nsub; i++)
            if (tk_pre_apply(&pre->sub[i], pcs, scratch)) return -1;
        return 0;
    case TKP_BYTELEVEL:
        if (pre->add_prefix_space) {
            tkpieces_clear(scratch);
            for (size_t i = 0; i < pcs->n; i++) {
                TkSpan p = pcs->sp[i];
                t.len = 0;
                if (pcs->buf.s[p.off] != ' ') tkstr_push(&t, " ", 1, -1);
                size_t o = t.len;
                tkstr_push(&t, pcs->buf.s + p.off, p.len, 0);
                memcpy(t.w + o, pcs->buf.w + p.off, p.len * sizeof(int));
                tkpieces_add(scratch, &t, 0, t.len, p.at_start);
            }
            swap_pieces(pcs, scratch);
        }
        if (pre->use_regex) {
            if (split_regex(pcs, scratch, pre->re, pre->md, 0, TKB_ISOLATED)) return -1;
            swap_pieces(pcs, scratch);
        }
        bytelevel_map(pcs, scratch);
        break;
    case TKP_METASPACE: {
        int32_t rc;
        tk_utf8_dec((const unsigned char *)pre->repl, (size_t)pre->repl_len, &rc);
        tkpieces_clear(scratch);
        for (size_t i = 0; i < pcs->n; i++) {
            TkSpan p = pcs->sp[i];
            t.len = 0;
            int starts = (size_t)pre->repl_len <= p.len && !memcmp(pcs->buf.s + p.off, pre->repl, (size_t)pre->repl_len);
            if (pcs->buf.s[p.off] == ' ') starts = 1;
            if (!starts && (pre->prepend == TKM_ALWAYS || (pre->prepend == TKM_FIRST && p.at_start)))
                tkstr_push(&t, pre->repl, (size_t)pre->repl_len, -1);
            for (size_t k = 0; k < p.len; k++) {
                if (pcs->buf.s[p.off + k] == ' ') tkstr_push(&t, pre->repl, (size_t)pre->repl_len, pcs->buf.w[p.off + k]);
                else tkstr_push(&t, pcs->buf.s + p.off + k, 1, pcs->buf.w[p.off + k]);
            }
            tkpieces_add(scratch, &t, 0, t.len, p.at_start);
        }
        swap_pieces(pcs, scratch);
        if (pre->split) split_pred(pcs, scratch, pred_repl, &rc, TKB_MERGED_NEXT);
        else return 0;
        break;
    }
    }
    swap_pieces(pcs, scratch);
    return 0;
}

/* ---------------------------------------------------------------- load */

static int jbool(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    if (json_is_boolean(v)) return json_is_true(v);
    return dflt;
}

static int load_behavior(json_t *j, int dflt, const char *name, char *err, size_t errlen) {
    json_t *b = json_object_get(j, "behavior");
    if (!b || json_is_null(b)) return dflt;
    const char *s = json_is_string(b) ? json_string_value(b) : "";
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++) if (!strcmp(s, names[i])) return i;
    seterr(err, errlen, "%s: pre_tokenizer: behavior \"%s\" is not supported", name, s);
    return -1;
}

static int compile_fixed(TkPre *out, const char *pat, const char *name, char *err, size_t errlen) {
    char e2[300];
    out->re = tk_regex_compile(pat, strlen(pat), 0, e2, sizeof e2);
    if (!out->re) {
        seterr(err, errlen, "%s: built-in pre-tokenizer pattern: %s", name, e2);
        return -1;
    }
    out->md = NULL;   /* per-thread match data in tk_regex_all */
    return 0;
}

int tk_pre_load(json_t *j, TkPre *out, const char *name, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *t = tk_json_str(j, "type", "pre_tokenizer", name, err, errlen);
    if (!t) return -1;
    if (!strcmp(t, "BertPreTokenizer")) out->type = TKP_BERT;
    else if (!strcmp(t, "WhitespaceSplit")) out->type = TKP_WHITESPACE_SPLIT;
    else if (!strcmp(t, "Whitespace")) {
        out->type = TKP_WHITESPACE;
        out->invert = 1;
        out->behavior = TKB_REMOVED;
        return compile_fixed(out, WHITESPACE_PATTERN, name, err, errlen);
    } else if (!strcmp(t, "Punctuation")) {
        out->type = TKP_PUNCTUATION;
        if ((out->behavior = load_behavior(j, TKB_ISOLATED, name, err, errlen)) < 0) return -1;
    } else if (!strcmp(t, "Digits")) {
        out->type = TKP_DIGITS;
        out->individual_digits = jbool(j, "individual_digits", 0);
    } else if (!strcmp(t, "Split")) {
        out->type = TKP_SPLIT;
        if ((out->behavior = load_behavior(j, TKB_ISOLATED, name, err, errlen)) < 0) return -1;
        out->invert = jbool(j, "invert", 0);
        out->re = tk_load_pattern(json_object_get(j, "pattern"), "pre_tokenizer Split", name, err, errlen);
        if (!out->re) return -1;
        out->md = NULL;   /* per-thread match data in tk_regex_all */
    } else if (!strcmp(t, "ByteLevel")) {
        out->type = TKP_BYTELEVEL;
        out->add_prefix_space = jbool(j, "add_prefix_space", 1);
        out->use_regex = jbool(j, "use_regex", 1);
        tk_bytelevel_init();
        if (out->use_regex) return compile_fixed(out, GPT2_PATTERN, name, err, errlen);
    } else if (!strcmp(t, "Metaspace")) {
        out->type = TKP_METASPACE;
        json_t *r = json_object_get(j, "replacement");
        const char *rs = json_is_string(r) ? json_string_value(r) : "\xe2\x96\x81";
        int32_t c;
        size_t rl = strlen(rs);
        if (!rl || rl > 4 || (size_t)tk_utf8_dec((const unsigned char *)rs, rl, &c) != rl) {
            seterr(err, errlen, "%s: pre_tokenizer Metaspace: \"replacement\" must be one character", name);
            return -1;
        }
        memcpy(out->repl, rs, rl);
        out->repl_len = (int)rl;
        out->split = jbool(j, "split", 1);
        json_t *ps = json_object_get(j, "prepend_scheme");
        if (json_is_string(ps)) {
            const char *s = json_string_value(ps);
            if (!strcmp(s, "always")) out->prepend = TKM_ALWAYS;
            else if (!strcmp(s, "first")) out->prepend = TKM_FIRST;
            else if (!strcmp(s, "never")) out->prepend = TKM_NEVER;
            else {
                seterr(err, errlen, "%s: pre_tokenizer Metaspace: prepend_scheme \"%s\" is not supported", name, s);
                return -1;
            }
        } else {
            out->prepend = jbool(j, "add_prefix_space", 1) ? TKM_ALWAYS : TKM_NEVER;
        }
    } else if (!strcmp(t, "Sequence")) {
        out->type = TKP_SEQUENCE;
        json_t *a = json_object_get(j, "pretokenizers");
        if (!json_is_array(a)) {
            seterr(err, errlen, "%s: pre_tokenizer Sequence: \"pretokenizers\" is not a list", name);
            return -1;
        }
        out->sub = xmalloc((json_array_size(a) + 1) * sizeof *out->sub);
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (tk_pre_load(json_array_get(a, i), &out->sub[i], name, err, errlen)) {
                tk_pre_free(out);
                return -1;
            }
            out->nsub = (int)i + 1;
        }
    } else {
        seterr(err, errlen, "%s: pre_tokenizer type \"%s\" is not supported", name, t);
        return -1;
    }
    return 0;
}

void tk_pre_free(TkPre *p) {
    for (int i = 0; i < p->nsub; i++) tk_pre_free(&p->sub[i]);
    free(p->sub);
    if (p->md) pcre2_match_data_free(p->md);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}
