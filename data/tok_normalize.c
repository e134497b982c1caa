/* tok_normalize.c — tokenizer.json normalizers over code points that carry
 * their word index (tok_internal.h). Rules as the `tokenizers` library:
 *
 *  BertNormalizer  clean_text: drop NUL, U+FFFD and "other" characters
 *                  (Cc, Cf, Co, Cs except \t \n \r; unassigned Cn stays), whitespace -> ' ';
 *                  handle_chinese_chars: ' ' around CJK ideographs;
 *                  strip_accents (default: = lowercase): NFD, drop Mn;
 *                  lowercase: full lowercase mapping per character.
 *  NFD NFKD NFC NFKC  utf8proc, applied to each run of characters of one
 *                  word (whitespace never composes or reorders, so this is
 *                  the same as normalizing the whole text).
 *  Lowercase, StripAccents (drop M*), Replace (string or PCRE2 regex),
 *  Prepend, Strip, Sequence.
 *  Precompiled     NOT the sentencepiece charsmap: NFKC instead (see
 *                  docs/tokenizer.md). */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <string.h>
#include <utf8proc.h>

static int is_other(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:   /* not Cn: the library keeps unassigned code points */
        return 1;
    default:
        return 0;
    }
}

static int is_chinese(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static void swap_bufs(TkCps *a, TkCps *b) {
    TkCps t = *a;
    *a = *b;
    *b = t;
}

/* utf8proc_map options on each run of one word index */
static void unicode_nf(TkCps *b, int opts) {
    static __thread TkCps out;   /* scratch, swapped with b */
    TK_ON_THREAD_EXIT(tk_release_cps, &out);
    out.n = 0;
    static __thread char *tmp = NULL;
    static __thread size_t tcap = 0;
    TK_ON_THREAD_EXIT(tk_release_ptr, &tmp);
    size_t i = 0;
    while (i < b->n) {
        size_t j = i;
        while (j < b->n && TK_W_WORD(b->w[j]) == TK_W_WORD(b->w[i])) j++;
        int ascii = 1;
        for (size_t k = i; k < j; k++) if (b->c[k] >= 0x80) { ascii = 0; break; }
        if (ascii) {   /* ASCII is stable under every normalization form */
            for (size_t k = i; k < j; k++) tkcps_push(&out, b->c[k], b->w[k]);
            i = j;
            continue;
        }
        if (tcap < (j - i) * 4 + 1) {
            tcap = (j - i) * 4 + 1;
            tmp = xrealloc(tmp, tcap);
        }
        size_t tl = 0;
        for (size_t k = i; k < j; k++) tl += (size_t)tk_utf8_enc(b->c[k], tmp + tl);
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)tmp, (utf8proc_ssize_t)tl, &res,
                                           (utf8proc_option_t)(UTF8PROC_STABLE | opts));
        if (rl < 0) {   /* cannot happen on valid input; keep the run as it is */
            for (size_t k = i; k < j; k++) tkcps_push(&out, b->c[k], b->w[k]);
        } else {
            size_t p = 0;
            int w = b->w[i];   /* the run's first output keeps TK_FROM_FIRST */
            while (p < (size_t)rl) {
                int32_t c;
                p += (size_t)tk_utf8_dec(res + p, (size_t)rl - p, &c);
                tkcps_push(&out, c, w);
                w &= ~TK_FROM_FIRST;
            }
        }
        free(res);
        i = j;
    }
    swap_bufs(b, &out);
}

static void lowercase(TkCps *b) {
    static __thread TkCps out;   /* scratch, swapped with b */
    TK_ON_THREAD_EXIT(tk_release_cps, &out);
    out.n = 0;
    for (size_t i = 0; i < b->n; i++) {
        int32_t c = b->c[i];
        if (c == 0x130) {   /* the one unconditional multi-character lowercase mapping */
            tkcps_push(&out, 'i', b->w[i]);
            tkcps_push(&out, 0x307, b->w[i]);
        } else {
            tkcps_push(&out, c < 128 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : utf8proc_tolower(c), b->w[i]);
        }
    }
    swap_bufs(b, &out);
}

/* drop Mn (only_mn) or every mark M* */
static void drop_marks(TkCps *b, int only_mn) {
    size_t o = 0;
    for (size_t i = 0; i < b->n; i++) {
        int32_t c = b->c[i];
        if (c >= 0x300) {
            int cat = utf8proc_category(c);
            if (cat == UTF8PROC_CATEGORY_MN) continue;
            if (!only_mn && (cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME)) continue;
        }
        b->c[o] = c;
        b->w[o++] = b->w[i];
    }
    b->n = o;
}

