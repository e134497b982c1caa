/* tok_util.c — hash map, UTF-8, Unicode predicates, buffers and PCRE2
 * helpers for the tokenizer.json implementation (see tok_internal.h). */
#include "data/tok_internal.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

uint64_t tk_fnv(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

/* ------------------------------------------------------------------ map */

static void tkmap_grow(TkMap *m) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    TkSlot *ns = xmalloc(nc * sizeof *ns);
    for (size_t i = 0; i < nc; i++) ns[i].val = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].val < 0) continue;
        size_t j = m->slots[i].h & (nc - 1);
        while (ns[j].val >= 0) j = (j + 1) & (nc - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = nc;
}

void tkmap_put(TkMap *m, const char *key, size_t len, int val) {
    if ((m->n + 1) * 2 > m->cap) tkmap_grow(m);
    uint64_t h = tk_fnv(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].val >= 0) {
        TkSlot *s = &m->slots[j];
        if (s->h == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) {
            s->val = val;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->pool_len + len + 1 > m->pool_cap) {
        size_t nc = m->pool_cap ? m->pool_cap : 4096;
        while (nc < m->pool_len + len + 1) nc *= 2;
        m->pool = xrealloc(m->pool, nc);
        m->pool_cap = nc;
    }
    memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = 0;
    m->slots[j] = (TkSlot){h, val, (uint32_t)len, m->pool_len};
    m->pool_len += len + 1;
    m->n++;
    if (len > m->max_key) m->max_key = len;
}

int tkmap_get(const TkMap *m, const char *key, size_t len) {
    if (!m->cap || len > m->max_key) return -1;
    return tkmap_get_h(m, key, len, tk_fnv(key, len));
}

int tkmap_get_h(const TkMap *m, const char *key, size_t len, uint64_t h) {
    if (!m->cap || len > m->max_key) return -1;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].val >= 0) {
        const TkSlot *s = &m->slots[j];
        if (s->h == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) return s->val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void tkmap_free(TkMap *m) {
    free(m->slots);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- UTF-8 */

int tk_utf8_dec(const unsigned char *s, size_t n, int32_t *cp) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &c);
    if (k <= 0) { *cp = 0xFFFD; return 1; }
    *cp = c;
    return (int)k;
}

int tk_utf8_enc(int32_t cp, char *out) {
    return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

size_t tk_utf8_check(const char *s, size_t n, int nul_bad) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            if (b == 0 && nul_bad) return i;
            i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return (size_t)-1;
}

/* ----------------------------------------------------- Unicode predicates */

int tk_is_whitespace(int32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13)) return 1;
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int tk_is_bert_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return 1;
    if (c < 128) return 0;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int tk_is_alnum(int32_t c) {
    if (c < 128) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* -------------------------------------------------------------- buffers */

void tkcps_push(TkCps *b, int32_t c, int w) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->c = xrealloc(b->c, b->cap * sizeof *b->c);
        b->w = xrealloc(b->w, b->cap * sizeof *b->w);
    }
    b->c[b->n] = c;
    b->w[b->n++] = w;
}

void tkcps_free(TkCps *b) {
    free(b->c);
    free(b->w);
    memset(b, 0, sizeof *b);
}

void tkstr_push(TkStr *t, const char *bytes, size_t n, int w) {
    if (t->len + n > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 128;
        while (nc < t->len + n) nc *= 2;
        t->s = xrealloc(t->s, nc);
        t->w = xrealloc(t->w, nc * sizeof *t->w);
        t->cap = nc;
    }
    memcpy(t->s + t->len, bytes, n);
    for (size_t i = 0; i < n; i++) t->w[t->len + i] = w;
    t->len += n;
}

void tkstr_push_cp(TkStr *t, int32_t c, int w) {
    char b[4];
    tkstr_push(t, b, (size_t)tk_utf8_enc(c, b), w);
}

void tkstr_free(TkStr *t) {
    free(t->s);
    free(t->w);
    memset(t, 0, sizeof *t);
}

void tkpieces_clear(TkPieces *p) {
    p->buf.len = 0;
    p->n = 0;
}

