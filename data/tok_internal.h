/* tok_internal.h — pieces shared by the tokenizer.json implementation
 * (data/tokenizer_json.c and data/tok_*.c); not for the rest of the program,
 * which uses data/tokenizer_json.h.
 *
 * Text moves through the pipeline with a word index per code point (TkCps,
 * normalizers) or per byte (TkStr, pre-tokenizers and models): the
 * whitespace-separated word of the original input it came from, -1 for
 * whitespace and for characters the pipeline adds (prefix spaces, ▁). */
#ifndef MTBERT_TOK_INTERNAL_H
#define MTBERT_TOK_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ------------------------------------------------------------ utilities */

/* string -> int map (open addressing, FNV-1a 64); a key put twice keeps
 * the last value */
typedef struct {
    uint64_t h;
    int32_t val;   /* -1: empty slot */
    uint32_t len;
    size_t off;    /* key bytes at pool + off */
} TkSlot;
typedef struct {
    TkSlot *slots;
    size_t cap, n;
    char *pool;
    size_t pool_len, pool_cap;
    size_t max_key;  /* longest key, bytes */
} TkMap;
void tkmap_put(TkMap *m, const char *key, size_t len, int val);
int tkmap_get(const TkMap *m, const char *key, size_t len);
/* the same with h = tk_fnv(key, len) already known (prefix sweeps) */
int tkmap_get_h(const TkMap *m, const char *key, size_t len, uint64_t h);
#define TK_FNV_OFFSET 0xcbf29ce484222325ULL
#define TK_FNV_STEP(h, byte) (((h) ^ (unsigned char)(byte)) * 0x100000001b3ULL)
void tkmap_free(TkMap *m);

uint64_t tk_fnv(const void *p, size_t n);

/* decode one code point of valid UTF-8 at s (n bytes left); returns its length */
int tk_utf8_dec(const unsigned char *s, size_t n, int32_t *cp);
int tk_utf8_enc(int32_t cp, char *out);   /* returns 1..4 */
/* offset of the first invalid UTF-8 sequence (or a NUL when nul_bad), or (size_t)-1 */
size_t tk_utf8_check(const char *s, size_t n, int nul_bad);

/* Unicode predicates, as the `tokenizers` library (Rust) defines them */
int tk_is_whitespace(int32_t c);   /* char::is_whitespace: White_Space property */
int tk_is_bert_punct(int32_t c);   /* ASCII punctuation or category P* */
int tk_is_alnum(int32_t c);        /* letters L*, numbers N* (char::is_alphanumeric) */

/* TkCps.w: TK_W(word) (word >= -1), | TK_FROM_FIRST on the code point that
 * descends from the first one of the input (the library's "original
 * offset 0", which Metaspace's prepend_scheme "first" asks about); a code
 * point a normalizer removes takes the mark with it. */
#define TK_FROM_FIRST (1 << 30)
#define TK_W(word) ((word) + 1)
#define TK_W_NONE 0
#define TK_W_WORD(w) (((w) & ~TK_FROM_FIRST) - 1)
typedef struct {
    int32_t *c;
    int *w;
    size_t n, cap;
} TkCps;
void tkcps_push(TkCps *b, int32_t c, int w);
void tkcps_free(TkCps *b);

/* Scratch a thread keeps between calls (static __thread buffers) is
 * released when that thread ends: TK_ON_THREAD_EXIT(fn, arg) registers
 * fn(arg) once per call site and thread (pthread key destructor). The
 * tk_release_* functions take the address of the scratch variable. */
void tk_thread_atexit(void (*fn)(void *), void *arg);
#define TK_ON_THREAD_EXIT(fn, arg)              \
    do {                                        \
        static __thread int tk_registered_;     \
        if (!tk_registered_) {                  \
            tk_registered_ = 1;                 \
            tk_thread_atexit((fn), (arg));      \
        }                                       \
    } while (0)
void tk_release_ptr(void *pp);   /* free(*(void **)pp) */
void tk_release_cps(void *b);    /* TkCps * */
void tk_release_str(void *t);    /* TkStr * */

typedef struct {
    char *s;
    int *w;
    size_t len, cap;
} TkStr;
void tkstr_push(TkStr *t, const char *b, size_t n, int w);
void tkstr_push_cp(TkStr *t, int32_t c, int w);
void tkstr_free(TkStr *t);

/* Pre-tokens: pieces of one buffer. */
typedef struct {
    size_t off, len;
    int at_start;   /* begins at offset 0 of the original input */
} TkSpan;
typedef struct {
    TkStr buf;
    TkSpan *sp;
    size_t n, cap;
} TkPieces;
void tkpieces_clear(TkPieces *p);
void tkpieces_free(TkPieces *p);
/* append bytes [off, off+len) of src (with their word indexes) as one piece */
void tkpieces_add(TkPieces *p, const TkStr *src, size_t off, size_t len, int at_start);