static void bert(const TkNorm *n, TkCps *b) {
    if (n->clean) {
        size_t o = 0;
        for (size_t i = 0; i < b->n; i++) {
            int32_t c = b->c[i];
            if (c == 0 || c == 0xFFFD || is_other(c)) continue;
            b->c[o] = tk_is_whitespace(c) ? ' ' : c;
            b->w[o++] = b->w[i];
        }
        b->n = o;
    }
    if (n->chinese) {
        int any = 0;
        for (size_t i = 0; i < b->n && !any; i++) any = is_chinese(b->c[i]);
        if (any) {
            static __thread TkCps out;   /* scratch, swapped with b */
            TK_ON_THREAD_EXIT(tk_release_cps, &out);
            out.n = 0;
            for (size_t i = 0; i < b->n; i++) {
                if (is_chinese(b->c[i])) {
                    tkcps_push(&out, ' ', TK_W_NONE | (b->w[i] & TK_FROM_FIRST));
                    tkcps_push(&out, b->c[i], b->w[i] & ~TK_FROM_FIRST);
                    tkcps_push(&out, ' ', TK_W_NONE);
                } else {
                    tkcps_push(&out, b->c[i], b->w[i]);
                }
            }
            swap_bufs(b, &out);
        }
    }
    if (n->strip_accents) {
        unicode_nf(b, UTF8PROC_DECOMPOSE);
        drop_marks(b, 1);
    }
    if (n->lower) lowercase(b);
}

static void replace(const TkNorm *n, TkCps *b) {
    TkStr s = {0};
    size_t *cpi = xmalloc((b->n * 4 + 1) * sizeof *cpi);   /* byte -> code point index */
    for (size_t i = 0; i < b->n; i++) {
        size_t o = s.len;
        tkstr_push_cp(&s, b->c[i], b->w[i]);
        for (size_t k = o; k < s.len; k++) cpi[k] = i;
    }
    cpi[s.len] = b->n;
    size_t *m = NULL, nm = 0, mcap = 0;
    if (tk_regex_all(n->re, n->md, s.s ? s.s : "", s.len, &m, &nm, &mcap) == 0 && nm) {
        static __thread TkCps out;   /* scratch, swapped with b */
        TK_ON_THREAD_EXIT(tk_release_cps, &out);
        out.n = 0;
        size_t ci = 0;
        for (size_t k = 0; k < nm; k++) {
            size_t a = cpi[m[2 * k]], e = cpi[m[2 * k + 1]];
            for (; ci < a; ci++) tkcps_push(&out, b->c[ci], b->w[ci]);
            int w = b->w[a];
            size_t p = 0;
            while (p < n->content_len) {
                int32_t c;
                p += (size_t)tk_utf8_dec((const unsigned char *)n->content + p, n->content_len - p, &c);
                tkcps_push(&out, c, w);
                w &= ~TK_FROM_FIRST;
            }
            ci = e;
        }
        for (; ci < b->n; ci++) tkcps_push(&out, b->c[ci], b->w[ci]);
        swap_bufs(b, &out);
    }
    free(m);
    free(cpi);
    tkstr_free(&s);
}

void tk_norm_apply(const TkNorm *n, TkCps *b) {
    switch (n->type) {
    case TKN_BERT: bert(n, b); break;
    case TKN_SEQUENCE:
        for (int i = 0; i < n->nsub; i++) tk_norm_apply(&n->sub[i], b);
        break;
    case TKN_NFD: unicode_nf(b, UTF8PROC_DECOMPOSE); break;
    case TKN_NFKD: unicode_nf(b, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT); break;
    case TKN_NFC: unicode_nf(b, UTF8PROC_COMPOSE); break;
    case TKN_NFKC: case TKN_PRECOMPILED: unicode_nf(b, UTF8PROC_COMPOSE | UTF8PROC_COMPAT); break;
    case TKN_LOWERCASE: lowercase(b); break;
    case TKN_STRIP_ACCENTS: drop_marks(b, 0); break;
    case TKN_REPLACE: replace(n, b); break;
    case TKN_PREPEND:
        if (b->n && n->content_len) {
            static __thread TkCps out;   /* scratch, swapped with b */
            TK_ON_THREAD_EXIT(tk_release_cps, &out);
            out.n = 0;
            size_t p = 0;
            int w = TK_W_NONE | (b->w[0] & TK_FROM_FIRST);
            while (p < n->content_len) {
                int32_t c;
                p += (size_t)tk_utf8_dec((const unsigned char *)n->content + p, n->content_len - p, &c);
                tkcps_push(&out, c, w);
            }
            for (size_t i = 0; i < b->n; i++) tkcps_push(&out, b->c[i], b->w[i]);
            swap_bufs(b, &out);
        }
        break;
    case TKN_STRIP: {
        size_t a = 0, e = b->n;
        if (n->left) while (a < e && tk_is_whitespace(b->c[a])) a++;
        if (n->right) while (e > a && tk_is_whitespace(b->c[e - 1])) e--;
        memmove(b->c, b->c + a, (e - a) * sizeof *b->c);
        memmove(b->w, b->w + a, (e - a) * sizeof *b->w);
        b->n = e - a;
        break;
    }
    }
}

