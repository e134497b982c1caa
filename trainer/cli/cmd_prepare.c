/* cmd_prepare.c — `mtbert prepare`: raw corpus -> tokenized HDF5 shards,
 * and `mtbert prepare --synthetic DIR`: the demo data set. */
#include <getopt.h>
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
            "  --input FILE          input file (repeatable; INPUT arguments work too)\n"
            "  --encoding ENC        utf-8 (default) | latin-1 (ISO-8859-1, e.g. TREC)\n"
            "  --skip-bad            skip malformed lines (CoNLL: their sentence) and invalid\n"
            "                        UTF-8, and report how many; default: stop at the first\n"
            "\n"
            "tasks and labels:\n"
            "  --task NAME[:TYPE]    a task of this data (repeatable); TYPE sentence | token |\n"
            "                        similarity; default one task named 'task' whose type\n"
            "                        follows the format (conll: token, pairs: similarity,\n"
            "                        jsonl with tokens/tags: token, else sentence)\n"
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
            "  --tokens-key NAME     jsonl key of the word list (default tokens)\n"
            "  --tags-key NAME       jsonl key of the tag list (default tags)\n"
            "  --pair-columns S,A,B  pairs: score and sentence columns from 0 (default 4,5,6:\n"
            "                        the STS Benchmark layout)\n"
            "  --score-scale X       multiply similarity scores by X (e.g. 0.2 maps 0..5 to 0..1)\n"
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

