/* test_metrics.c — hand-computed cases for trainer/train/metrics.c:
 * classification (accuracy, macro/weighted F1), NER chunking with seqeval
 * semantics and entity-level scores, Pearson and Spearman. */
#include <math.h>
#include <string.h>

#include "tests/unit/testutil.h"
#include "trainer/train/metrics.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-12)
#define CHECK_NEAR(a, b) CHECKF(NEAR(a, b), "%s = %.15g, expected %.15g", #a, (double)(a), (double)(b))

static void test_classification(void) {
    ClsMetrics m;
    CHECK(cls_init(&m, 3) == 0);
    /* gold  0 0 0 1 1 2 2 2 2 -100
     * pred  0 0 1 1 2 2 2 0 2  1
     * confusion (row gold, column pred):
     *          p0 p1 p2 | gold
     *   g0      2  1  0 |  3
     *   g1      0  1  1 |  2
     *   g2      1  0  3 |  4
     *   pred    3  2  4 |  9 counted, 1 ignored
     * accuracy = (2+1+3)/9 = 2/3
     * class 0: P = 2/3, R = 2/3, F1 = 2/3
     * class 1: P = 1/2, R = 1/2, F1 = 1/2
     * class 2: P = 3/4, R = 3/4, F1 = 3/4
     * macro F1 = (2/3 + 1/2 + 3/4) / 3 = (8 + 6 + 9) / 36 = 23/36
     * weighted F1 = (3*2/3 + 2*1/2 + 4*3/4) / 9 = 6/9 */
    int gold[] = {0, 0, 0, 1, 1, 2, 2, 2, 2, LABEL_IGNORE};
    int pred[] = {0, 0, 1, 1, 2, 2, 2, 0, 2, 1};
    CHECK(cls_add_batch(&m, gold, pred, 10) == 0);
    CHECK(m.n_ignored == 1);
    CHECK(m.confusion[0 * 3 + 1] == 1 && m.confusion[2 * 3 + 0] == 1 && m.confusion[2 * 3 + 2] == 3);
    ClsSummary s;
    cls_compute(&m, &s);
    CHECK(s.n == 9);
    CHECK(s.nclasses_present == 3);
    CHECK_NEAR(s.accuracy, 2.0 / 3.0);
    CHECK_NEAR(s.macro_f1, 23.0 / 36.0);
    CHECK_NEAR(s.macro_precision, 23.0 / 36.0);
    CHECK_NEAR(s.weighted_f1, 2.0 / 3.0);
    double p, r, f;
    int64_t sup;
    cls_class(&m, 1, &p, &r, &f, &sup);
    CHECK_NEAR(p, 0.5);
    CHECK_NEAR(r, 0.5);
    CHECK_NEAR(f, 0.5);
    CHECK(sup == 2);
    cls_class(&m, 2, &p, NULL, NULL, &sup);
    CHECK_NEAR(p, 0.75);
    CHECK(sup == 4);
    /* out-of-range ids are rejected and not counted */
    CHECK(cls_add(&m, 3, 0) == -1);
    CHECK(cls_add(&m, 0, -1) == -1);
    cls_compute(&m, &s);
    CHECK(s.n == 9);
    cls_free(&m);

    /* Which classes the macro mean covers. K = 4:
     * gold 0 0 1 1, pred 0 2 1 1
     * class 0: tp 1, pred 1, gold 2: P 1,   R 1/2, F1 2/3
     * class 1: tp 2, pred 2, gold 2: P 1,   R 1,   F1 1
     * class 2: tp 0, pred 1, gold 0: P 0,   R 0,   F1 0  (predicted only: included)
     * class 3: in neither: left out
     * macro P = 2/3, macro R = 1/2, macro F1 = (2/3 + 1 + 0)/3 = 5/9, accuracy 3/4 */
    CHECK(cls_init(&m, 4) == 0);
    int g2[] = {0, 0, 1, 1}, p2[] = {0, 2, 1, 1};
    cls_add_batch(&m, g2, p2, 4);
    cls_compute(&m, &s);
    CHECK(s.nclasses_present == 3);
    CHECK_NEAR(s.accuracy, 0.75);
    CHECK_NEAR(s.macro_precision, 2.0 / 3.0);
    CHECK_NEAR(s.macro_recall, 0.5);
    CHECK_NEAR(s.macro_f1, 5.0 / 9.0);
    /* reset, then nothing counted: all zero, no NaN */
    cls_reset(&m);
    cls_compute(&m, &s);
    CHECK(s.n == 0 && s.nclasses_present == 0);
    CHECK(s.accuracy == 0 && s.macro_f1 == 0 && s.weighted_f1 == 0);
    cls_free(&m);
    CHECK(cls_init(&m, 0) == -1);
}

