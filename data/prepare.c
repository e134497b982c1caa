/* prepare.c — tokenization, label mapping and word-to-wordpiece alignment
 * for `mtbert prepare` (see prepare.h). */
#include "data/prepare.h"
#include "data/manifest.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>



void prepare_options_default(PrepareOptions *o) {
    memset(o, 0, sizeof *o);
    o->max_len = 128;
    o->score_scale = 1.0f;
}

void prepare_free_labels(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void push_name(char ***names, int *n, const char *s, size_t len) {
    *names = xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
    char *c = xrealloc(NULL, len + 1);
    memcpy(c, s, len);
    c[len] = 0;
    (*names)[(*n)++] = c;
}

static int find_name(char **names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

int prepare_parse_labels(const char *spec, char ***names, int *n, char *err, size_t errlen) {
    *names = NULL;
    *n = 0;
    struct stat sb;
    if (stat(spec, &sb) == 0 && S_ISREG(sb.st_mode)) {
        FILE *f = fopen(spec, "r");
        if (!f) {
            seterr(err, errlen, "%s: cannot open: %s", spec, strerror(errno));
            return -1;
        }
        char line[1024];
        long ln = 0;
        while (fgets(line, sizeof line, f)) {
            ln++;
            size_t l = strlen(line);
            while (l && isspace((unsigned char)line[l - 1])) line[--l] = 0;
            char *s = line;
            while (*s && isspace((unsigned char)*s)) s++;
            if (!*s) continue;
            if (find_name(*names, *n, s) >= 0) {
                seterr(err, errlen, "%s:%ld: label '%s' listed twice", spec, ln, s);
                fclose(f);
                prepare_free_labels(*names, *n);
                *names = NULL, *n = 0;
                return -1;
            }
            push_name(names, n, s, strlen(s));
        }
        fclose(f);
    } else {
        const char *p = spec;
        for (;;) {
            const char *q = strchr(p, ',');
            size_t l = q ? (size_t)(q - p) : strlen(p);
            while (l && isspace((unsigned char)*p)) p++, l--;
            while (l && isspace((unsigned char)p[l - 1])) l--;
            if (l) {
                char tmp[256];
                snprintf(tmp, sizeof tmp, "%.*s", (int)l, p);
                if (find_name(*names, *n, tmp) >= 0) {
                    seterr(err, errlen, "--labels: label '%s' listed twice", tmp);
                    prepare_free_labels(*names, *n);
                    *names = NULL, *n = 0;
                    return -1;
                }
                push_name(names, n, p, l);
            }
            if (!q) break;
            p = q + 1;
        }
    }
    if (*n == 0) {
        seterr(err, errlen, "%s: no labels in the list (expected a comma-separated list or a file with one label a line)",
               spec);
        return -1;
    }
    return 0;
}

/* Integers sort as numbers ("2" < "10"), the rest as strings. */
static int label_cmp(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    char *ex, *ey;
    long vx = strtol(x, &ex, 10), vy = strtol(y, &ey, 10);
    if (*x && *y && !*ex && !*ey) return vx < vy ? -1 : vx > vy;
    return strcmp(x, y);
}

static int tag_cmp(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (!strcmp(x, "O")) return strcmp(y, "O") ? -1 : 0;
    if (!strcmp(y, "O")) return 1;
    /* group by type, B before I */
    int c = strcmp(x[1] == '-' ? x + 2 : x, y[1] == '-' ? y + 2 : y);
    return c ? c : strcmp(x, y);
}

static void collect_labels(const PrepareTask *t, int sent_idx, const RawSet *raw, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    for (size_t i = 0; i < raw->n; i++) {
        const RawExample *e = &raw->ex[i];
        if (t->type == LABELS_CLASS) {
            if (sent_idx < e->n_labels && find_name(*names, *n, e->labels[sent_idx]) < 0)
                push_name(names, n, e->labels[sent_idx], strlen(e->labels[sent_idx]));
        } else {
            for (int w = 0; w < e->n_words; w++) {
                const char *g = e->tags[w];
                if (find_name(*names, *n, g) < 0) push_name(names, n, g, strlen(g));
                /* both B-X and I-X exist so that --label-all-wordpieces and
                 * IOB2 decoding always find their tag */
                if ((g[0] == 'B' || g[0] == 'I') && g[1] == '-') {
                    char other[256];
                    snprintf(other, sizeof other, "%c-%s", g[0] == 'B' ? 'I' : 'B', g + 2);
                    if (find_name(*names, *n, other) < 0) push_name(names, n, other, strlen(other));
                }
            }
        }
    }
    if (*n) qsort(*names, (size_t)*n, sizeof **names, t->type == LABELS_TOKEN ? tag_cmp : label_cmp);
}

/* Growable buffers for one output array. */
typedef struct {
    void *p;
    size_t n, cap, elt;
} Buf;
static void *buf_grow(Buf *b, size_t more) {
    if (b->n + more > b->cap) {
        while (b->n + more > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = xrealloc(b->p, b->cap * b->elt);
    }
    void *at = (char *)b->p + b->n * b->elt;
    b->n += more;
    return at;
}

typedef struct {
    const PrepareOptions *o;
    const Tok *tok;
    PrepareStats *st;
    TokEnc ids;    /* pieces of the current sequence */
    int *wstart;   /* for words: index in ids of each word's first piece */
    int wcap;
    TokEnc framed; /* the template around the kept pieces of the current sequence */
    int lead;      /* special tokens before the first piece in framed */
} Enc;

/* Pieces of s[0..n) appended to out with word index `word`; 0, or -1 for
 * invalid UTF-8 at *bad (out unchanged). A vocab.txt goes straight to
 * tokenizer_encode (data/tokenizer.c), as before the Tok type. */
static int pieces_of(const Tok *tok, const char *s, size_t n, int word, TokEnc *out, size_t *bad) {
    Tokenizer *wp = tok_vocab_tokenizer(tok);
    if (wp) {
        IntVec v = {0};
        int rc = tokenizer_encode(wp, s, n, &v, bad);
        for (size_t i = 0; !rc && i < v.len; i++) tok_enc_push(out, v.data[i], 0, word, 0, i == 0 ? TOK_FIRST : 0);
        intvec_free(&v);
        return rc;
    }
    *bad = tok_utf8_invalid_at(s, n);
    char e2[256];
    if (*bad != (size_t)-1) return -1;
    size_t before = out->len;
    if (tok_encode_text(tok, s, n, out, e2, sizeof e2)) {
        *bad = 0;
        return -1;
    }
    for (size_t i = before; i < out->len; i++) out->words[i] = word;
    return 0;
}

int prepare_encode_words(const Tok *tok, const char *const *words, int n, TokEnc *out, int *wstart,
                         int64_t *empty, int *bad_word, size_t *bad_off, char *err, size_t errlen) {
    int json = tok_kind(tok) != TOK_KIND_VOCAB_TXT, unk = tok_unk_id(tok);
    char *buf = NULL;
    size_t cap = 0;
    for (int w = 0; w < n; w++) {
        size_t len = strlen(words[w]), before = out->len, bad;
        const char *s = words[w];
        if (json && w > 0) { /* " word", as in the words joined by spaces */
            if (cap < len + 2) {
                cap = len + 64;
                buf = xrealloc(buf, cap);
            }
            buf[0] = ' ';
            memcpy(buf + 1, words[w], len + 1);
            s = buf;
            len++;
        }
        if (pieces_of(tok, s, len, w, out, &bad)) {
            *bad_word = w;
            *bad_off = s == buf && bad > 0 ? bad - 1 : bad;
            seterr(err, errlen, "word %d: invalid UTF-8 at byte %zu", w + 1, *bad_off);
            free(buf);
            return -1;
        }
        wstart[w] = (int)before;
        if (out->len > before || !empty) continue;
        if (unk < 0) {
            *bad_word = w;
            *bad_off = (size_t)-1;
            seterr(err, errlen, "word %d ('%.60s') gives no token and the tokenizer has no unknown token", w + 1,
                   words[w]);
            free(buf);
            return -1;
        }
        tok_enc_push(out, unk, 0, w, 0, TOK_FIRST);
        (*empty)++;
    }
    free(buf);
    return 0;
}

int prepare_encode_text(const Tok *tok, const char *s, size_t n, TokEnc *out, size_t *bad) {
    return pieces_of(tok, s, n, 0, out, bad);
}

/* Pieces of one text into e->ids; returns 0 or -1 (bad UTF-8 at *bad). */
static int enc_text(Enc *e, const char *s, size_t *bad) {
    return pieces_of(e->tok, s, strlen(s), 0, &e->ids, bad);
}

/* Emits the template around ids[0..keep) into the ids buffer; counts
 * truncation; returns keep. */
static int emit_seq(Enc *e, Buf *ids, int *len_out) {
    int np = (int)e->ids.len, ns = tok_num_special(e->tok, 0);
    if (np + ns > e->st->longest) e->st->longest = np + ns;
    tok_post_process(e->tok, &e->ids, NULL, e->o->max_len, &e->framed);
    int len = (int)e->framed.len, kept = 0;
    e->lead = 0;
    while (e->lead < len && e->framed.seq[e->lead] < 0) e->lead++;
    for (int i = 0; i < len; i++) kept += e->framed.seq[i] == 0;
    int dropped = np - kept;
    if (dropped) {
        e->st->truncated++;
        e->st->tokens_dropped += dropped;
    }
    int32_t *dst = buf_grow(ids, (size_t)len);
    for (int i = 0; i < len; i++) dst[i] = e->framed.ids[i];
    *len_out = len;
    e->st->tokens += len;
    return kept;
}

/* Joined pairs: the tokenizer's pair template around a = e->ids and b,
 * truncated longest first to max_len; ids and token type ids appended;
 * counts truncation (a pair cut counts once). */
static void emit_pair(Enc *e, const TokEnc *b, Buf *ids, Buf *types, int *len_out) {
    int np = (int)(e->ids.len + b->len), ns = tok_num_special(e->tok, 1);
    if (np + ns > e->st->longest) e->st->longest = np + ns;
    tok_post_process(e->tok, &e->ids, b, e->o->max_len, &e->framed);
    int len = (int)e->framed.len, kept = 0;
    for (int i = 0; i < len; i++) kept += e->framed.seq[i] >= 0;
    if (np > kept) {
        e->st->truncated++;
        e->st->tokens_dropped += np - kept;
    }
    int32_t *dst = buf_grow(ids, (size_t)len), *ty = buf_grow(types, (size_t)len);
    for (int i = 0; i < len; i++) {
        dst[i] = e->framed.ids[i];
        ty[i] = e->framed.type_ids[i];
    }
    *len_out = len;
    e->st->tokens += len;
}

int prepare_encode(const PrepareOptions *o, const Tokenizer *tok, const RawSet *raw, ShardData *out,
                   PrepareStats *st, char *err, size_t errlen) {
    Tok *t = tok_from_vocab((Tokenizer *)tok, 0);
    int rc = prepare_encode_tok(o, t, raw, out, st, err, errlen);
    tok_free(t);
    return rc;
}

int prepare_encode_tok(const PrepareOptions *o, const Tok *tok, const RawSet *raw, ShardData *out,
                       PrepareStats *st, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    memset(st, 0, sizeof *st);
    int vocab_txt = tok_kind(tok) == TOK_KIND_VOCAB_TXT, ns = tok_num_special(tok, 0);
    if (vocab_txt && o->max_len < 3) {
        seterr(err, errlen, "max_len %d is too small (at least 3: [CLS] x [SEP])", o->max_len);
        return -1;
    }
    if (!vocab_txt && o->max_len < ns + 1) {
        seterr(err, errlen, "max_len %d is too small (at least %d: the tokenizer's %d special tokens and one more)",
               o->max_len, ns + 1, ns);
        return -1;
    }
    if (o->join_pairs && o->max_len < tok_num_special(tok, 1) + 2) {
        seterr(err, errlen, "max_len %d is too small for joined pairs (at least %d: the pair template's %d special "
               "tokens and one piece of each sentence)", o->max_len, tok_num_special(tok, 1) + 2,
               tok_num_special(tok, 1));
        return -1;
    }
    if (vocab_txt && (tok_cls_id(tok) < 0 || tok_sep_id(tok) < 0 || tok_unk_id(tok) < 0)) {
        seterr(err, errlen, "the vocabulary lacks [CLS], [SEP] or [UNK]");
        return -1;
    }
    if (o->n_tasks < 1 || o->n_tasks > SHARD_MAX_TASKS) {
        seterr(err, errlen, "expected 1..%d tasks, got %d", SHARD_MAX_TASKS, o->n_tasks);
        return -1;
    }
    for (int t = 0; t < o->n_tasks; t++) { /* joined pairs: class or score labels, nothing else */
        const PrepareTask *pt = &o->tasks[t];
        if (o->join_pairs && (pt->type == LABELS_TOKEN || pt->type == LABELS_SCORE)) {
            seterr(err, errlen, "task '%s': joined pairs (--join-pairs) carry sentence (class) or regression (score) "
                   "labels, not %s labels", pt->name, label_kind_name(pt->type));
            return -1;
        }
        if (!o->join_pairs && pt->type == LABELS_REGRESSION) {
            seterr(err, errlen, "task '%s': regression labels are for joined pairs (--join-pairs)", pt->name);
            return -1;
        }
    }
    int rc = -1, n_token_tasks = 0, n_sim = 0, n_reg = 0, sent_idx[SHARD_MAX_TASKS];
    int n_sent = 0;
    for (int t = 0; t < o->n_tasks; t++) {
        const PrepareTask *pt = &o->tasks[t];
        ShardTask *k = &out->tasks[t];
        snprintf(k->name, SHARD_NAME_LEN, "%s", pt->name);
        k->type = pt->type;
        sent_idx[t] = pt->type == LABELS_CLASS ? n_sent++ : -1;
        n_token_tasks += pt->type == LABELS_TOKEN;
        n_sim += pt->type == LABELS_SCORE;
        n_reg += pt->type == LABELS_REGRESSION;
        for (int u = 0; u < t; u++)
            if (!strcmp(o->tasks[u].name, pt->name)) {
                seterr(err, errlen, "task name '%s' used twice", pt->name);
                return -1;
            }
        if (pt->type == LABELS_SCORE || pt->type == LABELS_REGRESSION) continue;
        if (pt->labels) {
            k->label_names = xrealloc(NULL, (size_t)pt->num_labels * sizeof(char *));
            for (int i = 0; i < pt->num_labels; i++) k->label_names[i] = strdup(pt->labels[i]);
            k->num_labels = pt->num_labels;
        } else collect_labels(pt, sent_idx[t], raw, &k->label_names, &k->num_labels);
    }
    out->n_tasks = o->n_tasks;
    if (n_token_tasks > 1 || n_sim > 1 || n_reg > 1) {
        seterr(err, errlen, "at most one token task and one similarity (or regression) task per data source");
        goto fail;
    }
    out->info.vocab_hash = tok_vocab_hash(tok);
    out->info.vocab_size = tok_vocab_size(tok);
    /* a tokenizer.json says itself how it normalises: 0 */
    out->info.do_lower_case = vocab_txt ? tokenizer_do_lower_case(tok_vocab_tokenizer(tok)) : 0;
    out->info.max_len = o->max_len;

    Buf ids = {0, 0, 0, sizeof(int32_t)}, ids_b = {0, 0, 0, sizeof(int32_t)};
    Buf offs = {0, 0, 0, sizeof(int64_t)}, lens = {0, 0, 0, sizeof(int32_t)};
    Buf offs_b = {0, 0, 0, sizeof(int64_t)}, lens_b = {0, 0, 0, sizeof(int32_t)};
    Buf tlab = {0, 0, 0, sizeof(int32_t)}, types = {0, 0, 0, sizeof(int32_t)};
    TokEnc eb = {0}; /* joined pairs: the second sentence's pieces */
    /* hard negatives: K per example, every example the same K */
    Buf ids_n = {0, 0, 0, sizeof(int32_t)}, offs_n = {0, 0, 0, sizeof(int64_t)}, lens_n = {0, 0, 0, sizeof(int32_t)};
    int K = raw->n ? raw->ex[0].n_neg : 0;
    Buf lab[SHARD_MAX_TASKS], score = {0, 0, 0, sizeof(float)};
    for (int t = 0; t < SHARD_MAX_TASKS; t++) lab[t] = (Buf){0, 0, 0, sizeof(int32_t)};
    Enc e = {o, tok, st, {0}, NULL, 0, {0}, 0};

    for (size_t i = 0; i < raw->n; i++) {
        const RawExample *r = &raw->ex[i];
        const char *src = r->src ? r->src : "input";
        size_t bad = 0;
        /* sentence-level labels first: an unknown one stops before any output */
        int lab_ids[SHARD_MAX_TASKS];
        for (int t = 0; t < o->n_tasks; t++) {
            const ShardTask *k = &out->tasks[t];
            if (k->type == LABELS_CLASS) {
                if (sent_idx[t] >= r->n_labels) {
                    seterr(err, errlen, "%s:%ld: no label for task '%s'", src, r->line, k->name);
                    goto fail_bufs;
                }
                lab_ids[t] = find_name(k->label_names, k->num_labels, r->labels[sent_idx[t]]);
                if (lab_ids[t] < 0) {
                    char list[512] = "";
                    for (int j = 0; j < k->num_labels && strlen(list) < 400; j++)
                        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", k->label_names[j]);
                    seterr(err, errlen, "%s:%ld: unknown label '%s' for task '%s' (expected one of: %s)", src, r->line,
                           r->labels[sent_idx[t]], k->name, list);
                    goto fail_bufs;
                }
            } else if (k->type == LABELS_TOKEN) {
                if (!r->words) {
                    seterr(err, errlen, "%s:%ld: token task '%s' needs words with tags (CoNLL or JSONL tokens/tags)", src,
                           r->line, k->name);
                    goto fail_bufs;
                }
                for (int w = 0; w < r->n_words; w++)
                    if (find_name(k->label_names, k->num_labels, r->tags[w]) < 0) {
                        seterr(err, errlen, "%s:%ld: unknown tag '%s' (word %d, '%s') for task '%s'", src,
                               r->line + (r->word_lines ? w : 0), r->tags[w], w + 1, r->words[w], k->name);
                        goto fail_bufs;
                    }
            } else if (!r->has_score || !r->text_b) {
                seterr(err, errlen, "%s:%ld: %s task '%s' needs two sentences and a score", src, r->line,
                       label_kind_name(k->type), k->name);
                goto fail_bufs;
            }
        }
        if (r->n_neg != K) {
            const RawExample *r0 = &raw->ex[0];
            seterr(err, errlen, "%s:%ld: %d hard negative%s, but %s:%ld has %d (every row of a set needs the same number)",
                   src, r->line, r->n_neg, r->n_neg == 1 ? "" : "s", r0->src ? r0->src : "input", r0->line, K);
            goto fail_bufs;
        }
        if (K && o->join_pairs) {
            seterr(err, errlen, "%s:%ld: --join-pairs makes one cross-encoder sequence of a pair; rows with hard "
                   "negatives are for contrastive tasks (drop --join-pairs, or the negative columns)", src, r->line);
            goto fail_bufs;
        }
        if (K && !n_sim) {
            seterr(err, errlen, "%s:%ld: rows with hard negatives need a pair task (--task NAME:similarity, trained as "
                   "type contrastive)", src, r->line);
            goto fail_bufs;
        }
        if (K > SHARD_MAX_NEGATIVES) {
            seterr(err, errlen, "%s:%ld: %d hard negatives, at most %d", src, r->line, K, SHARD_MAX_NEGATIVES);
            goto fail_bufs;
        }
        int bad_neg = -1;
        for (int j = 0; j < K && bad_neg < 0; j++) {
            TokEnc tmp = {0};
            if (pieces_of(tok, r->negs[j], strlen(r->negs[j]), 0, &tmp, &bad)) bad_neg = j;
            tok_enc_free(&tmp);
        }
        if (bad_neg >= 0) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: invalid UTF-8 at byte %zu of hard negative %d (for ISO-8859-1 input use "
                       "--encoding latin-1)", src, r->line, bad, bad_neg + 1);
                goto fail_bufs;
            }
            st->skipped++;
            continue;
        }
        if (o->join_pairs && (!r->text || !r->text_b)) {
            seterr(err, errlen, "%s:%ld: --join-pairs needs two sentences per example (csv/jsonl: --text-b-column; "
                   "or the pairs format)", src, r->line);
            goto fail_bufs;
        }
        /* first sentence: from words (aligned) or from text */
        e.ids.len = 0;
        if (r->words) {
            if (r->n_words > e.wcap) {
                e.wcap = r->n_words;
                e.wstart = xrealloc(e.wstart, (size_t)e.wcap * sizeof *e.wstart);
            }
            int bw;
            char we[512];
            if (prepare_encode_words(tok, (const char *const *)r->words, r->n_words, &e.ids, e.wstart,
                                     &st->empty_words, &bw, &bad, we, sizeof we)) {
                if (bad != (size_t)-1) goto bad_utf8;
                seterr(err, errlen, "%s:%ld: %s", src, r->line + (r->word_lines ? bw : 0), we);
                goto fail_bufs;
            }
        } else if (enc_text(&e, r->text, &bad)) goto bad_utf8;
        if (o->join_pairs) {
            tok_enc_clear(&eb);
            if (pieces_of(tok, r->text_b, strlen(r->text_b), 0, &eb, &bad)) goto bad_utf8_b;
        } else if (n_sim && r->text_b) {
            /* check the second sentence before emitting anything */
            TokEnc tmp = {0};
            int bb = pieces_of(tok, r->text_b, strlen(r->text_b), 0, &tmp, &bad);
            tok_enc_free(&tmp);
            if (bb) goto bad_utf8_b;
        }
        int64_t start = (int64_t)ids.n;
        *(int64_t *)buf_grow(&offs, 1) = start;
        int len;
        int keep = 0;
        if (o->join_pairs) emit_pair(&e, &eb, &ids, &types, &len);
        else keep = emit_seq(&e, &ids, &len);
        *(int32_t *)buf_grow(&lens, 1) = len;
        for (int t = 0; t < o->n_tasks; t++) {
            const ShardTask *k = &out->tasks[t];
            if (k->type == LABELS_CLASS) *(int32_t *)buf_grow(&lab[t], 1) = lab_ids[t];
            else if (k->type == LABELS_SCORE || k->type == LABELS_REGRESSION)
                *(float *)buf_grow(&score, 1) = r->score * o->score_scale;
            else {
                int32_t *tl = buf_grow(&tlab, (size_t)len);
                for (int j = 0; j < len; j++) tl[j] = LABEL_IGNORE;
                int nw = r->words ? r->n_words : 0;
                for (int w = 0; w < nw; w++) {
                    int a = e.wstart[w], b = w + 1 < nw ? e.wstart[w + 1] : (int)e.ids.len;
                    if (a >= keep) {
                        st->words_dropped += nw - w;
                        break;
                    }
                    if (b > keep) b = keep;
                    int id = find_name(k->label_names, k->num_labels, r->tags[w]);
                    tl[e.lead + a] = id;
                    if (o->label_all_wordpieces && b > a + 1) {
                        int cont = id;
                        if (r->tags[w][0] == 'B' && r->tags[w][1] == '-') {
                            char itag[256];
                            snprintf(itag, sizeof itag, "I-%s", r->tags[w] + 2);
                            int ii = find_name(k->label_names, k->num_labels, itag);
                            if (ii >= 0) cont = ii;
                        }
                        for (int j = a + 1; j < b; j++) tl[e.lead + j] = cont;
                    }
                }
            }
        }
        if (n_sim) {
            e.ids.len = 0;
            enc_text(&e, r->text_b, &bad);
            *(int64_t *)buf_grow(&offs_b, 1) = (int64_t)ids_b.n;
            emit_seq(&e, &ids_b, &len);
            *(int32_t *)buf_grow(&lens_b, 1) = len;
        }
        for (int j = 0; j < K; j++) { /* example-major: sentence n*K + j */
            e.ids.len = 0;
            enc_text(&e, r->negs[j], &bad);
            *(int64_t *)buf_grow(&offs_n, 1) = (int64_t)ids_n.n;
            emit_seq(&e, &ids_n, &len);
            *(int32_t *)buf_grow(&lens_n, 1) = len;
        }
        out->n++;
        continue;
    bad_utf8_b:
        if (!o->skip_bad) {
            seterr(err, errlen, "%s:%ld: invalid UTF-8 at byte %zu of the second sentence (for ISO-8859-1 input use --encoding latin-1)",
                   src, r->line, bad);
            goto fail_bufs;
        }
        st->skipped++;
        continue;
    bad_utf8:
        if (!o->skip_bad) {
            seterr(err, errlen, "%s:%ld: invalid UTF-8 at byte %zu of the %s (for ISO-8859-1 input use --encoding latin-1)",
                   src, r->line, bad, r->words ? "word" : "text");
            goto fail_bufs;
        }
        st->skipped++;
    }
    st->examples = out->n;
    if (out->n == 0) {
        seterr(err, errlen, "no examples left to write");
        goto fail_bufs;
    }
    out->n_tokens = (int64_t)ids.n;
    out->input_ids = ids.p;
    out->offsets = offs.p;
    out->lengths = lens.p;
    if (o->join_pairs) {
        out->has_type_ids = 1;
        out->type_ids = types.p;
        types.p = NULL;
    }
    if (n_sim) {
        out->n_tokens_b = (int64_t)ids_b.n;
        out->input_ids_b = ids_b.p;
        out->offsets_b = offs_b.p;
        out->lengths_b = lens_b.p;
    }
    if (K) {
        out->num_neg = K;
        out->n_tokens_n = (int64_t)ids_n.n;
        out->input_ids_n = ids_n.p;
        out->offsets_n = offs_n.p;
        out->lengths_n = lens_n.p;
    }
    for (int t = 0; t < o->n_tasks; t++) {
        ShardTask *k = &out->tasks[t];
        if (k->type == LABELS_CLASS) k->labels = lab[t].p;
        else if (k->type == LABELS_TOKEN) k->labels = tlab.p;
        else k->scores = score.p;
    }
    tok_enc_free(&e.ids);
    free(e.wstart);
    tok_enc_free(&e.framed);
    tok_enc_free(&eb);
    return 0;
fail_bufs:
    free(ids.p), free(ids_b.p), free(offs.p), free(lens.p), free(offs_b.p), free(lens_b.p), free(tlab.p),
        free(score.p), free(types.p);
    free(ids_n.p), free(offs_n.p), free(lens_n.p);
    tok_enc_free(&eb);
    for (int t = 0; t < SHARD_MAX_TASKS; t++) free(lab[t].p);
    tok_enc_free(&e.ids);
    free(e.wstart);
    tok_enc_free(&e.framed);
fail:
    shard_data_free(out);
    return rc;
}

int prepare_write_shards(ShardData *d, const char *dir, const char *name, int num_shards, int progress,
                         char *err, size_t errlen) {
    if (num_shards < 1) {
        seterr(err, errlen, "--shards must be at least 1");
        return -1;
    }
    if (num_shards > d->n) {
        seterr(err, errlen, "%d shards for %lld examples: at most one shard per example", num_shards, (long long)d->n);
        return -1;
    }
    if (dir && *dir && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        seterr(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    d->info.total_examples = d->n;
    d->info.num_shards = num_shards;
    d->first_example = 0;
    /* the manifest goes first and comes back last: a prepare that stops
     * half-way leaves a set without one, which the loader refuses */
    char **paths = calloc((size_t)num_shards, sizeof *paths);
    char mpath[4096], first[4096];
    int rc = -1;
    if (!paths) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    shard_file_name(first, sizeof first, dir, name, 0, num_shards);
    manifest_path_for(first, mpath, sizeof mpath);
    if (unlink(mpath) != 0 && errno != ENOENT) {
        seterr(err, errlen, "%s: cannot remove the old manifest: %s", mpath, strerror(errno));
        goto out;
    }
    for (int s = 0; s < num_shards; s++) {
        int64_t lo = d->n * s / num_shards, hi = d->n * (s + 1) / num_shards;
        char path[4096];
        shard_file_name(path, sizeof path, dir, name, s, num_shards);
        if (shard_write(path, d, lo, hi, s, err, errlen)) goto out;
        paths[s] = strdup(path);
        if (progress) {
            printf("  wrote %s (%lld examples)\n", path, (long long)(hi - lo));
            fflush(stdout);
        }
    }
    if (manifest_write(mpath, (const char *const *)paths, num_shards, err, errlen)) goto out;
    if (progress) {
        printf("  wrote %s (sizes and XXH3-128 checksums of the %d shard%s)\n", mpath, num_shards,
               num_shards == 1 ? "" : "s");
        fflush(stdout);
    }
    rc = 0;
out:
    for (int s = 0; s < num_shards; s++) free(paths[s]);
    free(paths);
    return rc;
}