void tkpieces_free(TkPieces *p) {
    tkstr_free(&p->buf);
    free(p->sp);
    memset(p, 0, sizeof *p);
}

void tkpieces_add(TkPieces *p, const TkStr *src, size_t off, size_t len, int at_start) {
    if (!len) return;   /* empty pieces are dropped, as tokenizers does */
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->sp = xrealloc(p->sp, p->cap * sizeof *p->sp);
    }
    size_t o = p->buf.len;
    tkstr_push(&p->buf, src->s + off, len, 0);
    memcpy(p->buf.w + o, src->w + off, len * sizeof(int));
    p->sp[p->n++] = (TkSpan){o, len, at_start};
}

void tkpv_push(TkPieceVec *v, int id, size_t start, size_t end) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 32;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = (TkPiece){id, start, end};
}

/* ---------------------------------------------------------------- regex */

pcre2_code *tk_regex_compile(const char *pat, size_t len, int literal, char *err, size_t errlen) {
    int ec;
    PCRE2_SIZE eo;
    uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);   /* LITERAL refuses UCP */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opt, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        seterr(err, errlen, "pattern at offset %zu: %s", (size_t)eo, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* where JIT is missing, matching interprets */
    return re;
}

/* ------------------------------------------------- per-thread scratch */

enum { TK_MAX_THREAD_EXITS = 64 };
typedef struct {
    void (*fn)(void *);
    void *arg;
} TkExit;
static __thread TkExit tl_exits[TK_MAX_THREAD_EXITS];
static __thread int tl_nexits;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void run_thread_exits(void *unused) {
    (void)unused;
    for (int i = tl_nexits - 1; i >= 0; i--) tl_exits[i].fn(tl_exits[i].arg);
    tl_nexits = 0;
}
static void make_exit_key(void) {
    if (pthread_key_create(&exit_key, run_thread_exits)) abort();
}

void tk_thread_atexit(void (*fn)(void *), void *arg) {
    pthread_once(&exit_once, make_exit_key);
    if (tl_nexits == TK_MAX_THREAD_EXITS) abort();   /* a fixed set of call sites: a programming error */
    if (tl_nexits == 0) pthread_setspecific(exit_key, tl_exits);   /* non-NULL: the destructor runs */
    tl_exits[tl_nexits++] = (TkExit){fn, arg};
}

void tk_release_ptr(void *pp) {
    free(*(void **)pp);
    *(void **)pp = NULL;
}
void tk_release_cps(void *b) { tkcps_free(b); }
void tk_release_str(void *t) { tkstr_free(t); }

static void release_match_data(void *pmd) {
    pcre2_match_data_free(*(pcre2_match_data **)pmd);
    *(pcre2_match_data **)pmd = NULL;
}

int tk_regex_all(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                 size_t **m, size_t *nm, size_t *mcap) {
    static __thread pcre2_match_data *tl_md = NULL;   /* one per thread, freed as it ends */
    if (!md) {
        TK_ON_THREAD_EXIT(release_match_data, &tl_md);
        if (!tl_md) tl_md = pcre2_match_data_create(4, NULL);
        if (!tl_md) return -1;
        md = tl_md;
    }
    size_t pos = 0;
    *nm = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return -1;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) {   /* empty match: step one code point */
            if (a >= n) break;
            int32_t c;
            pos = a + (size_t)tk_utf8_dec((const unsigned char *)s + a, n - a, &c);
            continue;
        }
        if (*nm + 2 > *mcap) {
            *mcap = *mcap ? *mcap * 2 : 64;
            *m = xrealloc(*m, *mcap * sizeof **m);
        }
        (*m)[(*nm)++] = a;
        (*m)[(*nm)++] = b;
        pos = b;
    }
    *nm /= 2;
    return 0;
}

/* ----------------------------------------------------------------- JSON */

const char *tk_json_str(json_t *o, const char *key, const char *where, const char *name,
                        char *err, size_t errlen) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        seterr(err, errlen, "%s: %s: \"%s\" %s", name, where, key, v ? "is not a string" : "is missing");
        return NULL;
    }
    return json_string_value(v);
}