/* all matches of a compiled pattern in s[0..n): pairs of byte offsets
 * (start, end) appended to *m (count in *nm, pairs); empty matches skipped.
 * Returns 0, -1 on a matching error. */
int tk_regex_all(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                 size_t **m, size_t *nm, size_t *mcap);
pcre2_code *tk_regex_compile(const char *pat, size_t len, int literal, char *err, size_t errlen);

/* JSON helpers: NULL/-1 with a message "NAME: WHERE: ..." */
const char *tk_json_str(json_t *o, const char *key, const char *where, const char *name,
                        char *err, size_t errlen);

/* ---------------------------------------------------------- normalizers */

enum {
    TKN_BERT, TKN_SEQUENCE, TKN_NFD, TKN_NFKD, TKN_NFC, TKN_NFKC, TKN_LOWERCASE,
    TKN_STRIP_ACCENTS, TKN_REPLACE, TKN_PRECOMPILED, TKN_PREPEND, TKN_STRIP
};
typedef struct TkNorm {
    int type;
    int clean, chinese, strip_accents, lower;   /* BertNormalizer */
    struct TkNorm *sub;
    int nsub;
    pcre2_code *re;          /* Replace */
    pcre2_match_data *md;
    char *content;           /* Replace, Prepend */
    size_t content_len;
    int left, right;         /* Strip */
} TkNorm;
int tk_norm_load(json_t *j, TkNorm *out, const char *name, char *err, size_t errlen);
void tk_norm_apply(const TkNorm *n, TkCps *b);
void tk_norm_free(TkNorm *n);

/* ------------------------------------------------------- pre-tokenizers */

enum {
    TKP_BERT, TKP_WHITESPACE, TKP_WHITESPACE_SPLIT, TKP_PUNCTUATION, TKP_SEQUENCE,
    TKP_BYTELEVEL, TKP_METASPACE, TKP_SPLIT, TKP_DIGITS
};
enum { TKB_REMOVED, TKB_ISOLATED, TKB_MERGED_PREV, TKB_MERGED_NEXT, TKB_CONTIGUOUS };
enum { TKM_ALWAYS, TKM_FIRST, TKM_NEVER };
typedef struct TkPre {
    int type;
    struct TkPre *sub;
    int nsub;
    int behavior, invert;
    pcre2_code *re;
    pcre2_match_data *md;
    int add_prefix_space, use_regex;   /* ByteLevel */
    char repl[8];                      /* Metaspace */
    int repl_len, prepend, split;
    int individual_digits;             /* Digits */
} TkPre;
int tk_pre_load(json_t *j, TkPre *out, const char *name, char *err, size_t errlen);
/* in: pieces; out: replaced by the pre-tokenized pieces (scratch used inside) */
int tk_pre_apply(const TkPre *p, TkPieces *pcs, TkPieces *scratch);
void tk_pre_free(TkPre *p);
/* the GPT-2 byte -> code point map */
extern int32_t tk_byte_char[256];
void tk_bytelevel_init(void);

/* --------------------------------------------------------------- models */

typedef struct {
    int id;
    size_t start, end;   /* bytes of the pre-token */
} TkPiece;
typedef struct {
    TkPiece *v;
    size_t n, cap;
} TkPieceVec;
void tkpv_push(TkPieceVec *v, int id, size_t start, size_t end);

enum { TKMODEL_WORDPIECE, TKMODEL_BPE, TKMODEL_UNIGRAM };
typedef struct {
    uint64_t key;    /* left id << 32 | right id; UINT64_MAX: empty */
    int32_t rank, id;
} TkMerge;
typedef struct {
    int type;
    TkMap vocab;
    int nvocab;          /* 1 + the largest id */
    char **id_tok;       /* id -> token (NULL where none), id_tok_cap entries */
    int id_tok_cap;
    int unk;             /* -1: none */
    /* WordPiece */
    char *prefix;        /* continuing_subword_prefix (also BPE) */
    size_t prefix_len;
    int max_chars;
    /* BPE */
    char *suffix;        /* end_of_word_suffix */
    size_t suffix_len;
    int fuse_unk, byte_fallback, ignore_merges;
    TkMerge *merges;
    size_t mcap;
    /* Unigram */
    double *scores;
    double min_score;
} TkModel;
int tk_wordpiece_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen);
int tk_bpe_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen);
int tk_unigram_load(json_t *m, TkModel *out, const char *name, char *err, size_t errlen);
/* model vocabulary from a JSON object {token: id} or list [[token, score]...] */
int tk_model_set_vocab(TkModel *md, const char *tok, size_t len, int id, const char *name,
                       char *err, size_t errlen);
/* APPEND the pieces of one pre-token (s, n bytes) to out */
void tk_wordpiece_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out);
void tk_bpe_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out);
void tk_unigram_tokenize(const TkModel *m, const char *s, size_t n, TkPieceVec *out);
void tk_model_free(TkModel *m);

#endif
