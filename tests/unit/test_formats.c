/* test_formats.c — raw readers (good input, every malformed case with its
 * line number), --skip-bad, IOB1 -> IOB2, label parts, and the prepare
 * step: word-to-wordpiece alignment, --label-all-wordpieces, truncation
 * counting, unknown labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/formats.h"
#include "data/prepare.h"
#include "data/tokenizer.h"
#include "testutil.h"

static char err[2048];

static int rd(FormatKind k, const char *text, RawSet *s, FormatOptions *custom) {
    FormatOptions o;
    if (custom) o = *custom;
    else format_options_default(&o, k);
    rawset_init(s);
    err[0] = 0;
    return format_read_buffer(&o, "in.txt", text, strlen(text), s, err, sizeof err);
}

/* the call fails and the message names in.txt:LINE */
static void expect_fail(FormatKind k, const char *text, FormatOptions *o, int line, const char *what) {
    RawSet s;
    int rc = rd(k, text, &s, o);
    char want[64];
    snprintf(want, sizeof want, "in.txt:%d:", line);
    CHECKF(rc == -1 && strstr(err, want) && (!what || strstr(err, what)), "%s: rc %d, want '%s' + '%s', got: %s",
           what ? what : "", rc, want, what ? what : "", err);
    rawset_free(&s);
}

static void test_conll(void) {
    RawSet s;
    const char *good = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n"
                       "\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n\n\n-DOCSTART- -X- O O\nX NN O B-LOC";
    CHECK(rd(FMT_CONLL, good, &s, NULL) == 0);
    CHECK(s.n == 3);
    if (s.n == 3) {
        CHECK(s.ex[0].n_words == 3 && !strcmp(s.ex[0].words[1], "rejects") && !strcmp(s.ex[0].tags[0], "I-ORG"));
        CHECK(s.ex[0].line == 3 && s.ex[1].line == 7 && s.ex[2].line == 12);
        CHECK(s.ex[2].n_words == 1 && !strcmp(s.ex[2].tags[0], "B-LOC"));
    }
    rawset_free(&s);
    /* IOB1 -> IOB2 and a chosen tag column */
    FormatOptions o;
    format_options_default(&o, FMT_CONLL);
    o.iob1_to_iob2 = 1;
    CHECK(rd(FMT_CONLL, "a I-ORG\nb I-ORG\nc O\nd I-PER\ne B-PER\nf I-PER\ng I-LOC\n", &s, &o) == 0);
    const char *want[] = {"B-ORG", "I-ORG", "O", "B-PER", "B-PER", "I-PER", "B-LOC"};
    for (int i = 0; s.n == 1 && i < 7; i++) CHECKF(!strcmp(s.ex[0].tags[i], want[i]), "tag %d %s", i, s.ex[0].tags[i]);
    rawset_free(&s);
    format_options_default(&o, FMT_CONLL);
    o.tag_column = 1;
    CHECK(rd(FMT_CONLL, "EU NNP I-NP I-ORG\n", &s, &o) == 0 && s.n == 1 && !strcmp(s.ex[0].tags[0], "NNP"));
    rawset_free(&s);
    /* malformed */
    expect_fail(FMT_CONLL, "EU NNP I-NP I-ORG\nrejects\n", NULL, 2, "at least 2 columns");
    expect_fail(FMT_CONLL, "EU NNP I-NP I-ORG\n\nrejects VBZ O\nx\n", NULL, 3, "expected 4 columns");
    format_options_default(&o, FMT_CONLL);
    o.iob1_to_iob2 = 1;
    expect_fail(FMT_CONLL, "a O\nb X-ORG\n", &o, 2, "X-ORG");
    format_options_default(&o, FMT_CONLL);
    o.tag_column = 5;
    expect_fail(FMT_CONLL, "a b c\n", &o, 1, "column 5");
    /* --skip-bad drops the sentence of a bad line and counts the line */
    format_options_default(&o, FMT_CONLL);
    o.skip_bad = 1;
    CHECK(rd(FMT_CONLL, "a X O\nb\nc X O\n\nd X B-PER\n\nbad\n", &s, &o) == 0);
    CHECKF(s.n == 1 && s.n_skipped == 2 && s.first_bad_line == 2, "n %zu skipped %ld first %ld", s.n, s.n_skipped,
           s.first_bad_line);
    rawset_free(&s);
    /* empty input */
    CHECK(rd(FMT_CONLL, "\n\n-DOCSTART- -X- O O\n", &s, NULL) == -1 && strstr(err, "no examples"));
    rawset_free(&s);
    CHECK(rd(FMT_CONLL, "", &s, NULL) == -1 && strstr(err, "in.txt") && strstr(err, "empty"));
    rawset_free(&s);
}