/* label ids of the IOB table */
enum { O = 0, BP, IP, BL, IL, BM, IM };
static const char *const IOB[] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"};

/* Chunks of ids as "TYPE:start-end" joined by spaces, for readable checks. */
static const char *chunks_str(const NerMetrics *m, const int *ids, int n) {
    static char buf[512];
    NerChunk c[32];
    int k = ner_chunks(m, ids, n, c);
    buf[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < k; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s:%d-%d", i ? " " : "",
                                m->types[c[i].type], c[i].start, c[i].end);
    return buf;
}

#define CHECK_CHUNKS(m, want, ...) do { int ids_[] = {__VA_ARGS__}; \
    const char *got_ = chunks_str(m, ids_, (int)(sizeof ids_ / sizeof ids_[0])); \
    CHECKF(!strcmp(got_, want), "chunks '%s', expected '%s'", got_, want); } while (0)

static void test_ner_chunks(void) {
    NerMetrics m;
    CHECK(ner_init(&m, IOB, 7) == 0);
    CHECK(m.ntypes == 3);
    CHECK(!strcmp(m.types[0], "PER") && !strcmp(m.types[1], "LOC") && !strcmp(m.types[2], "MISC"));
    CHECK(m.type_of[O] == -1 && m.type_of[IL] == 1);

    CHECK_CHUNKS(&m, "PER:0-1 LOC:3-3", BP, IP, O, BL);
    /* I- at the start of a sentence starts an entity */
    CHECK_CHUNKS(&m, "PER:0-1", IP, IP, O);
    /* B-PER I-LOC: the type change ends PER and starts LOC */
    CHECK_CHUNKS(&m, "PER:0-0 LOC:1-1", BP, IL);
    /* a type change in the middle of I- tags */
    CHECK_CHUNKS(&m, "PER:0-1 LOC:2-3", IP, IP, IL, IL);
    /* IOB1: B- after a chunk of the same type splits it */
    CHECK_CHUNKS(&m, "PER:0-1 PER:2-2", IP, IP, BP);
    CHECK_CHUNKS(&m, "PER:0-0 LOC:1-1", IP, BL);
    /* I- after O starts a new entity (both schemes) */
    CHECK_CHUNKS(&m, "PER:1-1 PER:3-3", O, IP, O, IP);
    CHECK_CHUNKS(&m, "PER:0-0 PER:2-2", BP, O, IP);
    /* single-token entities, and B B of one type */
    CHECK_CHUNKS(&m, "PER:0-0", BP);
    CHECK_CHUNKS(&m, "PER:0-0 PER:1-1", BP, BP);
    CHECK_CHUNKS(&m, "MISC:0-0 LOC:1-1 PER:2-2", BM, BL, BP);
    /* a sentence that ends inside an entity closes it at the last word */
    CHECK_CHUNKS(&m, "PER:1-2", O, BP, IP);
    CHECK_CHUNKS(&m, "", O, O, O);
    /* out-of-range ids read as O */
    CHECK_CHUNKS(&m, "PER:0-0 PER:2-2", BP, 99, IP);
    CHECK(ner_chunks(&m, NULL, 0, NULL) == 0);
    ner_free(&m);

    /* IOBES tags follow seqeval's default rules too; malformed names are O */
    static const char *const ES[] = {"O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "U-PER", "PER", "B-"};
    CHECK(ner_init(&m, ES, 9) == 0);
    CHECK(m.ntypes == 2);
    CHECK(m.tag[6] == NER_O && m.tag[7] == NER_O && m.tag[8] == NER_O);
    CHECK_CHUNKS(&m, "PER:0-2 PER:3-3 LOC:5-5", 1, 2, 3, 4, 0, 5);
    CHECK_CHUNKS(&m, "PER:0-0", 3);           /* E- alone */
    CHECK_CHUNKS(&m, "PER:0-1 PER:2-2", 1, 3, 2); /* I- after E- starts anew */
    CHECK_CHUNKS(&m, "PER:0-0 PER:1-1", 4, 4);    /* S- S- */
    CHECK_CHUNKS(&m, "PER:1-1", 6, 1, 7);         /* U-PER and PER are outside */
    ner_free(&m);
}

/* tasks[].tag_scheme iob2 / iob1: seqeval's strict mode with that scheme.
 * Expected chunks worked out by hand from seqeval's IOB1/IOB2 pattern
 * tables (and checked once against seqeval 1.2.2's Tokens(...).entities);
 * every case here differs between at least two of the three modes. */
static void test_ner_schemes(void) {
    NerMetrics d, i2, i1;
    CHECK(ner_init(&d, IOB, 7) == 0);
    CHECK(ner_init_scheme(&i2, IOB, 7, NER_SCHEME_IOB2) == 0);
    CHECK(ner_init_scheme(&i1, IOB, 7, NER_SCHEME_IOB1) == 0);
    CHECK(d.scheme == NER_SCHEME_DEFAULT && i2.scheme == NER_SCHEME_IOB2 && i1.scheme == NER_SCHEME_IOB1);

    CHECK_CHUNKS(&i2, "PER:0-1 LOC:3-3", BP, IP, O, BL);
    CHECK_CHUNKS(&i1, "PER:1-1", BP, IP, O, BL);          /* IOB1: B- after O starts nothing */
    CHECK_CHUNKS(&i2, "", IP, IP, O);                     /* IOB2: only B- starts */
    CHECK_CHUNKS(&i1, "PER:0-1", IP, IP, O);
    CHECK_CHUNKS(&d, "PER:1-2 LOC:4-5", O, IP, IP, O, BL, IL);
    CHECK_CHUNKS(&i2, "LOC:4-5", O, IP, IP, O, BL, IL);
    CHECK_CHUNKS(&i1, "PER:1-2 LOC:5-5", O, IP, IP, O, BL, IL);
    CHECK_CHUNKS(&i2, "PER:0-0", BP, IL);
    CHECK_CHUNKS(&i1, "LOC:1-1", BP, IL);
    CHECK_CHUNKS(&i2, "PER:0-0 PER:1-1", BP, BP);
    CHECK_CHUNKS(&i1, "PER:1-1", BP, BP);
    CHECK_CHUNKS(&i2, "PER:0-1 PER:2-2", BP, IP, BP);
    CHECK_CHUNKS(&i1, "PER:1-1 PER:2-2", BP, IP, BP);
    CHECK_CHUNKS(&i2, "LOC:1-1", IP, BL);
    CHECK_CHUNKS(&i1, "PER:0-0", IP, BL);
    CHECK_CHUNKS(&i2, "PER:2-2", IP, IP, BP);
    CHECK_CHUNKS(&i1, "PER:0-1 PER:2-2", IP, IP, BP);
    CHECK_CHUNKS(&i1, "", O, O);
    CHECK(ner_chunks(&i1, NULL, 0, NULL) == 0 && ner_chunks(&i2, NULL, 0, NULL) == 0);

    /* an IOB1-tagged eval set:
     *   S1 gold I-PER I-PER O I-LOC   pred B-PER I-PER O I-LOC
     *   S2 gold I-LOC I-LOC B-LOC O   pred I-LOC I-LOC I-LOC O
     * IOB1:    gold PER:0-1 LOC:3-3 | LOC:0-1 LOC:2-2 (4); pred PER:1-1 LOC:3-3 |
     *          LOC:0-2 (3); correct LOC:3-3 (1): P 1/3, R 1/4, F1 2/7
     * IOB2:    gold - | LOC:2-2 (1); pred PER:0-1 | - (1); correct 0: all 0
     * default: gold as IOB1 (4); pred PER:0-1 LOC:3-3 | LOC:0-2 (3); correct 2:
     *          P 2/3, R 1/2, F1 4/7 */
    const int g1[] = {IP, IP, O, IL}, p1[] = {BP, IP, O, IL};
    const int g2[] = {IL, IL, BL, O}, p2[] = {IL, IL, IL, O};
    NerMetrics *all[3] = {&d, &i2, &i1};
    NerSummary s[3];
    for (int k = 0; k < 3; k++) {
        CHECK(ner_add_sentence(all[k], g1, p1, 4) == 0);
        CHECK(ner_add_sentence(all[k], g2, p2, 4) == 0);
        ner_compute(all[k], &s[k]);
    }
    CHECK(s[2].n_gold == 4 && s[2].n_pred == 3 && s[2].n_correct == 1);
    CHECK_NEAR(s[2].precision, 1.0 / 3.0);
    CHECK_NEAR(s[2].recall, 0.25);
    CHECK_NEAR(s[2].f1, 2.0 / 7.0);
    CHECK(s[1].n_gold == 1 && s[1].n_pred == 1 && s[1].n_correct == 0);
    CHECK(s[1].precision == 0 && s[1].recall == 0 && s[1].f1 == 0);
    CHECK(s[0].n_gold == 4 && s[0].n_pred == 3 && s[0].n_correct == 2);
    CHECK_NEAR(s[0].f1, 4.0 / 7.0);
    /* token accuracy does not depend on the scheme: 6 of 8 words */
    CHECK_NEAR(s[1].token_accuracy, 0.75);
    CHECK_NEAR(s[2].token_accuracy, 0.75);
    for (int k = 0; k < 3; k++) ner_free(all[k]);

    /* strict schemes take O, B- and I- only (seqeval raises on E-/S-) */
    static const char *const ES[] = {"O", "B-PER", "I-PER", "E-PER"};
    CHECK(ner_scheme_check(ES, 4, NER_SCHEME_IOB2) == 3);
    CHECK(ner_scheme_check(ES, 4, NER_SCHEME_IOB1) == 3);
    CHECK(ner_scheme_check(ES, 4, NER_SCHEME_DEFAULT) == -1);
    CHECK(ner_scheme_check(IOB, 7, NER_SCHEME_IOB1) == -1);
    CHECK(ner_init_scheme(&d, IOB, 7, (NerScheme)7) == -1);
}

static void test_ner_scores(void) {
    NerMetrics m;
    CHECK(ner_init(&m, IOB, 7) == 0);
    /* S1 all right:            gold PER:0-1 LOC:3-3, pred the same   -> 2 correct
     * S2 wrong boundary:       gold PER:0-2, pred PER:0-1            -> 1 FN + 1 FP
     * S3 ignored word dropped: gold O B-MISC [-100] I-MISC -> MISC:1-2; the pred
     *                          O at the ignored word is dropped too -> 1 correct
     * S4 empty sentence
     * S5 spurious entity:      gold none, pred LOC:0-0              -> 1 FP
     * gold: PER 2, LOC 1, MISC 1 = 4; pred: PER 2, LOC 2, MISC 1 = 5; correct 3
     * P = 3/5, R = 3/4, F1 = 2 (3/5)(3/4) / (3/5 + 3/4) = 0.9 / 1.35 = 2/3
     * per type: PER P 1/2 R 1/2 F1 1/2; LOC P 1/2 R 1 F1 2/3; MISC 1 1 1
     * macro F1 = (1/2 + 2/3 + 1) / 3 = 13/18
     * tokens: S1 4/4, S2 3/4, S3 3/3, S5 1/2 -> 11/13 */
    int g1[] = {BP, IP, O, BL}, p1[] = {BP, IP, O, BL};
    int g2[] = {BP, IP, IP, O}, p2[] = {BP, IP, O, O};
    int g3[] = {O, BM, LABEL_IGNORE, IM}, p3[] = {O, BM, O, IM};
    int g5[] = {O, O}, p5[] = {BL, O};
    CHECK(ner_add_sentence(&m, g1, p1, 4) == 0);
    CHECK(ner_add_sentence(&m, g2, p2, 4) == 0);
    CHECK(ner_add_sentence(&m, g3, p3, 4) == 0);
    CHECK(ner_add_sentence(&m, NULL, NULL, 0) == 0);
    CHECK(ner_add_sentence(&m, g5, p5, 2) == 0);
    NerSummary s;
    ner_compute(&m, &s);
    CHECK(s.n_gold == 4 && s.n_pred == 5 && s.n_correct == 3);
    CHECK_NEAR(s.precision, 0.6);
    CHECK_NEAR(s.recall, 0.75);
    CHECK_NEAR(s.f1, 2.0 / 3.0);
    CHECK_NEAR(s.macro_f1, 13.0 / 18.0);
    CHECK(s.tokens == 13);
    CHECK_NEAR(s.token_accuracy, 11.0 / 13.0);
    CHECK(m.sentences == 5);
    double p, r, f;
    int64_t sup;
    ner_type(&m, 1, &p, &r, &f, &sup); /* LOC */
    CHECK_NEAR(p, 0.5);
    CHECK_NEAR(r, 1.0);
    CHECK_NEAR(f, 2.0 / 3.0);
    CHECK(sup == 1);
    ner_type(&m, 0, NULL, NULL, &f, &sup); /* PER */
    CHECK_NEAR(f, 0.5);
    CHECK(sup == 2);

    /* a gold id outside the table is rejected and counts nothing */
    int bad[] = {BP, 7};
    CHECK(ner_add_sentence(&m, bad, bad, 2) == -1);
    ner_compute(&m, &s);
    CHECK(s.n_gold == 4 && s.tokens == 13);

    /* no entities anywhere: all zero, no NaN */
    ner_reset(&m);
    ner_compute(&m, &s);
    CHECK(s.precision == 0 && s.recall == 0 && s.f1 == 0 && s.macro_f1 == 0 && s.token_accuracy == 0);
    int go[] = {O, O, O}, po[] = {O, O, O};
    ner_add_sentence(&m, go, po, 3);
    ner_compute(&m, &s);
    CHECK(s.n_gold == 0 && s.n_pred == 0);
    CHECK(s.precision == 0 && s.recall == 0 && s.f1 == 0 && s.macro_f1 == 0);
    CHECK_NEAR(s.token_accuracy, 1.0);
    /* predictions only: precision 0 (not NaN), recall 0 */
    int pp[] = {BP, O, O};
    ner_add_sentence(&m, go, pp, 3);
    ner_compute(&m, &s);
    CHECK(s.n_pred == 1 && s.precision == 0 && s.recall == 0 && s.f1 == 0);
    /* a pred id outside the table is an O (and a wrong token) */
    ner_reset(&m);
    int gx[] = {BP}, px[] = {99};
    ner_add_sentence(&m, gx, px, 1);
    ner_compute(&m, &s);
    CHECK(s.n_gold == 1 && s.n_pred == 0 && s.token_accuracy == 0);
    ner_free(&m);
}

static void test_correlation(void) {
    /* perfect linear relations */
    double x[] = {1, 2, 3, 4, 5}, y[5], z[5];
    for (int i = 0; i < 5; i++) {
        y[i] = 2 * x[i] + 1;
        z[i] = -3 * x[i];
    }
    CHECK_NEAR(metric_pearson(x, y, 5), 1.0);
    CHECK_NEAR(metric_pearson(x, z, 5), -1.0);
    CHECK_NEAR(metric_spearman(x, y, 5), 1.0);
    CHECK_NEAR(metric_spearman(x, z, 5), -1.0);
    /* x 1 2 3, y 1 3 2: dx -1 0 1, dy -1 1 0: sxy 1, sxx 2, syy 2 -> 1/2 */
    double a[] = {1, 2, 3}, b[] = {1, 3, 2};
    CHECK_NEAR(metric_pearson(a, b, 3), 0.5);
    /* a large common offset must not cancel the signal */
    double big[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    CHECK_NEAR(metric_pearson(big, a, 3), 1.0);

    /* ranks with ties: 3 1 3 2 3 -> 1 gets 1, 2 gets 2, the three 3s share 3,4,5 -> 4 */
    double v[] = {3, 1, 3, 2, 3}, rk[5];
    CHECK(metric_rank(v, 5, rk) == 0);
    CHECK(rk[0] == 4 && rk[1] == 1 && rk[2] == 4 && rk[3] == 2 && rk[4] == 4);

    /* Spearman with ties: x 1 2 2 3 -> ranks 1 2.5 2.5 4; y 1 3 2 4 -> ranks 1 3 2 4.
     * Both rank means 2.5: dx -1.5 0 0 1.5, dy -1.5 .5 -.5 1.5
     * sxy = 2.25 + 0 + 0 + 2.25 = 4.5, sxx = 4.5, syy = 5
     * rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9) = 0.948683298... (scipy spearmanr agrees) */
    double sx[] = {1, 2, 2, 3}, sy[] = {1, 3, 2, 4};
    CHECK_NEAR(metric_spearman(sx, sy, 4), sqrt(0.9));
    /* Spearman is invariant under a monotone map, Pearson is not */
    double e[] = {exp(1.0), exp(2.0), exp(2.0), exp(3.0)};
    CHECK_NEAR(metric_spearman(e, sy, 4), sqrt(0.9));
    CHECK(!NEAR(metric_pearson(e, sy, 4), sqrt(0.9)));

    /* degenerate inputs: constant side, or fewer than 2 pairs -> 0, not NaN */
    double c[] = {7, 7, 7, 7, 7};
    CHECK(metric_pearson(c, x, 5) == 0);
    CHECK(metric_pearson(x, c, 5) == 0);
    CHECK(metric_spearman(c, x, 5) == 0);
    CHECK(metric_pearson(x, y, 1) == 0);
    CHECK(metric_spearman(x, y, 0) == 0);
    /* a non-finite input is reported, not hidden */
    double bad[] = {1, NAN, 3};
    CHECK(isnan(metric_pearson(bad, a, 3)));
    CHECK(isnan(metric_spearman(a, bad, 3)));

    CHECK(metric_f1(0, 0) == 0);
    CHECK_NEAR(metric_f1(0.5, 1.0), 2.0 / 3.0);
}

int main(void) {
    test_classification();
    test_ner_chunks();
    test_ner_scores();
    test_ner_schemes();
    test_correlation();
    return test_finish("test_metrics");
}
