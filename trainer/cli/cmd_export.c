/* mtbert export — a checkpoint (or any model folder) as a clean Hugging Face
 * BERT folder in the sentence-transformers layout, heads beside it. */
#include <stdio.h>
#include <string.h>

#include "trainer/cli/cli.h"
#include "trainer/store/model_dir.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert export --checkpoint DIR --out DIR\n"
            "\n"
            "Writes DIR (--out) with config.json, model.safetensors (Hugging Face BertModel\n"
            "names), vocab.txt, tokenizer_config.json, special_tokens_map.json; the\n"
            "sentence-transformers files (modules.json, sentence_bert_config.json,\n"
            "1_Pooling/, 2_Dense/ when a projection is used, 3_Normalize when enabled); and\n"
            "the task heads in mtbert_heads.safetensors described by mtbert_tasks.json\n"
            "(docs/export.md). Loads in transformers (BertModel.from_pretrained), in\n"
            "sentence-transformers (SentenceTransformer(DIR)) and back in mtbert.\n");
}

int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else {
            fprintf(stderr, "mtbert export: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!in || !out) { usage(stderr); return 2; }
    char err[4096], report[8192];
    ModelDir d;
    if (model_dir_read(&d, in, err, sizeof err)) {
        fprintf(stderr, "mtbert export: %s\n", err);
        return 2;
    }
    Model m;
    int rc = 0;
    if (model_create(&m, &d.mc, ops_cpu(), 1, 2, 0, 0, err, sizeof err)) {
        fprintf(stderr, "mtbert export: %s\n", err);
        model_dir_free(&d);
        return 1;
    }
    if (model_dir_load(&m, &d, report, sizeof report, err, sizeof err)) {
        fprintf(stderr, "mtbert export: %s\n", err);
        rc = 2;
    } else {
        LabelNames labels[MAX_TASKS];
        for (int t = 0; t < d.mc.ntasks; t++) {
            labels[t].n = d.nlabels[t];
            labels[t].names = d.labels[t];
        }
        if (model_dir_save(&m, out, d.vocab, d.do_lower_case, d.max_seq_length, labels, err, sizeof err)) {
            fprintf(stderr, "mtbert export: %s\n", err);
            rc = 1;
        } else {
            fprintf(stderr, "mtbert export: wrote %s (%d task head%s)\n", out, d.mc.ntasks, d.mc.ntasks == 1 ? "" : "s");
        }
    }
    model_free(&m);
    model_dir_free(&d);
    return rc;
}