static void test_lines(void) {
    RawSet s;
    FormatOptions o;
    format_options_default(&o, FMT_LINES);
    o.sep = ' ';
    CHECK(rd(FMT_LINES, "1 a stirring , funny film\n0 apparently reassembled\n\n1 x\n", &s, &o) == 0);
    CHECK(s.n == 3 && !strcmp(s.ex[0].labels[0], "1") && !strcmp(s.ex[0].text, "a stirring , funny film"));
    CHECK(s.n == 3 && s.ex[2].line == 4);
    rawset_free(&s);
    /* TREC: COARSE:fine, and Latin-1 bytes become UTF-8 */
    o.label_part = LABEL_COARSE;
    o.latin1 = 1;
    CHECK(rd(FMT_LINES, "DESC:manner How did serfdom develop ?\nHUM:ind Who is Andr\xe9 ?\n", &s, &o) == 0);
    CHECK(s.n == 2 && !strcmp(s.ex[0].labels[0], "DESC") && !strcmp(s.ex[1].labels[0], "HUM"));
    CHECK(s.n == 2 && strstr(s.ex[1].text, "Andr\xc3\xa9"));
    rawset_free(&s);
    o.label_part = LABEL_FINE;
    o.latin1 = 0;
    CHECK(rd(FMT_LINES, "DESC:manner How ?\n", &s, &o) == 0 && s.n == 1 && !strcmp(s.ex[0].labels[0], "manner"));
    rawset_free(&s);
    /* text<TAB>LABEL */
    format_options_default(&o, FMT_LINES);
    o.label_first = 0;
    CHECK(rd(FMT_LINES, "great movie\tpos\nawful\tneg\n", &s, &o) == 0 && s.n == 2 && !strcmp(s.ex[1].labels[0], "neg") &&
          !strcmp(s.ex[0].text, "great movie"));
    rawset_free(&s);
    expect_fail(FMT_LINES, "a\tb\nno separator here\n", NULL, 2, "separator");
    expect_fail(FMT_LINES, "a\tb\n\n\nlabel\t   \n", NULL, 4, "text is empty");
    o.skip_bad = 1;
    CHECK(rd(FMT_LINES, "x\tpos\nbad line\ny\tneg\nworse\n", &s, &o) == 0 && s.n == 2 && s.n_skipped == 2 &&
          s.first_bad_line == 2);
    rawset_free(&s);
}

