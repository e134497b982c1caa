/* cmd_prepare.c — `mtbert prepare`: raw corpus -> tokenized HDF5 shards,
 * and `mtbert prepare --synthetic DIR`: the demo data set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "data/formats.h"
#include "data/manifest.h"
#include "data/prepare.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "data/tokenizer_json.h"
#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert prepare --format FMT --vocab TOKENIZER [options] INPUT...\n"
            "       mtbert prepare --synthetic DIR [--seed S] [--train N] [--dev N]\n"
            "       mtbert prepare --write-manifest SHARD...\n"
            "\n"
            "Tokenizes raw examples with the model's tokenizer and writes HDF5 shards\n"
            "OUT/NAME-00000-of-0000N.h5 (layout: docs/data-format.md). Exit 0 on success,\n"
            "2 for bad usage or bad input (the message names the file and line), 1 when\n"
            "writing fails.\n"
            "\n"
            "input:\n"
            "  --format FMT          conll | lines (alias tsv) | csv | jsonl | pairs (alias stsb)\n"
            "                        | triplets (anchor<TAB>positive<TAB>neg1[<TAB>neg2 ...])\n"
            "  --input FILE          input file (repeatable; INPUT arguments work too)\n"
            "  --encoding ENC        utf-8 (default) | latin-1 (ISO-8859-1, e.g. TREC)\n"
            "  --skip-bad            skip malformed lines (CoNLL: their sentence) and invalid\n"
            "                        UTF-8, and report how many; default: stop at the first\n"
            "\n"
            "tasks and labels:\n"
            "  --task NAME[:TYPE]    a task of this data (repeatable); TYPE sentence | token |\n"
            "                        similarity | regression; default one task named 'task'\n"
            "                        whose type follows the format (conll: token, pairs:\n"
            "                        similarity, jsonl with tokens/tags: token, else sentence;\n"
            "                        with --join-pairs a score is regression)\n"
            "  --join-pairs          cross-encoder data: each example's two sentences become one\n"
            "                        sequence, the tokenizer's pair template ([CLS] a [SEP] b\n"
            "                        [SEP]), cut longest first to --max-len, stored with\n"
            "                        token_type_ids; tasks sentence (class) or regression (score)\n"
            "  --labels SPEC         label set: 'A,B,C' or a file with one label a line; with\n"
            "                        several tasks write TASK=SPEC (repeatable). Without it the\n"
            "                        labels are collected from the data (sorted; tags: O first)\n"
            "                        and stored; an unknown label against a given set is an error\n"
            "  --label-part P        full (default) | coarse | fine, for COARSE:fine labels\n"
            "\n"
            "format details:\n"
            "  --tag-column N        conll: column of the tag, counted from 0 (default: last)\n"
            "  --iob1-to-iob2        conll/jsonl tags: IOB1 (I- starts an entity) -> IOB2\n"
            "  --sep S               field separator: tab | space | comma | one character\n"
            "                        (defaults: lines tab, csv comma, pairs tab)\n"
            "  --label-first         lines: LABEL<sep>text (default)\n"
            "  --label-last          lines: text<sep>LABEL\n"
            "  --text-column NAME    csv column / jsonl key of the text (default text)\n"
            "  --text-b-column NAME  csv column / jsonl key of a second sentence\n"
            "  --label-column NAME   csv column / jsonl key of the label (default label; jsonl:\n"
            "                        a comma list, one key per sentence task)\n"
            "  --score-column NAME   csv column / jsonl key of a similarity score\n"
            "  --negative-columns A,B  csv columns / jsonl keys of hard negatives (with\n"
            "                        --text-b-column as the positive; no label or score needed)\n"
            "  --negatives-key NAME  jsonl key of an array of hard negatives\n"
            "  --tokens-key NAME     jsonl key of the word list (default tokens)\n"
            "  --tags-key NAME       jsonl key of the tag list (default tags)\n"
            "  --pair-columns S,A,B  pairs: score and sentence columns from 0 (default 4,5,6:\n"
            "                        the STS Benchmark layout)\n"
            "  --score-scale X       multiply similarity scores by X (e.g. 0.2 maps 0..5 to 0..1)\n"
            "  --min-score X         keep only the pairs scored >= X (the score as in the file,\n"
            "                        before --score-scale), e.g. 4 for STS-B positives for MNRL;\n"
            "                        pairs and csv/jsonl with --score-column only\n"
            "\n"
            "tokenization and output:\n"
            "  --vocab PATH          the tokenizer (its vocabulary hash is stored in every shard):\n"
            "                        a model folder (its tokenizer.json if there, else its\n"
            "                        vocab.txt), a tokenizer.json (a name ending in .json) or\n"
            "                        a WordPiece vocab.txt\n"
            "  --tokenizer PATH      the same as --vocab\n"
            "  --no-lower-case       vocab.txt: keep case (default: lowercase + strip accents, as\n"
            "                        uncased BERT); a tokenizer.json normalises as it says\n"
            "  --max-len N           sequence length limit including [CLS]/[SEP] (default 128);\n"
            "                        longer sequences are truncated, counted and reported\n"
            "  --label-all-wordpieces  token tasks: label every wordpiece (B-X -> I-X after the\n"
            "                        first) instead of the first only (others -100)\n"
            "  --out DIR             output folder (default .)\n"
            "  --name NAME           shard name (default: the first input's name without extension)\n"
            "  --shards N            number of shard files (default 1)\n"
            "  --quiet               no progress lines\n"
            "\n"
            "synthetic demo data:\n"
            "  --synthetic DIR       write DIR/vocab.txt, DIR/{train,dev}.{conll,jsonl} and shards\n"
            "                        DIR/train-*.h5, DIR/dev-*.h5 with tasks topic, sentiment, ner\n"
            "  --seed S              generator seed (default 1)\n"
            "  --train N / --dev N   examples (default 4000 / 500); --shards, --max-len (64) apply\n"
            "\n"
            "manifests: every set gets OUT/NAME.manifest (size and XXH3-128 checksum of each\n"
            "shard); training and evaluation check the shards against it and refuse a set\n"
            "without one.\n"
            "  --write-manifest SHARD...  write the manifest of existing shards as they are\n"
            "                        now (sets prepared before manifests existed; all shards\n"
            "                        of a set, e.g. DIR/train-*.h5): only for files you trust\n"
            "  -h, --help            this text\n");
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* --write-manifest: the manifest of existing shards, one per set; every
 * shard of a set must be given (their headers say how many there are). */