static int jbool(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    if (json_is_boolean(v)) return json_is_true(v);
    return dflt;
}

/* {"String": s} or {"Regex": r} (Replace and Split patterns) */
static pcre2_code *load_pattern(json_t *p, const char *what, const char *name, char *err, size_t errlen) {
    json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
    json_t *v = json_is_string(s) ? s : r;
    if (!json_is_object(p) || !json_is_string(v)) {
        seterr(err, errlen, "%s: %s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", name, what);
        return NULL;
    }
    char e2[300];
    pcre2_code *re = tk_regex_compile(json_string_value(v), json_string_length(v), v == s, e2, sizeof e2);
    if (!re) seterr(err, errlen, "%s: %s: %s", name, what, e2);
    return re;
}

int tk_norm_load(json_t *j, TkNorm *out, const char *name, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *t = tk_json_str(j, "type", "normalizer", name, err, errlen);
    if (!t) return -1;
    if (!strcmp(t, "BertNormalizer")) {
        out->type = TKN_BERT;
        out->clean = jbool(j, "clean_text", 1);
        out->chinese = jbool(j, "handle_chinese_chars", 1);
        out->lower = jbool(j, "lowercase", 1);
        out->strip_accents = jbool(j, "strip_accents", out->lower);
    } else if (!strcmp(t, "Sequence")) {
        out->type = TKN_SEQUENCE;
        json_t *a = json_object_get(j, "normalizers");
        if (!json_is_array(a)) {
            seterr(err, errlen, "%s: normalizer Sequence: \"normalizers\" is not a list", name);
            return -1;
        }
        out->sub = xmalloc((json_array_size(a) + 1) * sizeof *out->sub);
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (tk_norm_load(json_array_get(a, i), &out->sub[i], name, err, errlen)) {
                tk_norm_free(out);
                return -1;
            }
            out->nsub = (int)i + 1;
        }
    } else if (!strcmp(t, "NFD")) out->type = TKN_NFD;
    else if (!strcmp(t, "NFKD")) out->type = TKN_NFKD;
    else if (!strcmp(t, "NFC")) out->type = TKN_NFC;
    else if (!strcmp(t, "NFKC")) out->type = TKN_NFKC;
    else if (!strcmp(t, "Precompiled")) out->type = TKN_PRECOMPILED;
    else if (!strcmp(t, "Lowercase")) out->type = TKN_LOWERCASE;
    else if (!strcmp(t, "StripAccents")) out->type = TKN_STRIP_ACCENTS;
    else if (!strcmp(t, "Strip")) {
        out->type = TKN_STRIP;
        out->left = jbool(j, "strip_left", 1);
        out->right = jbool(j, "strip_right", 1);
    } else if (!strcmp(t, "Replace") || !strcmp(t, "Prepend")) {
        int rep = t[0] == 'R';
        out->type = rep ? TKN_REPLACE : TKN_PREPEND;
        const char *key = rep ? "content" : "prepend";
        json_t *c = json_object_get(j, key);
        if (!json_is_string(c)) {
            seterr(err, errlen, "%s: normalizer %s: \"%s\" is not a string", name, t, key);
            return -1;
        }
        out->content_len = json_string_length(c);
        out->content = xmalloc(out->content_len + 1);
        memcpy(out->content, json_string_value(c), out->content_len + 1);
        if (tk_utf8_check(out->content, out->content_len, 1) != (size_t)-1) {
            seterr(err, errlen, "%s: normalizer %s: \"%s\" holds a NUL", name, t, key);
            tk_norm_free(out);
            return -1;
        }
        if (rep) {
            out->re = load_pattern(json_object_get(j, "pattern"), "normalizer Replace", name, err, errlen);
            if (!out->re) { tk_norm_free(out); return -1; }
            out->md = NULL;   /* per-thread match data in tk_regex_all */
        }
    } else {
        seterr(err, errlen, "%s: normalizer type \"%s\" is not supported", name, t);
        return -1;
    }
    return 0;
}

void tk_norm_free(TkNorm *n) {
    for (int i = 0; i < n->nsub; i++) tk_norm_free(&n->sub[i]);
    free(n->sub);
    free(n->content);
    if (n->md) pcre2_match_data_free(n->md);
    if (n->re) pcre2_code_free(n->re);
    memset(n, 0, sizeof *n);
}

/* shared with tok_pretokenize.c */
pcre2_code *tk_load_pattern(json_t *p, const char *what, const char *name, char *err, size_t errlen);
pcre2_code *tk_load_pattern(json_t *p, const char *what, const char *name, char *err, size_t errlen) {
    return load_pattern(p, what, name, err, errlen);
}