static void test_csv(void) {
    RawSet s;
    FormatOptions o;
    format_options_default(&o, FMT_CSV);
    o.text_col = "sentence";
    const char *good = "id,sentence,label\r\n1,\"hello, world\",pos\r\n2,\"she said \"\"hi\"\"\",neg\r\n"
                       "3,\"two\nlines\",pos\n4,plain,neg";
    CHECK(rd(FMT_CSV, good, &s, &o) == 0);
    CHECKF(s.n == 4, "n %zu: %s", s.n, err);
    if (s.n == 4) {
        CHECK(!strcmp(s.ex[0].text, "hello, world") && s.ex[0].line == 2);
        CHECK(!strcmp(s.ex[1].text, "she said \"hi\"") && !strcmp(s.ex[1].labels[0], "neg"));
        CHECK(!strcmp(s.ex[2].text, "two\nlines") && s.ex[2].line == 4);
        CHECKF(s.ex[3].line == 6 && !strcmp(s.ex[3].text, "plain"), "line %ld", s.ex[3].line);
    }
    rawset_free(&s);
    /* scores and a second sentence */
    format_options_default(&o, FMT_CSV);
    o.text_col = "a", o.text_b_col = "b", o.score_col = "score";
    CHECK(rd(FMT_CSV, "a,b,score\nx y,z,3.5\n", &s, &o) == 0 && s.n == 1 && s.ex[0].has_score && s.ex[0].score == 3.5f &&
          !strcmp(s.ex[0].text_b, "z"));
    rawset_free(&s);
    expect_fail(FMT_CSV, "a,b,score\nx,y,high\n", &o, 2, "expected a number");
    format_options_default(&o, FMT_CSV);
    expect_fail(FMT_CSV, "txt,label\nx,y\n", NULL, 1, "no column 'text'");
    expect_fail(FMT_CSV, "text,label\nx,y\n\"a\nb\",c\nx,y,z\n", NULL, 5, "expected 2 fields");
    expect_fail(FMT_CSV, "text,label\nx,y\n\"open,y\n", NULL, 3, "unterminated");
    expect_fail(FMT_CSV, "text,label\n\"a\"b,y\n", NULL, 2, "closing quote");
    expect_fail(FMT_CSV, "text,label\na\"b,y\n", NULL, 2, "quote inside");
    o.skip_bad = 1;
    CHECK(rd(FMT_CSV, "text,label\na,b\nx\nc,d\n", &s, &o) == 0 && s.n == 2 && s.n_skipped == 1 && s.first_bad_line == 3);
    rawset_free(&s);
}

static void test_jsonl(void) {
    RawSet s;
    const char *good = "{\"text\": \"good film\", \"label\": \"pos\"}\n\n{\"text\": \"bad\", \"label\": 0}\n"
                       "{\"tokens\": [\"John\", \"runs\"], \"tags\": [\"B-PER\", \"O\"]}\n";
    CHECK(rd(FMT_JSONL, good, &s, NULL) == 0 && s.n == 3);
    if (s.n == 3) {
        CHECK(!strcmp(s.ex[0].text, "good film") && !strcmp(s.ex[0].labels[0], "pos"));
        CHECK(!strcmp(s.ex[1].labels[0], "0") && s.ex[1].line == 3);
        CHECK(s.ex[2].n_words == 2 && !strcmp(s.ex[2].tags[0], "B-PER") && s.ex[2].n_labels == 0);
    }
    rawset_free(&s);
    FormatOptions o;
    format_options_default(&o, FMT_JSONL);
    o.label_col = "topic,sentiment";
    CHECK(rd(FMT_JSONL, "{\"tokens\":[\"a\"],\"tags\":[\"O\"],\"topic\":\"x\",\"sentiment\":\"y\"}\n", &s, &o) == 0 &&
          s.n == 1 && s.ex[0].n_labels == 2 && !strcmp(s.ex[0].labels[1], "y"));
    rawset_free(&s);
    expect_fail(FMT_JSONL, "{\"text\": \"a\", \"label\": \"b\"}\n{\"text\": \"a\", \"label\": }\n", NULL, 2, "invalid JSON");
    expect_fail(FMT_JSONL, "{\"text\": \"a\", \"label\": \"b\"}\n[1,2]\n", NULL, 2, "JSON object");
    expect_fail(FMT_JSONL, "{\"text\": \"a\"}\n", NULL, 1, "\"label\"");
    expect_fail(FMT_JSONL, "{\"label\": \"b\"}\n", NULL, 1, "\"text\"");
    expect_fail(FMT_JSONL, "\n{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n", NULL, 2, "same length");
    expect_fail(FMT_JSONL, "{\"tokens\":[\"a\"],\"tags\":[\"O\"],\"topic\":\"x\"}\n", &o, 1, "topic,sentiment");
}