static int write_manifests(int n, const char *const *files, int quiet) {
    if (n < 1) {
        fprintf(stderr, "mtbert prepare: --write-manifest needs the shard files (e.g. DIR/train-*.h5)\n");
        return 2;
    }
    char err[2048];
    char (*mp)[4096] = calloc((size_t)n, sizeof *mp);
    int *shards = calloc((size_t)n, sizeof *shards), *done = calloc((size_t)n, sizeof *done);
    const char **group = calloc((size_t)n, sizeof *group);
    int rc = 0;
    if (!mp || !shards || !done || !group) {
        fprintf(stderr, "mtbert prepare: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        ShardData h;
        if (shard_read_header(files[i], &h, err, sizeof err)) {
            fprintf(stderr, "mtbert prepare: %s\n", err);
            rc = 2;
            goto out;
        }
        shards[i] = h.info.num_shards;
        shard_data_free(&h);
        manifest_path_for(files[i], mp[i], sizeof mp[i]);
    }
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        int k = 0;
        for (int j = i; j < n; j++)
            if (!done[j] && !strcmp(mp[j], mp[i])) group[k++] = files[j], done[j] = 1;
        if (k != shards[i]) {
            fprintf(stderr, "mtbert prepare: %s: %d file%s given for a set of %d shards (give all of them, e.g. "
                    "DIR/NAME-*.h5)\n", mp[i], k, k == 1 ? "" : "s", shards[i]);
            rc = 2;
            goto out;
        }
        if (manifest_write(mp[i], group, k, err, sizeof err)) {
            fprintf(stderr, "mtbert prepare: %s\n", err);
            rc = 1;
            goto out;
        }
        if (!quiet) printf("wrote %s (%d shard%s)\n", mp[i], k, k == 1 ? "" : "s");
    }
out:
    free(mp), free(shards), free(done), free(group);
    return rc;
}