static int parse_int(const char *opt, const char *s, long lo, long hi, long *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) {
        fprintf(stderr, "mtbert prepare: %s expects an integer in %ld..%ld, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *v = x;
    return 0;
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

enum {
    O_FORMAT = 1000, O_INPUT, O_ENCODING, O_SKIP_BAD, O_TASK, O_LABELS, O_LABEL_PART, O_TAG_COL, O_IOB, O_SEP,
    O_LABEL_FIRST, O_LABEL_LAST, O_TEXT_COL, O_TEXT_B_COL, O_LABEL_COL, O_SCORE_COL, O_TOKENS_KEY, O_TAGS_KEY,
    O_PAIR_COLS, O_SCORE_SCALE, O_VOCAB, O_NO_LOWER, O_LOWER, O_MAX_LEN, O_LABEL_ALL, O_OUT, O_NAME, O_SHARDS,
    O_QUIET, O_SYNTH, O_SEED, O_TRAIN, O_DEV, O_WRITE_MANIFEST
};

int cmd_prepare(int argc, char **argv) {
    static const struct option opts[] = {
        {"format", 1, 0, O_FORMAT}, {"input", 1, 0, O_INPUT}, {"encoding", 1, 0, O_ENCODING},
        {"skip-bad", 0, 0, O_SKIP_BAD}, {"task", 1, 0, O_TASK}, {"labels", 1, 0, O_LABELS},
        {"label-part", 1, 0, O_LABEL_PART}, {"tag-column", 1, 0, O_TAG_COL}, {"iob1-to-iob2", 0, 0, O_IOB},
        {"sep", 1, 0, O_SEP}, {"label-first", 0, 0, O_LABEL_FIRST}, {"label-last", 0, 0, O_LABEL_LAST},
        {"text-column", 1, 0, O_TEXT_COL}, {"text-b-column", 1, 0, O_TEXT_B_COL}, {"label-column", 1, 0, O_LABEL_COL},
        {"score-column", 1, 0, O_SCORE_COL}, {"tokens-key", 1, 0, O_TOKENS_KEY}, {"tags-key", 1, 0, O_TAGS_KEY},
        {"pair-columns", 1, 0, O_PAIR_COLS}, {"score-scale", 1, 0, O_SCORE_SCALE}, {"vocab", 1, 0, O_VOCAB},
        {"tokenizer", 1, 0, O_VOCAB},
        {"no-lower-case", 0, 0, O_NO_LOWER}, {"lower-case", 0, 0, O_LOWER}, {"max-len", 1, 0, O_MAX_LEN},
        {"label-all-wordpieces", 0, 0, O_LABEL_ALL}, {"out", 1, 0, O_OUT}, {"name", 1, 0, O_NAME},
        {"shards", 1, 0, O_SHARDS}, {"quiet", 0, 0, O_QUIET}, {"synthetic", 1, 0, O_SYNTH}, {"seed", 1, 0, O_SEED},
        {"train", 1, 0, O_TRAIN}, {"dev", 1, 0, O_DEV}, {"help", 0, 0, 'h'},
        {"write-manifest", 0, 0, O_WRITE_MANIFEST}, {0, 0, 0, 0},
    };
    const char *inputs[64];
    int n_inputs = 0;
    const char *format = NULL, *vocab = NULL, *out_dir = ".", *name = NULL, *synth_dir = NULL;
    const char *task_specs[SHARD_MAX_TASKS], *label_specs[SHARD_MAX_TASKS];
    int n_tasks = 0, n_labels = 0;
    const char *sep = NULL, *text_col = NULL, *text_b_col = NULL, *label_col = NULL, *score_col = NULL;
    const char *tokens_key = NULL, *tags_key = NULL, *pair_cols = NULL, *label_part = NULL, *encoding = NULL;
    long tag_column = -1, max_len = -1, shards = 1, seed = 1, n_train = 4000, n_dev = 500;
    int skip_bad = 0, iob = 0, label_first = 1, lower = 1, label_all = 0, quiet = 0, write_manifest = 0;
    double score_scale = 1.0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case O_FORMAT: format = optarg; break;
        case O_INPUT:
            if (n_inputs == 64) {
                fprintf(stderr, "mtbert prepare: at most 64 inputs\n");
                return 2;
            }
            inputs[n_inputs++] = optarg;
            break;
        case O_ENCODING: encoding = optarg; break;
        case O_SKIP_BAD: skip_bad = 1; break;
        case O_TASK:
            if (n_tasks == SHARD_MAX_TASKS) {
                fprintf(stderr, "mtbert prepare: at most %d tasks\n", SHARD_MAX_TASKS);
                return 2;
            }
            task_specs[n_tasks++] = optarg;
            break;
        case O_LABELS:
            if (n_labels == SHARD_MAX_TASKS) {
                fprintf(stderr, "mtbert prepare: too many --labels\n");
                return 2;
            }
            label_specs[n_labels++] = optarg;
            break;
        case O_LABEL_PART: label_part = optarg; break;
        case O_TAG_COL:
            if (parse_int("--tag-column", optarg, 1, 63, &tag_column)) return 2;
            break;
        case O_IOB: iob = 1; break;
        case O_SEP: sep = optarg; break;
        case O_LABEL_FIRST: label_first = 1; break;
        case O_LABEL_LAST: label_first = 0; break;
        case O_TEXT_COL: text_col = optarg; break;
        case O_TEXT_B_COL: text_b_col = optarg; break;
        case O_LABEL_COL: label_col = optarg; break;
        case O_SCORE_COL: score_col = optarg; break;
        case O_TOKENS_KEY: tokens_key = optarg; break;
        case O_TAGS_KEY: tags_key = optarg; break;
        case O_PAIR_COLS: pair_cols = optarg; break;
        case O_SCORE_SCALE: {
            char *end;
            score_scale = strtod(optarg, &end);
            if (!*optarg || *end) {
                fprintf(stderr, "mtbert prepare: --score-scale expects a number, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case O_VOCAB: vocab = optarg; break;
        case O_NO_LOWER: lower = 0; break;
        case O_LOWER: lower = 1; break;
        case O_MAX_LEN:
            if (parse_int("--max-len", optarg, 3, 1 << 20, &max_len)) return 2;
            break;
        case O_LABEL_ALL: label_all = 1; break;
        case O_OUT: out_dir = optarg; break;
        case O_NAME: name = optarg; break;
        case O_SHARDS:
            if (parse_int("--shards", optarg, 1, 99999, &shards)) return 2;
            break;
        case O_QUIET: quiet = 1; break;
        case O_WRITE_MANIFEST: write_manifest = 1; break;
        case O_SYNTH: synth_dir = optarg; break;
        case O_SEED:
            if (parse_int("--seed", optarg, 0, 0x7fffffffL, &seed)) return 2;
            break;
        case O_TRAIN:
            if (parse_int("--train", optarg, 0, 100000000L, &n_train)) return 2;
            break;
        case O_DEV:
            if (parse_int("--dev", optarg, 0, 100000000L, &n_dev)) return 2;
            break;
        default:
            fprintf(stderr, "mtbert prepare: unknown or incomplete option '%s' (see mtbert prepare --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (write_manifest) return write_manifests(argc - optind, (const char *const *)argv + optind, quiet);
    for (int i = optind; i < argc; i++) {
        if (n_inputs == 64) {
            fprintf(stderr, "mtbert prepare: at most 64 inputs\n");
            return 2;
        }
        inputs[n_inputs++] = argv[i];
    }
    char err[2048];
    double t0 = now();

    if (synth_dir) {
        if (n_inputs) {
            fprintf(stderr, "mtbert prepare: --synthetic takes no input files\n");
            return 2;
        }
        if (!quiet) printf("synthetic data: seed %ld, %ld train + %ld dev examples -> %s\n", seed, n_train, n_dev, synth_dir);
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
        fprintf(stderr, "mtbert prepare: unknown --format '%s' (expected conll, lines, csv, jsonl or pairs)\n", format);
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

    /* ---- tasks */
    PrepareOptions po;
    prepare_options_default(&po);
    if (max_len > 0) po.max_len = (int)max_len;
    po.label_all_wordpieces = label_all;
    po.score_scale = (float)score_scale;
    po.skip_bad = skip_bad;
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
                fprintf(stderr, "mtbert prepare: --task '%s': type must be sentence, token or similarity\n", task_specs[t]);
                goto done;
            }
        } else if (n_tasks == 1) {
            pt->type = kind == FMT_CONLL ? LABELS_TOKEN
                       : raw.ex[0].has_score ? LABELS_SCORE
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
                if (po.tasks[t].type != LABELS_SCORE) target = t;
            if (n_tasks > 1 || target < 0) {
                fprintf(stderr, "mtbert prepare: --labels: with several tasks write TASK=LIST\n");
                goto done;
            }
        }
        if (po.tasks[target].type == LABELS_SCORE) {
            fprintf(stderr, "mtbert prepare: --labels: task '%s' is a similarity task (scores, no labels)\n",
                    po.tasks[target].name);
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
               (double)st.tokens / (double)(st.examples * (d.input_ids_b ? 2 : 1)), st.longest, now() - t0);
        for (int t = 0; t < d.n_tasks; t++) {
            printf("task %s (%s)", d.tasks[t].name, label_kind_name(d.tasks[t].type));
            if (d.tasks[t].num_labels) {
                printf(": %d labels:", d.tasks[t].num_labels);
                for (int i = 0; i < d.tasks[t].num_labels; i++) printf(" %s", d.tasks[t].label_names[i]);
            }
            printf("\n");
        }
    }
    if (st.truncated)
        fprintf(stderr, "mtbert prepare: truncated %lld of %lld sequences to max_len %d (%lld wordpieces, %lld labelled words cut off)\n",
                (long long)st.truncated, (long long)(st.examples * (d.input_ids_b ? 2 : 1)), po.max_len,
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
    if (!quiet) printf("wrote %ld shard%s to %s in %.2f s\n", shards, shards == 1 ? "" : "s", out_dir, now() - t0);
    shard_data_free(&d);
    rc = 0;
done:
    for (int t = 0; t < n_tasks; t++) prepare_free_labels(po.tasks[t].labels, po.tasks[t].num_labels);
    rawset_free(&raw);
    return rc;
}