static void test_pairs(void) {
    RawSet s;
    const char *good = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n"
                       "main-news\theadlines\t2013\t0002\t0.500\tOne.\tTwo.\textra\tcolumns\n";
    CHECK(rd(FMT_PAIRS, good, &s, NULL) == 0 && s.n == 2);
    if (s.n == 2) {
        CHECK(s.ex[0].score == 5.0f && !strcmp(s.ex[0].text, "A plane is taking off.") &&
              !strcmp(s.ex[0].text_b, "An air plane is taking off."));
        CHECK(s.ex[1].score == 0.5f && !strcmp(s.ex[1].text_b, "Two."));
    }
    rawset_free(&s);
    expect_fail(FMT_PAIRS, "g\tf\t2012\t1\t5.0\ta\tb\ng\tf\t2012\t1\tfive\ta\tb\n", NULL, 2, "expected a score");
    expect_fail(FMT_PAIRS, "g\tf\t2012\t1\t5.0\ta\n", NULL, 1, "at least 7");
    expect_fail(FMT_PAIRS, "g\tf\t2012\t1\t5.0\t\tb\n", NULL, 1, "column 5");
}

/* ------------------------------------------------------------- prepare */

static Tokenizer *small_vocab(void) {
    char path[] = "/tmp/mtbert_test_vocabXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    const char *v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\njohan\n##son\nlives\nin\nnew\nyork\n##er\n.\nthe\nfilm\nis\ngood\n";
    if (write(fd, v, strlen(v)) != (ssize_t)strlen(v)) return NULL;
    close(fd);
    Tokenizer *t = tokenizer_load(path, 1, err, sizeof err);
    unlink(path);
    return t;
}

/* issue 15, point 19 (prepare's part): a NUL byte is an error naming line
 * and byte offset in every format, also under skip_bad (before, the line
 * was cut there silently) */
static void test_nul(void) {
    static const char text[] = "pos\tgood\nneg\tba\0d text\n";
    static const FormatKind kinds[] = {FMT_CONLL, FMT_LINES, FMT_CSV, FMT_JSONL, FMT_PAIRS};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int skip = 0; skip < 2; skip++) {
            FormatOptions o;
            format_options_default(&o, kinds[k]);
            o.skip_bad = skip;
            RawSet s;
            rawset_init(&s);
            int rc = format_read_buffer(&o, "in.txt", text, sizeof text - 1, &s, err, sizeof err);
            CHECKF(rc == -1 && strstr(err, "in.txt:2: NUL byte at byte 6"), "format %zu skip %d: rc %d: %s", k, skip,
                   rc, err);
            rawset_free(&s);
        }
}