/* Appends a repeatable option's values to out[0..*n) (at most cap); -1 when they do not fit. */
static int take_list(const StrList *l, const char **out, int cap, int *n) {
    for (int i = 0; i < l->n; i++) {
        if (*n == cap) return -1;
        out[(*n)++] = l->v[i];
    }
    return 0;
}

int cmd_prepare(int argc, char **argv) {
    StrList input_opts = {0}, task_opts = {0}, label_opts = {0};
    const char *format = NULL, *vocab = NULL, *out_dir = ".", *name = NULL, *synth_dir = NULL;
    const char *sep = NULL, *text_col = NULL, *text_b_col = NULL, *label_col = NULL, *score_col = NULL;
    const char *tokens_key = NULL, *tags_key = NULL, *pair_cols = NULL, *label_part = NULL, *encoding = NULL;
    const char *neg_cols = NULL, *negatives_key = NULL;
    int tag_column = -1, max_len = -1, shards = 1, seed = 1, n_train = 4000, n_dev = 500;
    int skip_bad = 0, iob = 0, label_first = 1, lower = 1, label_all = 0, quiet = 0, write_manifest = 0;
    int join_pairs = 0;
    double score_scale = 1.0, min_score = -INFINITY; /* -inf: --min-score not given */
    const OptSpec opts[] = {
        {"format", OPT_STRING, &format, 0, 0, 0},
        {"input", OPT_LIST, &input_opts, 0, 0, 0},
        {"encoding", OPT_STRING, &encoding, 0, 0, 0},
        {"skip-bad", OPT_FLAG, &skip_bad, 0, 0, 1},
        {"task", OPT_LIST, &task_opts, 0, 0, 0},
        {"labels", OPT_LIST, &label_opts, 0, 0, 0},
        {"label-part", OPT_STRING, &label_part, 0, 0, 0},
        {"tag-column", OPT_INT, &tag_column, 1, 63, 0},
        {"iob1-to-iob2", OPT_FLAG, &iob, 0, 0, 1},
        {"sep", OPT_STRING, &sep, 0, 0, 0},
        {"label-first", OPT_FLAG, &label_first, 0, 0, 1},
        {"label-last", OPT_FLAG, &label_first, 0, 0, 0},
        {"text-column", OPT_STRING, &text_col, 0, 0, 0},
        {"text-b-column", OPT_STRING, &text_b_col, 0, 0, 0},
        {"label-column", OPT_STRING, &label_col, 0, 0, 0},
        {"score-column", OPT_STRING, &score_col, 0, 0, 0},
        {"negative-columns", OPT_STRING, &neg_cols, 0, 0, 0},
        {"negatives-key", OPT_STRING, &negatives_key, 0, 0, 0},
        {"tokens-key", OPT_STRING, &tokens_key, 0, 0, 0},
        {"tags-key", OPT_STRING, &tags_key, 0, 0, 0},
        {"pair-columns", OPT_STRING, &pair_cols, 0, 0, 0},
        {"score-scale", OPT_DOUBLE, &score_scale, 0, 0, 0},
        {"min-score", OPT_DOUBLE, &min_score, 0, 0, 0},
        {"vocab", OPT_STRING, &vocab, 0, 0, 0},
        {"tokenizer", OPT_STRING, &vocab, 0, 0, 0},
        {"no-lower-case", OPT_FLAG, &lower, 0, 0, 0},
        {"lower-case", OPT_FLAG, &lower, 0, 0, 1},
        {"max-len", OPT_INT, &max_len, 3, 1 << 20, 0},
        {"label-all-wordpieces", OPT_FLAG, &label_all, 0, 0, 1},
        {"join-pairs", OPT_FLAG, &join_pairs, 0, 0, 1},
        {"out", OPT_STRING, &out_dir, 0, 0, 0},
        {"name", OPT_STRING, &name, 0, 0, 0},
        {"shards", OPT_INT, &shards, 1, 99999, 0},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 1},
        {"synthetic", OPT_STRING, &synth_dir, 0, 0, 0},
        {"seed", OPT_INT, &seed, 0, 0x7fffffff, 0},
        {"train", OPT_INT, &n_train, 0, 100000000, 0},
        {"dev", OPT_INT, &n_dev, 0, 100000000, 0},
        {"write-manifest", OPT_FLAG, &write_manifest, 0, 0, 1},
    };
    enum { MAX_INPUTS = 64 };
    const char *pos[argc > 0 ? argc : 1]; /* input files (or --write-manifest's shards) */
    const char *inputs[MAX_INPUTS], *task_specs[SHARD_MAX_TASKS], *label_specs[SHARD_MAX_TASKS];
    int npos = 0, n_inputs = 0, n_tasks = 0, n_labels = 0;
    int pr = cli_parse("prepare", argc, argv, opts, sizeof opts / sizeof opts[0], pos, argc, &npos, usage);
    int many_inputs = take_list(&input_opts, inputs, MAX_INPUTS, &n_inputs);
    int many_tasks = take_list(&task_opts, task_specs, SHARD_MAX_TASKS, &n_tasks);
    int many_labels = take_list(&label_opts, label_specs, SHARD_MAX_TASKS, &n_labels);
    free(input_opts.v), free(task_opts.v), free(label_opts.v);
    if (pr) return cli_exit(pr);
    if (write_manifest) return write_manifests(npos, pos, quiet);
    for (int i = 0; i < npos && !many_inputs; i++) {
        if (n_inputs == MAX_INPUTS) many_inputs = 1;
        else inputs[n_inputs++] = pos[i];
    }
    if (many_inputs || many_tasks || many_labels) {
        fprintf(stderr, "mtbert prepare: at most %d %s\n", many_inputs ? MAX_INPUTS : SHARD_MAX_TASKS,
                many_inputs ? "inputs" : many_tasks ? "tasks" : "--labels");
        return 2;
    }
    char err[2048];
    double t0 = now();

    if (synth_dir) {
        if (n_inputs) {
            fprintf(stderr, "mtbert prepare: --synthetic takes no input files\n");
            return 2;
        }
        if (!quiet) printf("synthetic data: seed %d, %d train + %d dev examples -> %s\n", seed, n_train, n_dev, synth_dir);
        if (synth_make_dataset(synth_dir, (uint64_t)seed, n_train, n_dev, max_len > 0 ? (int)max_len : 64, (int)shards,
                               !quiet, err, sizeof err)) {
            fprintf(stderr, "mtbert prepare: %s\n", err);
            return 2;
        }
        if (!quiet) printf("done in %.2f s\n", now() - t0);
        return 0;
    }

    /* ---- options -> reader settings */
    if (!format || !vocab || !n_inputs) {
        fprintf(stderr, "mtbert prepare: %s is required (see mtbert prepare --help)\n",
                !format ? "--format" : !vocab ? "--vocab (or --tokenizer)" : "an input file");
        return 2;
    }
    FormatKind kind;
    if (format_parse_kind(format, &kind)) {
        fprintf(stderr, "mtbert prepare: unknown --format '%s' (expected conll, lines, csv, jsonl, pairs or triplets)\n", format);
        return 2;
    }
    FormatOptions fo;
    format_options_default(&fo, kind);
    fo.skip_bad = skip_bad;
    fo.iob1_to_iob2 = iob;
    fo.label_first = label_first;
    fo.tag_column = (int)tag_column;
    if (encoding) {
        if (!strcasecmp(encoding, "latin-1") || !strcasecmp(encoding, "latin1") || !strcasecmp(encoding, "iso-8859-1"))
            fo.latin1 = 1;
        else if (strcasecmp(encoding, "utf-8") && strcasecmp(encoding, "utf8")) {
            fprintf(stderr, "mtbert prepare: --encoding expects utf-8 or latin-1, got '%s'\n", encoding);
            return 2;
        }
    }
    if (label_part) {
        if (!strcmp(label_part, "full")) fo.label_part = LABEL_FULL;
        else if (!strcmp(label_part, "coarse")) fo.label_part = LABEL_COARSE;
        else if (!strcmp(label_part, "fine")) fo.label_part = LABEL_FINE;
        else {
            fprintf(stderr, "mtbert prepare: --label-part expects full, coarse or fine, got '%s'\n", label_part);
            return 2;
        }
    }
    if (sep) {
        if (!strcmp(sep, "tab") || !strcmp(sep, "\\t")) fo.sep = '\t';
        else if (!strcmp(sep, "space")) fo.sep = ' ';
        else if (!strcmp(sep, "comma")) fo.sep = ',';
        else if (strlen(sep) == 1) fo.sep = sep[0];
        else {
            fprintf(stderr, "mtbert prepare: --sep expects tab, space, comma or one character, got '%s'\n", sep);
            return 2;
        }
    }
    if (text_col) fo.text_col = text_col;
    if (text_b_col) fo.text_b_col = text_b_col;
    if (label_col) fo.label_col = label_col;
    if (score_col) fo.score_col = score_col;
    if ((neg_cols && kind != FMT_CSV && kind != FMT_JSONL) || (negatives_key && kind != FMT_JSONL)) {
        fprintf(stderr, "mtbert prepare: %s applies to %s, not --format %s\n",
                negatives_key && kind != FMT_JSONL ? "--negatives-key" : "--negative-columns",
                negatives_key && kind != FMT_JSONL ? "jsonl" : "csv and jsonl", format);
        return 2;
    }
    fo.neg_cols = neg_cols;
    fo.negatives_key = negatives_key;
    if (tokens_key) fo.tokens_col = tokens_key;
    if (tags_key) fo.tags_col = tags_key;
    if (pair_cols) {
        int a, b, s;
        char extra;
        if (sscanf(pair_cols, "%d,%d,%d%c", &s, &a, &b, &extra) != 3 || s < 0 || a < 0 || b < 0 || s > 63 || a > 63 ||
            b > 63) {
            fprintf(stderr, "mtbert prepare: --pair-columns expects SCORE,A,B column numbers from 0, got '%s'\n",
                    pair_cols);
            return 2;
        }
        fo.pair_score_idx = s, fo.pair_a_idx = a, fo.pair_b_idx = b;
    }

    int want_min = !(isinf(min_score) && min_score < 0);
    if (want_min && kind != FMT_PAIRS && !((kind == FMT_CSV || kind == FMT_JSONL) && score_col)) {
        fprintf(stderr, "mtbert prepare: --min-score needs scored pairs (--format pairs, or csv/jsonl with "
                        "--score-column), not --format %s%s\n", format,
                kind == FMT_CSV || kind == FMT_JSONL ? " without --score-column" : "");
        return 2;
    }
    if (want_min && (!isfinite(min_score) || fabs(min_score) > 3.4e38)) {
        fprintf(stderr, "mtbert prepare: --min-score expects a finite number\n");
        return 2;
    }

    /* ---- read */
    RawSet raw;
    rawset_init(&raw);
    for (int i = 0; i < n_inputs; i++) {
        size_t before = raw.n;
        long skipped_before = raw.n_skipped;
        raw.first_bad_line = 0;
        if (format_read(&fo, inputs[i], &raw, err, sizeof err)) {
            fprintf(stderr, "mtbert prepare: %s\n", err);
            rawset_free(&raw);
            return 2;
        }
        if (!quiet) {
            printf("read %s: %zu examples", inputs[i], raw.n - before);
            if (raw.n_skipped > skipped_before)
                printf(", skipped %ld malformed line%s (first at line %ld)", raw.n_skipped - skipped_before,
                       raw.n_skipped - skipped_before == 1 ? "" : "s", raw.first_bad_line);
            printf(" (%.2f s)\n", now() - t0);
            fflush(stdout);
        }
    }

    if (want_min) { /* before the tasks: the kept pairs are the whole input from here on */
        size_t bad = 0;
        size_t before = raw.n;
        long dropped = rawset_keep_min_score(&raw, (float)min_score, &bad);
        if (dropped < 0) {
            fprintf(stderr, "mtbert prepare: %s:%ld: --min-score: this example has no score\n",
                    raw.ex[bad].src ? raw.ex[bad].src : "input", raw.ex[bad].line);
            rawset_free(&raw);
            return 2;
        }
        if (!raw.n) {
            fprintf(stderr, "mtbert prepare: --min-score %g: none of the %zu pairs is scored >= %g\n", min_score, before,
                    min_score);
            rawset_free(&raw);
            return 2;
        }
        if (!quiet) printf("--min-score %g: kept %zu of %zu pairs (dropped %ld scored below)\n", min_score, raw.n, before, dropped);
    }

    /* ---- tasks */
    PrepareOptions po;
    prepare_options_default(&po);
    if (max_len > 0) po.max_len = max_len;
    po.label_all_wordpieces = label_all;
    po.score_scale = (float)score_scale;
    po.skip_bad = skip_bad;
    po.join_pairs = join_pairs;
    if (!n_tasks) task_specs[n_tasks++] = "task";
    po.n_tasks = n_tasks;
    int rc = 2;
    for (int t = 0; t < n_tasks; t++) {
        PrepareTask *pt = &po.tasks[t];
        const char *colon = strchr(task_specs[t], ':');
        size_t nl = colon ? (size_t)(colon - task_specs[t]) : strlen(task_specs[t]);
        if (!nl || nl >= SHARD_NAME_LEN || strcspn(task_specs[t], "/=,") < nl) {
            fprintf(stderr, "mtbert prepare: --task '%s': expected NAME[:TYPE], a name without / = , (at most %d bytes)\n",
                    task_specs[t], SHARD_NAME_LEN - 1);
            goto done;
        }
        snprintf(pt->name, SHARD_NAME_LEN, "%.*s", (int)nl, task_specs[t]);
        if (colon) {
            if (label_kind_parse(colon + 1, &pt->type)) {
                fprintf(stderr, "mtbert prepare: --task '%s': type must be sentence, token, similarity or regression\n",
                        task_specs[t]);
                goto done;
            }
        } else if (n_tasks == 1) {
            pt->type = kind == FMT_CONLL ? LABELS_TOKEN
                       : raw.ex[0].has_score ? (join_pairs ? LABELS_REGRESSION : LABELS_SCORE)
                       : raw.ex[0].words ? LABELS_TOKEN : LABELS_CLASS;
        } else pt->type = LABELS_CLASS;
    }
    for (int i = 0; i < n_labels; i++) {
        const char *spec = label_specs[i];
        int target = -1;
        const char *eq = strchr(spec, '=');
        const char *comma = strchr(spec, ',');
        if (eq && (!comma || comma > eq)) {
            for (int t = 0; t < n_tasks; t++)
                if (strlen(po.tasks[t].name) == (size_t)(eq - spec) && !strncmp(po.tasks[t].name, spec, (size_t)(eq - spec)))
                    target = t;
            if (target < 0) {
                fprintf(stderr, "mtbert prepare: --labels '%s': no task named '%.*s'\n", spec, (int)(eq - spec), spec);
                goto done;
            }
            spec = eq + 1;
        } else {
            for (int t = 0; t < n_tasks && target < 0; t++)
                if (po.tasks[t].type != LABELS_SCORE && po.tasks[t].type != LABELS_REGRESSION) target = t;
            if (n_tasks > 1 || target < 0) {
                fprintf(stderr, "mtbert prepare: --labels: with several tasks write TASK=LIST\n");
                goto done;
            }
        }
        if (po.tasks[target].type == LABELS_SCORE || po.tasks[target].type == LABELS_REGRESSION) {
            fprintf(stderr, "mtbert prepare: --labels: task '%s' is a %s task (scores, no labels)\n",
                    po.tasks[target].name, label_kind_name(po.tasks[target].type));
            goto done;
        }
        prepare_free_labels(po.tasks[target].labels, po.tasks[target].num_labels);
        if (prepare_parse_labels(spec, &po.tasks[target].labels, &po.tasks[target].num_labels, err, sizeof err)) {
            fprintf(stderr, "mtbert prepare: %s\n", err);
            goto done;
        }
    }

    /* ---- tokenize */
    char tok_file[4096];
    int is_json, unused_vocab;
    if (tok_resolve(vocab, tok_file, sizeof tok_file, &is_json, &unused_vocab, err, sizeof err)) {
        fprintf(stderr, "mtbert prepare: %s\n", err);
        goto done;
    }
    Tok *tok = tok_open(vocab, lower, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "mtbert prepare: %s\n", err);
        goto done;
    }
    if (!quiet)
        printf("tokenizer %s: %s, %d ids%s\n", tok_file, tok_kind_name(tok_kind(tok)), tok_vocab_size(tok),
               unused_vocab ? " (the vocab.txt beside it is not used)" : "");
    ShardData d;
    PrepareStats st;
    if (prepare_encode_tok(&po, tok, &raw, &d, &st, err, sizeof err)) {
        fprintf(stderr, "mtbert prepare: %s\n", err);
        tok_free(tok);
        goto done;
    }
    tok_free(tok);
    snprintf(d.info.source, sizeof d.info.source, "%s%s", inputs[0], n_inputs > 1 ? " (and more)" : "");
    if (!quiet) {
        printf("tokenized %lld examples: %lld wordpieces (%.1f per sequence), longest %d (%.2f s)\n",
               (long long)st.examples, (long long)st.tokens,
               (double)st.tokens / (double)(st.examples * ((d.input_ids_b ? 2 : 1) + d.num_neg)), st.longest, now() - t0);
        for (int t = 0; t < d.n_tasks; t++) {
            printf("task %s (%s)", d.tasks[t].name, label_kind_name(d.tasks[t].type));
            if (d.tasks[t].num_labels) {
                printf(": %d labels:", d.tasks[t].num_labels);
                for (int i = 0; i < d.tasks[t].num_labels; i++) printf(" %s", d.tasks[t].label_names[i]);
            }
            printf("\n");
        }
        if (d.num_neg) printf("hard negatives: %d per example\n", d.num_neg);
    }
    if (st.truncated)
        fprintf(stderr, "mtbert prepare: truncated %lld of %lld sequences to max_len %d (%lld wordpieces, %lld labelled words cut off)\n",
                (long long)st.truncated, (long long)(st.examples * ((d.input_ids_b ? 2 : 1) + d.num_neg)), po.max_len,
                (long long)st.tokens_dropped, (long long)st.words_dropped);
    else if (!quiet) printf("truncated 0 sequences (max_len %d)\n", po.max_len);
    if (st.empty_words && !quiet) printf("%lld words had no wordpiece and became [UNK]\n", (long long)st.empty_words);
    if (st.skipped) fprintf(stderr, "mtbert prepare: skipped %lld examples with invalid UTF-8\n", (long long)st.skipped);
    if (raw.n_skipped) fprintf(stderr, "mtbert prepare: skipped %ld malformed lines (--skip-bad)\n", raw.n_skipped);

    /* ---- write */
    char base[256];
    if (!name) {
        const char *slash = strrchr(inputs[0], '/');
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : inputs[0]);
        char *dot = strrchr(base, '.');
        if (dot && dot != base) *dot = 0;
        name = base;
    }
    if (prepare_write_shards(&d, out_dir, name, (int)shards, !quiet, err, sizeof err)) {
        fprintf(stderr, "mtbert prepare: %s\n", err);
        rc = (int)shards > d.n ? 2 : 1; /* too many shards is bad usage; the rest is I/O */
        shard_data_free(&d);
        goto done;
    }
    if (!quiet) printf("wrote %d shard%s to %s in %.2f s\n", shards, shards == 1 ? "" : "s", out_dir, now() - t0);
    shard_data_free(&d);
    rc = 0;
done:
    for (int t = 0; t < n_tasks; t++) prepare_free_labels(po.tasks[t].labels, po.tasks[t].num_labels);
    rawset_free(&raw);
    return rc;
}