static void test_prepare(void) {
    Tokenizer *tok = small_vocab();
    CHECKF(tok != NULL, "tokenizer: %s", err);
    if (!tok) return;
    int CLS = tokenizer_cls_id(tok), SEP = tokenizer_sep_id(tok);
    RawSet s;
    /* Johanson -> johan ##son; New Yorker -> new york ##er */
    CHECK(rd(FMT_CONLL, "Johanson B-PER\nlives O\nin O\nNew B-LOC\nYorker I-LOC\n. O\n", &s, NULL) == 0);
    PrepareOptions o;
    prepare_options_default(&o);
    o.n_tasks = 1;
    snprintf(o.tasks[0].name, SHARD_NAME_LEN, "ner");
    o.tasks[0].type = LABELS_TOKEN;
    ShardData d;
    PrepareStats st;
    CHECKF(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == 0, "%s", err);
    /* labels collected: O first, B/I pairs per type */
    const char *names[] = {"O", "B-LOC", "I-LOC", "B-PER", "I-PER"};
    CHECK(d.tasks[0].num_labels == 5);
    for (int i = 0; i < 5 && i < d.tasks[0].num_labels; i++) CHECK(!strcmp(d.tasks[0].label_names[i], names[i]));
    int ids[] = {CLS, 5, 6, 7, 8, 9, 10, 11, 12, SEP};
    int first[] = {-100, 3, -100, 0, 0, 1, 2, -100, 0, -100};
    int all[] = {-100, 3, 4, 0, 0, 1, 2, 2, 0, -100};
    CHECK(d.n == 1 && d.lengths[0] == 10);
    for (int i = 0; i < 10 && d.n_tokens == 10; i++) {
        CHECKF(d.input_ids[i] == ids[i], "id %d: %d vs %d", i, d.input_ids[i], ids[i]);
        CHECKF(d.tasks[0].labels[i] == first[i], "first-piece label %d: %d vs %d", i, d.tasks[0].labels[i], first[i]);
    }
    CHECK(st.truncated == 0 && st.tokens == 10);
    shard_data_free(&d);
    o.label_all_wordpieces = 1;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == 0);
    for (int i = 0; i < 10 && d.n_tokens == 10; i++)
        CHECKF(d.tasks[0].labels[i] == all[i], "label-all %d: %d vs %d", i, d.tasks[0].labels[i], all[i]);
    shard_data_free(&d);
    /* truncation: max_len 5 keeps [CLS] johan ##son lives [SEP]; 5 pieces and 4 words cut */
    o.label_all_wordpieces = 0;
    o.max_len = 5;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == 0);
    CHECKF(st.truncated == 1 && st.tokens_dropped == 5 && st.words_dropped == 4 && st.longest == 10,
           "truncated %lld dropped %lld words %lld longest %d", (long long)st.truncated, (long long)st.tokens_dropped,
           (long long)st.words_dropped, st.longest);
    CHECK(d.lengths[0] == 5 && d.input_ids[4] == SEP && d.tasks[0].labels[3] == 0 && d.tasks[0].labels[4] == -100);
    shard_data_free(&d);
    /* a given tag set without the data's tag: error names file and the tag's line */
    o.max_len = 128;
    char *given[] = {"O", "B-PER", "I-PER"};
    o.tasks[0].labels = given;
    o.tasks[0].num_labels = 3;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == -1 && strstr(err, "in.txt:4:") &&
          strstr(err, "B-LOC"));
    rawset_free(&s);

    /* sentence task: [CLS] text [SEP], labels from a list, unknown label */
    CHECK(rd(FMT_LINES, "pos\tthe film is good .\nneg\tthe film\n", &s, NULL) == 0);
    prepare_options_default(&o);
    o.n_tasks = 1;
    snprintf(o.tasks[0].name, SHARD_NAME_LEN, "sent");
    o.tasks[0].type = LABELS_CLASS;
    char **labs;
    int nl;
    CHECK(prepare_parse_labels("neg, pos", &labs, &nl, err, sizeof err) == 0 && nl == 2 && !strcmp(labs[1], "pos"));
    o.tasks[0].labels = labs, o.tasks[0].num_labels = nl;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == 0);
    CHECK(d.n == 2 && d.lengths[0] == 7 && d.lengths[1] == 4 && d.offsets[1] == 7 && d.tasks[0].labels[0] == 1 &&
          d.tasks[0].labels[1] == 0 && d.input_ids[0] == CLS && d.input_ids[6] == SEP);
    shard_data_free(&d);
    prepare_free_labels(labs, nl);
    CHECK(prepare_parse_labels("pos", &labs, &nl, err, sizeof err) == 0);
    o.tasks[0].labels = labs, o.tasks[0].num_labels = nl;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == -1 && strstr(err, "in.txt:2:") &&
          strstr(err, "unknown label 'neg'"));
    prepare_free_labels(labs, nl);
    CHECK(prepare_parse_labels("a,b,a", &labs, &nl, err, sizeof err) == -1 && strstr(err, "twice"));
    rawset_free(&s);

    /* similarity: two separate [CLS] s [SEP] sequences and the scaled score */
    CHECK(rd(FMT_PAIRS, "g\tf\ty\ti\t4.0\tthe film\tthe film is good\n", &s, NULL) == 0);
    prepare_options_default(&o);
    o.n_tasks = 1;
    snprintf(o.tasks[0].name, SHARD_NAME_LEN, "sts");
    o.tasks[0].type = LABELS_SCORE;
    o.score_scale = 0.2f;
    CHECK(prepare_encode(&o, tok, &s, &d, &st, err, sizeof err) == 0);
    CHECK(d.n == 1 && d.lengths[0] == 4 && d.lengths_b[0] == 6 && d.input_ids_b[0] == CLS && d.input_ids_b[5] == SEP &&
          d.tasks[0].scores[0] > 0.79f && d.tasks[0].scores[0] < 0.81f);
    shard_data_free(&d);
    rawset_free(&s);
    tokenizer_free(tok);
}

int main(void) {
    test_conll();
    test_lines();
    test_csv();
    test_jsonl();
    test_pairs();
    test_nul();
    test_prepare();
    return test_finish("test_formats");
}
